//! Requests on names: stat and setstat, listings, remove, mkdir and rmdir,
//! realpath, rename, links and the OpenSSH extensions.

use super::*;

impl Processor {
    pub(super) fn stat(&self, id: u32, path: &str, follow: bool) -> R<Bytes> {
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

    pub(super) fn fstat(&self, id: u32, handle: &str) -> R<Bytes> {
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
    pub(super) fn setstat(&self, id: u32, path: &str) -> R<Bytes> {
        let r = self.resolve(path, true)?;
        let v = &self.ctx.view;
        if !v.perms_of_parent(&r).has(Perm::Upload) {
            return Err(Fail::denied());
        }
        v.lstat(&r)?;
        Ok(ok(id))
    }

    pub(super) fn opendir(&mut self, id: u32, path: &str) -> R<Bytes> {
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
    pub(super) fn readdir(&mut self, id: u32, handle: &str) -> R<Bytes> {
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

    pub(super) fn remove(&mut self, id: u32, path: &str) -> R<Bytes> {
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

    pub(super) fn mkdir(&mut self, id: u32, path: &str) -> R<Bytes> {
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

    pub(super) fn rmdir(&mut self, id: u32, path: &str) -> R<Bytes> {
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

    pub(super) fn realpath(&self, id: u32, path: &str) -> Bytes {
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

    pub(super) fn rename(&mut self, id: u32, from: &str, to: &str, overwrite: bool) -> R<Bytes> {
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

    pub(super) fn readlink(&self, id: u32, path: &str) -> R<Bytes> {
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

    pub(super) fn symlink(&mut self, id: u32, target: &str, link: &str) -> R<Bytes> {
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

    pub(super) fn extended(&mut self, id: u32, request: &str, data: Vec<u8>) -> R<Bytes> {
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
