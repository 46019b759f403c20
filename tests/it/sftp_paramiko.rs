//! Runs the paramiko tests (tests/py) against a server started here.
//! Needs `python3 -m pip install paramiko pytest`; without them the test
//! fails unless PASARELA_SKIP_PY=1.

use crate::support::sftp;

use sftp::{Opts, server, text};
use sha2::Digest;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paramiko_suite() {
    let have = std::process::Command::new("python3")
        .args(["-c", "import paramiko, pytest"])
        .status()
        .is_ok_and(|s| s.success());
    if !have {
        if std::env::var("PASARELA_SKIP_PY").as_deref() == Ok("1") {
            eprintln!("paramiko/pytest missing: skipped (PASARELA_SKIP_PY=1)");
            return;
        }
        panic!(
            "paramiko tests need: python3 -m pip install paramiko pytest (or PASARELA_SKIP_PY=1)"
        );
    }
    let hash = pasarela::sftp::auth::hash_password("s3cret-demo").unwrap();
    let demo: &'static str = Box::leak(format!("password_hash = \"{hash}\"").into_boxed_str());
    let s = server(Opts {
        demo,
        ..Opts::default()
    })
    .await;
    let mut data = vec![0u8; 24 * 1024 * 1024];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    std::fs::write(s.home("demo").join("outgoing/big.bin"), &data).unwrap();
    let sha = hex::encode(sha2::Sha256::digest(&data));
    let mut c = std::process::Command::new("python3");
    c.args([
        "-m",
        "pytest",
        "-q",
        "-rs",
        "--durations=5",
        "-p",
        "no:cacheprovider",
        "tests/py",
    ])
    .current_dir(sftp::repo())
    .env("PASARELA_SFTP_PORT", s.addr.port().to_string())
    .env("PASARELA_SFTP_KEY", &s.key)
    .env("PASARELA_SFTP_ROOT", s.root())
    .env("PASARELA_SFTP_BIG_SHA256", sha)
    .env("PASARELA_SFTP_PASSWORD", "s3cret-demo");
    let out = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    eprintln!("{}", text(&out));
    assert!(out.status.success(), "{}", text(&out));
    s.stop().await;
}
