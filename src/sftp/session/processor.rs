//! The request processor of a session: one blocking thread that handles
//! requests in arrival order and queues replies against the reply budget.
//! Opening, reading, writing and closing files is here; requests on names
//! (stat, listings, remove, rename, links, extensions) in `namespace`.

mod namespace;

use super::*;

// A few handles per session, in a map: the size of the upload variant
// (hash state, folder descriptor) does not matter.
#[allow(clippy::large_enum_variant)]
pub(super) enum Handle {
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

pub(super) struct Processor {
    pub(super) ctx: SessionCtx,
    pub(super) out: mpsc::UnboundedSender<OutMsg>,
    pub(super) budget: Arc<Semaphore>,
    pub(super) rt: tokio::runtime::Handle,
    pub(super) handles: HashMap<String, Handle>,
    /// The budget slot of each open handle (same keys as `handles`).
    pub(super) slots: HashMap<String, HandleSlot>,
    pub(super) next_handle: u64,
}

impl Processor {
    pub(super) fn new(
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
    pub(super) fn send(&self, bytes: Bytes) {
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

    pub(super) fn event(&self, event: &'static str, detail: serde_json::Value) {
        let _ = self.ctx.events.send(Event::Audit { event, detail });
    }

    pub(super) fn run(
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

    pub(super) fn handle_frame(&mut self, mut frame: Bytes) {
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

    pub(super) fn version(&self) -> Bytes {
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
    pub(super) fn handle_slot(&self) -> R<HandleSlot> {
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

    pub(super) fn new_handle(&mut self, h: Handle, slot: HandleSlot) -> R<String> {
        let name = format!("{}", self.next_handle);
        self.next_handle += 1;
        self.handles.insert(name.clone(), h);
        self.slots.insert(name.clone(), slot);
        Ok(name)
    }

    pub(super) fn resolve(&self, path: &str, follow: bool) -> R<Resolved> {
        Ok(self.ctx.view.resolve(path, follow)?)
    }

    pub(super) fn open(&mut self, id: u32, path: &str, flags: OpenFlags) -> R<Bytes> {
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

    pub(super) fn write(&mut self, b: &mut Bytes) -> R<u32> {
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

    pub(super) fn read(&mut self, b: &mut Bytes) -> R<()> {
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

    pub(super) fn close(&mut self, id: u32, handle: &str) -> R<Bytes> {
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
    pub(super) fn abort_open_uploads(&mut self) {
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
}
