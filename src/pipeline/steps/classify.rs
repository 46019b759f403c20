//! `classify`: names the XML document type from its root element; refuses
//! XML whose root is not a DIAN document.

use std::sync::Arc;

use async_trait::async_trait;

use super::BuildContext;
use crate::config::ConfigError;
use crate::formats::detect::xml_root_name;
use crate::pipeline::{Step, StepContext, StepError, WorkItem};
use crate::result::{Finding, Format};

pub fn build(_ctx: &BuildContext<'_>) -> Result<Arc<dyn Step>, Vec<ConfigError>> {
    Ok(Arc::new(Classify))
}

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
