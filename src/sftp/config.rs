//! SFTP configuration: `[sftp]` (the server) and `[accounts.NAME.sftp]`.
//!
//! Placeholder shapes until the SFTP server lands; `compile` turns raw shapes
//! into resolved ones and records problems instead of failing fast.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::Problems;

/// `[sftp]` as written.
#[derive(Debug, Default, Deserialize)]
pub struct SftpServerRaw {
    /// `host:port` to listen on, e.g. `127.0.0.1:2222`.
    pub listen: Option<String>,
}

/// The compiled `[sftp]` section.
#[derive(Debug, Clone)]
pub struct SftpServer {
    pub listen: String,
}

impl SftpServerRaw {
    pub fn compile(
        self,
        file: &Path,
        key: &str,
        _resolve: &dyn Fn(&str) -> PathBuf,
        p: &mut Problems,
    ) -> SftpServer {
        let listen = self.listen.unwrap_or_else(|| "127.0.0.1:2222".into());
        if listen.parse::<std::net::SocketAddr>().is_err() {
            p.error(
                file,
                format!("{key}.listen"),
                format!("'{listen}' is not an address like 127.0.0.1:2222"),
            );
        }
        SftpServer { listen }
    }
}

/// `[accounts.NAME.sftp]` as written.
#[derive(Debug, Default, Deserialize)]
pub struct AccountSftpRaw {
    /// Files in authorized_keys format.
    #[serde(default)]
    pub authorized_keys: Vec<String>,
}

/// The compiled per-account SFTP settings.
#[derive(Debug, Clone)]
pub struct AccountSftp {
    pub authorized_keys: Vec<PathBuf>,
}

impl AccountSftpRaw {
    pub fn compile(
        self,
        _file: &Path,
        _key: &str,
        resolve: &dyn Fn(&str) -> PathBuf,
        _p: &mut Problems,
    ) -> AccountSftp {
        AccountSftp {
            authorized_keys: self.authorized_keys.iter().map(|k| resolve(k)).collect(),
        }
    }
}
