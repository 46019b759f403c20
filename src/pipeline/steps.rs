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
    ("reject-unsupported", || Arc::new(RejectUnsupported)),
    ("hold-for-review", || Arc::new(HoldForReview)),
    ("pdf-extract", || Arc::new(crate::formats::steps::PdfExtract)),
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

const UBL_ROOTS: &[&str] = &["Invoice", "CreditNote", "DebitNote", "AttachedDocument", "ApplicationResponse"];

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
        item.add(Finding::reject("PAS01", msg));
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
            "PAS03",
            format!("Archivo {} recibido; queda en revisión manual por un operador.", item.result.format.as_str().to_uppercase()),
        ));
        item.verdict_override = Some(Verdict::Review);
        Ok(())
    }
}
