//! `hold-for-review`: accepted for manual review by an operator (formats the
//! gateway cannot yet read automatically).

use std::sync::Arc;

use async_trait::async_trait;

use super::BuildContext;
use crate::config::ConfigError;
use crate::pipeline::{Step, StepContext, StepError, WorkItem};
use crate::result::{Finding, Verdict};

pub fn build(_ctx: &BuildContext<'_>) -> Result<Arc<dyn Step>, Vec<ConfigError>> {
    Ok(Arc::new(HoldForReview))
}

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
