//! The review queue's model (docs/REVIEW.md): why a file waits for an
//! operator ([`Reason`], decided from its findings), and what an operator
//! decides ([`Decision`]). One model for every reason; the store keeps the
//! queue (`store::review`), `pasarela review` and the desk are its front
//! ends, and the pipeline applies a decision on the job's next run.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::result::Finding;

/// Why a job is in review. Stored as its word (`jobs.review_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// A PDF, scan or sheet whose fields were not all read with confidence.
    LowConfidence,
    /// A document read from a PDF, scan or sheet whose electronic invoice
    /// (XML) has not arrived.
    AwaitingXml,
    /// A line whose product could not be identified in the catalog.
    UnmatchedProduct,
    /// A credit or debit note whose invoice is not registered or cannot be
    /// matched.
    NoteWithoutInvoice,
    /// A buyer's reclamo (RADIAN 031) about the invoice.
    Claim,
    /// The route requires the buyer's acceptance (RADIAN 033/034).
    AwaitingAcceptance,
    /// Processing failed (internal error, retries exhausted, a file that
    /// kills its worker): a dead letter.
    DeadLetter,
    /// A route that sends files to people (`hold-for-review`).
    Manual,
    Other,
}

impl Reason {
    pub const ALL: &'static [Reason] = &[
        Reason::LowConfidence,
        Reason::AwaitingXml,
        Reason::UnmatchedProduct,
        Reason::NoteWithoutInvoice,
        Reason::Claim,
        Reason::AwaitingAcceptance,
        Reason::DeadLetter,
        Reason::Manual,
        Reason::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::LowConfidence => "low_confidence",
            Reason::AwaitingXml => "awaiting_xml",
            Reason::UnmatchedProduct => "unmatched_product",
            Reason::NoteWithoutInvoice => "note_without_invoice",
            Reason::Claim => "claim",
            Reason::AwaitingAcceptance => "awaiting_acceptance",
            Reason::DeadLetter => "dead_letter",
            Reason::Manual => "manual",
            Reason::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Reason> {
        Reason::ALL.iter().copied().find(|r| r.as_str() == s)
    }

    /// Spanish, for people (the desk, notices).
    pub fn label(self) -> &'static str {
        match self {
            Reason::LowConfidence => "Lectura con baja confianza",
            Reason::AwaitingXml => "A la espera de la factura electrónica",
            Reason::UnmatchedProduct => "Producto no identificado",
            Reason::NoteWithoutInvoice => "Nota sin factura registrada",
            Reason::Claim => "Reclamo del adquirente",
            Reason::AwaitingAcceptance => "A la espera de la aceptación",
            Reason::DeadLetter => "Error de procesamiento",
            Reason::Manual => "Revisión manual",
            Reason::Other => "Otra",
        }
    }
}

/// The codes that put a file in review, by reason, most specific first.
const BY_CODE: &[(&str, Reason)] = &[
    ("PAS90", Reason::DeadLetter),
    ("PAS91", Reason::DeadLetter),
    ("PAS84", Reason::Claim),
    ("PAS87", Reason::Claim),
    ("PAS86", Reason::AwaitingAcceptance),
    ("PAS71", Reason::NoteWithoutInvoice),
    ("PAS72", Reason::NoteWithoutInvoice),
    ("PAS75", Reason::NoteWithoutInvoice),
    ("PAS78", Reason::NoteWithoutInvoice),
    ("PAS88", Reason::AwaitingXml),
    ("PAS92", Reason::LowConfidence),
    ("PAS60", Reason::UnmatchedProduct),
    ("PAS61", Reason::UnmatchedProduct),
    ("PAS62", Reason::UnmatchedProduct),
    ("PAS63", Reason::UnmatchedProduct),
    ("PAS64", Reason::UnmatchedProduct),
    ("PAS69", Reason::UnmatchedProduct),
    ("PAS70", Reason::UnmatchedProduct),
    ("PAS82", Reason::Manual),
];

/// Why a result with verdict `review` is in review, from its findings.
/// Readings held for confidence carry `PAS5xx` codes (docs/FORMATS.md).
pub fn reason_of(findings: &[Finding]) -> Reason {
    for (code, reason) in BY_CODE {
        if findings.iter().any(|f| f.code == *code) {
            return *reason;
        }
    }
    if findings.iter().any(|f| f.code.starts_with("PAS5")) {
        return Reason::LowConfidence;
    }
    Reason::Other
}

/// An operator's decision on a job in review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Continue the job's route: holds for review are waived, `corrections`
    /// (field → value) replace what was read.
    Approve {
        operator: String,
        corrections: BTreeMap<String, String>,
    },
    /// Refuse the file: the sender's result says `reason` (Spanish).
    Reject { operator: String, reason: String },
}

impl Decision {
    pub fn operator(&self) -> &str {
        match self {
            Decision::Approve { operator, .. } | Decision::Reject { operator, .. } => operator,
        }
    }

    pub fn word(&self) -> &'static str {
        match self {
            Decision::Approve { .. } => "approve",
            Decision::Reject { .. } => "reject",
        }
    }

    /// Build an approval from `FIELD=VALUE` corrections, each checked by
    /// [`parse_correction`]; the first bad one is the error.
    pub fn approve<'a>(
        operator: &str,
        corrections: impl IntoIterator<Item = &'a str>,
    ) -> Result<Decision, String> {
        let mut map = BTreeMap::new();
        for c in corrections {
            let (k, v) = parse_correction(c)?;
            map.insert(k, v);
        }
        Ok(Decision::Approve {
            operator: operator.to_owned(),
            corrections: map,
        })
    }

    /// What every front end checks before recording a decision (the CLI's
    /// `pasarela review` and the desk): who decides, and why a reject.
    pub fn check(&self) -> Result<(), &'static str> {
        if self.operator().trim().is_empty() {
            return Err("the operator who decides must be named");
        }
        if let Decision::Reject { reason, .. } = self
            && reason.trim().is_empty()
        {
            return Err("a rejection says why (the sender reads it)");
        }
        Ok(())
    }
}

/// A decision as the pipeline sees it on the job's next run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub id: i64,
    pub decision: Decision,
}

/// The fields an approval may correct: the extraction's header fields
/// (docs/FORMATS.md) and each line's catalog code (`line.N.code`, N from 1).
pub const FIELDS: &[&str] = &[
    "number",
    "prefix",
    "issue_date",
    "due_date",
    "supplier_name",
    "supplier_nit",
    "supplier_dv",
    "customer_name",
    "customer_id_type",
    "customer_id",
    "customer_dv",
    "subtotal",
    "tax_iva",
    "tax_other",
    "total",
    "cufe",
];

/// Check one `FIELD=VALUE` correction; the error says what is accepted.
pub fn parse_correction(s: &str) -> Result<(String, String), String> {
    let (field, value) = s
        .split_once('=')
        .ok_or_else(|| format!("'{s}': expected FIELD=VALUE"))?;
    let (field, value) = (field.trim(), value.trim());
    let line_code = field
        .strip_prefix("line.")
        .and_then(|r| r.strip_suffix(".code"))
        .is_some_and(|n| n.parse::<usize>().is_ok_and(|n| n >= 1));
    if !FIELDS.contains(&field) && !line_code {
        return Err(format!(
            "'{field}' cannot be corrected (fields: {}, line.N.code)",
            FIELDS.join(", ")
        ));
    }
    if value.is_empty() {
        return Err(format!("'{field}': the value is empty"));
    }
    let digits = |v: &str| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
    let ok = match field {
        "issue_date" | "due_date" => chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").is_ok(),
        "subtotal" | "tax_iva" | "tax_other" | "total" => value
            .parse::<rust_decimal::Decimal>()
            .is_ok_and(|d| d >= rust_decimal::Decimal::ZERO),
        "supplier_nit" | "customer_id" => digits(value),
        "supplier_dv" | "customer_dv" => value.len() == 1 && digits(value),
        "customer_id_type" => matches!(value, "nit" | "cc" | "other"),
        "cufe" => value.len() == 96 && value.bytes().all(|b| b.is_ascii_hexdigit()),
        _ if line_code => digits(value),
        _ => true,
    };
    if !ok {
        return Err(format!(
            "'{field}={value}': not a valid value (dates YYYY-MM-DD, amounts plain decimals, NITs and codes digits only, cufe 96 hex characters, customer_id_type nit|cc|other)"
        ));
    }
    Ok((field.to_owned(), value.to_owned()))
}

/// The catalog code an approval gives line `n` (1-based), if any.
pub fn line_code(corrections: &BTreeMap<String, String>, n: usize) -> Option<&str> {
    corrections
        .get(&format!("line.{n}.code"))
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_round_trip_and_come_from_codes() {
        for r in Reason::ALL {
            assert_eq!(Reason::parse(r.as_str()), Some(*r));
        }
        let f = |c: &str| vec![Finding::notify(c.to_owned(), "x")];
        assert_eq!(reason_of(&f("PAS90")), Reason::DeadLetter);
        assert_eq!(reason_of(&f("PAS88")), Reason::AwaitingXml);
        assert_eq!(reason_of(&f("PAS512")), Reason::LowConfidence);
        assert_eq!(reason_of(&f("PAS61")), Reason::UnmatchedProduct);
        assert_eq!(reason_of(&f("ZZ")), Reason::Other);
    }

    #[test]
    fn corrections_are_checked() {
        assert_eq!(
            parse_correction("total=1500.00"),
            Ok(("total".into(), "1500.00".into()))
        );
        assert!(parse_correction("line.2.code=1234").is_ok());
        assert!(parse_correction("line.0.code=1").is_err());
        assert!(parse_correction("price=3").is_err());
        assert!(parse_correction("total=").is_err());
        assert!(parse_correction("total").is_err());
        assert!(parse_correction("issue_date=07/12/2026").is_err());
        assert!(parse_correction("issue_date=2026-12-07").is_ok());
        assert!(parse_correction("total=1.234,5").is_err());
        assert!(parse_correction("cufe=abc").is_err());
        assert!(parse_correction("supplier_nit=900.373.991").is_err());
    }
}

/// `[review]` as written.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct ReviewRaw {
    /// Items in review longer than this are overdue: counted by the
    /// `pasarela_review_overdue` metric and shown by `status`. Default 48.
    pub max_age_hours: Option<u64>,
    /// A document read from a PDF, scan or sheet waits this long for its
    /// electronic invoice, which resolves it by itself; after that it waits
    /// for an operator. Default 30.
    pub awaiting_xml_days: Option<u64>,
}

/// `[review]`, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewSettings {
    pub max_age: std::time::Duration,
    pub awaiting_xml: std::time::Duration,
}

impl Default for ReviewSettings {
    fn default() -> Self {
        ReviewRaw::default().settings()
    }
}

impl ReviewRaw {
    fn settings(&self) -> ReviewSettings {
        ReviewSettings {
            max_age: std::time::Duration::from_secs(
                self.max_age_hours.unwrap_or(48).saturating_mul(3600),
            ),
            awaiting_xml: std::time::Duration::from_secs(
                self.awaiting_xml_days.unwrap_or(30).saturating_mul(86_400),
            ),
        }
    }

    /// Compile `[review]` (`key` in `file`); every problem goes to `p`.
    pub fn compile(
        self,
        file: &std::path::Path,
        key: &str,
        p: &mut crate::problems::Problems,
    ) -> ReviewSettings {
        if self.max_age_hours == Some(0) {
            p.error(file, format!("{key}.max_age_hours"), "must be at least 1");
        }
        if self.awaiting_xml_days.is_some_and(|d| d > 3650) {
            p.error(
                file,
                format!("{key}.awaiting_xml_days"),
                "must be at most 3650",
            );
        }
        self.settings()
    }
}
