//! Host keys: generated on first start (ed25519 and ECDSA P-256), kept with
//! mode 0600 in OpenSSH format, reused across restarts, fingerprints logged.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::Context;
use russh::keys::ssh_key::LineEnding;
use russh::keys::{Algorithm, EcdsaCurve, HashAlg, PrivateKey};

type KeyKind = (&'static str, fn() -> Algorithm);

const KEYS: &[KeyKind] = &[
    ("ssh_host_ed25519_key", || Algorithm::Ed25519),
    ("ssh_host_ecdsa_key", || Algorithm::Ecdsa {
        curve: EcdsaCurve::NistP256,
    }),
];

/// Load the host keys in `dir`, generating the missing ones.
pub fn load_or_generate(dir: &Path) -> anyhow::Result<Vec<PrivateKey>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    let mut out = Vec::new();
    for (name, alg) in KEYS {
        let path = dir.join(name);
        let key = if path.exists() {
            let md = std::fs::metadata(&path)?;
            if md.permissions().mode() & 0o077 != 0 {
                tracing::warn!(path = %path.display(), "host key readable by others; setting mode 0600");
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
            }
            russh::keys::load_secret_key(&path, None)
                .with_context(|| format!("cannot read host key {}", path.display()))?
        } else {
            let key = PrivateKey::random(&mut rand::rng(), alg())
                .map_err(|e| anyhow::anyhow!("cannot generate a {name}: {e}"))?;
            let pem = key
                .to_openssh(LineEnding::LF)
                .map_err(|e| anyhow::anyhow!("cannot encode {name}: {e}"))?;
            let tmp = dir.join(format!(".{name}.tmp"));
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .with_context(|| format!("cannot write {}", tmp.display()))?;
            f.write_all(pem.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            if let Ok(pubkey) = key.public_key().to_openssh() {
                let _ = std::fs::write(dir.join(format!("{name}.pub")), format!("{pubkey}\n"));
            }
            tracing::info!(path = %path.display(), "generated host key");
            key
        };
        tracing::info!(
            algorithm = %key.algorithm(),
            fingerprint = %key.public_key().fingerprint(HashAlg::Sha256),
            "sftp host key"
        );
        out.push(key);
    }
    Ok(out)
}
