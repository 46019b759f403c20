//! Reload: on SIGHUP or a change of the configuration or a rule file,
//! compile a new [`Generation`] and swap it in; a bad one keeps the old.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::config::{self, Config};
use crate::pipeline::Generation;
use crate::store::Store;

/// Create every account's folders and spool (at start-up and on reload).
pub(super) fn prepare_dirs(config: &Config) -> anyhow::Result<()> {
    for a in config.accounts.values() {
        for d in [
            a.incoming(),
            a.outgoing(),
            a.archive(),
            config.daemon.spool_dir(&a.name),
        ] {
            std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
        }
    }
    Ok(())
}

/// Size and mtime of the configuration file and of every rule file it uses.
pub(super) fn config_fingerprint(
    path: &Path,
    config: &Config,
) -> Vec<(PathBuf, u64, Option<std::time::SystemTime>)> {
    let mut files = vec![path.to_path_buf()];
    files.extend(config.dian.rules.iter().cloned());
    files.extend(crate::fsutil::walk_files(&config.registration.rules_dir));
    files.push(crate::pipeline::steps::formats_settings_path(config));
    files.extend(crate::fsutil::walk_files(
        &crate::pipeline::steps::layouts_dir(config),
    ));
    files
        .into_iter()
        .map(|f| {
            let meta = std::fs::metadata(&f).ok();
            let (len, mtime) = meta
                .map(|m| (m.len(), m.modified().ok()))
                .unwrap_or((0, None));
            (f, len, mtime)
        })
        .collect()
}

/// SIGHUP: recompile; on success swap the generation, else keep the old one.
pub(super) fn reload(path: &Path, store: &Store, gen_tx: &watch::Sender<Arc<Generation>>) {
    crate::sdnotify::notify("RELOADING=1");
    reload_inner(path, store, gen_tx);
    crate::sdnotify::notify("READY=1");
}

fn reload_inner(path: &Path, store: &Store, gen_tx: &watch::Sender<Arc<Generation>>) {
    let old = gen_tx.borrow().config.clone();
    let config = match config::load(path) {
        Ok((c, _)) => Arc::new(c),
        Err(problems) => {
            for p in &problems {
                error!(problem = %p, "reload refused");
            }
            warn!(
                errors = problems.len(),
                "reload refused: the previous configuration stays in force"
            );
            return;
        }
    };
    if config.store.url != old.store.url || config.daemon.state_dir != old.daemon.state_dir {
        warn!("store.url and daemon.state_dir changes need a restart; other changes apply now");
    }
    if let Err(e) = prepare_dirs(&config) {
        warn!(error = %format!("{e:#}"), "reload refused: the previous configuration stays in force");
        return;
    }
    match Generation::build(config.clone(), Some(store.clone())) {
        Ok(g) => {
            gen_tx.send_replace(Arc::new(g));
            info!(
                accounts = config.accounts.len(),
                routes = config.routes.len(),
                "configuration reloaded"
            );
        }
        Err(problems) => {
            for p in &problems {
                error!(problem = %p, "reload refused");
            }
        }
    }
}
