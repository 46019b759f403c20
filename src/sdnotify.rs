//! The systemd notify protocol (`Type=notify`, `WatchdogSec=`), without libsystemd.
//!
//! `READY=1` is sent once listeners are bound and the store is migrated;
//! `RELOADING=1`/`READY=1` around a reload, `STOPPING=1` when draining starts,
//! and `WATCHDOG=1` at half the interval systemd asks for. Without
//! `NOTIFY_SOCKET` every call is a no-op, so the daemon runs the same anywhere.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// Send one notification; errors are ignored (systemd may not be listening).
pub fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let Ok(sock) = UnixDatagram::unbound() else {
        return;
    };
    let bytes = path.as_encoded_bytes();
    let _ = if let Some(name) = bytes.strip_prefix(b"@") {
        // Abstract namespace socket.
        use std::os::linux::net::SocketAddrExt;
        match std::os::unix::net::SocketAddr::from_abstract_name(name) {
            Ok(addr) => sock.send_to_addr(state.as_bytes(), &addr),
            Err(e) => Err(e),
        }
    } else {
        sock.send_to(state.as_bytes(), std::path::Path::new(&path))
    };
}

/// The watchdog interval systemd asked for (`WATCHDOG_USEC`, for this PID).
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Some(pid) = std::env::var("WATCHDOG_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        && pid != std::process::id()
    {
        return None;
    }
    (usec > 0).then(|| Duration::from_micros(usec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_to_the_socket_systemd_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let listener = UnixDatagram::bind(&path).unwrap();
        // SAFETY (test): no other thread reads NOTIFY_SOCKET at this moment in this test binary's
        // module; the variable is restored below.
        unsafe { std::env::set_var("NOTIFY_SOCKET", &path) };
        notify("READY=1");
        unsafe { std::env::remove_var("NOTIFY_SOCKET") };
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
    }
}
