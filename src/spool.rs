//! The spool: where an accepted input waits between intake and its archive.
//!
//! Owns the layout, in one place:
//! - an account's spool: `<spool root>/<account>/` (the root defaults to
//!   `<state_dir>/spool`);
//! - one entry per accepted file: `<account spool>/<uuid>/<relative path>`,
//!   so two uploads of the same name never meet and the entry directory is
//!   removed as a whole once its file is archived;
//! - the archive: `<account home>/archive/YYYY-MM-DD/<job id:08>-<name>`,
//!   unique per job, so archiving is idempotent.
//!
//! **Architecture Invariant:** an input leaves the spool only through
//! [`archive_input`], called after its outcome is committed; nothing here
//! deletes an input.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use crate::fsutil;

/// The name of the day folders in `archive/` (also read by retention).
pub const ARCHIVE_DAY_FORMAT: &str = "%Y-%m-%d";

/// The spool root when the configuration does not name one.
pub fn default_root(state_dir: &Path) -> PathBuf {
    state_dir.join("spool")
}

/// An account's spool: `<root>/<account>`.
pub fn account_dir(root: &Path, account: &str) -> PathBuf {
    root.join(account)
}

/// A new, unique place for `rel` in an account's spool:
/// `(entry directory, file path)` = `(<account spool>/<uuid>, <entry>/<rel>)`.
pub fn new_entry(account_dir: &Path, rel: &str) -> (PathBuf, PathBuf) {
    let entry = account_dir.join(uuid::Uuid::new_v4().simple().to_string());
    let file = entry.join(rel);
    (entry, file)
}

/// The entry directory (`<account spool>/<uuid>`) of a spooled file, from
/// the file's path and its relative path.
pub fn entry_of(spool_path: &Path, rel_path: &str) -> Option<PathBuf> {
    spool_path
        .ancestors()
        .nth(rel_path.split('/').count())
        .map(Path::to_path_buf)
}

/// The entry directory of a path inside an account's spool.
pub fn entry_in(account_dir: &Path, path: &Path) -> Option<PathBuf> {
    let rel = path.strip_prefix(account_dir).ok()?;
    let first = rel.components().next()?;
    Some(account_dir.join(first.as_os_str()))
}

/// Files in an account's spool with their original relative paths (hidden
/// names skipped).
pub fn files(account_dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let Ok(dirs) = std::fs::read_dir(account_dir) else {
        return out;
    };
    for d in dirs.flatten() {
        let root = d.path();
        if !root.is_dir() {
            continue;
        }
        fsutil::for_each_file(&root, |e| {
            if let Some(rel) = fsutil::relative(&root, &e.path())
                && !e.file_name().to_string_lossy().starts_with('.')
            {
                out.push((e.path(), rel));
            }
        });
    }
    out
}

/// `<archive>/YYYY-MM-DD/<job id:08>-<name>` for a job's input, `name` being
/// the last component of its relative path.
pub fn archive_path(archive: &Path, day: NaiveDate, job_id: i64, rel_path: &str) -> PathBuf {
    let name = rel_path.rsplit('/').next().unwrap_or(rel_path);
    archive
        .join(day.format(ARCHIVE_DAY_FORMAT).to_string())
        .join(format!("{job_id:08}-{name}"))
}

/// Move a spooled input into the archive (durably) and remove its spool
/// entry directory.
pub fn archive_input(src: &Path, dst: &Path, entry: Option<&Path>) -> std::io::Result<()> {
    fsutil::move_durable(src, dst)?;
    if let Some(root) = entry {
        let _ = std::fs::remove_dir_all(root);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_unique_and_hold_the_relative_path() {
        let acct = account_dir(&default_root(Path::new("/s")), "acme");
        assert_eq!(acct, Path::new("/s/spool/acme"));
        let (e1, f1) = new_entry(&acct, "a/b.xml");
        let (e2, _) = new_entry(&acct, "a/b.xml");
        assert_ne!(e1, e2);
        assert_eq!(f1, e1.join("a/b.xml"));
        assert_eq!(entry_of(&f1, "a/b.xml"), Some(e1.clone()));
        assert_eq!(entry_in(&acct, &f1), Some(e1));
        assert_eq!(entry_in(&acct, Path::new("/elsewhere/x")), None);
    }

    #[test]
    fn archive_path_is_per_day_and_job() {
        let day = NaiveDate::from_ymd_opt(2026, 3, 9).unwrap();
        assert_eq!(
            archive_path(Path::new("/h/archive"), day, 42, "sub/f.xml"),
            Path::new("/h/archive/2026-03-09/00000042-f.xml")
        );
    }

    #[test]
    fn archiving_moves_the_file_and_removes_the_entry() {
        let d = tempfile::tempdir().unwrap();
        let acct = account_dir(d.path(), "acme");
        let (entry, file) = new_entry(&acct, "x/a.xml");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, b"<Invoice/>").unwrap();
        assert_eq!(files(&acct), vec![(file.clone(), "x/a.xml".to_string())]);
        let dst = d.path().join("archive/2026-03-09/00000001-a.xml");
        archive_input(&file, &dst, Some(&entry)).unwrap();
        assert_eq!(std::fs::read(&dst).unwrap(), b"<Invoice/>");
        assert!(!entry.exists());
        assert!(files(&acct).is_empty());
    }
}
