//! Signature verification as DIAN rules: [`xades::verify_all`] on the file
//! (and, for an AttachedDocument, on the document and DIAN's response it
//! carries), each failed check a finding whose severity comes from
//! `[signatures] enforce` and the per-rule overrides. Pure: the trust store
//! is in the settings, loaded by the caller.

use chrono::{DateTime, FixedOffset};

use super::settings::{DianSettings, Enforcement};
use super::xades::{self, Part, SignatureReport, Status};
use crate::result::{Finding, Severity};

/// Where each part's signature is, for the finding's path.
fn part_path(root: &str, part: Part) -> String {
    match part {
        Part::Root => format!("/{root}/ext:UBLExtensions/ext:UBLExtension/ext:ExtensionContent/ds:Signature"),
        Part::Embedded => "/AttachedDocument/cac:Attachment/cac:ExternalReference/cbc:Description".to_owned(),
        Part::DianResponse => "/AttachedDocument/cac:ParentDocumentLineReference/cac:DocumentReference/cac:Attachment/cac:ExternalReference/cbc:Description".to_owned(),
    }
}

/// Spanish words naming a part inside an AttachedDocument.
fn part_suffix(part: Part) -> &'static str {
    match part {
        Part::Root => "",
        Part::Embedded => " (documento incluido en el AttachedDocument)",
        Part::DianResponse => " (respuesta de la DIAN incluida en el AttachedDocument)",
    }
}

/// Verify every signature of a file (`None` when `[signatures] enforce =
/// "off"`).
pub fn verify(
    bytes: &[u8],
    settings: &DianSettings,
    now: DateTime<FixedOffset>,
) -> Option<Vec<(Part, SignatureReport)>> {
    if settings.signatures.enforce == Enforcement::Off {
        return None;
    }
    let limits = super::limits(settings);
    Some(xades::verify_all(
        bytes,
        &settings.signatures.trust,
        now,
        &limits,
    ))
}

/// The findings of [`verify`]'s reports for a DIAN file whose root element
/// is `root`.
pub fn findings(
    reports: &[(Part, SignatureReport)],
    root: &str,
    settings: &DianSettings,
) -> Vec<Finding> {
    let default = match settings.signatures.enforce {
        Enforcement::Off => return Vec::new(),
        Enforcement::Notify => Severity::Notify,
        Enforcement::Reject => Severity::Reject,
    };
    let mut out = Vec::new();
    for &(part, ref report) in reports {
        for check in &report.checks {
            let Status::Failed(reason) = &check.status else {
                continue;
            };
            let code = check.kind.code();
            let Some(severity) = settings.severity(code, code, default) else {
                continue;
            };
            let word = match severity {
                Severity::Reject => "Rechazo",
                Severity::Notify => "Notificación",
            };
            let message = format!("Regla: {code}, {word}: {reason}{}", part_suffix(part));
            let f = match severity {
                Severity::Reject => Finding::reject(code, message),
                Severity::Notify => Finding::notify(code, message),
            };
            out.push(f.at(part_path(root, part)));
        }
    }
    out
}
