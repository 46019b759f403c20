//! The desk in a real browser (issue 19, docs/DESK.md): Debian's chromium,
//! headless, driven through chromedriver (WebDriver) against the running
//! daemon. An operator corrects fields of a scanned invoice and approves it;
//! the certificate and the e-mail follow. A viewer cannot decide (no button,
//! and the POST is refused), a form without its anti-forgery token is
//! refused, an entity sees only its own account, sessions end when idle or
//! too old, and failed sign-ins are scored by the SFTP defender.
//!
//! With `PASARELA_UPDATE_DOCS=1` the screenshots are written to docs/desk/.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use pasarela::formats::generate::{self as fgen, Degradation, Rng};

use crate::review_queue::{certificates, config, lone_coffee_and_another, now_after};
use crate::support::*;

/// The sample configuration's users (config/pasarela.toml), with their
/// published passwords.
const USERS: &str = r#"
[desk.users.ana]
role = "operator"
display_name = "Ana Operadora"
password_hash = "$argon2id$v=19$m=19456,t=2,p=1$e5MvJIWeudl1ulfsHjE+2g$qvx2J4g8WcAxYzXoYNNZ1TOS0TiXQ0Wq6lGHOtzd6O0"

[desk.users.vera]
role = "viewer"
password_hash = "$argon2id$v=19$m=19456,t=2,p=1$TN8rdSV3BtyiyHPl/9ZAqA$onF2oirt22/A+eEp84DLnlqcp8yMrbnUUjA6TDzc1fI"

[desk.users.demo]
role = "entity"
account = "demo"
password_hash = "$argon2id$v=19$m=19456,t=2,p=1$SDM00/zd1RJ+clLfquuHSQ$MjDd2RqdoBUjb4ElVp4KPGe/rBqDgYYQ4gBjxNY1QRM"

[desk.users.admin]
role = "admin"
password_hash = "$argon2id$v=19$m=19456,t=2,p=1$XaSvzqMGFkBB72cuucOzMg$ywY4137C32ufj3T2+g/mpaF95pGABAVOMyN0g2Md80I"
"#;

fn password(user: &str) -> &'static str {
    match user {
        "ana" => "operador-demo",
        "vera" => "auditor-demo",
        "demo" => "entidad-demo",
        _ => "admin-demo",
    }
}

/// chromedriver on a free port, killed on drop, and a headless chromium
/// session through it.
struct Browser {
    driver: Child,
    client: Option<Client>,
    base: String,
    shots: PathBuf,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    async fn start(desk_port: u16, shots: PathBuf) -> Browser {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (apt-get install chromium-driver; scripts/install-deps.sh)");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1440,1000", "--lang=es-CO", "--hide-scrollbars"],
            }),
        );
        let mut client = None;
        for _ in 0..100 {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(c) => {
                    client = Some(c);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        let client = client.expect("a WebDriver session with chromium");
        Browser {
            driver,
            client: Some(client),
            base: format!("http://127.0.0.1:{desk_port}"),
            shots,
        }
    }

    fn c(&self) -> &Client {
        self.client.as_ref().unwrap()
    }

    async fn goto(&self, path: &str) {
        self.c()
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap();
    }

    async fn path(&self) -> String {
        let u = self.c().current_url().await.unwrap();
        match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_owned(),
        }
    }

    async fn text(&self, css: &str) -> String {
        self.c()
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .text()
            .await
            .unwrap()
    }

    async fn exists(&self, css: &str) -> bool {
        self.c().find(Locator::Css(css)).await.is_ok()
    }

    async fn fill(&self, css: &str, value: &str) {
        let e = self
            .c()
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
        e.clear().await.unwrap();
        e.send_keys(value).await.unwrap();
    }

    async fn click(&self, css: &str) {
        self.c()
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap();
    }

    /// Click something that loads a new page, and wait until it has loaded.
    async fn click_nav(&self, css: &str) {
        self.c()
            .execute("window.__old_page = true;", vec![])
            .await
            .unwrap();
        self.click(css).await;
        self.await_new_page().await;
    }

    async fn await_new_page(&self) {
        for _ in 0..200 {
            let v = self
                .c()
                .execute(
                    "return !window.__old_page && document.readyState === 'complete';",
                    vec![],
                )
                .await;
            if matches!(v, Ok(serde_json::Value::Bool(true))) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no new page loaded: {}", self.path().await);
    }

    async fn sign_in(&self, user: &str) {
        self.sign_in_with(user, password(user)).await;
        assert!(
            !self.path().await.starts_with("/login"),
            "{user} could not sign in: {}",
            self.c().source().await.unwrap()
        );
    }

    async fn sign_in_with(&self, user: &str, pass: &str) {
        self.goto("/login").await;
        self.submit_login(user, pass).await;
    }

    /// Fill in and send the sign-in form on the current page.
    async fn submit_login(&self, user: &str, pass: &str) {
        self.fill("#user", user).await;
        self.fill("#password", pass).await;
        self.click_nav("#login").await;
    }

    async fn sign_out(&self) {
        self.click_nav("#logout").await;
        assert!(
            self.path().await.starts_with("/login"),
            "{}: {}",
            self.path().await,
            self.c().source().await.unwrap()
        );
    }

    /// POST a form from the page (with the page's cookies, as a forged or
    /// hand-made request would be); the HTTP status.
    async fn post(&self, path: &str, body: &str) -> u16 {
        let v = self
            .c()
            .execute_async(
                "const [path, body, done] = arguments;
                 fetch(path, {method: 'POST', headers: {'content-type': 'application/x-www-form-urlencoded'}, body, redirect: 'manual'})
                   .then(r => done(r.status)).catch(e => done(-1));",
                vec![path.into(), body.into()],
            )
            .await
            .unwrap();
        v.as_u64().unwrap_or(0) as u16
    }

    /// The page's anti-forgery token (the hidden field of its forms).
    async fn csrf(&self) -> String {
        self.c()
            .find(Locator::Css("input[name=csrf]"))
            .await
            .unwrap()
            .attr("value")
            .await
            .unwrap()
            .unwrap()
    }

    async fn shot(&self, name: &str) {
        let png = self.c().screenshot().await.unwrap();
        std::fs::create_dir_all(&self.shots).unwrap();
        std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
    }

    async fn close(mut self) {
        if let Some(c) = self.client.take() {
            let _ = c.close().await;
        }
    }
}

fn desk_config(smtp: u16, desk: u16) -> String {
    config(Some(smtp))
        .replace(
            "[accounts.demo]",
            &format!("[desk]\nlisten = \"127.0.0.1:{desk}\"\nidle_timeout_minutes = 30\nabsolute_timeout_hours = 12\n{USERS}\n[accounts.otra]\nhome = \"var/home/otra\"\n\n[accounts.demo]"),
        )
}

fn shots_dir(env: &Env) -> PathBuf {
    if std::env::var_os("PASARELA_UPDATE_DOCS").is_some() {
        repo().join("docs/desk")
    } else {
        env.path().join("shots")
    }
}

/// Move every session's last use (or its start) back by `ms`.
fn age_sessions(db: &Path, column: &str, ms: i64) {
    run_ok(Command::new("sqlite3").arg(db).arg(format!(
        "UPDATE desk_sessions SET {column} = {column} - {ms};"
    )));
}

/// A printed invoice, scanned: rasterised, degraded like a scanner and
/// saved as JPEG.
async fn scan(inv: &fgen::Invoice, seed: u64) -> Vec<u8> {
    let page = fgen::rasterise(&inv.pdf(), 200).await.unwrap();
    let mut rng = Rng::new(seed);
    let d = Degradation::scan(&mut rng);
    let img = fgen::degrade(&page, &d, &mut rng);
    fgen::encode(&img, 85)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_decide_in_the_browser_and_roles_hold() {
    let smtp = free_port();
    let desk = free_port();
    let env = Env::new(&desk_config(smtp, desk));
    let mail_dir = env.path().join("mail");
    let _sink = deliver::SmtpSink::start(smtp, &mail_dir);
    env.import_catalog();
    // A scan whose coffee line the catalog reads as processed: the operator
    // names the natural product (130) and checks the total and the CUFE.
    let (lone, coffee, other) = lone_coffee_and_another();
    let daemon = env.start_ready(&["--now", &now_after(&lone)]);

    let scanned = scan(&lone, 7).await;
    let r = env.submit_within(&daemon, "demo", "escaneo.jpg", &scanned, 90);
    assert_eq!(r["verdict"], "review", "{r}");
    let id = r["job_id"].as_i64().unwrap();
    let r2 = env.submit_within(&daemon, "demo", "otra.pdf", &other.pdf(), 60);
    assert_eq!(r2["verdict"], "review", "{r2}");
    let id2 = r2["job_id"].as_i64().unwrap();
    let foreign = env.submit(&daemon, "otra", "ajena.xml", &dian_example());
    let foreign_id = foreign["job_id"].as_i64().unwrap();

    let b = Browser::start(desk, shots_dir(&env)).await;

    // Not signed in: every page leads to the sign-in form, which comes back.
    b.goto(&format!("/review/{id}")).await;
    assert!(b.path().await.starts_with("/login"), "{}", b.path().await);
    b.shot("login").await;
    b.submit_login("ana", "operador-demo").await;
    assert_eq!(b.path().await, format!("/review/{id}"));

    // The queue: both items, oldest first, with their counts.
    b.goto("/review").await;
    let queue = b.text("#queue").await;
    assert!(
        queue.contains("escaneo.jpg") && queue.contains("otra.pdf"),
        "{queue}"
    );
    let first = b
        .c()
        .find(Locator::Css("#queue tbody tr"))
        .await
        .unwrap()
        .attr("data-job")
        .await
        .unwrap();
    assert_eq!(
        first.as_deref(),
        Some(id.to_string().as_str()),
        "oldest first"
    );
    b.shot("queue").await;

    // The item: the scanned page beside the fields read, each with its source.
    b.goto(&format!("/review/{id}")).await;
    let loaded = b
        .c()
        .execute(
            "const i = document.querySelector('img.page'); return i ? new Promise(r => { if (i.complete) r(i.naturalWidth); else { i.onload = () => r(i.naturalWidth); i.onerror = () => r(0); } }) : 0;",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        loaded.as_u64().unwrap_or(0) > 200,
        "the page image renders: {loaded}"
    );
    let fields = b.text("#fields").await;
    assert!(
        fields.contains("Total") && fields.contains("CUFE"),
        "{fields}"
    );
    b.shot("review-item").await;

    // A form without its anti-forgery token is refused, and decides nothing.
    assert_eq!(
        b.post(&format!("/review/{id2}/reject"), "reason=falso")
            .await,
        403
    );
    // Correct the total, the CUFE and the coffee line's product; approve with
    // the keyboard shortcut.
    b.fill("#field-total", &lone.truth.total).await;
    b.fill("#field-cufe", lone.truth.get("cufe").unwrap()).await;
    b.fill(&format!("#line-{coffee}-code"), "130").await;
    b.c()
        .find(Locator::Css("h1"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.c()
        .execute(
            "window.__old_page = true; document.dispatchEvent(new KeyboardEvent('keydown', {key: 'a', bubbles: true}));",
            vec![],
        )
        .await
        .unwrap();
    b.await_new_page().await;
    // The next item opens after the decision.
    let mut waited = 0;
    while !b.path().await.starts_with(&format!("/review/{id2}")) && waited < 100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    assert!(
        b.path().await.starts_with(&format!("/review/{id2}")),
        "next item: {}",
        b.path().await
    );
    assert!(b.text("#flash").await.contains(&id.to_string()));
    // The daemon applies it: registered, certificate issued, e-mail sent.
    let done = env.await_verdict(&daemon, "demo", "escaneo.jpg", "accepted");
    let number = done["certificate"]["number"].as_str().unwrap().to_owned();
    assert_eq!(certificates(&env), 1);
    assert!(
        wait_until(Duration::from_secs(30), || deliver::received(&mail_dir)
            .iter()
            .any(|(_, m)| m.contains(&number))),
        "the certificate's e-mail: {:?}",
        deliver::received(&mail_dir).len()
    );
    b.goto(&format!("/jobs/{id}")).await;
    let status = b.text("#certificate-status").await;
    assert!(status.starts_with("GENUINO"), "{status}");
    let decisions = b.text("#decisions").await;
    assert!(decisions.contains("aprobado por ana"), "{decisions}");
    let timeline = b.text("#timeline").await;
    assert!(timeline.contains("review.approve"), "{timeline}");
    b.shot("job").await;

    // Search by NIT and by number.
    b.goto(&format!(
        "/jobs?nit={}&number={}",
        lone.truth.get("supplier_nit").unwrap(),
        lone.truth.get("number").unwrap()
    ))
    .await;
    let found = b.text("#jobs").await;
    assert!(
        found.contains("escaneo.jpg") && !found.contains("otra.pdf"),
        "{found}"
    );
    b.goto("/jobs").await;
    b.shot("search").await;
    b.goto("/").await;
    let total = b.text("#today-total").await;
    assert!(total.parse::<i64>().unwrap() >= 1, "{total}");
    assert!(b.exists("#chart-hourly").await && b.exists("#chart-verdicts").await);
    b.shot("dashboard").await;
    b.sign_out().await;

    // A viewer reads but cannot decide: no button, and the POST is refused.
    b.sign_in("vera").await;
    b.goto(&format!("/review/{id2}")).await;
    assert!(!b.exists("#approve").await && !b.exists("#reject").await);
    assert!(b.exists("#read-only").await);
    let token = b.csrf().await;
    assert_eq!(
        b.post(&format!("/review/{id2}/approve"), &format!("csrf={token}"))
            .await,
        403
    );
    assert_eq!(
        b.post(
            &format!("/review/{id2}/reject"),
            &format!("csrf={token}&reason=x")
        )
        .await,
        403
    );
    b.goto(&format!("/jobs/{foreign_id}")).await;
    assert!(
        b.exists("#result-json").await,
        "a viewer reads every account"
    );
    b.sign_out().await;
    let out = env.run(&["review", "list", "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["job_id"] == id2),
        "refused requests decided nothing: {list}"
    );

    // An entity sees its own account only.
    b.sign_in("demo").await;
    assert_eq!(b.path().await, "/jobs");
    let mine = b.text("#jobs").await;
    assert!(
        mine.contains("escaneo.jpg") && !mine.contains("ajena.xml"),
        "{mine}"
    );
    b.goto("/jobs?account=otra").await;
    assert!(!b.text("#jobs").await.contains("ajena.xml"));
    b.goto(&format!("/jobs/{foreign_id}")).await;
    assert_eq!(b.text("#error-heading").await, "No encontrado");
    b.goto("/review").await;
    assert_eq!(b.text("#error-heading").await, "Acceso denegado");
    b.goto(&format!("/jobs/{id}")).await;
    assert!(b.text("#certificate-status").await.starts_with("GENUINO"));
    b.shot("entity").await;

    // Sessions end when idle too long, or too old however busy.
    let db = env.path().join("var/pasarela.db");
    age_sessions(&db, "last_seen", 31 * 60_000);
    b.goto("/jobs").await;
    assert!(b.path().await.starts_with("/login"), "idle session ended");
    b.sign_in("demo").await;
    age_sessions(&db, "created_at", 12 * 3_600_000 + 1);
    b.goto("/jobs").await;
    assert!(b.path().await.starts_with("/login"), "old session ended");

    // Failed sign-ins are scored like SFTP logins: the address is banned.
    for _ in 0..10 {
        b.sign_in_with("ana", "wrong").await;
    }
    b.sign_in_with("ana", "operador-demo").await;
    assert!(b.path().await.starts_with("/login"));
    assert!(b.text("#login-error").await.contains("Demasiados intentos"));

    let audit = env.run(&["review", "show", &id.to_string(), "--json"]);
    let audit: serde_json::Value = serde_json::from_slice(&audit.stdout).unwrap();
    assert!(
        audit["audit"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["event"] == "review.approve" && a["detail"]["operator"] == "ana"),
        "{audit}"
    );
    b.close().await;
    drop(daemon);
}

/// `[desk] tls_cert`/`tls_key`: the desk answers HTTPS (rustls), and its
/// session cookie is Secure; plain HTTP on that port gets no page.
#[test]
fn the_desk_serves_https_with_its_own_certificate() {
    let desk = free_port();
    let env = Env::new(&basic_config(""));
    let (cert, key) = (env.path().join("desk.crt"), env.path().join("desk.key"));
    run_ok(
        Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=127.0.0.1",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert),
    );
    let text = basic_config("").replace(
        "[accounts.demo]",
        &format!(
            "[desk]\nlisten = \"127.0.0.1:{desk}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n{USERS}\n[accounts.demo]",
            cert.display(),
            key.display()
        ),
    );
    std::fs::write(env.path().join("config/pasarela.toml"), text).unwrap();
    let daemon = env.start_ready(&[]);
    let https = Command::new("openssl")
        .args(["s_client", "-quiet", "-connect"])
        .arg(format!("127.0.0.1:{desk}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    let mut child = https;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let answer = String::from_utf8_lossy(&out.stdout);
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "{answer}\n{}",
        daemon.log_text()
    );
    assert!(answer.contains("__Host-pasarela_login="), "{answer}");
    assert!(answer.contains("Secure"), "{answer}");
    assert!(answer.contains("Ingreso a la mesa"), "{answer}");
    // Plain HTTP to the TLS port: no page.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", desk)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    s.write_all(b"GET /login HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = Vec::new();
    let _ = std::io::Read::read_to_end(&mut s, &mut buf);
    assert!(
        !String::from_utf8_lossy(&buf).contains("Ingreso"),
        "plain HTTP served a page"
    );
}
