//! Signs of money amounts and quantities (VLR01).

use rust_decimal::Decimal;

use super::{Emitter, Facts, money};
use crate::dian::model::{AllowanceCharge, TaxTotal};

/// How many offending elements a VLR01 message names before "y N más".
const NAMED: usize = 5;

/// Adds this family's findings.
pub(super) fn check(f: &Facts<'_>, em: &mut Emitter<'_>) {
    let Facts { doc, kind, .. } = *f;
    // (path relative to the root, value); rounding amounts may be negative.
    let mut negative: Vec<(String, Decimal)> = Vec::new();
    let mut push = |path: String, v: Option<Decimal>| {
        if let Some(v) = v
            && v.is_sign_negative()
            && !v.is_zero()
        {
            negative.push((path, v));
        }
    };
    fn taxes(push: &mut impl FnMut(String, Option<Decimal>), t: &TaxTotal, path: &str) {
        push(format!("{path}/cbc:TaxAmount"), t.tax_amount);
        for s in &t.subtotals {
            push(
                format!("{path}/cac:TaxSubtotal/cbc:TaxableAmount"),
                s.taxable_amount,
            );
            push(
                format!("{path}/cac:TaxSubtotal/cbc:TaxAmount"),
                s.tax_amount,
            );
            push(
                format!("{path}/cac:TaxSubtotal/cac:TaxCategory/cbc:Percent"),
                s.percent,
            );
        }
    }
    fn allowances(push: &mut impl FnMut(String, Option<Decimal>), a: &AllowanceCharge, path: &str) {
        push(format!("{path}/cac:AllowanceCharge/cbc:Amount"), a.amount);
        push(
            format!("{path}/cac:AllowanceCharge/cbc:BaseAmount"),
            a.base_amount,
        );
        push(
            format!("{path}/cac:AllowanceCharge/cbc:MultiplierFactorNumeric"),
            a.percent,
        );
    }
    let line_name = kind.line_element();
    for (i, l) in doc.lines.iter().enumerate() {
        let p = format!("cac:{line_name}[{}]", i + 1);
        push(format!("{p}/cbc:{}", kind.quantity_element()), l.quantity);
        push(format!("{p}/cbc:LineExtensionAmount"), l.line_extension);
        push(format!("{p}/cac:Price/cbc:PriceAmount"), l.price);
        push(format!("{p}/cac:Price/cbc:BaseQuantity"), l.base_quantity);
        for a in &l.allowance_charges {
            allowances(&mut push, a, &p);
        }
        for t in &l.tax_totals {
            taxes(&mut push, t, &format!("{p}/cac:TaxTotal"));
        }
    }
    for a in &doc.allowance_charges {
        allowances(&mut push, a, "");
    }
    for t in &doc.tax_totals {
        taxes(&mut push, t, "cac:TaxTotal");
    }
    for t in &doc.withholding_tax_totals {
        taxes(&mut push, t, "cac:WithholdingTaxTotal");
    }
    for p in &doc.prepaid_payments {
        push("cac:PrepaidPayment/cbc:PaidAmount".to_owned(), *p);
    }
    if let Some(t) = &doc.totals {
        let totals_name = kind.totals_element();
        for (v, name) in [
            (t.line_extension, "LineExtensionAmount"),
            (t.tax_exclusive, "TaxExclusiveAmount"),
            (t.tax_inclusive, "TaxInclusiveAmount"),
            (t.allowance_total, "AllowanceTotalAmount"),
            (t.charge_total, "ChargeTotalAmount"),
            (t.prepaid, "PrepaidAmount"),
            (t.payable, "PayableAmount"),
        ] {
            push(format!("cac:{totals_name}/cbc:{name}"), v);
        }
    }
    if negative.is_empty() {
        return;
    }
    let mut named: Vec<String> = negative
        .iter()
        .take(NAMED)
        .map(|(p, v)| format!("{p} = {}", money(*v)))
        .collect();
    if negative.len() > NAMED {
        named.push(format!("y {} más", negative.len() - NAMED));
    }
    let first = negative[0].0.clone();
    em.emit(
        "VLR01",
        format!(
            "Los valores y cantidades no pueden ser negativos: {}.",
            named.join(", ")
        ),
        Some(&first),
    );
}
