//! The systemd notify protocol, tested without systemd: the daemon gets a
//! NOTIFY_SOCKET and WATCHDOG_USEC like systemd would give it.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use crate::support::*;

#[test]
fn ready_watchdog_reloading_and_stopping_are_sent() {
    let env = Env::new(&basic_config(""));
    let sock_path = env.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let child = env
        .cmd(&["run"])
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "400000")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let daemon = Daemon {
        child: Some(child),
        log: env.path().join("none.log"),
    };
    let recv = || {
        let mut buf = [0u8; 256];
        let n = sock.recv(&mut buf).expect("notification");
        String::from_utf8_lossy(&buf[..n]).to_string()
    };
    assert_eq!(recv(), "READY=1");
    // READY only after the folders exist and the store was migrated.
    assert!(env.home("demo").join("incoming").is_dir());
    assert!(env.path().join("var/pasarela.db").is_file());
    assert_eq!(recv(), "WATCHDOG=1");
    daemon.signal(1);
    let mut seen = Vec::new();
    while !seen.contains(&"RELOADING=1".to_string())
        || seen.last().map(String::as_str) != Some("READY=1")
    {
        seen.push(recv());
        assert!(seen.len() < 20, "{seen:?}");
    }
    daemon.signal(15);
    let mut last = String::new();
    for _ in 0..20 {
        last = recv();
        if last == "STOPPING=1" {
            break;
        }
    }
    assert_eq!(last, "STOPPING=1");
}
