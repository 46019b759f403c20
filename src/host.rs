//! How this daemon names itself to other daemons sharing its store:
//! `host:pid`, in job leases and in recorded SFTP sessions (a daemon on the
//! same host tells a dead one by its pid).

/// `host:pid` of this process.
pub fn daemon_id() -> String {
    format!("{}:{}", hostname(), std::process::id())
}

/// The kernel's host name, or `localhost` when it cannot be read.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}
