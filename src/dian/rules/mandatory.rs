//! Well-formed values and mandatory elements (PAS08, PAS09, FAD01–FAD12, FAJ21, FAK21),
//! including DIAN's lists of operation types (FAD02) and document types (FAD12).

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
    match doc.customization_id.as_deref() {
        None => em.emit(
            "FAD02",
            "Falta el tipo de operación (CustomizationID).",
            Some("cbc:CustomizationID"),
        ),
        Some(op) if !operation_types(kind).contains(&op) => em.emit(
            "FAD02",
            format!(
                "El tipo de operación (CustomizationID) \"{op}\" no es válido para {}; valores admitidos: {}.",
                kind_name(kind),
                operation_types(kind).join(", ")
            ),
            Some("cbc:CustomizationID"),
        ),
        _ => {}
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
    let el = kind.type_code_element();
    match doc.type_code.as_deref() {
        None if kind != DocKind::DebitNote => em.emit(
            "PAS09",
            format!("Falta el tipo de documento (cbc:{el})."),
            Some(&format!("cbc:{el}")),
        ),
        Some(tc) if !document_types(kind).contains(&tc) => em.emit(
            "FAD12",
            format!(
                "El tipo de documento (cbc:{el}) \"{tc}\" no es válido para {}; valores admitidos: {}.",
                kind_name(kind),
                document_types(kind).join(", ")
            ),
            Some(&format!("cbc:{el}")),
        ),
        _ => {}
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

/// DIAN's operation types (cbc:CustomizationID, Anexo técnico 1.9, table
/// "Tipos de operación") per document kind.
pub(crate) fn operation_types(kind: DocKind) -> &'static [&'static str] {
    match kind {
        // 09 AIU, 10 estándar, 11 mandatos, 12 transporte, 15 compra de divisas.
        DocKind::Invoice => &["09", "10", "11", "12", "15"],
        // 20 referencing an invoice, 22 without reference, 23 for invoices of
        // the previous system (Decreto 2242).
        DocKind::CreditNote => &["20", "22", "23"],
        DocKind::DebitNote => &["30", "32", "33"],
    }
}

/// DIAN's document type codes (cbc:InvoiceTypeCode and the notes' type codes).
pub(crate) fn document_types(kind: DocKind) -> &'static [&'static str] {
    match kind {
        // 01 venta, 02 exportación, 03 contingencia del facturador, 04
        // contingencia DIAN; 20 (documento equivalente POS) is a DIAN type
        // that PAS21 refuses for registration, so FAD12 does not report it.
        DocKind::Invoice => &["01", "02", "03", "04", "20"],
        DocKind::CreditNote => &["91"],
        DocKind::DebitNote => &["92"],
    }
}

fn kind_name(kind: DocKind) -> &'static str {
    match kind {
        DocKind::Invoice => "una factura",
        DocKind::CreditNote => "una nota crédito",
        DocKind::DebitNote => "una nota débito",
    }
}
