//! The typed UBL 2.1 document model (parse, don't validate: the tree from
//! `xml` becomes these types; the rules in `rules` read only these).
//!
//! Every field is optional or a list, because a document that lacks a
//! mandatory element must still become a model so the rules can name what is
//! missing. Money is `rust_decimal::Decimal`; a value that is present but not
//! a plain decimal is recorded in `Document::malformed` instead.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde::Serialize;

use super::xml::{El, Ns};

/// Which business document this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum DocKind {
    Invoice,
    CreditNote,
    DebitNote,
}

impl DocKind {
    pub fn root(self) -> &'static str {
        match self {
            DocKind::Invoice => "Invoice",
            DocKind::CreditNote => "CreditNote",
            DocKind::DebitNote => "DebitNote",
        }
    }
    /// The line element (`InvoiceLine`, ...).
    pub fn line_element(self) -> &'static str {
        match self {
            DocKind::Invoice => "InvoiceLine",
            DocKind::CreditNote => "CreditNoteLine",
            DocKind::DebitNote => "DebitNoteLine",
        }
    }
    pub fn quantity_element(self) -> &'static str {
        match self {
            DocKind::Invoice => "InvoicedQuantity",
            DocKind::CreditNote => "CreditedQuantity",
            DocKind::DebitNote => "DebitedQuantity",
        }
    }
    pub fn type_code_element(self) -> &'static str {
        match self {
            DocKind::Invoice => "InvoiceTypeCode",
            DocKind::CreditNote => "CreditNoteTypeCode",
            DocKind::DebitNote => "DebitNoteTypeCode",
        }
    }
    /// Debit notes carry their totals in `RequestedMonetaryTotal`.
    pub fn totals_element(self) -> &'static str {
        match self {
            DocKind::DebitNote => "RequestedMonetaryTotal",
            _ => "LegalMonetaryTotal",
        }
    }
    /// CUFE for invoices, CUDE for notes.
    pub fn key_name(self) -> &'static str {
        match self {
            DocKind::Invoice => "CUFE",
            _ => "CUDE",
        }
    }
    /// DIAN rule code prefix: FA (invoice), CA (credit note), DA (debit note).
    pub fn rule_prefix(self) -> &'static str {
        match self {
            DocKind::Invoice => "FA",
            DocKind::CreditNote => "CA",
            DocKind::DebitNote => "DA",
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Uuid {
    pub value: String,
    pub scheme_name: Option<String>,
    pub scheme_id: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Party {
    pub additional_account_id: Option<String>,
    pub names: Vec<String>,
    pub registration_name: Option<String>,
    /// PartyTaxScheme/CompanyID (the NIT or other identification).
    pub company_id: Option<String>,
    /// PartyTaxScheme/CompanyID@schemeID: the check digit (DV).
    pub dv: Option<String>,
    /// PartyTaxScheme/CompanyID@schemeName: identification type (31 NIT, 13 cédula...).
    pub id_type: Option<String>,
    pub tax_level_codes: Option<String>,
    pub tax_scheme_id: Option<String>,
    /// PartyTaxScheme/TaxScheme/Name.
    pub tax_scheme_name: Option<String>,
    pub legal_registration_name: Option<String>,
    pub legal_company_id: Option<String>,
    pub city: Option<String>,
    pub country: Option<String>,
    pub contact_name: Option<String>,
    pub telephone: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PaymentMeans {
    pub id: Option<String>,
    pub code: Option<String>,
    pub due_date: Option<String>,
    pub payment_id: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct AllowanceCharge {
    pub charge: bool,
    pub reason_code: Option<String>,
    pub reason: Option<String>,
    pub percent: Option<Decimal>,
    pub amount: Option<Decimal>,
    pub base_amount: Option<Decimal>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TaxSubtotal {
    pub taxable_amount: Option<Decimal>,
    pub tax_amount: Option<Decimal>,
    pub percent: Option<Decimal>,
    pub scheme_id: Option<String>,
    pub scheme_name: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TaxTotal {
    pub tax_amount: Option<Decimal>,
    pub rounding_amount: Option<Decimal>,
    pub subtotals: Vec<TaxSubtotal>,
}

impl TaxTotal {
    /// The tax scheme of this total (its first subtotal's).
    pub fn scheme_id(&self) -> Option<&str> {
        self.subtotals.iter().find_map(|s| s.scheme_id.as_deref())
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct MonetaryTotal {
    pub line_extension: Option<Decimal>,
    pub tax_exclusive: Option<Decimal>,
    pub tax_inclusive: Option<Decimal>,
    pub allowance_total: Option<Decimal>,
    pub charge_total: Option<Decimal>,
    pub prepaid: Option<Decimal>,
    pub rounding: Option<Decimal>,
    pub payable: Option<Decimal>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Line {
    pub id: Option<String>,
    pub quantity: Option<Decimal>,
    pub unit_code: Option<String>,
    pub line_extension: Option<Decimal>,
    pub free_of_charge: Option<bool>,
    pub allowance_charges: Vec<AllowanceCharge>,
    pub tax_totals: Vec<TaxTotal>,
    pub description: Option<String>,
    pub sellers_item_id: Option<String>,
    pub standard_item_id: Option<String>,
    pub standard_item_scheme_id: Option<String>,
    pub price: Option<Decimal>,
    pub base_quantity: Option<Decimal>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct DianExtensions {
    pub invoice_authorization: Option<String>,
    pub authorization_start: Option<String>,
    pub authorization_end: Option<String>,
    pub prefix: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub software_provider_id: Option<String>,
    pub software_id: Option<String>,
    pub software_security_code: Option<String>,
    pub authorization_provider_id: Option<String>,
    pub qr_code: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct BillingReference {
    pub id: Option<String>,
    pub uuid: Option<String>,
    pub scheme_name: Option<String>,
    pub issue_date: Option<String>,
}

/// `cac:DiscrepancyResponse` of a credit or debit note: why the note was
/// issued (DIAN's concept code: for credit notes 1 devolución parcial,
/// 2 anulación, 3 rebaja o descuento, 4 ajuste de precio, 5 descuento por
/// pronto pago, 6 descuento por volumen; for debit notes 1 intereses,
/// 2 gastos por cobrar, 3 cambio del valor, 4 otros).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Discrepancy {
    pub reference_id: Option<String>,
    pub code: Option<String>,
    pub description: Option<String>,
}

/// DIAN's name of a note concept code (DiscrepancyResponse/ResponseCode).
pub fn note_concept_name(kind: DocKind, code: &str) -> &'static str {
    match (kind, code) {
        (DocKind::CreditNote, "1") => "Devolución parcial de los bienes",
        (DocKind::CreditNote, "2") => "Anulación de factura electrónica",
        (DocKind::CreditNote, "3") => "Rebaja o descuento parcial o total",
        (DocKind::CreditNote, "4") => "Ajuste de precio",
        (DocKind::CreditNote, "5") => "Descuento comercial por pronto pago",
        (DocKind::CreditNote, "6") => "Descuento comercial por volumen de ventas",
        (DocKind::DebitNote, "1") => "Intereses",
        (DocKind::DebitNote, "2") => "Gastos por cobrar",
        (DocKind::DebitNote, "3") => "Cambio del valor",
        (DocKind::DebitNote, "4") => "Otros",
        _ => "Concepto no reconocido",
    }
}

/// DIAN's verdict (or a buyer event), as found inside an AttachedDocument or
/// received on its own.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AppResponse {
    pub id: Option<String>,
    pub uuid: Option<String>,
    pub issue_date: Option<String>,
    pub issue_time: Option<String>,
    pub response_code: Option<String>,
    pub description: Option<String>,
    /// The document the response is about (DocumentReference/ID and UUID).
    pub reference_id: Option<String>,
    pub reference_uuid: Option<String>,
}

/// An invoice, credit note or debit note.
#[derive(Debug, Clone, Serialize)]
pub struct Document {
    pub kind: DocKind,
    pub ubl_version: Option<String>,
    pub customization_id: Option<String>,
    pub profile_id: Option<String>,
    /// 1 production, 2 test (habilitación).
    pub profile_execution_id: Option<String>,
    /// cbc:ID: prefix + number.
    pub id: Option<String>,
    pub uuid: Option<Uuid>,
    pub issue_date: Option<String>,
    pub issue_time: Option<String>,
    pub due_date: Option<String>,
    pub type_code: Option<String>,
    pub notes: Vec<String>,
    pub currency: Option<String>,
    pub line_count_numeric: Option<String>,
    pub billing_references: Vec<BillingReference>,
    /// Notes: why the note was issued.
    pub discrepancy: Option<Discrepancy>,
    pub supplier: Option<Party>,
    pub customer: Option<Party>,
    pub payment_means: Vec<PaymentMeans>,
    pub prepaid_payments: Vec<Option<Decimal>>,
    pub allowance_charges: Vec<AllowanceCharge>,
    pub tax_totals: Vec<TaxTotal>,
    pub withholding_tax_totals: Vec<TaxTotal>,
    pub totals: Option<MonetaryTotal>,
    pub lines: Vec<Line>,
    pub dian: Option<DianExtensions>,
    /// xades:SigningTime when the document is signed.
    pub signing_time: Option<String>,
    /// DIAN's ApplicationResponse when the document came in an AttachedDocument.
    pub dian_response: Option<AppResponse>,
    /// Values that are present but unreadable: (element path, raw text).
    pub malformed: Vec<(String, String)>,
}

/// Parse a plain decimal ("1234.50", "-3", no thousands separators, no exponent).
pub fn parse_decimal(s: &str) -> Option<Decimal> {
    let s = s.trim();
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        || digits.bytes().filter(|&b| b == b'.').count() > 1
        || digits.starts_with('.')
        || digits.ends_with('.')
    {
        return None;
    }
    // Bound magnitudes so sums over up to a million values can never overflow
    // `Decimal` (whose arithmetic panics on overflow): 10^20 is far beyond any
    // real amount.
    Decimal::from_str(s)
        .ok()
        .filter(|d| d.abs() < Decimal::from_i128_with_scale(100_000_000_000_000_000_000, 0))
}

struct Ctx<'m> {
    root: &'static str,
    malformed: &'m mut Vec<(String, String)>,
}

impl Ctx<'_> {
    fn amount(
        &mut self,
        parent: Option<El<'_>>,
        name: &'static str,
        path: &str,
    ) -> Option<Decimal> {
        let raw = parent?.cbc(name)?;
        match parse_decimal(raw) {
            Some(d) => Some(d),
            None => {
                self.malformed
                    .push((format!("/{}/{path}/cbc:{name}", self.root), raw.to_owned()));
                None
            }
        }
    }
}

fn s(e: Option<El<'_>>, name: &'static str) -> Option<String> {
    e?.cbc(name).map(str::to_owned)
}

fn party(ctx: &mut Ctx<'_>, holder: Option<El<'_>>) -> Option<Party> {
    let _ = ctx;
    let holder = holder?;
    let p = holder.child(Ns::Cac, "Party");
    let tax = p.and_then(|p| p.child(Ns::Cac, "PartyTaxScheme"));
    let legal = p.and_then(|p| p.child(Ns::Cac, "PartyLegalEntity"));
    let company = tax.and_then(|t| t.child(Ns::Cbc, "CompanyID"));
    let contact = p.and_then(|p| p.child(Ns::Cac, "Contact"));
    let address = p.and_then(|p| p.path(&[(Ns::Cac, "PhysicalLocation"), (Ns::Cac, "Address")]));
    Some(Party {
        additional_account_id: holder.cbc("AdditionalAccountID").map(str::to_owned),
        names: p
            .map(|p| {
                p.all(Ns::Cac, "PartyName")
                    .filter_map(|n| n.cbc("Name").map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        registration_name: s(tax, "RegistrationName"),
        company_id: company
            .map(|c| c.text().to_owned())
            .filter(|t| !t.is_empty()),
        dv: company
            .and_then(|c| c.attr("schemeID"))
            .filter(|t| !t.is_empty())
            .map(str::to_owned),
        id_type: company
            .and_then(|c| c.attr("schemeName"))
            .filter(|t| !t.is_empty())
            .map(str::to_owned),
        tax_level_codes: s(tax, "TaxLevelCode"),
        tax_scheme_id: tax
            .and_then(|t| t.child(Ns::Cac, "TaxScheme"))
            .and_then(|t| t.cbc("ID"))
            .map(str::to_owned),
        tax_scheme_name: tax
            .and_then(|t| t.child(Ns::Cac, "TaxScheme"))
            .and_then(|t| t.cbc("Name"))
            .map(str::to_owned),
        legal_registration_name: s(legal, "RegistrationName"),
        legal_company_id: s(legal, "CompanyID"),
        city: s(address, "CityName"),
        country: address
            .and_then(|a| a.child(Ns::Cac, "Country"))
            .and_then(|c| c.cbc("IdentificationCode"))
            .map(str::to_owned),
        contact_name: s(contact, "Name"),
        telephone: s(contact, "Telephone"),
        email: s(contact, "ElectronicMail"),
    })
}

fn allowance_charge(ctx: &mut Ctx<'_>, e: El<'_>, path: &str) -> AllowanceCharge {
    let path = format!("{path}/cac:AllowanceCharge");
    AllowanceCharge {
        charge: e
            .cbc("ChargeIndicator")
            .map(|v| v.eq_ignore_ascii_case("true"))
            .unwrap_or(false),
        reason_code: e.cbc("AllowanceChargeReasonCode").map(str::to_owned),
        reason: e.cbc("AllowanceChargeReason").map(str::to_owned),
        percent: ctx.amount(Some(e), "MultiplierFactorNumeric", &path),
        amount: ctx.amount(Some(e), "Amount", &path),
        base_amount: ctx.amount(Some(e), "BaseAmount", &path),
    }
}

fn tax_total(ctx: &mut Ctx<'_>, e: El<'_>, path: &str) -> TaxTotal {
    let sub_path = format!("{path}/cac:TaxSubtotal");
    let subtotals = e
        .all(Ns::Cac, "TaxSubtotal")
        .map(|st| {
            let cat = st.child(Ns::Cac, "TaxCategory");
            let scheme = cat.and_then(|c| c.child(Ns::Cac, "TaxScheme"));
            TaxSubtotal {
                taxable_amount: ctx.amount(Some(st), "TaxableAmount", &sub_path),
                tax_amount: ctx.amount(Some(st), "TaxAmount", &sub_path),
                percent: ctx.amount(cat, "Percent", &format!("{sub_path}/cac:TaxCategory")),
                scheme_id: s(scheme, "ID"),
                scheme_name: s(scheme, "Name"),
            }
        })
        .collect();
    TaxTotal {
        tax_amount: ctx.amount(Some(e), "TaxAmount", path),
        rounding_amount: ctx.amount(Some(e), "RoundingAmount", path),
        subtotals,
    }
}

pub(crate) fn dian_extensions(root: El<'_>) -> (Option<DianExtensions>, Option<String>) {
    let Some(exts) = root.child(Ns::Ext, "UBLExtensions") else {
        return (None, None);
    };
    let mut dian = None;
    let mut signing_time = None;
    for ext in exts.all(Ns::Ext, "UBLExtension") {
        let Some(content) = ext.child(Ns::Ext, "ExtensionContent") else {
            continue;
        };
        if let Some(d) = content.child(Ns::Sts, "DianExtensions") {
            let control = d.child(Ns::Sts, "InvoiceControl");
            let period = control.and_then(|c| c.child(Ns::Sts, "AuthorizationPeriod"));
            let auth = control.and_then(|c| c.child(Ns::Sts, "AuthorizedInvoices"));
            let sts = |e: Option<El<'_>>, name: &'static str| {
                e.and_then(|e| e.child(Ns::Sts, name))
                    .map(|x| x.text().to_owned())
                    .filter(|t| !t.is_empty())
            };
            let provider = d.child(Ns::Sts, "SoftwareProvider");
            dian = Some(DianExtensions {
                invoice_authorization: sts(control, "InvoiceAuthorization"),
                authorization_start: s(period, "StartDate"),
                authorization_end: s(period, "EndDate"),
                prefix: sts(auth, "Prefix"),
                from: sts(auth, "From"),
                to: sts(auth, "To"),
                software_provider_id: sts(provider, "ProviderID"),
                software_id: sts(provider, "SoftwareID"),
                software_security_code: sts(Some(d), "SoftwareSecurityCode"),
                authorization_provider_id: d
                    .child(Ns::Sts, "AuthorizationProvider")
                    .and_then(|a| a.child(Ns::Sts, "AuthorizationProviderID"))
                    .map(|x| x.text().to_owned()),
                qr_code: sts(Some(d), "QRCode"),
            });
        }
        if let Some(sig) = content.child(Ns::Ds, "Signature") {
            signing_time = sig
                .find(Ns::Xades, "SigningTime")
                .map(|e| e.text().to_owned())
                .filter(|t| !t.is_empty());
        }
    }
    (dian, signing_time)
}

/// Build the model from a tree whose root is an Invoice/CreditNote/DebitNote.
pub fn document(root: El<'_>, kind: DocKind) -> Document {
    let mut malformed = Vec::new();
    let mut ctx = Ctx {
        root: kind.root(),
        malformed: &mut malformed,
    };
    let (dian, signing_time) = dian_extensions(root);
    let uuid = root.child(Ns::Cbc, "UUID").map(|u| Uuid {
        value: u.text().to_owned(),
        scheme_name: u.attr("schemeName").map(str::to_owned),
        scheme_id: u.attr("schemeID").map(str::to_owned),
    });
    let billing_references = root
        .all(Ns::Cac, "BillingReference")
        .filter_map(|b| b.child(Ns::Cac, "InvoiceDocumentReference"))
        .map(|r| {
            let u = r.child(Ns::Cbc, "UUID");
            BillingReference {
                id: r.cbc("ID").map(str::to_owned),
                uuid: u.map(|u| u.text().to_owned()).filter(|t| !t.is_empty()),
                scheme_name: u.and_then(|u| u.attr("schemeName")).map(str::to_owned),
                issue_date: r.cbc("IssueDate").map(str::to_owned),
            }
        })
        .collect();
    let payment_means = root
        .all(Ns::Cac, "PaymentMeans")
        .map(|p| PaymentMeans {
            id: p.cbc("ID").map(str::to_owned),
            code: p.cbc("PaymentMeansCode").map(str::to_owned),
            due_date: p.cbc("PaymentDueDate").map(str::to_owned),
            payment_id: p.cbc("PaymentID").map(str::to_owned),
        })
        .collect();
    let prepaid_payments = root
        .all(Ns::Cac, "PrepaidPayment")
        .map(|p| ctx.amount(Some(p), "PaidAmount", "cac:PrepaidPayment"))
        .collect();
    let allowance_charges = root
        .all(Ns::Cac, "AllowanceCharge")
        .map(|a| allowance_charge(&mut ctx, a, ""))
        .collect();
    let tax_totals = root
        .all(Ns::Cac, "TaxTotal")
        .map(|t| tax_total(&mut ctx, t, "cac:TaxTotal"))
        .collect();
    let withholding_tax_totals = root
        .all(Ns::Cac, "WithholdingTaxTotal")
        .map(|t| tax_total(&mut ctx, t, "cac:WithholdingTaxTotal"))
        .collect();
    let totals_name = kind.totals_element();
    let totals = root.child(Ns::Cac, totals_name).map(|t| {
        let p = format!("cac:{totals_name}");
        let t = Some(t);
        MonetaryTotal {
            line_extension: ctx.amount(t, "LineExtensionAmount", &p),
            tax_exclusive: ctx.amount(t, "TaxExclusiveAmount", &p),
            tax_inclusive: ctx.amount(t, "TaxInclusiveAmount", &p),
            allowance_total: ctx.amount(t, "AllowanceTotalAmount", &p),
            charge_total: ctx.amount(t, "ChargeTotalAmount", &p),
            prepaid: ctx.amount(t, "PrepaidAmount", &p),
            rounding: ctx.amount(t, "PayableRoundingAmount", &p),
            payable: ctx.amount(t, "PayableAmount", &p),
        }
    });
    let line_name = kind.line_element();
    let lines = root
        .all(Ns::Cac, line_name)
        .map(|l| {
            let p = format!("cac:{line_name}");
            let qty = l.child(Ns::Cbc, kind.quantity_element());
            let item = l.child(Ns::Cac, "Item");
            let std_id = item
                .and_then(|i| i.child(Ns::Cac, "StandardItemIdentification"))
                .and_then(|s| s.child(Ns::Cbc, "ID"));
            let price = l.child(Ns::Cac, "Price");
            Line {
                id: l.cbc("ID").map(str::to_owned),
                quantity: ctx.amount(Some(l), kind.quantity_element(), &p),
                unit_code: qty.and_then(|q| q.attr("unitCode")).map(str::to_owned),
                line_extension: ctx.amount(Some(l), "LineExtensionAmount", &p),
                free_of_charge: l
                    .cbc("FreeOfChargeIndicator")
                    .map(|v| v.eq_ignore_ascii_case("true")),
                allowance_charges: l
                    .all(Ns::Cac, "AllowanceCharge")
                    .map(|a| allowance_charge(&mut ctx, a, &p))
                    .collect(),
                tax_totals: l
                    .all(Ns::Cac, "TaxTotal")
                    .map(|t| tax_total(&mut ctx, t, &format!("{p}/cac:TaxTotal")))
                    .collect(),
                description: s(item, "Description"),
                sellers_item_id: item
                    .and_then(|i| i.child(Ns::Cac, "SellersItemIdentification"))
                    .and_then(|x| x.cbc("ID"))
                    .map(str::to_owned),
                standard_item_id: std_id.map(|x| x.text().to_owned()),
                standard_item_scheme_id: std_id.and_then(|x| x.attr("schemeID")).map(str::to_owned),
                price: ctx.amount(price, "PriceAmount", &format!("{p}/cac:Price")),
                base_quantity: ctx.amount(price, "BaseQuantity", &format!("{p}/cac:Price")),
            }
        })
        .collect();
    let supplier = party(&mut ctx, root.child(Ns::Cac, "AccountingSupplierParty"));
    let customer = party(&mut ctx, root.child(Ns::Cac, "AccountingCustomerParty"));
    Document {
        kind,
        ubl_version: root.cbc("UBLVersionID").map(str::to_owned),
        customization_id: root.cbc("CustomizationID").map(str::to_owned),
        profile_id: root.cbc("ProfileID").map(str::to_owned),
        profile_execution_id: root.cbc("ProfileExecutionID").map(str::to_owned),
        id: root.cbc("ID").map(str::to_owned),
        uuid,
        issue_date: root.cbc("IssueDate").map(str::to_owned),
        issue_time: root.cbc("IssueTime").map(str::to_owned),
        due_date: root.cbc("DueDate").map(str::to_owned),
        type_code: root.cbc(kind.type_code_element()).map(str::to_owned),
        notes: root
            .all(Ns::Cbc, "Note")
            .map(|n| n.text().to_owned())
            .collect(),
        currency: root.cbc("DocumentCurrencyCode").map(str::to_owned),
        line_count_numeric: root.cbc("LineCountNumeric").map(str::to_owned),
        billing_references,
        discrepancy: root
            .child(Ns::Cac, "DiscrepancyResponse")
            .map(|d| Discrepancy {
                reference_id: d.cbc("ReferenceID").map(str::to_owned),
                code: d.cbc("ResponseCode").map(|c| c.trim().to_owned()),
                description: d.cbc("Description").map(str::to_owned),
            }),
        supplier,
        customer,
        payment_means,
        prepaid_payments,
        allowance_charges,
        tax_totals,
        withholding_tax_totals,
        totals,
        lines,
        dian,
        signing_time,
        dian_response: None,
        malformed,
    }
}

/// Read an ApplicationResponse root.
pub fn app_response(root: El<'_>) -> AppResponse {
    let response = root
        .child(Ns::Cac, "DocumentResponse")
        .and_then(|d| d.child(Ns::Cac, "Response"));
    let reference = root
        .child(Ns::Cac, "DocumentResponse")
        .and_then(|d| d.child(Ns::Cac, "DocumentReference"));
    AppResponse {
        id: root.cbc("ID").map(str::to_owned),
        uuid: root.cbc("UUID").map(str::to_owned),
        issue_date: root.cbc("IssueDate").map(str::to_owned),
        issue_time: root.cbc("IssueTime").map(str::to_owned),
        response_code: response
            .and_then(|r| r.cbc("ResponseCode"))
            .map(str::to_owned),
        description: response
            .and_then(|r| r.cbc("Description"))
            .map(str::to_owned),
        reference_id: reference.and_then(|r| r.cbc("ID")).map(str::to_owned),
        reference_uuid: reference.and_then(|r| r.cbc("UUID")).map(str::to_owned),
    }
}
