//! The parties' NIT check digits (FAJ24, FAK24).

use crate::dian::nit;

use super::{Emitter, Facts};

/// Adds this family's findings.
pub(super) fn check(f: &Facts<'_>, em: &mut Emitter<'_>) {
    let Facts { doc, .. } = *f;
    for (who, party, base, path) in [
        (
            "emisor",
            &doc.supplier,
            "FAJ24",
            "cac:AccountingSupplierParty",
        ),
        (
            "adquiriente",
            &doc.customer,
            "FAK24",
            "cac:AccountingCustomerParty",
        ),
    ] {
        let Some(p) = party else { continue };
        let Some(nit) = p.company_id.as_deref() else {
            continue;
        };
        if p.id_type.as_deref() != Some("31") {
            continue;
        }
        let loc = format!("{path}/cac:Party/cac:PartyTaxScheme/cbc:CompanyID/@schemeID");
        match (nit::check_digit(nit), p.dv.as_deref()) {
            (Some(dv), Some(given)) if given == dv.to_string() => {}
            (Some(dv), given) => em.emit(
                base,
                format!(
                    "El DV del NIT del {who} ({nit}) debe ser {dv}; el documento indica {}.",
                    given.unwrap_or("ninguno")
                ),
                Some(&loc),
            ),
            (None, _) => em.emit(
                base,
                format!("El NIT del {who} ({nit}) no es numérico; no se puede verificar el DV."),
                Some(&loc),
            ),
        }
    }
}
