//! `image-ocr`: PNG / JPEG / TIFF pages → preprocessing → QR + OCR. Does
//! nothing for other formats. Settings come from `rules/formats.toml`
//! (compiled when the generation is built).

use std::sync::Arc;

use async_trait::async_trait;

use super::BuildContext;
use super::reading::{apply_reading, environment};
use crate::config::ConfigError;
use crate::dian::DianSettings;
use crate::formats::read::{self, FormatsSettings};
use crate::pipeline::{Step, StepContext, StepError, WorkItem};
use crate::result::Format;

pub fn build(ctx: &BuildContext<'_>) -> Result<Arc<dyn Step>, Vec<ConfigError>> {
    Ok(Arc::new(ImageOcr {
        settings: ctx.formats()?,
        dian: ctx.dian()?,
        awaiting_xml: ctx.config.review.awaiting_xml,
    }))
}

struct ImageOcr {
    settings: Arc<FormatsSettings>,
    /// For rule 90 when the document's keys are already claimed.
    dian: Arc<DianSettings>,
    /// `[review] awaiting_xml_days`: an approved reading that registers
    /// releases other readings of its invoice waiting this long.
    awaiting_xml: std::time::Duration,
}

#[async_trait]
impl Step for ImageOcr {
    fn name(&self) -> &'static str {
        "image-ocr"
    }
    async fn run(&self, item: &mut WorkItem, ctx: &StepContext) -> Result<(), StepError> {
        if item.result.format != Format::Image {
            return Ok(());
        }
        let r = read::read_image(&item.bytes, &self.settings)
            .await
            .map_err(environment)?;
        apply_reading(item, r, "image", ctx, &self.dian, self.awaiting_xml).await
    }
}
