//! Registration certificates: data → PDF/A-3b bytes + digest, and verification.
//!
//! **Architecture Invariant:** this module is pure. No IO, no clock, no store:
//! [`render`] turns a [`CertificateData`] into bytes, [`verify`] turns bytes
//! and a lookup function into a [`Verification`]. Numbering, storage and
//! delivery live in `certificate::issue` (which calls the store).
//!
//! The digest is SHA-256 over the *canonical serialization* of the data
//! ([`canonical_json`]: serde_json with the struct's field order, decimals as
//! strings). That exact JSON is embedded uncompressed in the PDF as the
//! associated file `certificado.json` (PDF/A-3 allows it), so a verifier can
//! recompute the digest from the file alone and compare it with the store's.
//! The digest is also printed (as the verification code) and carried by the QR.
//!
//! Rendering is deterministic: the same data gives the same bytes (the PDF's
//! dates come from `registered_at`, fonts are embedded from `fixtures/fonts/`).

pub mod issue;
mod layout;

pub use issue::{
    Entry, IssueError, IssuedCertificate, NoteEntry, issue_certificate, issue_certificate_entry,
    processing_notification,
};

use chrono::{DateTime, FixedOffset, NaiveDate};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Tag at the start of the embedded canonical JSON; also how [`verify`] finds it.
pub const SCHEMA: &str = "pasarela-certificado-v1";
/// Name of the associated file inside the PDF.
pub const EMBEDDED_NAME: &str = "certificado.json";

/// Everything a certificate states. Field order is part of the canonical form:
/// never reorder; add new fields only at the end with `#[serde(default)]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CertificateData {
    /// `YYYY-NNNNNN`, sequential per year; empty until issued.
    pub number: String,
    pub registered_at: DateTime<FixedOffset>,
    /// Who issues the certificate (the exchange), printed in the header.
    pub issuer: String,
    /// Account (broker or company) that submitted the invoice.
    pub account: String,
    pub invoice: InvoiceRef,
    pub supplier: Party,
    pub customer: Party,
    pub lines: Vec<Line>,
    /// Sum of the registered lines' values.
    pub total_value: Decimal,
    pub commission: Commission,
    /// Set when this certificate reissues a registration after a credit or
    /// debit note: the lines, value and commission above are the
    /// registration as it stands after the note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adjustment: Option<Adjustment>,
}

/// What a credit or debit note changed in a registration (docs/NOTES.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Adjustment {
    pub effect: Effect,
    /// `CreditNote` or `DebitNote`.
    pub note_type: String,
    pub note_number: String,
    pub note_cude: String,
    pub note_issue_date: NaiveDate,
    /// DIAN's concept code (DiscrepancyResponse/ResponseCode) and its name.
    pub concept: String,
    pub concept_name: String,
    /// The certificate this one replaces (the registration's latest).
    pub replaces: String,
    /// The invoice's first certificate.
    pub original: String,
    pub value_before: Decimal,
    pub commission_before: Decimal,
}

/// A note's effect on its registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Effect {
    /// Value and commission changed; the registration stands.
    #[serde(rename = "adjust")]
    Adjust,
    /// The registration is annulled: nothing registered, no commission.
    #[serde(rename = "cancel")]
    Cancel,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Adjust => "adjust",
            Effect::Cancel => "cancel",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvoiceRef {
    pub number: String,
    /// CUFE (invoice) or CUDE (credit/debit note).
    pub cufe_or_cude: String,
    pub issue_date: NaiveDate,
    #[serde(default)]
    pub due_date: Option<NaiveDate>,
    /// e.g. `Invoice`, `CreditNote`.
    pub document_type: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Party {
    pub name: String,
    /// Identification number (NIT without DV, C.C., ...).
    pub id: String,
    /// NIT check digit, when the id is a NIT.
    #[serde(default)]
    pub dv: Option<String>,
    /// `NIT`, `CC`, `CE`, ... (DIAN's schemeName codes 31, 13, ... may be mapped by the caller).
    pub id_type: String,
    /// E-mail address from the invoice, if any (used only when the account
    /// opts in with `notify.invoice_addresses`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl Party {
    /// `NIT 900123456-7` or `CC 123`.
    pub fn identification(&self) -> String {
        match &self.dv {
            Some(dv) if !dv.is_empty() => format!("{} {}-{}", self.id_type, self.id, dv),
            _ => format!("{} {}", self.id_type, self.id),
        }
    }
}

/// Unit of a registered quantity: the registration standard is kg or L;
/// products the catalog registers per unit (`UNIDAD`) keep a count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Unit {
    #[serde(rename = "kg")]
    Kg,
    #[serde(rename = "L")]
    L,
    #[serde(rename = "unidades")]
    Units,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Kg => "kg",
            Unit::L => "L",
            Unit::Units => "unidades",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Line {
    /// Subyacente code in the exchange's catalog.
    pub catalog_code: String,
    pub catalog_name: String,
    pub quantity: Decimal,
    pub unit: Unit,
    pub value: Decimal,
    /// Why the line is eligible (e.g. `Elegible: producto NATURAL`).
    pub eligibility: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Commission {
    pub total: Decimal,
    pub rule_id: String,
    pub rule_version: String,
}

/// A rendered certificate.
#[derive(Debug, Clone)]
pub struct Certificate {
    pub pdf: Vec<u8>,
    /// Lowercase hex SHA-256 over [`canonical_json`].
    pub digest: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    #[error("certificate data is incomplete: {0}")]
    Incomplete(String),
    #[error("PDF export failed: {0}")]
    Pdf(String),
    #[error("serialization failed: {0}")]
    Serialize(String),
}

#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    schema: String,
    data: T,
}

/// The canonical serialization the digest is computed over (and that is
/// embedded in the PDF).
pub fn canonical_json(data: &CertificateData) -> Result<Vec<u8>, CertificateError> {
    serde_json::to_vec(&Envelope {
        schema: SCHEMA.to_string(),
        data,
    })
    .map_err(|e| CertificateError::Serialize(e.to_string()))
}

/// SHA-256 (hex) over the canonical serialization.
pub fn digest(data: &CertificateData) -> Result<String, CertificateError> {
    Ok(hex::encode(Sha256::digest(canonical_json(data)?)))
}

/// The verification code printed on the certificate: the digest in groups of 8.
pub fn verification_code(digest: &str) -> String {
    digest
        .as_bytes()
        .chunks(8)
        .map(|c| String::from_utf8_lossy(c).to_uppercase())
        .collect::<Vec<_>>()
        .join(" ")
}

/// What the QR code carries: certificate number, CUFE and digest.
pub fn qr_payload(data: &CertificateData, digest: &str) -> String {
    format!(
        "CERT:{}|CUFE:{}|SHA256:{}",
        data.number, data.invoice.cufe_or_cude, digest
    )
}

/// What would make [`render`] fail on this data, checked without rendering
/// (so that a certificate number is never taken for data that cannot be
/// rendered). `numbered`: the number must already be set. Characters the
/// fonts lack are not an error: they are drawn as `?` (the embedded data
/// keeps them).
pub fn check_renderable(data: &CertificateData, numbered: bool) -> Result<(), CertificateError> {
    check_fields(data, numbered)?;
    // The QR carries number, CUFE and digest; it must fit a QR code.
    let probe = qr_payload(data, &"0".repeat(64));
    layout::qr_modules(probe.as_bytes()).map_err(|e| {
        CertificateError::Incomplete(format!(
            "the CUFE/CUDE ({} bytes) does not fit the certificate's QR code: {e}",
            data.invoice.cufe_or_cude.len()
        ))
    })?;
    Ok(())
}

/// The fields rendering needs. (`render` runs only this part: its layout
/// encodes the real QR anyway, so the probe would be done twice.)
fn check_fields(data: &CertificateData, numbered: bool) -> Result<(), CertificateError> {
    if numbered && data.number.trim().is_empty() {
        return Err(CertificateError::Incomplete(
            "the certificate has no number".into(),
        ));
    }
    if data.invoice.cufe_or_cude.trim().is_empty() {
        return Err(CertificateError::Incomplete(
            "the invoice has no CUFE".into(),
        ));
    }
    Ok(())
}

/// Render the certificate. Pure: same data, same bytes.
pub fn render(data: &CertificateData) -> Result<Certificate, CertificateError> {
    check_fields(data, true)?;
    let canonical = canonical_json(data)?;
    let digest = hex::encode(Sha256::digest(&canonical));
    let pdf = layout::pdf(data, &digest, canonical)?;
    Ok(Certificate { pdf, digest })
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// The embedded data hashes to the digest the store holds for its number.
    Genuine { number: String, digest: String },
    /// The embedded data was changed: its digest is not the stored one.
    Altered {
        number: String,
        computed: String,
        stored: String,
    },
    /// The store has no certificate with this number.
    Unknown { number: String },
    /// No readable certificate data in the file.
    Unreadable(String),
}

impl Verification {
    pub fn is_genuine(&self) -> bool {
        matches!(self, Verification::Genuine { .. })
    }
}

/// Extract the embedded certificate data (and its digest) from PDF bytes.
pub fn extract(pdf_bytes: &[u8]) -> Result<(CertificateData, String), String> {
    let marker = format!("{{\"schema\":\"{SCHEMA}\"");
    let start = find(pdf_bytes, marker.as_bytes())
        .ok_or_else(|| "no embedded certificate data (not a Pasarela certificate)".to_string())?;
    let mut stream = serde_json::Deserializer::from_slice(&pdf_bytes[start..])
        .into_iter::<Envelope<CertificateData>>();
    let env = match stream.next() {
        Some(Ok(env)) => env,
        Some(Err(e)) => return Err(format!("embedded certificate data is damaged: {e}")),
        None => return Err("embedded certificate data is empty".into()),
    };
    if env.schema != SCHEMA {
        return Err(format!("unknown certificate schema '{}'", env.schema));
    }
    let digest = digest(&env.data).map_err(|e| e.to_string())?;
    Ok((env.data, digest))
}

/// Is this PDF a genuine, unchanged certificate according to `lookup`
/// (certificate number → stored digest)?
pub fn verify(pdf_bytes: &[u8], lookup: impl Fn(&str) -> Option<String>) -> Verification {
    let (data, computed) = match extract(pdf_bytes) {
        Ok(x) => x,
        Err(e) => return Verification::Unreadable(e),
    };
    match lookup(&data.number) {
        None => Verification::Unknown {
            number: data.number,
        },
        Some(stored) if stored.eq_ignore_ascii_case(&computed) => Verification::Genuine {
            number: data.number,
            digest: computed,
        },
        Some(stored) => Verification::Altered {
            number: data.number,
            computed,
            stored,
        },
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Colombian-style money: `$ 1.234.567,89` (thousands '.', decimals ',').
pub fn format_money(v: Decimal) -> String {
    let v = v.round_dp(2);
    let s = format!("{:.2}", v.abs());
    let (int, frac) = s.split_once('.').unwrap_or((&s, "00"));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push('.');
        }
        grouped.push(c);
    }
    let sign = if v.is_sign_negative() && !v.is_zero() {
        "-"
    } else {
        ""
    };
    format!("{sign}$ {grouped},{frac}")
}

/// A quantity with a decimal comma, trailing zeros removed.
pub fn format_quantity(v: Decimal) -> String {
    v.normalize().to_string().replace('.', ",")
}

/// A complete example certificate (number `2026-000001`), for documentation,
/// benchmarks and tests.
pub fn example_data() -> CertificateData {
    let d = |s: &str| Decimal::from_str_exact(s).unwrap_or_default();
    let registered_at = DateTime::parse_from_rfc3339("2026-03-05T10:15:00-05:00")
        .unwrap_or_else(|_| DateTime::UNIX_EPOCH.fixed_offset());
    CertificateData {
        number: "2026-000001".into(),
        registered_at,
        issuer: "Bolsa Mercantil de Colombia S.A.".into(),
        account: "comisionista-demo".into(),
        invoice: InvoiceRef {
            number: "SETP990000123".into(),
            cufe_or_cude: "8bb4d2d3c9a2c2a0e7e40f5c1f4f2b9b0e3a3b1c6d2f7a8e9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5"[..96].into(),
            issue_date: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap_or_default(),
            due_date: NaiveDate::from_ymd_opt(2026, 3, 31),
            document_type: "Invoice".into(),
        },
        supplier: Party {
            name: "Arrocera del Llano S.A.S.".into(),
            id: "900123456".into(),
            dv: Some("7".into()),
            id_type: "NIT".into(),
            email: Some("facturacion@arrocera.example".into()),
        },
        customer: Party {
            name: "Molinos Ñapanga y Cía. Ltda.".into(),
            id: "800765432".into(),
            dv: Some("1".into()),
            id_type: "NIT".into(),
            email: None,
        },
        lines: vec![
            Line {
                catalog_code: "1".into(),
                catalog_name: "ARROZ CASCARA IMPORTADO - AMERICANO - KILOGRAMO - EN SACO - NATURAL".into(),
                quantity: d("12500"),
                unit: Unit::Kg,
                value: d("18750000.00"),
                eligibility: "Elegible: producto en estado natural".into(),
            },
            Line {
                catalog_code: "4711".into(),
                catalog_name: "LECHE CRUDA - BOVINA - LITRO - A GRANEL - NATURAL".into(),
                quantity: d("3000.5"),
                unit: Unit::L,
                value: d("5401000.00"),
                eligibility: "Elegible: producto en estado natural".into(),
            },
        ],
        total_value: d("24151000.00"),
        commission: Commission {
            total: d("72453"),
            rule_id: "tarifa-general".into(),
            rule_version: "2026.1".into(),
        },
        adjustment: None,
    }
}

#[cfg(test)]
pub(crate) mod tests;

/// Is `bytes` a genuine, unchanged certificate according to its `record` in
/// the store (looked up by the number the file carries)? The verdict in
/// Spanish, as `pasarela verify-certificate` prints it and the desk shows it.
pub fn judge(
    bytes: &[u8],
    record: Option<&crate::store::certificates::CertificateRecord>,
) -> (bool, String) {
    let stored = record.map(|r| r.digest.clone());
    let file_sha = crate::fsutil::sha256_hex(bytes);
    match verify(bytes, |_| stored.clone()) {
        Verification::Genuine { number, digest } => {
            // The issued PDF's hash, as recorded; for a certificate whose
            // hash is recorded with its job's outcome, not yet (the PDF may
            // be read in between), the PDF its recorded data renders to
            // (rendering is deterministic).
            let issued = record.and_then(|r| match r.is_pending() {
                false => Some(r.pdf_sha256.clone()),
                true => issue::stored_data(r)
                    .ok()
                    .and_then(|d| render(&d).ok())
                    .map(|c| crate::fsutil::sha256_hex(&c.pdf)),
            });
            if issued.as_deref() == Some(file_sha.as_str()) {
                (
                    true,
                    format!(
                        "GENUINO: certificado {number} auténtico e inalterado (código {digest})"
                    ),
                )
            } else {
                // The data is intact but other bytes of the file differ from
                // the issued PDF: the visible page may have been edited.
                (
                    false,
                    format!(
                        "ALTERADO: los datos del certificado {number} son auténticos, pero el archivo no es el emitido (SHA-256 {file_sha})"
                    ),
                )
            }
        }
        Verification::Altered {
            number,
            computed,
            stored,
        } => (
            false,
            format!(
                "ALTERADO: certificado {number}: los datos no coinciden con el registro (calculado {computed}, registrado {stored})"
            ),
        ),
        Verification::Unknown { number } => (
            false,
            format!("DESCONOCIDO: no hay un certificado {number} en el registro"),
        ),
        Verification::Unreadable(e) => (false, format!("ILEGIBLE: {e}")),
    }
}
