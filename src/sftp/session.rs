//! One SFTP subsystem channel: the request loop.
//!
//! russh-sftp's own server loop is serial (read one request, await it, write
//! and flush the reply). This loop keeps the client's pipeline full instead,
//! in three stages that never wait on each other in a cycle:
//!
//! - **reader** (async): drains the SSH channel *always*, splits SFTP frames
//!   and queues them. It never waits for the processor or for the client's
//!   window, so russh's session loop keeps reading WINDOW_ADJUST messages even
//!   while a prefetching client (paramiko `getfo`) has thousands of READs in
//!   flight. The queue is bounded in requests and bytes
//!   (`[sftp] max_pending_requests`, `max_pending_bytes`): past either the
//!   client is not following the protocol and the session is closed.
//! - **processor** (one blocking thread per session): handles requests in
//!   arrival order with plain `pread`/`pwrite` (no per-request task), and
//!   queues replies. Every reply takes permits from an outbound byte budget
//!   (`[sftp] max_reply_bytes`): when the client does not take its replies,
//!   the processor stops taking requests (backpressure), its queue fills and
//!   the session is closed. The reader itself never stops draining: russh's
//!   session loop would then stop reading the WINDOW_ADJUST that frees the
//!   replies (a deadlock).
//! - **writer** (async): coalesces queued replies into channel writes of up to
//!   `COALESCE_BYTES`; russh splits them into SSH packets as the window allows.
//!
//! Uploads go to a hidden temporary file in the target directory and are
//! fsynced and renamed into place on CLOSE; only then is intake told. A
//! session that ends with uploads still open deletes their temporary files.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use russh::ChannelMsg;
use russh::server::Msg;
use russh_sftp::protocol::{self as p, FileAttributes, OpenFlags, Packet, StatusCode};
use sha2::{Digest, Sha256};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use std::ffi::OsString;
use std::os::fd::AsRawFd;

use crate::fsutil::beneath::at_call;
use crate::sftp::vfs::{ParentDir, Perm, Resolved, TEMP_PREFIX, VfsError, View, ViewPath};

/// Largest SFTP request accepted (OpenSSH: 256 KiB + header).
pub const MAX_PACKET: usize = 256 * 1024 + 1024;
/// Largest READ/WRITE payload advertised in limits@openssh.com.
pub const MAX_RW: u32 = 255 * 1024;
/// Each queued request counts at least this much (bounds tiny-request floods).
const MIN_REQUEST_COST: usize = 64;
/// Each queued reply counts at least this much against the reply budget.
const MIN_REPLY_COST: usize = 256;
/// One channel write gathers replies up to this size.
const COALESCE_BYTES: usize = 256 * 1024;
/// Entries per READDIR reply.
const READDIR_BATCH: usize = 100;

/// What the session needs from the server.
#[derive(Clone)]
pub struct SessionCtx {
    pub account: String,
    pub ip: std::net::IpAddr,
    pub view: Arc<View>,
    /// Canonical `incoming/` of the account: uploads completed below it are
    /// announced to intake.
    pub incoming: PathBuf,
    pub max_open_handles: u32,
    /// No write may reach past this size (`daemon.max_file_bytes`): a client
    /// cannot make a huge (sparse) file that CLOSE would then hash.
    pub max_file_bytes: u64,
    pub limits: SessionLimits,
    /// Open handles (descriptors) of all sessions, and of this account's.
    pub handle_budgets: [Arc<HandleBudget>; 2],
    /// The account's disk use and quota (shared by its sessions).
    pub usage: Arc<AccountUsage>,
    pub events: mpsc::UnboundedSender<Event>,
    pub shutdown: CancellationToken,
}

/// Open handles counted across sessions (all of them, or one account's),
/// so that sessions together cannot use up the process's descriptors.
#[derive(Debug)]
pub struct HandleBudget {
    open: AtomicUsize,
    max: usize,
}

impl HandleBudget {
    pub fn new(max: usize) -> Arc<HandleBudget> {
        Arc::new(HandleBudget {
            open: AtomicUsize::new(0),
            max,
        })
    }

    fn take(&self) -> bool {
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
struct HandleSlot(Vec<Arc<HandleBudget>>);

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
    fn short(&self, fd: std::os::fd::RawFd, more: u64) -> bool {
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
const USAGE_TTL: std::time::Duration = std::time::Duration::from_secs(10);

/// An account's disk use against its quota, shared by all its sessions:
/// the home is measured (at most every `USAGE_TTL`), completed uploads and
/// removals adjust the figure, and bytes of uploads in progress are counted
/// separately so concurrent uploads cannot each pass the check alone.
#[derive(Debug)]
pub struct AccountUsage {
    pub quota: Option<u64>,
    home: PathBuf,
    measured: std::sync::Mutex<Option<(std::time::Instant, u64)>>,
    uploading: std::sync::atomic::AtomicU64,
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
    fn used(&self) -> u64 {
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

    fn adjust(&self, delta: i64) {
        let mut m = self.measured.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, v)) = m.as_mut() {
            *v = v.saturating_add_signed(delta);
        }
    }

    /// May the account hold `more` bytes beyond what it has and what is
    /// being uploaded?
    fn allows(&self, more: u64) -> bool {
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
fn du(dir: &std::path::Path) -> u64 {
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

fn quota_fail(q: u64) -> Fail {
    Fail::failure(&format!(
        "PAS88: la cuenta superó su cuota de espacio ({q} bytes); el archivo no se recibió"
    ))
}

fn reserve_fail() -> Fail {
    Fail::failure(
        "PAS89: el servidor no tiene espacio libre suficiente; el archivo no se recibió, intente más tarde",
    )
}

/// Something to audit (and for uploads, to announce).
#[derive(Debug)]
pub enum Event {
    Audit {
        event: &'static str,
        detail: serde_json::Value,
    },
    /// A file under `incoming/` is complete (`upload`: hashed on arrival).
    Completed {
        path: PathBuf,
        upload: Option<crate::intake::Upload>,
    },
}

struct OutMsg {
    bytes: Bytes,
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// Serve the SFTP subsystem on a channel until it closes.
pub async fn run(channel: russh::Channel<Msg>, ctx: SessionCtx) {
    /// Counts this session in `pasarela_sftp_sessions` while it lives.
    struct Open;
    impl Drop for Open {
        fn drop(&mut self) {
            crate::admin::metrics::SFTP_SESSIONS.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
    crate::admin::metrics::SFTP_SESSIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let _open = Open;
    let (mut rx, tx) = channel.split();
    // Both queues are bounded, though not by their channel: requests by the
    // reader's counters (the session is closed past them), replies by the
    // permits of `budget` each one holds until written.
    let (req_tx, req_rx) = mpsc::unbounded_channel::<Bytes>();
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<OutMsg>();
    let queued = Arc::new(AtomicUsize::new(0));
    let pending = Arc::new(AtomicUsize::new(0));
    let budget = Arc::new(Semaphore::new(ctx.limits.max_reply_bytes));
    // Cancelled when the session is ended by the server (limits, shutdown):
    // the writer stops waiting for a window the client may never open.
    let kill = ctx.shutdown.child_token();

    let writer_kill = kill.clone();
    let writer = tokio::spawn(async move {
        while let Some(first) = out_rx.recv().await {
            let mut held = vec![first];
            let mut len = held[0].bytes.len();
            while len < COALESCE_BYTES {
                match out_rx.try_recv() {
                    Ok(m) => {
                        len += m.bytes.len();
                        held.push(m);
                    }
                    Err(_) => break,
                }
            }
            let data = if held.len() == 1 {
                held[0].bytes.clone()
            } else {
                let mut buf = BytesMut::with_capacity(len);
                for m in &held {
                    buf.extend_from_slice(&m.bytes);
                }
                buf.freeze()
            };
            tokio::select! {
                r = tx.data_bytes(data) => if r.is_err() { break },
                _ = writer_kill.cancelled() => break,
            }
            drop(held);
        }
        drop(out_rx);
        let _ = tx.eof().await;
        let _ = tx.close().await;
    });

    let processor = {
        let mut ctx = ctx.clone();
        ctx.shutdown = kill.clone();
        let queued = queued.clone();
        let pending = pending.clone();
        let budget = budget.clone();
        let rt = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            let mut p = Processor::new(ctx, out_tx, budget, rt);
            p.run(req_rx, &queued, &pending);
            p.abort_open_uploads();
        })
    };

    let mut inbuf = BytesMut::new();
    'read: loop {
        let msg = tokio::select! {
            m = rx.wait() => m,
            _ = ctx.shutdown.cancelled() => { kill.cancel(); break }
        };
        match msg {
            Some(ChannelMsg::Data { data }) => {
                inbuf.extend_from_slice(&data);
                while inbuf.len() >= 4 {
                    let len = u32::from_be_bytes([inbuf[0], inbuf[1], inbuf[2], inbuf[3]]) as usize;
                    if len == 0 || len > MAX_PACKET {
                        tracing::warn!(account = %ctx.account, ip = %ctx.ip, len, "sftp packet too large; closing session");
                        kill.cancel();
                        break 'read;
                    }
                    if inbuf.len() < 4 + len {
                        break;
                    }
                    inbuf.advance(4);
                    let frame = inbuf.split_to(len).freeze();
                    let total = queued.fetch_add(len.max(MIN_REQUEST_COST), Ordering::AcqRel)
                        + len.max(MIN_REQUEST_COST);
                    let count = pending.fetch_add(1, Ordering::AcqRel) + 1;
                    if total > ctx.limits.max_pending_bytes
                        || count > ctx.limits.max_pending_requests
                    {
                        tracing::warn!(account = %ctx.account, ip = %ctx.ip, pending = count, pending_bytes = total, "sftp client has too many requests pending (replies not taken); closing session");
                        crate::admin::metrics::inc(
                            "pasarela_sftp_sessions_refused_total",
                            &[("reason", "pending")],
                        );
                        kill.cancel();
                        break 'read;
                    }
                    if req_tx.send(frame).is_err() {
                        break 'read;
                    }
                }
            }
            Some(ChannelMsg::Eof) | Some(ChannelMsg::Close) | None => break,
            Some(_) => {}
        }
    }
    drop(req_tx);
    if kill.is_cancelled() {
        // A processor waiting for reply budget while the client takes
        // nothing must not hold the session open: closing the budget wakes it.
        budget.close();
    }
    let _ = processor.await;
    let _ = writer.await;
}

fn status_frame(id: u32, code: StatusCode, msg: &str) -> Bytes {
    encode(Packet::Status(p::Status {
        id,
        status_code: code,
        error_message: msg.to_string(),
        language_tag: "en".to_string(),
    }))
}

fn encode(packet: Packet) -> Bytes {
    Bytes::try_from(packet).unwrap_or_else(|_| Bytes::new())
}

/// A request failed: its status reply.
#[derive(Debug)]
struct Fail(StatusCode, String);

impl Fail {
    fn denied() -> Fail {
        Fail(StatusCode::PermissionDenied, "Permission denied".into())
    }
    fn no_such() -> Fail {
        Fail(StatusCode::NoSuchFile, "No such file".into())
    }
    fn failure(msg: &str) -> Fail {
        Fail(StatusCode::Failure, msg.into())
    }
    fn unsupported() -> Fail {
        Fail(StatusCode::OpUnsupported, "Operation unsupported".into())
    }
    fn bad() -> Fail {
        Fail(StatusCode::BadMessage, "Bad message".into())
    }
}

/// OpenSSH sftp-server's errno_to_portable.
pub fn io_status(e: &io::Error) -> (StatusCode, String) {
    match e.raw_os_error() {
        Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP | libc::EBADF) => {
            (StatusCode::NoSuchFile, "No such file".into())
        }
        Some(libc::EPERM | libc::EACCES) => {
            (StatusCode::PermissionDenied, "Permission denied".into())
        }
        Some(libc::EINVAL | libc::ENAMETOOLONG) => (StatusCode::BadMessage, "Bad message".into()),
        Some(libc::ENOSYS) => (StatusCode::OpUnsupported, "Operation unsupported".into()),
        _ if e.kind() == io::ErrorKind::NotFound => (StatusCode::NoSuchFile, "No such file".into()),
        _ => (StatusCode::Failure, e.to_string()),
    }
}

impl From<io::Error> for Fail {
    fn from(e: io::Error) -> Self {
        let (c, m) = io_status(&e);
        Fail(c, m)
    }
}

impl From<VfsError> for Fail {
    fn from(e: VfsError) -> Self {
        match e {
            VfsError::Denied => Fail::denied(),
            VfsError::NotFound => Fail::no_such(),
            VfsError::Io(e) => e.into(),
        }
    }
}

type R<T> = Result<T, Fail>;

// A few handles per session, in a map: the size of the upload variant
// (hash state, folder descriptor) does not matter.
#[allow(clippy::large_enum_variant)]
enum Handle {
    Read {
        file: File,
        view: ViewPath,
        bytes: u64,
    },
    Write {
        file: File,
        /// The target's folder, opened confined: the temporary is created,
        /// renamed and removed relative to it, never by path.
        dir: ParentDir,
        temp: OsString,
        target: PathBuf,
        view: ViewPath,
        hasher: Option<Sha256>,
        next: u64,
        size: u64,
        /// Set when a write was refused for quota or free space: the
        /// temporary is gone and CLOSE reports this.
        failed: Option<String>,
    },
    Dir {
        /// `.`, `..` and virtual folders shown here: a few entries.
        head: VecDeque<p::File>,
        /// The directory itself, read a batch at a time (never whole).
        stream: Option<DirStream>,
        /// Names hidden because a virtual folder of that name is shown.
        shadowed: Vec<String>,
    },
}

/// A directory being listed, read incrementally with readdir(3).
struct DirStream(std::ptr::NonNull<libc::DIR>);

// SAFETY: the DIR stream is owned by one handle and used by one thread at a
// time (the session's processor); readdir is safe across threads when the
// stream is not shared.
unsafe impl Send for DirStream {}

impl DirStream {
    fn new(fd: std::os::fd::OwnedFd) -> io::Result<DirStream> {
        use std::os::fd::IntoRawFd;
        let raw = fd.into_raw_fd();
        // SAFETY: `raw` is an open directory descriptor whose ownership
        // passes to the DIR stream (closed by closedir).
        let d = unsafe { libc::fdopendir(raw) };
        match std::ptr::NonNull::new(d) {
            Some(d) => Ok(DirStream(d)),
            None => {
                let e = io::Error::last_os_error();
                // SAFETY: fdopendir failed, so `raw` is still ours to close.
                unsafe { libc::close(raw) };
                Err(e)
            }
        }
    }

    fn fd(&self) -> std::os::fd::RawFd {
        // SAFETY: the stream is open until drop.
        unsafe { libc::dirfd(self.0.as_ptr()) }
    }

    /// The next name, `None` at the end.
    fn next_name(&mut self) -> Option<io::Result<OsString>> {
        use std::os::unix::ffi::OsStrExt;
        // SAFETY: errno is thread-local; readdir returns a pointer valid
        // until the next readdir/closedir on this stream, copied out at once.
        unsafe {
            *libc::__errno_location() = 0;
            let e = libc::readdir(self.0.as_ptr());
            if e.is_null() {
                let err = io::Error::last_os_error();
                return (err.raw_os_error() != Some(0)).then_some(Err(err));
            }
            let name = std::ffi::CStr::from_ptr((*e).d_name.as_ptr());
            Some(Ok(
                std::ffi::OsStr::from_bytes(name.to_bytes()).to_os_string()
            ))
        }
    }
}

impl Drop for DirStream {
    fn drop(&mut self) {
        // SAFETY: the stream is open and closed exactly once, here.
        unsafe { libc::closedir(self.0.as_ptr()) };
    }
}

struct Processor {
    ctx: SessionCtx,
    out: mpsc::UnboundedSender<OutMsg>,
    budget: Arc<Semaphore>,
    rt: tokio::runtime::Handle,
    handles: HashMap<String, Handle>,
    /// The budget slot of each open handle (same keys as `handles`).
    slots: HashMap<String, HandleSlot>,
    next_handle: u64,
}

fn be_u32(b: &mut Bytes) -> R<u32> {
    b.try_get_u32().map_err(|_| Fail::bad())
}

fn be_u64(b: &mut Bytes) -> R<u64> {
    b.try_get_u64().map_err(|_| Fail::bad())
}

fn be_string(b: &mut Bytes) -> R<Bytes> {
    let n = be_u32(b)? as usize;
    if b.remaining() < n {
        return Err(Fail::bad());
    }
    Ok(b.split_to(n))
}

fn attrs_of(md: &std::fs::Metadata) -> FileAttributes {
    FileAttributes {
        size: Some(md.len()),
        uid: Some(0),
        gid: Some(0),
        permissions: Some(md.mode()),
        atime: Some(md.atime().max(0) as u32),
        mtime: Some(md.mtime().max(0) as u32),
        ..Default::default()
    }
}

/// `ls -l` style line, as OpenSSH's sftp-server writes it.
fn longname(name: &str, md: &std::fs::Metadata, owner: &str) -> String {
    let mode = md.mode();
    let t = match mode & libc::S_IFMT {
        libc::S_IFDIR => 'd',
        libc::S_IFLNK => 'l',
        _ => '-',
    };
    let mut s = String::with_capacity(80);
    s.push(t);
    for (bit, c) in [
        (0o400, 'r'),
        (0o200, 'w'),
        (0o100, 'x'),
        (0o040, 'r'),
        (0o020, 'w'),
        (0o010, 'x'),
        (0o004, 'r'),
        (0o002, 'w'),
        (0o001, 'x'),
    ] {
        s.push(if mode & bit != 0 { c } else { '-' });
    }
    let mtime = chrono::DateTime::<chrono::Utc>::from_timestamp(md.mtime(), 0).unwrap_or_default();
    let now = chrono::Utc::now();
    let recent = (now - mtime).num_days().abs() < 180;
    let when = if recent {
        mtime.format("%b %e %H:%M").to_string()
    } else {
        mtime.format("%b %e  %Y").to_string()
    };
    format!(
        "{s} {:>4} {:<8} {:<8} {:>8} {when} {name}",
        md.nlink().min(9999),
        owner,
        owner,
        md.len()
    )
}

impl Processor {
    fn new(
        ctx: SessionCtx,
        out: mpsc::UnboundedSender<OutMsg>,
        budget: Arc<Semaphore>,
        rt: tokio::runtime::Handle,
    ) -> Self {
        Processor {
            ctx,
            out,
            budget,
            rt,
            handles: HashMap::new(),
            slots: HashMap::new(),
            next_handle: 1,
        }
    }

    /// Queue a reply. It holds reply-budget permits until written: when
    /// the client takes no replies this blocks, and no further request is
    /// handled (the reader's pending bounds then close the session).
    fn send(&self, bytes: Bytes) {
        let cost = bytes
            .len()
            .max(MIN_REPLY_COST)
            .min(self.ctx.limits.max_reply_bytes) as u32;
        let Ok(permit) = self
            .rt
            .block_on(self.budget.clone().acquire_many_owned(cost))
        else {
            return;
        };
        let _ = self.out.send(OutMsg {
            bytes,
            _permit: Some(permit),
        });
    }

    fn event(&self, event: &'static str, detail: serde_json::Value) {
        let _ = self.ctx.events.send(Event::Audit { event, detail });
    }

    fn run(
        &mut self,
        mut rx: mpsc::UnboundedReceiver<Bytes>,
        queued: &AtomicUsize,
        pending: &AtomicUsize,
    ) {
        while let Some(frame) = rx.blocking_recv() {
            let cost = frame.len().max(MIN_REQUEST_COST);
            self.handle_frame(frame);
            queued.fetch_sub(cost, Ordering::AcqRel);
            pending.fetch_sub(1, Ordering::AcqRel);
            if self.ctx.shutdown.is_cancelled() {
                break;
            }
        }
    }

    fn handle_frame(&mut self, mut frame: Bytes) {
        let Some(&kind) = frame.first() else {
            return;
        };
        // Hot paths parsed here without copying the data.
        match kind {
            6 => {
                frame.advance(1);
                let id = frame
                    .get(0..4)
                    .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                match self.write(&mut frame) {
                    Ok(id) => self.send(status_frame(id, StatusCode::Ok, "Success")),
                    Err(Fail(c, m)) => self.send(status_frame(id.unwrap_or(0), c, &m)),
                }
                return;
            }
            5 => {
                frame.advance(1);
                let id = frame
                    .get(0..4)
                    .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                if let Err(Fail(c, m)) = self.read(&mut frame) {
                    self.send(status_frame(id.unwrap_or(0), c, &m));
                }
                return;
            }
            _ => {}
        }
        let packet = match Packet::try_from(&mut frame) {
            Ok(p) => p,
            Err(_) => {
                let id = frame
                    .get(1..5)
                    .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                self.send(status_frame(
                    id.unwrap_or(0),
                    StatusCode::BadMessage,
                    "Bad message",
                ));
                return;
            }
        };
        let id = packet.get_request_id();
        let reply = match packet {
            Packet::Init(_) => Ok(self.version()),
            Packet::Open(o) => self.open(id, &o.filename, o.pflags),
            Packet::Close(c) => self.close(id, &c.handle),
            Packet::Lstat(s) => self.stat(id, &s.path, false),
            Packet::Stat(s) => self.stat(id, &s.path, true),
            Packet::Fstat(s) => self.fstat(id, &s.handle),
            Packet::SetStat(s) => self.setstat(id, &s.path),
            Packet::FSetStat(s) => self
                .handles
                .get(&s.handle)
                .map(|_| ok(id))
                .ok_or_else(Fail::failure_bad_handle),
            Packet::OpenDir(o) => self.opendir(id, &o.path),
            Packet::ReadDir(r) => self.readdir(id, &r.handle),
            Packet::Remove(r) => self.remove(id, &r.filename),
            Packet::MkDir(m) => self.mkdir(id, &m.path),
            Packet::RmDir(r) => self.rmdir(id, &r.path),
            Packet::RealPath(r) => Ok(self.realpath(id, &r.path)),
            Packet::Rename(r) => self.rename(id, &r.oldpath, &r.newpath, false),
            Packet::ReadLink(r) => self.readlink(id, &r.path),
            // OpenSSH clients send (target, link), the reverse of the draft's order.
            Packet::Symlink(s) => self.symlink(id, &s.linkpath, &s.targetpath),
            Packet::Extended(e) => self.extended(id, &e.request, e.data),
            _ => Err(Fail::bad()),
        };
        match reply {
            Ok(b) => self.send(b),
            Err(Fail(c, m)) => self.send(status_frame(id, c, &m)),
        }
    }

    fn version(&self) -> Bytes {
        let mut v = p::Version::new();
        for (k, val) in [
            ("posix-rename@openssh.com", "1"),
            ("statvfs@openssh.com", "2"),
            ("fsync@openssh.com", "1"),
            ("limits@openssh.com", "1"),
        ] {
            v.extensions.insert(k.to_string(), val.to_string());
        }
        encode(Packet::Version(v))
    }

    /// Room for one more handle: in this session (`max_open_handles`), in
    /// the account's and in the server's descriptor budgets. Taken before
    /// anything is opened; released when the handle closes.
    fn handle_slot(&self) -> R<HandleSlot> {
        if self.handles.len() >= self.ctx.max_open_handles as usize {
            return Err(Fail::failure("Too many open handles"));
        }
        let mut taken = HandleSlot(Vec::with_capacity(2));
        for b in &self.ctx.handle_budgets {
            if !b.take() {
                tracing::warn!(account = %self.ctx.account, ip = %self.ctx.ip, open = b.open(), max = b.max, "sftp handle budget exhausted");
                return Err(Fail::failure("Too many open handles"));
            }
            taken.0.push(b.clone());
        }
        Ok(taken)
    }

    fn new_handle(&mut self, h: Handle, slot: HandleSlot) -> R<String> {
        let name = format!("{}", self.next_handle);
        self.next_handle += 1;
        self.handles.insert(name.clone(), h);
        self.slots.insert(name.clone(), slot);
        Ok(name)
    }

    fn resolve(&self, path: &str, follow: bool) -> R<Resolved> {
        Ok(self.ctx.view.resolve(path, follow)?)
    }

    fn open(&mut self, id: u32, path: &str, flags: OpenFlags) -> R<Bytes> {
        let view = self.ctx.view.clone();
        let slot = self.handle_slot()?;
        if !flags.contains(OpenFlags::WRITE) {
            let r = self.resolve(path, true)?;
            if !view.perms_of_parent(&r).has(Perm::Download) {
                return Err(Fail::denied());
            }
            let file = view.open(&r, libc::O_RDONLY | libc::O_NOFOLLOW, 0)?;
            if !file.metadata()?.is_file() {
                return Err(Fail::failure("Not a regular file"));
            }
            let h = self.new_handle(
                Handle::Read {
                    file,
                    view: r.view,
                    bytes: 0,
                },
                slot,
            )?;
            return Ok(encode(Packet::Handle(p::Handle { id, handle: h })));
        }
        let r = self.resolve(path, false)?;
        if !view.perms_of_parent(&r).has(Perm::Upload) || view.is_fixed(&r) {
            return Err(Fail::denied());
        }
        if r.view.name().is_none_or(|n| n.starts_with('.')) {
            return Err(Fail::denied());
        }
        let dir = view.parent(&r)?;
        match dir.lstat() {
            Ok(md) if md.file_type().is_symlink() => return Err(Fail::denied()),
            Ok(md) if md.is_dir() => return Err(Fail::failure("Is a directory")),
            Ok(_) if flags.contains(OpenFlags::CREATE) && flags.contains(OpenFlags::EXCLUDE) => {
                return Err(Fail::failure("File exists"));
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if !flags.contains(OpenFlags::CREATE) {
                    return Err(Fail::no_such());
                }
            }
            Err(e) => return Err(e.into()),
        }
        if !self.ctx.usage.allows(0)
            && let Some(q) = self.ctx.usage.quota
        {
            return Err(quota_fail(q));
        }
        if self.ctx.limits.reserve.short(dir.raw(), 0) {
            tracing::warn!(account = %self.ctx.account, ip = %self.ctx.ip, path = %r.view, "sftp upload refused: free-space reserve reached");
            return Err(reserve_fail());
        }
        let mut rnd = [0u8; 8];
        rand::fill(&mut rnd);
        let temp = OsString::from(format!("{TEMP_PREFIX}{}", hex::encode(rnd)));
        // Read-write: CLOSE may hash it from this descriptor.
        let file = dir.open(&temp, libc::O_RDWR | libc::O_CREAT | libc::O_EXCL, 0o640)?;
        let h = self.new_handle(
            Handle::Write {
                file,
                dir,
                temp,
                target: r.real,
                view: r.view,
                hasher: Some(Sha256::new()),
                next: 0,
                size: 0,
                failed: None,
            },
            slot,
        );
        match h {
            Ok(h) => Ok(encode(Packet::Handle(p::Handle { id, handle: h }))),
            Err(e) => Err(e),
        }
    }

    fn write(&mut self, b: &mut Bytes) -> R<u32> {
        let id = be_u32(b)?;
        let handle = be_string(b)?;
        let offset = be_u64(b)?;
        let data = be_string(b)?;
        let handle = std::str::from_utf8(&handle).map_err(|_| Fail::bad())?;
        match self.handles.get_mut(handle) {
            Some(Handle::Write {
                file,
                dir,
                temp,
                view,
                hasher,
                next,
                size,
                failed,
                ..
            }) => {
                if let Some(m) = failed {
                    return Err(Fail::failure(m));
                }
                let max = self.ctx.max_file_bytes;
                let end = offset
                    .checked_add(data.len() as u64)
                    .filter(|&e| e <= max)
                    .ok_or_else(|| {
                        Fail::failure(&format!(
                            "PAS83: el archivo supera el tamaño máximo permitido ({max} bytes)"
                        ))
                    })?;
                let growth = end.saturating_sub(*size);
                if growth > 0 {
                    let usage = &self.ctx.usage;
                    let refusal = if !usage.allows(growth) {
                        usage.quota.map(quota_fail)
                    } else if self.ctx.limits.reserve.short(file.as_raw_fd(), growth) {
                        Some(reserve_fail())
                    } else {
                        None
                    };
                    if let Some(Fail(code, msg)) = refusal {
                        // Refused before the disk fills: the partial upload goes now.
                        if let Ok(c) = std::ffi::CString::new(
                            std::os::unix::ffi::OsStrExt::as_bytes(temp.as_os_str()),
                        ) {
                            // SAFETY: a valid descriptor and NUL-terminated name.
                            let _ = at_call(unsafe { libc::unlinkat(dir.raw(), c.as_ptr(), 0) });
                        }
                        let _ = file.set_len(0);
                        usage.uploading.fetch_sub(*size, Ordering::AcqRel);
                        *size = 0;
                        tracing::warn!(account = %self.ctx.account, ip = %self.ctx.ip, path = %view, reason = %msg, "sftp upload refused");
                        let _ = self.ctx.events.send(Event::Audit {
                            event: "sftp.upload_refused",
                            detail: serde_json::json!({"ip": self.ctx.ip.to_string(), "path": view.to_string(), "reason": msg}),
                        });
                        *failed = Some(msg.clone());
                        return Err(Fail(code, msg));
                    }
                    usage.uploading.fetch_add(growth, Ordering::AcqRel);
                }
                file.write_all_at(&data, offset)?;
                crate::admin::metrics::SFTP_BYTES_UPLOADED
                    .fetch_add(data.len() as u64, std::sync::atomic::Ordering::Relaxed);
                if offset == *next {
                    if let Some(h) = hasher {
                        h.update(&data);
                    }
                    *next = end;
                } else {
                    // Out of order: hash the file at CLOSE instead.
                    *hasher = None;
                }
                *size = (*size).max(end);
                Ok(id)
            }
            Some(_) => Err(Fail::failure("Handle not open for writing")),
            None => Err(Fail::failure_bad_handle()),
        }
    }

    fn read(&mut self, b: &mut Bytes) -> R<()> {
        let id = be_u32(b)?;
        let handle = be_string(b)?;
        let offset = be_u64(b)?;
        let len = be_u32(b)?.min(MAX_RW) as usize;
        let handle = std::str::from_utf8(&handle).map_err(|_| Fail::bad())?;
        let Some(Handle::Read { file, bytes, .. }) = self.handles.get_mut(handle) else {
            return Err(if self.handles.contains_key(handle) {
                Fail::failure("Handle not open for reading")
            } else {
                Fail::failure_bad_handle()
            });
        };
        let permit = self
            .rt
            .block_on(
                self.budget
                    .clone()
                    .acquire_many_owned((13 + len).max(MIN_REPLY_COST) as u32),
            )
            .map_err(|_| Fail::failure("shutting down"))?;
        let mut buf = BytesMut::with_capacity(13 + len);
        buf.put_u32(0);
        buf.put_u8(103);
        buf.put_u32(id);
        buf.put_u32(0);
        buf.resize(13 + len, 0);
        let mut got = 0;
        while got < len {
            match file.read_at(&mut buf[13 + got..], offset + got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        if got == 0 {
            drop(permit);
            self.send(status_frame(id, StatusCode::Eof, "End of file"));
            return Ok(());
        }
        *bytes += got as u64;
        crate::admin::metrics::SFTP_BYTES_DOWNLOADED
            .fetch_add(got as u64, std::sync::atomic::Ordering::Relaxed);
        buf.truncate(13 + got);
        let total = (buf.len() - 4) as u32;
        buf[0..4].copy_from_slice(&total.to_be_bytes());
        buf[9..13].copy_from_slice(&(got as u32).to_be_bytes());
        let _ = self.out.send(OutMsg {
            bytes: buf.freeze(),
            _permit: Some(permit),
        });
        Ok(())
    }

    fn close(&mut self, id: u32, handle: &str) -> R<Bytes> {
        self.slots.remove(handle);
        match self.handles.remove(handle) {
            None => Err(Fail::failure_bad_handle()),
            Some(Handle::Dir { .. }) => Ok(ok(id)),
            Some(Handle::Read { view, bytes, .. }) => {
                tracing::info!(account = %self.ctx.account, ip = %self.ctx.ip, path = %view, bytes, "sftp download");
                self.event(
                    "sftp.download",
                    serde_json::json!({"ip": self.ctx.ip.to_string(), "path": view.to_string(), "size": bytes}),
                );
                Ok(ok(id))
            }
            Some(Handle::Write {
                file,
                dir,
                temp,
                target,
                view,
                hasher,
                size,
                next,
                failed,
            }) => {
                self.ctx.usage.uploading.fetch_sub(size, Ordering::AcqRel);
                if let Some(m) = failed {
                    return Err(Fail::failure(&m));
                }
                let finish = || -> io::Result<(String, std::fs::Metadata)> {
                    file.sync_all()?;
                    let sha = match hasher {
                        Some(h) if next == size => hex::encode(h.finalize()),
                        _ => hash_file(&file)?,
                    };
                    let md = file.metadata()?;
                    drop(file);
                    let to = target
                        .file_name()
                        .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
                    renameat(&dir, &temp, &dir, to, true)?;
                    let _ = dir_fsync(&dir);
                    Ok((sha, md))
                };
                match finish() {
                    Ok((sha, md)) => {
                        self.ctx.usage.adjust(size as i64);
                        tracing::info!(account = %self.ctx.account, ip = %self.ctx.ip, path = %view, size, sha256 = %sha, "sftp upload");
                        self.event(
                            "sftp.upload",
                            serde_json::json!({"ip": self.ctx.ip.to_string(), "path": view.to_string(), "size": size, "sha256": sha}),
                        );
                        if target.starts_with(&self.ctx.incoming) {
                            let upload = crate::intake::Upload {
                                sha256: sha,
                                size: md.len(),
                                dev: md.dev(),
                                ino: md.ino(),
                            };
                            let _ = self.ctx.events.send(Event::Completed {
                                path: target,
                                upload: Some(upload),
                            });
                        }
                        Ok(ok(id))
                    }
                    Err(e) => {
                        let _ = unlinkat(&dir, &temp, 0);
                        tracing::warn!(account = %self.ctx.account, ip = %self.ctx.ip, path = %view, error = %e, "sftp upload failed at close");
                        Err(e.into())
                    }
                }
            }
        }
    }

    /// Delete the temporary files of uploads never closed: they are never processed.
    fn abort_open_uploads(&mut self) {
        self.slots.clear();
        for (_, h) in self.handles.drain() {
            if let Handle::Write {
                file,
                dir,
                temp,
                view,
                size,
                failed,
                ..
            } = h
            {
                drop(file);
                self.ctx.usage.uploading.fetch_sub(size, Ordering::AcqRel);
                if failed.is_some() {
                    continue;
                }
                let _ = unlinkat(&dir, &temp, 0);
                tracing::warn!(account = %self.ctx.account, ip = %self.ctx.ip, path = %view, size, "sftp upload interrupted; discarded");
                let _ = self.ctx.events.send(Event::Audit {
                    event: "sftp.upload_aborted",
                    detail: serde_json::json!({"ip": self.ctx.ip.to_string(), "path": view.to_string(), "size": size}),
                });
            }
        }
    }

    fn stat(&self, id: u32, path: &str, follow: bool) -> R<Bytes> {
        let r = self.resolve(path, follow)?;
        let v = &self.ctx.view;
        if v.perms_of_parent(&r).is_empty() && v.perms_of_dir(&r).is_empty() {
            return Err(Fail::denied());
        }
        // `r.real` is already the link's target when following.
        let md = v.lstat(&r)?;
        Ok(encode(Packet::Attrs(p::Attrs {
            id,
            attrs: attrs_of(&md),
        })))
    }

    fn fstat(&self, id: u32, handle: &str) -> R<Bytes> {
        let md = match self.handles.get(handle) {
            Some(Handle::Read { file, .. }) | Some(Handle::Write { file, .. }) => {
                file.metadata()?
            }
            Some(Handle::Dir { .. }) => return Err(Fail::unsupported()),
            None => return Err(Fail::failure_bad_handle()),
        };
        Ok(encode(Packet::Attrs(p::Attrs {
            id,
            attrs: attrs_of(&md),
        })))
    }

    /// Attribute changes are accepted and ignored: modes and owners are the
    /// gateway's business, and clients (`put -p`, WinSCP) treat a refusal as
    /// a failed upload.
    fn setstat(&self, id: u32, path: &str) -> R<Bytes> {
        let r = self.resolve(path, true)?;
        let v = &self.ctx.view;
        if !v.perms_of_parent(&r).has(Perm::Upload) {
            return Err(Fail::denied());
        }
        v.lstat(&r)?;
        Ok(ok(id))
    }

    fn opendir(&mut self, id: u32, path: &str) -> R<Bytes> {
        let r = self.resolve(path, true)?;
        let view = self.ctx.view.clone();
        if !view.perms_of_dir(&r).has(Perm::List) {
            return Err(Fail::denied());
        }
        let slot = self.handle_slot()?;
        let dirf = view.open(&r, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
        let md = dirf.metadata()?;
        let owner = &self.ctx.account;
        let mut head = VecDeque::new();
        for name in [".", ".."] {
            head.push_back(p::File {
                filename: name.to_string(),
                longname: longname(name, &md, owner),
                attrs: attrs_of(&md),
            });
        }
        let shadowed = view.virtual_entries(&r.view);
        for name in &shadowed {
            if let Ok(vr) = view.resolve_view(&r.view.join(name), true)
                && let Ok(md) = view.open(&vr, libc::O_PATH, 0).and_then(|f| f.metadata())
            {
                head.push_back(p::File {
                    longname: longname(name, &md, owner),
                    attrs: attrs_of(&md),
                    filename: name.clone(),
                });
            }
        }
        let stream = DirStream::new(dirf.into())?;
        let h = self.new_handle(
            Handle::Dir {
                head,
                stream: Some(stream),
                shadowed,
            },
            slot,
        )?;
        Ok(encode(Packet::Handle(p::Handle { id, handle: h })))
    }

    /// Up to `READDIR_BATCH` entries, read from the directory now.
    fn readdir(&mut self, id: u32, handle: &str) -> R<Bytes> {
        let owner = self.ctx.account.clone();
        let Some(Handle::Dir {
            head,
            stream,
            shadowed,
        }) = self.handles.get_mut(handle)
        else {
            return Err(Fail::failure_bad_handle());
        };
        let mut files: Vec<p::File> = Vec::with_capacity(READDIR_BATCH);
        while files.len() < READDIR_BATCH
            && let Some(f) = head.pop_front()
        {
            files.push(f);
        }
        while files.len() < READDIR_BATCH
            && let Some(st) = stream.as_mut()
        {
            let name = match st.next_name() {
                None => {
                    *stream = None;
                    break;
                }
                Some(Err(e)) => {
                    *stream = None;
                    if files.is_empty() {
                        return Err(e.into());
                    }
                    break;
                }
                Some(Ok(n)) => n,
            };
            let Some(name) = name.to_str().map(str::to_string) else {
                continue;
            };
            if name == "."
                || name == ".."
                || name.starts_with(TEMP_PREFIX)
                || shadowed.contains(&name)
            {
                continue;
            }
            let entry = crate::sftp::vfs::ParentDir::open_at(st.fd(), &name);
            let Ok(md) = entry.and_then(|f| f.metadata()) else {
                continue;
            };
            files.push(p::File {
                longname: longname(&name, &md, &owner),
                attrs: attrs_of(&md),
                filename: name,
            });
        }
        if files.is_empty() {
            return Err(Fail(StatusCode::Eof, "End of file".into()));
        }
        Ok(encode(Packet::Name(p::Name { id, files })))
    }

    fn remove(&mut self, id: u32, path: &str) -> R<Bytes> {
        let r = self.resolve(path, false)?;
        let v = &self.ctx.view;
        if !v.perms_of_parent(&r).has(Perm::Delete) || v.is_fixed(&r) {
            return Err(Fail::denied());
        }
        let dir = v.parent(&r)?;
        let md = dir.lstat()?;
        if md.is_dir() {
            return Err(Fail::failure("Is a directory"));
        }
        unlinkat(&dir, &dir.name, 0)?;
        if md.is_file() {
            self.ctx.usage.adjust(-(md.len() as i64));
        }
        tracing::info!(account = %self.ctx.account, ip = %self.ctx.ip, path = %r.view, "sftp remove");
        self.event(
            "sftp.remove",
            serde_json::json!({"ip": self.ctx.ip.to_string(), "path": r.view.to_string()}),
        );
        Ok(ok(id))
    }

    fn mkdir(&mut self, id: u32, path: &str) -> R<Bytes> {
        let r = self.resolve(path, false)?;
        let v = &self.ctx.view;
        if !v.perms_of_parent(&r).has(Perm::Mkdir) || v.is_fixed(&r) {
            return Err(Fail::denied());
        }
        if r.view.name().is_none_or(|n| n.starts_with('.')) {
            return Err(Fail::denied());
        }
        let dir = v.parent(&r)?;
        let name = dir.name_c()?;
        // SAFETY: a valid descriptor and NUL-terminated name.
        at_call(unsafe { libc::mkdirat(dir.raw(), name.as_ptr(), 0o750) })?;
        self.event(
            "sftp.mkdir",
            serde_json::json!({"ip": self.ctx.ip.to_string(), "path": r.view.to_string()}),
        );
        Ok(ok(id))
    }

    fn rmdir(&mut self, id: u32, path: &str) -> R<Bytes> {
        let r = self.resolve(path, false)?;
        let v = &self.ctx.view;
        if !v.perms_of_parent(&r).has(Perm::Delete) || v.is_fixed(&r) {
            return Err(Fail::denied());
        }
        let dir = v.parent(&r)?;
        unlinkat(&dir, &dir.name, libc::AT_REMOVEDIR)?;
        self.event(
            "sftp.rmdir",
            serde_json::json!({"ip": self.ctx.ip.to_string(), "path": r.view.to_string()}),
        );
        Ok(ok(id))
    }

    fn realpath(&self, id: u32, path: &str) -> Bytes {
        let v = ViewPath::parse(path).unwrap_or_default();
        encode(Packet::Name(p::Name {
            id,
            files: vec![p::File {
                filename: v.to_string(),
                longname: String::new(),
                attrs: FileAttributes::empty(),
            }],
        }))
    }

    fn rename(&mut self, id: u32, from: &str, to: &str, overwrite: bool) -> R<Bytes> {
        let a = self.resolve(from, false)?;
        let b = self.resolve(to, false)?;
        let v = &self.ctx.view;
        if !v.perms_of_parent(&a).has(Perm::Rename)
            || !v.perms_of_parent(&b).has(Perm::Rename)
            || v.is_fixed(&a)
            || v.is_fixed(&b)
        {
            return Err(Fail::denied());
        }
        if b.view.name().is_none_or(|n| n.starts_with('.')) {
            return Err(Fail::denied());
        }
        let da = v.parent(&a)?;
        let db = v.parent(&b)?;
        let md = da.lstat()?;
        if !overwrite && db.lstat().is_ok() {
            return Err(Fail::failure("File exists"));
        }
        renameat(&da, &da.name, &db, &db.name, overwrite).map_err(|e| {
            if e.raw_os_error() == Some(libc::EEXIST) {
                Fail::failure("File exists")
            } else {
                Fail::from(e)
            }
        })?;
        tracing::info!(account = %self.ctx.account, ip = %self.ctx.ip, from = %a.view, to = %b.view, "sftp rename");
        self.event(
            "sftp.rename",
            serde_json::json!({"ip": self.ctx.ip.to_string(), "path": b.view.to_string(), "from": a.view.to_string()}),
        );
        if md.is_file() && b.real.starts_with(&self.ctx.incoming) {
            let _ = self.ctx.events.send(Event::Completed {
                path: b.real,
                upload: None,
            });
        }
        Ok(ok(id))
    }

    fn readlink(&self, id: u32, path: &str) -> R<Bytes> {
        let r = self.resolve(path, false)?;
        let v = &self.ctx.view;
        if !v.perms_of_parent(&r).has(Perm::List) {
            return Err(Fail::denied());
        }
        if !v.lstat(&r)?.file_type().is_symlink() {
            return Err(Fail::failure("Not a symbolic link"));
        }
        // Show where it leads inside the view, never a real path.
        let t = v.resolve_view(&r.view, true)?;
        Ok(encode(Packet::Name(p::Name {
            id,
            files: vec![p::File {
                filename: t.view.to_string(),
                longname: String::new(),
                attrs: FileAttributes::empty(),
            }],
        })))
    }

    fn symlink(&mut self, id: u32, target: &str, link: &str) -> R<Bytes> {
        let v = self.ctx.view.clone();
        if !v.allow_symlinks {
            return Err(Fail::denied());
        }
        let l = self.resolve(link, false)?;
        if !v.perms_of_parent(&l).has(Perm::Upload) || v.is_fixed(&l) {
            return Err(Fail::denied());
        }
        if l.view.name().is_none_or(|n| n.starts_with('.')) {
            return Err(Fail::denied());
        }
        // A relative target is relative to the link's folder.
        let tpath = if target.starts_with('/') {
            target.to_string()
        } else {
            format!("{}/{}", l.view.parent(), target)
        };
        let t = self.resolve(&tpath, true)?;
        v.lstat(&t)?;
        let dir = v.parent(&l)?;
        let name = dir.name_c()?;
        let target =
            std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(t.real.as_os_str()))
                .map_err(|_| Fail::bad())?;
        // SAFETY: valid NUL-terminated strings and an open directory descriptor.
        at_call(unsafe { libc::symlinkat(target.as_ptr(), dir.raw(), name.as_ptr()) })?;
        Ok(ok(id))
    }

    fn extended(&mut self, id: u32, request: &str, data: Vec<u8>) -> R<Bytes> {
        let mut data = Bytes::from(data);
        match request {
            "posix-rename@openssh.com" => {
                let from = be_string(&mut data)?;
                let to = be_string(&mut data)?;
                let from = String::from_utf8_lossy(&from).into_owned();
                let to = String::from_utf8_lossy(&to).into_owned();
                self.rename(id, &from, &to, true)
            }
            "fsync@openssh.com" => {
                let h = be_string(&mut data)?;
                let h = String::from_utf8_lossy(&h).into_owned();
                match self.handles.get(&h) {
                    Some(Handle::Write { file, .. }) | Some(Handle::Read { file, .. }) => {
                        file.sync_all()?;
                        Ok(ok(id))
                    }
                    _ => Err(Fail::failure_bad_handle()),
                }
            }
            "statvfs@openssh.com" => {
                let path = be_string(&mut data)?;
                let path = String::from_utf8_lossy(&path).into_owned();
                let r = self.resolve(&path, true)?;
                let st = statvfs(&r.real)?;
                let mut b = BytesMut::new();
                for x in st {
                    b.put_u64(x);
                }
                Ok(encode(Packet::ExtendedReply(p::ExtendedReply {
                    id,
                    data: b.to_vec(),
                })))
            }
            "limits@openssh.com" => {
                let mut b = BytesMut::new();
                b.put_u64(256 * 1024);
                b.put_u64(MAX_RW as u64);
                b.put_u64(MAX_RW as u64);
                b.put_u64(self.ctx.max_open_handles as u64);
                Ok(encode(Packet::ExtendedReply(p::ExtendedReply {
                    id,
                    data: b.to_vec(),
                })))
            }
            _ => Err(Fail::unsupported()),
        }
    }
}

impl Fail {
    fn failure_bad_handle() -> Fail {
        Fail(StatusCode::Failure, "Invalid handle".into())
    }
}

fn ok(id: u32) -> Bytes {
    status_frame(id, StatusCode::Ok, "Success")
}

fn hash_file(f: &File) -> io::Result<String> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut off = 0u64;
    loop {
        let n = f.read_at(&mut buf, off)?;
        if n == 0 {
            break;
        }
        off += n as u64;
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

fn cname(n: &std::ffi::OsStr) -> io::Result<std::ffi::CString> {
    std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(n))
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn unlinkat(dir: &ParentDir, name: &std::ffi::OsStr, flags: i32) -> io::Result<()> {
    let c = cname(name)?;
    // SAFETY: a valid descriptor and NUL-terminated name.
    at_call(unsafe { libc::unlinkat(dir.raw(), c.as_ptr(), flags) })
}

/// Rename between two confined folders; without `overwrite` the kernel
/// refuses an existing target (RENAME_NOREPLACE), no check-then-rename.
fn renameat(
    from: &ParentDir,
    a: &std::ffi::OsStr,
    to: &ParentDir,
    b: &std::ffi::OsStr,
    overwrite: bool,
) -> io::Result<()> {
    let (ca, cb) = (cname(a)?, cname(b)?);
    let flags = if overwrite { 0 } else { libc::RENAME_NOREPLACE };
    // SAFETY: valid descriptors and NUL-terminated names.
    let r =
        at_call(unsafe { libc::renameat2(from.raw(), ca.as_ptr(), to.raw(), cb.as_ptr(), flags) });
    match r {
        // Filesystems without RENAME_NOREPLACE: the caller checked already.
        Err(e) if !overwrite && e.raw_os_error() == Some(libc::EINVAL) => {
            // SAFETY: as above.
            at_call(unsafe { libc::renameat(from.raw(), ca.as_ptr(), to.raw(), cb.as_ptr()) })
        }
        r => r,
    }
}

fn dir_fsync(dir: &ParentDir) -> io::Result<()> {
    // SAFETY: a valid descriptor opened O_RDONLY | O_DIRECTORY.
    at_call(unsafe { libc::fsync(dir.raw()) })
}

/// statvfs@openssh.com fields in wire order.
fn statvfs(path: &std::path::Path) -> io::Result<[u64; 11]> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `c` is a valid NUL-terminated path and `st` is a plain C struct
    // that statvfs fills in completely on success.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok([
        st.f_bsize as u64,
        st.f_frsize as u64,
        st.f_blocks as u64,
        st.f_bfree as u64,
        st.f_bavail as u64,
        st.f_files as u64,
        st.f_ffree as u64,
        st.f_favail as u64,
        st.f_fsid as u64,
        st.f_flag as u64,
        st.f_namemax as u64,
    ])
}

/// Run SFTP request frames (each without its length prefix) through the
/// request processor of a session of an account whose home is `home`, as a
/// client on loopback would, and return how many replies it sent. For the
/// `sftp_packets` fuzz target: everything but the SSH transport. Uploads
/// still open at the end are aborted, as when a session ends.
/// A session context for an account whose home is `home` (default
/// permissions, symlinks allowed), as the fuzz target and tests use it.
fn local_ctx(home: &std::path::Path, events: mpsc::UnboundedSender<Event>) -> Option<SessionCtx> {
    let sftp = crate::sftp::config::AccountSftp {
        authorized_keys: vec![],
        keys: vec![],
        password_hash: None,
        allowed_networks: vec![],
        permissions: crate::sftp::config::default_permissions(),
        virtual_folders: vec![],
        allow_symlinks: true,
        quota_bytes: None,
    };
    let view = View::new(home, &sftp).ok()?;
    Some(SessionCtx {
        account: "fuzz".into(),
        ip: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        view: Arc::new(view),
        incoming: home.join("incoming"),
        max_open_handles: 16,
        max_file_bytes: 1 << 20,
        limits: SessionLimits {
            max_pending_requests: 1024,
            max_pending_bytes: 32 << 20,
            max_reply_bytes: 8 << 20,
            reserve: Reserve {
                min_free_bytes: 0,
                min_free_percent: 0,
                state_dir: home.to_path_buf(),
            },
        },
        usage: Arc::new(AccountUsage::new(home.to_path_buf(), None)),
        handle_budgets: [HandleBudget::new(1 << 20), HandleBudget::new(1 << 20)],
        events,
        shutdown: CancellationToken::new(),
    })
}

/// Run SFTP request frames (each without its length prefix) through the
/// request processor of a session of an account whose home is `home`, as a
/// client on loopback would, and return how many replies it sent. For the
/// `sftp_packets` fuzz target: everything but the SSH transport. Uploads
/// still open at the end are aborted, as when a session ends.
#[doc(hidden)]
pub fn fuzz_frames(rt: &tokio::runtime::Handle, home: &std::path::Path, frames: &[Bytes]) -> usize {
    let (events, _events_rx) = mpsc::unbounded_channel();
    let Some(ctx) = local_ctx(home, events) else {
        return 0;
    };
    let (out_tx, mut out_rx) = mpsc::unbounded_channel();
    let budget = Arc::new(Semaphore::new(ctx.limits.max_reply_bytes));
    let mut p = Processor::new(ctx, out_tx, budget, rt.clone());
    let mut replies = 0;
    for f in frames {
        p.handle_frame(f.clone());
        // Replies hold reply-budget permits until they are written: drain.
        while out_rx.try_recv().is_ok() {
            replies += 1;
        }
    }
    p.abort_open_uploads();
    replies
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(packet: Packet) -> Bytes {
        let b = encode(packet);
        b.slice(4..)
    }

    fn setup() -> (tempfile::TempDir, tokio::runtime::Runtime) {
        let t = tempfile::tempdir().unwrap();
        for d in ["incoming", "outgoing", "archive"] {
            std::fs::create_dir_all(t.path().join(d)).unwrap();
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        (t, rt)
    }

    /// OPENDIR reads nothing of the directory but `.`/`..`; each READDIR
    /// reads at most one batch from it (the old code read the whole listing
    /// into the handle at OPENDIR).
    #[test]
    fn listings_are_read_a_batch_at_a_time() {
        let (t, rt) = setup();
        for i in 0..1234 {
            std::fs::write(t.path().join(format!("archive/f{i:05}.xml")), b"x").unwrap();
        }
        std::fs::write(t.path().join(format!("archive/{TEMP_PREFIX}zz")), b"t").unwrap();
        let (ev, _rx) = mpsc::unbounded_channel();
        let ctx = local_ctx(t.path(), ev).unwrap();
        let (out_tx, mut out_rx) = mpsc::unbounded_channel();
        let mut p = Processor::new(
            ctx,
            out_tx,
            Arc::new(Semaphore::new(8 << 20)),
            rt.handle().clone(),
        );
        p.handle_frame(frame(Packet::OpenDir(p::OpenDir {
            id: 1,
            path: "/archive".into(),
        })));
        let handle = match Packet::try_from(&mut out_rx.try_recv().unwrap().bytes.slice(4..)) {
            Ok(Packet::Handle(h)) => h.handle,
            other => panic!("{other:?}"),
        };
        match p.handles.get(&handle) {
            Some(Handle::Dir { head, stream, .. }) => {
                assert!(head.len() <= 2, "only . and .. are held: {}", head.len());
                assert!(stream.is_some());
            }
            _ => panic!("not a directory handle"),
        }
        let mut names = Vec::new();
        for id in 2.. {
            p.handle_frame(frame(Packet::ReadDir(p::ReadDir {
                id,
                handle: handle.clone(),
            })));
            match Packet::try_from(&mut out_rx.try_recv().unwrap().bytes.slice(4..)) {
                Ok(Packet::Name(n)) => {
                    assert!(n.files.len() <= READDIR_BATCH);
                    names.extend(n.files.into_iter().map(|f| f.filename));
                }
                Ok(Packet::Status(s)) => {
                    assert_eq!(s.status_code, StatusCode::Eof);
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(
            names.len(),
            1234 + 2,
            "every entry once, the temporary hidden"
        );
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 1236);
        assert!(!names.iter().any(|n| n.starts_with(TEMP_PREFIX)));
    }

    /// Handles count against budgets shared with the other sessions (all
    /// accounts, and the account): when one is used up, OPEN and OPENDIR
    /// fail, and closing gives the room back.
    #[test]
    fn handles_count_against_shared_budgets() {
        let (t, rt) = setup();
        std::fs::write(t.path().join("archive/a.xml"), b"a").unwrap();
        let (ev, _rx) = mpsc::unbounded_channel();
        let mut ctx = local_ctx(t.path(), ev).unwrap();
        let account = HandleBudget::new(2);
        ctx.handle_budgets[1] = account.clone();
        let (out_tx, mut out_rx) = mpsc::unbounded_channel();
        let mut p = Processor::new(
            ctx,
            out_tx,
            Arc::new(Semaphore::new(8 << 20)),
            rt.handle().clone(),
        );
        let mut reply = |p: &mut Processor, pk: Packet| {
            p.handle_frame(frame(pk));
            Packet::try_from(&mut out_rx.try_recv().unwrap().bytes.slice(4..)).unwrap()
        };
        let mut handles = Vec::new();
        for id in 0..2 {
            match reply(
                &mut p,
                Packet::OpenDir(p::OpenDir {
                    id,
                    path: "/archive".into(),
                }),
            ) {
                Packet::Handle(h) => handles.push(h.handle),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(account.open(), 2);
        let open = || {
            Packet::Open(p::Open {
                id: 5,
                filename: "/archive/a.xml".into(),
                pflags: OpenFlags::READ,
                attrs: FileAttributes::empty(),
            })
        };
        match reply(&mut p, open()) {
            Packet::Status(s) => {
                assert!(s.error_message.contains("Too many open handles"), "{s:?}")
            }
            other => panic!("{other:?}"),
        }
        let h = handles.pop().unwrap();
        assert!(matches!(
            reply(&mut p, Packet::Close(p::Close { id: 6, handle: h })),
            Packet::Status(_)
        ));
        assert_eq!(account.open(), 1);
        assert!(matches!(reply(&mut p, open()), Packet::Handle(_)));
        p.abort_open_uploads();
        assert_eq!(account.open(), 0, "a session's end gives every slot back");
    }

    /// Replies take reply budget: with none left, the processor waits (it
    /// takes no further request) instead of queueing replies without bound.
    #[test]
    fn replies_wait_for_budget() {
        let (t, rt) = setup();
        let (ev, _rx) = mpsc::unbounded_channel();
        let ctx = local_ctx(t.path(), ev).unwrap();
        let (out_tx, mut out_rx) = mpsc::unbounded_channel();
        let budget = Arc::new(Semaphore::new(MIN_REPLY_COST * 3));
        let mut p = Processor::new(ctx, out_tx, budget.clone(), rt.handle().clone());
        for id in 0..3 {
            p.handle_frame(frame(Packet::Stat(p::Stat {
                id,
                path: "/".into(),
            })));
        }
        assert_eq!(budget.available_permits(), 0);
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let th = std::thread::spawn(move || {
            p.handle_frame(frame(Packet::Stat(p::Stat {
                id: 9,
                path: "/".into(),
            })));
            done_tx.send(()).unwrap();
        });
        assert!(
            done_rx
                .recv_timeout(std::time::Duration::from_millis(300))
                .is_err(),
            "a fourth reply must wait"
        );
        // The client takes one reply: the fourth goes out.
        drop(out_rx.try_recv().unwrap());
        done_rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .unwrap();
        th.join().unwrap();
    }
}
