//! What `pdf-extract` and `image-ocr` share: a page reading (from
//! `formats::read`) written into the item.
//!
//! Results go to `ResultDoc::extraction`; doubtful documents get the verdict
//! `review` with the reasons as findings.

use crate::formats::read::{ReadError, Reading};
use crate::pipeline::{StepError, WorkItem};
use crate::result::{Severity, Verdict};

pub(super) fn apply_reading(item: &mut WorkItem, r: Reading, format: &str) {
    item.result.findings.extend(r.findings.iter().cloned());
    let has_reject = item
        .result
        .findings
        .iter()
        .any(|f| f.severity == Severity::Reject);
    if r.review && !has_reject {
        item.verdict_override = Some(Verdict::Review);
    }
    if !r.review {
        let x = &r.fields;
        item.document_key = match (&x.cufe, &x.supplier_nit, &x.number) {
            (Some(c), _, _)
                if c.value.len() == 96 && !c.checks.iter().any(|k| k.starts_with('!')) =>
            {
                Some(c.value.to_ascii_lowercase())
            }
            (_, Some(n), Some(num)) => Some(format!("{}/{}", n.value, num.value)),
            _ => None,
        };
    }
    let mut v = serde_json::to_value(&r).unwrap_or(serde_json::Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.insert("kind".into(), serde_json::Value::String(format.into()));
    }
    item.result.extraction = Some(v);
}

/// A reader that could not work (no worker, no Tesseract) is worth retrying.
pub(super) fn environment(e: ReadError) -> StepError {
    match e {
        ReadError::Environment(m) => StepError::Transient(m),
    }
}
