//! Credit and debit notes against registrations (docs/NOTES.md).
//!
//! A note never earns a registration, a commission or a certificate of its
//! own. `price` ties it to the registration of the invoice it refers to
//! (`BillingReference/UUID`, the CUFE) and computes the registration as it
//! stands after the note; `certify` then reissues the registration's
//! certificate with the new figures, recorded as the next row of the
//! registration's ledger (`registrations` table). What a note does depends
//! on DIAN's concept code (`DiscrepancyResponse/ResponseCode`):
//!
//! - credit note 2 (anulación): the registration is annulled, value and
//!   commission go to zero (a cancellation certificate);
//! - every other credit note, and debit notes 3 (cambio del valor) and 4
//!   (otros): each note line is matched to the catalog and to the registered
//!   line of the same product, whose value and quantity go down (credit) or
//!   up (debit); the commission is recomputed with the rule versions of the
//!   original registration date. A credit that leaves nothing registered is
//!   an annulment;
//! - debit notes 1 (intereses) and 2 (gastos por cobrar) do not change what
//!   was registered: recorded, accepted, no new certificate.
//!
//! What cannot be decided goes to review with a finding: a note without the
//! invoice's CUFE, an invoice that is not registered (yet), a credited line
//! that is not a registered product. A note from another supplier, against
//! an annulled registration, or crediting more than was registered is
//! rejected.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::json;

use super::certify::{certificate_commission, certificate_line};
use super::price::Price;
use crate::certificate::{self, Adjustment, CertificateData, Effect, Entry, NoteEntry};
use crate::config::Config;
use crate::dian::Document;
use crate::dian::model::{DocKind, note_concept_name};
use crate::pipeline::{StepContext, StepError, WorkItem};
use crate::result::{Finding, Verdict};
use crate::rules::{PricingInput, PricingLine};
use crate::store::EntryKind;
use crate::store::reports::RegistrationState;

/// A note applied to a registration: its state before and after.
#[derive(Debug, Clone)]
pub struct Settlement {
    /// `None`: the note changes nothing registered (debit interest or
    /// expenses); otherwise what the reissued certificate states.
    change: Option<Change>,
    /// The `note` object of the result JSON.
    pub summary: serde_json::Value,
}

#[derive(Debug, Clone)]
struct Change {
    /// The registration after the note (number and time set at issue).
    data: CertificateData,
    entry: Entry,
}

impl Settlement {
    /// The certificate to issue for the note and its ledger row (`None` when
    /// the note changes nothing registered).
    pub fn certificate(
        &self,
        ctx: &StepContext,
        config: &Config,
        account: Option<&str>,
    ) -> Option<(CertificateData, Entry)> {
        let c = self.change.as_ref()?;
        let mut data = c.data.clone();
        data.registered_at = ctx.now;
        data.issuer = config.certificates.issuer.clone();
        data.account = account.unwrap_or_default().to_owned();
        Some((data, c.entry.clone()))
    }
}

/// Why a note cannot be applied now.
enum Hold {
    Review(Finding),
    Reject(Finding),
}

fn review(code: &'static str, msg: String) -> Hold {
    Hold::Review(Finding::notify(code, msg))
}

fn reject(code: &'static str, msg: String) -> Hold {
    Hold::Reject(Finding::reject(code, msg))
}

/// Tie the note in `item` to its registration and compute the change.
pub(super) async fn settle(
    price: &Price,
    item: &mut WorkItem,
    ctx: &StepContext,
    doc: &Document,
) -> Result<(), StepError> {
    let (Some(store), Some(job)) = (&ctx.services.store, item.job_id) else {
        item.add(Finding::notify(
            "PAS79",
            "Las notas crédito y débito se aplican al registro de su factura solo en el servicio (no con `process`).",
        ));
        return Ok(());
    };
    let transient = |e: crate::store::StoreError| StepError::Transient(e.to_string());
    // Run again after the note's certificate was issued: what was decided
    // then stands (the ledger row is the record).
    if let Some(row) = store.registration_of_job(job).await.map_err(transient)? {
        let summary = json!({
            "type": doc.kind.root(),
            "concept": concept(doc),
            "refers_to": {"job_id": row.ledger.adjusts},
            "effect": effect_word(row.ledger.kind),
            "value_after": row.ledger.net_value,
            "commission_after": row.ledger.net_commission,
            "value_delta": row.value,
            "commission_delta": row.commission,
        });
        let stored = store
            .certificate_for_job(job)
            .await
            .map_err(transient)?
            .map(|r| certificate::issue::stored_data(&r))
            .transpose()
            .map_err(|e| StepError::Permanent(e.to_string()))?;
        item.result.note = Some(summary.clone());
        item.settlement = Some(Settlement {
            change: stored.map(|data| Change {
                data,
                entry: Entry::registration(None),
            }),
            summary,
        });
        return Ok(());
    }
    match apply(price, item, ctx, doc).await? {
        Ok(s) => {
            item.result.note = Some(s.summary.clone());
            item.settlement = Some(s);
        }
        Err(Hold::Review(f)) => {
            item.add(f);
            item.verdict_override.get_or_insert(Verdict::Review);
        }
        Err(Hold::Reject(f)) => item.add(f),
    }
    Ok(())
}

fn concept(doc: &Document) -> String {
    doc.discrepancy
        .as_ref()
        .and_then(|d| d.code.clone())
        .unwrap_or_default()
}

fn effect_word(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::Cancellation => "cancel",
        EntryKind::Adjustment => "adjust",
        EntryKind::Registration => "none",
    }
}

/// What the note does to its registration, or why it cannot be applied.
async fn apply(
    price: &Price,
    item: &mut WorkItem,
    ctx: &StepContext,
    doc: &Document,
) -> Result<Result<Settlement, Hold>, StepError> {
    let Some(store) = &ctx.services.store else {
        return Err(StepError::Permanent(
            "notes are applied only with a store".into(),
        ));
    };
    let transient = |e: crate::store::StoreError| StepError::Transient(e.to_string());
    let kind = doc.kind;
    let number = doc.id.clone().unwrap_or_default();
    if doc
        .billing_references
        .iter()
        .filter(|r| r.uuid.is_some())
        .count()
        > 1
    {
        return Ok(Err(review(
            "PAS75",
            format!(
                "La nota {number} se refiere a varias facturas: un operador debe repartir su efecto entre sus registros."
            ),
        )));
    }
    let Some(reference) = doc.billing_references.iter().find(|r| r.uuid.is_some()) else {
        return Ok(Err(review(
            "PAS71",
            format!(
                "La nota {number} no indica el CUFE de la factura que modifica (cac:BillingReference/cac:InvoiceDocumentReference/cbc:UUID); queda en revisión para asociarla a un registro."
            ),
        )));
    };
    let cufe = reference.uuid.clone().unwrap_or_default();
    let invoice = reference.id.clone().unwrap_or_default();
    let Some(state) = store.registration_state(&cufe).await.map_err(transient)? else {
        return Ok(Err(review(
            "PAS72",
            format!(
                "La factura {invoice} (CUFE {cufe}) a la que se refiere la nota {number} no está registrada en la bolsa; la nota queda en revisión: cuando la factura se registre, un operador la aplica (pasarela review approve)."
            ),
        )));
    };
    let reg = &state.registration;
    let supplier = doc
        .supplier
        .as_ref()
        .and_then(|p| p.company_id.as_deref())
        .map(crate::dian::nit::normalize)
        .unwrap_or_default();
    if supplier != crate::dian::nit::normalize(&reg.supplier_id) {
        return Ok(Err(reject(
            "PAS73",
            format!(
                "El emisor de la nota {number} (NIT {supplier}) no es el emisor de la factura registrada {} (NIT {}).",
                reg.invoice_number, reg.supplier_id
            ),
        )));
    }
    if state.cancelled() {
        return Ok(Err(reject(
            "PAS74",
            format!(
                "El registro de la factura {} ya fue anulado (certificado {}); la nota {number} no se aplica.",
                reg.invoice_number, state.last.certificate_number
            ),
        )));
    }
    let code = concept(doc);
    let before = current(store, &state).await?;
    let value_before = dec(&state.last.ledger.net_value);
    let commission_before = dec(&state.last.ledger.net_commission);
    let after = match (kind, code.as_str()) {
        (DocKind::CreditNote, "2") => After::cancelled(),
        (DocKind::DebitNote, "1" | "2") => {
            item.add(Finding::notify(
                "PAS77",
                format!(
                    "La nota débito {number} (concepto {code}: intereses o gastos) no cambia el valor registrado de la factura {}.",
                    reg.invoice_number
                ),
            ));
            return Ok(Ok(Settlement {
                change: None,
                summary: summary(
                    doc,
                    &state,
                    "none",
                    value_before,
                    value_before,
                    commission_before,
                    commission_before,
                ),
            }));
        }
        _ => {
            let Some(pricing) = before.pricing.clone() else {
                return Ok(Err(review(
                    "PAS78",
                    format!(
                        "El registro de la factura {} no guarda el detalle de su liquidación (registrado antes de que las notas ajustaran registros); un operador debe aplicar la nota {number}.",
                        reg.invoice_number
                    ),
                )));
            };
            let Some(matcher) = price.matcher().await? else {
                return Ok(Err(Hold::Review(super::price::catalog_missing())));
            };
            let aliases = price
                .submitter_aliases(ctx, item.result.account.as_deref())
                .await?;
            let priced = price
                .price_lines(&matcher, doc.clone(), ctx.now.date_naive(), aliases)
                .await?;
            item.result.registration_lines = serde_json::to_value(&priced.priced.lines).ok();
            match adjust(kind, &number, before.lines.clone(), pricing, &priced) {
                Ok(a) => a,
                Err(h) => return Ok(Err(h)),
            }
        }
    };
    let after = match after.pricing {
        Some(p) if !p.lines.is_empty() => {
            let commission = price.rules().price(&p).map_err(|e| {
                StepError::Permanent(format!("repricing registration {}: {e}", reg.job_id))
            })?;
            After {
                lines: after.lines,
                pricing: Some(p),
                commission: Some(commission),
            }
        }
        // Nothing left registered: the note annuls the registration.
        _ => After::cancelled(),
    };
    let effect = if after.pricing.is_some() {
        Effect::Adjust
    } else {
        Effect::Cancel
    };
    let value_after: Decimal = after.lines.iter().map(|l| l.value).sum();
    let commission_after = after.commission.as_ref().map_or(Decimal::ZERO, |c| c.total);
    if let Some(c) = &after.commission {
        item.result.commission = serde_json::to_value(c).ok();
    }
    let mut data = before.data.clone();
    data.number = String::new();
    data.total_value = value_after;
    data.lines = after.lines;
    data.commission = match &after.commission {
        Some(c) => certificate_commission(c),
        None => certificate::Commission {
            total: Decimal::ZERO,
            rule_id: data.commission.rule_id.clone(),
            rule_version: data.commission.rule_version.clone(),
        },
    };
    data.adjustment = Some(Adjustment {
        effect,
        note_type: kind.root().to_owned(),
        note_number: number.clone(),
        note_cude: doc
            .uuid
            .as_ref()
            .map(|u| u.value.clone())
            .unwrap_or_default(),
        note_issue_date: doc
            .issue_date
            .as_deref()
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            .unwrap_or_else(|| ctx.now.date_naive()),
        concept: code.clone(),
        concept_name: note_concept_name(kind, &code).to_owned(),
        replaces: state.last.certificate_number.clone(),
        original: reg.certificate_number.clone(),
        value_before,
        commission_before,
    });
    let entry = Entry {
        note: Some(NoteEntry {
            kind: match effect {
                Effect::Adjust => EntryKind::Adjustment,
                Effect::Cancel => EntryKind::Cancellation,
            },
            adjusts: reg.job_id,
            seq: state.last.ledger.seq + 1,
            value_delta: value_after - value_before,
            commission_delta: commission_after - commission_before,
        }),
        pricing: after
            .pricing
            .as_ref()
            .and_then(|p| serde_json::to_string(p).ok()),
    };
    Ok(Ok(Settlement {
        change: Some(Change { data, entry }),
        summary: summary(
            doc,
            &state,
            effect.as_str(),
            value_before,
            value_after,
            commission_before,
            commission_after,
        ),
    }))
}

/// The registration as its latest certificate states it, and its pricing.
struct Current {
    data: CertificateData,
    lines: Vec<certificate::Line>,
    pricing: Option<PricingInput>,
}

async fn current(
    store: &crate::store::Store,
    state: &RegistrationState,
) -> Result<Current, StepError> {
    let number = &state.last.certificate_number;
    let record = store
        .certificate_by_number(number)
        .await
        .map_err(|e| StepError::Transient(e.to_string()))?
        .ok_or_else(|| StepError::Permanent(format!("certificate {number} is not recorded")))?;
    let data = certificate::issue::stored_data(&record)
        .map_err(|e| StepError::Permanent(e.to_string()))?;
    let pricing = state
        .last
        .ledger
        .pricing
        .as_deref()
        .and_then(|p| serde_json::from_str(p).ok());
    Ok(Current {
        lines: data.lines.clone(),
        data,
        pricing,
    })
}

/// The registration after a note.
struct After {
    lines: Vec<certificate::Line>,
    /// `None` when nothing is left registered.
    pricing: Option<PricingInput>,
    commission: Option<crate::rules::Commission>,
}

impl After {
    fn cancelled() -> After {
        After {
            lines: Vec::new(),
            pricing: None,
            commission: None,
        }
    }
}

/// Apply each priced note line to the registered line of the same catalog
/// product: a credit lowers its value and quantity, a debit raises them (or
/// adds the product). Lines left at zero are dropped.
fn adjust(
    kind: DocKind,
    number: &str,
    mut lines: Vec<certificate::Line>,
    mut pricing: PricingInput,
    priced: &super::price::PricedDoc,
) -> Result<After, Hold> {
    let credit = kind == DocKind::CreditNote;
    for (a, value) in priced.priced.lines.iter().zip(&priced.values) {
        let (Some(line), Some(pline)) = (certificate_line(a, *value), a.pricing_line(*value))
        else {
            return Err(review(
                "PAS75",
                format!(
                    "La línea {} de la nota {number} no corresponde a un producto elegible del catálogo; un operador debe decidir su efecto sobre el registro.",
                    a.line
                ),
            ));
        };
        let registered = lines
            .iter()
            .position(|l| l.catalog_code == line.catalog_code);
        let registered_p = pricing.lines.iter().position(|l| l.code == pline.code);
        match (registered, registered_p) {
            (Some(i), Some(j)) => {
                let sign = if credit { -Decimal::ONE } else { Decimal::ONE };
                lines[i].value += sign * line.value;
                lines[i].quantity += sign * line.quantity;
                pricing.lines[j].value += sign * pline.value;
                pricing.lines[j].quantity_kg += sign * pline.quantity_kg;
                if lines[i].value < Decimal::ZERO
                    || lines[i].quantity < Decimal::ZERO
                    || pricing.lines[j].value < Decimal::ZERO
                {
                    return Err(reject(
                        "PAS76",
                        format!(
                            "La nota crédito {number} acredita en la línea {} ({}) más de lo registrado para ese producto.",
                            a.line, line.catalog_code
                        ),
                    ));
                }
            }
            _ if !credit => {
                lines.push(line);
                pricing.lines.push(pline);
            }
            _ => {
                return Err(review(
                    "PAS75",
                    format!(
                        "La línea {} de la nota {number} (producto {}) no corresponde a un producto registrado de la factura; un operador debe decidir su efecto sobre el registro.",
                        a.line, line.catalog_code
                    ),
                ));
            }
        }
    }
    lines.retain(|l| l.value > Decimal::ZERO);
    pricing
        .lines
        .retain(|l: &PricingLine| l.value > Decimal::ZERO);
    Ok(After {
        lines,
        pricing: Some(pricing),
        commission: None,
    })
}

fn summary(
    doc: &Document,
    state: &RegistrationState,
    effect: &str,
    value_before: Decimal,
    value_after: Decimal,
    commission_before: Decimal,
    commission_after: Decimal,
) -> serde_json::Value {
    let code = concept(doc);
    let reg = &state.registration;
    json!({
        "type": doc.kind.root(),
        "concept": code,
        "concept_name": note_concept_name(doc.kind, &code),
        "refers_to": {
            "invoice": reg.invoice_number,
            "cufe": reg.cufe,
            "job_id": reg.job_id,
            "certificate": reg.certificate_number,
            "replaces": state.last.certificate_number,
        },
        "effect": effect,
        "value_before": value_before.to_string(),
        "value_after": value_after.to_string(),
        "value_delta": (value_after - value_before).to_string(),
        "commission_before": commission_before.to_string(),
        "commission_after": commission_after.to_string(),
        "commission_delta": (commission_after - commission_before).to_string(),
    })
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap_or_default()
}
