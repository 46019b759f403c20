//! What bounds a session: open handles counted across sessions, the
//! per-session queue and reply limits, the free-space reserve and each
//! account's disk use against its quota.

use super::*;

/// Open handles counted across sessions (all of them, or one account's),
/// so that sessions together cannot use up the process's descriptors.
#[derive(Debug)]
pub struct HandleBudget {
    pub(super) open: AtomicUsize,
    pub(super) max: usize,
}

impl HandleBudget {
    pub fn new(max: usize) -> Arc<HandleBudget> {
        Arc::new(HandleBudget {
            open: AtomicUsize::new(0),
            max,
        })
    }

    pub(super) fn take(&self) -> bool {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .is_ok()
    }

    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

/// One open handle counted in its budgets; released on drop.
pub(super) struct HandleSlot(pub(super) Vec<Arc<HandleBudget>>);

impl Drop for HandleSlot {
    fn drop(&mut self) {
        for b in &self.0 {
            b.open.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Per-session bounds, from `[sftp]`.
#[derive(Clone, Debug)]
pub struct SessionLimits {
    pub max_pending_requests: usize,
    pub max_pending_bytes: usize,
    pub max_reply_bytes: usize,
    pub reserve: Reserve,
}

impl SessionLimits {
    pub fn from_config(c: &crate::sftp::config::SftpServer, state_dir: &std::path::Path) -> Self {
        SessionLimits {
            max_pending_requests: c.max_pending_requests,
            max_pending_bytes: c.max_pending_bytes,
            max_reply_bytes: c.max_reply_bytes,
            reserve: Reserve {
                min_free_bytes: c.min_free_bytes,
                min_free_percent: c.min_free_percent,
                state_dir: state_dir.to_path_buf(),
            },
        }
    }
}

/// Free space an upload may not eat into.
#[derive(Clone, Debug)]
pub struct Reserve {
    pub min_free_bytes: u64,
    pub min_free_percent: u8,
    /// Its filesystem is checked too (the store and the spool live there).
    pub state_dir: PathBuf,
}

impl Reserve {
    /// Would `more` bytes on the filesystem of `fd` (or of the state
    /// directory) leave less than the reserve free?
    // statvfs field types differ between platforms (c_ulong, fsblkcnt_t).
    #[allow(clippy::unnecessary_cast)]
    pub(super) fn short(&self, fd: std::os::fd::RawFd, more: u64) -> bool {
        let below = |st: &libc::statvfs| {
            let frsize = st.f_frsize as u64;
            let avail = (st.f_bavail as u64).saturating_mul(frsize);
            let total = (st.f_blocks as u64).saturating_mul(frsize);
            let need = self
                .min_free_bytes
                .max(total / 100 * self.min_free_percent as u64);
            avail < need.saturating_add(more)
        };
        // SAFETY: `st` is a plain C struct that fstatvfs/statvfs fill in on success.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstatvfs(fd, &mut st) } == 0 && below(&st) {
            return true;
        }
        use std::os::unix::ffi::OsStrExt;
        if let Ok(c) = std::ffi::CString::new(self.state_dir.as_os_str().as_bytes()) {
            let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
            if unsafe { libc::statvfs(c.as_ptr(), &mut st) } == 0 && below(&st) {
                return true;
            }
        }
        false
    }
}

/// How long a measured disk use of an account is trusted.
pub(super) const USAGE_TTL: std::time::Duration = std::time::Duration::from_secs(10);

/// An account's disk use against its quota, shared by all its sessions:
/// the home is measured (at most every `USAGE_TTL`), completed uploads and
/// removals adjust the figure, and bytes of uploads in progress are counted
/// separately so concurrent uploads cannot each pass the check alone.
#[derive(Debug)]
pub struct AccountUsage {
    pub quota: Option<u64>,
    pub(super) home: PathBuf,
    pub(super) measured: std::sync::Mutex<Option<(std::time::Instant, u64)>>,
    pub(super) uploading: std::sync::atomic::AtomicU64,
}

impl AccountUsage {
    pub fn new(home: PathBuf, quota: Option<u64>) -> Self {
        AccountUsage {
            quota,
            home,
            measured: std::sync::Mutex::new(None),
            uploading: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub fn home(&self) -> &std::path::Path {
        &self.home
    }

    /// Bytes of regular files under the home (symlinks not followed).
    pub(super) fn used(&self) -> u64 {
        let mut m = self.measured.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, v)) = *m
            && at.elapsed() < USAGE_TTL
        {
            return v;
        }
        let v = du(&self.home);
        *m = Some((std::time::Instant::now(), v));
        v
    }

    pub(super) fn adjust(&self, delta: i64) {
        let mut m = self.measured.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, v)) = m.as_mut() {
            *v = v.saturating_add_signed(delta);
        }
    }

    /// May the account hold `more` bytes beyond what it has and what is
    /// being uploaded?
    pub(super) fn allows(&self, more: u64) -> bool {
        match self.quota {
            None => true,
            Some(q) => {
                let up = self.uploading.load(Ordering::Acquire);
                self.used().saturating_add(up).saturating_add(more) <= q
            }
        }
    }
}

/// Sum of regular file sizes under `dir`, not following symlinks.
pub(super) fn du(dir: &std::path::Path) -> u64 {
    let mut total = 0u64;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(t) if t.is_file() => {
                    total = total.saturating_add(e.metadata().map(|m| m.len()).unwrap_or(0));
                }
                _ => {}
            }
        }
    }
    total
}

pub(super) fn quota_fail(q: u64) -> Fail {
    Fail::failure(&format!(
        "PAS88: la cuenta superó su cuota de espacio ({q} bytes); el archivo no se recibió"
    ))
}

pub(super) fn reserve_fail() -> Fail {
    Fail::failure(
        "PAS89: el servidor no tiene espacio libre suficiente; el archivo no se recibió, intente más tarde",
    )
}
