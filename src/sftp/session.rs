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

mod budget;
mod fsops;
mod processor;
mod wire;

pub use budget::{AccountUsage, HandleBudget, Reserve, SessionLimits};
pub use wire::io_status;

use budget::*;
use fsops::*;
use processor::*;
use wire::*;

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
    // The writer and the processor are owned by this function, which awaits
    // both before it returns (the session itself is a task of the server's
    // tracker).
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

/// A session context for an account whose home is `home` (default
/// permissions, symlinks allowed), as the fuzz target and tests use it.
#[cfg(any(test, feature = "test-support"))]
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
/// still open at the end are aborted, as when a session ends. Test support
/// (feature `test-support`): not in a release build.
#[cfg(any(test, feature = "test-support"))]
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
