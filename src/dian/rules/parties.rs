//! The parties' NIT check digits (FAJ24, FAK24) and identification types (PAS32).

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

/// DIAN's identification document types (Anexo técnico 1.9, "Documento de
/// identificación"): registro civil 11, tarjeta de identidad 12, cédula 13,
/// tarjeta de extranjería 21, cédula de extranjería 22, NIT 31, pasaporte 41,
/// documento extranjero 42, sin identificación del exterior 43, documento
/// extranjero de persona jurídica 44, PEP 47, PPT 48, NIT de otro país 50,
/// NUIP 91.
pub(crate) const ID_TYPES: &[&str] = &[
    "11", "12", "13", "21", "22", "31", "41", "42", "43", "44", "47", "48", "50", "91",
];

/// PAS32: the parties' identification type (CompanyID@schemeName), when
/// present, is in DIAN's list.
pub(super) fn check_id_types(f: &Facts<'_>, em: &mut Emitter<'_>) {
    let Facts { doc, .. } = *f;
    for (who, party, path) in [
        ("emisor", &doc.supplier, "cac:AccountingSupplierParty"),
        ("adquiriente", &doc.customer, "cac:AccountingCustomerParty"),
    ] {
        let Some(t) = party.as_ref().and_then(|p| p.id_type.as_deref()) else {
            continue;
        };
        if !ID_TYPES.contains(&t) {
            em.emit(
                "PAS32",
                format!(
                    "El tipo de identificación del {who} (CompanyID@schemeName) \"{t}\" no es un tipo de documento de la DIAN; valores admitidos: {}.",
                    ID_TYPES.join(", ")
                ),
                Some(&format!(
                    "{path}/cac:Party/cac:PartyTaxScheme/cbc:CompanyID/@schemeName"
                )),
            );
        }
    }
}
