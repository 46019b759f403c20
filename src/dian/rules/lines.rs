//! Line items (FAZ09).

use super::{Emitter, Facts};

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
}
