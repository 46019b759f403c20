//! `reject-unsupported`: the file's format is not accepted on this route.

use std::sync::Arc;

use async_trait::async_trait;

use super::BuildContext;
use crate::config::ConfigError;
use crate::pipeline::{Step, StepContext, StepError, WorkItem};
use crate::result::{Finding, Format};

pub fn build(_ctx: &BuildContext<'_>) -> Result<Arc<dyn Step>, Vec<ConfigError>> {
    Ok(Arc::new(RejectUnsupported))
}

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
