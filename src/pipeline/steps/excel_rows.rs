//! `excel-rows`: broker spreadsheets → registration lines, mapped by the
//! layouts of `rules/excel/*.toml` (the built-in layouts when the folder does
//! not exist). Does nothing for other formats. Layouts and the decoding
//! child's limits (`rules/formats.toml`) are compiled when the generation is
//! built.

use std::sync::Arc;

use async_trait::async_trait;

use super::BuildContext;
use crate::config::ConfigError;
use crate::formats::excel::{self, Layout};
use crate::formats::worker::Limits;
use crate::pipeline::{Step, StepContext, StepError, WorkItem};
use crate::result::Format;

pub fn build(ctx: &BuildContext<'_>) -> Result<Arc<dyn Step>, Vec<ConfigError>> {
    // Both are compiled even when the first fails, so both files' problems show.
    let (layouts, formats) = (ctx.layouts(), ctx.formats());
    match (layouts, formats) {
        (Ok(layouts), Ok(formats)) => Ok(Arc::new(ExcelRows {
            layouts,
            limits: formats.decode_limits,
        })),
        (l, f) => Err(l.err().into_iter().chain(f.err()).flatten().collect()),
    }
}

struct ExcelRows {
    layouts: Arc<Vec<Layout>>,
    limits: Limits,
}

#[async_trait]
impl Step for ExcelRows {
    fn name(&self) -> &'static str {
        "excel-rows"
    }
    async fn run(&self, item: &mut WorkItem, _ctx: &StepContext) -> Result<(), StepError> {
        if item.result.format != Format::Excel {
            return Ok(());
        }
        // calamine parses untrusted bytes: in the sandboxed worker only.
        let wb = match crate::formats::decode::excel(&item.bytes, self.limits).await {
            Ok(book) => excel::map_decoded(book, &self.layouts),
            Err(e) if e.is_environment() => return Err(StepError::Transient(e.to_string())),
            Err(e) => {
                let mut wb = excel::Workbook::default();
                wb.findings
                    .push(e.finding("PAS600", "La hoja de cálculo no se pudo leer"));
                wb
            }
        };
        item.result.findings.extend(wb.findings.iter().cloned());
        // `homologation`: the product-name → catalog-code entries of the
        // workbook's homologation sheets (docs/FORMATS.md), for the
        // submitter's catalog aliases.
        item.result.extraction = Some(serde_json::json!({
            "kind": "excel",
            "sheets": wb.sheets,
            "homologation": wb.homologation,
        }));
        Ok(())
    }
}
