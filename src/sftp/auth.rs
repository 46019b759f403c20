//! Account credentials: authorized_keys files and argon2id password hashes.
//!
//! authorized_keys options are never ignored silently: `from=` and
//! `expiry-time=` are enforced at authentication, the harmless restrictions
//! (`restrict`, `no-pty`, `no-port-forwarding`, `no-agent-forwarding`,
//! `no-X11-forwarding`, `no-user-rc`) are accepted, and an entry with any
//! other option (`command=`, `environment=`, `permitopen=`, `cert-authority`,
//! …) is refused: `validate` reports it and the key cannot log in.
//!
//! Pure apart from reading key files; the server decides *when* to call these.
//! Never logs a password or a hash.

use std::net::IpAddr;
use std::path::Path;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use chrono::{DateTime, Utc};
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

/// One authorized_keys entry: the key and the restrictions Pasarela
/// enforces at authentication.
#[derive(Debug, Clone)]
pub struct AuthorizedKey {
    pub key: PublicKey,
    /// `from="pattern-list"`: `None` = any source.
    pub from: Option<Vec<FromPattern>>,
    /// `expiry-time="YYYYMMDD[HHMM[SS]][Z]"`: not accepted from this instant.
    pub expires: Option<DateTime<Utc>>,
}

/// One pattern of a `from=` list (OpenSSH semantics, addresses only: no
/// reverse DNS is done, so host-name patterns never match).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FromPattern {
    pub negated: bool,
    pub pattern: FromMatch,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromMatch {
    /// `192.0.2.0/24`, `2001:db8::/32`.
    Net(ipnet::IpNet),
    /// An address with `*` and `?` wildcards, matched against the textual
    /// address; a host name (never matches).
    Glob(String),
}

/// Options accepted and harmless for an SFTP-only server: they restrict
/// what Pasarela never offers anyway (ptys, forwarding, agents, rc files).
const HARMLESS: &[&str] = &[
    "restrict",
    "no-pty",
    "no-port-forwarding",
    "no-agent-forwarding",
    "no-x11-forwarding",
    "no-user-rc",
];

/// Why an authorized_keys entry is not used.
fn refuse_reason(opt: &str) -> String {
    let name = opt.split('=').next().unwrap_or(opt);
    format!(
        "option '{name}' cannot be honoured by an SFTP-only server; the key is refused (remove the option or the key)"
    )
}

fn unquote(v: &str) -> Option<&str> {
    v.strip_prefix('"')?.strip_suffix('"')
}

/// Parse a `from=` pattern list.
pub fn parse_from(list: &str) -> Result<Vec<FromPattern>, String> {
    let mut out = Vec::new();
    for raw in list.split(',') {
        let (negated, p) = match raw.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, raw),
        };
        if p.is_empty() {
            return Err(format!("empty pattern in from=\"{list}\""));
        }
        let pattern = if p.contains('/') {
            FromMatch::Net(
                p.parse::<ipnet::IpNet>()
                    .map_err(|_| format!("'{p}' in from=\"{list}\" is not a valid CIDR network"))?
                    .trunc(),
            )
        } else {
            FromMatch::Glob(p.to_ascii_lowercase())
        };
        out.push(FromPattern { negated, pattern });
    }
    Ok(out)
}

/// `*` any run, `?` one character (ASCII patterns).
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    // Iterative matcher with one backtrack point: linear in practice.
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Does the source address satisfy a `from=` list? A negated pattern that
/// matches refuses at once; otherwise at least one plain pattern must match.
pub fn from_allows(patterns: &[FromPattern], ip: IpAddr) -> bool {
    let ip = crate::sftp::defense::canonical_ip(ip);
    let text = ip.to_string();
    let mut allowed = false;
    for f in patterns {
        let hit = match &f.pattern {
            FromMatch::Net(n) => n.contains(&ip),
            FromMatch::Glob(g) => glob(g.as_bytes(), text.as_bytes()),
        };
        if hit && f.negated {
            return false;
        }
        allowed |= hit && !f.negated;
    }
    allowed
}

/// Parse `expiry-time`: `YYYYMMDD`, `YYYYMMDDHHMM` or `YYYYMMDDHHMMSS`, in
/// the system's time zone, or UTC with a trailing `Z` (as OpenSSH).
pub fn parse_expiry(v: &str) -> Result<DateTime<Utc>, String> {
    let bad = || format!("expiry-time=\"{v}\" is not YYYYMMDD[HHMM[SS]][Z]");
    let (digits, utc) = match v.strip_suffix(['Z', 'z']) {
        Some(d) => (d, true),
        None => (v, false),
    };
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let full = match digits.len() {
        8 => format!("{digits}000000"),
        12 => format!("{digits}00"),
        14 => digits.to_owned(),
        _ => return Err(bad()),
    };
    let naive = chrono::NaiveDateTime::parse_from_str(&full, "%Y%m%d%H%M%S").map_err(|_| bad())?;
    if utc {
        return Ok(naive.and_utc());
    }
    naive
        .and_local_timezone(chrono::Local)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(bad)
}

/// Read an authorized_keys file: the entries Pasarela can honour, and one
/// message per entry it refuses (an option it cannot enforce, or a bad
/// `from=` / `expiry-time=`). A refused entry is never used, whatever its key.
pub fn read_authorized_keys(path: &Path) -> anyhow::Result<(Vec<AuthorizedKey>, Vec<String>)> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    parse_authorized_keys(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// [`read_authorized_keys`] on text already read.
pub fn parse_authorized_keys(text: &str) -> anyhow::Result<(Vec<AuthorizedKey>, Vec<String>)> {
    let mut keys = Vec::new();
    let mut refused = Vec::new();
    for (n, entry) in russh::keys::ssh_key::AuthorizedKeys::new(text).enumerate() {
        let e = entry.map_err(|e| anyhow::anyhow!("entry {}: {e}", n + 1))?;
        let mut k = AuthorizedKey {
            key: e.public_key().clone(),
            from: None,
            expires: None,
        };
        let mut problem = None;
        for opt in e.config_opts().iter() {
            let (name, value) = match opt.split_once('=') {
                Some((n, v)) => (n.to_ascii_lowercase(), Some(v)),
                None => (opt.to_ascii_lowercase(), None),
            };
            let r = match (name.as_str(), value) {
                (n, None) if HARMLESS.contains(&n) => Ok(()),
                ("from", Some(v)) => unquote(v)
                    .ok_or_else(|| format!("from={v} is not quoted"))
                    .and_then(parse_from)
                    .map(|p| {
                        k.from.get_or_insert_with(Vec::new).extend(p);
                    }),
                ("expiry-time", Some(v)) => unquote(v)
                    .ok_or_else(|| format!("expiry-time={v} is not quoted"))
                    .and_then(parse_expiry)
                    .map(|t| k.expires = Some(k.expires.map_or(t, |old| old.min(t)))),
                _ => Err(refuse_reason(opt)),
            };
            if let Err(msg) = r {
                problem = Some(msg);
                break;
            }
        }
        match problem {
            None => keys.push(k),
            Some(msg) => refused.push(format!(
                "entry {} ({} {}): {msg}",
                n + 1,
                k.key.algorithm(),
                k.key.fingerprint(russh::keys::HashAlg::Sha256)
            )),
        }
    }
    Ok((keys, refused))
}

/// Why an offered key is not accepted (for the server's debug log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRefusal {
    NotListed,
    Expired,
    SourceNotAllowed,
}

impl KeyRefusal {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyRefusal::NotListed => "key not authorised",
            KeyRefusal::Expired => "key expired (expiry-time)",
            KeyRefusal::SourceNotAllowed => "source address not allowed for this key (from=)",
        }
    }
}

/// Is `offered` authorised for a connection from `ip` at `now`? Compares key
/// material only (comments differ between files); an entry whose
/// `expiry-time` has passed or whose `from=` excludes `ip` does not count
/// (another entry for the same key may).
pub fn key_allowed(
    keys: &[AuthorizedKey],
    offered: &PublicKey,
    ip: IpAddr,
    now: DateTime<Utc>,
) -> Result<(), KeyRefusal> {
    let mut why = KeyRefusal::NotListed;
    for k in keys
        .iter()
        .filter(|k| k.key.key_data() == offered.key_data())
    {
        if k.expires.is_some_and(|t| now >= t) {
            why = KeyRefusal::Expired;
        } else if k.from.as_ref().is_some_and(|f| !from_allows(f, ip)) {
            why = KeyRefusal::SourceNotAllowed;
        } else {
            return Ok(());
        }
    }
    Err(why)
}

/// [`key_allowed`] without the source address: expiry is enforced, and an
/// entry restricted by `from=` never matches (fail closed when the address
/// is not known). Callers that know the peer use [`key_allowed`].
pub fn key_authorised(keys: &[AuthorizedKey], offered: &PublicKey) -> bool {
    let now = Utc::now();
    keys.iter().any(|k| {
        k.key.key_data() == offered.key_data()
            && k.from.is_none()
            && k.expires.is_none_or(|t| now < t)
    })
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

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJPsABY4zXVRbl1JlLeoVzRkdU0qQSQ9k5qx9SXl/ZeK a@b";
    const OTHER: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAII2ct1MXfDuDBF2ktsPTURdhiyR5197PNdHFwF9/XVA/ c@d";

    fn pk(line: &str) -> PublicKey {
        PublicKey::from_openssh(line).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn from_patterns_cidrs_and_negation() {
        let f = parse_from("192.0.2.0/24,!192.0.2.66,10.1.*.?,2001:db8::/32,host.example").unwrap();
        assert!(from_allows(&f, ip("192.0.2.1")));
        assert!(!from_allows(&f, ip("192.0.2.66")), "negated");
        assert!(from_allows(&f, ip("10.1.200.7")));
        assert!(!from_allows(&f, ip("10.1.200.17")), "? is one character");
        assert!(from_allows(&f, ip("::ffff:192.0.2.9")), "mapped IPv4");
        assert!(from_allows(&f, ip("2001:db8:1::5")));
        assert!(!from_allows(&f, ip("198.51.100.1")), "no pattern matches");
        // Negation alone never allows.
        assert!(!from_allows(
            &parse_from("!10.0.0.1").unwrap(),
            ip("10.0.0.2")
        ));
        assert!(parse_from("10.0.0.0/33").is_err());
        assert!(parse_from("a,,b").is_err());
        assert!(glob(b"*.*.*.1", b"10.0.0.1"));
        assert!(!glob(b"*.*.*.1", b"10.0.0.12"));
    }

    #[test]
    fn expiry_time_formats() {
        assert_eq!(
            parse_expiry("20300102Z").unwrap().to_rfc3339(),
            "2030-01-02T00:00:00+00:00"
        );
        assert_eq!(
            parse_expiry("203001021530Z").unwrap().to_rfc3339(),
            "2030-01-02T15:30:00+00:00"
        );
        assert_eq!(
            parse_expiry("20300102153045z").unwrap().to_rfc3339(),
            "2030-01-02T15:30:45+00:00"
        );
        assert!(parse_expiry("20300102").is_ok(), "local time");
        for bad in ["2030010", "20301302", "2030-01-02", "20300102153", ""] {
            assert!(parse_expiry(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn options_are_enforced_or_the_key_is_refused() {
        let text = format!(
            "from=\"192.0.2.0/24,!192.0.2.66\",no-pty {KEY}\n\
             expiry-time=\"20200101Z\",restrict {OTHER}\n\
             command=\"/bin/sh\" {OTHER}\n\
             no-port-forwarding,no-agent-forwarding,no-X11-forwarding,no-user-rc,environment=\"A=b\" {KEY}\n\
             cert-authority {KEY}\n\
             from=\"10.0.0.0/99\" {KEY}\n"
        );
        let (keys, refused) = parse_authorized_keys(&text).unwrap();
        assert_eq!(keys.len(), 2, "{refused:?}");
        assert_eq!(refused.len(), 4, "{refused:?}");
        assert!(
            refused[0].starts_with("entry 3 (ssh-ed25519 SHA256:"),
            "{}",
            refused[0]
        );
        assert!(refused[0].contains("option 'command' cannot be honoured"));
        assert!(refused[1].contains("'environment'"));
        assert!(refused[2].contains("'cert-authority'"));
        assert!(refused[3].contains("not a valid CIDR"));
        let now = Utc::now();
        let (key, other) = (pk(KEY), pk(OTHER));
        assert_eq!(key_allowed(&keys, &key, ip("192.0.2.10"), now), Ok(()));
        assert_eq!(
            key_allowed(&keys, &key, ip("192.0.2.66"), now),
            Err(KeyRefusal::SourceNotAllowed)
        );
        assert_eq!(
            key_allowed(&keys, &key, ip("203.0.113.1"), now),
            Err(KeyRefusal::SourceNotAllowed)
        );
        // Expired (the refused command= entry for the same key is not used).
        assert_eq!(
            key_allowed(&keys, &other, ip("192.0.2.10"), now),
            Err(KeyRefusal::Expired)
        );
        let before = parse_expiry("20191231Z").unwrap();
        assert_eq!(key_allowed(&keys, &other, ip("192.0.2.10"), before), Ok(()));
        // Without the address, a from= entry fails closed.
        assert!(!key_authorised(&keys, &key));
        assert!(!key_authorised(&keys, &other));
        let (plain, _) = parse_authorized_keys(KEY).unwrap();
        assert!(key_authorised(&plain, &key));
        assert!(!key_authorised(&plain, &other));
    }
}
