//! What `pdf-extract` and `image-ocr` share: a page reading (from
//! `formats::read`) written into the item.
//!
//! Results go to `ResultDoc::extraction`; doubtful documents get the verdict
//! `review` with the reasons as findings.

use crate::dian::DianSettings;
use crate::formats::read::{ReadError, Reading};
use crate::pipeline::{StepContext, StepError, WorkItem};
use crate::result::Verdict;

pub(super) async fn apply_reading(
    item: &mut WorkItem,
    mut r: Reading,
    format: &str,
    ctx: &StepContext,
    dian: &DianSettings,
    awaiting_xml: std::time::Duration,
) -> Result<(), StepError> {
    // An operator's approval: the corrections replace what was read (the
    // values read are kept beside them) and doubts no longer hold the file.
    let mut corrected = serde_json::Map::new();
    if let Some(a) = &item.approval {
        for (field, value) in &a.corrections {
            if let Ok(before) = r.fields.correct(field, value) {
                corrected.insert(
                    field.clone(),
                    serde_json::json!({"value": value, "read": before, "operator": a.operator}),
                );
            }
        }
        r.review = false;
    }
    item.result.findings.extend(r.findings.iter().cloned());
    let has_reject = item.rejected();
    if r.review && !has_reject {
        item.verdict_override = Some(Verdict::Review);
    }
    let mut v = serde_json::to_value(&r).unwrap_or(serde_json::Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.insert("kind".into(), serde_json::Value::String(format.into()));
        if !corrected.is_empty() {
            o.insert("corrections".into(), serde_json::Value::Object(corrected));
        }
    }
    item.result.extraction = Some(v);
    // A confident (or approved) reading that nothing rejects is reconciled
    // with the electronic invoices: tied to one, waiting for it, or (approved)
    // registered itself; the same invoice is registered once (rule 90).
    if !r.review && !has_reject {
        super::reconcile::reading(item, ctx, dian, &r.fields, awaiting_xml).await?;
    }
    Ok(())
}

/// A reader that could not work (no worker, no Tesseract) is worth retrying.
pub(super) fn environment(e: ReadError) -> StepError {
    match e {
        ReadError::Environment(m) => StepError::Transient(m),
    }
}
