//! Archive retention: dated archive folders older than `retention_days` are deleted.

use chrono::NaiveDate;
use tracing::{info, warn};

use crate::config::Config;
use crate::store::{AuditRecord, Store};

/// Delete `archive/YYYY-MM-DD/` folders older than the retention period.
pub async fn purge(config: &Config, today: NaiveDate, store: &Store) {
    let days = config.archive.retention_days;
    if days == 0 {
        return;
    }
    let cutoff = today - chrono::Days::new(u64::from(days));
    for account in config.accounts.values() {
        let Ok(entries) = std::fs::read_dir(account.archive()) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let Ok(day) = NaiveDate::parse_from_str(&name, "%Y-%m-%d") else {
                continue;
            };
            if day >= cutoff || !e.path().is_dir() {
                continue;
            }
            let files = std::fs::read_dir(e.path()).map(|d| d.count()).unwrap_or(0);
            match std::fs::remove_dir_all(e.path()) {
                Ok(()) => {
                    info!(account = %account.name, day = %name, files, "archive purged");
                    let detail =
                        serde_json::json!({"day": name, "files": files, "retention_days": days});
                    let _ = store
                        .audit(AuditRecord {
                            account: Some(&account.name),
                            job_id: None,
                            event: "archive.purged",
                            detail,
                        })
                        .await;
                }
                Err(err) => {
                    warn!(account = %account.name, day = %name, error = %err, "archive purge failed")
                }
            }
        }
    }
}
