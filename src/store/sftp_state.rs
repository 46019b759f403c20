//! SFTP sessions and bans in the store: `pasarela status` lists them (daemon
//! running or not), and bans survive a restart.

use super::db::{Arg, args};
use serde::Serialize;

use super::{Store, StoreError};

/// An open SFTP session.
#[derive(Debug, Clone, Serialize)]
pub struct SftpSession {
    pub id: String,
    pub daemon: String,
    pub account: String,
    pub peer: String,
    pub started_at: i64,
}

/// A banned address.
#[derive(Debug, Clone, Serialize)]
pub struct SftpBan {
    pub addr: String,
    pub until_at: i64,
    pub bans: i64,
}

impl Store {
    pub async fn sftp_session_open(&self, s: &SftpSession) -> Result<(), StoreError> {
        self.db
            .execute(
                "INSERT INTO sftp_sessions (id, daemon, account, peer, started_at) VALUES (?, ?, ?, ?, ?)
                 ON CONFLICT (id) DO UPDATE SET daemon = excluded.daemon, account = excluded.account,
                 peer = excluded.peer, started_at = excluded.started_at",
                args![&s.id, &s.daemon, &s.account, &s.peer, Arg::time(s.started_at)],
            )
            .await?;
        Ok(())
    }

    pub async fn sftp_session_close(&self, id: &str) -> Result<(), StoreError> {
        self.db
            .execute("DELETE FROM sftp_sessions WHERE id = ?", args![id])
            .await?;
        Ok(())
    }

    /// Forget the recorded sessions of daemons that are gone: every session
    /// whose `daemon` the caller does not vouch for. Returns how many.
    pub async fn sftp_sessions_clear_stale(
        &self,
        alive: impl Fn(&str) -> bool,
    ) -> Result<usize, StoreError> {
        let stale: Vec<SftpSession> = self
            .sftp_sessions()
            .await?
            .into_iter()
            .filter(|s| !alive(&s.daemon))
            .collect();
        for s in &stale {
            self.sftp_session_close(&s.id).await?;
        }
        Ok(stale.len())
    }

    pub async fn sftp_sessions(&self) -> Result<Vec<SftpSession>, StoreError> {
        let rows = self
            .db
            .fetch_all(
                "SELECT id, daemon, account, peer, started_at FROM sftp_sessions ORDER BY started_at, id",
                args![],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(SftpSession {
                    id: r.text("id")?,
                    daemon: r.text("daemon")?,
                    account: r.text("account")?,
                    peer: r.text("peer")?,
                    started_at: r.time("started_at")?,
                })
            })
            .collect()
    }

    pub async fn sftp_ban(
        &self,
        addr: &str,
        until_at: i64,
        bans: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.db
            .execute(
                "INSERT INTO sftp_bans (addr, until_at, bans, updated_at) VALUES (?, ?, ?, ?)
                 ON CONFLICT (addr) DO UPDATE SET until_at = excluded.until_at, bans = excluded.bans, updated_at = excluded.updated_at",
                args![addr, Arg::time(until_at), bans, Arg::time(now_ms)],
            )
            .await?;
        Ok(())
    }

    /// Lift a ban (an administrator's decision), with its audit row. False
    /// when no ban on `addr` was in force.
    pub async fn sftp_ban_lift(
        &self,
        addr: &str,
        by: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let n = tx
            .execute(
                "UPDATE sftp_bans SET until_at = ?, updated_at = ? WHERE addr = ? AND until_at > ?",
                args![
                    Arg::time(now_ms),
                    Arg::time(now_ms),
                    addr,
                    Arg::time(now_ms)
                ],
            )
            .await?;
        super::audit_tx(
            &mut tx,
            now_ms,
            &super::AuditRecord {
                account: None,
                job_id: None,
                event: "desk.ban_lifted",
                detail: serde_json::json!({"ip": addr, "by": by, "was_banned": n > 0}),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Bans still in force at `now_ms`.
    pub async fn sftp_bans(&self, now_ms: i64) -> Result<Vec<SftpBan>, StoreError> {
        let rows = self
            .db
            .fetch_all(
                "SELECT addr, until_at, bans FROM sftp_bans WHERE until_at > ? ORDER BY until_at DESC",
                args![Arg::time(now_ms)],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(SftpBan {
                    addr: r.text("addr")?,
                    until_at: r.time("until_at")?,
                    bans: r.int("bans")?,
                })
            })
            .collect()
    }
}
