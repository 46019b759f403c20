//! Deterministic generator of valid DIAN UBL 2.1 invoices, credit notes and
//! debit notes (for tests, benchmarks and the CLI).
//!
//! `build(seed, kind, opts)` returns a [`Spec`] with every value explicit
//! (totals included); `Spec::render` writes the XML and computes the
//! CUFE/CUDE from the spec's own fields. Tests mutate a `Spec` to make a
//! document that breaks exactly one rule and still carries a consistent key.
//! Documents are unsigned (no ds:Signature). `render.rs` writes the XML.

mod render;

pub use render::{application_response, attached_document, event};

use chrono::{DateTime, Duration, FixedOffset, TimeZone};
use rust_decimal::Decimal;

use super::cufe;
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
    /// DiscrepancyResponse/ResponseCode of a note (DIAN's concept code).
    pub discrepancy_code: String,
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
///
/// Long on purpose: each value is derived from those before it (parties →
/// lines → taxes → totals → numbering → key), in one readable sequence that
/// must consume the seeded random numbers in a fixed order (changing the
/// order would change every generated fixture).
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
    let header_taxes = header_taxes(&lines);
    let (line_extension, tax_exclusive, tax_inclusive) = line_totals(&lines, &header_taxes);
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
        discrepancy_code: match kind {
            DocKind::CreditNote => "2".to_owned(),
            _ => "3".to_owned(),
        },
        uuid_scheme_name: format!("{}-SHA384", kind.key_name()),
        uuid_scheme_id: None,
        uuid_override: None,
        qr_override: None,
    }
}

/// Header tax totals of `lines`: one per scheme, one subtotal per percent.
fn header_taxes(lines: &[GenLine]) -> Vec<GenTaxTotal> {
    let mut header_taxes: Vec<GenTaxTotal> = Vec::new();
    for l in lines {
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
    header_taxes
}

/// (line extension, tax exclusive, tax inclusive) of `lines`.
fn line_totals(lines: &[GenLine], header_taxes: &[GenTaxTotal]) -> (Decimal, Decimal, Decimal) {
    let line_extension: Decimal = lines.iter().map(|l| l.line_extension).sum();
    let tax_exclusive: Decimal = lines
        .iter()
        .filter(|l| !l.taxes.is_empty())
        .map(|l| l.line_extension)
        .sum();
    let tax_sum: Decimal = header_taxes.iter().map(|h| h.amount).sum();
    let tax_inclusive = line_extension + tax_sum;
    (line_extension, tax_exclusive, tax_inclusive)
}

impl GenLine {
    /// The same product and price for `quantity` (no discount), with its
    /// taxes at the same rates: a line of a note about this line.
    pub fn with_quantity(&self, quantity: Decimal) -> GenLine {
        let line_extension = (quantity * self.price).round_dp(2);
        let taxes = self
            .taxes
            .iter()
            .map(|t| {
                let subtotals: Vec<GenSubtotal> = t
                    .subtotals
                    .iter()
                    .map(|st| GenSubtotal {
                        taxable: line_extension,
                        amount: (line_extension * st.percent / hundred()).round_dp(2),
                        percent: st.percent,
                    })
                    .collect();
                GenTaxTotal {
                    scheme_id: t.scheme_id.clone(),
                    scheme_name: t.scheme_name.clone(),
                    amount: subtotals.iter().map(|st| st.amount).sum(),
                    subtotals,
                }
            })
            .collect();
        GenLine {
            quantity,
            discount: None,
            line_extension,
            taxes,
            ..self.clone()
        }
    }
}

/// A credit or debit note about `invoice` with `lines` (usually lines of the
/// invoice through [`GenLine::with_quantity`]) and DIAN's concept `concept`
/// (DiscrepancyResponse/ResponseCode), from the same supplier to the same
/// customer, referencing the invoice's number, CUFE and date.
pub fn note_for(
    invoice: &Spec,
    kind: DocKind,
    concept: &str,
    seed: u64,
    opts: &GenOptions,
    lines: Vec<GenLine>,
) -> Spec {
    let mut s = build(seed, kind, opts);
    s.supplier = invoice.supplier.clone();
    s.customer = invoice.customer.clone();
    let cufe = invoice
        .uuid_override
        .clone()
        .unwrap_or_else(|| invoice.computed_key());
    s.billing_reference = Some((invoice.number.clone(), cufe, invoice.issue_date.clone()));
    s.discrepancy_code = concept.to_owned();
    s.allowance_charges.clear();
    s.prepaid.clear();
    s.lines = lines;
    s.recompute_totals();
    s
}

impl Spec {
    /// Recompute the header taxes and the totals from the lines, header
    /// allowances and charges and prepayments (after editing any of them).
    pub fn recompute_totals(&mut self) {
        self.header_taxes = header_taxes(&self.lines);
        let (line_extension, tax_exclusive, tax_inclusive) =
            line_totals(&self.lines, &self.header_taxes);
        let sum = |charge: bool| -> Option<Decimal> {
            let mut it = self
                .allowance_charges
                .iter()
                .filter(|a| a.0 == charge)
                .peekable();
            it.peek().is_some().then(|| it.map(|a| a.1).sum())
        };
        let (allowance_total, charge_total) = (sum(false), sum(true));
        let prepaid: Option<Decimal> =
            (!self.prepaid.is_empty()).then(|| self.prepaid.iter().sum());
        self.totals = GenTotals {
            line_extension,
            tax_exclusive,
            tax_inclusive,
            allowance_total,
            charge_total,
            prepaid,
            payable: tax_inclusive - allowance_total.unwrap_or_default()
                + charge_total.unwrap_or_default()
                - prepaid.unwrap_or_default(),
        };
    }
}
