//! Line items: item identification (FAZ09) and units of measure (PAS33).

use super::units::is_unit_code;
use super::{Emitter, Facts};

/// How many offending lines a message names before "y N más".
const NAMED: usize = 5;

/// Adds this family's findings.
pub(super) fn check(f: &Facts<'_>, em: &mut Emitter<'_>) {
    let Facts { doc, kind, .. } = *f;
    let unidentified: Vec<&str> = doc
        .lines
        .iter()
        .filter(|l| l.sellers_item_id.is_none() && l.standard_item_id.is_none())
        .map(|l| l.id.as_deref().unwrap_or("?"))
        .collect();
    if !unidentified.is_empty() {
        em.emit(
            "FAZ09",
            format!(
                "Las líneas {} no tienen identificación del artículo (SellersItemIdentification o StandardItemIdentification).",
                unidentified.join(", ")
            ),
            Some(&format!("cac:{}/cac:Item", kind.line_element())),
        );
    }

    // Units of measure: only lines that carry a quantity (a missing or
    // unreadable quantity is another rule's finding).
    let mut bad_units = Vec::new();
    let mut first = None;
    for (i, l) in doc.lines.iter().enumerate() {
        if l.quantity.is_none() {
            continue;
        }
        let id = l.id.as_deref().unwrap_or("?");
        let problem = match l.unit_code.as_deref() {
            None => format!("línea {id}: sin unitCode"),
            Some(u) if !is_unit_code(u) => format!("línea {id}: \"{u}\""),
            Some(_) => continue,
        };
        first.get_or_insert(i + 1);
        bad_units.push(problem);
    }
    if let Some(first) = first {
        let total = bad_units.len();
        let mut named: Vec<String> = bad_units.into_iter().take(NAMED).collect();
        if total > NAMED {
            named.push(format!("y {} más", total - NAMED));
        }
        em.emit(
            "PAS33",
            format!(
                "La unidad de la cantidad no existe en la lista de unidades (UN/ECE Rec. 20/21 y la lista de la DIAN): {}.",
                named.join("; ")
            ),
            Some(&format!(
                "cac:{}[{first}]/cbc:{}/@unitCode",
                kind.line_element(),
                kind.quantity_element()
            )),
        );
    }
}
