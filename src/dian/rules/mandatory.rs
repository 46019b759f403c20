//! Well-formed values and mandatory elements (PAS08, PAS09, FAD01–FAD10, FAJ21, FAK21).

use super::parse_issue;
use crate::dian::model::DocKind;

use super::{Emitter, Facts};

/// Adds this family's findings.
pub(super) fn check(f: &Facts<'_>, em: &mut Emitter<'_>) {
    let Facts {
        doc,
        kind,
        env,
        issue_date,
        issued_at,
        ..
    } = *f;
    for (path, raw) in &doc.malformed {
        em.emit(
            "PAS08",
            format!("El valor \"{raw}\" no es un número decimal válido (use punto decimal y sin separador de miles)."),
            Some(path),
        );
    }

    // ---- mandatory fields ----
    if doc.ubl_version.as_deref() != Some("UBL 2.1") {
        em.emit(
            "FAD01",
            "UBLVersionID debe ser \"UBL 2.1\".",
            Some("cbc:UBLVersionID"),
        );
    }
    if doc.customization_id.is_none() {
        em.emit(
            "FAD02",
            "Falta el tipo de operación (CustomizationID).",
            Some("cbc:CustomizationID"),
        );
    }
    if !matches!(env, Some("1") | Some("2")) {
        em.emit(
            "FAD04",
            "ProfileExecutionID debe ser 1 (producción) o 2 (pruebas).",
            Some("cbc:ProfileExecutionID"),
        );
    }
    if doc.id.is_none() {
        em.emit(
            "FAD05",
            "Falta el número del documento (cbc:ID).",
            Some("cbc:ID"),
        );
    }
    if issue_date.is_none() {
        em.emit(
            "FAD09",
            "Falta la fecha de emisión o no tiene la forma AAAA-MM-DD.",
            Some("cbc:IssueDate"),
        );
    }
    if issued_at.is_none()
        && doc
            .issue_time
            .as_deref()
            .is_none_or(|t| parse_issue("2000-01-01", t).is_none())
    {
        em.emit(
            "FAD10",
            "Falta la hora de emisión o no tiene la forma HH:MM:SS-05:00.",
            Some("cbc:IssueTime"),
        );
    }
    // UBL 2.1's DebitNote has no type code element.
    if doc.type_code.is_none() && kind != DocKind::DebitNote {
        let el = kind.type_code_element();
        em.emit(
            "PAS09",
            format!("Falta el tipo de documento (cbc:{el})."),
            Some(&format!("cbc:{el}")),
        );
    }
    if doc.currency.is_none() {
        em.emit(
            "PAS09",
            "Falta la moneda del documento (DocumentCurrencyCode).",
            Some("cbc:DocumentCurrencyCode"),
        );
    }
    if kind == DocKind::Invoice && doc.dian.is_none() {
        em.emit(
            "PAS09",
            "Falta el grupo de extensiones DIAN (sts:DianExtensions).",
            Some("ext:UBLExtensions"),
        );
    }
    match &doc.supplier {
        None => em.emit(
            "PAS09",
            "Falta el emisor (AccountingSupplierParty).",
            Some("cac:AccountingSupplierParty"),
        ),
        Some(p) if p.company_id.is_none() => em.emit(
            "FAJ21",
            "Falta la identificación (NIT) del emisor.",
            Some("cac:AccountingSupplierParty/cac:Party/cac:PartyTaxScheme/cbc:CompanyID"),
        ),
        _ => {}
    }
    match &doc.customer {
        None => em.emit(
            "PAS09",
            "Falta el adquiriente (AccountingCustomerParty).",
            Some("cac:AccountingCustomerParty"),
        ),
        Some(p) if p.company_id.is_none() => em.emit(
            "FAK21",
            "Falta la identificación del adquiriente.",
            Some("cac:AccountingCustomerParty/cac:Party/cac:PartyTaxScheme/cbc:CompanyID"),
        ),
        _ => {}
    }
    let totals_name = kind.totals_element();
    if doc.totals.is_none() {
        em.emit(
            "PAS09",
            format!("Falta el grupo de totales (cac:{totals_name})."),
            Some(&format!("cac:{totals_name}")),
        );
    }
    if doc.lines.is_empty() {
        em.emit(
            "PAS09",
            format!(
                "El documento no tiene líneas (cac:{}).",
                kind.line_element()
            ),
            Some(&format!("cac:{}", kind.line_element())),
        );
    }
}
