//! Durable file operations: the only way the crate writes results and moves inputs.
//!
//! Principle: stage → fsync → atomic rename → fsync the directory. A reader
//! either sees the old state or the complete new file, never a partial one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub mod beneath;

/// fsync a directory so that a rename or create inside it is durable.
///
/// Calls for the same directory are coalesced (group commit): a call
/// returns once an fsync of `dir` that *began after the call* has
/// succeeded, so callers that arrive while one is running share the next
/// one. Eight workers writing results into one `outgoing/` then cost a
/// couple of directory fsyncs instead of eight, and never a weaker
/// guarantee: each caller's rename happened before its fsync started.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    static SYNCS: std::sync::OnceLock<DirSyncs> = std::sync::OnceLock::new();
    SYNCS
        .get_or_init(DirSyncs::default)
        .sync(dir, |d| File::open(d)?.sync_all())
}

/// The state of [`sync_dir`]: per directory, tickets handed out and the
/// highest ticket a finished fsync covers.
#[derive(Default)]
struct DirSyncs {
    dirs: std::sync::Mutex<std::collections::HashMap<PathBuf, DirSync>>,
    done: std::sync::Condvar,
}

#[derive(Default)]
struct DirSync {
    /// Tickets handed out (one per call).
    issued: u64,
    /// Every ticket up to this one is durable.
    covered: u64,
    /// An fsync is running now.
    running: bool,
    /// Calls waiting on this directory (the entry goes with the last).
    waiting: usize,
}

impl DirSyncs {
    fn sync(&self, dir: &Path, fsync: impl Fn(&Path) -> io::Result<()>) -> io::Result<()> {
        let lock = || self.dirs.lock().unwrap_or_else(|e| e.into_inner());
        let mut dirs = lock();
        let entry = dirs.entry(dir.to_path_buf()).or_default();
        entry.issued += 1;
        entry.waiting += 1;
        let ticket = entry.issued;
        let outcome = loop {
            let entry = dirs.get_mut(dir).expect("held while waiting");
            if entry.covered >= ticket {
                break Ok(());
            }
            if entry.running {
                dirs = self.done.wait(dirs).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            // This call runs the next fsync; it covers every ticket issued
            // before it starts.
            entry.running = true;
            let upto = entry.issued;
            drop(dirs);
            let r = fsync(dir);
            dirs = lock();
            let entry = dirs.get_mut(dir).expect("held while waiting");
            entry.running = false;
            if r.is_ok() {
                entry.covered = entry.covered.max(upto);
            }
            self.done.notify_all();
            if r.is_err() {
                // Only this call fails; the others try again themselves.
                break r;
            }
        };
        let entry = dirs.get_mut(dir).expect("held while waiting");
        entry.waiting -= 1;
        if entry.waiting == 0 && !entry.running {
            dirs.remove(dir);
        }
        outcome
    }
}

/// Write `bytes` to `dest` atomically: a hidden temp file in the same
/// directory, fsync, rename over `dest`, fsync the directory.
pub fn write_atomic(dest: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = dest
        .parent()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "destination has no parent"))?;
    fs::create_dir_all(dir)?;
    let name = dest.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let tmp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let result = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, dest)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Is `name` a temp file left by [`write_atomic`] or [`move_durable`]
/// (`.<name>.<32 hex>.tmp`)? Such files are debris of a crash.
pub fn is_own_temp(name: &str) -> bool {
    let Some(inner) = name.strip_prefix('.').and_then(|n| n.strip_suffix(".tmp")) else {
        return false;
    };
    inner
        .rsplit_once('.')
        .is_some_and(|(_, id)| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Call `f` with every regular file under `dir` (depth first; links are
/// neither followed nor reported; unreadable folders are skipped).
pub fn for_each_file(dir: &Path, mut f: impl FnMut(&fs::DirEntry)) {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                f(&e);
            }
        }
    }
}

/// Delete crash debris ([`is_own_temp`] files) under `dir`; returns how many.
pub fn remove_own_temps(dir: &Path) -> usize {
    let mut removed = 0;
    for_each_file(dir, |e| {
        if e.file_name().to_str().is_some_and(is_own_temp) && fs::remove_file(e.path()).is_ok() {
            removed += 1;
        }
    });
    removed
}

/// Why [`move_durable_with`] failed, and where the file is.
#[derive(Debug)]
pub enum MoveError {
    /// Nothing moved: the file is still (only) at the source.
    NotMoved(io::Error),
    /// The file is at the destination, and only there, but fsyncing a
    /// directory failed, so the move may not survive a power loss. The
    /// destination is now the only copy: it must never be deleted.
    NotDurable(io::Error),
}

impl From<MoveError> for io::Error {
    fn from(e: MoveError) -> io::Error {
        match e {
            MoveError::NotMoved(e) | MoveError::NotDurable(e) => e,
        }
    }
}

/// Move a file durably. Uses rename; across filesystems (EXDEV) copies to a
/// temp name beside the destination, fsyncs, renames, then removes the source.
pub fn move_durable(src: &Path, dest: &Path) -> io::Result<()> {
    Ok(move_durable_with(src, dest, &sync_dir)?)
}

/// [`move_durable`] with the directory fsync passed in (tests inject
/// failures through it), telling a failure before the move from one after it.
pub fn move_durable_with(
    src: &Path,
    dest: &Path,
    sync_dir: &dyn Fn(&Path) -> io::Result<()>,
) -> Result<(), MoveError> {
    let dir = dest.parent().ok_or_else(|| {
        MoveError::NotMoved(io::Error::new(
            io::ErrorKind::InvalidInput,
            "destination has no parent",
        ))
    })?;
    fs::create_dir_all(dir).map_err(MoveError::NotMoved)?;
    match fs::rename(src, dest) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
            let name = dest.file_name().and_then(|n| n.to_str()).unwrap_or("moved");
            let tmp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
            let copied = fs::copy(src, &tmp)
                .and_then(|_| File::open(&tmp)?.sync_all())
                .and_then(|()| fs::rename(&tmp, dest));
            if let Err(e) = copied {
                // e.g. ENOSPC: leave no partial copy behind; `src` is untouched.
                let _ = fs::remove_file(&tmp);
                return Err(MoveError::NotMoved(e));
            }
            // Until the source is removed it is the copy that counts: undo
            // the destination rather than leave two.
            if let Err(e) = sync_dir(dir).and_then(|()| fs::remove_file(src)) {
                let _ = fs::remove_file(dest);
                return Err(MoveError::NotMoved(e));
            }
            if let Some(sdir) = src.parent() {
                sync_dir(sdir).map_err(MoveError::NotDurable)?;
            }
            return Ok(());
        }
        Err(e) => return Err(MoveError::NotMoved(e)),
    }
    sync_dir(dir).map_err(MoveError::NotDurable)?;
    if let Some(sdir) = src.parent()
        && sdir != dir
    {
        sync_dir(sdir).map_err(MoveError::NotDurable)?;
    }
    Ok(())
}

/// Move `root/rel` to `dest` like [`move_durable_with`], never through a
/// symbolic link: the folders of `rel` are opened below `root` with
/// [`beneath::open_beneath`] (the SFTP view's confinement too) and the file
/// is renamed relative to that descriptor (`renameat`), so a folder swapped
/// for a link after a check cannot redirect the move. The file must be a regular file (checked on the entry itself).
/// `root` is the administrator's and is trusted.
pub fn move_beneath(
    root: &Path,
    rel: &str,
    dest: &Path,
    sync_dir: &dyn Fn(&Path) -> io::Result<()>,
) -> Result<(), MoveError> {
    use std::os::fd::{AsRawFd, FromRawFd};
    use std::os::unix::ffi::OsStrExt;

    let cstr = |b: &[u8]| beneath::cstr(std::ffi::OsStr::from_bytes(b));
    let not_moved = MoveError::NotMoved;
    let parts: Vec<&str> = rel.split('/').collect();
    let (name, folders) = parts
        .split_last()
        .ok_or_else(|| not_moved(io::Error::new(io::ErrorKind::InvalidInput, "empty path")))?;
    // The folders of `rel`, opened beneath `root` (no link, no `..`).
    let root_fd = beneath::open_dir_path(root).map_err(not_moved)?;
    let dir = beneath::open_beneath(
        root_fd.as_raw_fd(),
        Path::new(&folders.join("/")),
        libc::O_PATH | libc::O_DIRECTORY,
        0,
    )
    .map_err(not_moved)?;
    let name = cstr(name.as_bytes()).map_err(not_moved)?;
    // SAFETY: plain fstatat into a zeroed stat buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    } != 0
    {
        return Err(not_moved(io::Error::last_os_error()));
    }
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(not_moved(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file (links are never followed)",
        )));
    }
    let dest_dir = dest.parent().ok_or_else(|| {
        not_moved(io::Error::new(
            io::ErrorKind::InvalidInput,
            "destination has no parent",
        ))
    })?;
    fs::create_dir_all(dest_dir).map_err(not_moved)?;
    let dest_c = cstr(dest.as_os_str().as_bytes()).map_err(not_moved)?;
    let src_dir = root.join(folders.join("/"));
    // SAFETY: both names are valid C strings; `dir` is an open directory.
    let renamed = unsafe {
        libc::renameat(
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::AT_FDCWD,
            dest_c.as_ptr(),
        )
    };
    if renamed != 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EXDEV) {
            return Err(not_moved(e));
        }
        // Across filesystems: copy from the entry opened without following,
        // fsync, rename into place, then unlink the source.
        // SAFETY: as above; the fd is owned by the File.
        let fd = unsafe {
            libc::openat(
                dir.as_raw_fd(),
                name.as_ptr(),
                libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(not_moved(io::Error::last_os_error()));
        }
        let mut from = unsafe { File::from_raw_fd(fd) };
        let base = dest.file_name().and_then(|n| n.to_str()).unwrap_or("moved");
        let tmp = dest_dir.join(format!(".{base}.{}.tmp", uuid::Uuid::new_v4().simple()));
        let copied = (|| {
            let mut to = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
            io::copy(&mut from, &mut to)?;
            to.sync_all()?;
            fs::rename(&tmp, dest)?;
            sync_dir(dest_dir)
        })();
        if let Err(e) = copied {
            let _ = fs::remove_file(&tmp);
            let _ = fs::remove_file(dest);
            return Err(not_moved(e));
        }
        // SAFETY: valid fd and C string.
        if unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) } != 0 {
            let e = io::Error::last_os_error();
            let _ = fs::remove_file(dest);
            return Err(not_moved(e));
        }
        return sync_dir(&src_dir).map_err(MoveError::NotDurable);
    }
    sync_dir(dest_dir).map_err(MoveError::NotDurable)?;
    if src_dir != dest_dir {
        sync_dir(&src_dir).map_err(MoveError::NotDurable)?;
    }
    Ok(())
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Size and SHA-256 (hex) of a file, read in fixed-size chunks so that memory
/// does not grow with the file.
pub fn sha256_file(path: &Path) -> io::Result<(u64, String)> {
    use std::io::Read;
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hex::encode(h.finalize())))
}

/// Names that are never taken as input: partial uploads and hidden files.
pub fn is_ignored_name(name: &str) -> bool {
    const TEMP_SUFFIXES: &[&str] = &[
        ".part",
        ".filepart",
        ".tmp",
        ".temp",
        ".partial",
        ".crdownload",
        ".swp",
        "~",
    ];
    name.is_empty() || name.starts_with('.') || {
        let lower = name.to_ascii_lowercase();
        TEMP_SUFFIXES.iter().any(|s| lower.ends_with(s))
    }
}

/// Path of `path` relative to `root` with '/' separators, or None if it is not inside.
pub fn relative(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let parts: Vec<&str> = rel
        .components()
        .map(|c| c.as_os_str().to_str())
        .collect::<Option<_>>()?;
    if parts.is_empty() || parts.iter().any(|p| *p == ".." || p.is_empty()) {
        return None;
    }
    Some(parts.join("/"))
}

/// Every regular file under `dir` (recursively), skipping ignored names and
/// hidden directories. Symlinks are not followed.
pub fn walk_files(dir: &Path) -> Vec<PathBuf> {
    walk_incoming(dir).files
}

/// What one walk of an `incoming/` tree finds.
#[derive(Debug, Default)]
pub struct IncomingWalk {
    /// Regular files that may be taken ([`walk_files`]).
    pub files: Vec<PathBuf>,
    /// Symbolic links (to files or directories), never followed.
    pub links: Vec<PathBuf>,
    /// The SFTP server's own upload temp files ([`is_upload_temp`]).
    pub upload_temps: Vec<PathBuf>,
}

/// [`walk_files`], plus the symbolic links and the upload temp files met on
/// the way, for intake (which reports the links and clears stale temps).
pub fn walk_incoming(dir: &Path) -> IncomingWalk {
    let mut walk = IncomingWalk::default();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            // The entry's own type (d_type / lstat): a link is never followed.
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_symlink() {
                if !is_ignored_name(name) {
                    walk.links.push(e.path());
                }
            } else if ft.is_dir() && !name.starts_with('.') {
                stack.push(e.path());
            } else if ft.is_file() && is_upload_temp(name) {
                walk.upload_temps.push(e.path());
            } else if ft.is_file() && !is_ignored_name(name) {
                walk.files.push(e.path());
            }
        }
    }
    walk.files.sort();
    walk.links.sort();
    walk.upload_temps.sort();
    walk
}

/// Is `name` an upload the SFTP server is writing or was writing when it
/// crashed (`.pasarela-upload-` + 16 to 64 hex digits)? Nothing else, so a
/// cleanup can never remove a real file.
pub fn is_upload_temp(name: &str) -> bool {
    name.strip_prefix(crate::sftp::vfs::TEMP_PREFIX)
        .is_some_and(|id| {
            (16..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_hexdigit())
        })
}

/// Remove the upload temp files among `temps` not modified for `min_age`
/// (`None`: all of them); returns how many were removed.
pub fn remove_upload_temps(temps: &[PathBuf], min_age: Option<std::time::Duration>) -> usize {
    let mut removed = 0;
    for p in temps {
        // Checked again on the path itself: a regular file, not a link.
        let Ok(m) = fs::symlink_metadata(p) else {
            continue;
        };
        let name_ok = p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(is_upload_temp);
        if !m.file_type().is_file() || !name_ok {
            continue;
        }
        let stale = match min_age {
            None => true,
            Some(age) => m
                .modified()
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|a| a >= age),
        };
        if stale && fs::remove_file(p).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// The first component of `rel` under `root` that is a symbolic link
/// (`root` itself, chosen by the administrator, is trusted), as a relative
/// path; `None` when there is none (or a component does not exist).
pub fn symlink_below(root: &Path, rel: &str) -> Option<String> {
    let mut path = root.to_path_buf();
    let mut seen = Vec::new();
    for part in rel.split('/') {
        path.push(part);
        seen.push(part);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => return Some(seen.join("/")),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Concurrent directory fsyncs are shared, and every caller returns only
    /// after an fsync that began after it called; a failed fsync fails only
    /// the call that ran it.
    #[test]
    fn directory_fsyncs_are_coalesced_without_weakening_them() {
        use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
        use std::sync::{Arc, Mutex};
        let syncs = Arc::new(DirSyncs::default());
        let clock = Arc::new(AtomicU64::new(0));
        let finished = Arc::new(Mutex::new(Vec::<u64>::new()));
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let (syncs, clock, finished) = (syncs.clone(), clock.clone(), finished.clone());
                std::thread::spawn(move || {
                    let called = clock.fetch_add(1, SeqCst);
                    syncs
                        .sync(Path::new("/d"), |_| {
                            let began = clock.fetch_add(1, SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(20));
                            finished.lock().unwrap().push(began);
                            Ok(())
                        })
                        .unwrap();
                    let done = finished.lock().unwrap().clone();
                    assert!(
                        done.iter().any(|&b| b > called),
                        "returned before an fsync that began after the call"
                    );
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let n = finished.lock().unwrap().len();
        assert!((1..16).contains(&n), "16 calls, {n} fsyncs");
        assert!(
            syncs.dirs.lock().unwrap().is_empty(),
            "no entry left behind"
        );
        let err = syncs.sync(Path::new("/d"), |_| Err(io::Error::other("disk gone")));
        assert!(err.is_err());
        syncs.sync(Path::new("/d"), |_| Ok(())).unwrap();
    }

    #[test]
    fn ignored_names() {
        for n in [
            ".hidden",
            "a.part",
            "a.filepart",
            "b.TMP",
            "x~",
            "up.crdownload",
            "",
        ] {
            assert!(is_ignored_name(n), "{n}");
        }
        for n in ["factura.xml", "part.xml", "tmp.pdf"] {
            assert!(!is_ignored_name(n), "{n}");
        }
    }

    #[test]
    fn own_temps_are_recognised() {
        assert!(is_own_temp(
            ".a.xml.result.json.0123456789abcdef0123456789abcdef.tmp"
        ));
        assert!(!is_own_temp(".a.xml.tmp"));
        assert!(!is_own_temp("a.0123456789abcdef0123456789abcdef.tmp"));
    }

    #[test]
    fn only_upload_temps_are_cleared_and_only_when_stale() {
        assert!(is_upload_temp(".pasarela-upload-0123456789abcdef"));
        for n in [
            ".pasarela-upload-0123",
            ".pasarela-upload-notes.txt",
            "pasarela-upload-0123456789abcdef",
            ".pasarela-upload-0123456789abcdeg",
            "factura.xml",
        ] {
            assert!(!is_upload_temp(n), "{n}");
        }
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("sub")).unwrap();
        let old = d.path().join("sub/.pasarela-upload-00000000000000aa");
        let fresh = d.path().join(".pasarela-upload-00000000000000bb");
        let other = d.path().join(".pasarela-upload-notes");
        for p in [&old, &fresh, &other] {
            fs::write(p, b"partial").unwrap();
        }
        let two_days = std::time::Duration::from_secs(2 * 86_400);
        File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(std::time::SystemTime::now() - two_days)
            .unwrap();
        let walk = walk_incoming(d.path());
        assert!(walk.files.is_empty(), "{:?}", walk.files);
        assert_eq!(walk.upload_temps, [fresh.clone(), old.clone()]);
        let day = std::time::Duration::from_secs(86_400);
        assert_eq!(remove_upload_temps(&walk.upload_temps, Some(day)), 1);
        assert!(!old.exists() && fresh.exists() && other.exists());
        assert_eq!(remove_upload_temps(&walk.upload_temps, None), 1);
        assert!(!fresh.exists() && other.exists());
    }

    #[test]
    fn relative_paths_are_component_wise() {
        assert_eq!(
            relative(Path::new("/h/demo"), Path::new("/h/demo/a/b.xml")).as_deref(),
            Some("a/b.xml")
        );
        assert_eq!(
            relative(Path::new("/h/demo"), Path::new("/h/demo2/b.xml")),
            None
        );
    }

    #[test]
    fn links_on_the_way_are_found_and_never_followed() {
        let d = tempfile::tempdir().unwrap();
        let (root, outside) = (d.path().join("in"), d.path().join("out"));
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("x.xml"), b"x").unwrap();
        fs::write(root.join("sub/ok.xml"), b"ok").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("sub/link")).unwrap();
        std::os::unix::fs::symlink(outside.join("x.xml"), root.join("f.xml")).unwrap();
        assert_eq!(
            symlink_below(&root, "sub/link/x.xml").as_deref(),
            Some("sub/link")
        );
        assert_eq!(symlink_below(&root, "f.xml").as_deref(), Some("f.xml"));
        assert_eq!(symlink_below(&root, "sub/ok.xml"), None);
        let walk = walk_incoming(&root);
        assert_eq!(walk.files, [root.join("sub/ok.xml")]);
        assert_eq!(walk.links, [root.join("f.xml"), root.join("sub/link")]);
    }

    // Issue 16: a move out of incoming/ never goes through a link, on the
    // same filesystem (renameat) or across (copy from the entry opened with
    // O_NOFOLLOW; /dev/shm is a tmpfs here).
    #[test]
    fn moves_beneath_a_root_never_follow_links() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("in");
        let outside = d.path().join("out");
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("x.xml"), b"secret").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
        std::os::unix::fs::symlink(outside.join("x.xml"), root.join("f.xml")).unwrap();
        let dest = d.path().join("spool/u/x.xml");
        for rel in ["link/x.xml", "f.xml"] {
            match move_beneath(&root, rel, &dest, &sync_dir) {
                Err(MoveError::NotMoved(_)) => {}
                other => panic!("{rel}: {other:?}"),
            }
            assert!(!dest.exists(), "{rel}");
        }
        assert_eq!(fs::read(outside.join("x.xml")).unwrap(), b"secret");

        fs::write(root.join("sub/a.xml"), b"mine").unwrap();
        move_beneath(&root, "sub/a.xml", &dest, &sync_dir).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"mine");
        assert!(!root.join("sub/a.xml").exists());

        let Ok(shm) = tempfile::tempdir_in("/dev/shm") else {
            return;
        };
        fs::create_dir_all(shm.path().join("sub")).unwrap();
        fs::write(shm.path().join("sub/b.xml"), b"other fs").unwrap();
        std::os::unix::fs::symlink(&outside, shm.path().join("link")).unwrap();
        let dest2 = d.path().join("spool/v/b.xml");
        assert!(matches!(
            move_beneath(shm.path(), "link/x.xml", &dest2, &sync_dir),
            Err(MoveError::NotMoved(_))
        ));
        move_beneath(shm.path(), "sub/b.xml", &dest2, &sync_dir).unwrap();
        assert_eq!(fs::read(&dest2).unwrap(), b"other fs");
        assert!(!shm.path().join("sub/b.xml").exists());
        assert_eq!(fs::read_dir(d.path().join("spool/v")).unwrap().count(), 1);
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }
}
