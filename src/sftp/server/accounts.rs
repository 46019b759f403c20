//! The SFTP accounts: each account's view, incoming folder, quota use and
//! handle budget, prepared at start-up and again on every reload (keeping
//! what a reload does not change), and the descriptor budgets of handles.

use super::*;

/// An account that may log in over SFTP.
pub(super) struct SftpAccount {
    pub(super) name: String,
    pub(super) sftp: AccountSftp,
    pub(super) view: Arc<View>,
    pub(super) incoming: PathBuf,
    /// Disk use against the quota, shared by the account's sessions (kept
    /// across reloads while home and quota stay the same).
    pub(super) usage: Arc<AccountUsage>,
    /// Open handles of all the account's sessions.
    pub(super) handles: Arc<HandleBudget>,
}

pub(super) fn prepare_account(
    a: &Account,
    sftp: &AccountSftp,
    old: Option<&Arc<SftpAccount>>,
    handles_per_account: usize,
) -> anyhow::Result<SftpAccount> {
    for d in [a.incoming(), a.outgoing(), a.archive()] {
        std::fs::create_dir_all(&d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    for vf in &sftp.virtual_folders {
        std::fs::create_dir_all(&vf.directory)
            .with_context(|| format!("cannot create {}", vf.directory.display()))?;
    }
    let view = View::new(&a.home, sftp)
        .with_context(|| format!("account {}: cannot open its folders", a.name))?;
    let incoming = std::fs::canonicalize(a.incoming())?;
    let home = std::fs::canonicalize(&a.home)?;
    let usage = match old {
        Some(o) if o.usage.quota == sftp.quota_bytes && o.usage.home() == home => o.usage.clone(),
        _ => Arc::new(AccountUsage::new(home, sftp.quota_bytes)),
    };
    let handles = match old {
        Some(o) => o.handles.clone(),
        None => HandleBudget::new(handles_per_account),
    };
    Ok(SftpAccount {
        name: a.name.clone(),
        sftp: sftp.clone(),
        view: Arc::new(view),
        incoming,
        usage,
        handles,
    })
}

/// Descriptors SFTP handles may hold: half the soft RLIMIT_NOFILE for all
/// sessions (the rest stays for the store, spool, workers, sockets), a
/// quarter of that for one account.
pub(super) fn handle_budgets() -> (usize, usize) {
    // SAFETY: getrlimit fills a plain struct.
    let mut rl: libc::rlimit = unsafe { std::mem::zeroed() };
    let soft = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } == 0 {
        usize::try_from(rl.rlim_cur).unwrap_or(usize::MAX)
    } else {
        1024
    };
    let total = (soft / 2).clamp(64, 1 << 20);
    let per_account = (total / 4).max(16);
    tracing::info!(
        rlimit_nofile = soft,
        handles_total = total,
        handles_per_account = per_account,
        "sftp handle budgets"
    );
    (total, per_account)
}

/// The SFTP accounts of a configuration, keys and networks compiled.
pub(super) fn prepare_accounts(
    config: &crate::config::Config,
    old: &HashMap<String, Arc<SftpAccount>>,
    handles_per_account: usize,
) -> anyhow::Result<HashMap<String, Arc<SftpAccount>>> {
    let mut accounts = HashMap::new();
    for a in config.accounts.values() {
        if let Some(s) = &a.sftp {
            accounts.insert(
                a.name.clone(),
                Arc::new(prepare_account(
                    a,
                    s,
                    old.get(&a.name),
                    handles_per_account,
                )?),
            );
        }
    }
    Ok(accounts)
}
