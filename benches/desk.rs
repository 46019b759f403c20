//! The desk's pages with 100,000 jobs in the store (docs/BENCHMARKS.md):
//!   cargo bench --features test-support --bench desk              # SQLite
//!   PASARELA_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//!     cargo bench --features test-support --bench desk -- --pg     # PostgreSQL too
//!   cargo bench --features test-support --bench desk -- --jobs 20000
//!
//! Server-side time: each request goes through the desk's router in process
//! (session check, store queries, template rendering), signed in as an
//! operator, 30 times per page after one warm-up; p50, p95 and max.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, header};
use pasarela::result::DocRefs;
use pasarela::store::Store;
use pasarela::store::testing::{ScratchSchema, SeedJob};
use tower::ServiceExt;

const OPERATOR_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$e5MvJIWeudl1ulfsHjE+2g$qvx2J4g8WcAxYzXoYNNZ1TOS0TiXQ0Wq6lGHOtzd6O0";
const ACCOUNTS: usize = 20;

fn config_text(store: &str) -> String {
    let mut t = format!(
        "[daemon]\nstate_dir = \"var\"\n[store]\n{store}\n[desk]\nlisten = \"127.0.0.1:0\"\n\
         [desk.users.ana]\nrole = \"operator\"\npassword_hash = \"{OPERATOR_HASH}\"\n"
    );
    for a in 0..ACCOUNTS {
        t.push_str(&format!(
            "[accounts.entidad{a:02}]\nhome = \"var/home/entidad{a:02}\"\n"
        ));
    }
    t.push_str("[[routes]]\nname = \"all\"\nsteps = [\"classify\"]\n");
    t
}

/// A result as the pipeline writes it for an electronic invoice: document
/// fields, findings, lines and commission (about 3 KB).
fn result_json(i: usize, verdict: &str, nit: &str, number: &str, cufe: &str) -> String {
    serde_json::json!({
        "file": format!("FV{i}.xml"), "sha256": format!("{i:064x}"), "size": 25_000, "format": "xml",
        "document_type": "Invoice", "verdict": verdict,
        "findings": [
            {"code": "PAS28", "severity": "notify", "message": "Documento del ambiente de pruebas de la DIAN."},
            {"code": if verdict == "rejected" { "FAD06" } else { "PAS15" }, "severity": if verdict == "rejected" { "reject" } else { "notify" },
             "message": "El valor del CUFE no corresponde al calculado con los datos de la factura."}
        ],
        "processed_at": "2026-12-01T10:00:00-05:00", "job_id": i, "account": format!("entidad{:02}", i % ACCOUNTS), "route": "all",
        "document": {"kind": "Invoice", "number": number, "prefix": "SETP", "issue_date": "2026-12-01", "currency": "COP",
            "supplier": {"id": nit, "dv": "1", "name": "Cooperativa Agropecuaria del Huila"},
            "customer": {"id": "860354443", "dv": "9", "name": "Trilladora Café Montaña S.A.S."},
            "totals": {"line_extension": "15575880.00", "tax_exclusive": "0.00", "payable": "15575880.00"},
            "line_count": 3, "cufe": cufe},
        "registration_lines": (1..=3).map(|l| serde_json::json!({"line": l, "description": "Café pergamino seco", "quantity": "1172", "unit": "KGM",
            "product": {"code": "130", "name": "CAFÉ PERGAMINO", "score": 1.0, "how": "code"}, "eligible": true})).collect::<Vec<_>>(),
        "commission": {"total": "15575.88", "rule_set": "2026-01", "lines": []},
    })
    .to_string()
}

fn seed(n: usize, now_ms: i64) -> Vec<SeedJob> {
    const REASONS: &[&str] = &[
        "awaiting_xml",
        "low_confidence",
        "unmatched_product",
        "claim",
    ];
    (0..n)
        .map(|i| {
            // Over the last 60 days, newest last; 70 % accepted, 15 % rejected,
            // 8 % duplicates, 5 % in review, 2 % dead letters.
            let received_at = now_ms - ((n - i) as i64 * 60 * 86_400_000 / n as i64);
            let (state, verdict, reason) = match i % 100 {
                0..70 => ("done", Some("accepted"), None),
                70..85 => ("done", Some("rejected"), None),
                85..93 => ("done", Some("duplicate"), None),
                93..98 => ("done", Some("review"), Some(REASONS[i % REASONS.len()])),
                _ => ("dead", None, Some("dead_letter")),
            };
            let nit = format!("{}", 900_000_000 + i % 5_000);
            let number = format!("SETP{}", 990_000_000 + i);
            let cufe = format!("{:096x}", i as u128 * 0x9e37_79b9_7f4a_7c15);
            SeedJob {
                account: format!("entidad{:02}", i % ACCOUNTS),
                rel_path: format!("lote{}/FV{i}.xml", i / 1000),
                received_at,
                state,
                verdict,
                review_reason: reason,
                result_json: result_json(i, verdict.unwrap_or("rejected"), &nit, &number, &cufe),
                refs: DocRefs {
                    cufe: Some(cufe),
                    supplier_nit: Some(nit),
                    number: Some(number),
                },
            }
        })
        .collect()
}

fn request(method: &str, uri: &str, cookie: &str, body: String) -> Request<Body> {
    let mut r = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::HOST, "127.0.0.1")
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .expect("request");
    r.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40_000))));
    r
}

async fn body_text(r: axum::response::Response) -> String {
    let b = axum::body::to_bytes(r.into_body(), 64 << 20)
        .await
        .expect("body");
    String::from_utf8_lossy(&b).into_owned()
}

fn cookies(r: &axum::response::Response) -> Vec<String> {
    r.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter(|kv| !kv.ends_with('='))
        .map(str::to_owned)
        .collect()
}

async fn run(label: &str, dir: &std::path::Path, store_section: &str, n: usize) {
    let path = dir.join("pasarela.toml");
    std::fs::write(&path, config_text(store_section)).expect("config");
    let (config, _) = pasarela::config::load_with_base(&path, dir).expect("config");
    let config = Arc::new(config);
    let open = || {
        Store::open(
            &config.store.url,
            config.store.synchronous_full,
            config.store.busy_timeout,
        )
    };
    let store = open().await.expect("store");
    let now = chrono::Utc::now().timestamp_millis();
    let t = Instant::now();
    let ids = store.seed_finished(&seed(n, now)).await.expect("seed");
    // A daemon starting on this store: opening it refreshes the planner's
    // statistics (SQLite; on PostgreSQL the daemon's first retention pass
    // does), and every connection of the new pool plans with them.
    store.optimize().await;
    store.close().await;
    let store = open().await.expect("store");
    eprintln!(
        "{label}: {n} jobs seeded in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let generation = pasarela::pipeline::Generation::build(config.clone(), Some(store.clone()))
        .expect("generation");
    let (_tx, rx) = tokio::sync::watch::channel(Arc::new(generation));
    let state = pasarela::desk::DeskState::new(
        store.clone(),
        rx,
        pasarela::sftp::defense::Defender::new(pasarela::sftp::defense::Limits::defaults()),
        Arc::new(pasarela::admin::Health::default()),
        pasarela::clock::Clock::default(),
    );
    let app = pasarela::desk::router(state);

    // Sign in as the operator, as a browser would.
    let r = app
        .clone()
        .oneshot(request("GET", "/login", "", String::new()))
        .await
        .expect("login form");
    let login_cookie = cookies(&r).join("; ");
    let page = body_text(r).await;
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("csrf")
        .to_owned();
    let r = app
        .clone()
        .oneshot(request(
            "POST",
            "/login",
            &login_cookie,
            format!("user=ana&password=operador-demo&csrf={csrf}&next=/"),
        ))
        .await
        .expect("login");
    let session = cookies(&r).join("; ");
    assert!(session.contains("pasarela_session"), "signed in: {session}");

    let review_id = ids[93];
    let mid = ids[n / 2];
    let pages = [
        ("dashboard /".to_owned(), "/".to_owned()),
        ("review queue".into(), "/review".into()),
        (
            "review queue, one reason".into(),
            "/review?reason=claim".into(),
        ),
        ("review item".into(), format!("/review/{review_id}")),
        ("search, newest".into(), "/jobs".into()),
        (
            "search by NIT".into(),
            format!("/jobs?nit={}", 900_000_000 + (n / 2) % 5_000),
        ),
        (
            "search by number".into(),
            format!("/jobs?number=SETP{}", 990_000_000 + n / 2),
        ),
        (
            "search by CUFE".into(),
            format!(
                "/jobs?cufe={:096x}",
                (n / 2) as u128 * 0x9e37_79b9_7f4a_7c15
            ),
        ),
        (
            "search by account + dates + verdict".into(),
            "/jobs?account=entidad07&from=2026-10-01&to=2026-11-15&verdict=rejected".into(),
        ),
        ("job".into(), format!("/jobs/{mid}")),
        ("audit".into(), "/audit".into()),
        ("audit, desk events".into(), "/audit?event=desk.".into()),
    ];
    println!(
        "\n{label}, {n} jobs ({} audit rows): server-side time per page, 30 requests",
        n * 3
    );
    println!("| page | p50 ms | p95 ms | max ms | bytes |");
    println!("|---|---:|---:|---:|---:|");
    for (name, uri) in &pages {
        let mut times = Vec::new();
        let mut bytes = 0;
        for i in 0..31 {
            let t = Instant::now();
            let r = app
                .clone()
                .oneshot(request("GET", uri, &session, String::new()))
                .await
                .expect("page");
            assert!(r.status().is_success(), "{uri}: {}", r.status());
            bytes = body_text(r).await.len();
            if i > 0 {
                times.push(t.elapsed().as_secs_f64() * 1000.0);
            }
        }
        times.sort_by(f64::total_cmp);
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} | {bytes} |",
            times[times.len() / 2],
            times[times.len() * 95 / 100],
            times[times.len() - 1]
        );
    }
    store.close().await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n = args
        .iter()
        .position(|a| a == "--jobs")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("tempdir");
    run("SQLite", dir.path(), "synchronous = \"normal\"", n).await;
    // PASARELA_BENCH_KEEP=1: keep the seeded SQLite store, to look at plans.
    if std::env::var_os("PASARELA_BENCH_KEEP").is_some() {
        eprintln!("kept: {}", dir.keep().display());
    }
    if args.iter().any(|a| a == "--pg") {
        let schema = ScratchSchema::create()
            .await
            .expect("PASARELA_TEST_POSTGRES_URL for --pg");
        let dir = tempfile::tempdir().expect("tempdir");
        run(
            "PostgreSQL",
            dir.path(),
            &format!("url = \"{}\"", schema.url),
            n,
        )
        .await;
        schema.drop_now().await;
    }
}
