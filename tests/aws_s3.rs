//! The S3 path end to end (issue 20, docs/AWS.md): the real daemon against
//! moto's server mode (S3 + SQS) on loopback. Uploads under an account's
//! `incoming/` prefix produce results under `outgoing/` and move to
//! `archive/`; a lost event is caught by reconciliation; a malformed message
//! goes to the dead-letter queue without stopping intake; two daemons on
//! PostgreSQL, with no shared volume, process 500 objects with one of them
//! killed (SIGKILL) midway: 500 results, no duplicates, no loss.
//!
//! moto and the bucket are driven from boto3 (tests/py/s3_admin.py), an
//! independent client. Credentials are fake and only in the environment.
#![cfg(feature = "aws")]

#[path = "it/support/mod.rs"]
mod support;

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{Daemon, Env, basic_config, free_port, repo, wait_until};

const BUCKET: &str = "bolsa-sftp";
const PREFIX: &str = "pasarela";
const QUEUE: &str = "pasarela-intake";
const DLQ: &str = "pasarela-intake-dlq";

/// A moto server on a free loopback port, killed on drop.
struct Moto {
    child: Child,
    endpoint: String,
    log: PathBuf,
}

impl Moto {
    fn start() -> Moto {
        let port = free_port();
        let log_path = std::env::temp_dir().join(format!("pasarela-moto-s3-{port}.log"));
        let mut cmd = Command::new("python3");
        cmd.arg(repo().join("tests/py/moto_transfer.py"));
        let child = aws_env(&mut cmd)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_path).expect("moto log"))
            .spawn()
            .expect("python3 with moto[server] (scripts/install-deps.sh installs it)");
        let mut moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            log: log_path,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("moto_server exited with {status}: is moto[server] installed?");
            }
            assert!(Instant::now() < deadline, "moto did not start in 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    /// tests/py/s3_admin.py; its stdout.
    fn admin(&self, args: &[&str]) -> String {
        let mut cmd = Command::new("python3");
        cmd.arg(repo().join("tests/py/s3_admin.py"))
            .arg(&self.endpoint)
            .args(args);
        let out = aws_env(&mut cmd).output().expect("python3");
        assert!(
            out.status.success(),
            "s3_admin {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Bucket, queue + DLQ, and notifications for each account's incoming/.
    fn setup(&self, max_receive: u32, visibility_secs: u32, accounts: &[&str]) {
        let mut args = vec![
            "setup".to_string(),
            BUCKET.into(),
            QUEUE.into(),
            DLQ.into(),
            max_receive.to_string(),
            visibility_secs.to_string(),
        ];
        args.extend(accounts.iter().map(|a| format!("{PREFIX}/{a}/incoming/")));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        self.admin(&refs);
    }

    fn keys(&self, prefix: &str) -> Vec<String> {
        self.admin(&["keys", BUCKET, prefix])
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn put(&self, key: &str, bytes: &[u8]) {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), bytes).unwrap();
        self.admin(&["put", BUCKET, key, &f.path().to_string_lossy()]);
    }

    fn get(&self, key: &str) -> Vec<u8> {
        let mut cmd = Command::new("python3");
        cmd.arg(repo().join("tests/py/s3_admin.py"))
            .args([&self.endpoint, "get", BUCKET, key]);
        let out = aws_env(&mut cmd).output().expect("python3");
        assert!(
            out.status.success(),
            "get {key}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("moto's log: {}", self.log.display());
        } else {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// Fake credentials and nothing else from the caller's AWS set-up.
fn aws_env(cmd: &mut Command) -> &mut Command {
    for v in [
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ] {
        cmd.env_remove(v);
    }
    cmd.env("AWS_ACCESS_KEY_ID", "AKIAFAKEFORTESTS0000")
        .env("AWS_SECRET_ACCESS_KEY", "fake-secret-for-tests-only")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials",
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
}

/// `[aws]` + `[aws.s3]` for moto at `endpoint`.
fn aws_table(endpoint: &str, s3_extra: &str) -> String {
    format!(
        r#"
[aws]
region = "us-east-1"
endpoint_url = "{endpoint}"
server_id = "s-0123456789abcdef0"
role_arn = "arn:aws:iam::123456789012:role/pasarela-homes"
bucket = "{BUCKET}"
home_prefix = "{PREFIX}"

[aws.s3]
queue = "{QUEUE}"
wait_secs = 1
{s3_extra}
"#
    )
}

/// The basic config (XML → classify) with the S3 path on; files above
/// 100 kB are refused.
fn s3_config(endpoint: &str, s3_extra: &str) -> String {
    basic_config("max_file_bytes = 100000").replace(
        "[accounts.demo]",
        &format!("{}\n[accounts.demo]", aws_table(endpoint, s3_extra)),
    )
}

/// Start the daemon with the fake credentials in its environment.
fn start(env: &Env, extra: &[&str]) -> Daemon {
    let log = env.next_log();
    let mut cmd = env.cmd(&[&["run"], extra].concat());
    let child = aws_env(&mut cmd)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start daemon");
    let d = Daemon {
        child: Some(child),
        log,
    };
    let ready = wait_until(Duration::from_secs(30), || {
        d.log_text().contains("S3 intake started")
    });
    assert!(ready, "S3 intake did not start: {}", d.log_text());
    d
}

fn invoice(n: u32) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\"?><Invoice xmlns=\"urn:oasis:names:specification:ubl:schema:xsd:Invoice-2\"><ID>F{n}</ID></Invoice>"
    )
    .into_bytes()
}

fn key(account: &str, dir: &str, name: &str) -> String {
    format!("{PREFIX}/{account}/{dir}/{name}")
}

/// Wait until `pred` holds for the keys under `prefix`.
fn await_keys(
    moto: &Moto,
    prefix: &str,
    limit: Duration,
    pred: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    let start = Instant::now();
    loop {
        let keys = moto.keys(prefix);
        if pred(&keys) || start.elapsed() > limit {
            return keys;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn an_upload_under_incoming_gets_its_result_under_outgoing_and_is_archived() {
    let moto = Moto::start();
    moto.setup(5, 30, &["demo"]);
    let env = Env::new(&s3_config(&moto.endpoint, "reconcile_interval_secs = 3600"));
    let mut daemon = start(&env, &[]);

    let bytes = invoice(1);
    moto.put(&key("demo", "incoming", "2026/f1.xml"), &bytes);
    moto.put(&key("demo", "incoming", "notes.txt"), b"not an invoice");
    // Above max_file_bytes: never read, rejected on its size (PAS83).
    moto.put(&key("demo", "incoming", "big.xml"), &vec![b'x'; 150_000]);
    // Not inputs: a folder marker, a partial name, another account's prefix.
    moto.put(&key("demo", "incoming", "sub/"), b"");
    moto.put(&key("demo", "incoming", "f2.xml.part"), b"partial");
    moto.put(&key("nobody", "incoming", "x.xml"), &bytes);

    let outgoing = await_keys(
        &moto,
        &format!("{PREFIX}/demo/outgoing/"),
        Duration::from_secs(60),
        |k| k.len() >= 3,
    );
    assert_eq!(
        outgoing,
        vec![
            key("demo", "outgoing", "2026/f1.xml.result.json"),
            key("demo", "outgoing", "big.xml.result.json"),
            key("demo", "outgoing", "notes.txt.result.json"),
        ],
        "{}",
        daemon.log_text()
    );
    let result: serde_json::Value =
        serde_json::from_slice(&moto.get(&key("demo", "outgoing", "2026/f1.xml.result.json")))
            .unwrap();
    assert_eq!(result["file"], "2026/f1.xml", "{result}");
    assert_eq!(result["format"], "xml", "{result}");
    let notes: serde_json::Value =
        serde_json::from_slice(&moto.get(&key("demo", "outgoing", "notes.txt.result.json")))
            .unwrap();
    assert_eq!(notes["verdict"], "rejected", "{notes}");
    let big: serde_json::Value =
        serde_json::from_slice(&moto.get(&key("demo", "outgoing", "big.xml.result.json"))).unwrap();
    assert_eq!(big["verdict"], "rejected", "{big}");
    assert_eq!(big["size"], 150_000, "{big}");
    assert!(big.to_string().contains("PAS83"), "{big}");

    // The inputs moved to archive/DAY/<job>-<name>, bytes intact; what was
    // not an input stayed where it was.
    let archive = await_keys(
        &moto,
        &format!("{PREFIX}/demo/archive/"),
        Duration::from_secs(30),
        |k| k.len() >= 3,
    );
    assert_eq!(archive.len(), 3, "{archive:?}\n{}", daemon.log_text());
    let f1 = archive
        .iter()
        .find(|k| k.ends_with("-f1.xml"))
        .expect("f1 archived");
    assert_eq!(moto.get(f1), bytes);
    let incoming = await_keys(
        &moto,
        &format!("{PREFIX}/demo/incoming/"),
        Duration::from_secs(10),
        |k| k.len() == 2,
    );
    assert_eq!(
        incoming,
        vec![
            key("demo", "incoming", "f2.xml.part"),
            key("demo", "incoming", "sub/")
        ]
    );
    assert_eq!(moto.keys(&format!("{PREFIX}/nobody/")).len(), 1);

    // A second event for an object already taken (SQS delivers at least
    // once) and one for an object gone: nothing new.
    let event = |k: &str| {
        serde_json::json!({"Records": [{"eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": BUCKET}, "object": {"key": k}}}]})
        .to_string()
    };
    moto.admin(&[
        "send",
        QUEUE,
        &event(&key("demo", "incoming", "2026/f1.xml")),
    ]);
    moto.put(&key("demo", "incoming", "f3.xml"), &invoice(3));
    moto.admin(&["send", QUEUE, &event(&key("demo", "incoming", "f3.xml"))]);
    let outgoing = await_keys(
        &moto,
        &format!("{PREFIX}/demo/outgoing/"),
        Duration::from_secs(30),
        |k| k.len() >= 4,
    );
    assert_eq!(outgoing.len(), 4, "{outgoing:?}");
    // Every message was deleted once its object was recorded (the extra
    // ones too): none left, visible or in hand.
    let left = || {
        let a: serde_json::Value =
            serde_json::from_str(&moto.admin(&["queue-attrs", QUEUE])).unwrap();
        (
            a["ApproximateNumberOfMessages"]
                .as_str()
                .unwrap()
                .to_string(),
            a["ApproximateNumberOfMessagesNotVisible"]
                .as_str()
                .unwrap()
                .to_string(),
        )
    };
    assert!(
        wait_until(Duration::from_secs(30), || left()
            == ("0".into(), "0".into())),
        "messages left in the queue (visible, in hand): {:?}",
        left()
    );
    let status = env.run(&["status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let total: i64 = status["jobs_by_state"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[1].as_i64().unwrap())
        .sum();
    assert_eq!(total, 4, "four objects, four jobs: {status}");
    assert_eq!(daemon.terminate(), Some(0), "{}", daemon.log_text());
}

#[test]
fn a_lost_event_is_caught_by_reconciliation() {
    let moto = Moto::start();
    moto.setup(5, 30, &["demo"]);
    let env = Env::new(&s3_config(&moto.endpoint, "reconcile_interval_secs = 1"));
    // Uploaded while no daemon ran, its message lost: start-up reconciliation.
    moto.admin(&["notify-off", BUCKET]);
    moto.put(&key("demo", "incoming", "before.xml"), &invoice(1));
    let daemon = start(&env, &[]);
    // Uploaded while the daemon runs, with no event at all: the periodic one.
    moto.put(&key("demo", "incoming", "during.xml"), &invoice(2));
    let outgoing = await_keys(
        &moto,
        &format!("{PREFIX}/demo/outgoing/"),
        Duration::from_secs(60),
        |k| k.len() >= 2,
    );
    assert_eq!(
        outgoing,
        vec![
            key("demo", "outgoing", "before.xml.result.json"),
            key("demo", "outgoing", "during.xml.result.json"),
        ],
        "{}",
        daemon.log_text()
    );
    let incoming = await_keys(
        &moto,
        &format!("{PREFIX}/demo/incoming/"),
        Duration::from_secs(20),
        |k| k.is_empty(),
    );
    assert!(incoming.is_empty(), "{incoming:?}");
    assert!(daemon.log_text().contains("S3 reconciliation finished"));

    // What other parts write into a local outgoing/ folder (certificates,
    // reports) is mirrored in the same round; a changed file again.
    let cert = env
        .home("demo")
        .join("outgoing/certificates/BMC-2026-1.pdf");
    std::fs::create_dir_all(cert.parent().unwrap()).unwrap();
    std::fs::write(&cert, b"%PDF-1.7 first").unwrap();
    let cert_key = key("demo", "outgoing", "certificates/BMC-2026-1.pdf");
    let mirrored = |want: &[u8]| {
        wait_until(Duration::from_secs(30), || {
            moto.keys(&cert_key).contains(&cert_key) && moto.get(&cert_key) == want
        })
    };
    assert!(mirrored(b"%PDF-1.7 first"), "{}", daemon.log_text());
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(&cert, b"%PDF-1.7 second, longer").unwrap();
    assert!(
        mirrored(b"%PDF-1.7 second, longer"),
        "{}",
        daemon.log_text()
    );
}

#[test]
fn a_malformed_message_goes_to_the_dead_letter_queue_and_intake_goes_on() {
    let moto = Moto::start();
    moto.setup(2, 30, &["demo"]);
    let env = Env::new(&s3_config(&moto.endpoint, "reconcile_interval_secs = 3600"));
    let daemon = start(&env, &[]);
    moto.admin(&["send", QUEUE, "this is no S3 event"]);
    moto.admin(&[
        "send",
        QUEUE,
        r#"{"Records": [{"eventName": "ObjectCreated:Put"}]}"#,
    ]);
    moto.put(&key("demo", "incoming", "after.xml"), &invoice(7));
    let outgoing = await_keys(
        &moto,
        &format!("{PREFIX}/demo/outgoing/"),
        Duration::from_secs(60),
        |k| !k.is_empty(),
    );
    assert_eq!(
        outgoing,
        vec![key("demo", "outgoing", "after.xml.result.json")],
        "{}",
        daemon.log_text()
    );
    // `drain` hides what it reads for 30 s: collect the bodies across polls,
    // as the two messages reach the dead-letter queue at different times.
    let mut seen = std::collections::BTreeSet::new();
    assert!(
        wait_until(Duration::from_secs(60), || {
            seen.extend(moto.admin(&["drain", DLQ]).lines().map(str::to_owned));
            seen.len() >= 2
        }),
        "dead-letter queue: {seen:?}\n{}",
        daemon.log_text()
    );
    let dead = seen.into_iter().collect::<Vec<_>>().join("\n");
    assert!(dead.contains("this is no S3 event"), "{dead}");
    assert!(daemon.log_text().contains("malformed message"));
    // Still taking objects.
    moto.put(&key("demo", "incoming", "later.xml"), &invoice(8));
    let outgoing = await_keys(
        &moto,
        &format!("{PREFIX}/demo/outgoing/"),
        Duration::from_secs(60),
        |k| k.len() >= 2,
    );
    assert_eq!(outgoing.len(), 2, "{}", daemon.log_text());
}

/// Daemon `who`'s config for the two-daemon test: its own state_dir, spool
/// and homes (no shared volume), the shared PostgreSQL store.
fn pg_daemon_config(endpoint: &str, who: &str, store_url: &str) -> String {
    s3_config(
        endpoint,
        "reconcile_interval_secs = 2\nvisibility_timeout_secs = 5",
    )
    .replace(
        "state_dir = \"var\"",
        &format!("state_dir = \"var/{who}\"\nlease_secs = 3\nworkers = 4"),
    )
    .replace("[store]\n", &format!("[store]\nurl = \"{store_url}\"\n"))
    .replace(
        "home = \"var/home/demo\"",
        &format!("home = \"var/{who}/home/demo\""),
    )
}

async fn pg_count(url: &str, sql: &'static str) -> i64 {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(&mut c)
        .await
        .unwrap()
}

#[test]
fn two_daemons_on_postgres_process_500_objects_with_one_killed() {
    const OBJECTS: usize = 500;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(schema) = rt.block_on(pasarela::store::testing::ScratchSchema::create()) else {
        return;
    };
    let moto = Moto::start();
    moto.setup(50, 5, &["demo"]);
    let env = Env::new(&pg_daemon_config(&moto.endpoint, "a", &schema.url));
    std::fs::write(
        env.path().join("config/b.toml"),
        pg_daemon_config(&moto.endpoint, "b", &schema.url),
    )
    .unwrap();
    let gen_dir = env.path().join("gen");
    std::fs::create_dir_all(&gen_dir).unwrap();
    for n in 0..OBJECTS as u32 {
        std::fs::write(gen_dir.join(format!("f{n:04}.xml")), invoice(n)).unwrap();
    }
    let mut a = start(&env, &[]);
    let b = start(&env, &["--config", "config/b.toml"]);
    let started = Instant::now();
    // The uploads go on while A is killed.
    let mut cmd = Command::new("python3");
    cmd.arg(repo().join("tests/py/s3_admin.py")).args([
        moto.endpoint.as_str(),
        "put-dir",
        BUCKET,
        &format!("{PREFIX}/demo/incoming/"),
        &gen_dir.to_string_lossy(),
    ]);
    let mut uploader = aws_env(&mut cmd).spawn().expect("python3");
    let done = || {
        rt.block_on(pg_count(
            &schema.url,
            "SELECT COUNT(*) FROM jobs WHERE state = 'done'",
        ))
    };
    assert!(
        wait_until(Duration::from_secs(120), || done() >= 100),
        "no progress: {}\n{}",
        a.log_text(),
        b.log_text()
    );
    let a_pid = a.child.as_ref().unwrap().id();
    a.kill9();
    // What A held: jobs it was running, or had staged on its own disk.
    let held = rt.block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&schema.url).await.unwrap();
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM jobs WHERE state <> 'done' AND (lease_owner LIKE '%:' || $1 OR spool_path LIKE '%/var/a/%')",
        )
        .bind(a_pid.to_string())
        .fetch_one(&mut c)
        .await
        .unwrap()
    });
    assert!(
        held > 0,
        "A was killed holding nothing: the kill tested nothing"
    );
    // A's machine is gone with its disk: B must fetch what A had staged.
    let _ = std::fs::remove_dir_all(env.path().join("var/a"));
    let at_kill = done();
    assert!(uploader.wait().unwrap().success(), "uploads failed");
    assert!(
        wait_until(Duration::from_secs(300), || done() >= OBJECTS as i64),
        "{} of {OBJECTS} done\n{}",
        done(),
        b.log_text()
    );
    let elapsed = started.elapsed();
    let total = rt.block_on(pg_count(&schema.url, "SELECT COUNT(*) FROM jobs"));
    let distinct = rt.block_on(pg_count(
        &schema.url,
        "SELECT COUNT(DISTINCT rel_path) FROM jobs",
    ));
    let objects = rt.block_on(pg_count(&schema.url, "SELECT COUNT(*) FROM s3_objects"));
    let unexpected = rt.block_on(pg_count(
        &schema.url,
        "SELECT COUNT(*) FROM jobs WHERE verdict IS NULL OR verdict IN ('duplicate', 'review')",
    ));
    assert_eq!(unexpected, 0, "no duplicate verdicts, no dead letters");
    assert_eq!(
        (total, distinct, objects),
        (OBJECTS as i64, OBJECTS as i64, OBJECTS as i64),
        "one job per object"
    );
    let outgoing = await_keys(
        &moto,
        &format!("{PREFIX}/demo/outgoing/"),
        Duration::from_secs(30),
        |k| k.len() >= OBJECTS,
    );
    assert_eq!(outgoing.len(), OBJECTS, "one result per object");
    let incoming = await_keys(
        &moto,
        &format!("{PREFIX}/demo/incoming/"),
        Duration::from_secs(60),
        |k| k.is_empty(),
    );
    assert!(
        incoming.is_empty(),
        "left in incoming/: {incoming:?}\n{}",
        b.log_text()
    );
    let archive = moto.keys(&format!("{PREFIX}/demo/archive/"));
    let mut names: Vec<&str> = archive
        .iter()
        .map(|k| k.rsplit_once('-').unwrap().1)
        .collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), OBJECTS, "every input archived once");
    assert_eq!(
        archive.len(),
        OBJECTS,
        "no input archived twice: {}",
        archive.len()
    );
    eprintln!(
        "{OBJECTS} objects through two daemons (A killed at {at_kill} done, holding {held} unfinished jobs; B fetched {} inputs A had staged) in {:.1} s",
        b.log_text().matches("input fetched again from S3").count(),
        elapsed.as_secs_f64()
    );
    drop(b);
    rt.block_on(schema.drop_now());
}

#[test]
fn aws_sync_sets_up_the_queues_and_the_notification() {
    let moto = Moto::start();
    moto.admin(&["bucket", BUCKET]);
    let mut cmd = Command::new("python3");
    cmd.arg(repo().join("tests/py/transfer_admin.py"))
        .args([moto.endpoint.as_str(), "create-server"]);
    let out = aws_env(&mut cmd).output().expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let server = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let config = s3_config(
        &moto.endpoint,
        "reconcile_interval_secs = 3600\nmax_receive_count = 3",
    )
    .replace("s-0123456789abcdef0", &server)
    .replace(
        "[accounts.demo]",
        "[accounts.otra]\nhome = \"var/home/otra\"\n\n[accounts.demo]",
    );
    let env = Env::new(&config);
    let sync = |extra: &[&str]| {
        let mut cmd = env.cmd(&[&["aws", "sync"], extra].concat());
        let out = aws_env(&mut cmd).output().expect("pasarela aws sync");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    };

    let dry = sync(&["--dry-run"]);
    for line in [
        &format!("would create queue {DLQ}"),
        &format!("would create queue {QUEUE}"),
        &format!("would let bucket {BUCKET} send to queue {QUEUE}"),
        &format!("would notify {QUEUE} of s3:ObjectCreated:* under {PREFIX}/demo/incoming/"),
        &format!("would notify {QUEUE} of s3:ObjectCreated:* under {PREFIX}/otra/incoming/"),
    ] {
        assert!(dry.contains(line.as_str()), "missing {line:?} in:\n{dry}");
    }
    let notification: serde_json::Value =
        serde_json::from_str(&moto.admin(&["notification", BUCKET])).unwrap();
    assert!(
        notification.get("QueueConfigurations").is_none(),
        "a dry run changed the bucket: {notification}"
    );

    let first = sync(&[]);
    assert!(
        first.contains(&format!("create queue {QUEUE}: done")),
        "{first}"
    );
    let attrs: serde_json::Value =
        serde_json::from_str(&moto.admin(&["queue-attrs", QUEUE])).unwrap();
    assert_eq!(attrs["VisibilityTimeout"], "300", "{attrs}");
    let redrive: serde_json::Value =
        serde_json::from_str(attrs["RedrivePolicy"].as_str().unwrap()).unwrap();
    assert!(
        redrive["deadLetterTargetArn"]
            .as_str()
            .unwrap()
            .ends_with(DLQ),
        "{redrive}"
    );
    assert_eq!(
        redrive["maxReceiveCount"].to_string().trim_matches('"'),
        "3"
    );
    let policy = attrs["Policy"].as_str().unwrap();
    assert!(
        policy.contains(&format!("arn:aws:s3:::{BUCKET}")),
        "{policy}"
    );
    let notification: serde_json::Value =
        serde_json::from_str(&moto.admin(&["notification", BUCKET])).unwrap();
    let prefixes: Vec<String> = notification["QueueConfigurations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            c["Filter"]["Key"]["FilterRules"][0]["Value"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        prefixes,
        vec![
            format!("{PREFIX}/demo/incoming/"),
            format!("{PREFIX}/otra/incoming/")
        ]
    );

    // Run again: nothing to change.
    let second = sync(&[]);
    assert!(!second.contains("done"), "{second}");
    assert!(
        second.contains(&format!("queue {QUEUE} unchanged")),
        "{second}"
    );
    assert!(second.contains("bucket notification unchanged"), "{second}");

    // What sync set up carries an upload to its result.
    let _daemon = start(&env, &[]);
    moto.put(&key("otra", "incoming", "f.xml"), &invoice(1));
    let outgoing = await_keys(
        &moto,
        &format!("{PREFIX}/otra/outgoing/"),
        Duration::from_secs(60),
        |k| !k.is_empty(),
    );
    assert_eq!(outgoing, vec![key("otra", "outgoing", "f.xml.result.json")]);
}
