//! `[reports]` and `[certificates]`: raw shapes and compiled form.

use std::path::Path;

use chrono::NaiveTime;
use serde::Deserialize;

use crate::problems::Problems;

/// `[reports]`: daily and monthly reports for regulators.
#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct ReportsRaw {
    /// Publish automatically. Default true.
    pub scheduled: bool,
    /// Time of day (America/Bogota, `HH:MM`) at which the previous day's
    /// report is published; on the 1st the previous month's summary too. Default `06:00`.
    pub daily_at: String,
    /// Accounts (regulators) whose `outgoing/commission-reports/` and
    /// `outgoing/compliance-documents/` receive the reports.
    pub accounts: Vec<String>,
    /// Addresses that receive the compliance-report e-mail when a report is published.
    pub recipients: Vec<String>,
}

impl Default for ReportsRaw {
    fn default() -> Self {
        Self {
            scheduled: true,
            daily_at: "06:00".into(),
            accounts: Vec::new(),
            recipients: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Reports {
    pub scheduled: bool,
    pub daily_at: NaiveTime,
    pub accounts: Vec<String>,
    pub recipients: Vec<String>,
}

impl ReportsRaw {
    pub fn compile(self, file: &Path, key: &str, accounts: &[String], p: &mut Problems) -> Reports {
        let daily_at = match NaiveTime::parse_from_str(&self.daily_at, "%H:%M") {
            Ok(t) => t,
            Err(_) => {
                p.error(
                    file,
                    format!("{key}.daily_at"),
                    format!("'{}' is not a time of day HH:MM", self.daily_at),
                );
                NaiveTime::MIN
            }
        };
        for (i, a) in self.accounts.iter().enumerate() {
            if !accounts.contains(a) {
                p.error(
                    file,
                    format!("{key}.accounts[{i}]"),
                    format!("no account named '{a}'"),
                );
            }
        }
        for (i, a) in self.recipients.iter().enumerate() {
            if !crate::outbox::config::looks_like_email(a) {
                p.error(
                    file,
                    format!("{key}.recipients[{i}]"),
                    format!("'{a}' is not an e-mail address"),
                );
            }
        }
        Reports {
            scheduled: self.scheduled,
            daily_at,
            accounts: self.accounts,
            recipients: self.recipients,
        }
    }
}

/// `[certificates]`
#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct CertificatesRaw {
    /// Issuer printed on every certificate.
    pub issuer: String,
}

impl Default for CertificatesRaw {
    fn default() -> Self {
        Self {
            issuer: "Bolsa Mercantil de Colombia S.A.".into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Certificates {
    pub issuer: String,
}

impl Default for Certificates {
    fn default() -> Self {
        CertificatesRaw::default().compile()
    }
}

impl CertificatesRaw {
    pub fn compile(self) -> Certificates {
        Certificates {
            issuer: self.issuer,
        }
    }
}
