//! Several daemons on one PostgreSQL store and one storage volume (issue #8):
//! every file processed exactly once, certificate numbers gap-free, each
//! e-mail delivered, SFTP bans shared, also when one daemon is killed with
//! SIGKILL mid-batch. Needs `PASARELA_TEST_POSTGRES_URL` (scripts/test.sh sets
//! it; each test works in a scratch schema of its own).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use crate::support::*;
use pasarela::store::testing::ScratchSchema;
use sqlx::Connection;

const FILES: usize = 300;
const NOW: &str = "2024-03-15T12:00:00-05:00";

/// Daemon `who`'s config: its own state_dir (lock, host keys), and shared
/// store, spool, homes and catalog.
pub(crate) fn daemon_config(
    base: &str,
    who: &str,
    store_url: &str,
    sftp_port: Option<u16>,
) -> String {
    let mut c = base
        .replace(
            "state_dir = \"var\"",
            &format!(
                "state_dir = \"var/{who}\"\nspool_dir = \"var/spool\"\nlease_secs = 3\nworkers = 2"
            ),
        )
        .replace(
            "[store]\n",
            &format!("[store]\nurl = \"{store_url}\"\n"),
        )
        .replace(
            "[registration]\n",
            "[registration]\ncatalog_dir = \"var/catalog\"\n",
        )
        .replace(
            "[accounts.demo]\nhome = \"var/home/demo\"",
            &format!(
                "[accounts.demo]\nhome = \"var/home/demo\"\nemail = [\"demo@example.com\"]\n[accounts.demo.sftp]\nauthorized_keys = [\"{}\"]\n",
                repo().join("fixtures/keys/demo_ed25519.pub").display()
            ),
        );
    if let Some(port) = sftp_port {
        c = c.replace(
            "[accounts.demo]",
            &format!(
                "[sftp]\nlisten = \"127.0.0.1:{port}\"\nban_score = 2\nban_secs = 600\nauth_rejection_delay_ms = 10\n\n[accounts.demo]"
            ),
        );
    }
    c
}

fn smtp_table(port: u16) -> String {
    format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"plain\"\nfrom = \"Pasarela <certificados@bolsa.example>\"\nadmins = [\"ops@bolsa.example\"]\ntemplates_dir = \"{}\"\ninitial_backoff_ms = 200\nmax_backoff_secs = 1\npoll_interval_ms = 100\n",
        repo().join("config/templates").display()
    )
}

async fn count(url: &str, sql: &'static str) -> i64 {
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(&mut c)
        .await
        .unwrap()
}

#[test]
fn two_daemons_share_the_work_and_survive_a_kill() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(schema) = rt.block_on(ScratchSchema::create()) else {
        return;
    };
    let smtp_port = free_port();
    let base = registration_config(&["certify"], &smtp_table(smtp_port));
    let env = Env::new(&daemon_config(&base, "a", &schema.url, None));
    std::fs::write(
        env.path().join("config/b.toml"),
        daemon_config(&base, "b", &schema.url, None),
    )
    .unwrap();
    let sink = deliver::SmtpSink::start(smtp_port, &env.path().join("mail"));
    env.import_catalog();
    let generated = env.run(&[
        "generate",
        "--count",
        &FILES.to_string(),
        "--registrable",
        "--out",
        "gen",
    ]);
    assert!(
        generated.status.success(),
        "{}",
        String::from_utf8_lossy(&generated.stderr)
    );
    let mut names: Vec<String> = std::fs::read_dir(env.path().join("gen"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), FILES);

    let mut a = env.start_ready(&["--now", NOW]);
    let b = env.start_ready(&["--config", "config/b.toml", "--now", NOW]);
    let a_owner = format!(":{}", a.child.as_ref().unwrap().id());
    for n in &names {
        let bytes = std::fs::read(env.path().join("gen").join(n)).unwrap();
        env.drop_file("demo", n, &bytes);
    }
    let outgoing = env.home("demo").join("outgoing");
    let results = || {
        files_under(&outgoing)
            .iter()
            .filter(|p| p.to_string_lossy().ends_with(".result.json"))
            .count()
    };
    // Kill A once the batch is under way, while it holds jobs if it can.
    assert!(
        wait_until(Duration::from_secs(120), || results() >= 40),
        "no progress: {}\n{}",
        a.log_text(),
        b.log_text()
    );
    let running_of_a = |url: &str| {
        let url = url.to_string();
        let a_owner = a_owner.clone();
        rt.block_on(async move {
            let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM jobs WHERE state = 'running' AND lease_owner LIKE '%' || $1",
            )
            .bind(a_owner)
            .fetch_one(&mut c)
            .await
            .unwrap()
        })
    };
    wait_until(Duration::from_secs(10), || running_of_a(&schema.url) > 0);
    a.kill9();
    let orphaned = running_of_a(&schema.url);
    let at_kill = results();
    assert!(at_kill < FILES, "the batch finished before the kill");

    // B finishes everything, A's orphaned jobs included (their leases expire).
    let url = schema.url.clone();
    let done = wait_until(Duration::from_secs(600), || {
        rt.block_on(count(
            &url,
            "SELECT COUNT(*) FROM jobs WHERE state = 'done'",
        )) as usize
            >= FILES
            && results() >= FILES
    });
    assert!(
        done,
        "{} results ({at_kill} at the kill)\n{}",
        results(),
        b.log_text()
    );

    // Exactly one job, one result and one archived input per file.
    let q = |sql: &'static str| rt.block_on(count(&url, sql));
    assert_eq!(q("SELECT COUNT(*) FROM jobs") as usize, FILES);
    assert_eq!(
        q("SELECT COUNT(DISTINCT rel_path) FROM jobs") as usize,
        FILES
    );
    assert_eq!(results(), FILES);
    for n in &names {
        let r = env.read_result("demo", n);
        assert_eq!(r["verdict"], "accepted", "{n}: {r}");
    }
    let archived = files_under(&env.home("demo").join("archive"));
    assert_eq!(archived.len(), FILES, "archive holds {}", archived.len());
    assert!(files_under(&env.home("demo").join("incoming")).is_empty());
    assert!(files_under(&env.path().join("var/spool")).is_empty());

    // Both daemons worked, and A's orphans were taken over by B.
    let owners: HashSet<String> = {
        let url = url.clone();
        rt.block_on(async move {
            let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::query_scalar::<_, String>(
                "SELECT DISTINCT (detail::json ->> 'owner') FROM audit WHERE event = 'running'",
            )
            .fetch_all(&mut c)
            .await
            .unwrap()
            .into_iter()
            .collect()
        })
    };
    assert_eq!(owners.len(), 2, "{owners:?}");
    let taken_over = q("SELECT COUNT(*) FROM jobs WHERE attempts > 1");
    assert!(
        taken_over >= orphaned,
        "{orphaned} jobs were A's at the kill, {taken_over} ran twice"
    );

    // Certificates: one per invoice, numbered 2024-000001.. without a gap.
    assert_eq!(q("SELECT COUNT(*) FROM certificates") as usize, FILES);
    assert_eq!(
        q("SELECT MAX(seq) FROM certificates WHERE year = 2024") as usize,
        FILES
    );
    assert_eq!(
        q("SELECT COUNT(DISTINCT seq) FROM certificates WHERE year = 2024") as usize,
        FILES
    );
    // A's write of a PDF cut off by the kill leaves a temp file (crash
    // debris, removed when A starts again); every PDF is a certificate's.
    let (pdfs, debris): (Vec<PathBuf>, Vec<PathBuf>) = files_under(&outgoing.join("certificates"))
        .into_iter()
        .partition(|p| {
            !p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(pasarela::fsutil::is_own_temp)
        });
    assert_eq!(pdfs.len(), FILES, "{pdfs:?}");
    assert!(debris.len() <= 2, "more temps than A's workers: {debris:?}");

    // Every certificate e-mail delivered; copies share their Message-ID. A
    // second copy can only come from a message A had handed to the server
    // when it died, before the store recorded it as sent.
    let all_sent = wait_until(Duration::from_secs(120), || {
        q("SELECT COUNT(*) FROM outbox WHERE state = 'sent'") as usize >= FILES
    });
    assert!(all_sent, "{}", b.log_text());
    std::thread::sleep(Duration::from_millis(500));
    let mail = deliver::received(&sink.dir);
    let mut per_id: HashMap<&str, usize> = HashMap::new();
    for (id, _) in &mail {
        *per_id.entry(id.as_str()).or_default() += 1;
    }
    assert_eq!(per_id.len(), FILES, "distinct Message-IDs");
    let extra = mail.len() - FILES;
    assert!(extra <= 4, "{extra} duplicate deliveries");
    eprintln!(
        "two daemons: {FILES} files, A killed at {at_kill} results holding {orphaned} jobs; \
         {taken_over} jobs ran twice; {} e-mails for {FILES} Message-IDs",
        mail.len()
    );
    drop(b);
    rt.block_on(schema.drop_now());
}

/// An address banned by one daemon is refused by the other.
#[test]
fn bans_are_shared_between_daemons() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(schema) = rt.block_on(ScratchSchema::create()) else {
        return;
    };
    let (pa, pb) = (free_port(), free_port());
    let base = basic_config("");
    let env = Env::new(&daemon_config(&base, "a", &schema.url, Some(pa)));
    std::fs::write(
        env.path().join("config/b.toml"),
        daemon_config(&base, "b", &schema.url, Some(pb)),
    )
    .unwrap();
    let key = client_key(&env);
    let attempt = |port: u16, user: &str| {
        sftp_cmd(&env, &key, port, user, "/dev/null")
            .output()
            .unwrap()
            .status
            .success()
    };
    let a = env.start_ready(&[]);
    let b = env.start_ready(&["--config", "config/b.toml"]);
    assert!(attempt(pb, "demo"), "B serves demo: {}", b.log_text());
    assert!(!attempt(pa, "nadie"), "an unknown account fails on A");
    assert!(
        wait_until(Duration::from_secs(10), || a
            .log_text()
            .contains("sftp address banned")),
        "{}",
        a.log_text()
    );
    assert!(
        wait_until(Duration::from_secs(10), || !attempt(pb, "demo")),
        "B still serves the address A banned: {}",
        b.log_text()
    );
    assert!(b.log_text().contains("address banned"), "{}", b.log_text());
    drop((a, b));
    rt.block_on(schema.drop_now());
}
