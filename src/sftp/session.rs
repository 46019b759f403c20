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
//!   flight. The queue is bounded by bytes: past `MAX_QUEUED_BYTES` the client
//!   is not following the protocol and the session is closed.
//! - **processor** (one blocking thread per session): handles requests in
//!   arrival order with plain `pread`/`pwrite` (no per-request task), and
//!   queues replies. READ replies take permits from an outbound byte budget,
//!   so at most `READ_BUDGET` bytes of file data wait for the client's window.
//! - **writer** (async): coalesces queued replies into channel writes of up to
//!   `COALESCE_BYTES`; russh splits them into SSH packets as the window allows.
//!
//! Uploads go to a hidden temporary file in the target directory and are
//! fsynced and renamed into place on CLOSE; only then is intake told. A
//! session that ends with uploads still open deletes their temporary files.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt};
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

use crate::sftp::vfs::{Perm, Resolved, TEMP_PREFIX, VfsError, View, ViewPath};

/// Largest SFTP request accepted (OpenSSH: 256 KiB + header).
pub const MAX_PACKET: usize = 256 * 1024 + 1024;
/// Largest READ/WRITE payload advertised in limits@openssh.com.
pub const MAX_RW: u32 = 255 * 1024;
/// Requests queued but not processed yet, in bytes, before the session is closed.
const MAX_QUEUED_BYTES: usize = 256 * 1024 * 1024;
/// Each queued request counts at least this much (bounds tiny-request floods).
const MIN_REQUEST_COST: usize = 64;
/// File data read but not yet handed to the channel.
const READ_BUDGET: usize = 8 * 1024 * 1024;
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
    pub events: mpsc::UnboundedSender<Event>,
    pub shutdown: CancellationToken,
}

/// Something to audit (and for uploads, to announce).
#[derive(Debug)]
pub enum Event {
    Audit {
        event: &'static str,
        detail: serde_json::Value,
    },
    /// A file under `incoming/` is complete.
    Completed { path: PathBuf },
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
    let (req_tx, req_rx) = mpsc::unbounded_channel::<Bytes>();
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<OutMsg>();
    let queued = Arc::new(AtomicUsize::new(0));
    let budget = Arc::new(Semaphore::new(READ_BUDGET));

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
            if tx.data_bytes(data).await.is_err() {
                break;
            }
            drop(held);
        }
        let _ = tx.eof().await;
        let _ = tx.close().await;
    });

    let processor = {
        let ctx = ctx.clone();
        let queued = queued.clone();
        let budget = budget.clone();
        let rt = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            let mut p = Processor::new(ctx, out_tx, budget, rt);
            p.run(req_rx, &queued);
            p.abort_open_uploads();
        })
    };

    let mut inbuf = BytesMut::new();
    'read: loop {
        let msg = tokio::select! {
            m = rx.wait() => m,
            _ = ctx.shutdown.cancelled() => break,
        };
        match msg {
            Some(ChannelMsg::Data { data }) => {
                inbuf.extend_from_slice(&data);
                while inbuf.len() >= 4 {
                    let len = u32::from_be_bytes([inbuf[0], inbuf[1], inbuf[2], inbuf[3]]) as usize;
                    if len == 0 || len > MAX_PACKET {
                        tracing::warn!(account = %ctx.account, ip = %ctx.ip, len, "sftp packet too large; closing session");
                        break 'read;
                    }
                    if inbuf.len() < 4 + len {
                        break;
                    }
                    inbuf.advance(4);
                    let frame = inbuf.split_to(len).freeze();
                    let total = queued.fetch_add(len.max(MIN_REQUEST_COST), Ordering::AcqRel);
                    if total > MAX_QUEUED_BYTES {
                        tracing::warn!(account = %ctx.account, ip = %ctx.ip, "client queued too many requests; closing session");
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

enum Handle {
    Read {
        file: File,
        view: ViewPath,
        bytes: u64,
    },
    Write {
        file: File,
        temp: PathBuf,
        target: PathBuf,
        view: ViewPath,
        hasher: Option<Sha256>,
        next: u64,
        size: u64,
    },
    Dir {
        entries: VecDeque<p::File>,
    },
}

struct Processor {
    ctx: SessionCtx,
    out: mpsc::UnboundedSender<OutMsg>,
    budget: Arc<Semaphore>,
    rt: tokio::runtime::Handle,
    handles: HashMap<String, Handle>,
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
            next_handle: 1,
        }
    }

    fn send(&self, bytes: Bytes) {
        let _ = self.out.send(OutMsg {
            bytes,
            _permit: None,
        });
    }

    fn event(&self, event: &'static str, detail: serde_json::Value) {
        let _ = self.ctx.events.send(Event::Audit { event, detail });
    }

    fn run(&mut self, mut rx: mpsc::UnboundedReceiver<Bytes>, queued: &AtomicUsize) {
        while let Some(frame) = rx.blocking_recv() {
            let cost = frame.len().max(MIN_REQUEST_COST);
            self.handle_frame(frame);
            queued.fetch_sub(cost, Ordering::AcqRel);
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

    fn new_handle(&mut self, h: Handle) -> R<String> {
        if self.handles.len() >= self.ctx.max_open_handles as usize {
            return Err(Fail::failure("Too many open handles"));
        }
        let name = format!("{}", self.next_handle);
        self.next_handle += 1;
        self.handles.insert(name.clone(), h);
        Ok(name)
    }

    fn resolve(&self, path: &str, follow: bool) -> R<Resolved> {
        Ok(self.ctx.view.resolve(path, follow)?)
    }

    fn open(&mut self, id: u32, path: &str, flags: OpenFlags) -> R<Bytes> {
        let view = self.ctx.view.clone();
        if !flags.contains(OpenFlags::WRITE) {
            let r = self.resolve(path, true)?;
            if !view.perms_of_parent(&r).has(Perm::Download) {
                return Err(Fail::denied());
            }
            let file = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&r.real)?;
            if !file.metadata()?.is_file() {
                return Err(Fail::failure("Not a regular file"));
            }
            let h = self.new_handle(Handle::Read {
                file,
                view: r.view,
                bytes: 0,
            })?;
            return Ok(encode(Packet::Handle(p::Handle { id, handle: h })));
        }
        let r = self.resolve(path, false)?;
        if !view.perms_of_parent(&r).has(Perm::Upload) || view.is_fixed(&r) {
            return Err(Fail::denied());
        }
        if r.view.name().is_none_or(|n| n.starts_with('.')) {
            return Err(Fail::denied());
        }
        match std::fs::symlink_metadata(&r.real) {
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
        let parent = r.real.parent().ok_or_else(Fail::no_such)?;
        let mut rnd = [0u8; 8];
        rand::fill(&mut rnd);
        let temp = parent.join(format!("{TEMP_PREFIX}{}", hex::encode(rnd)));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o640)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&temp)?;
        let h = self.new_handle(Handle::Write {
            file,
            temp,
            target: r.real,
            view: r.view,
            hasher: Some(Sha256::new()),
            next: 0,
            size: 0,
        })?;
        Ok(encode(Packet::Handle(p::Handle { id, handle: h })))
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
                hasher,
                next,
                size,
                ..
            }) => {
                let max = self.ctx.max_file_bytes;
                let end = offset
                    .checked_add(data.len() as u64)
                    .filter(|&e| e <= max)
                    .ok_or_else(|| {
                        Fail::failure(&format!(
                            "PAS83: el archivo supera el tamaño máximo permitido ({max} bytes)"
                        ))
                    })?;
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
            .block_on(self.budget.clone().acquire_many_owned(len.max(1) as u32))
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
                temp,
                target,
                view,
                hasher,
                size,
                next,
            }) => {
                let finish = || -> io::Result<String> {
                    file.sync_all()?;
                    drop(file);
                    let sha = match hasher {
                        Some(h) if next == size => hex::encode(h.finalize()),
                        _ => hash_file(&temp)?,
                    };
                    std::fs::rename(&temp, &target)?;
                    if let Some(dir) = target.parent()
                        && let Ok(d) = File::open(dir)
                    {
                        let _ = d.sync_all();
                    }
                    Ok(sha)
                };
                match finish() {
                    Ok(sha) => {
                        tracing::info!(account = %self.ctx.account, ip = %self.ctx.ip, path = %view, size, sha256 = %sha, "sftp upload");
                        self.event(
                            "sftp.upload",
                            serde_json::json!({"ip": self.ctx.ip.to_string(), "path": view.to_string(), "size": size, "sha256": sha}),
                        );
                        if target.starts_with(&self.ctx.incoming) {
                            let _ = self.ctx.events.send(Event::Completed { path: target });
                        }
                        Ok(ok(id))
                    }
                    Err(e) => {
                        let _ = std::fs::remove_file(&temp);
                        tracing::warn!(account = %self.ctx.account, ip = %self.ctx.ip, path = %view, error = %e, "sftp upload failed at close");
                        Err(e.into())
                    }
                }
            }
        }
    }

    /// Delete the temporary files of uploads never closed: they are never processed.
    fn abort_open_uploads(&mut self) {
        for (_, h) in self.handles.drain() {
            if let Handle::Write {
                file,
                temp,
                view,
                size,
                ..
            } = h
            {
                drop(file);
                let _ = std::fs::remove_file(&temp);
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
        let md = if follow {
            std::fs::metadata(&r.real)?
        } else {
            std::fs::symlink_metadata(&r.real)?
        };
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
        std::fs::symlink_metadata(&r.real)?;
        Ok(ok(id))
    }

    fn opendir(&mut self, id: u32, path: &str) -> R<Bytes> {
        let r = self.resolve(path, true)?;
        let view = self.ctx.view.clone();
        if !view.perms_of_dir(&r).has(Perm::List) {
            return Err(Fail::denied());
        }
        let md = std::fs::metadata(&r.real)?;
        if !md.is_dir() {
            return Err(Fail::no_such());
        }
        let owner = &self.ctx.account;
        let mut entries = VecDeque::new();
        for name in [".", ".."] {
            let md = std::fs::metadata(&r.real)?;
            entries.push_back(p::File {
                filename: name.to_string(),
                longname: longname(name, &md, owner),
                attrs: attrs_of(&md),
            });
        }
        let shadowed = view.virtual_entries(&r.view);
        for e in std::fs::read_dir(&r.real)? {
            let e = e?;
            let Some(name) = e.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if name.starts_with(TEMP_PREFIX) || shadowed.contains(&name) {
                continue;
            }
            let Ok(md) = std::fs::symlink_metadata(e.path()) else {
                continue;
            };
            entries.push_back(p::File {
                longname: longname(&name, &md, owner),
                attrs: attrs_of(&md),
                filename: name,
            });
        }
        for name in shadowed {
            if let Ok(vr) = view.resolve_view(&r.view.join(&name), true)
                && let Ok(md) = std::fs::metadata(&vr.real)
            {
                entries.push_back(p::File {
                    longname: longname(&name, &md, owner),
                    attrs: attrs_of(&md),
                    filename: name,
                });
            }
        }
        let h = self.new_handle(Handle::Dir { entries })?;
        Ok(encode(Packet::Handle(p::Handle { id, handle: h })))
    }

    fn readdir(&mut self, id: u32, handle: &str) -> R<Bytes> {
        let Some(Handle::Dir { entries }) = self.handles.get_mut(handle) else {
            return Err(Fail::failure_bad_handle());
        };
        if entries.is_empty() {
            return Err(Fail(StatusCode::Eof, "End of file".into()));
        }
        let n = entries.len().min(READDIR_BATCH);
        let files: Vec<p::File> = entries.drain(..n).collect();
        Ok(encode(Packet::Name(p::Name { id, files })))
    }

    fn remove(&mut self, id: u32, path: &str) -> R<Bytes> {
        let r = self.resolve(path, false)?;
        let v = &self.ctx.view;
        if !v.perms_of_parent(&r).has(Perm::Delete) || v.is_fixed(&r) {
            return Err(Fail::denied());
        }
        let md = std::fs::symlink_metadata(&r.real)?;
        if md.is_dir() {
            return Err(Fail::failure("Is a directory"));
        }
        std::fs::remove_file(&r.real)?;
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
        std::fs::DirBuilder::new()
            .mode(0o750)
            .create(&r.real)
            .map_err(Fail::from)?;
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
        std::fs::remove_dir(&r.real)?;
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
        let md = std::fs::symlink_metadata(&a.real)?;
        if !overwrite && std::fs::symlink_metadata(&b.real).is_ok() {
            return Err(Fail::failure("File exists"));
        }
        std::fs::rename(&a.real, &b.real)?;
        tracing::info!(account = %self.ctx.account, ip = %self.ctx.ip, from = %a.view, to = %b.view, "sftp rename");
        self.event(
            "sftp.rename",
            serde_json::json!({"ip": self.ctx.ip.to_string(), "path": b.view.to_string(), "from": a.view.to_string()}),
        );
        if md.is_file() && b.real.starts_with(&self.ctx.incoming) {
            let _ = self.ctx.events.send(Event::Completed { path: b.real });
        }
        Ok(ok(id))
    }

    fn readlink(&self, id: u32, path: &str) -> R<Bytes> {
        let r = self.resolve(path, false)?;
        let v = &self.ctx.view;
        if !v.perms_of_parent(&r).has(Perm::List) {
            return Err(Fail::denied());
        }
        if !std::fs::symlink_metadata(&r.real)?.file_type().is_symlink() {
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
        std::fs::symlink_metadata(&t.real)?;
        std::os::unix::fs::symlink(&t.real, &l.real)?;
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

fn hash_file(path: &std::path::Path) -> io::Result<String> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
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
#[doc(hidden)]
pub fn fuzz_frames(rt: &tokio::runtime::Handle, home: &std::path::Path, frames: &[Bytes]) -> usize {
    let sftp = crate::sftp::config::AccountSftp {
        authorized_keys: vec![],
        keys: vec![],
        password_hash: None,
        allowed_networks: vec![],
        permissions: crate::sftp::config::default_permissions(),
        virtual_folders: vec![],
        allow_symlinks: true,
    };
    let Ok(view) = View::new(home, &sftp) else {
        return 0;
    };
    let (events, _events_rx) = mpsc::unbounded_channel();
    let ctx = SessionCtx {
        account: "fuzz".into(),
        ip: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        view: Arc::new(view),
        incoming: home.join("incoming"),
        max_open_handles: 16,
        max_file_bytes: 1 << 20,
        events,
        shutdown: CancellationToken::new(),
    };
    let (out_tx, mut out_rx) = mpsc::unbounded_channel();
    let mut p = Processor::new(
        ctx,
        out_tx,
        Arc::new(Semaphore::new(READ_BUDGET)),
        rt.clone(),
    );
    let mut replies = 0;
    for f in frames {
        p.handle_frame(f.clone());
        // Replies hold read-budget permits until they are written: drain.
        while out_rx.try_recv().is_ok() {
            replies += 1;
        }
    }
    p.abort_open_uploads();
    replies
}
