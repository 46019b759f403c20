//! Configuration problems: every problem names the file, the key and the
//! reason. A leaf module: the owners of configuration sections and rules
//! files (`sftp::config`, `outbox::config`, `reports::config`, `aws::config`,
//! `admin`, `catalog::config`, `rules`, `formats`, `dian::settings`) report
//! through it without importing `config`, which composes them (see
//! ARCHITECTURE.md, "Where each configuration section is compiled").
//! Imports nothing from the crate.

use std::fmt;
use std::path::{Path, PathBuf};

/// One configuration problem. `validate` collects all of them before it reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// Dotted key path, e.g. `accounts.demo.home`; empty for whole-file problems.
    pub key: String,
    pub reason: String,
    /// Warnings are reported but do not make a configuration invalid.
    pub warning: bool,
}

impl ConfigError {
    pub fn new(file: &Path, key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            key: key.into(),
            reason: reason.into(),
            warning: false,
        }
    }
    pub fn warning(file: &Path, key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            warning: true,
            ..Self::new(file, key, reason)
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = if self.warning { "warning" } else { "error" };
        if self.key.is_empty() {
            write!(f, "{level}: {}: {}", self.file.display(), self.reason)
        } else {
            write!(
                f,
                "{level}: {}: {}: {}",
                self.file.display(),
                self.key,
                self.reason
            )
        }
    }
}

/// Accumulates problems while a configuration compiles.
#[derive(Debug, Default)]
pub struct Problems {
    pub items: Vec<ConfigError>,
}

impl Problems {
    pub fn error(&mut self, file: &Path, key: impl Into<String>, reason: impl Into<String>) {
        self.items.push(ConfigError::new(file, key, reason));
    }
    pub fn warn(&mut self, file: &Path, key: impl Into<String>, reason: impl Into<String>) {
        self.items.push(ConfigError::warning(file, key, reason));
    }
    pub fn extend(&mut self, other: impl IntoIterator<Item = ConfigError>) {
        self.items.extend(other);
    }
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|e| !e.warning)
    }
}

/// Deserialize one TOML value, recording unknown keys (as errors) and type
/// errors under `key` instead of stopping at the first one.
pub fn section<T: serde::de::DeserializeOwned>(
    value: toml::Value,
    file: &Path,
    key: &str,
    problems: &mut Problems,
) -> Option<T> {
    let mut unknown = Vec::new();
    let result: Result<T, _> =
        serde_ignored::deserialize(value, |path| unknown.push(path.to_string()));
    for u in unknown {
        let full = if key.is_empty() {
            u
        } else {
            format!("{key}.{u}")
        };
        problems.error(file, full, "unknown key");
    }
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            problems.error(file, key, e.to_string());
            None
        }
    }
}
