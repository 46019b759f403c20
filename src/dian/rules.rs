//! The rule catalog and the checks that apply it to a [`Document`].
//!
//! Codes are DIAN's where DIAN has one (as seen in real DIAN answers and the
//! Anexo's field IDs; invoice codes `FA..` become `CA..` for credit notes and
//! `DA..` for debit notes) and Pasarela's own, prefixed `PAS`, for
//! everything DIAN does not check (hostile input, registration rules).
//! Messages follow DIAN's wording: "Regla: FAD06, Rechazo: ...".

use chrono::{DateTime, FixedOffset, NaiveDate};
use rust_decimal::Decimal;

use super::cufe::{self, KeyInput};
use super::model::{DocKind, Document, Party};
use super::settings::{DianSettings, ReceptionReference};
use crate::result::{Finding, Severity};

/// One catalog entry.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// Code as for invoices (`FA..`) or a `PAS` code.
    pub code: &'static str,
    pub severity: Severity,
    /// Short Spanish title.
    pub title: &'static str,
    /// Element path the rule concerns (invoice form).
    pub location: &'static str,
    /// What it checks (English, for the docs).
    pub checks: &'static str,
}

use Severity::{Notify as N, Reject as R};

macro_rules! rule {
    ($code:literal, $sev:expr, $title:literal, $loc:literal, $checks:literal) => {
        Rule {
            code: $code,
            severity: $sev,
            title: $title,
            location: $loc,
            checks: $checks,
        }
    };
}

/// Every rule Pasarela applies. docs/DIAN.md is generated from the same facts.
pub const CATALOG: &[Rule] = &[
    rule!(
        "PAS01",
        R,
        "Archivo vacío",
        "/",
        "The file is empty or only whitespace."
    ),
    rule!(
        "PAS02",
        R,
        "Archivo demasiado grande",
        "/",
        "Size above `max_file_bytes` (default 20 MiB)."
    ),
    rule!(
        "PAS03",
        R,
        "Codificación no admitida",
        "/",
        "Encoding other than UTF-8: UTF-16/32 BOM or byte pattern, a declared non-UTF-8 encoding, or invalid UTF-8 bytes (says which)."
    ),
    rule!(
        "PAS04",
        R,
        "DOCTYPE/DTD no permitido",
        "/",
        "Any DOCTYPE declaration (blocks billion laughs and external entities)."
    ),
    rule!(
        "PAS05",
        R,
        "Entidad no permitida",
        "/",
        "Entity references other than the five predefined ones and valid character references."
    ),
    rule!(
        "PAS06",
        R,
        "Anidamiento excesivo",
        "/",
        "Element nesting deeper than `max_depth`."
    ),
    rule!(
        "PAS07",
        R,
        "Demasiados elementos",
        "/",
        "More than `max_elements` elements."
    ),
    rule!(
        "PAS08",
        R,
        "Valor mal formado",
        "(element)",
        "A money/quantity value that is not a plain decimal (e.g. thousands separators)."
    ),
    rule!(
        "PAS09",
        R,
        "Elemento obligatorio ausente",
        "(element)",
        "Mandatory element without a DIAN-specific code: type code, currency, DianExtensions (invoices), parties, totals group, lines, TaxExclusive/TaxInclusive/Payable amounts."
    ),
    rule!(
        "PAS10",
        R,
        "XML mal formado",
        "/",
        "Not well-formed XML, truncated file, undeclared namespace prefix."
    ),
    rule!(
        "PAS11",
        R,
        "No es un documento DIAN UBL 2.1",
        "/",
        "Root element is not Invoice, CreditNote, DebitNote, AttachedDocument or ApplicationResponse in its UBL 2.1 namespace."
    ),
    rule!(
        "PAS12",
        R,
        "AttachedDocument sin documento legible",
        "/AttachedDocument/cac:Attachment/cac:ExternalReference/cbc:Description",
        "The container holds no embedded invoice/note, or it cannot be parsed."
    ),
    rule!(
        "PAS13",
        R,
        "Documento no validado por la DIAN",
        "/AttachedDocument/cac:ParentDocumentLineReference",
        "DIAN's ApplicationResponse inside the container has a ResponseCode other than 02, or refers to another document."
    ),
    rule!(
        "PAS14",
        R,
        "ApplicationResponse no registrable",
        "/ApplicationResponse",
        "An ApplicationResponse alone is an event, not an invoice to register."
    ),
    rule!(
        "PAS20",
        R,
        "Factura con antigüedad superior a la permitida",
        "/Invoice/cbc:IssueDate",
        "Exchange registration rule: invoice issued more than `max_age_days` (180) before now."
    ),
    rule!(
        "PAS21",
        R,
        "Documento equivalente POS no admitido",
        "/Invoice/cbc:InvoiceTypeCode",
        "Exchange registration rule: POS equivalent documents (type code 20 or a POS ProfileID) are not registrable."
    ),
    rule!(
        "PAS22",
        R,
        "Nota sin referencia a factura",
        "/CreditNote/cac:BillingReference",
        "Exchange registration rule: credit/debit notes must reference the invoice (BillingReference/InvoiceDocumentReference/ID)."
    ),
    rule!(
        "PAS23",
        R,
        "Fecha de emisión futura",
        "/Invoice/cbc:IssueDate",
        "Issue date and time later than now + `max_future_minutes`."
    ),
    rule!(
        "PAS24",
        N,
        "CUFE/CUDE no verificable",
        "/Invoice/cbc:UUID",
        "No technical key (invoices) or software PIN (notes) configured for this range/software: the key's form was checked, its value could not be."
    ),
    rule!(
        "PAS25",
        N,
        "CUFE del QR diferente",
        "/Invoice/ext:UBLExtensions/.../sts:QRCode",
        "The QR text carries a CUFE/CUDE different from cbc:UUID."
    ),
    rule!(
        "PAS26",
        R,
        "schemeName del CUFE/CUDE",
        "/Invoice/cbc:UUID/@schemeName",
        "cbc:UUID@schemeName must be CUFE-SHA384 (invoices) or CUDE-SHA384 (notes)."
    ),
    rule!(
        "PAS27",
        R,
        "schemeID del CUFE/CUDE",
        "/Invoice/cbc:UUID/@schemeID",
        "cbc:UUID@schemeID must equal cbc:ProfileExecutionID."
    ),
    rule!(
        "PAS28",
        N,
        "Documento del ambiente de pruebas",
        "/Invoice/cbc:ProfileExecutionID",
        "ProfileExecutionID 2 (habilitación): not a production document."
    ),
    rule!(
        "PAS30",
        R,
        "Fuera del periodo de autorización",
        "/Invoice/cbc:IssueDate",
        "Issue date outside the numbering range's authorization period (configured range, else sts:AuthorizationPeriod)."
    ),
    rule!(
        "FAB05c",
        R,
        "Software no corresponde al rango",
        "/Invoice/ext:UBLExtensions/.../sts:SoftwareID",
        "The range in rules/dian.toml names a software_id and the document's SoftwareID differs."
    ),
    rule!(
        "FAB10a",
        R,
        "Prefijo no corresponde",
        "/Invoice/cbc:ID",
        "cbc:ID does not start with the authorized prefix (sts:Prefix), or the number after it is not numeric."
    ),
    rule!(
        "FAD01",
        R,
        "Versión UBL",
        "/Invoice/cbc:UBLVersionID",
        "UBLVersionID missing or not `UBL 2.1`."
    ),
    rule!(
        "FAD02",
        R,
        "Tipo de operación ausente",
        "/Invoice/cbc:CustomizationID",
        "CustomizationID missing."
    ),
    rule!(
        "FAD04",
        R,
        "Ambiente ausente o inválido",
        "/Invoice/cbc:ProfileExecutionID",
        "ProfileExecutionID missing or not 1/2."
    ),
    rule!(
        "FAD05",
        R,
        "Número de documento ausente",
        "/Invoice/cbc:ID",
        "cbc:ID missing."
    ),
    rule!(
        "FAD05b",
        R,
        "Número inferior al rango autorizado",
        "/Invoice/cbc:ID",
        "Invoice number below the range's From (configured range, else sts:From)."
    ),
    rule!(
        "FAD05c",
        R,
        "Número superior al rango autorizado",
        "/Invoice/cbc:ID",
        "Invoice number above the range's To."
    ),
    rule!(
        "FAD06",
        R,
        "CUFE/CUDE no calculado correctamente",
        "/Invoice/cbc:UUID",
        "cbc:UUID missing, not 96 hex characters, or different (compared case-insensitively, as DIAN does) from the SHA-384 recomputed with the configured technical key (CUFE) or software PIN (CUDE: notes, and contingency invoices of type 03, whose `schemeName` is `CUDE-SHA384`)."
    ),
    rule!(
        "FAD09",
        R,
        "Fecha de emisión ausente o inválida",
        "/Invoice/cbc:IssueDate",
        "IssueDate missing or not YYYY-MM-DD."
    ),
    rule!(
        "FAD09c",
        R,
        "Fecha de emisión fuera de la ventana de recepción",
        "/Invoice/cbc:IssueDate",
        "Issue date more than `reception_window_days` (10) before reception: DIAN's reception (ApplicationResponse date, else signing time) by default, or now (`reception_reference`)."
    ),
    rule!(
        "FAD09e",
        N,
        "Fecha de emisión distinta de la fecha de firma",
        "/Invoice/cbc:IssueDate",
        "The xades:SigningTime date differs from the issue date."
    ),
    rule!(
        "FAD10",
        R,
        "Hora de emisión ausente o inválida",
        "/Invoice/cbc:IssueTime",
        "IssueTime missing or not HH:MM:SS with offset (e.g. 10:53:10-05:00)."
    ),
    rule!(
        "FAJ21",
        R,
        "Identificación del emisor ausente",
        "/Invoice/cac:AccountingSupplierParty/cac:Party/cac:PartyTaxScheme/cbc:CompanyID",
        "Supplier CompanyID missing."
    ),
    rule!(
        "FAJ24",
        R,
        "DV del emisor no corresponde",
        "/Invoice/cac:AccountingSupplierParty/cac:Party/cac:PartyTaxScheme/cbc:CompanyID/@schemeID",
        "Supplier NIT (schemeName 31) check digit missing or wrong."
    ),
    rule!(
        "FAK21",
        R,
        "Identificación del adquiriente ausente",
        "/Invoice/cac:AccountingCustomerParty/cac:Party/cac:PartyTaxScheme/cbc:CompanyID",
        "Customer CompanyID missing."
    ),
    rule!(
        "FAK24",
        R,
        "DV del adquiriente no corresponde",
        "/Invoice/cac:AccountingCustomerParty/cac:Party/cac:PartyTaxScheme/cbc:CompanyID/@schemeID",
        "Customer NIT (schemeName 31) check digit wrong (other ID types may leave it empty)."
    ),
    rule!(
        "FAS01b",
        R,
        "Grupos de impuestos del encabezado",
        "/Invoice/cac:TaxTotal",
        "More than one header TaxTotal for one tax scheme, or a line tax scheme without header TaxTotal."
    ),
    rule!(
        "FAU02",
        R,
        "Valor bruto diferente de la suma de las líneas",
        "/Invoice/cac:LegalMonetaryTotal/cbc:LineExtensionAmount",
        "LineExtensionAmount = Σ line LineExtensionAmount (± tolerance)."
    ),
    rule!(
        "FAU04",
        R,
        "Base imponible diferente de la suma de bases",
        "/Invoice/cac:LegalMonetaryTotal/cbc:TaxExclusiveAmount",
        "TaxExclusiveAmount = Σ LineExtensionAmount of lines that carry a tax (± tolerance)."
    ),
    rule!(
        "FAU06",
        R,
        "Total con impuestos incorrecto",
        "/Invoice/cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount",
        "TaxInclusiveAmount = LineExtensionAmount + Σ header TaxAmount (± tolerance)."
    ),
    rule!(
        "FAU14",
        R,
        "Valor a pagar incorrecto",
        "/Invoice/cac:LegalMonetaryTotal/cbc:PayableAmount",
        "PayableAmount = TaxInclusive − AllowanceTotal + ChargeTotal − Prepaid + PayableRounding (± tolerance)."
    ),
    rule!(
        "FAZ09",
        N,
        "Identificación del artículo ausente",
        "/Invoice/cac:InvoiceLine/cac:Item",
        "A line has neither SellersItemIdentification nor StandardItemIdentification."
    ),
    rule!(
        "90",
        R,
        "Documento procesado anteriormente",
        "/Invoice/cbc:UUID",
        "The same CUFE/CUDE (or supplier NIT + number) was already registered."
    ),
];

/// The catalog entry for a code as emitted (`CAD06` → `FAD06`).
pub fn base_code(code: &str) -> Option<&'static Rule> {
    if let Some(r) = CATALOG.iter().find(|r| r.code == code) {
        return Some(r);
    }
    let rest = code
        .strip_prefix("CA")
        .or_else(|| code.strip_prefix("DA"))?;
    CATALOG
        .iter()
        .find(|r| r.code.strip_prefix("FA") == Some(rest))
}

/// The code as emitted for a document kind.
pub fn code_for(base: &str, kind: Option<DocKind>) -> String {
    match (base.strip_prefix("FA"), kind) {
        (Some(rest), Some(k)) => format!("{}{rest}", k.rule_prefix()),
        _ => base.to_owned(),
    }
}

/// Collects findings, applying the administrator's overrides.
pub struct Emitter<'s> {
    pub settings: &'s DianSettings,
    pub kind: Option<DocKind>,
    pub root: &'static str,
    pub findings: Vec<Finding>,
}

impl<'s> Emitter<'s> {
    pub fn new(settings: &'s DianSettings, kind: Option<DocKind>, root: &'static str) -> Self {
        Self {
            settings,
            kind,
            root,
            findings: Vec::new(),
        }
    }

    /// Emit rule `base` with a Spanish detail; `path` is relative to the root.
    pub fn emit(&mut self, base: &'static str, detail: impl AsRef<str>, path: Option<&str>) {
        let default = CATALOG
            .iter()
            .find(|r| r.code == base)
            .map(|r| r.severity)
            .unwrap_or(Severity::Reject);
        let code = code_for(base, self.kind);
        let Some(severity) = self.settings.severity(&code, base, default) else {
            return;
        };
        let word = match severity {
            Severity::Reject => "Rechazo",
            Severity::Notify => "Notificación",
        };
        let message = format!("Regla: {code}, {word}: {}", detail.as_ref());
        let mut f = match severity {
            Severity::Reject => Finding::reject(code, message),
            Severity::Notify => Finding::notify(code, message),
        };
        if let Some(p) = path {
            f = f.at(if p.starts_with('/') || p.is_empty() {
                p.to_owned()
            } else {
                format!("/{}/{p}", self.root)
            });
        }
        self.findings.push(f);
    }
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

fn parse_issue(date: &str, time: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_str(&format!("{date}T{time}"), "%Y-%m-%dT%H:%M:%S%:z").ok()
}

fn money(d: Decimal) -> String {
    format!("{:.2}", d)
}

/// Split cbc:ID into (prefix, number) using the authorized prefix when known,
/// else the leading non-digits.
pub fn split_number<'a>(id: &'a str, prefix: Option<&str>) -> (&'a str, &'a str) {
    match prefix {
        Some(p) if id.starts_with(p) => id.split_at(p.len()),
        _ => {
            let at = id.find(|c: char| c.is_ascii_digit()).unwrap_or(id.len());
            id.split_at(at)
        }
    }
}

fn nit_of(p: Option<&Party>) -> Option<&str> {
    p.and_then(|p| p.company_id.as_deref())
}

/// Every content rule, in catalog order of concern.
pub fn check_document(
    doc: &Document,
    settings: &DianSettings,
    now: DateTime<FixedOffset>,
    em: &mut Emitter<'_>,
) {
    let kind = doc.kind;
    // Contingency invoices (type 03) carry a CUDE made with the software PIN,
    // like notes; other invoices a CUFE made with the range's technical key.
    let uses_pin = kind != DocKind::Invoice || doc.type_code.as_deref() == Some("03");
    let key_name = if uses_pin { "CUDE" } else { kind.key_name() };
    let tol = settings.tolerance;

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
    let env = doc.profile_execution_id.as_deref();
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
    let issue_date = doc.issue_date.as_deref().and_then(parse_date);
    if issue_date.is_none() {
        em.emit(
            "FAD09",
            "Falta la fecha de emisión o no tiene la forma AAAA-MM-DD.",
            Some("cbc:IssueDate"),
        );
    }
    let issued_at = match (doc.issue_date.as_deref(), doc.issue_time.as_deref()) {
        (Some(d), Some(t)) => parse_issue(d, t),
        _ => None,
    };
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

    // ---- check digits ----
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
        match (cufe::nit_dv(nit), p.dv.as_deref()) {
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

    // ---- CUFE / CUDE ----
    let dian = doc.dian.as_ref();
    let supplier_nit = nit_of(doc.supplier.as_ref());
    let authorized_prefix = dian.and_then(|d| d.prefix.as_deref());
    let (prefix, number) = doc
        .id
        .as_deref()
        .map(|id| split_number(id, authorized_prefix))
        .unwrap_or(("", ""));
    let range = if kind == DocKind::Invoice {
        settings.range_for(
            supplier_nit,
            authorized_prefix.unwrap_or(prefix),
            dian.and_then(|d| d.invoice_authorization.as_deref()),
        )
    } else {
        None
    };
    match &doc.uuid {
        None => em.emit(
            "FAD06",
            format!("Falta el {key_name} (cbc:UUID)."),
            Some("cbc:UUID"),
        ),
        Some(u) => {
            let expected_scheme = format!("{key_name}-SHA384");
            if u.scheme_name.as_deref() != Some(expected_scheme.as_str()) {
                em.emit(
                    "PAS26",
                    format!(
                        "cbc:UUID@schemeName debe ser \"{expected_scheme}\"; el documento indica \"{}\".",
                        u.scheme_name.as_deref().unwrap_or("")
                    ),
                    Some("cbc:UUID/@schemeName"),
                );
            }
            if env.is_some() && u.scheme_id.as_deref() != env {
                em.emit(
                    "PAS27",
                    format!(
                        "cbc:UUID@schemeID (\"{}\") debe ser igual a ProfileExecutionID (\"{}\").",
                        u.scheme_id.as_deref().unwrap_or(""),
                        env.unwrap_or("")
                    ),
                    Some("cbc:UUID/@schemeID"),
                );
            }
            if !cufe::is_sha384_hex(&u.value) {
                em.emit(
                    "FAD06",
                    format!("El {key_name} no tiene la forma de un SHA-384 (96 caracteres hexadecimales)."),
                    Some("cbc:UUID"),
                );
            } else {
                let secret = if uses_pin {
                    settings.pin_for(supplier_nit, dian.and_then(|d| d.software_id.as_deref()))
                } else {
                    range.map(|r| r.technical_key.as_str())
                };
                let totals = doc.totals.as_ref();
                let tax = |scheme: &str| {
                    doc.tax_totals
                        .iter()
                        .filter(|t| t.scheme_id() == Some(scheme))
                        .filter_map(|t| t.tax_amount)
                        .sum::<Decimal>()
                };
                let inputs = (
                    doc.id.as_deref(),
                    doc.issue_date.as_deref(),
                    doc.issue_time.as_deref(),
                    totals.and_then(|t| t.line_extension),
                    totals.and_then(|t| t.payable),
                    supplier_nit,
                    nit_of(doc.customer.as_ref()),
                    env,
                );
                match (secret, inputs) {
                    (None, _) => em.emit(
                        "PAS24",
                        match uses_pin {
                            false => format!(
                                "No se puede verificar el CUFE: no hay clave técnica configurada para el rango {} del emisor {} (rules/dian.toml). El CUFE no se da por válido.",
                                if prefix.is_empty() { "sin prefijo" } else { prefix },
                                supplier_nit.unwrap_or("?")
                            ),
                            true => format!(
                                "No se puede verificar el CUDE: no hay PIN de software configurado para el software {} (rules/dian.toml). El CUDE no se da por válido.",
                                dian.and_then(|d| d.software_id.as_deref()).unwrap_or("?")
                            ),
                        },
                        Some("cbc:UUID"),
                    ),
                    (
                        Some(secret),
                        (
                            Some(id),
                            Some(date),
                            Some(time),
                            Some(line_extension),
                            Some(payable),
                            Some(supplier),
                            Some(customer),
                            Some(env),
                        ),
                    ) => {
                        let input = KeyInput {
                            number: id,
                            issue_date: date,
                            issue_time: time,
                            line_extension,
                            iva: tax("01"),
                            inc: tax("04"),
                            ica: tax("03"),
                            payable,
                            supplier_nit: supplier,
                            customer_id: customer,
                            secret,
                            environment: env,
                        };
                        let expected = input.key();
                        if !expected.eq_ignore_ascii_case(&u.value) {
                            em.emit(
                                "FAD06",
                                format!(
                                    "El {key_name} no está calculado correctamente: el documento indica {} y el calculado es {expected}.",
                                    u.value
                                ),
                                Some("cbc:UUID"),
                            );
                        }
                    }
                    // Missing inputs are reported by the mandatory-field rules.
                    _ => {}
                }
            }
            if let Some(qr) = dian.and_then(|d| d.qr_code.as_deref())
                && cufe::is_sha384_hex(&u.value)
            {
                let other = hex_runs(qr).find(|run| !run.eq_ignore_ascii_case(&u.value));
                if let Some(other) = other {
                    em.emit(
                        "PAS25",
                        format!("El código QR contiene el {key_name} {other}, distinto del cbc:UUID {}.", u.value),
                        Some("ext:UBLExtensions/ext:UBLExtension/ext:ExtensionContent/sts:DianExtensions/sts:QRCode"),
                    );
                }
            }
        }
    }

    // ---- numbering (invoices) ----
    if kind == DocKind::Invoice
        && let Some(id) = doc.id.as_deref()
    {
        if let Some(p) = authorized_prefix
            && !id.starts_with(p)
        {
            em.emit(
                "FAB10a",
                format!("El número {id} no comienza con el prefijo autorizado {p}."),
                Some("cbc:ID"),
            );
        } else if let Some(r) = range
            && r.prefix != prefix
        {
            em.emit(
                "FAB10a",
                format!(
                    "El prefijo {prefix} no corresponde al del rango autorizado ({}).",
                    r.prefix
                ),
                Some("cbc:ID"),
            );
        }
        let num: Option<u64> = number.parse().ok();
        if num.is_none() && (authorized_prefix.is_none_or(|p| id.starts_with(p))) {
            em.emit(
                "FAB10a",
                format!("El número {id} no es el prefijo seguido de un consecutivo numérico."),
                Some("cbc:ID"),
            );
        }
        let from = range.map(|r| r.from).or_else(|| {
            dian.and_then(|d| d.from.as_deref())
                .and_then(|v| v.parse().ok())
        });
        let to = range.map(|r| r.to).or_else(|| {
            dian.and_then(|d| d.to.as_deref())
                .and_then(|v| v.parse().ok())
        });
        if let Some(n) = num {
            if let Some(f) = from
                && n < f
            {
                em.emit(
                    "FAD05b",
                    format!(
                        "El número {n} es inferior al rango autorizado ({f}–{}).",
                        to.unwrap_or(f)
                    ),
                    Some("cbc:ID"),
                );
            }
            if let Some(t) = to
                && n > t
            {
                em.emit(
                    "FAD05c",
                    format!(
                        "El número {n} es superior al rango autorizado ({}–{t}).",
                        from.unwrap_or(0)
                    ),
                    Some("cbc:ID"),
                );
            }
        }
        let period_start = range.map(|r| r.valid_from).or_else(|| {
            dian.and_then(|d| d.authorization_start.as_deref())
                .and_then(parse_date)
        });
        let period_end = range.map(|r| r.valid_to).or_else(|| {
            dian.and_then(|d| d.authorization_end.as_deref())
                .and_then(parse_date)
        });
        if let Some(d) = issue_date
            && (period_start.is_some_and(|s| d < s) || period_end.is_some_and(|e| d > e))
        {
            em.emit(
                "PAS30",
                format!(
                    "La fecha de emisión {d} está fuera del periodo de autorización de la numeración ({}–{}).",
                    period_start.map(|x| x.to_string()).unwrap_or_default(),
                    period_end.map(|x| x.to_string()).unwrap_or_default()
                ),
                Some("cbc:IssueDate"),
            );
        }
        if let Some(r) = range
            && let Some(expected) = r.software_id.as_deref()
        {
            let got = dian.and_then(|d| d.software_id.as_deref());
            if got != Some(expected) {
                em.emit(
                    "FAB05c",
                    format!(
                        "El software {} no corresponde al software autorizado para el rango ({expected}).",
                        got.unwrap_or("(ninguno)")
                    ),
                    Some("ext:UBLExtensions/ext:UBLExtension/ext:ExtensionContent/sts:DianExtensions/sts:SoftwareProvider/sts:SoftwareID"),
                );
            }
        }
    }

    // ---- dates ----
    if let Some(at) = issued_at
        && now
            .checked_add_signed(chrono::Duration::minutes(i64::from(
                settings.max_future_minutes,
            )))
            .is_some_and(|limit| at > limit)
    {
        em.emit(
            "PAS23",
            format!(
                "La fecha y hora de emisión ({}) es posterior al momento de recepción ({}).",
                at.to_rfc3339(),
                now.to_rfc3339()
            ),
            Some("cbc:IssueDate"),
        );
    }
    if let Some(d) = issue_date {
        let today = now.date_naive();
        let age = (today - d).num_days();
        if kind == DocKind::Invoice && age > i64::from(settings.max_age_days) {
            em.emit(
                "PAS20",
                format!(
                    "La factura fue emitida el {d}, hace {age} días; solo se registran facturas de hasta {} días.",
                    settings.max_age_days
                ),
                Some("cbc:IssueDate"),
            );
        }
        let reference = match settings.reception_reference {
            ReceptionReference::Now => Some((today, "la recepción")),
            ReceptionReference::Dian => doc
                .dian_response
                .as_ref()
                .and_then(|r| r.issue_date.as_deref())
                .and_then(parse_date)
                .map(|x| (x, "la validación de la DIAN"))
                .or_else(|| {
                    doc.signing_time
                        .as_deref()
                        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                        .map(|t| (t.date_naive(), "la firma"))
                }),
        };
        if let Some((r, what)) = reference {
            let days = (r - d).num_days();
            if days > i64::from(settings.reception_window_days) {
                em.emit(
                    "FAD09c",
                    format!(
                        "La fecha de emisión ({d}) es {days} días anterior a {what} ({r}); se admiten hasta {} días.",
                        settings.reception_window_days
                    ),
                    Some("cbc:IssueDate"),
                );
            }
        }
        if let Some(sig) = doc
            .signing_time
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            && sig.date_naive() != d
        {
            em.emit(
                "FAD09e",
                format!(
                    "La fecha de emisión ({d}) es distinta de la fecha de firma ({}).",
                    sig.date_naive()
                ),
                Some("cbc:IssueDate"),
            );
        }
    }

    // ---- registration rules ----
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

    // ---- totals ----
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
        let taxed: Decimal = doc
            .lines
            .iter()
            .filter(|l| l.tax_totals.iter().any(|t| !t.subtotals.is_empty()))
            .filter_map(|l| l.line_extension)
            .sum();
        if let Some(te) = t.tax_exclusive
            && lines_ok
            && (te - taxed).abs() > tol
        {
            em.emit(
                "FAU04",
                format!("TaxExclusiveAmount ({}) no es la suma de las bases de las líneas gravadas ({}).", money(te), money(taxed)),
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

    // ---- items ----
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

/// Maximal runs of exactly 96 lowercase hex characters in a text.
fn hex_runs(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_ascii_hexdigit())
        .filter(|run| run.len() == 96)
}
