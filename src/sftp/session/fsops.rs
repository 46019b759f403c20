//! Filesystem calls of the request processor that take a confined folder
//! (never a path): listing with readdir(3), unlink, rename, fsync of a
//! folder, statvfs, and the SHA-256 of an upload.

use super::*;

/// A directory being listed, read incrementally with readdir(3).
pub(super) struct DirStream(std::ptr::NonNull<libc::DIR>);

// SAFETY: the DIR stream is owned by one handle and used by one thread at a
// time (the session's processor); readdir is safe across threads when the
// stream is not shared.
unsafe impl Send for DirStream {}

impl DirStream {
    pub(super) fn new(fd: std::os::fd::OwnedFd) -> io::Result<DirStream> {
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

    pub(super) fn fd(&self) -> std::os::fd::RawFd {
        // SAFETY: the stream is open until drop.
        unsafe { libc::dirfd(self.0.as_ptr()) }
    }

    /// The next name, `None` at the end.
    pub(super) fn next_name(&mut self) -> Option<io::Result<OsString>> {
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

pub(super) fn hash_file(f: &File) -> io::Result<String> {
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

pub(super) fn cname(n: &std::ffi::OsStr) -> io::Result<std::ffi::CString> {
    std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(n))
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

pub(super) fn unlinkat(dir: &ParentDir, name: &std::ffi::OsStr, flags: i32) -> io::Result<()> {
    let c = cname(name)?;
    // SAFETY: a valid descriptor and NUL-terminated name.
    at_call(unsafe { libc::unlinkat(dir.raw(), c.as_ptr(), flags) })
}

/// Rename between two confined folders; without `overwrite` the kernel
/// refuses an existing target (RENAME_NOREPLACE), no check-then-rename.
pub(super) fn renameat(
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

pub(super) fn dir_fsync(dir: &ParentDir) -> io::Result<()> {
    // SAFETY: a valid descriptor opened O_RDONLY | O_DIRECTORY.
    at_call(unsafe { libc::fsync(dir.raw()) })
}

/// statvfs@openssh.com fields in wire order.
pub(super) fn statvfs(path: &std::path::Path) -> io::Result<[u64; 11]> {
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
