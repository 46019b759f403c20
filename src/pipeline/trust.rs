//! The edge that reads the signature trust material named by the DIAN
//! settings (`[signatures] trust_anchors` and `crls`: a PEM file or a folder
//! of them) into the `TrustStore` that the pure verifier (`dian::xades`) is
//! given. Called once per generation, so boot, reload and `validate` check
//! the files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::dian::DianSettings;
use crate::dian::xades::TrustStore;
use crate::problems::ConfigError;

/// Files of a trust path: the file itself, or a folder's regular files
/// (sorted; hidden files and README-like notes skipped).
fn files_of(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| {
            let ext = p
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("")
                .to_ascii_lowercase();
            matches!(ext.as_str(), "pem" | "crt" | "cer" | "der" | "crl")
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Load the trust anchors and CRLs into `settings.signatures.trust`; every
/// unreadable or malformed file is one problem naming the settings key.
/// Signatures verified with no anchor at all are logged as a warning: no
/// certificate can then chain to a trusted CA (ZD05).
pub fn load(settings: &mut DianSettings, source: &Path) -> Result<(), Vec<ConfigError>> {
    let sig = &settings.signatures;
    let mut store = TrustStore::new();
    let mut errors = Vec::new();
    for (key, path) in [
        ("signatures.trust_anchors", &sig.trust_anchors),
        ("signatures.crls", &sig.crls),
    ] {
        let Some(path) = path else { continue };
        let files = match files_of(path) {
            Ok(f) => f,
            Err(e) => {
                errors.push(ConfigError::new(
                    source,
                    key,
                    format!("{} cannot be read: {e}", path.display()),
                ));
                continue;
            }
        };
        for f in files {
            let bytes = match std::fs::read(&f) {
                Ok(b) => b,
                Err(e) => {
                    errors.push(ConfigError::new(
                        source,
                        key,
                        format!("{} cannot be read: {e}", f.display()),
                    ));
                    continue;
                }
            };
            let is_pem = bytes.windows(11).any(|w| w == b"-----BEGIN ");
            let added = if is_pem {
                store.add_pem(&bytes).map(|_| ())
            } else if key == "signatures.crls" {
                store.add_crl_der(&bytes)
            } else {
                store.add_der(&bytes)
            };
            if let Err(e) = added {
                errors.push(ConfigError::new(
                    source,
                    key,
                    format!("{}: {e}", f.display()),
                ));
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    // Rejecting with nothing trusted refuses every signed document: say so
    // loudly. Reporting only (the demo) is a documented choice.
    if settings.signatures.enforce == crate::dian::Enforcement::Reject && store.is_empty() {
        tracing::warn!(
            file = %source.display(),
            "signatures.trust_anchors: no trust anchor is configured; no signing certificate can chain to a trusted CA (ZD05)"
        );
    }
    settings.signatures.trust = Arc::new(store);
    Ok(())
}
