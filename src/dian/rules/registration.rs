//! What the exchange registers: no POS documents, notes reference an invoice, production only (PAS21, PAS22, PAS28).

use crate::dian::model::DocKind;

use super::{Emitter, Facts};

/// Adds this family's findings.
pub(super) fn check(f: &Facts<'_>, em: &mut Emitter<'_>) {
    let Facts { doc, kind, env, .. } = *f;
    if kind == DocKind::Invoice {
        let pos_type = doc.type_code.as_deref() == Some("20");
        let pos_profile = doc.profile_id.as_deref().is_some_and(|p| {
            let p = p.to_ascii_uppercase();
            p.contains("P.O.S") || p.contains(" POS") || p.contains("EQUIVALENTE")
        });
        if pos_type || pos_profile {
            em.emit(
                "PAS21",
                "El documento es un documento equivalente POS; la bolsa solo registra facturas electrónicas de venta.",
                Some("cbc:InvoiceTypeCode"),
            );
        }
    } else if !doc.billing_references.iter().any(|b| b.id.is_some()) {
        em.emit(
            "PAS22",
            "La nota no referencia ninguna factura (cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID); no se puede registrar.",
            Some("cac:BillingReference"),
        );
    }
    if env == Some("2") {
        em.emit(
            "PAS28",
            "El documento es del ambiente de pruebas (ProfileExecutionID 2), no de producción.",
            Some("cbc:ProfileExecutionID"),
        );
    }
}
