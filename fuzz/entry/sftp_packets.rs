//! The SFTP request processor (everything behind the SSH transport) on
//! arbitrary request frames. Besides not crashing, it must never touch
//! anything outside the account's home: a sibling folder is checked after
//! every input.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

struct Fixture {
    rt: tokio::runtime::Runtime,
    home: PathBuf,
    outside: PathBuf,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let base = std::env::temp_dir().join(format!("pasarela-fuzz-sftp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let home = base.join("home");
        let outside = base.join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret.txt"), b"secret").unwrap();
        reset(&home);
        Fixture {
            rt: tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap(),
            home: home.canonicalize().unwrap(),
            outside,
        }
    })
}

/// Remove the fixture's folders (the replay test calls this at its end; the
/// fuzzer leaves them until the next run of the same pid replaces them).
#[allow(dead_code)]
pub fn remove_fixture() {
    if let Some(base) = fixture().home.parent() {
        let _ = std::fs::remove_dir_all(base);
    }
}

/// A fresh home per input, so a crash replays from the input alone.
fn reset(home: &Path) {
    let _ = std::fs::remove_dir_all(home);
    for d in ["incoming", "outgoing", "archive"] {
        std::fs::create_dir_all(home.join(d)).unwrap();
    }
    std::fs::write(
        home.join("outgoing/result.json"),
        b"{\"verdict\":\"accepted\"}",
    )
    .unwrap();
}

/// Frames: a big-endian u16 length, then that many bytes; repeated.
fn frames(mut data: &[u8]) -> Vec<bytes::Bytes> {
    let mut out = Vec::new();
    while data.len() >= 2 && out.len() < 64 {
        let n = (u16::from_be_bytes([data[0], data[1]]) as usize).min(data.len() - 2);
        out.push(bytes::Bytes::copy_from_slice(&data[2..2 + n]));
        data = &data[2 + n..];
    }
    out
}

/// One input, as the fuzzer and the replay test (tests/it/fuzz_replay.rs) give it.
pub fn run(data: &[u8]) {
    let f = fixture();
    reset(&f.home);
    pasarela::sftp::session::fuzz_frames(f.rt.handle(), &f.home, &frames(data));
    let names: Vec<_> = std::fs::read_dir(&f.outside)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        ["secret.txt"],
        "something was written outside the home"
    );
    assert_eq!(
        std::fs::read(f.outside.join("secret.txt")).unwrap(),
        b"secret"
    );
    let base: Vec<_> = std::fs::read_dir(f.home.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(base.len() == 2, "new entries beside the home: {base:?}");
}
