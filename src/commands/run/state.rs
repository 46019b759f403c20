//! Start-up of the daemon's process and state directory: decoder limits,
//! the sandbox report, the state-directory lock, scratch left by a crash.

use std::os::fd::AsRawFd;
use std::path::Path;

use tracing::{info, warn};

use crate::config::Config;

/// Process-wide settings: the OCR concurrency and a log line on how the
/// decoding children are confined.
pub(super) fn prepare_process(config: &Config) {
    // OCR and PDF rendering get their own limit so slow scans never take every
    // worker from XML invoices.
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    crate::formats::worker::set_ocr_concurrency(cores.min(config.daemon.workers).max(1));
    let sandbox = crate::formats::sandbox::probe();
    if sandbox.filesystem {
        info!(
            landlock_abi = sandbox.landlock_abi,
            filesystem = sandbox.filesystem,
            tcp = sandbox.tcp,
            scoped = sandbox.scoped,
            "sandbox: decoding children confined"
        );
    } else {
        warn!(
            "sandbox: this kernel has no Landlock; decoding children run with resource limits and their own network namespace only (docs/SECURITY.md)"
        );
    }
}

/// Holds an exclusive lock on the state directory: one daemon per SQLite store.
pub(super) struct StateLock {
    _file: std::fs::File,
}

pub(super) fn lock_state_dir(dir: &Path) -> anyhow::Result<StateLock> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("pasarela.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)?;
    // SAFETY: flock on a valid, owned file descriptor.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        anyhow::bail!(
            "another pasarela daemon holds {} (one daemon per state directory)",
            path.display()
        );
    }
    Ok(StateLock { _file: file })
}

/// Decoding children work in scratch directories under the state directory;
/// those a crash left behind are removed now.
pub(super) fn clear_scratch(config: &Config) -> anyhow::Result<()> {
    let scratch_root = config.daemon.state_dir.join("scratch");
    match crate::formats::worker::set_scratch_root(&scratch_root) {
        Ok(n) if n > 0 => info!(removed = n, "removed scratch directories left by a crash"),
        Ok(_) => {}
        Err(e) => anyhow::bail!("cannot prepare {}: {e}", scratch_root.display()),
    }
    Ok(())
}
