//! The outcome of a verification: one [`Check`] per [`CheckKind`], the
//! report that holds them, and the findings they become.

use chrono::{DateTime, FixedOffset};

use crate::result::Finding;

/// One verification step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckKind {
    /// A `ds:Signature` is present.
    Present,
    /// `SignedInfo`, references and algorithms are well formed and supported.
    Structure,
    /// Digest of the whole document (enveloped-signature transform).
    DocumentDigest,
    /// Digest of `ds:KeyInfo`.
    KeyInfoDigest,
    /// Digest of `xades:SignedProperties`.
    SignedPropertiesDigest,
    /// The RSA `SignatureValue` over canonical `SignedInfo`.
    SignatureValue,
    /// `xades:SigningCertificate` names the signer's certificate.
    SigningCertificate,
    /// `xades:SigningTime` present, readable, not in the future.
    SigningTime,
    /// DIAN's signature policy and its hash.
    Policy,
    /// The certificates were valid at the signing time.
    Validity,
    /// A chain to a trust anchor, with verified signatures and CA issuers.
    Chain,
    /// Not revoked by an offline CRL before the signing time.
    Revocation,
    /// The signer's key usage allows signing.
    KeyUsage,
}

impl CheckKind {
    pub const ALL: [CheckKind; 13] = [
        CheckKind::Present,
        CheckKind::Structure,
        CheckKind::DocumentDigest,
        CheckKind::KeyInfoDigest,
        CheckKind::SignedPropertiesDigest,
        CheckKind::SignatureValue,
        CheckKind::SigningCertificate,
        CheckKind::SigningTime,
        CheckKind::Policy,
        CheckKind::Validity,
        CheckKind::Chain,
        CheckKind::Revocation,
        CheckKind::KeyUsage,
    ];

    /// DIAN's rule code, or Pasarela's where DIAN has none.
    pub fn code(self) -> &'static str {
        match self {
            CheckKind::Present => "PAS15",
            CheckKind::Structure => "PAS16",
            CheckKind::DocumentDigest
            | CheckKind::KeyInfoDigest
            | CheckKind::SignedPropertiesDigest
            | CheckKind::SignatureValue => "ZE02",
            CheckKind::SigningCertificate => "PAS17",
            CheckKind::Policy => "PAS18",
            CheckKind::SigningTime => "PAS19",
            CheckKind::Validity => "ZD04",
            CheckKind::Chain => "ZD05",
            CheckKind::Revocation => "ZD06",
            CheckKind::KeyUsage => "ZD07",
        }
    }

    /// Checks `xmlsec1 --verify` makes too (the differential test compares
    /// these); policy, signing certificate, signing time and key usage are
    /// XAdES/DIAN checks beyond plain XML-DSig.
    pub fn is_xmldsig(self) -> bool {
        matches!(
            self,
            CheckKind::Present
                | CheckKind::Structure
                | CheckKind::DocumentDigest
                | CheckKind::KeyInfoDigest
                | CheckKind::SignedPropertiesDigest
                | CheckKind::SignatureValue
                | CheckKind::Validity
                | CheckKind::Chain
                | CheckKind::Revocation
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Ok,
    /// Failed, with a Spanish reason for the submitter.
    Failed(String),
    /// Not checked, and why (an earlier failure).
    NotChecked(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub kind: CheckKind,
    pub status: Status,
}

/// The outcome of verifying one document's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureReport {
    /// One entry per [`CheckKind`], in [`CheckKind::ALL`] order.
    pub checks: Vec<Check>,
    /// `xades:SigningTime`, when readable.
    pub signing_time: Option<DateTime<FixedOffset>>,
    /// The signer's certificate subject, when identified.
    pub signer: Option<String>,
    /// Subjects from the signer to the trust anchor, when a chain was found.
    pub chain: Vec<String>,
}

impl SignatureReport {
    pub(super) fn new() -> Self {
        Self {
            checks: CheckKind::ALL
                .iter()
                .map(|k| Check {
                    kind: *k,
                    status: Status::NotChecked("no se llegó a esta comprobación".to_owned()),
                })
                .collect(),
            signing_time: None,
            signer: None,
            chain: Vec::new(),
        }
    }

    pub(super) fn set(&mut self, kind: CheckKind, status: Status) {
        if let Some(c) = self.checks.iter_mut().find(|c| c.kind == kind) {
            c.status = status;
        }
    }
    pub(super) fn ok(&mut self, kind: CheckKind) {
        self.set(kind, Status::Ok);
    }
    pub(super) fn fail(&mut self, kind: CheckKind, reason: impl Into<String>) {
        self.set(kind, Status::Failed(reason.into()));
    }
    pub(super) fn skip_rest(&mut self, reason: &str) {
        for c in &mut self.checks {
            if matches!(c.status, Status::NotChecked(_)) {
                c.status = Status::NotChecked(reason.to_owned());
            }
        }
    }

    pub fn status(&self, kind: CheckKind) -> &Status {
        self.checks
            .iter()
            .find(|c| c.kind == kind)
            .map(|c| &c.status)
            .unwrap_or(&Status::Ok)
    }

    /// Every check passed.
    pub fn valid(&self) -> bool {
        self.checks.iter().all(|c| c.status == Status::Ok)
    }

    /// The XML-DSig checks (those `xmlsec1 --verify` makes) all passed.
    pub fn xmldsig_valid(&self) -> bool {
        self.checks
            .iter()
            .filter(|c| c.kind.is_xmldsig())
            .all(|c| c.status == Status::Ok)
    }

    /// Failed checks as findings (default severity: reject), one per check.
    pub fn findings(&self) -> Vec<Finding> {
        self.checks
            .iter()
            .filter_map(|c| match &c.status {
                Status::Failed(reason) => Some(
                    Finding::reject(
                        c.kind.code(),
                        format!("Regla: {}, Rechazo: {reason}", c.kind.code()),
                    )
                    .at("/ds:Signature"),
                ),
                _ => None,
            })
            .collect()
    }
}

/// Which signed part of a file a report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The received document itself (the container for an AttachedDocument).
    Root,
    /// The invoice or note inside an AttachedDocument.
    Embedded,
    /// DIAN's ApplicationResponse inside an AttachedDocument.
    DianResponse,
}
