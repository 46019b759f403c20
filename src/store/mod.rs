//! The store: the only module that speaks SQL.

/// Handle to the store; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {}

/// One audit row: every state change and every security-relevant event.
#[derive(Debug, Clone)]
pub struct AuditRecord<'a> {
    pub account: Option<&'a str>,
    pub job_id: Option<i64>,
    /// e.g. `received`, `done`, `sftp.login`, `sftp.upload`.
    pub event: &'a str,
    pub detail: serde_json::Value,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(String),
}

impl Store {
    /// Append an audit row.
    pub async fn audit(&self, _rec: AuditRecord<'_>) -> Result<(), StoreError> {
        Ok(())
    }
}
