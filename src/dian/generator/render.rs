//! Writing a [`Spec`] as UBL 2.1 XML, and the wrappers (ApplicationResponse,
//! AttachedDocument) around a generated document.

use std::fmt::Write as _;

use rust_decimal::Decimal;

use super::*;
use crate::dian::cufe::{self, KeyInput};

/// XML-escape text and attribute values.
fn esc(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains(['&', '<', '>', '"', '\'']) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

fn m(d: Decimal) -> String {
    format!("{:.2}", d)
}

impl Spec {
    /// The key (CUFE/CUDE) the spec's own values produce.
    pub fn computed_key(&self) -> String {
        let tax = |id: &str| {
            self.header_taxes
                .iter()
                .filter(|t| t.scheme_id == id)
                .map(|t| t.amount)
                .sum::<Decimal>()
        };
        KeyInput {
            number: &self.number,
            issue_date: &self.issue_date,
            issue_time: &self.issue_time,
            line_extension: self.totals.line_extension,
            iva: tax("01"),
            inc: tax("04"),
            ica: tax("03"),
            payable: self.totals.payable,
            supplier_nit: &self.supplier.id,
            customer_id: &self.customer.id,
            secret: &self.secret,
            environment: &self.environment,
        }
        .key()
    }

    /// Write the document.
    ///
    /// Long on purpose: one linear template writing the elements in the
    /// order UBL 2.1 and the DIAN Anexo require; kept in one piece so that
    /// order can be read (and checked against the Anexo) top to bottom.
    pub fn render(&self) -> Generated {
        let key = self
            .uuid_override
            .clone()
            .unwrap_or_else(|| self.computed_key());
        let root = self.kind.root();
        let mut x = String::with_capacity(4_000 + self.lines.len() * 1_500);
        // `write!` into a String cannot fail; results are ignored on purpose.
        let _ = write!(
            x,
            r#"<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<{root} xmlns="urn:oasis:names:specification:ubl:schema:xsd:{root}-2" xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2" xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2" xmlns:ext="urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2" xmlns:sts="dian:gov:co:facturaelectronica:Structures-2-1">
  <ext:UBLExtensions>
    <ext:UBLExtension>
      <ext:ExtensionContent>
        <sts:DianExtensions>
"#
        );
        if let Some(a) = &self.authorization {
            let _ = write!(
                x,
                r#"          <sts:InvoiceControl>
            <sts:InvoiceAuthorization>{}</sts:InvoiceAuthorization>
            <sts:AuthorizationPeriod><cbc:StartDate>{}</cbc:StartDate><cbc:EndDate>{}</cbc:EndDate></sts:AuthorizationPeriod>
            <sts:AuthorizedInvoices><sts:Prefix>{}</sts:Prefix><sts:From>{}</sts:From><sts:To>{}</sts:To></sts:AuthorizedInvoices>
          </sts:InvoiceControl>
"#,
                esc(&a.authorization),
                esc(&a.start),
                esc(&a.end),
                esc(&a.prefix),
                esc(&a.from),
                esc(&a.to)
            );
        }
        let ssc = cufe::software_security_code(&self.software_id, &self.pin, &self.number);
        let qr = self.qr_override.clone().unwrap_or_else(|| {
            format!(
                "NumFac={}\nFecFac={}\nHorFac={}\nNitFac={}\nDocAdq={}\nValFac={}\nValIva={}\nValOtroIm={}\nValTolFac={}\nCUFE={key}\nQRCode=https://catalogo-vpfe-hab.dian.gov.co/document/searchqr?documentkey={key}",
                self.number,
                self.issue_date,
                self.issue_time,
                self.supplier.id,
                self.customer.id,
                m(self.totals.line_extension),
                m(self.header_taxes.iter().filter(|t| t.scheme_id == "01").map(|t| t.amount).sum()),
                m(self.header_taxes.iter().filter(|t| t.scheme_id != "01").map(|t| t.amount).sum()),
                m(self.totals.payable),
            )
        });
        let _ = write!(
            x,
            r#"          <sts:InvoiceSource><cbc:IdentificationCode listAgencyID="6">CO</cbc:IdentificationCode></sts:InvoiceSource>
          <sts:SoftwareProvider>
            <sts:ProviderID schemeAgencyID="195" schemeID="{}" schemeName="31">{}</sts:ProviderID>
            <sts:SoftwareID schemeAgencyID="195">{}</sts:SoftwareID>
          </sts:SoftwareProvider>
          <sts:SoftwareSecurityCode schemeAgencyID="195">{ssc}</sts:SoftwareSecurityCode>
          <sts:AuthorizationProvider><sts:AuthorizationProviderID schemeAgencyID="195" schemeID="4" schemeName="31">800197268</sts:AuthorizationProviderID></sts:AuthorizationProvider>
          <sts:QRCode>{}</sts:QRCode>
        </sts:DianExtensions>
      </ext:ExtensionContent>
    </ext:UBLExtension>
  </ext:UBLExtensions>
  <cbc:UBLVersionID>{}</cbc:UBLVersionID>
  <cbc:CustomizationID>{}</cbc:CustomizationID>
  <cbc:ProfileID>{}</cbc:ProfileID>
  <cbc:ProfileExecutionID>{}</cbc:ProfileExecutionID>
  <cbc:ID>{}</cbc:ID>
  <cbc:UUID schemeID="{}" schemeName="{}">{key}</cbc:UUID>
  <cbc:IssueDate>{}</cbc:IssueDate>
  <cbc:IssueTime>{}</cbc:IssueTime>
"#,
            esc(&self.supplier.dv),
            esc(&self.supplier.id),
            esc(&self.software_id),
            esc(&qr),
            esc(&self.ubl_version),
            esc(&self.customization_id),
            esc(&self.profile_id),
            esc(&self.environment),
            esc(&self.number),
            esc(self.uuid_scheme_id.as_deref().unwrap_or(&self.environment)),
            esc(&self.uuid_scheme_name),
            esc(&self.issue_date),
            esc(&self.issue_time),
        );
        if let Some(d) = &self.due_date {
            let _ = writeln!(x, "  <cbc:DueDate>{}</cbc:DueDate>", esc(d));
        }
        let tc = self.kind.type_code_element();
        // UBL 2.1's DebitNote has no type code element (its XSD refuses one).
        if !self.type_code.is_empty() && self.kind != DocKind::DebitNote {
            let _ = writeln!(x, "  <cbc:{tc}>{}</cbc:{tc}>", esc(&self.type_code));
        }
        let _ = write!(
            x,
            "  <cbc:Note>Documento generado por Pasarela (semilla de prueba)</cbc:Note>\n  <cbc:DocumentCurrencyCode>{}</cbc:DocumentCurrencyCode>\n  <cbc:LineCountNumeric>{}</cbc:LineCountNumeric>\n",
            esc(&self.currency),
            self.lines.len()
        );
        if let Some((id, uuid, date)) = &self.billing_reference {
            let _ = write!(
                x,
                "  <cac:DiscrepancyResponse><cbc:ReferenceID>{}</cbc:ReferenceID><cbc:ResponseCode>{}</cbc:ResponseCode><cbc:Description>{}</cbc:Description></cac:DiscrepancyResponse>\n  <cac:BillingReference><cac:InvoiceDocumentReference><cbc:ID>{}</cbc:ID><cbc:UUID schemeName=\"CUFE-SHA384\">{}</cbc:UUID><cbc:IssueDate>{}</cbc:IssueDate></cac:InvoiceDocumentReference></cac:BillingReference>\n",
                esc(id),
                esc(&self.discrepancy_code),
                esc(crate::dian::model::note_concept_name(
                    self.kind,
                    &self.discrepancy_code
                )),
                esc(id),
                esc(uuid),
                esc(date)
            );
        }
        for (holder, p) in [
            ("AccountingSupplierParty", &self.supplier),
            ("AccountingCustomerParty", &self.customer),
        ] {
            let scheme_id = if p.dv.is_empty() {
                String::new()
            } else {
                format!(" schemeID=\"{}\"", esc(&p.dv))
            };
            let _ = write!(
                x,
                r#"  <cac:{holder}>
    <cbc:AdditionalAccountID>{}</cbc:AdditionalAccountID>
    <cac:Party>
      <cac:PartyName><cbc:Name>{}</cbc:Name></cac:PartyName>
      <cac:PhysicalLocation><cac:Address><cbc:ID>11001</cbc:ID><cbc:CityName>Bogotá</cbc:CityName><cbc:CountrySubentity>Bogotá</cbc:CountrySubentity><cbc:CountrySubentityCode>11</cbc:CountrySubentityCode><cac:AddressLine><cbc:Line>Calle 26 # 69-76</cbc:Line></cac:AddressLine><cac:Country><cbc:IdentificationCode>CO</cbc:IdentificationCode><cbc:Name languageID="es">Colombia</cbc:Name></cac:Country></cac:Address></cac:PhysicalLocation>
      <cac:PartyTaxScheme>
        <cbc:RegistrationName>{}</cbc:RegistrationName>
        <cbc:CompanyID schemeAgencyID="195"{scheme_id} schemeName="{}">{}</cbc:CompanyID>
        <cbc:TaxLevelCode listName="48">{}</cbc:TaxLevelCode>
        <cac:TaxScheme><cbc:ID>01</cbc:ID><cbc:Name>IVA</cbc:Name></cac:TaxScheme>
      </cac:PartyTaxScheme>
      <cac:PartyLegalEntity>
        <cbc:RegistrationName>{}</cbc:RegistrationName>
        <cbc:CompanyID schemeAgencyID="195"{scheme_id} schemeName="{}">{}</cbc:CompanyID>
      </cac:PartyLegalEntity>
      <cac:Contact><cbc:ElectronicMail>{}</cbc:ElectronicMail></cac:Contact>
    </cac:Party>
  </cac:{holder}>
"#,
                esc(&p.person_type),
                esc(&p.name),
                esc(&p.name),
                esc(&p.id_type),
                esc(&p.id),
                esc(&p.tax_level),
                esc(&p.name),
                esc(&p.id_type),
                esc(&p.id),
                esc(&p.email),
            );
        }
        let credit = self.totals.payable > Decimal::new(1_000_000, 0);
        let _ = writeln!(
            x,
            "  <cac:PaymentMeans><cbc:ID>{}</cbc:ID><cbc:PaymentMeansCode>{}</cbc:PaymentMeansCode>{}</cac:PaymentMeans>",
            if credit { "2" } else { "1" },
            if credit { "42" } else { "10" },
            self.due_date
                .as_deref()
                .map(|d| format!("<cbc:PaymentDueDate>{d}</cbc:PaymentDueDate>"))
                .unwrap_or_default()
        );
        for (i, p) in self.prepaid.iter().enumerate() {
            let _ = writeln!(
                x,
                "  <cac:PrepaidPayment><cbc:ID>{}</cbc:ID><cbc:PaidAmount currencyID=\"COP\">{}</cbc:PaidAmount><cbc:ReceivedDate>{}</cbc:ReceivedDate></cac:PrepaidPayment>",
                i + 1,
                m(*p),
                esc(&self.issue_date)
            );
        }
        for (i, (charge, amount, reason)) in self.allowance_charges.iter().enumerate() {
            let _ = writeln!(
                x,
                "  <cac:AllowanceCharge><cbc:ID>{}</cbc:ID><cbc:ChargeIndicator>{charge}</cbc:ChargeIndicator>{}<cbc:AllowanceChargeReason>{}</cbc:AllowanceChargeReason><cbc:Amount currencyID=\"COP\">{}</cbc:Amount><cbc:BaseAmount currencyID=\"COP\">{}</cbc:BaseAmount></cac:AllowanceCharge>",
                i + 1,
                if *charge {
                    ""
                } else {
                    "<cbc:AllowanceChargeReasonCode>11</cbc:AllowanceChargeReasonCode>"
                },
                esc(reason),
                m(*amount),
                m(self.totals.tax_inclusive)
            );
        }
        for t in &self.header_taxes {
            write_tax_total(&mut x, t, "  ");
        }
        let tn = self.kind.totals_element();
        let _ = write!(
            x,
            "  <cac:{tn}>\n    <cbc:LineExtensionAmount currencyID=\"COP\">{}</cbc:LineExtensionAmount>\n    <cbc:TaxExclusiveAmount currencyID=\"COP\">{}</cbc:TaxExclusiveAmount>\n    <cbc:TaxInclusiveAmount currencyID=\"COP\">{}</cbc:TaxInclusiveAmount>\n",
            m(self.totals.line_extension),
            m(self.totals.tax_exclusive),
            m(self.totals.tax_inclusive)
        );
        if let Some(a) = self.totals.allowance_total {
            let _ = writeln!(
                x,
                "    <cbc:AllowanceTotalAmount currencyID=\"COP\">{}</cbc:AllowanceTotalAmount>",
                m(a)
            );
        }
        if let Some(c) = self.totals.charge_total {
            let _ = writeln!(
                x,
                "    <cbc:ChargeTotalAmount currencyID=\"COP\">{}</cbc:ChargeTotalAmount>",
                m(c)
            );
        }
        if let Some(p) = self.totals.prepaid {
            let _ = writeln!(
                x,
                "    <cbc:PrepaidAmount currencyID=\"COP\">{}</cbc:PrepaidAmount>",
                m(p)
            );
        }
        let _ = write!(
            x,
            "    <cbc:PayableAmount currencyID=\"COP\">{}</cbc:PayableAmount>\n  </cac:{tn}>\n",
            m(self.totals.payable)
        );
        let ln = self.kind.line_element();
        let qn = self.kind.quantity_element();
        for (i, l) in self.lines.iter().enumerate() {
            let _ = write!(
                x,
                "  <cac:{ln}>\n    <cbc:ID>{}</cbc:ID>\n    <cbc:{qn} unitCode=\"{}\">{}</cbc:{qn}>\n    <cbc:LineExtensionAmount currencyID=\"COP\">{}</cbc:LineExtensionAmount>\n",
                i + 1,
                esc(&l.unit_code),
                m(l.quantity),
                m(l.line_extension)
            );
            // UBL 2.1 orders a line's AllowanceCharge before its TaxTotal on
            // invoices, and after it on credit and debit notes.
            let notes = self.kind != DocKind::Invoice;
            if notes {
                for t in &l.taxes {
                    write_tax_total(&mut x, t, "    ");
                }
            }
            if let Some((p, amount)) = l.discount {
                let _ = writeln!(
                    x,
                    "    <cac:AllowanceCharge><cbc:ID>1</cbc:ID><cbc:ChargeIndicator>false</cbc:ChargeIndicator><cbc:AllowanceChargeReason>Descuento</cbc:AllowanceChargeReason><cbc:MultiplierFactorNumeric>{p}</cbc:MultiplierFactorNumeric><cbc:Amount currencyID=\"COP\">{}</cbc:Amount><cbc:BaseAmount currencyID=\"COP\">{}</cbc:BaseAmount></cac:AllowanceCharge>",
                    m(amount),
                    m((l.quantity * l.price).round_dp(2))
                );
            }
            if !notes {
                for t in &l.taxes {
                    write_tax_total(&mut x, t, "    ");
                }
            }
            let _ = write!(
                x,
                "    <cac:Item>\n      <cbc:Description>{}</cbc:Description>\n",
                esc(&l.description)
            );
            if let Some(s) = &l.sellers_item_id {
                let _ = writeln!(
                    x,
                    "      <cac:SellersItemIdentification><cbc:ID>{}</cbc:ID></cac:SellersItemIdentification>",
                    esc(s)
                );
            }
            if let Some((id, scheme)) = &l.standard_item_id {
                let _ = writeln!(
                    x,
                    "      <cac:StandardItemIdentification><cbc:ID schemeID=\"{}\" schemeName=\"UNSPSC\">{}</cbc:ID></cac:StandardItemIdentification>",
                    esc(scheme),
                    esc(id)
                );
            }
            let _ = write!(
                x,
                "    </cac:Item>\n    <cac:Price><cbc:PriceAmount currencyID=\"COP\">{}</cbc:PriceAmount><cbc:BaseQuantity unitCode=\"{}\">1.00</cbc:BaseQuantity></cac:Price>\n  </cac:{ln}>\n",
                m(l.price),
                esc(&l.unit_code)
            );
        }
        let _ = writeln!(x, "</{root}>");
        Generated {
            xml: x,
            number: self.number.clone(),
            cufe: key,
        }
    }
}

fn write_tax_total(x: &mut String, t: &GenTaxTotal, indent: &str) {
    let _ = write!(
        x,
        "{indent}<cac:TaxTotal>\n{indent}  <cbc:TaxAmount currencyID=\"COP\">{}</cbc:TaxAmount>\n",
        m(t.amount)
    );
    for s in &t.subtotals {
        let _ = writeln!(
            x,
            "{indent}  <cac:TaxSubtotal><cbc:TaxableAmount currencyID=\"COP\">{}</cbc:TaxableAmount><cbc:TaxAmount currencyID=\"COP\">{}</cbc:TaxAmount><cac:TaxCategory><cbc:Percent>{}</cbc:Percent><cac:TaxScheme><cbc:ID>{}</cbc:ID><cbc:Name>{}</cbc:Name></cac:TaxScheme></cac:TaxCategory></cac:TaxSubtotal>",
            m(s.taxable),
            m(s.amount),
            if s.percent.scale() >= 2 {
                s.percent.to_string()
            } else {
                format!("{:.2}", s.percent)
            },
            esc(&t.scheme_id),
            esc(&t.scheme_name)
        );
    }
    let _ = writeln!(x, "{indent}</cac:TaxTotal>");
}

const NS_DECLS: &str = r#"xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2" xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2""#;

/// DIAN's ApplicationResponse about a document (`code` "02" = validated).
pub fn application_response(number: &str, key: &str, code: &str, issue_date: &str) -> String {
    let description = if code == "02" {
        "Documento validado por la DIAN"
    } else {
        "Documento con errores en campos mandatorios"
    };
    let cude = cufe::sha384_hex(&format!("{key}{code}{issue_date}"));
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<ApplicationResponse xmlns="urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2" {NS_DECLS}>
  <cbc:UBLVersionID>UBL 2.1</cbc:UBLVersionID>
  <cbc:CustomizationID>1</cbc:CustomizationID>
  <cbc:ProfileID>DIAN 2.1</cbc:ProfileID>
  <cbc:ProfileExecutionID>2</cbc:ProfileExecutionID>
  <cbc:ID>{}</cbc:ID>
  <cbc:UUID schemeName="CUDE-SHA384">{cude}</cbc:UUID>
  <cbc:IssueDate>{}</cbc:IssueDate>
  <cbc:IssueTime>10:05:00-05:00</cbc:IssueTime>
  <cac:SenderParty><cac:PartyTaxScheme><cbc:RegistrationName>Unidad Especial Dirección de Impuestos y Aduanas Nacionales</cbc:RegistrationName><cbc:CompanyID schemeID="4" schemeName="31">800197268</cbc:CompanyID><cac:TaxScheme><cbc:ID>01</cbc:ID><cbc:Name>IVA</cbc:Name></cac:TaxScheme></cac:PartyTaxScheme></cac:SenderParty>
  <cac:DocumentResponse>
    <cac:Response><cbc:ResponseCode>{}</cbc:ResponseCode><cbc:Description>{description}</cbc:Description></cac:Response>
    <cac:DocumentReference><cbc:ID>{}</cbc:ID><cbc:UUID schemeName="CUFE-SHA384">{}</cbc:UUID></cac:DocumentReference>
  </cac:DocumentResponse>
</ApplicationResponse>"#,
        esc(&format!("AR{}", &cude[..8])),
        esc(issue_date),
        esc(code),
        esc(number),
        esc(key),
    )
}

/// Wrap a document (and optionally DIAN's ApplicationResponse XML) in an
/// AttachedDocument container, as a buyer receives it.
pub fn attached_document(inner: &Generated, response: Option<&str>) -> String {
    let mut x = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<AttachedDocument xmlns="urn:oasis:names:specification:ubl:schema:xsd:AttachedDocument-2" {NS_DECLS}>
  <cbc:UBLVersionID>UBL 2.1</cbc:UBLVersionID>
  <cbc:CustomizationID>Documentos adjuntos</cbc:CustomizationID>
  <cbc:ProfileID>Factura Electrónica de Venta</cbc:ProfileID>
  <cbc:ProfileExecutionID>1</cbc:ProfileExecutionID>
  <cbc:ID>{}</cbc:ID>
  <cbc:DocumentType>Contenedor de Factura Electrónica</cbc:DocumentType>
  <cbc:ParentDocumentID>{}</cbc:ParentDocumentID>
  <cac:Attachment><cac:ExternalReference><cbc:MimeCode>text/xml</cbc:MimeCode><cbc:EncodingCode>UTF-8</cbc:EncodingCode><cbc:Description><![CDATA[{}]]></cbc:Description></cac:ExternalReference></cac:Attachment>
"#,
        esc(&inner.number),
        esc(&inner.number),
        inner.xml
    );
    if let Some(r) = response {
        let _ = writeln!(
            x,
            r#"  <cac:ParentDocumentLineReference><cbc:LineID>1</cbc:LineID><cac:DocumentReference><cbc:ID>{}</cbc:ID><cbc:UUID schemeName="CUFE-SHA384">{}</cbc:UUID><cac:Attachment><cac:ExternalReference><cbc:MimeCode>text/xml</cbc:MimeCode><cbc:EncodingCode>UTF-8</cbc:EncodingCode><cbc:Description><![CDATA[{r}]]></cbc:Description></cac:ExternalReference></cac:Attachment></cac:DocumentReference></cac:ParentDocumentLineReference>"#,
            esc(&inner.number),
            esc(&inner.cufe)
        );
    }
    x.push_str("</AttachedDocument>\n");
    x
}

/// A RADIAN event (ApplicationResponse, ResponseCode `code`) about
/// `invoice`, sent by its buyer to its seller on `issue_date`, with the
/// event CUDE of DIAN's formula made with the example software's PIN.
pub fn event(invoice: &Spec, code: &str, number: &str, issue_date: &str) -> Generated {
    let e = crate::dian::events::Event {
        code: code.to_owned(),
        id: number.to_owned(),
        issue_date: issue_date.to_owned(),
        issue_time: "09:30:00-05:00".to_owned(),
        sender: invoice.customer.id.clone(),
        receiver: invoice.supplier.id.clone(),
        invoice_id: invoice.number.clone(),
        invoice_type_code: invoice.type_code.clone(),
        invoice_cufe: invoice
            .uuid_override
            .clone()
            .unwrap_or_else(|| invoice.computed_key()),
        ..Default::default()
    };
    let cude = crate::dian::events::event_cude(&e, &invoice.pin);
    let party = |holder: &str, p: &super::GenParty| {
        format!(
            "  <cac:{holder}><cac:PartyTaxScheme><cbc:RegistrationName>{}</cbc:RegistrationName><cbc:CompanyID schemeAgencyID=\"195\" schemeID=\"{}\" schemeName=\"{}\">{}</cbc:CompanyID><cac:TaxScheme><cbc:ID>01</cbc:ID><cbc:Name>IVA</cbc:Name></cac:TaxScheme></cac:PartyTaxScheme></cac:{holder}>\n",
            esc(&p.name),
            esc(&p.dv),
            esc(&p.id_type),
            esc(&p.id)
        )
    };
    let xml = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<ApplicationResponse xmlns="urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2" {NS_DECLS} xmlns:ext="urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2" xmlns:sts="dian:gov:co:facturaelectronica:Structures-2-1">
  <ext:UBLExtensions><ext:UBLExtension><ext:ExtensionContent><sts:DianExtensions><sts:SoftwareProvider><sts:ProviderID schemeAgencyID="195" schemeName="31">{}</sts:ProviderID><sts:SoftwareID schemeAgencyID="195">{}</sts:SoftwareID></sts:SoftwareProvider></sts:DianExtensions></ext:ExtensionContent></ext:UBLExtension></ext:UBLExtensions>
  <cbc:UBLVersionID>UBL 2.1</cbc:UBLVersionID>
  <cbc:CustomizationID>1</cbc:CustomizationID>
  <cbc:ProfileID>DIAN 2.1: ApplicationResponse de la Factura Electrónica de Venta</cbc:ProfileID>
  <cbc:ProfileExecutionID>{}</cbc:ProfileExecutionID>
  <cbc:ID>{}</cbc:ID>
  <cbc:UUID schemeID="{}" schemeName="CUDE-SHA384">{cude}</cbc:UUID>
  <cbc:IssueDate>{}</cbc:IssueDate>
  <cbc:IssueTime>{}</cbc:IssueTime>
{}{}  <cac:DocumentResponse>
    <cac:Response><cbc:ResponseCode>{}</cbc:ResponseCode><cbc:Description>{}</cbc:Description></cac:Response>
    <cac:DocumentReference><cbc:ID>{}</cbc:ID><cbc:UUID schemeName="CUFE-SHA384">{}</cbc:UUID><cbc:DocumentTypeCode>{}</cbc:DocumentTypeCode></cac:DocumentReference>
  </cac:DocumentResponse>
</ApplicationResponse>
"#,
        esc(&invoice.customer.id),
        esc(&invoice.software_id),
        esc(&invoice.environment),
        esc(&e.id),
        esc(&invoice.environment),
        esc(&e.issue_date),
        esc(&e.issue_time),
        party("SenderParty", &invoice.customer),
        party("ReceiverParty", &invoice.supplier),
        esc(code),
        esc(crate::dian::events::event_name(code)),
        esc(&e.invoice_id),
        esc(&e.invoice_cufe),
        esc(&e.invoice_type_code),
    );
    Generated {
        xml,
        number: e.id,
        cufe: cude,
    }
}
