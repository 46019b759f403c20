//! DIAN validation of UBL 2.1 documents (pure: bytes and values in, findings out).
//!
//! **Architecture Invariant:** `dian/` never does IO: no files, no SQL, no clock
//! reads (the caller passes "now"). The single exception is
//! [`load_settings`], which reads the one settings file (`settings::read_settings_file`).
//!
//! Layers: `xml` (hostile-input-safe tree) → `model` (typed [`Document`]) →
//! `rules` (catalog + checks) → [`Validation`]. `generator` produces valid
//! documents for tests, benchmarks and the CLI.

pub mod cufe;
pub mod events;
pub mod extracted;
pub mod generator;
pub mod model;
pub mod nit;
pub mod rules;
pub mod settings;
pub mod signature;
pub mod xades;
pub mod xml;

use chrono::{DateTime, FixedOffset};
use serde_json::{Value, json};

pub use model::{AppResponse, DocKind, Document};
pub use settings::{DianSettings, Enforcement, SignatureSettings, load_settings, parse_settings};

use crate::result::{Finding, Severity};
use rules::Emitter;
use xml::{El, Limits, Ns};

/// The outcome of validating one file.
#[derive(Debug, Clone, Default)]
pub struct Validation {
    /// Root element of the received file: "Invoice", "CreditNote",
    /// "DebitNote", "AttachedDocument" or "ApplicationResponse".
    pub document_type: Option<String>,
    /// Key fields for the result JSON.
    pub document: Option<Value>,
    /// Identity for duplicate detection: the CUFE/CUDE (lower case) when
    /// present, else the supplier key.
    pub document_key: Option<String>,
    /// The second identity: [`supplier_key`] of the supplier's NIT and the
    /// document number, when both are present. A document that passes
    /// claims both keys (rule 90 when either is taken).
    pub supplier_key: Option<String>,
    /// Every finding, with DIAN's (or Pasarela's `PAS`) rule code.
    pub findings: Vec<Finding>,
    /// The typed model (the embedded document for an AttachedDocument).
    pub model: Option<Document>,
    /// A RADIAN event (alone or inside an AttachedDocument).
    pub event: Option<events::Event>,
}

impl Validation {
    /// True when any finding rejects the document.
    pub fn rejected(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Reject)
    }
}

pub(crate) fn limits(settings: &DianSettings) -> Limits {
    Limits {
        max_bytes: settings.max_file_bytes,
        max_depth: settings.max_depth,
        max_elements: settings.max_elements,
    }
}

fn xml_finding(settings: &DianSettings, p: xml::XmlProblem, location: &str) -> Vec<Finding> {
    let mut em = Emitter::new(settings, None, "");
    em.emit(p.code, p.message, Some(location));
    em.findings
}

/// The document kind of a root element, when it is a business document.
fn kind_of(root: El<'_>) -> Option<DocKind> {
    match (root.ns(), root.name()) {
        (Ns::Invoice, "Invoice") => Some(DocKind::Invoice),
        (Ns::CreditNote, "CreditNote") => Some(DocKind::CreditNote),
        (Ns::DebitNote, "DebitNote") => Some(DocKind::DebitNote),
        _ => None,
    }
}

/// Validate one received file.
pub fn validate(bytes: &[u8], settings: &DianSettings, now: DateTime<FixedOffset>) -> Validation {
    let tree = match xml::parse(bytes, &limits(settings)) {
        Ok(t) => t,
        Err(p) => {
            return Validation {
                findings: xml_finding(settings, p, "/"),
                ..Validation::default()
            };
        }
    };
    let root = tree.root();
    let document = kind_of(root);
    let event = ((root.ns(), root.name()) == (Ns::ApplicationResponse, "ApplicationResponse"))
        .then(|| events::read(root))
        .flatten();
    if document.is_none()
        && event.is_none()
        && (root.ns(), root.name()) != (Ns::AttachedDocument, "AttachedDocument")
    {
        return not_registrable(root, settings);
    }
    // An invoice, a note or an AttachedDocument (and the parts it carries):
    // signatures first, because the rules read the signing time, and when
    // signatures are verified only the one in the signed properties counts.
    let reports = signature::verify(bytes, settings, now);
    let signed = SignedTimes::of(reports.as_deref());
    let mut v = match (document, event) {
        (Some(kind), _) => {
            let doc = with_signed_time(model::document(root, kind), signed.root);
            finish(doc, kind.root(), settings, now, Vec::new())
        }
        (None, Some(ev)) => event_validation(ev, settings, Vec::new()),
        (None, None) => attached(root, settings, now, &signed),
    };
    if let (Some(reports), true, Some(root)) = (
        &reports,
        v.model.is_some() || v.event.is_some(),
        v.document_type.clone(),
    ) {
        v.findings
            .extend(signature::findings(reports, &root, settings));
    }
    v
}

/// The signing times the verified signatures give (`None`: not verified, the
/// model's own reading stands; `Some(None)`: verified, no signed time).
#[derive(Default)]
struct SignedTimes {
    root: Option<Option<DateTime<FixedOffset>>>,
    embedded: Option<Option<DateTime<FixedOffset>>>,
}

impl SignedTimes {
    fn of(reports: Option<&[(xades::Part, xades::SignatureReport)]>) -> SignedTimes {
        let Some(reports) = reports else {
            return SignedTimes::default();
        };
        let time = |part| {
            Some(
                reports
                    .iter()
                    .find(|(p, _)| *p == part)
                    .and_then(|(_, r)| r.signing_time),
            )
        };
        SignedTimes {
            root: time(xades::Part::Root),
            embedded: time(xades::Part::Embedded),
        }
    }
}

/// `doc` with the verified signing time, when signatures were verified.
fn with_signed_time(mut doc: Document, t: Option<Option<DateTime<FixedOffset>>>) -> Document {
    if let Some(t) = t {
        doc.signing_time = t.map(|t| t.to_rfc3339());
    }
    doc
}

/// The result for a well-formed XML file that is neither an invoice, a note
/// nor an AttachedDocument: an ApplicationResponse alone (PAS14) or anything
/// else (PAS11).
fn not_registrable(root: El<'_>, settings: &DianSettings) -> Validation {
    match (root.ns(), root.name()) {
        (Ns::ApplicationResponse, "ApplicationResponse") => {
            let r = model::app_response(root);
            let mut em = Emitter::new(settings, None, "ApplicationResponse");
            em.emit(
                "PAS14",
                "El archivo es un ApplicationResponse (evento o respuesta de la DIAN), no una factura o nota para registrar.",
                Some("/ApplicationResponse"),
            );
            Validation {
                document_type: Some("ApplicationResponse".to_owned()),
                document_key: r.uuid.clone().or_else(|| r.id.clone()),
                supplier_key: None,
                document: Some(json!({ "application_response": app_json(&r) })),
                findings: em.findings,
                model: None,
                event: None,
            }
        }
        (_, name) => {
            let mut em = Emitter::new(settings, None, "");
            em.emit(
                "PAS11",
                format!(
                    "El elemento raíz <{name}> no es un documento UBL 2.1 de la DIAN (Invoice, CreditNote, DebitNote, AttachedDocument o ApplicationResponse en su espacio de nombres UBL 2.1)."
                ),
                Some("/"),
            );
            Validation {
                findings: em.findings,
                ..Validation::default()
            }
        }
    }
}

/// A RADIAN event: its reference to the invoice and its CUDE checked.
fn event_validation(
    ev: events::Event,
    settings: &DianSettings,
    earlier: Vec<Finding>,
) -> Validation {
    let mut em = Emitter::new(settings, None, "ApplicationResponse");
    em.findings = earlier;
    if ev.invoice_cufe.is_empty() {
        em.emit(
            "PAS40",
            format!(
                "El evento {} ({}) no indica el CUFE de la factura a la que se refiere (cac:DocumentResponse/cac:DocumentReference/cbc:UUID).",
                ev.code,
                events::event_name(&ev.code)
            ),
            Some("/ApplicationResponse/cac:DocumentResponse/cac:DocumentReference/cbc:UUID"),
        );
    }
    if ev.cude.is_empty() {
        em.emit(
            "PAS41",
            format!("El evento {} no tiene CUDE (cbc:UUID).", ev.id),
            Some("/ApplicationResponse/cbc:UUID"),
        );
    }
    let pin = events::pin(&ev, settings);
    if let Some(pin) = pin
        && !events::event_cude(&ev, pin).eq_ignore_ascii_case(&ev.cude)
    {
        em.emit(
            "PAS41",
            format!(
                "El CUDE del evento {} no corresponde a sus datos (fórmula de la DIAN con el PIN del software del emisor).",
                ev.id
            ),
            Some("/ApplicationResponse/cbc:UUID"),
        );
    }
    Validation {
        document_type: Some("ApplicationResponse".to_owned()),
        document: Some(json!({ "event": events::event_json(&ev, pin.is_some()) })),
        document_key: Some(ev.cude.to_lowercase()).filter(|k| !k.is_empty()),
        supplier_key: None,
        findings: em.findings,
        model: None,
        event: Some(ev),
    }
}

const EMBED: &[(Ns, &str)] = &[
    (Ns::Cac, "Attachment"),
    (Ns::Cac, "ExternalReference"),
    (Ns::Cbc, "Description"),
];

fn attached(
    root: El<'_>,
    settings: &DianSettings,
    now: DateTime<FixedOffset>,
    signed: &SignedTimes,
) -> Validation {
    let mut em = Emitter::new(settings, None, "AttachedDocument");
    let fail = |em: Emitter<'_>| Validation {
        document_type: Some("AttachedDocument".to_owned()),
        findings: em.findings,
        ..Validation::default()
    };
    // DIAN's verdict, when the container carries it.
    let response = root
        .child(Ns::Cac, "ParentDocumentLineReference")
        .and_then(|p| p.child(Ns::Cac, "DocumentReference"))
        .and_then(|d| d.path(EMBED))
        .map(|d| d.raw_text().trim().to_owned());
    let mut dian_response = None;
    let response = response.filter(|t| !t.is_empty());
    if response.is_none() && settings.signatures.require_dian_response {
        em.emit(
            "PAS29",
            "El AttachedDocument no incluye la respuesta de la DIAN (ApplicationResponse) que demuestra su validación.",
            Some("/AttachedDocument/cac:ParentDocumentLineReference"),
        );
    }
    if let Some(text) = response {
        match xml::parse_str(&text, &limits(settings)) {
            Ok(t) if t.root().ns() == Ns::ApplicationResponse && t.root().name() == "ApplicationResponse" => {
                dian_response = Some(model::app_response(t.root()));
            }
            _ => em.emit(
                "PAS13",
                "La respuesta de la DIAN incluida en el AttachedDocument no es un ApplicationResponse legible.",
                Some("/AttachedDocument/cac:ParentDocumentLineReference/cac:DocumentReference/cac:Attachment/cac:ExternalReference/cbc:Description"),
            ),
        }
    }
    let Some(embedded) = root
        .path(EMBED)
        .map(|d| d.raw_text().trim().to_owned())
        .filter(|t| !t.is_empty())
    else {
        em.emit(
            "PAS12",
            "El AttachedDocument no contiene el documento electrónico en cac:Attachment/cac:ExternalReference/cbc:Description.",
            Some("/AttachedDocument/cac:Attachment/cac:ExternalReference/cbc:Description"),
        );
        return fail(em);
    };
    let tree = match xml::parse_str(&embedded, &limits(settings)) {
        Ok(t) => t,
        Err(p) => {
            em.emit(
                "PAS12",
                format!(
                    "El documento incluido en el AttachedDocument no se puede leer: {}",
                    p.message
                ),
                Some("/AttachedDocument/cac:Attachment/cac:ExternalReference/cbc:Description"),
            );
            return fail(em);
        }
    };
    let embedded_event = ((tree.root().ns(), tree.root().name())
        == (Ns::ApplicationResponse, "ApplicationResponse"))
        .then(|| events::read(tree.root()))
        .flatten();
    if let Some(ev) = embedded_event {
        // A RADIAN event as DIAN delivers it: DIAN's response must be about it.
        if let Some(r) = &dian_response {
            let about_it = r
                .reference_uuid
                .as_deref()
                .is_none_or(|u| u.eq_ignore_ascii_case(&ev.cude));
            if r.response_code.as_deref() != Some("02") || !about_it {
                em.emit(
                    "PAS13",
                    format!(
                        "La respuesta de la DIAN no valida el evento {} incluido (ResponseCode {}).",
                        ev.id,
                        r.response_code.as_deref().unwrap_or("ausente")
                    ),
                    Some("/AttachedDocument/cac:ParentDocumentLineReference"),
                );
            }
        }
        let mut v = event_validation(ev, settings, em.findings);
        v.document_type = Some("AttachedDocument".to_owned());
        return v;
    }
    let Some(kind) = kind_of(tree.root()) else {
        em.emit(
            "PAS12",
            format!(
                "El documento incluido en el AttachedDocument (<{}>) no es una factura ni una nota UBL 2.1.",
                tree.root().name()
            ),
            Some("/AttachedDocument/cac:Attachment/cac:ExternalReference/cbc:Description"),
        );
        return fail(em);
    };
    let mut doc = with_signed_time(model::document(tree.root(), kind), signed.embedded);
    if let Some(r) = &dian_response {
        if r.response_code.as_deref() != Some("02") {
            em.emit(
                "PAS13",
                format!(
                    "La DIAN no validó el documento: ResponseCode {} ({}).",
                    r.response_code.as_deref().unwrap_or("ausente"),
                    r.description.as_deref().unwrap_or("sin descripción")
                ),
                Some("/AttachedDocument/cac:ParentDocumentLineReference"),
            );
        } else if let (Some(ru), Some(du)) = (r.reference_uuid.as_deref(), doc.uuid.as_ref())
            && !ru.eq_ignore_ascii_case(&du.value)
        {
            em.emit(
                "PAS13",
                format!(
                    "La respuesta de la DIAN se refiere al documento {ru}, no al incluido ({}).",
                    du.value
                ),
                Some("/AttachedDocument/cac:ParentDocumentLineReference"),
            );
        }
    }
    doc.dian_response = dian_response;
    let mut v = finish(doc, kind.root(), settings, now, em.findings);
    v.document_type = Some("AttachedDocument".to_owned());
    v
}

fn finish(
    doc: Document,
    root: &'static str,
    settings: &DianSettings,
    now: DateTime<FixedOffset>,
    earlier: Vec<Finding>,
) -> Validation {
    let mut em = Emitter::new(settings, Some(doc.kind), root);
    em.findings = earlier;
    rules::check_document(&doc, settings, now, &mut em);
    let supplier = doc
        .supplier
        .as_ref()
        .and_then(|p| p.company_id.as_deref())
        .zip(doc.id.as_deref())
        .and_then(|(nit, number)| supplier_key(nit, number));
    let key = document_key(&doc, supplier.as_deref());
    Validation {
        document_type: Some(root.to_owned()),
        document: Some(document_json(&doc)),
        document_key: key,
        supplier_key: supplier,
        findings: em.findings,
        model: Some(doc),
        event: None,
    }
}

fn document_key(doc: &Document, supplier_key: Option<&str>) -> Option<String> {
    // CUFE/CUDE in lower case: DIAN compares them case-insensitively, and so
    // must the duplicate check.
    if let Some(u) = doc.uuid.as_ref().filter(|u| !u.value.is_empty()) {
        return Some(u.value.to_ascii_lowercase());
    }
    supplier_key.map(str::to_owned)
}

/// The supplier key of a document: `"<NIT digits without DV>/<number>"`,
/// the number lower-cased without spaces or dashes (`900373991/setp990000001`).
/// The one definition both the XML route and the PDF/scan route use, so the
/// same invoice read either way gives the same string. `None` when the NIT
/// has no digits or the number is empty.
pub fn supplier_key(nit: &str, number: &str) -> Option<String> {
    let nit = self::nit::normalize(nit);
    let number: String = number
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .collect();
    (!nit.is_empty() && !number.is_empty()).then(|| format!("{nit}/{number}"))
}

fn party_json(p: Option<&model::Party>) -> Value {
    match p {
        None => Value::Null,
        Some(p) => json!({
            "id": p.company_id,
            "dv": p.dv,
            "id_type": p.id_type,
            "name": p.registration_name.clone().or_else(|| p.names.first().cloned()),
            "email": p.email,
            "tax_level_codes": p.tax_level_codes,
        }),
    }
}

fn app_json(r: &AppResponse) -> Value {
    json!({
        "id": r.id,
        "uuid": r.uuid,
        "issue_date": r.issue_date,
        "response_code": r.response_code,
        "description": r.description,
        "validated": r.response_code.as_deref() == Some("02"),
        "reference_id": r.reference_id,
    })
}

fn dec(d: Option<rust_decimal::Decimal>) -> Value {
    d.map(|d| Value::String(d.to_string()))
        .unwrap_or(Value::Null)
}

/// Key fields of a document for the result JSON (amounts as decimal strings).
pub fn document_json(doc: &Document) -> Value {
    let prefix = doc
        .dian
        .as_ref()
        .and_then(|d| d.prefix.clone())
        .or_else(|| {
            doc.id
                .as_deref()
                .map(|id| rules::split_number(id, None).0.to_owned())
                .filter(|p| !p.is_empty())
        });
    let t = doc.totals.clone().unwrap_or_default();
    let taxes: Vec<Value> = doc
        .tax_totals
        .iter()
        .map(|t| json!({ "scheme": t.scheme_id(), "amount": dec(t.tax_amount) }))
        .collect();
    let key_name = doc.kind.key_name().to_lowercase();
    let mut v = json!({
        "kind": doc.kind.root(),
        "number": doc.id,
        "prefix": prefix,
        "issue_date": doc.issue_date,
        "issue_time": doc.issue_time,
        "due_date": doc.due_date,
        "type_code": doc.type_code,
        "customization_id": doc.customization_id,
        "environment": doc.profile_execution_id,
        "currency": doc.currency,
        "supplier": party_json(doc.supplier.as_ref()),
        "customer": party_json(doc.customer.as_ref()),
        "totals": {
            "line_extension": dec(t.line_extension),
            "tax_exclusive": dec(t.tax_exclusive),
            "tax_inclusive": dec(t.tax_inclusive),
            "allowance_total": dec(t.allowance_total),
            "charge_total": dec(t.charge_total),
            "prepaid": dec(t.prepaid),
            "payable": dec(t.payable),
        },
        "taxes": taxes,
        "line_count": doc.lines.len(),
        "billing_reference": doc.billing_references.first().and_then(|b| b.id.clone()),
        "dian_response": doc.dian_response.as_ref().map(app_json),
    });
    if let Value::Object(m) = &mut v {
        m.insert(
            key_name,
            doc.uuid
                .as_ref()
                .map(|u| Value::String(u.value.clone()))
                .unwrap_or(Value::Null),
        );
    }
    v
}

/// Rule "90": the document was registered before. `original` describes the
/// first submission (e.g. "trabajo 42 del 2024-03-15"). `None` when the
/// administrator disabled the rule.
/// A catalog rule's finding raised outside [`validate`] (by a pipeline step
/// that consults the store), with the severity the settings give it (`None`
/// when the settings turn it off).
pub fn finding(
    settings: &DianSettings,
    code: &'static str,
    message: impl Into<String>,
) -> Option<Finding> {
    let mut em = Emitter::new(settings, None, "");
    em.emit(code, message.into(), Some("/"));
    em.findings.pop()
}

pub fn duplicate_finding(settings: &DianSettings, original: &str) -> Option<Finding> {
    let mut em = Emitter::new(settings, None, "");
    em.emit(
        "90",
        format!("Documento procesado anteriormente ({original})."),
        Some("/"),
    );
    em.findings.pop()
}
