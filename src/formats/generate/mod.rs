//! Synthetic Spanish invoices with ground truth, for tests and the accuracy
//! benchmark: a deterministic generator (seeded), a small PDF writer
//! (Helvetica, WinAnsi accents, table rules, vector DIAN QR, optional XML
//! attachment), rasterisation through `pdftoppm` and degradations like scans
//! and phone photos (rotation ±3°, blur, noise, uneven light, JPEG).
//!
//! The CUFE is the real SHA-384 over the DIAN pre-hash string with the public
//! test-range technical key, so the QR content is what a real invoice holds.

use std::fmt::Write as _;
use std::io::Cursor;

use chrono::{Duration as Days, NaiveDate};
use image::{GrayImage, Luma};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha384};

mod degrade;
mod pdf;

pub use degrade::*;
pub use pdf::*;

use super::image as img;
use super::worker::{Limits, Scratch, WorkerError};

/// DIAN's public test-range technical key (habilitación).
pub const TEST_CLTEC: &str = "fc8eac422eba16e22ffd8c6f94b3f40a6e38162c";

/// Deterministic PRNG (SplitMix64): the same seed gives the same invoice.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..hi` (hi exclusive).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo).max(1)
    }
    pub fn f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.range(0, xs.len() as u64) as usize]
    }
    pub fn chance(&mut self, p: f32) -> bool {
        self.f32() < p
    }
    fn gauss(&mut self) -> f32 {
        let u1 = self.f32().max(1e-6);
        let u2 = self.f32();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f32::consts::PI * u2).cos()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthLine {
    pub description: String,
    pub quantity: Decimal,
    pub unit: String,
    pub unit_price: Decimal,
    pub tax_rate: Decimal,
    pub line_total: Decimal,
}

/// The ground truth of one generated invoice (values normalised the way
/// `extract` reports them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvoiceTruth {
    pub number: String,
    pub prefix: String,
    pub issue_date: String,
    pub issue_time: String,
    pub due_date: String,
    pub supplier_name: String,
    pub supplier_nit: String,
    pub supplier_dv: String,
    pub customer_name: String,
    pub customer_id_type: String,
    pub customer_id: String,
    pub subtotal: String,
    pub tax_iva: String,
    pub total: String,
    pub cufe: String,
    pub with_qr: bool,
    pub lines: Vec<TruthLine>,
    /// The printed text in reading order, one visual line per row (for CER).
    pub text: String,
}

impl InvoiceTruth {
    pub fn get(&self, field: &str) -> Option<&str> {
        Some(match field {
            "number" => &self.number,
            "prefix" => &self.prefix,
            "issue_date" => &self.issue_date,
            "issue_time" => &self.issue_time,
            "due_date" => &self.due_date,
            "supplier_name" => &self.supplier_name,
            "supplier_nit" => &self.supplier_nit,
            "supplier_dv" => &self.supplier_dv,
            "customer_name" => &self.customer_name,
            "customer_id" => &self.customer_id,
            "subtotal" => &self.subtotal,
            "tax_iva" => &self.tax_iva,
            "total" => &self.total,
            "cufe" => &self.cufe,
            _ => return None,
        })
    }
}

const SUPPLIERS: &[&str] = &[
    "DISTRIBUIDORA AGROPECUARIA DEL LLANO S.A.S.",
    "Cafés Especiales de Nariño Ltda.",
    "Arrocera La Esperanza S.A.",
    "Lácteos El Páramo S.A.S.",
    "Comercializadora Agrícola Santa Bárbara S.A.S.",
    "Frutas y Hortalizas del Cañón S.A.S.",
    "Ganadería Los Guayacanes S.A.S.",
    "Molino San José de Cúcuta S.A.",
    "Panelera Doña Inés Ltda.",
    "AGROINDUSTRIAS DEL CESAR S.A.S.",
    "Cooperativa de Caficultores de Antioquia",
    "Hacienda El Porvenir S.A.S.",
];
const CUSTOMERS: &[&str] = &[
    "Almacenes Éxito S.A.",
    "COMERCIALIZADORA NACIONAL DE GRANOS S.A.S.",
    "Supermercados La Economía Ltda.",
    "Industria de Alimentos Zenú S.A.S.",
    "Trilladora Café Montaña S.A.S.",
    "Juan Pablo Muñoz Peña",
    "María Fernanda Gómez Álvarez",
    "Distribuciones Ibagué S.A.S.",
    "Plaza de Mercado Paloquemao Ltda.",
    "Asociación de Productores de Cacao del Huila",
];
const PRODUCTS: &[(&str, &str, u64, u64)] = &[
    ("Café pergamino seco", "KG", 9_000, 16_000),
    ("Arroz paddy verde", "KG", 1_200, 2_100),
    ("Maíz amarillo tecnificado", "KG", 900, 1_600),
    ("Papa criolla lavada", "KG", 1_500, 3_800),
    ("Plátano hartón verde", "KG", 1_100, 2_400),
    ("Leche cruda refrigerada", "LT", 1_400, 2_100),
    ("Fríjol cargamanto rojo", "KG", 6_000, 11_000),
    ("Panela pulverizada", "KG", 3_000, 5_500),
    ("Yuca fresca", "KG", 800, 1_900),
    ("Cacao en grano fermentado", "KG", 9_500, 22_000),
    ("Aguacate Hass exportación", "KG", 4_000, 9_000),
    ("Ñame espino", "KG", 1_200, 2_900),
    ("Tomate chonto", "KG", 1_800, 4_200),
    ("Cebolla cabezona blanca", "KG", 1_300, 3_500),
    ("Novillos en pie", "UND", 2_500_000, 4_200_000),
    ("Azúcar blanca refinada", "BULTO", 120_000, 190_000),
];
const CITIES: &[&str] = &[
    "Bogotá D.C.",
    "Medellín (Antioquia)",
    "Villavicencio (Meta)",
    "Cúcuta (Norte de Santander)",
    "Pasto (Nariño)",
    "Ibagué (Tolima)",
    "Montería (Córdoba)",
    "Popayán (Cauca)",
];
const PREFIXES: &[&str] = &["SETP", "FE", "FEV", "FV", "FACT", "A", "FVE"];
use super::extract::MONTHS;

/// Colombian format: `1.234.567,89` (or without decimals).
pub fn fmt_money(d: Decimal, decimals: bool) -> String {
    let d = d.round_dp(2);
    let int = d.trunc().abs().to_string();
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i).is_multiple_of(3) {
            grouped.push('.');
        }
        grouped.push(c);
    }
    if decimals {
        let cents = ((d - d.trunc()) * Decimal::ONE_HUNDRED).trunc().abs();
        format!("{grouped},{cents:0>2}")
    } else {
        grouped
    }
}

fn fmt_nit(n: &str) -> String {
    // 900373991 -> 900.373.991
    let mut out = String::new();
    for (i, c) in n.chars().enumerate() {
        if i > 0 && (n.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    out
}

fn money2(d: Decimal) -> String {
    let mut d = d.round_dp(2);
    d.rescale(2);
    d.to_string()
}

/// One drawing operation on the page.
#[derive(Debug, Clone)]
enum Op {
    Text {
        x: f32,
        y: f32,
        size: f32,
        bold: bool,
        text: String,
    },
    Rule {
        x1: f32,
        y1: f32,
        x2: f32,
        y2: f32,
    },
    Qr {
        x: f32,
        y: f32,
        size: f32,
        text: String,
    },
}

/// A generated invoice: truth plus the page drawing.
#[derive(Debug, Clone)]
pub struct Invoice {
    pub truth: InvoiceTruth,
    ops: Vec<Op>,
    xml: Option<String>,
}

fn random_nit(rng: &mut Rng) -> String {
    let head = *rng.pick(&[800u64, 830, 860, 890, 900, 901]);
    format!("{head}{:06}", rng.range(0, 1_000_000))
}

/// Generate invoice number `seed`. `with_qr` prints the DIAN QR. Long on
/// purpose (test support only): the invoice page is drawn top to bottom in
/// one place, as a printed invoice reads.
pub fn invoice(seed: u64, with_qr: bool) -> Invoice {
    let mut rng = Rng::new(seed);
    let supplier_name = rng.pick(SUPPLIERS).to_string();
    let supplier_nit = random_nit(&mut rng);
    let supplier_dv = crate::dian::nit::check_digit(&supplier_nit)
        .unwrap_or(0)
        .to_string();
    let customer_name = rng.pick(CUSTOMERS).to_string();
    let person = customer_name.split_whitespace().count() == 3 && !customer_name.contains('.');
    let (customer_id_type, customer_id) = if person || rng.chance(0.15) {
        (
            "cc".to_string(),
            format!("{}", rng.range(10_000_000, 1_100_000_000)),
        )
    } else {
        ("nit".to_string(), random_nit(&mut rng))
    };
    let prefix = rng.pick(PREFIXES).to_string();
    let digits = if prefix == "SETP" {
        rng.range(990_000_000, 995_000_000)
    } else {
        rng.range(1, 99_999)
    };
    let number = format!("{prefix}{digits}");
    let base = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap_or_default();
    let issue = base + Days::days(rng.range(0, 700) as i64);
    let due = issue + Days::days(*rng.pick(&[0i64, 8, 15, 30, 45, 60]));
    let issue_time = format!(
        "{:02}:{:02}:{:02}-05:00",
        rng.range(6, 19),
        rng.range(0, 60),
        rng.range(0, 60)
    );

    let mut lines = Vec::new();
    for _ in 0..rng.range(1, 6) {
        let (desc, unit, lo, hi) = *rng.pick(PRODUCTS);
        let qty = if unit == "UND" || unit == "BULTO" {
            Decimal::from(rng.range(1, 40))
        } else {
            Decimal::from(rng.range(10, 5_000))
        };
        let price = Decimal::from(rng.range(lo, hi) / 10 * 10);
        let rate = Decimal::from(*rng.pick(&[0u64, 0, 5, 19]));
        let total = qty * price;
        lines.push(TruthLine {
            description: desc.to_string(),
            quantity: qty,
            unit: unit.to_string(),
            unit_price: price,
            tax_rate: rate,
            line_total: total,
        });
    }
    let subtotal: Decimal = lines.iter().map(|l| l.line_total).sum();
    let iva: Decimal = lines
        .iter()
        .map(|l| (l.line_total * l.tax_rate / Decimal::ONE_HUNDRED).round_dp(2))
        .sum();
    let total = subtotal + iva;
    let customer_for_cufe = customer_id.clone();
    let prehash = format!(
        "{number}{issue}{issue_time}{}01{}04{}03{}{}{supplier_nit}{customer_for_cufe}{TEST_CLTEC}2",
        money2(subtotal),
        money2(iva),
        "0.00",
        "0.00",
        money2(total),
        issue = issue.format("%Y-%m-%d"),
    );
    let cufe = hex::encode(Sha384::digest(prehash.as_bytes()));

    // Presentation choices.
    let decimals = rng.chance(0.6) || !iva.fract().is_zero() || !total.fract().is_zero();
    let money = |d: Decimal| format!("$ {}", fmt_money(d, decimals));
    let date_style = rng.range(0, 3);
    let fmt_date = |d: NaiveDate| match date_style {
        0 => d.format("%Y-%m-%d").to_string(),
        1 => d.format("%d/%m/%Y").to_string(),
        _ => format!(
            "{} de {} de {}",
            d.format("%d"),
            MONTHS[d.format("%m").to_string().parse::<usize>().unwrap_or(1) - 1],
            d.format("%Y")
        ),
    };
    let title = match rng.range(0, 3) {
        0 => format!("FACTURA ELECTRÓNICA DE VENTA No. {number}"),
        1 => format!("Factura electrónica de venta N° {number}"),
        _ => format!("FACTURA ELECTRÓNICA DE VENTA Nro. {number}"),
    };
    let date_label = *rng.pick(&[
        "Fecha de emisión:",
        "Fecha de expedición:",
        "Fecha factura:",
    ]);
    let customer_label = *rng.pick(&["Cliente:", "Adquiriente:", "Señores:"]);
    let total_label = *rng.pick(&["Total a pagar:", "Valor total:", "Total factura:"]);
    let iva_label = *rng.pick(&["IVA:", "Total IVA:"]);
    let city = *rng.pick(CITIES);
    let ccity = *rng.pick(CITIES);

    let mut ops = Vec::new();
    let t = |ops: &mut Vec<Op>, x: f32, y: f32, size: f32, bold: bool, s: &str| {
        ops.push(Op::Text {
            x,
            y,
            size,
            bold,
            text: s.to_string(),
        })
    };
    let l = 42.0;
    t(&mut ops, l, 795.0, 14.0, true, &supplier_name);
    t(
        &mut ops,
        l,
        778.0,
        10.0,
        false,
        &format!("NIT: {}-{supplier_dv}", fmt_nit(&supplier_nit)),
    );
    t(
        &mut ops,
        300.0,
        778.0,
        10.0,
        false,
        "Responsable de IVA - Régimen común",
    );
    t(
        &mut ops,
        l,
        764.0,
        10.0,
        false,
        &format!(
            "Dirección: Calle {} # {}-{}, {city}",
            rng.range(1, 120),
            rng.range(1, 99),
            rng.range(1, 99)
        ),
    );
    t(&mut ops, l, 740.0, 12.5, true, &title);
    t(
        &mut ops,
        l,
        722.0,
        10.0,
        false,
        &format!("{date_label} {}", fmt_date(issue)),
    );
    t(
        &mut ops,
        320.0,
        722.0,
        10.0,
        false,
        &format!("Hora: {issue_time}"),
    );
    t(
        &mut ops,
        l,
        708.0,
        10.0,
        false,
        &format!("Fecha de vencimiento: {}", fmt_date(due)),
    );
    t(
        &mut ops,
        320.0,
        708.0,
        10.0,
        false,
        &format!(
            "Forma de pago: {}",
            if due == issue { "Contado" } else { "Crédito" }
        ),
    );
    ops.push(Op::Rule {
        x1: l,
        y1: 698.0,
        x2: 553.0,
        y2: 698.0,
    });
    t(
        &mut ops,
        l,
        684.0,
        10.0,
        false,
        &format!("{customer_label} {customer_name}"),
    );
    let cid = if customer_id_type == "nit" {
        format!(
            "NIT: {}-{}",
            fmt_nit(&customer_id),
            crate::dian::nit::check_digit(&customer_id).unwrap_or(0)
        )
    } else {
        format!("C.C.: {}", fmt_nit(&customer_id))
    };
    t(&mut ops, l, 670.0, 10.0, false, &cid);
    t(
        &mut ops,
        l,
        656.0,
        10.0,
        false,
        &format!(
            "Dirección: Carrera {} # {}-{}, {ccity}",
            rng.range(1, 99),
            rng.range(1, 99),
            rng.range(1, 99)
        ),
    );
    // Table.
    let cols = [l, 62.0, 260.0, 320.0, 370.0, 455.0, 553.0];
    let mut y = 632.0;
    ops.push(Op::Rule {
        x1: l,
        y1: y + 13.0,
        x2: 553.0,
        y2: y + 13.0,
    });
    for (x, s) in [
        (cols[0], "#"),
        (cols[1], "Descripción"),
        (cols[2], "Cant."),
        (cols[3], "Unidad"),
        (cols[4], "Vr. unitario"),
        (cols[5] - 12.0, "IVA"),
        (cols[6] - 45.0, "Vr. total"),
    ] {
        t(&mut ops, x, y, 9.5, true, s);
    }
    ops.push(Op::Rule {
        x1: l,
        y1: y - 5.0,
        x2: 553.0,
        y2: y - 5.0,
    });
    y -= 19.0;
    for (i, ln) in lines.iter().enumerate() {
        t(&mut ops, cols[0], y, 9.5, false, &format!("{}", i + 1));
        t(&mut ops, cols[1], y, 9.5, false, &ln.description);
        t(
            &mut ops,
            cols[2],
            y,
            9.5,
            false,
            &fmt_money(ln.quantity, false),
        );
        t(&mut ops, cols[3], y, 9.5, false, &ln.unit);
        // Right-aligned so wide prices never reach the IVA column.
        let up = money(ln.unit_price);
        t(&mut ops, 432.0 - text_width(&up, 9.5), y, 9.5, false, &up);
        t(
            &mut ops,
            cols[5] - 12.0,
            y,
            9.5,
            false,
            &format!("{}%", ln.tax_rate),
        );
        let s = money(ln.line_total);
        t(&mut ops, cols[6] - text_width(&s, 9.5), y, 9.5, false, &s);
        y -= 15.0;
    }
    ops.push(Op::Rule {
        x1: l,
        y1: y + 8.0,
        x2: 553.0,
        y2: y + 8.0,
    });
    y -= 12.0;
    for (label, v, bold) in [
        ("Subtotal:", subtotal, false),
        (iva_label, iva, false),
        (total_label, total, true),
    ] {
        let s = money(v);
        t(&mut ops, 360.0, y, 10.5, bold, label);
        t(&mut ops, 553.0 - text_width(&s, 10.5), y, 10.5, bold, &s);
        y -= 16.0;
    }
    y -= 8.0;
    t(
        &mut ops,
        l,
        y,
        8.5,
        false,
        &format!("CUFE: {}", &cufe[..48]),
    );
    t(&mut ops, l, y - 12.0, 8.5, false, &cufe[48..]);
    let qr_text = format!(
        "NumFac: {number}\nFecFac: {}\nHorFac: {issue_time}\nNitFac: {supplier_nit}\nDocAdq: {customer_id}\nValFac: {}\nValIva: {}\nValOtroIm: 0.00\nValTolFac: {}\nCUFE: {cufe}\nhttps://catalogo-vpfe-hab.dian.gov.co/document/searchqr?documentkey={cufe}",
        issue.format("%Y-%m-%d"),
        money2(subtotal),
        money2(iva),
        money2(total)
    );
    let fy = (y - 140.0).min(170.0);
    let tx = if with_qr {
        ops.push(Op::Qr {
            x: l,
            y: fy,
            size: 115.0,
            text: qr_text,
        });
        l + 130.0
    } else {
        l
    };
    t(
        &mut ops,
        tx,
        fy + 90.0,
        8.5,
        false,
        &format!("Representación gráfica de la factura electrónica {number}"),
    );
    t(
        &mut ops,
        tx,
        fy + 76.0,
        8.5,
        false,
        "Autorización de numeración DIAN No. 18760000001 del 2019-01-19",
    );
    t(
        &mut ops,
        tx,
        fy + 62.0,
        8.5,
        false,
        "Proveedor tecnológico: Soluciones Digitales Andinas S.A.S.",
    );
    t(
        &mut ops,
        tx,
        fy + 48.0,
        8.5,
        false,
        "Esta factura se asimila en todos sus efectos a una letra de cambio.",
    );

    let text = reading_text(&ops);
    let truth = InvoiceTruth {
        number,
        prefix,
        issue_date: issue.format("%Y-%m-%d").to_string(),
        issue_time,
        due_date: due.format("%Y-%m-%d").to_string(),
        supplier_name,
        supplier_nit,
        supplier_dv,
        customer_name,
        customer_id_type,
        customer_id,
        subtotal: money2(subtotal),
        tax_iva: money2(iva),
        total: money2(total),
        cufe,
        with_qr,
        lines,
        text,
    };
    Invoice {
        truth,
        ops,
        xml: None,
    }
}

impl Invoice {
    /// The electronic invoice (UBL 2.1 XML, valid CUFE) of the same sale:
    /// same supplier, number, issue date and time; one or two products the
    /// shipped catalog registers (`dian::generator`'s registrable lines), so
    /// its lines are not those printed. Reconciliation ties the two by
    /// supplier NIT + number (docs/REVIEW.md).
    pub fn electronic(&self) -> String {
        use crate::dian::generator::{GenOptions, build};
        let t = &self.truth;
        let mut spec = build(
            5,
            crate::dian::model::DocKind::Invoice,
            &GenOptions {
                registrable: true,
                min_lines: 1,
                max_lines: 2,
                ..GenOptions::default()
            },
        );
        spec.number = t.number.clone();
        spec.supplier.id = t.supplier_nit.clone();
        spec.supplier.dv = t.supplier_dv.clone();
        spec.issue_date = t.issue_date.clone();
        spec.issue_time = t.issue_time.clone();
        spec.due_date = Some(t.due_date.clone());
        spec.render().xml
    }

    /// Attach a (minimal) UBL invoice XML, as a PDF/A-3 graphic representation carries it.
    pub fn with_xml_attachment(mut self) -> Invoice {
        let t = &self.truth;
        self.xml = Some(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Invoice xmlns=\"urn:oasis:names:specification:ubl:schema:xsd:Invoice-2\" xmlns:cbc=\"urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2\"><cbc:ID>{}</cbc:ID><cbc:UUID schemeName=\"CUFE-SHA384\">{}</cbc:UUID><cbc:IssueDate>{}</cbc:IssueDate></Invoice>\n",
            t.number, t.cufe, t.issue_date
        ));
        self
    }

    /// The invoice as a text PDF.
    pub fn pdf(&self) -> Vec<u8> {
        let mut content = String::new();
        for op in &self.ops {
            match op {
                Op::Text {
                    x,
                    y,
                    size,
                    bold,
                    text,
                } => {
                    let _ = writeln!(
                        content,
                        "BT /{} {size} Tf {x:.2} {y:.2} Td ({}) Tj ET",
                        if *bold { "F2" } else { "F1" },
                        pdf_escape(text)
                    );
                }
                Op::Rule { x1, y1, x2, y2 } => {
                    let _ = writeln!(content, "0.6 w {x1:.2} {y1:.2} m {x2:.2} {y2:.2} l S");
                }
                Op::Qr { x, y, size, text } => {
                    if let Ok(code) = qrcode::QrCode::new(text.as_bytes()) {
                        let w = code.width();
                        let m = size / w as f32;
                        for row in 0..w {
                            for col in 0..w {
                                if code[(col, row)] == qrcode::Color::Dark {
                                    let px = x + col as f32 * m;
                                    let py = y + size - (row + 1) as f32 * m;
                                    let _ = writeln!(content, "{px:.3} {py:.3} {m:.3} {m:.3} re f");
                                }
                            }
                        }
                    }
                }
            }
        }
        let mut w = PdfWriter::default();
        let fonts = "<< /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >> /F2 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >> >>";
        w.finish(
            content.into_bytes(),
            &format!("<< /Font {fonts} >>"),
            None,
            self.xml.as_deref(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_consistent() {
        let a = invoice(7, true);
        let b = invoice(7, true);
        assert_eq!(a.truth, b.truth);
        let t = &a.truth;
        let sub: Decimal = t.lines.iter().map(|l| l.line_total).sum();
        assert_eq!(money2(sub), t.subtotal);
        assert_eq!(t.cufe.len(), 96);
        assert_eq!(
            crate::dian::nit::check_digit(&t.supplier_nit).map(|d| d.to_string()),
            Some(t.supplier_dv.clone())
        );
        let pdf = a.pdf();
        assert!(pdf.starts_with(b"%PDF-1.7"));
    }

    #[test]
    fn text_extraction_of_generated_text_matches_truth() {
        for seed in 0..40 {
            let inv = invoice(seed, seed % 2 == 0);
            let lines = crate::formats::text::lines_from_text(&inv.truth.text);
            let x = crate::formats::extract::from_lines(&lines, false);
            for f in [
                "number",
                "issue_date",
                "supplier_nit",
                "customer_id",
                "total",
                "subtotal",
                "tax_iva",
                "cufe",
            ] {
                assert_eq!(
                    x.field(f).map(|v| v.value.as_str()),
                    inv.truth.get(f),
                    "seed {seed} field {f}\n{}",
                    inv.truth.text
                );
            }
            let (findings, review) = crate::formats::extract::assess(&x, &Default::default());
            assert!(!review, "seed {seed}: {findings:?}\n{}", inv.truth.text);
        }
    }

    #[test]
    fn money_format() {
        assert_eq!(fmt_money(Decimal::new(123456789, 2), true), "1.234.567,89");
        assert_eq!(fmt_money(Decimal::from(1500), false), "1.500");
        assert_eq!(fmt_money(Decimal::from(15), true), "15,00");
    }
}
