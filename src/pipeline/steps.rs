//! The step registry: the one place where step names map to implementations.
//!
//! To add a capability, implement [`Step`] and add one line to [`REGISTRY`];
//! routes in config can then name it. The runner never changes.

use std::sync::Arc;

use async_trait::async_trait;

use super::{Step, StepContext, StepError, WorkItem};
use crate::formats::detect::xml_root_name;
use crate::result::{Finding, Format, Verdict};

type Factory = fn() -> Arc<dyn Step>;

/// Every step the configuration can name.
pub const REGISTRY: &[(&str, Factory)] = &[
    ("classify", || Arc::new(Classify)),
    ("dian-validate", || Arc::new(DianValidate)),
    ("price", || Arc::new(super::price::Price)),
    ("certify", || Arc::new(super::certify::Certify)),
    ("reject-unsupported", || Arc::new(RejectUnsupported)),
    ("hold-for-review", || Arc::new(HoldForReview)),
    ("pdf-extract", || {
        Arc::new(crate::formats::steps::PdfExtract)
    }),
    ("image-ocr", || Arc::new(crate::formats::steps::ImageOcr)),
    ("excel-rows", || Arc::new(crate::formats::steps::ExcelRows)),
];

pub fn names() -> Vec<&'static str> {
    REGISTRY.iter().map(|(n, _)| *n).collect()
}

pub fn is_registered(name: &str) -> bool {
    REGISTRY.iter().any(|(n, _)| *n == name)
}

pub fn build(name: &str) -> Option<Arc<dyn Step>> {
    REGISTRY.iter().find(|(n, _)| *n == name).map(|(_, f)| f())
}

/// `classify`: names the XML document type from its root element; refuses
/// XML whose root is not a DIAN document.
struct Classify;

const UBL_ROOTS: &[&str] = &[
    "Invoice",
    "CreditNote",
    "DebitNote",
    "AttachedDocument",
    "ApplicationResponse",
];

#[async_trait]
impl Step for Classify {
    fn name(&self) -> &'static str {
        "classify"
    }
    async fn run(&self, item: &mut WorkItem, _ctx: &StepContext) -> Result<(), StepError> {
        if item.result.format != Format::Xml {
            return Ok(());
        }
        match xml_root_name(&item.bytes) {
            Some(root) if UBL_ROOTS.contains(&root.as_str()) => item.result.document_type = Some(root),
            Some(root) => item.add(Finding::reject(
                "PAS11",
                format!("El XML no es un documento electrónico DIAN (UBL 2.1): el elemento raíz es '{root}'."),
            )),
            None => item.add(Finding::reject("PAS10", "El archivo XML está mal formado: no tiene elemento raíz.")),
        }
        Ok(())
    }
}

/// `dian-validate`: parse the UBL document and apply DIAN's rules and the
/// exchange's registration rules (see docs/DIAN.md). Also detects the same
/// invoice sent as different bytes (same CUFE/CUDE): rule 90.
struct DianValidate;

#[async_trait]
impl Step for DianValidate {
    fn name(&self) -> &'static str {
        "dian-validate"
    }
    async fn run(&self, item: &mut WorkItem, ctx: &StepContext) -> Result<(), StepError> {
        let settings = ctx.services.dian.clone();
        let (bytes, now) = (item.bytes.clone(), ctx.now);
        // CPU-bound parsing runs off the async workers.
        let v = tokio::task::spawn_blocking(move || crate::dian::validate(&bytes, &settings, now))
            .await
            .map_err(|e| StepError::Permanent(format!("DIAN validation failed: {e}")))?;
        let mut rejected = v.rejected();
        // The optional XSD check, on documents that parsed into a UBL root.
        if let (Some(dir), Some(root)) = (
            &ctx.services.config.dian.xsd_dir,
            v.document_type.as_deref(),
        ) {
            let found = super::xsd::check(dir, root, &item.bytes)
                .await
                .map_err(|e| StepError::Transient(e.to_string()))?;
            rejected |= !found.is_empty();
            item.result.findings.extend(found);
        }
        item.result.document_type = v.document_type.or(item.result.document_type.take());
        item.result.document = v.document;
        item.result.findings.extend(v.findings);
        item.document = v.model;
        item.document_key = v.document_key;
        // Only documents that pass claim their identity, so a rejected first
        // attempt never makes its corrected resubmission a "duplicate".
        if let (false, Some(store), Some(job), Some(key)) = (
            rejected,
            &ctx.services.store,
            item.job_id,
            &item.document_key,
        ) {
            let original = store
                .claim_document_key(job, key)
                .await
                .map_err(|e| StepError::Transient(e.to_string()))?;
            let what = |id| format!("mismo CUFE/CUDE que el envío {id}");
            if let Some((id, f)) = original.and_then(|id| {
                crate::dian::duplicate_finding(&ctx.services.dian, &what(id)).map(|f| (id, f))
            }) {
                item.add(f);
                item.result.duplicate_of = Some(id);
                item.verdict_override = Some(Verdict::Duplicate);
            }
        }
        Ok(())
    }
}

/// `reject-unsupported`: the file's format is not accepted on this route.
struct RejectUnsupported;

#[async_trait]
impl Step for RejectUnsupported {
    fn name(&self) -> &'static str {
        "reject-unsupported"
    }
    async fn run(&self, item: &mut WorkItem, _ctx: &StepContext) -> Result<(), StepError> {
        let msg = match item.result.format {
            Format::Unknown => "Formato de archivo no reconocido. Se aceptan facturas electrónicas XML (UBL 2.1), PDF, imágenes (PNG, JPEG, TIFF) y hojas de cálculo (xls, xlsx, ods).".to_string(),
            f => format!("El formato '{}' no se admite en esta carpeta.", f.as_str()),
        };
        item.add(Finding::reject("PAS80", msg));
        Ok(())
    }
}

/// `hold-for-review`: accepted for manual review by an operator (formats the
/// gateway cannot yet read automatically).
struct HoldForReview;

#[async_trait]
impl Step for HoldForReview {
    fn name(&self) -> &'static str {
        "hold-for-review"
    }
    async fn run(&self, item: &mut WorkItem, _ctx: &StepContext) -> Result<(), StepError> {
        item.add(Finding::notify(
            "PAS82",
            format!(
                "Archivo {} recibido; queda en revisión manual por un operador.",
                item.result.format.as_str().to_uppercase()
            ),
        ));
        item.verdict_override = Some(Verdict::Review);
        Ok(())
    }
}
