//! Tax arithmetic: each TaxSubtotal's TaxAmount = TaxableAmount × Percent / 100 (PAS31).

use rust_decimal::Decimal;

use super::{Emitter, Facts, money};
use crate::dian::model::TaxTotal;

/// How many offending subtotals a message names before "y N más".
const NAMED: usize = 5;

/// Adds this family's findings.
pub(super) fn check(f: &Facts<'_>, em: &mut Emitter<'_>) {
    let Facts { doc, kind, tol, .. } = *f;
    let hundred = Decimal::ONE_HUNDRED;
    // Subtotals without a percentage (per-unit taxes) are not checked here.
    let wrong = |t: &TaxTotal| -> Vec<String> {
        t.subtotals
            .iter()
            .filter_map(|s| {
                let (base, rate, amount) = (s.taxable_amount?, s.percent?, s.tax_amount?);
                let expected = base * rate / hundred;
                ((amount - expected).abs() > tol).then(|| {
                    format!(
                        "tributo {} {}% sobre {} debe ser {} y es {}",
                        s.scheme_id.as_deref().unwrap_or("?"),
                        rate.normalize(),
                        money(base),
                        money(expected),
                        money(amount)
                    )
                })
            })
            .collect()
    };
    let mut report = |items: Vec<String>, where_: &str, path: &str| {
        if items.is_empty() {
            return;
        }
        let total = items.len();
        let mut named: Vec<String> = items.into_iter().take(NAMED).collect();
        if total > NAMED {
            named.push(format!("y {} más", total - NAMED));
        }
        em.emit(
            "PAS31",
            format!(
                "El valor del impuesto no es base × tarifa {where_}: {}.",
                named.join("; ")
            ),
            Some(path),
        );
    };
    let line_name = kind.line_element();
    let mut in_lines = Vec::new();
    let mut first_line = None;
    for (i, l) in doc.lines.iter().enumerate() {
        for t in &l.tax_totals {
            let w = wrong(t);
            if !w.is_empty() && first_line.is_none() {
                first_line = Some(i + 1);
            }
            let id = l.id.as_deref().unwrap_or("?");
            in_lines.extend(w.into_iter().map(|x| format!("línea {id}: {x}")));
        }
    }
    report(
        in_lines,
        "en las líneas",
        &format!(
            "cac:{line_name}[{}]/cac:TaxTotal/cac:TaxSubtotal/cbc:TaxAmount",
            first_line.unwrap_or(1)
        ),
    );
    let header: Vec<String> = doc.tax_totals.iter().flat_map(wrong).collect();
    report(
        header,
        "en el encabezado",
        "cac:TaxTotal/cac:TaxSubtotal/cbc:TaxAmount",
    );
}
