//! What `pasarela aws sync` would change: pure functions from Pasarela's
//! accounts and the server's current state to a list of actions.
//!
//! No IO and no SDK types here, so the decisions are unit-tested on every
//! build (with or without the `aws` feature). `sync` fetches the state,
//! calls [`plan`] and carries the actions out.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use russh::keys::ssh_key::PublicKey;
use russh::keys::{Algorithm, HashAlg};

use super::config::Aws;
use crate::config::Config;

/// A Transfer user Pasarela wants on the server.
#[derive(Debug, Clone)]
pub struct DesiredUser {
    pub name: String,
    pub role: String,
    /// The S3 path `/` maps to.
    pub target: String,
    pub keys: Vec<PublicKey>,
}

/// An account that cannot become a Transfer user, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub account: String,
    pub reason: String,
}

/// Pasarela's side: the users it wants, and the accounts it cannot represent.
#[derive(Debug, Clone, Default)]
pub struct Desired {
    pub users: Vec<DesiredUser>,
    pub skipped: Vec<Skipped>,
    /// Things worth saying that change nothing (e.g. a password not carried over).
    pub notes: Vec<String>,
}

/// Transfer user names: `^[\w][\w@.-]{2,99}$`.
fn transfer_user_name_ok(name: &str) -> bool {
    (3..=100).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '@' | '.' | '-'))
}

/// Key types Transfer Family accepts for users and host keys.
pub fn transfer_accepts(alg: &Algorithm) -> bool {
    matches!(
        alg,
        Algorithm::Ed25519 | Algorithm::Rsa { .. } | Algorithm::Ecdsa { .. }
    )
}

/// `SHA256:...` of a public key, as `ssh-keygen -l` prints it.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// The body imported for a key: `ALGORITHM BASE64`, without the comment.
pub fn key_body(key: &PublicKey) -> String {
    let mut k = key.clone();
    k.set_comment("");
    k.to_openssh().unwrap_or_default().trim().to_string()
}

/// Which accounts become which users.
pub fn desired(config: &Config, aws: &Aws) -> Desired {
    let mut out = Desired::default();
    for (name, account) in &config.accounts {
        let skip = |reason: &str| Skipped {
            account: name.clone(),
            reason: reason.to_string(),
        };
        let Some(sftp) = &account.sftp else {
            out.skipped.push(skip(&format!(
                "no [accounts.{name}.sftp] section: no SFTP access to carry over"
            )));
            continue;
        };
        if !transfer_user_name_ok(name) {
            out.skipped.push(skip(
                "Transfer user names have 3 to 100 characters: rename the account to sync it",
            ));
            continue;
        }
        let mut keys: Vec<PublicKey> = Vec::new();
        for k in sftp.keys.iter().map(|k| &k.key) {
            if !transfer_accepts(&k.algorithm()) {
                out.notes.push(format!(
                    "account {name}: key {} ({}) left out: Transfer accepts RSA, ECDSA and Ed25519 keys only",
                    fingerprint(k),
                    k.algorithm()
                ));
            } else if !keys.iter().any(|x| x.key_data() == k.key_data()) {
                keys.push(k.clone());
            }
        }
        if keys.is_empty() {
            let reason = if sftp.password_hash.is_some() {
                "password-only: Transfer's service-managed users log in with SSH keys only; \
                 add an authorized_keys file to sync it"
            } else {
                "no SSH key Transfer accepts"
            };
            out.skipped.push(skip(reason));
            continue;
        }
        if sftp.password_hash.is_some() {
            out.notes.push(format!(
                "account {name}: its password is not carried over (Transfer's service-managed users use keys only)"
            ));
        }
        let mut local_only = Vec::new();
        if !sftp.allowed_networks.is_empty() {
            local_only.push("allowed_networks (use the server's security groups)");
        }
        if sftp.permissions != crate::sftp::config::default_permissions() {
            local_only.push("folder permissions (the IAM role decides)");
        }
        if !sftp.virtual_folders.is_empty() {
            local_only.push("virtual_folders");
        }
        if !local_only.is_empty() {
            out.notes.push(format!(
                "account {name}: not carried over: {}",
                local_only.join(", ")
            ));
        }
        out.users.push(DesiredUser {
            name: name.clone(),
            role: aws.role_arn.clone(),
            target: aws.home_target(name),
            keys,
        });
    }
    out
}

/// One SSH key of a user on the server.
#[derive(Debug, Clone)]
pub struct RemoteKey {
    pub id: String,
    pub body: String,
}

/// A user on the server, as DescribeUser shows it.
#[derive(Debug, Clone, Default)]
pub struct RemoteUser {
    pub role: Option<String>,
    /// `PATH` or `LOGICAL`.
    pub home_type: Option<String>,
    /// (entry, target) pairs.
    pub mappings: Vec<(String, String)>,
    pub keys: Vec<RemoteKey>,
}

/// A host key on the server, as ListHostKeys shows it.
#[derive(Debug, Clone)]
pub struct RemoteHostKey {
    pub fingerprint: Option<String>,
}

/// One change to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    CreateUser {
        name: String,
        role: String,
        target: String,
    },
    UpdateUser {
        name: String,
        role: String,
        target: String,
        /// What differs, for the operator.
        why: Vec<String>,
    },
    ImportKey {
        user: String,
        body: String,
        fingerprint: String,
    },
    DeleteKey {
        user: String,
        id: String,
        /// The key's fingerprint, or why it is removed if it cannot be read.
        what: String,
    },
    DeleteUser {
        name: String,
    },
    /// `index` into the local host keys handed to [`plan_host_keys`].
    ImportHostKey {
        index: usize,
        algorithm: String,
        fingerprint: String,
    },
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::CreateUser { name, role, target } => {
                write!(
                    f,
                    "create user {name}: home / -> {target} (LOGICAL), role {role}"
                )
            }
            Action::UpdateUser { name, why, .. } => {
                write!(f, "update user {name}: {}", why.join("; "))
            }
            Action::ImportKey {
                user, fingerprint, ..
            } => write!(f, "import key {fingerprint} for user {user}"),
            Action::DeleteKey { user, id, what } => {
                write!(f, "delete key {what} ({id}) of user {user}")
            }
            Action::DeleteUser { name } => write!(f, "delete user {name} (--prune)"),
            Action::ImportHostKey {
                algorithm,
                fingerprint,
                ..
            } => write!(f, "import host key {algorithm} {fingerprint}"),
        }
    }
}

/// Everything `sync` will do and report.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub actions: Vec<Action>,
    pub unchanged_users: Vec<String>,
    /// Users on the server that are no Pasarela account with keys.
    pub strays: Vec<String>,
    pub skipped: Vec<Skipped>,
    pub notes: Vec<String>,
    /// Fingerprints of local host keys already on the server.
    pub unchanged_host_keys: Vec<String>,
}

/// Counts for the summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub users_created: usize,
    pub users_updated: usize,
    pub users_deleted: usize,
    pub users_unchanged: usize,
    pub keys_imported: usize,
    pub keys_deleted: usize,
    pub host_keys_imported: usize,
    pub host_keys_unchanged: usize,
}

impl Plan {
    pub fn counts(&self) -> Counts {
        let mut c = Counts {
            users_unchanged: self.unchanged_users.len(),
            host_keys_unchanged: self.unchanged_host_keys.len(),
            ..Counts::default()
        };
        let mut updated: BTreeSet<&str> = BTreeSet::new();
        let mut created: BTreeSet<&str> = BTreeSet::new();
        for a in &self.actions {
            match a {
                Action::CreateUser { name, .. } => {
                    created.insert(name);
                }
                Action::UpdateUser { name, .. } => {
                    updated.insert(name);
                }
                Action::ImportKey { user, .. } => {
                    c.keys_imported += 1;
                    updated.insert(user);
                }
                Action::DeleteKey { user, .. } => {
                    c.keys_deleted += 1;
                    updated.insert(user);
                }
                Action::DeleteUser { .. } => c.users_deleted += 1,
                Action::ImportHostKey { .. } => c.host_keys_imported += 1,
            }
        }
        c.users_created = created.len();
        c.users_updated = updated.difference(&created).count();
        c
    }
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "users {} created, {} updated, {} deleted, {} unchanged; keys {} imported, {} deleted",
            self.users_created,
            self.users_updated,
            self.users_deleted,
            self.users_unchanged,
            self.keys_imported,
            self.keys_deleted
        )?;
        if self.host_keys_imported + self.host_keys_unchanged > 0 {
            write!(
                f,
                "; host keys {} imported, {} unchanged",
                self.host_keys_imported, self.host_keys_unchanged
            )?;
        }
        Ok(())
    }
}

/// Users: create the missing ones, correct role and home, import missing keys,
/// delete extra ones; users that are no Pasarela account are reported, and
/// deleted only with `prune`. `remote` holds every user on the server (None
/// for a user that is listed but not described: only strays are).
pub fn plan(desired: &Desired, remote: &BTreeMap<String, Option<RemoteUser>>, prune: bool) -> Plan {
    let mut plan = Plan {
        skipped: desired.skipped.clone(),
        notes: desired.notes.clone(),
        ..Plan::default()
    };
    for want in &desired.users {
        let mut changed = false;
        let current = remote.get(&want.name).and_then(|u| u.as_ref());
        let empty = RemoteUser::default();
        let have = match current {
            None => {
                plan.actions.push(Action::CreateUser {
                    name: want.name.clone(),
                    role: want.role.clone(),
                    target: want.target.clone(),
                });
                changed = true;
                &empty
            }
            Some(u) => {
                let mut why = Vec::new();
                if u.role.as_deref() != Some(want.role.as_str()) {
                    why.push(format!(
                        "role {} -> {}",
                        u.role.as_deref().unwrap_or("(none)"),
                        want.role
                    ));
                }
                if u.home_type.as_deref() != Some("LOGICAL") {
                    why.push(format!(
                        "home directory type {} -> LOGICAL",
                        u.home_type.as_deref().unwrap_or("(none)")
                    ));
                }
                let mapped = u.mappings.len() == 1
                    && u.mappings[0].0 == "/"
                    && u.mappings[0].1 == want.target;
                if !mapped {
                    let now: Vec<String> = u
                        .mappings
                        .iter()
                        .map(|(e, t)| format!("{e} -> {t}"))
                        .collect();
                    why.push(format!(
                        "home mapping [{}] -> [/ -> {}]",
                        now.join(", "),
                        want.target
                    ));
                }
                if !why.is_empty() {
                    plan.actions.push(Action::UpdateUser {
                        name: want.name.clone(),
                        role: want.role.clone(),
                        target: want.target.clone(),
                        why,
                    });
                    changed = true;
                }
                u
            }
        };
        // Keys: compare key material only (comments differ between copies).
        let mut kept: Vec<&PublicKey> = Vec::new();
        for rk in &have.keys {
            match PublicKey::from_openssh(rk.body.trim()) {
                Ok(k) => {
                    let wanted = want.keys.iter().find(|w| w.key_data() == k.key_data());
                    match wanted {
                        Some(w) if !kept.iter().any(|x| x.key_data() == w.key_data()) => {
                            kept.push(w)
                        }
                        Some(_) => {
                            plan.actions.push(Action::DeleteKey {
                                user: want.name.clone(),
                                id: rk.id.clone(),
                                what: format!("{} (a second copy)", fingerprint(&k)),
                            });
                            changed = true;
                        }
                        None => {
                            plan.actions.push(Action::DeleteKey {
                                user: want.name.clone(),
                                id: rk.id.clone(),
                                what: fingerprint(&k),
                            });
                            changed = true;
                        }
                    }
                }
                Err(_) => {
                    plan.actions.push(Action::DeleteKey {
                        user: want.name.clone(),
                        id: rk.id.clone(),
                        what: "(unreadable key)".into(),
                    });
                    changed = true;
                }
            }
        }
        for w in &want.keys {
            if !kept.iter().any(|x| x.key_data() == w.key_data()) {
                plan.actions.push(Action::ImportKey {
                    user: want.name.clone(),
                    body: key_body(w),
                    fingerprint: fingerprint(w),
                });
                changed = true;
            }
        }
        if !changed {
            plan.unchanged_users.push(want.name.clone());
        }
    }
    for name in remote.keys() {
        if desired.users.iter().any(|u| &u.name == name) {
            continue;
        }
        plan.strays.push(name.clone());
        if prune {
            plan.actions.push(Action::DeleteUser { name: name.clone() });
        }
    }
    plan
}

/// Normalise a fingerprint for comparison: `SHA256:abc=` and `abc` are the same.
fn normalise_fingerprint(f: &str) -> String {
    let f = f.trim();
    let f = f
        .strip_prefix("SHA256:")
        .or_else(|| f.strip_prefix("sha256:"))
        .unwrap_or(f);
    f.trim_end_matches('=').to_string()
}

/// Host keys: import each local key (algorithm, fingerprint) whose
/// fingerprint is not on the server yet. Keys on the server are never deleted.
pub fn plan_host_keys(plan: &mut Plan, local: &[(String, String)], remote: &[RemoteHostKey]) {
    let on_server: BTreeSet<String> = remote
        .iter()
        .filter_map(|k| k.fingerprint.as_deref())
        .map(normalise_fingerprint)
        .collect();
    for (index, (algorithm, fp)) in local.iter().enumerate() {
        if on_server.contains(&normalise_fingerprint(fp)) {
            plan.unchanged_host_keys.push(format!("{algorithm} {fp}"));
        } else {
            plan.actions.push(Action::ImportHostKey {
                index,
                algorithm: algorithm.clone(),
                fingerprint: fp.clone(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> PublicKey {
        let kp = russh::keys::ssh_key::private::Ed25519Keypair::from_seed(&[seed; 32]);
        PublicKey::from(russh::keys::ssh_key::public::KeyData::Ed25519(kp.public))
    }

    fn want(name: &str, keys: Vec<PublicKey>) -> DesiredUser {
        DesiredUser {
            name: name.into(),
            role: "arn:aws:iam::1:role/r".into(),
            target: format!("/b/{name}"),
            keys,
        }
    }

    fn remote(name: &str, keys: &[PublicKey]) -> RemoteUser {
        RemoteUser {
            role: Some("arn:aws:iam::1:role/r".into()),
            home_type: Some("LOGICAL".into()),
            mappings: vec![("/".into(), format!("/b/{name}"))],
            keys: keys
                .iter()
                .enumerate()
                .map(|(i, k)| RemoteKey {
                    id: format!("key-{i}"),
                    body: format!("{} a comment", key_body(k)),
                })
                .collect(),
        }
    }

    #[test]
    fn a_matching_server_needs_nothing() {
        let d = Desired {
            users: vec![want("alice", vec![key(1), key(2)])],
            ..Desired::default()
        };
        let mut r = BTreeMap::new();
        r.insert(
            "alice".to_string(),
            Some(remote("alice", &[key(2), key(1)])),
        );
        let p = plan(&d, &r, true);
        assert!(p.actions.is_empty(), "{:?}", p.actions);
        assert_eq!(p.unchanged_users, vec!["alice"]);
        assert_eq!(p.counts().users_unchanged, 1);
    }

    #[test]
    fn missing_users_are_created_with_their_keys_and_drift_is_corrected() {
        let d = Desired {
            users: vec![
                want("alice", vec![key(1)]),
                want("bob", vec![key(3), key(4)]),
            ],
            ..Desired::default()
        };
        let mut bob = remote("bob", &[key(3), key(5), key(3)]);
        bob.role = Some("arn:aws:iam::1:role/old".into());
        bob.home_type = Some("PATH".into());
        bob.keys.push(RemoteKey {
            id: "key-junk".into(),
            body: "not a key".into(),
        });
        let mut r = BTreeMap::new();
        r.insert("bob".to_string(), Some(bob));
        r.insert("legacy".to_string(), None);
        let p = plan(&d, &r, false);
        let text: Vec<String> = p.actions.iter().map(|a| a.to_string()).collect();
        assert!(text[0].starts_with("create user alice"), "{text:?}");
        assert!(text[1].starts_with("import key SHA256:"), "{text:?}");
        assert!(
            text[2].contains("update user bob")
                && text[2].contains("role")
                && text[2].contains("LOGICAL"),
            "{text:?}"
        );
        let deletes: Vec<&String> = text
            .iter()
            .filter(|t| t.starts_with("delete key"))
            .collect();
        assert_eq!(deletes.len(), 3, "{text:?}"); // key 5, the second copy of 3, the junk
        assert!(text.iter().any(|t| t.contains("(a second copy)")));
        assert!(text.iter().any(|t| t.contains("(unreadable key)")));
        assert_eq!(p.strays, vec!["legacy"]);
        assert!(
            !p.actions
                .iter()
                .any(|a| matches!(a, Action::DeleteUser { .. }))
        );
        let c = p.counts();
        assert_eq!(
            (
                c.users_created,
                c.users_updated,
                c.keys_imported,
                c.keys_deleted
            ),
            (1, 1, 2, 3)
        );
        let pruned = plan(&d, &r, true);
        assert!(pruned.actions.contains(&Action::DeleteUser {
            name: "legacy".into()
        }));
    }

    #[test]
    fn host_keys_already_there_are_not_imported_again() {
        let mut p = Plan::default();
        let local = vec![
            ("ssh-ed25519".to_string(), "SHA256:abc".to_string()),
            ("ecdsa-sha2-nistp256".to_string(), "SHA256:def".to_string()),
        ];
        let remote = vec![RemoteHostKey {
            fingerprint: Some("abc=".into()),
        }];
        plan_host_keys(&mut p, &local, &remote);
        assert_eq!(p.unchanged_host_keys, vec!["ssh-ed25519 SHA256:abc"]);
        assert_eq!(
            p.actions,
            vec![Action::ImportHostKey {
                index: 1,
                algorithm: "ecdsa-sha2-nistp256".into(),
                fingerprint: "SHA256:def".into()
            }]
        );
    }

    #[test]
    fn user_names_transfer_refuses_are_caught() {
        assert!(transfer_user_name_ok("acme"));
        assert!(transfer_user_name_ok("a_b-c"));
        assert!(!transfer_user_name_ok("ab"));
        assert!(!transfer_user_name_ok(&"a".repeat(101)));
    }
}
