//! Account credentials: authorized_keys files and argon2id password hashes.
//!
//! Pure apart from reading key files; the server decides *when* to call these.
//! Never logs a password or a hash.

use std::path::Path;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use russh::keys::PublicKey;

/// The argon2id hasher with OWASP's recommended parameters (19 MiB, 2 passes).
fn hasher() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

/// Hash a password for `password_hash` (`pasarela user hash-password`).
pub fn hash_password(plain: &str) -> anyhow::Result<String> {
    if plain.is_empty() {
        anyhow::bail!("the password is empty");
    }
    let mut salt = [0u8; 16];
    rand::fill(&mut salt);
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| anyhow::anyhow!("cannot encode the salt: {e}"))?;
    let hash = hasher()
        .hash_password(plain.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))?;
    Ok(hash.to_string())
}

/// Is this a usable argon2id hash?
pub fn check_hash(hash: &str) -> anyhow::Result<()> {
    let parsed = PasswordHash::new(hash).map_err(|e| {
        anyhow::anyhow!("not a PHC password hash ({e}); use `pasarela user hash-password`")
    })?;
    if parsed.algorithm.as_str() != "argon2id" {
        anyhow::bail!(
            "the hash uses {}, only argon2id is accepted; use `pasarela user hash-password`",
            parsed.algorithm
        );
    }
    Ok(())
}

/// Constant-time verification of a password against an argon2id hash.
/// CPU-heavy (tens of milliseconds): call it from a blocking thread.
pub fn verify_password(plain: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) if parsed.algorithm.as_str() == "argon2id" => {
            hasher().verify_password(plain.as_bytes(), &parsed).is_ok()
        }
        _ => false,
    }
}

/// Read the public keys of an authorized_keys file (options are ignored:
/// accounts are SFTP-only whatever the options say).
pub fn read_authorized_keys(path: &Path) -> anyhow::Result<Vec<PublicKey>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let mut keys = Vec::new();
    for (n, entry) in russh::keys::ssh_key::AuthorizedKeys::new(&text).enumerate() {
        match entry {
            Ok(e) => keys.push(e.public_key().clone()),
            Err(e) => anyhow::bail!("{}: entry {}: {e}", path.display(), n + 1),
        }
    }
    Ok(keys)
}

/// Does a key appear among the authorised ones? Compares key material only
/// (comments differ between files).
pub fn key_authorised(keys: &[PublicKey], offered: &PublicKey) -> bool {
    keys.iter().any(|k| k.key_data() == offered.key_data())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_round_trip() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        check_hash(&h).unwrap();
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(check_hash("$2b$12$abcdefghijklmnopqrstuu").is_err());
        assert!(hash_password("").is_err());
    }
}
