//! What `pdf-extract` and `image-ocr` share: a page reading (from
//! `formats::read`) written into the item.
//!
//! Results go to `ResultDoc::extraction`; doubtful documents get the verdict
//! `review` with the reasons as findings.

use crate::dian::DianSettings;
use crate::formats::read::{ReadError, Reading};
use crate::pipeline::{StepContext, StepError, WorkItem};
use crate::result::{Severity, Verdict};

pub(super) async fn apply_reading(
    item: &mut WorkItem,
    r: Reading,
    format: &str,
    ctx: &StepContext,
    dian: &DianSettings,
) -> Result<(), StepError> {
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
        let cufe = x
            .cufe
            .as_ref()
            .filter(|c| c.value.len() == 96 && !c.checks.iter().any(|k| k.starts_with('!')))
            .map(|c| c.value.to_ascii_lowercase());
        item.supplier_key = match (&x.supplier_nit, &x.number) {
            (Some(n), Some(num)) => crate::dian::supplier_key(&n.value, &num.value),
            _ => None,
        };
        item.document_key = cufe.or_else(|| item.supplier_key.clone());
    }
    let mut v = serde_json::to_value(&r).unwrap_or(serde_json::Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.insert("kind".into(), serde_json::Value::String(format.into()));
    }
    item.result.extraction = Some(v);
    // A confident reading that nothing rejects claims its keys like an XML
    // document that passes: the same invoice sent as XML and as a PDF (with
    // or without a readable CUFE) is registered once (rule 90).
    if !r.review && !has_reject {
        super::dian_validate::claim_keys(item, ctx, dian).await?;
    }
    Ok(())
}

/// A reader that could not work (no worker, no Tesseract) is worth retrying.
pub(super) fn environment(e: ReadError) -> StepError {
    match e {
        ReadError::Environment(m) => StepError::Transient(m),
    }
}
