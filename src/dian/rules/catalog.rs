//! The rule catalog: every code Pasarela emits, with its default severity.

use crate::dian::model::DocKind;
use crate::result::Severity;

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
        "PAS15",
        R,
        "Documento sin firma digital",
        "/Invoice/ext:UBLExtensions",
        "Signature (`[signatures] enforce`): the document carries a readable ds:Signature."
    ),
    rule!(
        "PAS16",
        R,
        "Firma digital con estructura no soportada",
        "/Invoice/ext:UBLExtensions//ds:Signature",
        "Signature: SignedInfo, the three references (document, KeyInfo, SignedProperties), algorithms DIAN uses, unique Ids."
    ),
    rule!(
        "PAS17",
        R,
        "SigningCertificate no corresponde",
        "//xades:SigningCertificate",
        "Signature: the CertDigest and IssuerSerial of xades:SigningCertificate match the KeyInfo certificate."
    ),
    rule!(
        "PAS18",
        R,
        "Política de firma de la DIAN",
        "//xades:SignaturePolicyIdentifier",
        "Signature: the policy is DIAN's (identifier and SHA-256 hash of the published policy)."
    ),
    rule!(
        "PAS19",
        R,
        "Fecha de firma",
        "//xades:SigningTime",
        "Signature: xades:SigningTime is present and readable."
    ),
    rule!(
        "PAS29",
        R,
        "AttachedDocument sin respuesta de la DIAN",
        "/AttachedDocument/cac:ParentDocumentLineReference",
        "`[signatures] require_dian_response`: an AttachedDocument carries DIAN's ApplicationResponse."
    ),
    rule!(
        "PAS40",
        R,
        "Evento sin CUFE de la factura",
        "/ApplicationResponse/cac:DocumentResponse/cac:DocumentReference/cbc:UUID",
        "A RADIAN event (ApplicationResponse with ResponseCode 030–039) names the CUFE of the invoice it is about."
    ),
    rule!(
        "PAS41",
        R,
        "CUDE del evento no corresponde",
        "/ApplicationResponse/cbc:UUID",
        "An event carries its CUDE (cbc:UUID); when the sender's software PIN is configured (`[[software]]`), the CUDE equals SHA-384(ID + IssueDate + IssueTime + sender NIT + receiver NIT + ResponseCode + referenced ID + referenced DocumentTypeCode + PIN). Without a PIN the signature is the event's proof."
    ),
    rule!(
        "PAS84",
        N,
        "Factura con reclamo del adquirente",
        "/",
        "The invoice being registered has a RADIAN 031 (reclamo) on record: notify holds it for review (default), reject refuses it. Checked by the pipeline against the events store."
    ),
    rule!(
        "PAS85",
        N,
        "Factura endosada",
        "/",
        "The invoice has a RADIAN endorsement (037–039) on record: flagged on its registration, which goes on. Checked by the pipeline against the events store."
    ),
    rule!(
        "ZE02",
        R,
        "Firma digital inválida",
        "//ds:Signature",
        "Signature: the digests of the three references and the RSA SignatureValue over canonical SignedInfo."
    ),
    rule!(
        "ZD04",
        R,
        "Certificado no vigente al firmar",
        "//ds:KeyInfo/ds:X509Data",
        "Signature: the signing certificate (and its chain) is valid at xades:SigningTime."
    ),
    rule!(
        "ZD05",
        R,
        "Certificado no emitido por una entidad de certificación de confianza",
        "//ds:KeyInfo/ds:X509Data",
        "Signature: the certificate chains to a trust anchor of `[signatures] trust_anchors` (accredited CAs)."
    ),
    rule!(
        "ZD06",
        R,
        "Certificado revocado",
        "//ds:KeyInfo/ds:X509Data",
        "Signature: no offline CRL of `[signatures] crls` revokes a certificate of the chain before signing."
    ),
    rule!(
        "ZD07",
        R,
        "Certificado sin uso de firma digital",
        "//ds:KeyInfo/ds:X509Data",
        "Signature: the signing certificate's key usage allows digital signatures."
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
        "FAD07",
        R,
        "schemeName del CUFE/CUDE",
        "/Invoice/cbc:UUID/@schemeName",
        "cbc:UUID@schemeName must be CUFE-SHA384 (invoices) or CUDE-SHA384 (notes, contingency invoices). Formerly PAS26."
    ),
    rule!(
        "FAD08",
        R,
        "schemeID del CUFE/CUDE",
        "/Invoice/cbc:UUID/@schemeID",
        "cbc:UUID@schemeID must equal cbc:ProfileExecutionID. Formerly PAS27."
    ),
    rule!(
        "PAS28",
        N,
        "Documento del ambiente de pruebas",
        "/Invoice/cbc:ProfileExecutionID",
        "ProfileExecutionID 2 (habilitación): not a production document."
    ),
    rule!(
        "FAD09a",
        R,
        "Fecha de emisión anterior al periodo de autorización",
        "/Invoice/cbc:IssueDate",
        "Issue date before the start of the numbering range's authorization period (configured range, else sts:AuthorizationPeriod/StartDate). Formerly PAS30."
    ),
    rule!(
        "FAD09b",
        R,
        "Fecha de emisión posterior al periodo de autorización",
        "/Invoice/cbc:IssueDate",
        "Issue date after the end of the numbering range's authorization period (configured range, else sts:AuthorizationPeriod/EndDate). Formerly PAS30."
    ),
    rule!(
        "PAS31",
        R,
        "Impuesto diferente de base × tarifa",
        "/Invoice/cac:InvoiceLine/cac:TaxTotal/cac:TaxSubtotal/cbc:TaxAmount",
        "Every TaxSubtotal (lines and header) with a Percent: TaxAmount = TaxableAmount × Percent / 100 (± tolerance). Per-unit taxes (no Percent) are not checked. DIAN checks this under FAS/FAX codes we could not establish."
    ),
    rule!(
        "PAS32",
        R,
        "Tipo de identificación no válido",
        "/Invoice/cac:AccountingCustomerParty/cac:Party/cac:PartyTaxScheme/cbc:CompanyID/@schemeName",
        "The supplier's and customer's CompanyID@schemeName, when present, is a DIAN identification type: 11, 12, 13, 21, 22, 31, 41, 42, 43, 44, 47 (PEP), 48 (PPT), 50, 91. DIAN's own code for this was not established."
    ),
    rule!(
        "PAS33",
        R,
        "Unidad de medida no válida",
        "/Invoice/cac:InvoiceLine/cbc:InvoicedQuantity/@unitCode",
        "Every line quantity carries a unitCode from UN/ECE Recommendation 20 (Rev. 11e, with the Rec. 21 `X` package codes) or DIAN's list of units (`src/dian/rules/units.rs`). DIAN rejects this too, under a code we have not confirmed (FAV05 in a public transcription of the Anexo)."
    ),
    rule!(
        "PAS34",
        R,
        "Tributo no válido",
        "/Invoice/cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cac:TaxScheme/cbc:ID",
        "Every TaxSubtotal (lines, header TaxTotal, WithholdingTaxTotal) has a TaxScheme/ID in DIAN's list of taxes: 01 IVA, 02 IC, 03 ICA, 04 INC, 05 ReteIVA, 06 ReteFuente, 07 ReteICA, 08 ReteCREE, 20 FtoHorticultura, 21 Timbre, 22 Bolsas, 23 INCarbono, 24 INCombustibles, 25 Sobretasa Combustibles, 26 Sordicom, 30, 32, 33, 34, 35, 36 (Anexo 1.9 additions), ZZ (otros)."
    ),
    rule!(
        "PAS35",
        N,
        "Nombre del tributo no corresponde",
        "/Invoice/cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cac:TaxScheme/cbc:Name",
        "TaxScheme/Name matches its ID (ignoring case and spaces) in the taxes' list (PAS34; not checked for 30–36 and ZZ) and in the parties' list (PAS36)."
    ),
    rule!(
        "PAS36",
        N,
        "Tributo de la parte no válido",
        "/Invoice/cac:AccountingCustomerParty/cac:Party/cac:PartyTaxScheme/cac:TaxScheme/cbc:ID",
        "The supplier's and customer's PartyTaxScheme/TaxScheme/ID, when present, is 01 (IVA), 04 (INC), ZA (IVA e INC) or ZZ (No aplica)."
    ),
    rule!(
        "FAB05c",
        R,
        "Software no corresponde al rango",
        "/Invoice/ext:UBLExtensions/.../sts:SoftwareID",
        "The range in rules/dian.toml names a software_id and the document's SoftwareID differs."
    ),
    rule!(
        "FAB27b",
        N,
        "Código de seguridad del software incorrecto",
        "/Invoice/ext:UBLExtensions/.../sts:SoftwareSecurityCode",
        "SoftwareSecurityCode = SHA-384(SoftwareID + PIN + cbc:ID) (compared case-insensitively), when `[[software]]` configures a PIN for the document's SoftwareID (and issuer); without a PIN it cannot be verified and is not reported. DIAN rejects; Pasarela notifies by default (see below)."
    ),
    rule!(
        "FAB10b",
        R,
        "El prefijo no corresponde al prefijo de la autorización de numeración",
        "/Invoice/cbc:ID",
        "The prefix of cbc:ID is the authorization's Prefix (sts:AuthorizedInvoices/sts:Prefix; the configured range's prefix when the document has none), followed by a numeric consecutive. Formerly FAB10a."
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
        "Tipo de operación ausente o no válido",
        "/Invoice/cbc:CustomizationID",
        "CustomizationID missing or not in DIAN's list of operation types for the document: invoices 09 (AIU), 10 (estándar), 11 (mandatos), 12 (transporte), 15 (compra de divisas); credit notes 20, 22, 23; debit notes 30, 32, 33."
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
        "FAD12",
        R,
        "Tipo de documento no válido",
        "/Invoice/cbc:InvoiceTypeCode",
        "The document type code is in DIAN's list: InvoiceTypeCode 01 (venta), 02 (exportación), 03 (contingencia facturador), 04 (contingencia DIAN) or 20 (POS, refused by PAS21 instead); CreditNoteTypeCode 91; DebitNoteTypeCode 92 (when present). A missing type code is PAS09."
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
        "TaxExclusiveAmount = Σ of the taxable bases the lines declare (± tolerance): per line, the TaxableAmount of its TaxSubtotals, counted once per line (the largest, when several taxes share the base); a line without taxes adds nothing. Not judged when a line TaxableAmount is unreadable (PAS08)."
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
        "VLR01",
        R,
        "Valores negativos",
        "/Invoice/cac:InvoiceLine/cbc:InvoicedQuantity",
        "No negative money amount or quantity: line quantity, LineExtensionAmount, price and base quantity, allowances/charges (amount, base, factor), taxes (TaxAmount, TaxableAmount, Percent) of lines and header, withholdings, prepayments and every LegalMonetaryTotal amount except PayableRoundingAmount (rounding may be negative)."
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

/// Codes replaced by DIAN's own: (former code, current code). Pasarela
/// codes, and FAB10a, which named the prefix check before DIAN's FAB10b was
/// established. A settings override under a former code still applies to
/// the current ones.
pub const RENAMED: &[(&str, &str)] = &[
    ("PAS26", "FAD07"),
    ("PAS27", "FAD08"),
    ("PAS30", "FAD09a"),
    ("PAS30", "FAD09b"),
    ("FAB10a", "FAB10b"),
];

/// The former Pasarela code of a catalog code, if it was renamed.
pub fn former_code(base: &str) -> Option<&'static str> {
    RENAMED
        .iter()
        .find(|(_, new)| *new == base)
        .map(|(old, _)| *old)
}

/// The catalog entry for a code as emitted (`CAD06` → `FAD06`); a former
/// code (`PAS26`) gives the entry that replaced it (the first, for `PAS30`).
pub fn base_code(code: &str) -> Option<&'static Rule> {
    if let Some(r) = CATALOG.iter().find(|r| r.code == code) {
        return Some(r);
    }
    if let Some((_, new)) = RENAMED.iter().find(|(old, _)| *old == code) {
        return CATALOG.iter().find(|r| r.code == *new);
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
