//! The notify watcher over every account's `incoming/`, mapped to intake events.

use std::path::PathBuf;

use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RenameMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tracing::warn;

use super::IntakeEvent;
use crate::config::Config;

/// Start watching; the returned watcher must be kept alive.
pub fn start(config: &Config, tx: mpsc::Sender<IntakeEvent>) -> notify::Result<RecommendedWatcher> {
    let roots: Vec<(PathBuf, String)> = config
        .accounts
        .values()
        .map(|a| (a.incoming(), a.name.clone()))
        .collect();
    let lookup = roots.clone();
    let handler = move |res: notify::Result<Event>| match res {
        Ok(event) => {
            for ev in map_event(&event, &lookup) {
                // Blocking here is back-pressure on the watcher thread; the
                // periodic scan catches anything the kernel queue drops.
                if tx.blocking_send(ev).is_err() {
                    return;
                }
            }
        }
        Err(e) => warn!(error = %e, "watcher error; the periodic scan covers missed files"),
    };
    // notify follows symbolic links by default: a link in incoming/ to another
    // account's folder (or /etc) would be watched and its files taken.
    let mut watcher = RecommendedWatcher::new(
        handler,
        notify::Config::default().with_follow_symlinks(false),
    )?;
    for (dir, _) in &roots {
        std::fs::create_dir_all(dir)?;
        watcher.watch(dir, RecursiveMode::Recursive)?;
    }
    Ok(watcher)
}

fn map_event(event: &Event, roots: &[(PathBuf, String)]) -> Vec<IntakeEvent> {
    let account_of = |p: &PathBuf| {
        roots
            .iter()
            .find(|(root, _)| p.starts_with(root))
            .map(|(_, a)| a.clone())
    };
    let make = |p: &PathBuf, complete: bool| {
        account_of(p).map(|account| {
            if complete {
                IntakeEvent::Completed {
                    account,
                    path: p.clone(),
                    upload: None,
                }
            } else {
                IntakeEvent::Seen {
                    account,
                    path: p.clone(),
                }
            }
        })
    };
    let paths = &event.paths;
    match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => {
            paths.iter().filter_map(|p| make(p, true)).collect()
        }
        EventKind::Modify(ModifyKind::Name(RenameMode::To)) => paths
            .iter()
            .filter_map(|p| rename_target(p, &make))
            .collect(),
        EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => paths
            .get(1)
            .and_then(|p| rename_target(p, &make))
            .into_iter()
            .collect(),
        EventKind::Create(CreateKind::Folder) => folder_files(paths, &make),
        EventKind::Create(_)
        | EventKind::Modify(ModifyKind::Data(_))
        | EventKind::Modify(ModifyKind::Any) => {
            paths.iter().filter_map(|p| make(p, false)).collect()
        }
        _ => Vec::new(),
    }
}

/// A file renamed into place is complete; a folder renamed in is scanned.
fn rename_target(
    p: &PathBuf,
    make: &dyn Fn(&PathBuf, bool) -> Option<IntakeEvent>,
) -> Option<IntakeEvent> {
    if p.is_dir() {
        // Files inside a moved-in folder produce no events of their own.
        return None;
    }
    make(p, true)
}

fn folder_files(
    paths: &[PathBuf],
    make: &dyn Fn(&PathBuf, bool) -> Option<IntakeEvent>,
) -> Vec<IntakeEvent> {
    paths
        .iter()
        .flat_map(|d| crate::fsutil::walk_files(d))
        .filter_map(|p| make(&p, false))
        .collect()
}
