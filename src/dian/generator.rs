//! Deterministic generator of valid DIAN UBL 2.1 invoices, credit notes and
//! debit notes (for tests, benchmarks and the CLI).
//!
//! `build(seed, kind, opts)` returns a [`Spec`] with every value explicit
//! (totals included); `Spec::render` writes the XML and computes the
//! CUFE/CUDE from the spec's own fields. Tests mutate a `Spec` to make a
//! document that breaks exactly one rule and still carries a consistent key.
//! Documents are unsigned (no ds:Signature).

use std::fmt::Write as _;

use chrono::{DateTime, Duration, FixedOffset, TimeZone};
use rust_decimal::Decimal;

use super::cufe::{self, KeyInput};
use super::model::DocKind;
use super::settings::{EXAMPLE_SOFTWARE_ID, EXAMPLE_SOFTWARE_PIN, PUBLIC_TEST_TECHNICAL_KEY};

/// Generator options.
#[derive(Debug, Clone)]
pub struct GenOptions {
    /// Issue instant of every generated document.
    pub issued_at: DateTime<FixedOffset>,
    /// ProfileExecutionID: "1" production, "2" test.
    pub environment: String,
    /// ClTec for invoices (the public test-range key by default).
    pub technical_key: String,
    pub software_id: String,
    /// Software PIN for CUDEs.
    pub pin: String,
    pub min_lines: usize,
    pub max_lines: usize,
    /// Only natural agricultural products sold by the kilogram, which the
    /// shipped catalog and rules register: invoices that end accepted with a
    /// certificate (benchmarks of the whole registration route).
    pub registrable: bool,
}

impl Default for GenOptions {
    fn default() -> Self {
        Self {
            issued_at: default_issued_at(),
            environment: "2".to_owned(),
            technical_key: PUBLIC_TEST_TECHNICAL_KEY.to_owned(),
            software_id: EXAMPLE_SOFTWARE_ID.to_owned(),
            pin: EXAMPLE_SOFTWARE_PIN.to_owned(),
            min_lines: 1,
            max_lines: 30,
            registrable: false,
        }
    }
}

/// 2024-03-15T10:00:00-05:00, the default issue instant.
pub fn default_issued_at() -> DateTime<FixedOffset> {
    FixedOffset::west_opt(5 * 3600)
        .and_then(|bogota| bogota.with_ymd_and_hms(2024, 3, 15, 10, 0, 0).single())
        .unwrap_or_else(|| DateTime::UNIX_EPOCH.fixed_offset())
}

/// A generated document.
#[derive(Debug, Clone)]
pub struct Generated {
    pub xml: String,
    pub number: String,
    /// The CUFE (invoice) or CUDE (notes).
    pub cufe: String,
}

/// Generate one document.
pub fn generate(seed: u64, kind: DocKind, opts: &GenOptions) -> Generated {
    build(seed, kind, opts).render()
}

#[derive(Debug, Clone)]
pub struct GenParty {
    pub name: String,
    pub id: String,
    /// DV (schemeID); empty for non-NIT identifications.
    pub dv: String,
    /// schemeName: 31 NIT, 13 cédula.
    pub id_type: String,
    pub email: String,
    pub tax_level: String,
    pub person_type: String,
}

#[derive(Debug, Clone)]
pub struct GenSubtotal {
    pub taxable: Decimal,
    pub amount: Decimal,
    pub percent: Decimal,
}

#[derive(Debug, Clone)]
pub struct GenTaxTotal {
    pub scheme_id: String,
    pub scheme_name: String,
    pub amount: Decimal,
    pub subtotals: Vec<GenSubtotal>,
}

#[derive(Debug, Clone)]
pub struct GenLine {
    pub quantity: Decimal,
    pub unit_code: String,
    pub price: Decimal,
    /// Line discount (AllowanceCharge on the line), already subtracted.
    pub discount: Option<(Decimal, Decimal)>,
    pub line_extension: Decimal,
    pub taxes: Vec<GenTaxTotal>,
    pub description: String,
    pub sellers_item_id: Option<String>,
    pub standard_item_id: Option<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct GenTotals {
    pub line_extension: Decimal,
    pub tax_exclusive: Decimal,
    pub tax_inclusive: Decimal,
    pub allowance_total: Option<Decimal>,
    pub charge_total: Option<Decimal>,
    pub prepaid: Option<Decimal>,
    pub payable: Decimal,
}

#[derive(Debug, Clone)]
pub struct GenAuthorization {
    pub authorization: String,
    pub start: String,
    pub end: String,
    pub prefix: String,
    pub from: String,
    pub to: String,
}

/// Everything a generated document says, explicit and mutable.
#[derive(Debug, Clone)]
pub struct Spec {
    pub kind: DocKind,
    pub number: String,
    pub issue_date: String,
    pub issue_time: String,
    pub due_date: Option<String>,
    pub environment: String,
    pub ubl_version: String,
    pub customization_id: String,
    pub profile_id: String,
    pub type_code: String,
    pub currency: String,
    pub supplier: GenParty,
    pub customer: GenParty,
    pub lines: Vec<GenLine>,
    pub header_taxes: Vec<GenTaxTotal>,
    /// Header allowances (false) and charges (true): (charge, amount, reason).
    pub allowance_charges: Vec<(bool, Decimal, String)>,
    pub prepaid: Vec<Decimal>,
    pub totals: GenTotals,
    pub authorization: Option<GenAuthorization>,
    pub software_id: String,
    /// Technical key (invoices) or PIN (notes) used for the key.
    pub secret: String,
    pub pin: String,
    /// (ID, UUID, IssueDate) of the referenced invoice (notes).
    pub billing_reference: Option<(String, String, String)>,
    pub uuid_scheme_name: String,
    /// `None` = the environment.
    pub uuid_scheme_id: Option<String>,
    /// Replace the computed key with this value.
    pub uuid_override: Option<String>,
    /// QR text override (default: computed from the key).
    pub qr_override: Option<String>,
}

/// splitmix64: small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo) + 1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
}

const COMPANIES: &[&str] = &[
    "Comercializadora Andina S.A.S.",
    "Agroindustrias del Huila S.A.",
    "Distribuciones Pérez & Cía Ltda.",
    "Café Especial de Nariño S.A.S.",
    "Ferretería El Tornillo S.A.S.",
    "Lácteos La Sabana S.A.",
    "Textiles Medellín <Moda> S.A.S.",
    "Transportes Río Magdalena S.A.",
    "Arroces del Tolima S.A.S.",
    "Palma y Aceites del Meta S.A.",
];

const PEOPLE: &[&str] = &[
    "María Fernanda Gómez",
    "Juan Carlos Rodríguez",
    "Ana Lucía Martínez",
    "Andrés Felipe Núñez",
    "Luz Marina Ospina",
];

const PRODUCTS: &[(&str, &str)] = &[
    ("Café pergamino seco, bulto 62,5 kg", "10191509"),
    ("Arroz blanco, paca 25 kg", "50221101"),
    ("Aceite de palma crudo, tonelada", "50151513"),
    ("Leche UHT entera 1 L", "50131701"),
    ("Tornillo hexagonal 1/2\" galvanizado", "31161501"),
    ("Servicio de transporte de carga", "78101802"),
    ("Fertilizante NPK 15-15-15, bulto 50 kg", "10171701"),
    ("Maíz amarillo, tonelada", "50221102"),
    ("Papa pastusa, bulto 50 kg", "50403801"),
    ("Tela de algodón, metro", "11162104"),
];

/// Natural products sold by weight that the catalog snapshot registers.
const REGISTRABLE_PRODUCTS: &[(&str, &str)] = &[
    ("Papa pastusa, bulto 50 kg", "50403801"),
    ("Papa criolla, bulto 50 kg", "50403801"),
    ("Cebolla cabezona blanca, bulto 50 kg", "50404100"),
    ("Zanahoria, bulto 50 kg", "50406100"),
    ("Arroz paddy verde, bulto 62,5 kg", "50221101"),
];

fn nit(rng: &mut Rng) -> (String, String) {
    let n = rng.range(800_000_000, 999_999_999).to_string();
    let dv = super::nit::check_digit(&n).unwrap_or(0).to_string();
    (n, dv)
}

fn party(rng: &mut Rng, allow_person: bool) -> GenParty {
    if allow_person && rng.chance(20) {
        let name = (*rng.pick(PEOPLE)).to_owned();
        let id = rng.range(10_000_000, 1_199_999_999).to_string();
        return GenParty {
            email: format!("cliente{}@correo.com.co", &id[..4]),
            name,
            id,
            dv: String::new(),
            id_type: "13".to_owned(),
            tax_level: "R-99-PN".to_owned(),
            person_type: "2".to_owned(),
        };
    }
    let (id, dv) = nit(rng);
    let name = (*rng.pick(COMPANIES)).to_owned();
    GenParty {
        email: format!("facturacion{}@empresa.com.co", &id[..4]),
        name,
        id,
        dv,
        id_type: "31".to_owned(),
        tax_level: (*rng.pick(&["O-13", "O-15", "O-23", "R-99-PN"])).to_owned(),
        person_type: "1".to_owned(),
    }
}

fn pct(v: i64, scale: u32) -> Decimal {
    Decimal::new(v, scale)
}

fn hundred() -> Decimal {
    Decimal::new(100, 0)
}

/// Build a valid spec for a seed.
pub fn build(seed: u64, kind: DocKind, opts: &GenOptions) -> Spec {
    let mut rng = Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B ^ ((kind as u64) << 56));
    let supplier = party(&mut rng, false);
    let customer = party(&mut rng, true);
    let lo = opts.min_lines.max(1);
    let hi = opts.max_lines.max(lo);
    let n_lines = rng.range(lo as u64, hi as u64) as usize;
    // Tax categories: (scheme id, name, percent); None = excluded (no tax).
    let categories: [Option<(&str, &str, Decimal)>; 7] = [
        Some(("01", "IVA", pct(19, 0))),
        Some(("01", "IVA", pct(19, 0))),
        Some(("01", "IVA", pct(5, 0))),
        Some(("01", "IVA", pct(0, 0))),
        Some(("04", "INC", pct(8, 0))),
        Some(("03", "ICA", pct(966, 3))),
        None,
    ];
    let mut lines = Vec::with_capacity(n_lines);
    for _ in 0..n_lines {
        let (desc, unspsc) = *rng.pick(if opts.registrable {
            REGISTRABLE_PRODUCTS
        } else {
            PRODUCTS
        });
        let quantity = Decimal::new(rng.range(1, 40) as i64, 0);
        let price = Decimal::new(rng.range(1_000, 5_000_000) as i64, 2);
        let gross = (quantity * price).round_dp(2);
        let discount = if rng.chance(20) {
            let p = Decimal::new(rng.range(1, 15) as i64, 0);
            Some((p, (gross * p / hundred()).round_dp(2)))
        } else {
            None
        };
        let line_extension = gross - discount.map(|d| d.1).unwrap_or_default();
        let taxes = match rng.pick(&categories) {
            Some((id, name, p)) => vec![GenTaxTotal {
                scheme_id: (*id).to_owned(),
                scheme_name: (*name).to_owned(),
                amount: (line_extension * *p / hundred()).round_dp(2),
                subtotals: vec![GenSubtotal {
                    taxable: line_extension,
                    amount: (line_extension * *p / hundred()).round_dp(2),
                    percent: *p,
                }],
            }],
            None => Vec::new(),
        };
        let sellers_item_id = Some(format!("REF-{:05}", rng.below(100_000)));
        let standard_item_id = if rng.chance(60) {
            Some((unspsc.to_owned(), "001".to_owned()))
        } else {
            None
        };
        lines.push(GenLine {
            quantity,
            unit_code: match *rng.pick(&["94", "KGM", "NIU", "MTR", "EA"]) {
                _ if opts.registrable => "KGM".to_owned(),
                u => u.to_owned(),
            },
            price,
            discount,
            line_extension,
            taxes,
            description: desc.to_owned(),
            sellers_item_id,
            standard_item_id,
        });
    }
    // Header tax totals: one per scheme, one subtotal per percent.
    let mut header_taxes: Vec<GenTaxTotal> = Vec::new();
    for l in &lines {
        for t in &l.taxes {
            let h = match header_taxes
                .iter_mut()
                .position(|h| h.scheme_id == t.scheme_id)
            {
                Some(i) => &mut header_taxes[i],
                None => {
                    header_taxes.push(GenTaxTotal {
                        scheme_id: t.scheme_id.clone(),
                        scheme_name: t.scheme_name.clone(),
                        amount: Decimal::ZERO,
                        subtotals: Vec::new(),
                    });
                    let last = header_taxes.len() - 1;
                    &mut header_taxes[last]
                }
            };
            for s in &t.subtotals {
                h.amount += s.amount;
                match h.subtotals.iter_mut().find(|x| x.percent == s.percent) {
                    Some(x) => {
                        x.taxable += s.taxable;
                        x.amount += s.amount;
                    }
                    None => h.subtotals.push(s.clone()),
                }
            }
        }
    }
    let line_extension: Decimal = lines.iter().map(|l| l.line_extension).sum();
    let tax_exclusive: Decimal = lines
        .iter()
        .filter(|l| !l.taxes.is_empty())
        .map(|l| l.line_extension)
        .sum();
    let tax_sum: Decimal = header_taxes.iter().map(|h| h.amount).sum();
    let tax_inclusive = line_extension + tax_sum;
    let mut allowance_charges = Vec::new();
    if rng.chance(30) {
        let a = (tax_inclusive * Decimal::new(2, 2)).round_dp(2);
        allowance_charges.push((false, a, "Descuento por pronto pago".to_owned()));
    }
    if rng.chance(20) {
        allowance_charges.push((
            true,
            Decimal::new(rng.range(100_000, 2_000_000) as i64, 2),
            "Flete".to_owned(),
        ));
    }
    // UBL 2.1's DebitNote has no header AllowanceCharge (the draws above
    // still happen, so other documents keep their seeds' content).
    if kind == DocKind::DebitNote {
        allowance_charges.clear();
    }
    let prepaid = if kind == DocKind::Invoice && rng.chance(20) {
        vec![(tax_inclusive * Decimal::new(10, 2)).round_dp(2)]
    } else {
        Vec::new()
    };
    let allowance_total: Option<Decimal> = allowance_charges
        .iter()
        .any(|a| !a.0)
        .then(|| allowance_charges.iter().filter(|a| !a.0).map(|a| a.1).sum());
    let charge_total: Option<Decimal> = allowance_charges
        .iter()
        .any(|a| a.0)
        .then(|| allowance_charges.iter().filter(|a| a.0).map(|a| a.1).sum());
    let prepaid_total: Option<Decimal> = (!prepaid.is_empty()).then(|| prepaid.iter().sum());
    let payable = tax_inclusive - allowance_total.unwrap_or_default()
        + charge_total.unwrap_or_default()
        - prepaid_total.unwrap_or_default();
    let issue_date = opts.issued_at.format("%Y-%m-%d").to_string();
    let issue_time = opts.issued_at.format("%H:%M:%S%:z").to_string();
    let (number, authorization, customization_id, profile_id, type_code, secret, billing_reference) =
        match kind {
            DocKind::Invoice => (
                format!("SETP{}", 990_000_000 + seed % 5_000_000),
                Some(GenAuthorization {
                    authorization: "18760000001".to_owned(),
                    start: "2019-01-19".to_owned(),
                    end: "2030-01-19".to_owned(),
                    prefix: "SETP".to_owned(),
                    from: "990000000".to_owned(),
                    to: "995000000".to_owned(),
                }),
                "10",
                "DIAN 2.1: Factura Electrónica de Venta",
                "01",
                opts.technical_key.clone(),
                None,
            ),
            DocKind::CreditNote | DocKind::DebitNote => {
                let referenced =
                    format!("SETP{}", 990_000_000 + (seed.wrapping_mul(7)) % 5_000_000);
                let ref_uuid = cufe::sha384_hex(&format!("referenced-{seed}"));
                let ref_date = (opts.issued_at - Duration::days(5))
                    .format("%Y-%m-%d")
                    .to_string();
                let credit = kind == DocKind::CreditNote;
                (
                    format!(
                        "{}{}",
                        if credit { "NC" } else { "ND" },
                        1_000 + seed % 900_000
                    ),
                    None,
                    if credit { "20" } else { "30" },
                    if credit {
                        "DIAN 2.1: Nota Crédito de Factura Electrónica de Venta"
                    } else {
                        "DIAN 2.1: Nota Débito de Factura Electrónica de Venta"
                    },
                    if credit { "91" } else { "92" },
                    opts.pin.clone(),
                    Some((referenced, ref_uuid, ref_date)),
                )
            }
        };
    Spec {
        kind,
        number,
        issue_date,
        issue_time,
        due_date: (kind == DocKind::Invoice).then(|| {
            (opts.issued_at + Duration::days(30))
                .format("%Y-%m-%d")
                .to_string()
        }),
        environment: opts.environment.clone(),
        ubl_version: "UBL 2.1".to_owned(),
        customization_id: customization_id.to_owned(),
        profile_id: profile_id.to_owned(),
        type_code: type_code.to_owned(),
        currency: "COP".to_owned(),
        supplier,
        customer,
        lines,
        header_taxes,
        allowance_charges,
        prepaid,
        totals: GenTotals {
            line_extension,
            tax_exclusive,
            tax_inclusive,
            allowance_total,
            charge_total,
            prepaid: prepaid_total,
            payable,
        },
        authorization,
        software_id: opts.software_id.clone(),
        secret,
        pin: opts.pin.clone(),
        billing_reference,
        uuid_scheme_name: format!("{}-SHA384", kind.key_name()),
        uuid_scheme_id: None,
        uuid_override: None,
        qr_override: None,
    }
}

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
                "  <cac:DiscrepancyResponse><cbc:ReferenceID>{}</cbc:ReferenceID><cbc:ResponseCode>{}</cbc:ResponseCode><cbc:Description>Ajuste de precio</cbc:Description></cac:DiscrepancyResponse>\n  <cac:BillingReference><cac:InvoiceDocumentReference><cbc:ID>{}</cbc:ID><cbc:UUID schemeName=\"CUFE-SHA384\">{}</cbc:UUID><cbc:IssueDate>{}</cbc:IssueDate></cac:InvoiceDocumentReference></cac:BillingReference>\n",
                esc(id),
                if self.kind == DocKind::CreditNote {
                    "2"
                } else {
                    "3"
                },
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
