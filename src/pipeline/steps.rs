//! The step registry: the one place where step names map to implementations.

use std::sync::Arc;

use async_trait::async_trait;

use super::{Step, StepContext, StepError, WorkItem};

type Factory = fn() -> Arc<dyn Step>;

/// Every step the configuration can name.
pub const REGISTRY: &[(&str, Factory)] = &[];

pub fn names() -> Vec<&'static str> {
    REGISTRY.iter().map(|(n, _)| *n).collect()
}

pub fn is_registered(name: &str) -> bool {
    REGISTRY.iter().any(|(n, _)| *n == name)
}

pub fn build(name: &str) -> Option<Arc<dyn Step>> {
    REGISTRY.iter().find(|(n, _)| *n == name).map(|(_, f)| f())
}

#[allow(dead_code)]
struct Placeholder;

#[async_trait]
impl Step for Placeholder {
    fn name(&self) -> &'static str {
        "placeholder"
    }
    async fn run(&self, _item: &mut WorkItem, _ctx: &StepContext) -> Result<(), StepError> {
        Ok(())
    }
}
