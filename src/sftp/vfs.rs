//! An account's view of the filesystem: paths as the client sees them, the
//! folder permissions, and the mapping to real directories.
//!
//! **Confinement is decided on the resolved path**: a client path is first
//! normalised as text (`..` cannot climb above `/`), mapped to a real
//! directory, then the real parent is canonicalised (every symlink on disk
//! resolved) and mapped *back* to the view. A path whose canonical form lies
//! outside every mount is refused, whatever its text said, and permissions are
//! looked up on the view path of the *resolved* location, so a symlink from
//! `/incoming` into `/outgoing` gets `/outgoing`'s permissions. Comparisons are
//! component-wise (`/home/demo` does not contain `/home/demo2`).

use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::fsutil::beneath::{cstr, open_beneath, open_dir_path, openat_raw};
use crate::sftp::config::AccountSftp;

/// One permission on a folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Perm {
    List = 1,
    Upload = 2,
    Download = 4,
    Delete = 8,
    Rename = 16,
    Mkdir = 32,
}

impl Perm {
    pub const NAMES: &'static [&'static str] =
        &["list", "upload", "download", "delete", "rename", "mkdir"];

    pub fn parse(s: &str) -> Option<Perm> {
        Some(match s {
            "list" => Perm::List,
            "upload" => Perm::Upload,
            "download" => Perm::Download,
            "delete" => Perm::Delete,
            "rename" => Perm::Rename,
            "mkdir" => Perm::Mkdir,
            _ => return None,
        })
    }
}

/// A set of permissions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Perms(u8);

impl Perms {
    pub fn of(list: &[Perm]) -> Perms {
        let mut p = Perms::default();
        for x in list {
            p.insert(*x);
        }
        p
    }
    pub fn insert(&mut self, p: Perm) {
        self.0 |= p as u8;
    }
    pub fn has(self, p: Perm) -> bool {
        self.0 & (p as u8) != 0
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// Prefix of the hidden files the server writes uploads to. Never shown,
/// never reachable by clients.
pub const TEMP_PREFIX: &str = ".pasarela-upload-";

/// A normalised path in an account's view: components only, no `.`/`..`.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct ViewPath(Vec<String>);

impl ViewPath {
    pub fn root() -> ViewPath {
        ViewPath(Vec::new())
    }

    /// Normalise a path sent by a client. Relative paths are relative to `/`
    /// (the only working directory); `..` at the root stays at the root, as in
    /// a chroot. `None` for names that can never exist (NUL bytes).
    pub fn parse(s: &str) -> Option<ViewPath> {
        if s.contains('\0') {
            return None;
        }
        let mut out: Vec<String> = Vec::new();
        for c in s.split('/') {
            match c {
                "" | "." => {}
                ".." => {
                    out.pop();
                }
                c => out.push(c.to_string()),
            }
        }
        Some(ViewPath(out))
    }

    /// Parse a path written in configuration: absolute, and no `.`/`..`.
    pub fn parse_config(s: &str) -> Option<ViewPath> {
        let rest = s.strip_prefix('/')?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() {
            return Some(ViewPath::root());
        }
        let parts: Vec<String> = rest.split('/').map(str::to_string).collect();
        if parts
            .iter()
            .any(|c| c.is_empty() || c == "." || c == ".." || c.contains('\0'))
        {
            return None;
        }
        Some(ViewPath(parts))
    }

    pub fn components(&self) -> &[String] {
        &self.0
    }
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
    pub fn starts_with(&self, other: &ViewPath) -> bool {
        self.0.len() >= other.0.len() && self.0[..other.0.len()] == other.0[..]
    }
    pub fn parent(&self) -> ViewPath {
        let mut v = self.0.clone();
        v.pop();
        ViewPath(v)
    }
    pub fn name(&self) -> Option<&str> {
        self.0.last().map(String::as_str)
    }
    pub fn join(&self, name: &str) -> ViewPath {
        let mut v = self.0.clone();
        v.push(name.to_string());
        ViewPath(v)
    }
    /// Is any component one of our hidden upload files?
    pub fn touches_temp(&self) -> bool {
        self.0.iter().any(|c| c.starts_with(TEMP_PREFIX))
    }
}

impl std::fmt::Display for ViewPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            return f.write_str("/");
        }
        for c in &self.0 {
            write!(f, "/{c}")?;
        }
        Ok(())
    }
}

/// Why a path cannot be used.
#[derive(Debug)]
pub enum VfsError {
    /// Outside the view, or not permitted: SSH_FX_PERMISSION_DENIED.
    Denied,
    /// SSH_FX_NO_SUCH_FILE.
    NotFound,
    /// Another IO error, mapped like OpenSSH does.
    Io(io::Error),
}

impl From<io::Error> for VfsError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::NotFound {
            VfsError::NotFound
        } else {
            VfsError::Io(e)
        }
    }
}

#[derive(Debug, Clone)]
struct Mount {
    view: ViewPath,
    /// Canonical real directory.
    dir: PathBuf,
    /// `Some` for virtual folders (their own permissions), `None` for the home.
    perms: Option<Perms>,
    /// The directory, opened once: every open of a client is made relative
    /// to it and may not leave it (`openat2` with `RESOLVE_BENEATH`).
    fd: Arc<OwnedFd>,
}

/// A path resolved inside the view.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The real path: canonical parent joined with the final name (or the
    /// fully canonical path when the final symlink was followed).
    pub real: PathBuf,
    /// Where the real path lies in the view.
    pub view: ViewPath,
    mount: usize,
}

/// One account's view.
#[derive(Debug, Clone)]
pub struct View {
    mounts: Vec<Mount>,
    perms: Vec<(ViewPath, Perms)>,
    pub allow_symlinks: bool,
}

impl View {
    /// Build the view of an account. Canonicalises the home and the virtual
    /// folders (they must exist).
    pub fn new(home: &Path, sftp: &AccountSftp) -> io::Result<View> {
        let home = std::fs::canonicalize(home)?;
        let mut mounts = vec![Mount {
            view: ViewPath::root(),
            fd: Arc::new(open_dir_path(&home)?),
            dir: home,
            perms: None,
        }];
        for vf in &sftp.virtual_folders {
            let dir = std::fs::canonicalize(&vf.directory)?;
            mounts.push(Mount {
                view: vf.path.clone(),
                fd: Arc::new(open_dir_path(&dir)?),
                dir,
                perms: Some(vf.perms),
            });
        }
        let mut perms = sftp.permissions.clone();
        // Most specific first.
        perms.sort_by_key(|p| std::cmp::Reverse(p.0.components().len()));
        Ok(View {
            mounts,
            perms,
            allow_symlinks: sftp.allow_symlinks,
        })
    }

    /// Virtual folders shown as entries of a directory of the view.
    pub fn virtual_entries(&self, dir: &ViewPath) -> Vec<String> {
        self.mounts[1..]
            .iter()
            .filter(|m| m.view.parent() == *dir)
            .filter_map(|m| m.view.name().map(str::to_string))
            .collect()
    }

    /// Permissions of a folder of the view.
    pub fn perms(&self, folder: &ViewPath) -> Perms {
        self.perms_in(self.mount_of_view(folder), folder)
    }

    fn perms_in(&self, mount: usize, folder: &ViewPath) -> Perms {
        if let Some(p) = self.mounts[mount].perms {
            return p;
        }
        self.perms
            .iter()
            .find(|(p, _)| folder.starts_with(p))
            .map(|(_, p)| *p)
            .unwrap_or_else(|| {
                if folder.is_root() {
                    Perms::of(&[Perm::List])
                } else {
                    Perms::default()
                }
            })
    }

    /// Permissions of the folder holding a resolved entry.
    pub fn perms_of_parent(&self, r: &Resolved) -> Perms {
        if r.view == self.mounts[r.mount].view {
            // A mount point itself lives in its parent's folder of the home.
            let parent = r.view.parent();
            return self.perms_in(self.mount_of_view(&parent), &parent);
        }
        self.perms_in(r.mount, &r.view.parent())
    }

    /// Permissions of a resolved folder.
    pub fn perms_of_dir(&self, r: &Resolved) -> Perms {
        self.perms_in(r.mount, &r.view)
    }

    /// Is this resolved entry a mount point or a standard folder (which
    /// clients may not remove or rename)?
    pub fn is_fixed(&self, r: &Resolved) -> bool {
        r.view.components().len() <= 1 || self.mounts.iter().any(|m| m.view == r.view)
    }

    fn mount_of_view(&self, v: &ViewPath) -> usize {
        let mut best = 0;
        for (i, m) in self.mounts.iter().enumerate().skip(1) {
            if v.starts_with(&m.view) {
                best = i;
            }
        }
        best
    }

    /// Map a canonical real path back into the view.
    fn to_view(&self, real: &Path) -> Option<(usize, ViewPath)> {
        let mut best: Option<(usize, usize)> = None;
        for (i, m) in self.mounts.iter().enumerate() {
            if real.starts_with(&m.dir) {
                let depth = m.dir.components().count();
                if best.is_none_or(|(_, d)| depth > d) {
                    best = Some((i, depth));
                }
            }
        }
        let (i, _) = best?;
        let m = &self.mounts[i];
        let rest = real.strip_prefix(&m.dir).ok()?;
        let mut v = m.view.clone();
        for c in rest.components() {
            match c {
                std::path::Component::Normal(s) => v = v.join(s.to_str()?),
                _ => return None,
            }
        }
        // A real directory of the home shadowed by a virtual folder of the
        // same name is not reachable.
        if i == 0 && self.mount_of_view(&v) != 0 {
            return None;
        }
        Some((i, v))
    }

    /// Resolve a client path. With `follow`, a final symlink is followed (and
    /// must stay inside the view); without it the final component is taken
    /// as is (for REMOVE, LSTAT, RENAME, READLINK).
    pub fn resolve(&self, path: &str, follow: bool) -> Result<Resolved, VfsError> {
        let v = ViewPath::parse(path).ok_or(VfsError::NotFound)?;
        self.resolve_view(&v, follow)
    }

    pub fn resolve_view(&self, v: &ViewPath, follow: bool) -> Result<Resolved, VfsError> {
        if v.touches_temp() {
            return Err(VfsError::NotFound);
        }
        let mi = self.mount_of_view(v);
        let m = &self.mounts[mi];
        let rest = &v.components()[m.view.components().len()..];
        let Some((last, dirs)) = rest.split_last() else {
            return Ok(Resolved {
                real: m.dir.clone(),
                view: m.view.clone(),
                mount: mi,
            });
        };
        let mut parent = m.dir.clone();
        for d in dirs {
            parent.push(d);
        }
        let parent = std::fs::canonicalize(&parent)?;
        if !std::fs::metadata(&parent)?.is_dir() {
            return Err(VfsError::NotFound);
        }
        let real = parent.join(last);
        let (mount, view) = self.to_view(&real).ok_or(VfsError::Denied)?;
        if follow {
            match std::fs::symlink_metadata(&real) {
                Ok(md) if md.file_type().is_symlink() => {
                    let target = std::fs::canonicalize(&real)?;
                    let (mount, view) = self.to_view(&target).ok_or(VfsError::Denied)?;
                    if view.touches_temp() {
                        return Err(VfsError::NotFound);
                    }
                    return Ok(Resolved {
                        real: target,
                        view,
                        mount,
                    });
                }
                _ => {}
            }
        }
        Ok(Resolved { real, view, mount })
    }
}

/// The folder holding a resolved entry, opened beneath its mount, and the
/// entry's name in it: for creating, removing and renaming with `*at` calls.
#[derive(Debug)]
pub struct ParentDir {
    pub fd: OwnedFd,
    pub name: OsString,
}

impl ParentDir {
    pub fn name_c(&self) -> io::Result<CString> {
        cstr(&self.name)
    }
    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
    /// Metadata of the entry itself (not following a final symlink).
    pub fn lstat(&self) -> io::Result<std::fs::Metadata> {
        let f = File::from(openat_raw(
            self.raw(),
            &self.name,
            libc::O_PATH | libc::O_NOFOLLOW,
            0,
        )?);
        f.metadata()
    }
    /// An entry of an open directory, for its metadata (a final symlink
    /// itself, not its target).
    pub fn open_at(dir: RawFd, name: &str) -> io::Result<File> {
        openat_raw(dir, OsStr::new(name), libc::O_PATH | libc::O_NOFOLLOW, 0).map(File::from)
    }

    /// Open an entry of this folder (never through a symlink).
    pub fn open(&self, name: &OsStr, flags: i32, mode: u32) -> io::Result<File> {
        openat_raw(self.raw(), name, flags | libc::O_NOFOLLOW, mode).map(File::from)
    }
}

impl View {
    fn beneath(&self, r: &Resolved) -> io::Result<(&Mount, PathBuf)> {
        let m = &self.mounts[r.mount];
        let rel = r
            .real
            .strip_prefix(&m.dir)
            .map_err(|_| io::Error::from_raw_os_error(libc::EACCES))?;
        Ok((m, rel.to_path_buf()))
    }

    /// Open a resolved path, confined to its mount in one step (no symlink
    /// may appear on the way, even one created after `resolve`).
    pub fn open(&self, r: &Resolved, flags: i32, mode: u32) -> io::Result<File> {
        let (m, rel) = self.beneath(r)?;
        open_beneath(m.fd.as_raw_fd(), &rel, flags, mode).map(File::from)
    }

    /// lstat of a resolved path, confined like `open`.
    pub fn lstat(&self, r: &Resolved) -> io::Result<std::fs::Metadata> {
        self.open(r, libc::O_PATH | libc::O_NOFOLLOW, 0)?.metadata()
    }

    /// The folder holding a resolved entry (opened confined) and its name.
    /// A mount point has no parent inside its mount: denied.
    pub fn parent(&self, r: &Resolved) -> io::Result<ParentDir> {
        let (m, rel) = self.beneath(r)?;
        let (Some(name), Some(parent)) = (rel.file_name(), rel.parent()) else {
            return Err(io::Error::from_raw_os_error(libc::EACCES));
        };
        let fd = open_beneath(
            m.fd.as_raw_fd(),
            parent,
            libc::O_RDONLY | libc::O_DIRECTORY,
            0,
        )?;
        Ok(ParentDir {
            fd,
            name: name.to_os_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsutil::beneath::walk_beneath;
    use crate::sftp::config::{VirtualFolder, default_permissions};

    fn account(vf: Option<PathBuf>) -> AccountSftp {
        AccountSftp {
            authorized_keys: vec![],
            keys: vec![],
            password_hash: None,
            allowed_networks: vec![],
            permissions: default_permissions(),
            virtual_folders: vf
                .map(|d| {
                    vec![VirtualFolder {
                        path: ViewPath::parse_config("/reports").unwrap(),
                        directory: d,
                        perms: Perms::of(&[Perm::List, Perm::Download]),
                    }]
                })
                .unwrap_or_default(),
            allow_symlinks: false,
            quota_bytes: None,
        }
    }

    fn setup() -> (tempfile::TempDir, View) {
        let t = tempfile::tempdir().unwrap();
        let home = t.path().join("demo");
        for d in ["incoming", "outgoing", "archive"] {
            std::fs::create_dir_all(home.join(d)).unwrap();
        }
        std::fs::create_dir_all(t.path().join("demo2/incoming")).unwrap();
        std::fs::write(t.path().join("demo2/incoming/secret"), "x").unwrap();
        std::fs::create_dir_all(t.path().join("reports")).unwrap();
        std::fs::write(home.join("outgoing/r.json"), "{}").unwrap();
        let view = View::new(&home, &account(Some(t.path().join("reports")))).unwrap();
        (t, view)
    }

    #[test]
    fn dotdot_is_clamped_at_root() {
        assert_eq!(
            ViewPath::parse("/../../etc/passwd").unwrap().to_string(),
            "/etc/passwd"
        );
        assert_eq!(ViewPath::parse("incoming/../..").unwrap().to_string(), "/");
        assert_eq!(ViewPath::parse("a//b/./c/").unwrap().to_string(), "/a/b/c");
    }

    #[test]
    fn prefix_trick_and_absolute_paths_stay_inside() {
        let (t, view) = setup();
        // "/../demo2/incoming/secret" normalises to /demo2/... inside the home: absent.
        assert!(matches!(
            view.resolve("/../demo2/incoming/secret", true),
            Err(VfsError::NotFound)
        ));
        let abs = t.path().join("demo2/incoming/secret");
        assert!(view.resolve(abs.to_str().unwrap(), true).is_err());
    }

    #[test]
    fn symlinks_escaping_are_denied() {
        let (t, view) = setup();
        let home = t.path().join("demo");
        std::os::unix::fs::symlink(t.path().join("demo2"), home.join("incoming/up")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", home.join("outgoing/pw")).unwrap();
        assert!(matches!(
            view.resolve("/incoming/up/incoming/secret", true),
            Err(VfsError::Denied)
        ));
        assert!(matches!(
            view.resolve("/outgoing/pw", true),
            Err(VfsError::Denied)
        ));
        // Not following: the link itself is inside and may be removed.
        assert!(view.resolve("/outgoing/pw", false).is_ok());
    }

    #[test]
    fn symlink_inside_gets_target_permissions() {
        let (t, view) = setup();
        let home = t.path().join("demo");
        std::os::unix::fs::symlink(home.join("outgoing"), home.join("incoming/out")).unwrap();
        let r = view.resolve("/incoming/out/r.json", true).unwrap();
        assert_eq!(r.view.to_string(), "/outgoing/r.json");
        let p = view.perms_of_parent(&r);
        assert!(p.has(Perm::Download) && !p.has(Perm::Upload));
    }

    #[test]
    fn virtual_folder_maps_and_has_own_perms() {
        let (t, view) = setup();
        std::fs::write(t.path().join("reports/r1.csv"), "a").unwrap();
        let r = view.resolve("/reports/r1.csv", true).unwrap();
        assert_eq!(
            r.real,
            std::fs::canonicalize(t.path().join("reports/r1.csv")).unwrap()
        );
        let p = view.perms_of_parent(&r);
        assert!(p.has(Perm::Download) && !p.has(Perm::Upload) && !p.has(Perm::Delete));
        // Climbs out of the virtual folder only to the view's root.
        let r = view.resolve("/reports/../../demo2", true).unwrap();
        assert_eq!(r.view.to_string(), "/demo2");
        assert!(
            r.real
                .starts_with(std::fs::canonicalize(t.path().join("demo")).unwrap())
        );
        assert_eq!(
            view.virtual_entries(&ViewPath::root()),
            vec!["reports".to_string()]
        );
        let root = view.resolve("/", true).unwrap();
        assert!(view.perms_of_dir(&root).has(Perm::List));
        assert!(!view.perms_of_dir(&root).has(Perm::Upload));
        let inc = view.resolve("/incoming/x.xml", true).unwrap();
        assert!(view.perms_of_parent(&inc).has(Perm::Upload));
        assert!(view.is_fixed(&view.resolve("/incoming", false).unwrap()));
    }

    /// The check-then-open race, made deterministic: the path is resolved
    /// (checked) while it is clean, then a folder on it is swapped for a
    /// symlink to another account before the open. The open must not follow.
    #[test]
    fn swapped_in_symlink_is_not_followed_by_open() {
        let (t, view) = setup();
        let home = t.path().join("demo");
        std::fs::create_dir_all(home.join("outgoing/sub")).unwrap();
        std::fs::write(home.join("outgoing/sub/secret"), "mine").unwrap();
        let r = view.resolve("/outgoing/sub/secret", true).unwrap();
        let p = view.resolve("/outgoing/sub/new", false).unwrap();
        std::fs::rename(home.join("outgoing/sub"), home.join("outgoing/old")).unwrap();
        std::os::unix::fs::symlink(t.path().join("demo2/incoming"), home.join("outgoing/sub"))
            .unwrap();
        // What the old code did (open the checked path, O_NOFOLLOW on the
        // last component only) is fooled into the other account's file:
        let mut old = String::new();
        io::Read::read_to_string(
            &mut std::os::unix::fs::OpenOptionsExt::custom_flags(
                std::fs::OpenOptions::new().read(true),
                libc::O_NOFOLLOW,
            )
            .open(&r.real)
            .unwrap(),
            &mut old,
        )
        .unwrap();
        assert_eq!(old, "x", "the scenario is a real escape for open-by-path");
        let e = view.open(&r, libc::O_RDONLY, 0).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP), "{e}");
        assert!(view.parent(&p).is_err());
        assert!(view.lstat(&r).is_err());
        // The same with the fallback walk (kernels without openat2).
        let m = &view.mounts[r.mount];
        let rel = r.real.strip_prefix(&m.dir).unwrap();
        let e = walk_beneath(m.fd.as_raw_fd(), rel, libc::O_RDONLY, 0).unwrap_err();
        // O_DIRECTORY | O_NOFOLLOW on a symlink: ENOTDIR (or ELOOP).
        assert!(
            matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)),
            "{e}"
        );
        // `..` never climbs out of the mount.
        assert!(
            walk_beneath(
                m.fd.as_raw_fd(),
                Path::new("../demo2/incoming/secret"),
                libc::O_RDONLY,
                0
            )
            .is_err()
        );
        assert!(
            open_beneath(
                m.fd.as_raw_fd(),
                Path::new("../demo2/incoming/secret"),
                libc::O_RDONLY,
                0
            )
            .is_err()
        );
        // A final symlink is refused too, whichever way.
        std::os::unix::fs::symlink("/etc/passwd", home.join("outgoing/pw")).unwrap();
        assert!(
            open_beneath(
                m.fd.as_raw_fd(),
                Path::new("outgoing/pw"),
                libc::O_RDONLY,
                0
            )
            .is_err()
        );
        assert!(
            walk_beneath(
                m.fd.as_raw_fd(),
                Path::new("outgoing/pw"),
                libc::O_RDONLY,
                0
            )
            .is_err()
        );
        // Clean paths open.
        std::fs::rename(home.join("outgoing/sub"), home.join("outgoing/link")).unwrap();
        std::fs::rename(home.join("outgoing/old"), home.join("outgoing/sub")).unwrap();
        let mut s = String::new();
        io::Read::read_to_string(&mut view.open(&r, libc::O_RDONLY, 0).unwrap(), &mut s).unwrap();
        assert_eq!(s, "mine");
    }

    #[test]
    fn temp_files_are_invisible() {
        let (_t, view) = setup();
        assert!(matches!(
            view.resolve(&format!("/incoming/{TEMP_PREFIX}abc"), true),
            Err(VfsError::NotFound)
        ));
    }
}
