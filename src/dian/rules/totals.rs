//! Monetary totals and header tax groups (PAS09, FAU02, FAU04, FAU06, FAU14, FAS01b).

use rust_decimal::Decimal;

use super::money;

use super::{Emitter, Facts};

/// Adds this family's findings.
pub(super) fn check(f: &Facts<'_>, em: &mut Emitter<'_>) {
    let Facts { doc, kind, tol, .. } = *f;
    let totals_name = kind.totals_element();
    if let Some(t) = &doc.totals {
        let tp = |name: &str| format!("cac:{totals_name}/cbc:{name}");
        for (v, name) in [
            (t.line_extension, "LineExtensionAmount"),
            (t.tax_exclusive, "TaxExclusiveAmount"),
            (t.tax_inclusive, "TaxInclusiveAmount"),
            (t.payable, "PayableAmount"),
        ] {
            let malformed = doc
                .malformed
                .iter()
                .any(|(p, _)| p.ends_with(&format!("cbc:{name}")));
            if v.is_none() && !malformed {
                em.emit(
                    "PAS09",
                    format!("Falta cbc:{name} en cac:{totals_name}."),
                    Some(&tp(name)),
                );
            }
        }
        let lines_ok = doc.lines.iter().all(|l| l.line_extension.is_some());
        let sum_lines: Decimal = doc.lines.iter().filter_map(|l| l.line_extension).sum();
        if let Some(le) = t.line_extension
            && lines_ok
            && !doc.lines.is_empty()
            && (le - sum_lines).abs() > tol
        {
            em.emit(
                "FAU02",
                format!(
                    "LineExtensionAmount ({}) no es la suma de los valores de las líneas ({}).",
                    money(le),
                    money(sum_lines)
                ),
                Some(&tp("LineExtensionAmount")),
            );
        }
        // FAU04: the taxable base is the sum of the bases the lines declare
        // (their TaxSubtotal/TaxableAmount), not of their LineExtensionAmount:
        // an AIU line is taxed on part of its value, a free sample on a
        // reference price. A line with no tax declares no base. A line taxed
        // by several schemes over one base (IVA and ICA) declares it once:
        // its base is its largest TaxableAmount. An unreadable TaxableAmount
        // is PAS08's, so the sum is not judged then.
        let line_prefix = format!("/{}/cac:{}", kind.root(), kind.line_element());
        let bases_ok = !doc
            .malformed
            .iter()
            .any(|(p, _)| p.starts_with(&line_prefix) && p.ends_with("cbc:TaxableAmount"));
        let declared: Decimal = doc
            .lines
            .iter()
            .filter_map(|l| {
                l.tax_totals
                    .iter()
                    .flat_map(|t| &t.subtotals)
                    .filter_map(|s| s.taxable_amount)
                    .max()
            })
            .sum();
        if let Some(te) = t.tax_exclusive
            && bases_ok
            && (te - declared).abs() > tol
        {
            em.emit(
                "FAU04",
                format!(
                    "La base imponible TaxExclusiveAmount ({}) es distinta de la suma de las bases imponibles (TaxableAmount) de las líneas ({}).",
                    money(te),
                    money(declared)
                ),
                Some(&tp("TaxExclusiveAmount")),
            );
        }
        let header_tax: Decimal = doc.tax_totals.iter().filter_map(|t| t.tax_amount).sum();
        if let (Some(ti), Some(le)) = (t.tax_inclusive, t.line_extension) {
            let expected = le + header_tax;
            if (ti - expected).abs() > tol {
                em.emit(
                    "FAU06",
                    format!(
                        "TaxInclusiveAmount ({}) debe ser LineExtensionAmount más impuestos ({} + {} = {}).",
                        money(ti),
                        money(le),
                        money(header_tax),
                        money(expected)
                    ),
                    Some(&tp("TaxInclusiveAmount")),
                );
            }
        }
        if let (Some(pay), Some(ti)) = (t.payable, t.tax_inclusive) {
            let z = Decimal::ZERO;
            let expected = ti - t.allowance_total.unwrap_or(z) + t.charge_total.unwrap_or(z)
                - t.prepaid.unwrap_or(z)
                + t.rounding.unwrap_or(z);
            if (pay - expected).abs() > tol {
                em.emit(
                    "FAU14",
                    format!(
                        "PayableAmount ({}) debe ser TaxInclusive − descuentos + cargos − anticipos + redondeo = {}.",
                        money(pay),
                        money(expected)
                    ),
                    Some(&tp("PayableAmount")),
                );
            }
        }
    }

    // ---- header tax groups ----
    let mut seen: Vec<&str> = Vec::new();
    for t in &doc.tax_totals {
        if let Some(s) = t.scheme_id() {
            if seen.contains(&s) {
                em.emit(
                    "FAS01b",
                    format!("Hay más de un grupo TaxTotal de encabezado para el tributo {s}."),
                    Some("cac:TaxTotal"),
                );
            } else {
                seen.push(s);
            }
        }
    }
    let mut missing: Vec<&str> = Vec::new();
    for l in &doc.lines {
        for t in &l.tax_totals {
            if let Some(s) = t.scheme_id()
                && !seen.contains(&s)
                && !missing.contains(&s)
            {
                missing.push(s);
            }
        }
    }
    for s in missing {
        em.emit(
            "FAS01b",
            format!(
                "Las líneas informan el tributo {s} pero no hay TaxTotal de encabezado para él."
            ),
            Some("cac:TaxTotal"),
        );
    }
}
