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
    let (layouts, formats, dian) = (ctx.layouts(), ctx.formats(), ctx.dian());
    match (layouts, formats, dian) {
        (Ok(layouts), Ok(formats), Ok(dian)) => Ok(Arc::new(ExcelRows {
            layouts,
            limits: formats.decode_limits,
            dian,
        })),
        (l, f, d) => Err(l
            .err()
            .into_iter()
            .chain(f.err())
            .chain(d.err())
            .flatten()
            .collect()),
    }
}

struct ExcelRows {
    layouts: Arc<Vec<Layout>>,
    limits: Limits,
    /// For rule 90 when the sheet's invoices are registered already.
    dian: Arc<crate::dian::DianSettings>,
}

#[async_trait]
impl Step for ExcelRows {
    fn name(&self) -> &'static str {
        "excel-rows"
    }
    async fn run(&self, item: &mut WorkItem, ctx: &StepContext) -> Result<(), StepError> {
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
        let rejected = item.rejected();
        // `homologation`: the product-name → catalog-code entries of the
        // workbook's homologation sheets (docs/FORMATS.md), recorded as the
        // submitter's names for catalog products (used by `price`).
        if !rejected
            && !wb.homologation.is_empty()
            && let (Some(store), Some(job), Some(account)) = (
                &ctx.services.store,
                item.job_id,
                item.result.account.as_deref(),
            )
        {
            let entries: Vec<crate::store::review::SubmitterAlias> = wb
                .homologation
                .iter()
                .map(|h| crate::store::review::SubmitterAlias {
                    nit: h.nit.clone().unwrap_or_default(),
                    product: h.product.clone(),
                    code: h.code.clone(),
                })
                .collect();
            store
                .record_aliases(account, job, &entries, ctx.now.timestamp_millis())
                .await
                .map_err(|e| StepError::Transient(e.to_string()))?;
        }
        // Each invoice of the sheet is tied to its electronic invoice or waits for it.
        let invoices = if rejected {
            Vec::new()
        } else {
            super::reconcile::sheet(item, ctx, &self.dian, &wb.sheets).await?
        };
        item.result.extraction = Some(serde_json::json!({
            "kind": "excel",
            "sheets": wb.sheets,
            "homologation": wb.homologation,
            "invoices": invoices,
        }));
        Ok(())
    }
}
