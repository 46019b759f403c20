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
            let Ok(day) = NaiveDate::parse_from_str(&name, crate::spool::ARCHIVE_DAY_FORMAT) else {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn purges_only_days_past_retention() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(&path, "[archive]\nretention_days = 30\n[accounts.a]\nhome = \"a\"\n[[routes]]\nname = \"r\"\nsteps = [\"classify\"]\n").unwrap();
        let config = crate::config::load_with_base(&path, dir.path()).unwrap().0;
        let archive = config.accounts["a"].archive();
        for day in [
            "2026-09-01",
            "2026-10-22",
            "2026-10-23",
            "2026-11-22",
            "notes",
        ] {
            std::fs::create_dir_all(archive.join(day)).unwrap();
            std::fs::write(archive.join(day).join("f.xml"), b"x").unwrap();
        }
        let store = Store::open(
            &format!("sqlite://{}", dir.path().join("s.db").display()),
            false,
            std::time::Duration::from_secs(5),
        )
        .await
        .unwrap();
        purge(
            &config,
            NaiveDate::from_ymd_opt(2026, 11, 22).unwrap(),
            &store,
        )
        .await;
        let mut left: Vec<String> = std::fs::read_dir(&archive)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into())
            .collect();
        left.sort();
        assert_eq!(left, ["2026-10-23", "2026-11-22", "notes"]);
    }
}
