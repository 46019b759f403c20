//! SFTP sessions and bans in the store: `pasarela status` lists them (daemon
//! running or not), and bans survive a restart.

use serde::Serialize;
use sqlx::Row;

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
        sqlx::query(
            "INSERT OR REPLACE INTO sftp_sessions (id, daemon, account, peer, started_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&s.id)
        .bind(&s.daemon)
        .bind(&s.account)
        .bind(&s.peer)
        .bind(s.started_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn sftp_session_close(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sftp_sessions WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Forget every recorded session (the SFTP server starts with none open).
    pub async fn sftp_sessions_clear(&self) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sftp_sessions")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn sftp_sessions(&self) -> Result<Vec<SftpSession>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, daemon, account, peer, started_at FROM sftp_sessions ORDER BY started_at, id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SftpSession {
                    id: r.try_get("id")?,
                    daemon: r.try_get("daemon")?,
                    account: r.try_get("account")?,
                    peer: r.try_get("peer")?,
                    started_at: r.try_get("started_at")?,
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
        sqlx::query(
            "INSERT INTO sftp_bans (addr, until_at, bans, updated_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (addr) DO UPDATE SET until_at = excluded.until_at, bans = excluded.bans, updated_at = excluded.updated_at",
        )
        .bind(addr)
        .bind(until_at)
        .bind(bans)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Bans still in force at `now_ms`.
    pub async fn sftp_bans(&self, now_ms: i64) -> Result<Vec<SftpBan>, StoreError> {
        let rows = sqlx::query(
            "SELECT addr, until_at, bans FROM sftp_bans WHERE until_at > ? ORDER BY until_at DESC",
        )
        .bind(now_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SftpBan {
                    addr: r.try_get("addr")?,
                    until_at: r.try_get("until_at")?,
                    bans: r.try_get("bans")?,
                })
            })
            .collect()
    }
}
