//! `dian-validate`: parse the UBL document and apply DIAN's rules and the
//! exchange's registration rules (see docs/DIAN.md). Also detects the same
//! invoice sent as different bytes (same CUFE/CUDE): rule 90.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;

use super::BuildContext;
use crate::config::ConfigError;
use crate::dian::DianSettings;
use crate::pipeline::{Step, StepContext, StepError, WorkItem};
use crate::result::Verdict;

/// Compiles `[dian] rules` (or takes the built-in defaults) and notes the
/// optional XSD folder.
pub fn build(ctx: &BuildContext<'_>) -> Result<Arc<dyn Step>, Vec<ConfigError>> {
    Ok(Arc::new(DianValidate {
        settings: ctx.dian()?,
        xsd_dir: ctx.config.dian.xsd_dir.clone(),
        awaiting_xml: ctx.config.review.awaiting_xml,
    }))
}

struct DianValidate {
    settings: Arc<DianSettings>,
    /// UBL 2.1 schemas for the optional XSD check (PAS37).
    xsd_dir: Option<PathBuf>,
    /// `[review] awaiting_xml_days`: how long readings of an invoice (PDF,
    /// scan, sheet) wait for it to arrive and release them.
    awaiting_xml: std::time::Duration,
}

#[async_trait]
impl Step for DianValidate {
    fn name(&self) -> &'static str {
        "dian-validate"
    }
    async fn run(&self, item: &mut WorkItem, ctx: &StepContext) -> Result<(), StepError> {
        let settings = self.settings.clone();
        let (bytes, now) = (item.bytes.clone(), ctx.now);
        // CPU-bound parsing runs off the async workers.
        let v = tokio::task::spawn_blocking(move || crate::dian::validate(&bytes, &settings, now))
            .await
            .map_err(|e| StepError::Permanent(format!("DIAN validation failed: {e}")))?;
        let mut rejected = v.rejected();
        // The optional XSD check, on documents that parsed into a UBL root.
        if let (Some(dir), Some(root)) = (&self.xsd_dir, v.document_type.as_deref()) {
            let found = crate::pipeline::xsd::check(dir, root, &item.bytes)
                .await
                .map_err(|e| StepError::Transient(e.to_string()))?;
            rejected |= !found.is_empty();
            item.result.findings.extend(found);
        }
        let event = v.event;
        item.result.document_type = v.document_type.or(item.result.document_type.take());
        item.result.document = v.document;
        item.result.findings.extend(v.findings);
        item.document = v.model;
        item.document_key = v.document_key;
        item.supplier_key = v.supplier_key;
        // Only documents that pass claim their identity, so a rejected first
        // attempt never makes its corrected resubmission a "duplicate".
        if !rejected {
            // An invoice's arrival releases the readings waiting for it.
            let release = item
                .document
                .as_ref()
                .filter(|d| d.kind == crate::dian::model::DocKind::Invoice)
                .map(|_| self.awaiting_xml);
            claim_keys(item, ctx, &self.settings, release).await?;
            if item.verdict_override != Some(Verdict::Duplicate) {
                match &event {
                    Some(ev) => super::events::record(item, ctx, &self.settings, ev).await?,
                    None => super::events::check_invoice(item, ctx, &self.settings).await?,
                }
            }
        }
        Ok(())
    }
}

/// Claim the item's document keys (CUFE/CUDE and supplier key) in the store;
/// when a live job holds either, mark the item its duplicate (rule 90, naming
/// that job and which key they share). Nothing happens without a store (the
/// `process` command), a job or a key.
pub(super) async fn claim_keys(
    item: &mut WorkItem,
    ctx: &StepContext,
    settings: &DianSettings,
    release: Option<std::time::Duration>,
) -> Result<(), StepError> {
    let (Some(store), Some(job)) = (&ctx.services.store, item.job_id) else {
        return Ok(());
    };
    // The document key is the CUFE/CUDE unless it is the supplier key.
    let cufe = item
        .document_key
        .as_deref()
        .filter(|k| Some(*k) != item.supplier_key.as_deref());
    if cufe.is_none() && item.supplier_key.is_none() {
        return Ok(());
    }
    let claim = store
        .claim_document_keys(job, cufe, item.supplier_key.as_deref())
        .await
        .map_err(|e| StepError::Transient(e.to_string()))?;
    // What the claim saw: no event about this CUFE means none to read.
    item.recorded_events = cufe.map(|c| (c.to_lowercase(), claim.events));
    let Some(holder) = claim.holder else {
        // This job now holds the invoice's keys: readings of it (PDF, scan,
        // sheet) that were waiting run again and are tied to it.
        if let Some(window) = release.filter(|_| claim.waiting) {
            let keys: Vec<&str> = cufe
                .iter()
                .copied()
                .chain(item.supplier_key.as_deref())
                .collect();
            let released = super::reconcile::release_waiting(ctx, &keys, window).await?;
            if !released.is_empty() {
                tracing::info!(job, ?released, "waiting readings released by their invoice");
            }
        }
        return Ok(());
    };
    let id = holder.job_id;
    let what = if holder.same_cufe {
        format!("mismo CUFE/CUDE que el envío {id}")
    } else {
        format!("mismo NIT del emisor y número de documento que el envío {id}")
    };
    if let Some(f) = crate::dian::duplicate_finding(settings, &what) {
        item.add(f);
        item.result.duplicate_of = Some(id);
        item.verdict_override = Some(Verdict::Duplicate);
    }
    Ok(())
}
