//! One registration per invoice, whatever arrived (docs/REVIEW.md): a
//! document read from a PDF, scan or spreadsheet is reconciled with the
//! electronic invoices by CUFE or by supplier NIT + number.
//!
//! - the electronic invoice is already here → the reading is tied to it
//!   (verdict `duplicate`, rule 90, `duplicate_of` its job): never a second
//!   certificate or commission;
//! - it is not → the reading waits (verdict `review`, PAS88, reason
//!   `awaiting_xml`); when the XML arrives within `[review]
//!   awaiting_xml_days` it releases the reading, which runs again and is tied
//!   to it; after that an operator decides;
//! - an operator approved the reading → it is registered from the fields
//!   read (and corrected): the route's `price` and `certify` follow.

use std::collections::BTreeMap;

use crate::dian::DianSettings;
use crate::dian::extracted::{Extracted, ExtractedLine};
use crate::formats::extract::Extraction;
use crate::pipeline::{StepContext, StepError, WorkItem};
use crate::result::{Finding, Verdict};

fn transient(e: crate::store::StoreError) -> StepError {
    StepError::Transient(e.to_string())
}

/// The keys a reading names: its CUFE (lower case) and its supplier key.
pub(super) fn keys(fields: &Extraction) -> (Option<String>, Option<String>) {
    let cufe = fields
        .cufe
        .as_ref()
        .filter(|c| c.value.len() == 96 && !c.checks.iter().any(|k| k.starts_with('!')))
        .map(|c| c.value.to_ascii_lowercase());
    let supplier = match (&fields.supplier_nit, &fields.number) {
        (Some(n), Some(num)) => crate::dian::supplier_key(&n.value, &num.value),
        _ => None,
    };
    (cufe, supplier)
}

/// Tie, hold or (approved) register a confident reading.
pub(super) async fn reading(
    item: &mut WorkItem,
    ctx: &StepContext,
    dian: &DianSettings,
    fields: &Extraction,
    awaiting_xml: std::time::Duration,
) -> Result<(), StepError> {
    let (cufe, supplier) = keys(fields);
    item.supplier_key = supplier.clone();
    item.document_key = cufe.clone().or_else(|| supplier.clone());
    let Some(store) = &ctx.services.store else {
        // `process`: nothing to reconcile with.
        await_xml(item, &cufe, &supplier);
        return Ok(());
    };
    let job = item.job_id.unwrap_or_default();
    if let Some(h) = store
        .document_key_holder(job, cufe.as_deref(), supplier.as_deref())
        .await
        .map_err(transient)?
    {
        tie(item, dian, h.job_id, h.same_cufe);
        return Ok(());
    }
    // A job that registered before (approved then, run again now by a
    // replay) stays registered: its certificate is the one it has.
    let registered = store
        .registration_of_job(job)
        .await
        .map_err(transient)?
        .is_some();
    if (item.approval.is_some() || registered) && cufe.is_none() {
        item.add(Finding::notify(
            "PAS92",
            "Para registrar un documento aprobado sin su factura electrónica se necesita su CUFE (96 caracteres hexadecimales): corríjalo al aprobar (--set cufe=…).",
        ));
        item.verdict_override = Some(Verdict::Review);
        return Ok(());
    }
    if item.approval.is_some() || registered {
        // Registered from what was read: it claims the keys as an XML would.
        super::dian_validate::claim_keys(item, ctx, dian, Some(awaiting_xml)).await?;
        if item.verdict_override == Some(Verdict::Duplicate) {
            return Ok(());
        }
        let doc = crate::dian::extracted::document(&extracted(fields, item));
        item.result
            .findings
            .extend(crate::dian::extracted::check(&doc, dian, ctx.now));
        item.document = Some(doc);
        item.verdict_override = None;
        return Ok(());
    }
    let keys: Vec<String> = cufe.iter().chain(supplier.iter()).cloned().collect();
    store
        .await_documents(job, &keys, ctx.now.timestamp_millis())
        .await
        .map_err(transient)?;
    // The XML may have claimed its keys while this reading was being
    // recorded as waiting: look again, so a release is never missed.
    if let Some(h) = store
        .document_key_holder(job, cufe.as_deref(), supplier.as_deref())
        .await
        .map_err(transient)?
    {
        store
            .await_documents(job, &[], ctx.now.timestamp_millis())
            .await
            .map_err(transient)?;
        tie(item, dian, h.job_id, h.same_cufe);
        return Ok(());
    }
    await_xml(item, &cufe, &supplier);
    Ok(())
}

fn tie(item: &mut WorkItem, dian: &DianSettings, holder: i64, same_cufe: bool) {
    let what = if same_cufe {
        format!(
            "factura electrónica con el mismo CUFE, envío {holder}; este documento queda asociado a ese registro"
        )
    } else {
        format!(
            "factura electrónica del mismo emisor y número, envío {holder}; este documento queda asociado a ese registro"
        )
    };
    if let Some(f) = crate::dian::duplicate_finding(dian, &what) {
        item.add(f);
    }
    item.result.duplicate_of = Some(holder);
    item.verdict_override = Some(Verdict::Duplicate);
}

fn await_xml(item: &mut WorkItem, cufe: &Option<String>, supplier: &Option<String>) {
    let by = match (cufe, supplier) {
        (Some(c), _) => format!("CUFE {c}"),
        (None, Some(s)) => format!("emisor y número {s}"),
        (None, None) => "sus datos".to_owned(),
    };
    item.add(Finding::notify(
        "PAS88",
        format!(
            "Documento leído; queda a la espera de la factura electrónica (XML) con {by}: se registra cuando llegue, o lo decide un operador."
        ),
    ));
    item.verdict_override = Some(Verdict::Review);
}

/// The plain values of a reading (with an approval's line codes).
fn extracted(f: &Extraction, item: &WorkItem) -> Extracted {
    let v = |x: &Option<crate::formats::extract::Field>| x.as_ref().map(|f| f.value.clone());
    let d = |x: &Option<crate::formats::extract::Field>| x.as_ref().and_then(|f| f.decimal());
    let no_codes = BTreeMap::new();
    let codes = item.approval.as_ref().map_or(&no_codes, |a| &a.corrections);
    Extracted {
        number: v(&f.number),
        issue_date: v(&f.issue_date),
        issue_time: v(&f.issue_time),
        due_date: v(&f.due_date),
        supplier_name: v(&f.supplier_name),
        supplier_nit: v(&f.supplier_nit),
        supplier_dv: v(&f.supplier_dv),
        customer_name: v(&f.customer_name),
        customer_id_type: v(&f.customer_id_type),
        customer_id: v(&f.customer_id),
        customer_dv: v(&f.customer_dv),
        cufe: v(&f.cufe),
        subtotal: d(&f.subtotal),
        total: d(&f.total),
        lines: f
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| ExtractedLine {
                description: l.description.clone(),
                quantity: l.quantity,
                unit: l.unit.clone(),
                line_total: l.line_total,
                code: crate::review::line_code(codes, i + 1).map(str::to_owned),
            })
            .collect(),
    }
}

/// Release the readings waiting for the invoice whose keys an XML document
/// just claimed: they run again and are tied to it.
pub(super) async fn release_waiting(
    ctx: &StepContext,
    keys: &[&str],
    window: std::time::Duration,
) -> Result<Vec<i64>, StepError> {
    let Some(store) = &ctx.services.store else {
        return Ok(Vec::new());
    };
    let since = ctx.now.timestamp_millis() - window.as_millis() as i64;
    let mut released = Vec::new();
    for id in store.awaiting(keys, since).await.map_err(transient)? {
        if store
            .release(
                id,
                crate::review::Reason::AwaitingXml,
                ctx.now.timestamp_millis(),
            )
            .await
            .map_err(transient)?
        {
            released.push(id);
        }
    }
    Ok(released)
}

/// Reconcile each invoice of a broker's sheets (rows grouped by supplier NIT
/// and invoice number) with the electronic invoices: tied, or waiting. The
/// sheet is `duplicate` when every invoice is tied, `review` (PAS88) while
/// any waits; a sheet is never registered by itself. Returns the
/// `extraction.invoices` list.
pub(super) async fn sheet(
    item: &mut WorkItem,
    ctx: &StepContext,
    dian: &DianSettings,
    sheets: &[crate::formats::excel::Sheet],
) -> Result<Vec<serde_json::Value>, StepError> {
    use crate::formats::excel::Side;
    // (supplier NIT, number) → rows and total, in first-seen order.
    let mut order: Vec<(Option<String>, String)> = Vec::new();
    let mut rows: BTreeMap<
        (Option<String>, String),
        (Vec<serde_json::Value>, rust_decimal::Decimal),
    > = BTreeMap::new();
    for sh in sheets {
        for l in &sh.lines {
            // The supplier is the counterparty when the client buys, and the
            // client (its principal's NIT, when the sheet has it) when it sells.
            let supplier = match l.side {
                Side::Compra => Some(l.nit.clone()),
                Side::Venta => l
                    .extra
                    .get("principal")
                    .map(|p| p.chars().filter(char::is_ascii_digit).collect::<String>())
                    .filter(|p| !p.is_empty()),
            };
            let k = (supplier, l.invoice_number.trim().to_owned());
            let e = rows.entry(k.clone()).or_insert_with(|| {
                order.push(k.clone());
                (Vec::new(), rust_decimal::Decimal::ZERO)
            });
            e.0.push(serde_json::json!({"sheet": l.sheet, "row": l.row}));
            e.1 += l.total;
        }
    }
    let job = item.job_id.unwrap_or_default();
    let mut out = Vec::new();
    let mut waiting_keys = Vec::new();
    let mut waiting = Vec::new();
    let mut holders = Vec::new();
    for k in order {
        let (ref supplier, ref number) = k;
        let key = supplier
            .as_deref()
            .and_then(|n| crate::dian::supplier_key(n, number));
        let holder = match (&ctx.services.store, &key) {
            (Some(store), Some(key)) => store
                .document_key_holder(job, None, Some(key))
                .await
                .map_err(transient)?,
            _ => None,
        };
        let (rows_of, total) = &rows[&k];
        let status = match &holder {
            Some(h) => {
                holders.push(h.job_id);
                "tied"
            }
            None => {
                waiting.push(number.clone());
                waiting_keys.extend(key.clone());
                "awaiting_xml"
            }
        };
        out.push(serde_json::json!({
            "number": number,
            "supplier_nit": supplier,
            "rows": rows_of,
            "total": total.to_string(),
            "status": status,
            "registration_job": holder.map(|h| h.job_id),
        }));
    }
    if out.is_empty() {
        return Ok(out);
    }
    if waiting.is_empty() {
        let what = format!(
            "todas las facturas de la hoja ya llegaron como factura electrónica (envíos {}); la hoja queda asociada a esos registros",
            holders
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        if let Some(f) = crate::dian::duplicate_finding(dian, &what) {
            item.add(f);
        }
        item.result.duplicate_of = holders.first().copied();
        item.verdict_override = Some(Verdict::Duplicate);
        return Ok(out);
    }
    if let Some(store) = &ctx.services.store {
        store
            .await_documents(job, &waiting_keys, ctx.now.timestamp_millis())
            .await
            .map_err(transient)?;
        // An XML that claimed its keys while the sheet was being read did
        // not see the wait: read the sheet again on the new state.
        for k in &waiting_keys {
            if store
                .document_key_holder(job, None, Some(k))
                .await
                .map_err(transient)?
                .is_some()
            {
                return Err(StepError::Conflict(format!(
                    "the electronic invoice {k} arrived while the sheet was reconciled"
                )));
            }
        }
    }
    item.add(Finding::notify(
        "PAS88",
        format!(
            "{} de {} facturas de la hoja quedan a la espera de su factura electrónica (XML): {}. Se asocian solas cuando lleguen, o las decide un operador.",
            waiting.len(),
            out.len(),
            waiting.join(", ")
        ),
    ));
    item.verdict_override = Some(Verdict::Review);
    Ok(out)
}
