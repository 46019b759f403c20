//! The result format: one JSON object per processed file.
//!
//! This is the single, documented schema (docs/RESULT_FORMAT.md) that both
//! `pasarela process --json` prints and the daemon writes as
//! `<original-name>.result.json`. Later capabilities add optional fields here;
//! existing field names are a contract with users' scripts and never change.

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

/// How serious a finding is, as DIAN applies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The document cannot be accepted.
    Reject,
    /// Reported to the submitter; does not block acceptance.
    Notify,
}

/// One observation about a file: a DIAN rule code (or a Pasarela code, prefixed
/// `PAS`), its severity and a Spanish message for the submitter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub code: String,
    pub severity: Severity,
    pub message: String,
    /// Element path or sheet/row/column the finding concerns, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

impl Finding {
    pub fn reject(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            severity: Severity::Reject,
            message: message.into(),
            location: None,
        }
    }
    pub fn notify(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            severity: Severity::Notify,
            message: message.into(),
            location: None,
        }
    }
    pub fn at(mut self, location: impl Into<String>) -> Self {
        self.location = Some(location.into());
        self
    }
}

/// The outcome of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Accepted,
    Rejected,
    Review,
    Duplicate,
}

impl Verdict {
    /// Every verdict, in declaration order.
    pub const ALL: &'static [Verdict] = &[
        Verdict::Accepted,
        Verdict::Rejected,
        Verdict::Review,
        Verdict::Duplicate,
    ];

    /// The word in results and in the store (serde's lowercase names agree;
    /// `store::vocab` tests it).
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Accepted => "accepted",
            Verdict::Rejected => "rejected",
            Verdict::Review => "review",
            Verdict::Duplicate => "duplicate",
        }
    }
}

impl std::str::FromStr for Verdict {
    type Err = crate::store::UnknownWord;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        crate::store::vocab::parse_word(Self::ALL, Self::as_str, "verdict", s)
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// File format detected from content (never from the extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Xml,
    Pdf,
    Image,
    Excel,
    Unknown,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Xml => "xml",
            Format::Pdf => "pdf",
            Format::Image => "image",
            Format::Excel => "excel",
            Format::Unknown => "unknown",
        }
    }
    pub fn parse(s: &str) -> Option<Format> {
        Some(match s {
            "xml" => Format::Xml,
            "pdf" => Format::Pdf,
            "image" => Format::Image,
            "excel" => Format::Excel,
            "unknown" => Format::Unknown,
            _ => return None,
        })
    }
}

/// The result object. Field order here is the order in the JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResultDoc {
    /// Original file name (path relative to the account's `incoming/`).
    pub file: String,
    /// Lowercase hex SHA-256 of the file's bytes.
    pub sha256: String,
    pub size: u64,
    pub format: Format,
    /// Root document type for XML (Invoice, CreditNote, DebitNote,
    /// AttachedDocument, ApplicationResponse); null when not known.
    pub document_type: Option<String>,
    pub verdict: Verdict,
    pub findings: Vec<Finding>,
    pub processed_at: DateTime<FixedOffset>,
    /// Store id of the job (absent for `pasarela process`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Name of the route whose steps ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// When `verdict` is `duplicate`: the job id of the first submission.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<i64>,
    /// Key fields of the parsed document (added by the DIAN validation step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<serde_json::Value>,
    /// Per invoice line: the catalog product matched (code, name, score, how),
    /// eligibility, quantity converted to kg or L, candidates when unsure
    /// (added by the `price` step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_lines: Option<serde_json::Value>,
    /// The registration commission: `lines` (rule id and version, base, fee,
    /// explanation trace per line), `total`, `rule_set` (added by `price`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commission: Option<serde_json::Value>,
    /// Fields read from a PDF, image or spreadsheet (value, source, confidence
    /// per field; registration lines for spreadsheets); see docs/FORMATS.md.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extraction: Option<serde_json::Value>,
    /// The registration certificate of an accepted invoice: {number, path, digest}.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<serde_json::Value>,
    /// A credit or debit note: the registration it refers to and what it
    /// changed (`effect`, value and commission before and after); see
    /// docs/RESULT_FORMAT.md.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<serde_json::Value>,
}

/// What is known of a file before any step runs: computed once (at intake
/// for a daemon job, which records it in the job row; from the bytes for
/// `pasarela process`) and carried into its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileIdentity {
    /// Lowercase hex SHA-256 of the bytes.
    pub sha256: String,
    pub size: u64,
    pub format: Format,
}

impl FileIdentity {
    /// Hash and sniff the bytes themselves.
    pub fn of_bytes(bytes: &[u8]) -> FileIdentity {
        FileIdentity {
            sha256: crate::fsutil::sha256_hex(bytes),
            size: bytes.len() as u64,
            format: crate::formats::detect::detect(bytes),
        }
    }
}

impl ResultDoc {
    /// The one constructor: a result with the file's identity and origin
    /// (job and account, absent for `pasarela process` without a store) and
    /// no findings yet (verdict accepted).
    pub fn new(
        file: String,
        id: FileIdentity,
        processed_at: DateTime<FixedOffset>,
        job_id: Option<i64>,
        account: Option<&str>,
    ) -> ResultDoc {
        ResultDoc {
            file,
            sha256: id.sha256,
            size: id.size,
            format: id.format,
            document_type: None,
            verdict: Verdict::Accepted,
            findings: Vec::new(),
            processed_at,
            job_id,
            account: account.map(str::to_string),
            route: None,
            duplicate_of: None,
            document: None,
            registration_lines: None,
            commission: None,
            extraction: None,
            certificate: None,
            note: None,
        }
    }

    /// Decided without running a step: `verdict` because of `finding`
    /// (a file too large, a dead letter).
    pub fn decided(mut self, verdict: Verdict, finding: Finding) -> ResultDoc {
        self.verdict = verdict;
        self.findings.push(finding);
        self
    }
}

/// The document a result is about, as read (from the XML, or the QR, text or
/// OCR of a reading): stored beside the result so the desk finds it by CUFE,
/// supplier NIT or number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocRefs {
    pub cufe: Option<String>,
    pub supplier_nit: Option<String>,
    pub number: Option<String>,
}

impl ResultDoc {
    /// What [`DocRefs`] this result names.
    pub fn refs(&self) -> DocRefs {
        let field = |name: &str| {
            self.extraction
                .as_ref()
                .and_then(|e| e.pointer(&format!("/fields/{name}/value")))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        let doc = |ptr: &str| {
            self.document
                .as_ref()
                .and_then(|d| d.pointer(ptr))
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let clip = |s: Option<String>| s.map(|s| s.chars().take(200).collect::<String>());
        DocRefs {
            cufe: clip(
                doc("/cufe")
                    .or_else(|| doc("/cude"))
                    .or_else(|| field("cufe")),
            ),
            supplier_nit: clip(doc("/supplier/id").or_else(|| field("supplier_nit"))),
            number: clip(doc("/number").or_else(|| field("number"))),
        }
    }
}
