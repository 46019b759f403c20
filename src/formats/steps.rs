//! Pipeline steps for non-XML invoices (registered in `pipeline::steps`):
//!
//! - `pdf-extract`: text layer, or 300 dpi OCR for pages without usable text;
//!   DIAN QR; embedded XML (PDF/A-3) exposed for DIAN validation.
//! - `image-ocr`: PNG / JPEG / TIFF pages → preprocessing → QR + OCR.
//! - `excel-rows`: broker spreadsheets → registration lines.
//!
//! Each step does nothing for other formats, so one route can list all
//! three. Results go to `ResultDoc::extraction`; doubtful documents get the
//! verdict `review` with the reasons as findings. Settings come from
//! `rules/formats.toml` and layouts from `rules/excel/*.toml` under the
//! configuration's base directory (defaults / built-in layouts when absent).

use async_trait::async_trait;

use super::excel;
use super::read::{self, FormatsSettings, ReadError, Reading};
use crate::pipeline::{Step, StepContext, StepError, WorkItem};
use crate::result::{Format, Severity, Verdict};

/// `rules/formats.toml` under the configuration's base directory.
pub fn settings_path(ctx: &StepContext) -> std::path::PathBuf {
    ctx.services
        .config
        .base_dir
        .join("rules")
        .join("formats.toml")
}

/// `rules/excel/` under the configuration's base directory.
pub fn layouts_dir(ctx: &StepContext) -> std::path::PathBuf {
    ctx.services.config.base_dir.join("rules").join("excel")
}

fn settings(ctx: &StepContext) -> Result<FormatsSettings, StepError> {
    FormatsSettings::load(&settings_path(ctx)).map_err(|e| {
        StepError::Permanent(format!(
            "configuración de formatos inválida: {}",
            e.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        ))
    })
}

fn apply_reading(item: &mut WorkItem, r: Reading, format: &str) {
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

fn env(e: ReadError) -> StepError {
    match e {
        ReadError::Environment(m) => StepError::Transient(m),
    }
}

/// `pdf-extract`
pub struct PdfExtract;

#[async_trait]
impl Step for PdfExtract {
    fn name(&self) -> &'static str {
        "pdf-extract"
    }
    async fn run(&self, item: &mut WorkItem, ctx: &StepContext) -> Result<(), StepError> {
        if item.result.format != Format::Pdf {
            return Ok(());
        }
        let s = settings(ctx)?;
        let r = read::read_pdf(&item.bytes, &s).await.map_err(env)?;
        apply_reading(item, r, "pdf");
        Ok(())
    }
}

/// `image-ocr`
pub struct ImageOcr;

#[async_trait]
impl Step for ImageOcr {
    fn name(&self) -> &'static str {
        "image-ocr"
    }
    async fn run(&self, item: &mut WorkItem, ctx: &StepContext) -> Result<(), StepError> {
        if item.result.format != Format::Image {
            return Ok(());
        }
        let s = settings(ctx)?;
        let r = read::read_image(&item.bytes, &s).await.map_err(env)?;
        apply_reading(item, r, "image");
        Ok(())
    }
}

/// `excel-rows`
pub struct ExcelRows;

#[async_trait]
impl Step for ExcelRows {
    fn name(&self) -> &'static str {
        "excel-rows"
    }
    async fn run(&self, item: &mut WorkItem, ctx: &StepContext) -> Result<(), StepError> {
        if item.result.format != Format::Excel {
            return Ok(());
        }
        let layouts = excel::load_layouts(&layouts_dir(ctx)).map_err(|e| {
            StepError::Permanent(format!(
                "formatos de hoja de cálculo inválidos: {}",
                e.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ))
        })?;
        // calamine parses untrusted bytes: in the sandboxed worker only.
        let limits = settings(ctx)?.decode_limits;
        let wb = match super::decode::excel(&item.bytes, limits).await {
            Ok(book) => excel::map_decoded(book, &layouts),
            Err(e) if e.is_environment() => return Err(StepError::Transient(e.to_string())),
            Err(e) => {
                let mut wb = excel::Workbook::default();
                wb.findings
                    .push(e.finding("PAS600", "La hoja de cálculo no se pudo leer"));
                wb
            }
        };
        item.result.findings.extend(wb.findings.iter().cloned());
        item.result.extraction = Some(serde_json::json!({ "kind": "excel", "sheets": wb.sheets }));
        Ok(())
    }
}
