//! `[smtp]` and `[accounts.NAME.notify]`: raw shapes and their compiled form.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::problems::Problems;

/// Template names; each is a file `<templates_dir>/<name>.txt`.
pub const TEMPLATE_NAMES: &[&str] = &[
    "certificate-delivery",
    "processing-notification",
    "error-alert",
    "compliance-report",
];

/// `[smtp]`: the mail relay and delivery policy.
#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct SmtpRaw {
    /// Relay host name or address.
    pub host: String,
    /// Port. Default: 587 for `starttls`, 465 for `tls`, 25 for `plain`.
    pub port: Option<u16>,
    /// `starttls` (default), `tls` (implicit TLS) or `plain` (loopback only).
    pub security: String,
    /// SMTP AUTH user; the password is read from the environment variable
    /// named by `password_env` (never written in the config file).
    pub username: Option<String>,
    pub password_env: Option<String>,
    /// PEM file of CA certificates trusted for the relay's TLS certificate in
    /// addition to the public web roots (a relay with a private CA).
    pub ca_file: Option<String>,
    /// Sender, e.g. `Pasarela <certificados@bolsa.example>`.
    pub from: String,
    /// Administrators: receive error-alerts.
    pub admins: Vec<String>,
    /// Folder of the Spanish templates. Default `config/templates`.
    pub templates_dir: String,
    /// Domain of the generated Message-IDs. Default: the domain of `from`.
    pub message_id_domain: Option<String>,
    /// Attempts before a message is dead (and an error-alert is raised). Default 10.
    pub max_attempts: u32,
    /// Default 5000 ms; doubles each attempt.
    pub initial_backoff_ms: u64,
    /// Default 3600 s.
    pub max_backoff_secs: u64,
    /// Connection and command timeout. Default 30 s.
    pub timeout_secs: u64,
    /// How often the outbox is polled for due messages. Default 1000 ms.
    pub poll_interval_ms: u64,
    /// Messages sent at the same time, each on its own pooled SMTP
    /// connection. Default 4.
    pub connections: u32,
}

impl Default for SmtpRaw {
    fn default() -> Self {
        Self {
            host: String::new(),
            port: None,
            security: "starttls".into(),
            username: None,
            password_env: None,
            ca_file: None,
            from: String::new(),
            admins: Vec::new(),
            templates_dir: "config/templates".into(),
            message_id_domain: None,
            max_attempts: 10,
            initial_backoff_ms: 5000,
            max_backoff_secs: 3600,
            timeout_secs: 30,
            poll_interval_ms: 1000,
            connections: 4,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    StartTls,
    Tls,
    Plain,
}

/// A template: subject line and body with `{{name}}` placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub subject: String,
    pub body: String,
}

impl Template {
    /// Parse `Asunto: ...` + blank line + body.
    pub fn parse(text: &str) -> Result<Template, String> {
        let text = text.replace("\r\n", "\n");
        let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
        let subject = first
            .strip_prefix("Asunto:")
            .ok_or("the first line must be 'Asunto: <subject>'")?
            .trim()
            .to_string();
        if subject.is_empty() {
            return Err("the subject is empty".into());
        }
        Ok(Template {
            subject,
            body: rest.trim_start_matches('\n').to_string(),
        })
    }

    /// Substitute `{{name}}`; an unknown name is an error (a typo in a
    /// template must not reach a regulator).
    pub fn render(&self, vars: &BTreeMap<&str, String>) -> Result<(String, String), String> {
        Ok((fill(&self.subject, vars)?, fill(&self.body, vars)?))
    }
}

/// `{{name}}` substitution (spaces inside the braces allowed).
pub fn fill(text: &str, vars: &BTreeMap<&str, String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| "unclosed '{{' in template".to_string())?;
        let name = after[..end].trim();
        let v = vars
            .get(name)
            .ok_or_else(|| format!("unknown template variable '{name}'"))?;
        out.push_str(v);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The compiled `[smtp]` section.
#[derive(Debug, Clone)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub username: Option<String>,
    pub password_env: Option<String>,
    /// The PEM text of `ca_file`, read and checked when the config loads.
    pub ca_pem: Option<Vec<u8>>,
    pub from: String,
    pub admins: Vec<String>,
    pub message_id_domain: String,
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub timeout: Duration,
    pub poll_interval: Duration,
    pub connections: u32,
    pub templates_dir: PathBuf,
    pub templates: BTreeMap<String, Template>,
}

impl Smtp {
    /// Backoff after attempt `attempt` (from 1), doubling, capped.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(30));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }

    pub fn template(&self, name: &str) -> Option<&Template> {
        self.templates.get(name)
    }
}

/// How many PEM certificates `pem` holds (0 when any of them is malformed).
fn pem_certificates(pem: &[u8]) -> usize {
    if lettre::transport::smtp::client::Certificate::from_pem(pem).is_err() {
        return 0;
    }
    String::from_utf8_lossy(pem)
        .matches("-----BEGIN CERTIFICATE-----")
        .count()
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The address part of `Name <addr>` or `addr`.
pub fn address_of(s: &str) -> &str {
    match (s.find('<'), s.rfind('>')) {
        (Some(a), Some(b)) if a < b => s[a + 1..b].trim(),
        _ => s.trim(),
    }
}

pub fn looks_like_email(s: &str) -> bool {
    let a = address_of(s);
    match a.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && domain.contains('.') && !a.contains(char::is_whitespace)
        }
        None => false,
    }
}

impl SmtpRaw {
    pub fn compile(
        self,
        file: &Path,
        key: &str,
        resolve: &dyn Fn(&str) -> PathBuf,
        p: &mut Problems,
    ) -> Smtp {
        let security = match self.security.as_str() {
            "starttls" => Security::StartTls,
            "tls" => Security::Tls,
            "plain" => Security::Plain,
            other => {
                p.error(
                    file,
                    format!("{key}.security"),
                    format!("'{other}' is not one of: starttls, tls, plain"),
                );
                Security::StartTls
            }
        };
        if self.host.trim().is_empty() {
            p.error(file, format!("{key}.host"), "the relay host is required");
        }
        if security == Security::Plain && !self.host.is_empty() && !is_loopback(&self.host) {
            p.error(
                file,
                format!("{key}.security"),
                "plain SMTP (no TLS) is only allowed to a loopback relay (127.0.0.1, ::1, localhost)",
            );
        }
        if self.username.is_some() != self.password_env.is_some() {
            p.error(
                file,
                format!("{key}.username"),
                "username and password_env go together",
            );
        }
        let ca_pem = self.ca_file.as_deref().and_then(|f| {
            if security == Security::Plain {
                p.error(
                    file,
                    format!("{key}.ca_file"),
                    "ca_file needs security = \"starttls\" or \"tls\"",
                );
                return None;
            }
            let path = resolve(f);
            match std::fs::read(&path) {
                Ok(pem) if pem_certificates(&pem) > 0 => Some(pem),
                Ok(_) => {
                    p.error(
                        file,
                        format!("{key}.ca_file"),
                        format!("{} holds no PEM certificate", path.display()),
                    );
                    None
                }
                Err(e) => {
                    p.error(
                        file,
                        format!("{key}.ca_file"),
                        format!("{} cannot be read: {e}", path.display()),
                    );
                    None
                }
            }
        });
        if !looks_like_email(&self.from) {
            p.error(
                file,
                format!("{key}.from"),
                format!("'{}' is not an e-mail address", self.from),
            );
        }
        for (i, a) in self.admins.iter().enumerate() {
            if !looks_like_email(a) {
                p.error(
                    file,
                    format!("{key}.admins[{i}]"),
                    format!("'{a}' is not an e-mail address"),
                );
            }
        }
        if self.max_attempts == 0 {
            p.error(file, format!("{key}.max_attempts"), "must be at least 1");
        }
        if self.initial_backoff_ms == 0 {
            p.error(
                file,
                format!("{key}.initial_backoff_ms"),
                "must be at least 1",
            );
        }
        let templates_dir = resolve(&self.templates_dir);
        let mut templates = BTreeMap::new();
        for name in TEMPLATE_NAMES {
            let f = templates_dir.join(format!("{name}.txt"));
            match std::fs::read_to_string(&f) {
                Ok(text) => match Template::parse(&text) {
                    Ok(t) => {
                        templates.insert(name.to_string(), t);
                    }
                    Err(e) => p.error(
                        file,
                        format!("{key}.templates_dir"),
                        format!("{}: {e}", f.display()),
                    ),
                },
                Err(e) => p.error(
                    file,
                    format!("{key}.templates_dir"),
                    format!("template {} cannot be read: {e}", f.display()),
                ),
            }
        }
        let domain = self.message_id_domain.clone().unwrap_or_else(|| {
            address_of(&self.from)
                .rsplit_once('@')
                .map(|(_, d)| d.to_string())
                .unwrap_or_else(|| "pasarela.local".into())
        });
        Smtp {
            port: self.port.unwrap_or(match security {
                Security::StartTls => 587,
                Security::Tls => 465,
                Security::Plain => 25,
            }),
            host: self.host,
            security,
            username: self.username,
            password_env: self.password_env,
            ca_pem,
            from: self.from,
            admins: self.admins,
            message_id_domain: domain,
            max_attempts: self.max_attempts.max(1),
            initial_backoff: Duration::from_millis(self.initial_backoff_ms.max(1)),
            max_backoff: Duration::from_secs(self.max_backoff_secs),
            timeout: Duration::from_secs(self.timeout_secs.max(1)),
            poll_interval: Duration::from_millis(self.poll_interval_ms.max(10)),
            connections: self.connections.clamp(1, 64),
            templates_dir,
            templates,
        }
    }
}

/// `[accounts.NAME.notify]`: who receives an account's e-mails besides `email`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NotifyRaw {
    /// Extra addresses for certificates and processing notifications.
    pub to: Vec<String>,
    /// Also send to the e-mail addresses found in the invoice (supplier/customer). Default false.
    pub invoice_addresses: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Notify {
    pub to: Vec<String>,
    pub invoice_addresses: bool,
}

impl NotifyRaw {
    pub fn compile(self, file: &Path, key: &str, p: &mut Problems) -> Notify {
        for (i, a) in self.to.iter().enumerate() {
            if !looks_like_email(a) {
                p.error(
                    file,
                    format!("{key}.to[{i}]"),
                    format!("'{a}' is not an e-mail address"),
                );
            }
        }
        Notify {
            to: self.to,
            invoice_addresses: self.invoice_addresses,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse_and_fill_strictly() {
        let t = Template::parse("Asunto: Certificado {{numero}}\n\nHola {{ cuenta }}.\n").unwrap();
        assert_eq!(t.subject, "Certificado {{numero}}");
        let mut v = BTreeMap::new();
        v.insert("numero", "2026-000001".to_string());
        v.insert("cuenta", "demo".to_string());
        let (s, b) = t.render(&v).unwrap();
        assert_eq!(s, "Certificado 2026-000001");
        assert_eq!(b, "Hola demo.\n");
        v.remove("cuenta");
        assert!(t.render(&v).unwrap_err().contains("cuenta"));
        assert!(Template::parse("Subject: x\n\nbody").is_err());
        assert!(fill("{{abierto", &v).is_err());
    }

    #[test]
    fn shipped_templates_load() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/templates");
        for name in TEMPLATE_NAMES {
            let text = std::fs::read_to_string(dir.join(format!("{name}.txt"))).unwrap();
            Template::parse(&text).unwrap();
        }
    }

    #[test]
    fn addresses() {
        assert_eq!(address_of("Pasarela <a@b.co>"), "a@b.co");
        assert!(looks_like_email("Pasarela <a@b.co>"));
        assert!(!looks_like_email("nope"));
        assert!(is_loopback("127.0.0.1") && is_loopback("::1") && !is_loopback("10.0.0.1"));
    }
}
