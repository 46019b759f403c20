//! RADIAN events: the ApplicationResponses a buyer (or a holder) sends about
//! an invoice: acuse de recibo, reclamo, aceptación, endosos (docs/NOTES.md).
//! Pure: reading an event and checking its CUDE; what an event does to a
//! registration is decided by the pipeline (`pipeline::steps::events`).

use serde::Serialize;
use serde_json::{Value, json};

use super::model;
use super::settings::DianSettings;
use super::xml::{El, Ns};

/// One RADIAN event, as read from its ApplicationResponse.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Event {
    /// `cac:DocumentResponse/cac:Response/cbc:ResponseCode`: 030 … 039.
    pub code: String,
    pub id: String,
    /// The event's CUDE (`cbc:UUID`), as written.
    pub cude: String,
    pub issue_date: String,
    pub issue_time: String,
    /// NIT of the sender (the buyer for 030–034) and of the receiver.
    pub sender: String,
    pub receiver: String,
    /// The invoice the event is about: number, CUFE, DocumentTypeCode.
    pub invoice_id: String,
    pub invoice_cufe: String,
    pub invoice_type_code: String,
    pub software_id: Option<String>,
}

/// Is `code` a RADIAN event (as opposed to DIAN's own verdict 02/04)?
pub fn is_event_code(code: &str) -> bool {
    matches!(
        code,
        "030" | "031" | "032" | "033" | "034" | "035" | "036" | "037" | "038" | "039"
    )
}

/// DIAN's name of an event.
pub fn event_name(code: &str) -> &'static str {
    match code {
        "030" => "Acuse de recibo de la factura electrónica",
        "031" => "Reclamo de la factura electrónica",
        "032" => "Recibo del bien o prestación del servicio",
        "033" => "Aceptación expresa",
        "034" => "Aceptación tácita",
        "035" => "Aval",
        "036" => "Inscripción de la factura como título valor",
        "037" => "Endoso en propiedad",
        "038" => "Endoso en garantía",
        "039" => "Endoso en procuración",
        _ => "Evento no reconocido",
    }
}

/// The event an ApplicationResponse root carries, if its ResponseCode is one.
pub fn read(root: El<'_>) -> Option<Event> {
    let response = root.child(Ns::Cac, "DocumentResponse")?;
    let code = response
        .child(Ns::Cac, "Response")
        .and_then(|r| r.cbc("ResponseCode"))?
        .trim()
        .to_owned();
    if !is_event_code(&code) {
        return None;
    }
    let reference = response.child(Ns::Cac, "DocumentReference");
    let nit = |holder: &'static str| {
        root.child(Ns::Cac, holder)
            .and_then(|p| p.child(Ns::Cac, "PartyTaxScheme"))
            .and_then(|p| p.cbc("CompanyID"))
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    };
    let text = |e: Option<El<'_>>, name: &'static str| {
        e.and_then(|e| e.cbc(name))
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    };
    let (dian, _) = model::dian_extensions(root);
    Some(Event {
        code,
        id: text(Some(root), "ID"),
        cude: text(Some(root), "UUID"),
        issue_date: text(Some(root), "IssueDate"),
        issue_time: text(Some(root), "IssueTime"),
        sender: nit("SenderParty"),
        receiver: nit("ReceiverParty"),
        invoice_id: text(reference, "ID"),
        invoice_cufe: text(reference, "UUID"),
        invoice_type_code: text(reference, "DocumentTypeCode"),
        software_id: dian.and_then(|d| d.software_id),
    })
}

/// DIAN's event CUDE: SHA-384 (hex) of ID + IssueDate + IssueTime + sender
/// NIT + receiver NIT + ResponseCode + referenced document ID + referenced
/// DocumentTypeCode + the sender's software PIN.
pub fn event_cude(e: &Event, pin: &str) -> String {
    super::cufe::sha384_hex(&format!(
        "{}{}{}{}{}{}{}{}{pin}",
        e.id,
        e.issue_date,
        e.issue_time,
        e.sender,
        e.receiver,
        e.code,
        e.invoice_id,
        e.invoice_type_code
    ))
}

/// The software PIN the event's CUDE is checked with: the one configured for
/// the sender's NIT and software (`None`: the CUDE cannot be recomputed and
/// the signature is the event's proof).
pub fn pin<'a>(e: &Event, settings: &'a DianSettings) -> Option<&'a str> {
    settings.pin_for(Some(&e.sender), e.software_id.as_deref())
}

/// The `event` object of the result JSON.
pub fn event_json(e: &Event, cude_checked: bool) -> Value {
    json!({
        "code": e.code,
        "name": event_name(&e.code),
        "id": e.id,
        "cude": e.cude,
        "issued": format!("{}T{}", e.issue_date, e.issue_time),
        "sender": e.sender,
        "receiver": e.receiver,
        "invoice": e.invoice_id,
        "cufe": e.invoice_cufe,
        "cude_checked": cude_checked,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_codes_and_names() {
        assert!(is_event_code("031"));
        assert!(!is_event_code("02"));
        assert!(!is_event_code("040"));
        assert_eq!(event_name("033"), "Aceptación expresa");
    }

    #[test]
    fn the_cude_covers_every_field_of_dians_formula() {
        let e = Event {
            code: "030".into(),
            id: "AR1".into(),
            issue_date: "2024-03-16".into(),
            issue_time: "10:00:00-05:00".into(),
            sender: "800199436".into(),
            receiver: "900373115".into(),
            invoice_id: "SETP990000120".into(),
            invoice_type_code: "01".into(),
            ..Event::default()
        };
        let base = event_cude(&e, "12345");
        assert_eq!(base.len(), 96);
        for f in [
            |e: &mut Event| e.id.push('x'),
            |e: &mut Event| e.issue_date.push('x'),
            |e: &mut Event| e.issue_time.push('x'),
            |e: &mut Event| e.sender.push('x'),
            |e: &mut Event| e.receiver.push('x'),
            |e: &mut Event| e.code.push('x'),
            |e: &mut Event| e.invoice_id.push('x'),
            |e: &mut Event| e.invoice_type_code.push('x'),
        ] {
            let mut m = e.clone();
            f(&mut m);
            assert_ne!(event_cude(&m, "12345"), base);
        }
        assert_ne!(event_cude(&e, "54321"), base);
    }
}
