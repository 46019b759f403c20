//! RADIAN events in the pipeline (docs/NOTES.md): an event file is recorded
//! against its invoice's CUFE and may affect that invoice's registration; an
//! invoice is checked against the events recorded about it; and the
//! `require-acceptance` step holds an invoice until its buyer accepted it.
//!
//! - 031 (reclamo) about an invoice not yet registered: when the invoice
//!   arrives it is held for review (PAS84, notify) or rejected (PAS84 set to
//!   reject in the DIAN rules); about a registered invoice: the event goes to
//!   review so an operator decides whether to annul the registration (PAS87).
//! - 037–039 (endosos): the invoice and its registration are flagged (PAS85).
//! - 033/034 (aceptación): invoices held by `require-acceptance` (PAS86) run
//!   again at once.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;

use super::BuildContext;
use crate::config::ConfigError;
use crate::dian::DianSettings;
use crate::dian::events::{Event, event_name};
use crate::dian::model::DocKind;
use crate::pipeline::{Step, StepContext, StepError, WorkItem};
use crate::result::{Finding, Severity, Verdict};
use crate::store::events::NewEvent;

fn transient(e: crate::store::StoreError) -> StepError {
    StepError::Transient(e.to_string())
}

fn is_endorsement(code: &str) -> bool {
    matches!(code, "037" | "038" | "039")
}

fn is_acceptance(code: &str) -> bool {
    matches!(code, "033" | "034")
}

/// Record the event in `item` (it passed validation and is not a
/// duplicate) and apply it to its invoice's registration, if any.
pub(super) async fn record(
    item: &mut WorkItem,
    ctx: &StepContext,
    settings: &DianSettings,
    ev: &Event,
) -> Result<(), StepError> {
    let (Some(store), Some(job)) = (&ctx.services.store, item.job_id) else {
        return Ok(());
    };
    let issued = format!("{}T{}", ev.issue_date, ev.issue_time);
    store
        .record_event(
            &NewEvent {
                cude: &ev.cude,
                cufe: &ev.invoice_cufe,
                code: &ev.code,
                event_id: &ev.id,
                issued: &issued,
                sender: &ev.sender,
                receiver: &ev.receiver,
                job_id: job,
            },
            ctx.now.timestamp_millis(),
        )
        .await
        .map_err(transient)?;
    let state = store
        .registration_state(&ev.invoice_cufe)
        .await
        .map_err(transient)?;
    let mut effect = "recorded";
    if let Some(state) = &state
        && !state.cancelled()
    {
        let reg = &state.registration;
        let from_buyer = crate::dian::nit::normalize(&reg.customer_id)
            == crate::dian::nit::normalize(&ev.sender);
        if ev.code == "031" && !from_buyer {
            item.add(Finding::notify(
                "PAS87",
                format!(
                    "El reclamo (evento 031 {}) lo envía NIT {}, que no es el adquirente de la factura {} (NIT {}): no afecta el registro.",
                    ev.id, ev.sender, reg.invoice_number, reg.customer_id
                ),
            ));
        } else if ev.code == "031" && item.approval.is_some() {
            // An operator decided the registration stands despite the reclamo.
            effect = "acknowledged";
        } else if ev.code == "031" {
            effect = "review";
            item.add(Finding::notify(
                "PAS87",
                format!(
                    "La factura {} ya está registrada (certificado {}) y el adquirente (NIT {}) presentó un reclamo (evento 031 {}): un operador debe decidir si se anula el registro.",
                    reg.invoice_number, state.last.certificate_number, ev.sender, ev.id
                ),
            ));
            item.verdict_override.get_or_insert(Verdict::Review);
        } else if is_endorsement(&ev.code)
            && let Some(f) = crate::dian::finding(
                settings,
                "PAS85",
                format!(
                    "La factura {} registrada (certificado {}) fue endosada ({}, evento {} enviado por NIT {}).",
                    reg.invoice_number,
                    state.last.certificate_number,
                    event_name(&ev.code),
                    ev.id,
                    ev.sender
                ),
            )
        {
            effect = "flagged";
            item.add(f);
        }
    }
    let mut released = Vec::new();
    if is_acceptance(&ev.code) {
        for id in store
            .held_jobs(&ev.invoice_cufe, crate::review::Reason::AwaitingAcceptance)
            .await
            .map_err(transient)?
        {
            if store
                .release(
                    id,
                    crate::review::Reason::AwaitingAcceptance,
                    ctx.now.timestamp_millis(),
                )
                .await
                .map_err(transient)?
            {
                released.push(id);
            }
        }
        if !released.is_empty() {
            effect = "released";
        }
    }
    if let Some(doc) = item.result.document.as_mut()
        && let Some(obj) = doc.get_mut("event").and_then(|e| e.as_object_mut())
    {
        obj.insert("effect".into(), json!(effect));
        obj.insert(
            "registration".into(),
            state.as_ref().map_or(serde_json::Value::Null, |s| {
                json!({
                    "job_id": s.registration.job_id,
                    "certificate": s.last.certificate_number,
                    "cancelled": s.cancelled(),
                })
            }),
        );
        obj.insert("released_jobs".into(), json!(released));
    }
    Ok(())
}

/// Findings for an invoice from the events recorded about it: a reclamo
/// holds it (PAS84), an endorsement flags it (PAS85).
pub(super) async fn check_invoice(
    item: &mut WorkItem,
    ctx: &StepContext,
    settings: &DianSettings,
) -> Result<(), StepError> {
    let Some(store) = &ctx.services.store else {
        return Ok(());
    };
    let Some(cufe) = invoice_cufe(item).filter(|c| item.may_have_events(c)) else {
        return Ok(());
    };
    for ev in store.events_of(&cufe).await.map_err(transient)? {
        if let Some(doc) = &item.document
            && !from_right_party(&ev.code, &ev.sender, doc)
        {
            continue;
        }
        let finding = if ev.code == "031" {
            crate::dian::finding(
                settings,
                "PAS84",
                format!(
                    "El adquirente (NIT {}) presentó un reclamo sobre esta factura (evento 031 {}); no se registra mientras un operador no lo resuelva.",
                    ev.sender, ev.event_id
                ),
            )
        } else if is_endorsement(&ev.code) {
            crate::dian::finding(
                settings,
                "PAS85",
                format!(
                    "La factura fue endosada ({}, evento {} enviado por NIT {}); el registro queda marcado.",
                    event_name(&ev.code),
                    ev.event_id,
                    ev.sender
                ),
            )
        } else {
            None
        };
        if let Some(f) = finding {
            // An operator who approved the invoice decided on the reclamo.
            if ev.code == "031" && f.severity == Severity::Notify && item.approval.is_none() {
                item.verdict_override.get_or_insert(Verdict::Review);
            }
            item.add(f);
        }
    }
    Ok(())
}

/// Whether an event comes from the party that may send it about this
/// invoice: the buyer files a reclamo (031) and accepts expressly (033); the
/// seller declares the tacit acceptance (034). Other events, or an invoice
/// whose party is unknown, are taken as sent.
fn from_right_party(code: &str, sender: &str, doc: &crate::dian::Document) -> bool {
    let party = match code {
        "031" | "033" => doc.customer.as_ref(),
        "034" => doc.supplier.as_ref(),
        _ => return true,
    };
    match party.and_then(|p| p.company_id.as_deref()) {
        Some(id) => crate::dian::nit::normalize(id) == crate::dian::nit::normalize(sender),
        None => true,
    }
}

/// The CUFE of the invoice in `item` (lower case), when it is an invoice.
fn invoice_cufe(item: &WorkItem) -> Option<String> {
    let doc = item.document.as_ref()?;
    if doc.kind != DocKind::Invoice {
        return None;
    }
    doc.uuid
        .as_ref()
        .map(|u| u.value.to_lowercase())
        .filter(|u| !u.is_empty())
}

/// `require-acceptance`: an invoice is registered only once its buyer
/// accepted it in RADIAN (event 033 or 034). Until then it waits in review
/// (PAS86) and runs again by itself when the acceptance is received. Place
/// it after `dian-validate` and before `price`.
pub fn build(_ctx: &BuildContext<'_>) -> Result<Arc<dyn Step>, Vec<ConfigError>> {
    Ok(Arc::new(RequireAcceptance))
}

struct RequireAcceptance;

#[async_trait]
impl Step for RequireAcceptance {
    fn name(&self) -> &'static str {
        "require-acceptance"
    }

    async fn run(&self, item: &mut WorkItem, ctx: &StepContext) -> Result<(), StepError> {
        let rejected = item.rejected();
        if rejected || item.verdict_override.is_some() || item.approval.is_some() {
            return Ok(());
        }
        let (Some(store), Some(cufe)) = (&ctx.services.store, invoice_cufe(item)) else {
            return Ok(());
        };
        let events = if item.may_have_events(&cufe) {
            store.events_of(&cufe).await.map_err(transient)?
        } else {
            Vec::new()
        };
        let accepted = events.iter().any(|e| {
            is_acceptance(&e.code)
                && item
                    .document
                    .as_ref()
                    .is_none_or(|d| from_right_party(&e.code, &e.sender, d))
        });
        if accepted {
            return Ok(());
        }
        item.add(Finding::notify(
            "PAS86",
            "La ruta exige que el adquirente acepte la factura en RADIAN (evento 033 o 034) antes de registrarla: queda en espera y continúa sola cuando se reciba la aceptación.",
        ));
        item.verdict_override = Some(Verdict::Review);
        Ok(())
    }
}
