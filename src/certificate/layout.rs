//! The certificate's page layout (A4, Spanish), drawn with krilla and exported
//! as PDF/A-3b; krilla refuses to export anything that does not conform.

use std::sync::OnceLock;

use chrono::{Datelike, Timelike};
use krilla::Document;
use krilla::SerializeSettings;
use krilla::configure::{Archival, ConfigurationBuilder};
use krilla::embed::{AssociationKind, EmbeddedFile, MimeType};
use krilla::geom::{PathBuilder, Point, Rect, Transform};
use krilla::metadata::{DateTime as PdfDateTime, Metadata};
use krilla::page::PageSettings;
use krilla::paint::{Fill, LineCap, Stroke};
use krilla::surface::Surface;
use krilla::text::{Font, TextDirection};

use super::{CertificateData, CertificateError, EMBEDDED_NAME, format_money, format_quantity};

/// The QR code's modules (width, colours row by row), error correction M.
/// One fixed mask (checkerboard) instead of scoring all eight: any mask is a
/// valid code, and the scoring was ~5 % of a registration's CPU time.
pub(super) fn qr_modules(payload: &[u8]) -> qrcode::types::QrResult<(usize, Vec<qrcode::Color>)> {
    use qrcode::canvas::{Canvas, MaskPattern};
    let ec_level = qrcode::EcLevel::M;
    let bits = qrcode::bits::encode_auto(payload, ec_level)?;
    let version = bits.version();
    let (data, ec) = qrcode::ec::construct_codewords(&bits.into_bytes(), version, ec_level)?;
    let mut canvas = Canvas::new(version, ec_level);
    canvas.draw_all_functional_patterns();
    canvas.draw_data(&data, &ec);
    canvas.apply_mask(MaskPattern::Checkerboard);
    Ok((version.width() as usize, canvas.into_colors()))
}

const REGULAR: &[u8] = include_bytes!("../../fixtures/fonts/DejaVuSans-Latin.ttf");
const BOLD: &[u8] = include_bytes!("../../fixtures/fonts/DejaVuSans-Bold-Latin.ttf");

const W: f32 = 595.28;
const H: f32 = 841.89;
const MARGIN: f32 = 48.0;
const BOTTOM: f32 = H - 60.0;

fn fonts() -> Result<&'static (Font, Font), CertificateError> {
    static FONTS: OnceLock<Option<(Font, Font)>> = OnceLock::new();
    FONTS
        .get_or_init(|| Some((Font::new(REGULAR.into(), 0)?, Font::new(BOLD.into(), 0)?)))
        .as_ref()
        .ok_or_else(|| CertificateError::Pdf("the embedded DejaVu fonts cannot be read".into()))
}

/// `text` shaped with `bold` or the regular face, as krilla's own
/// `draw_text` shapes it (rustybuzz, direction and script guessed from the
/// text, one glyph per cluster run), but with the faces parsed once, not on
/// every call, and the shapes of the strings every certificate repeats (its
/// labels) kept: shaping was a quarter of a certificate's rendering
/// (issue 21). `None` if a face cannot be read (then krilla shapes).
fn shaped(text: &str, bold: bool) -> Option<Vec<krilla::text::KrillaGlyph>> {
    use std::collections::HashMap;
    use std::sync::Mutex;
    type Shapes = Mutex<HashMap<(bool, String), Vec<krilla::text::KrillaGlyph>>>;
    /// Enough for the labels and the recurring values; cleared when full.
    const KEEP: usize = 512;
    static FACES: OnceLock<Option<(rustybuzz::Face<'static>, rustybuzz::Face<'static>)>> =
        OnceLock::new();
    static SHAPES: OnceLock<Shapes> = OnceLock::new();
    let (regular, bold_face) = FACES
        .get_or_init(|| {
            Some((
                rustybuzz::Face::from_slice(REGULAR, 0)?,
                rustybuzz::Face::from_slice(BOLD, 0)?,
            ))
        })
        .as_ref()?;
    let shapes = SHAPES.get_or_init(Default::default);
    let key = (bold, text.to_owned());
    if let Some(g) = shapes.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Some(g.clone());
    }
    let face = if bold { bold_face } else { regular };
    let mut buffer = rustybuzz::UnicodeBuffer::new();
    buffer.push_str(text);
    buffer.guess_segment_properties();
    let forward = matches!(
        buffer.direction(),
        rustybuzz::Direction::LeftToRight | rustybuzz::Direction::TopToBottom
    );
    let out = rustybuzz::shape(face, &[], buffer);
    let (infos, positions) = (out.glyph_infos(), out.glyph_positions());
    let em = face.units_per_em() as f32;
    let glyphs: Vec<_> = (0..infos.len())
        .map(|i| {
            let cluster = infos[i].cluster;
            // The text a glyph stands for runs to the next glyph of another
            // cluster (in shaping order), or to the end of the text.
            let next = if forward {
                infos[i + 1..].iter().find(|g| g.cluster != cluster)
            } else {
                infos[..i].iter().rev().find(|g| g.cluster != cluster)
            };
            let end = next.map_or(text.len(), |g| g.cluster as usize);
            let p = positions[i];
            krilla::text::KrillaGlyph::new(
                krilla::text::GlyphId::new(infos[i].glyph_id),
                p.x_advance as f32 / em,
                p.x_offset as f32 / em,
                p.y_offset as f32 / em,
                p.y_advance as f32 / em,
                cluster as usize..end,
                None,
            )
        })
        .collect();
    let mut kept = shapes.lock().unwrap_or_else(|e| e.into_inner());
    if kept.len() >= KEEP {
        kept.clear();
    }
    kept.insert(key, glyphs.clone());
    Some(glyphs)
}

/// `text` with every character the font lacks replaced by `?`: PDF/A forbids
/// the `.notdef` glyph, and a supplier's name in a script DejaVu does not
/// cover must not make the certificate impossible to issue. (The embedded
/// canonical data keeps the original text.)
fn drawable(text: &str, bold: bool) -> String {
    use skrifa::MetadataProvider;
    static CHARMAPS: OnceLock<Option<(skrifa::FontRef<'static>, skrifa::FontRef<'static>)>> =
        OnceLock::new();
    let Some((regular, bold_font)) = CHARMAPS.get_or_init(|| {
        Some((
            skrifa::FontRef::new(REGULAR).ok()?,
            skrifa::FontRef::new(BOLD).ok()?,
        ))
    }) else {
        return text.to_string();
    };
    let charmap = if bold { bold_font } else { regular }.charmap();
    text.chars()
        .map(|c| {
            if c.is_control() || charmap.map(c).is_none() {
                '?'
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
pub(super) fn drawable_for_test(text: &str, bold: bool) -> String {
    drawable(text, bold)
}

/// Approximate advance width of DejaVu Sans (average glyph ≈ 0.55 em); used
/// only for wrapping and right alignment.
fn width(text: &str, size: f32) -> f32 {
    text.chars().count() as f32 * size * 0.6
}

/// Split `text` into lines no wider than `max` points.
fn wrap(text: &str, size: f32, max: f32) -> Vec<String> {
    let max_chars = ((max / (size * 0.64)) as usize).max(8);
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in text.split_whitespace() {
        let extra = if cur.is_empty() { 0 } else { 1 };
        if cur.chars().count() + extra + word.chars().count() > max_chars && !cur.is_empty() {
            lines.push(std::mem::take(&mut cur));
        }
        // A single over-long word (a CUFE) is cut into pieces.
        let mut w = word.to_string();
        while w.chars().count() > max_chars {
            let head: String = w.chars().take(max_chars).collect();
            let tail: String = w.chars().skip(max_chars).collect();
            if !cur.is_empty() {
                lines.push(std::mem::take(&mut cur));
            }
            lines.push(head);
            w = tail;
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(&w);
    }
    if !cur.is_empty() || lines.is_empty() {
        lines.push(cur);
    }
    lines
}

enum Op {
    Text {
        x: f32,
        y: f32,
        size: f32,
        bold: bool,
        text: String,
    },
    Rect {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
    },
    /// Horizontal runs `[column, row, length]` of dark cells in grid units
    /// (`cell` points each) from (`x`, `y`), stroked as one path.
    Grid {
        x: f32,
        y: f32,
        cell: f32,
        runs: Vec<[f32; 3]>,
    },
}

/// Collects drawing operations page by page; drawn with krilla at the end.
#[derive(Default)]
struct Writer {
    pages: Vec<Vec<Op>>,
}

impl Writer {
    fn new_page(&mut self) {
        self.pages.push(Vec::new());
    }
    fn push(&mut self, op: Op) {
        if self.pages.is_empty() {
            self.new_page();
        }
        if let Some(p) = self.pages.last_mut() {
            p.push(op);
        }
    }
    fn text(&mut self, x: f32, y: f32, size: f32, bold: bool, text: &str) {
        self.push(Op::Text {
            x,
            y,
            size,
            bold,
            text: drawable(text, bold),
        });
    }
    fn right(&mut self, x_right: f32, y: f32, size: f32, bold: bool, text: &str) {
        self.text(x_right - width(text, size), y, size, bold, text);
    }
    fn rule(&mut self, y: f32) {
        self.rect(MARGIN, y, W - 2.0 * MARGIN, 0.6);
    }
    fn rect(&mut self, x: f32, y: f32, w: f32, h: f32) {
        self.push(Op::Rect { x, y, w, h });
    }
}

fn draw(surface: &mut Surface<'_>, ops: &[Op], regular: &Font, bold: &Font) {
    surface.set_fill(Some(Fill::default()));
    for op in ops {
        match op {
            Op::Text {
                x,
                y,
                size,
                bold: b,
                text,
            } => {
                let font = if *b { bold.clone() } else { regular.clone() };
                match shaped(text, *b) {
                    Some(glyphs) => surface.draw_glyphs(
                        Point::from_xy(*x, *y),
                        &glyphs,
                        font,
                        text,
                        *size,
                        false,
                    ),
                    None => surface.draw_text(
                        Point::from_xy(*x, *y),
                        font,
                        *size,
                        text,
                        false,
                        TextDirection::Auto,
                    ),
                }
            }
            Op::Rect { x, y, w, h } => fill_rects(surface, &[[*x, *y, *w, *h]]),
            Op::Grid { x, y, cell, runs } => {
                // Each run is a stroke one cell wide along the middle of its
                // row (butt caps: exactly the cells' area). Two points per
                // run instead of a filled rectangle's four halve the content
                // stream, and with it the time krilla spends compressing it.
                let half = *cell * 0.5;
                surface.push_transform(&Transform::from_row(*cell, 0.0, 0.0, *cell, *x, *y + half));
                let mut pb = PathBuilder::new();
                for [col, row, len] in runs {
                    pb.move_to(*col, *row);
                    pb.line_to(*col + *len, *row);
                }
                if let Some(p) = pb.finish() {
                    surface.set_fill(None);
                    surface.set_stroke(Some(Stroke {
                        width: 1.0,
                        line_cap: LineCap::Butt,
                        ..Stroke::default()
                    }));
                    surface.draw_path(&p);
                    surface.set_stroke(None);
                    surface.set_fill(Some(Fill::default()));
                }
                surface.pop();
            }
        }
    }
}

fn fill_rects(surface: &mut Surface<'_>, rects: &[[f32; 4]]) {
    let mut pb = PathBuilder::new();
    for [x, y, w, h] in rects {
        if let Some(r) = Rect::from_xywh(*x, *y, *w, *h) {
            pb.push_rect(r);
        }
    }
    if let Some(p) = pb.finish() {
        surface.draw_path(&p);
    }
}

fn pdf_date(t: &chrono::DateTime<chrono::FixedOffset>) -> PdfDateTime {
    let off = t.offset().local_minus_utc();
    PdfDateTime::new(t.year().clamp(0, 9999) as u16)
        .month(t.month() as u8)
        .day(t.day() as u8)
        .hour(t.hour() as u8)
        .minute(t.minute() as u8)
        .second(t.second() as u8)
        .utc_offset_hour((off / 3600) as i8)
        .utc_offset_minute(((off.abs() % 3600) / 60) as u8)
}

/// Draw the certificate page. Long on purpose: the page is laid out top to
/// bottom in one place (each block's y position follows the previous one),
/// so reading it is reading the certificate.
pub(super) fn pdf(
    data: &CertificateData,
    digest: &str,
    canonical: Vec<u8>,
) -> Result<Vec<u8>, CertificateError> {
    let (regular, bold) = fonts()?.clone();
    let configuration = ConfigurationBuilder::new()
        .with_archival_validator(Archival::A3_B)
        .finish()
        .map_err(|e| CertificateError::Pdf(format!("PDF/A-3b configuration: {e:?}")))?;
    let settings = SerializeSettings {
        configuration,
        ..Default::default()
    };
    let mut doc = Document::new_with(settings);
    let created = pdf_date(&data.registered_at);
    doc.set_metadata(
        Metadata::new()
            .title(format!("Certificado de registro {}", data.number))
            .description(format!(
                "Registro de la factura {} (CUFE {})",
                data.invoice.number, data.invoice.cufe_or_cude
            ))
            .creator("Pasarela".into())
            .producer("Pasarela".into())
            .authors(vec![data.issuer.clone()])
            .language("es-CO".into())
            .document_id(data.number.clone())
            .creation_date(created),
    );
    let embedded = EmbeddedFile {
        path: EMBEDDED_NAME.into(),
        mime_type: MimeType::new("application/json"),
        description: Some(
            "Datos del certificado (forma canónica; su SHA-256 es el código de verificación)"
                .into(),
        ),
        association_kind: AssociationKind::Data,
        data: canonical.into(),
        modification_date: Some(created),
        // Uncompressed so that `verify` can read it without a PDF parser.
        compress: Some(false),
        location: None,
    };
    if doc.embed_file(embedded).is_none() {
        return Err(CertificateError::Pdf(
            "embedding the certificate data failed".into(),
        ));
    }

    let qr = qr_modules(super::qr_payload(data, digest).as_bytes())
        .map_err(|e| CertificateError::Pdf(format!("QR code: {e}")))?;

    let page_settings =
        PageSettings::from_wh(W, H).ok_or_else(|| CertificateError::Pdf("bad page size".into()))?;
    let mut w = Writer::default();
    w.new_page();
    let mut y = MARGIN + 10.0;
    w.text(MARGIN, y, 10.0, true, &data.issuer);
    y += 22.0;
    let title = match data.adjustment.as_ref().map(|a| a.effect) {
        None => "CERTIFICADO DE REGISTRO DE FACTURA",
        Some(super::Effect::Adjust) => "CERTIFICADO DE REGISTRO DE FACTURA (AJUSTADO POR NOTA)",
        Some(super::Effect::Cancel) => "CONSTANCIA DE ANULACIÓN DE REGISTRO DE FACTURA",
    };
    w.text(MARGIN, y, 15.0, true, title);
    y += 18.0;
    w.text(
        MARGIN,
        y,
        9.0,
        false,
        "Registro en bolsa de productos agropecuarios",
    );
    y += 12.0;
    w.text(
        MARGIN,
        y,
        9.0,
        false,
        "(art. 1.2.4.6.10 del Decreto 1625 de 2016)",
    );
    y += 26.0;
    w.text(
        MARGIN,
        y,
        12.0,
        true,
        &format!("Certificado No. {}", data.number),
    );
    y += 16.0;
    w.text(
        MARGIN,
        y,
        9.5,
        false,
        &format!(
            "Fecha y hora de registro: {}",
            data.registered_at.format("%Y-%m-%d %H:%M:%S (UTC%:z)")
        ),
    );
    y += 13.0;
    w.text(
        MARGIN,
        y,
        9.5,
        false,
        &format!("Presentada por: {}", data.account),
    );

    // QR code at the top right (vector modules).
    let modules = qr.0;
    let qr_size = 100.0;
    let cell = qr_size / (modules as f32 + 8.0);
    let (qx, qy) = (W - MARGIN - qr_size, MARGIN - 6.0);
    // One path of horizontal runs of dark modules: drawing every module as
    // its own path made a 220 KB content stream that took most of the
    // rendering time to write and compress; runs as strokes halve it again.
    let mut runs = Vec::new();
    for (row, colors) in qr.1.chunks(modules.max(1)).enumerate() {
        let mut col = 0;
        while col < colors.len() {
            if colors[col] != qrcode::Color::Dark {
                col += 1;
                continue;
            }
            let start = col;
            while col < colors.len() && colors[col] == qrcode::Color::Dark {
                col += 1;
            }
            runs.push([start as f32 + 4.0, row as f32 + 4.0, (col - start) as f32]);
        }
    }
    // In module units under a scale: short integer coordinates in the page content.
    w.push(Op::Grid {
        x: qx,
        y: qy,
        cell,
        runs,
    });

    y += 22.0;
    w.rule(y);
    y += 18.0;
    w.text(MARGIN, y, 11.0, true, "Factura");
    y += 15.0;
    let inv = &data.invoice;
    let doc_type = match inv.document_type.as_str() {
        "Invoice" => "Factura electrónica de venta",
        "CreditNote" => "Nota crédito",
        "DebitNote" => "Nota débito",
        other => other,
    };
    w.text(
        MARGIN,
        y,
        9.5,
        false,
        &format!("Número: {}    Tipo: {}", inv.number, doc_type),
    );
    y += 13.0;
    let mut dates = format!("Fecha de emisión: {}", inv.issue_date.format("%Y-%m-%d"));
    if let Some(d) = inv.due_date {
        dates.push_str(&format!("    Vencimiento: {}", d.format("%Y-%m-%d")));
    }
    w.text(MARGIN, y, 9.5, false, &dates);
    y += 13.0;
    let label = if inv.document_type == "Invoice" {
        "CUFE"
    } else {
        "CUFE/CUDE"
    };
    w.text(MARGIN, y, 9.5, false, &format!("{label}:"));
    for l in wrap(&inv.cufe_or_cude, 8.0, W - 2.0 * MARGIN - 60.0) {
        w.text(MARGIN + 60.0, y, 8.0, false, &l);
        y += 11.0;
    }

    if let Some(a) = &data.adjustment {
        y = adjustment_section(&mut w, y, a);
    }

    y += 10.0;
    w.text(MARGIN, y, 11.0, true, "Partes");
    y += 15.0;
    for (role, p) in [
        ("Vendedor (emisor)", &data.supplier),
        ("Comprador (adquirente)", &data.customer),
    ] {
        w.text(MARGIN, y, 9.5, true, &format!("{role}:"));
        for l in wrap(
            &format!("{} — {}", p.name, p.identification()),
            9.5,
            W - 2.0 * MARGIN - 140.0,
        ) {
            w.text(MARGIN + 140.0, y, 9.5, false, &l);
            y += 13.0;
        }
    }

    y += 10.0;
    w.text(MARGIN, y, 11.0, true, "Productos registrados");
    y += 15.0;
    let cols = [
        MARGIN,
        MARGIN + 50.0,
        MARGIN + 250.0,
        MARGIN + 330.0,
        MARGIN + 420.0,
    ];
    let header = |w: &mut Writer, y: f32| {
        w.text(cols[0], y, 8.5, true, "Código");
        w.text(cols[1], y, 8.5, true, "Producto (subyacente)");
        w.right(cols[3] - 10.0, y, 8.5, true, "Cantidad");
        w.right(cols[4] - 10.0, y, 8.5, true, "Valor");
        w.text(cols[4], y, 8.5, true, "Elegibilidad");
    };
    header(&mut w, y);
    y += 4.0;
    w.rule(y);
    y += 12.0;
    for line in &data.lines {
        let names = wrap(&line.catalog_name, 8.5, cols[2] - cols[1] - 10.0);
        let elig = wrap(&line.eligibility, 8.0, W - MARGIN - cols[4]);
        let rows = names.len().max(elig.len()) as f32;
        if y + rows * 11.0 > BOTTOM {
            w.new_page();
            y = MARGIN + 10.0;
            w.text(
                MARGIN,
                y,
                9.0,
                false,
                &format!("Certificado No. {} (continuación)", data.number),
            );
            y += 20.0;
            header(&mut w, y);
            y += 16.0;
        }
        w.text(cols[0], y, 8.5, false, &line.catalog_code);
        w.right(
            cols[3] - 10.0,
            y,
            8.5,
            false,
            &format!("{} {}", format_quantity(line.quantity), line.unit.as_str()),
        );
        w.right(cols[4] - 10.0, y, 8.5, false, &format_money(line.value));
        for (i, n) in names.iter().enumerate() {
            w.text(cols[1], y + i as f32 * 11.0, 8.5, false, n);
        }
        for (i, e) in elig.iter().enumerate() {
            w.text(cols[4], y + i as f32 * 11.0, 8.0, false, e);
        }
        y += rows * 11.0 + 3.0;
    }
    if data.lines.is_empty() {
        w.text(
            cols[1],
            y,
            8.5,
            false,
            "Ninguno: el registro de esta factura fue anulado.",
        );
        y += 14.0;
    }
    w.rule(y);
    y += 14.0;
    w.text(cols[1], y, 9.5, true, "Valor total registrado");
    w.right(
        cols[4] - 10.0,
        y,
        9.5,
        true,
        &format_money(data.total_value),
    );

    if y + 120.0 > BOTTOM {
        w.new_page();
        y = MARGIN;
    }
    y += 26.0;
    w.text(MARGIN, y, 11.0, true, "Comisión de registro");
    y += 15.0;
    w.text(
        MARGIN,
        y,
        9.5,
        false,
        &format!(
            "Total: {}    Regla: {} versión {}",
            format_money(data.commission.total),
            data.commission.rule_id,
            data.commission.rule_version
        ),
    );

    y += 28.0;
    w.rule(y);
    y += 16.0;
    w.text(
        MARGIN,
        y,
        9.5,
        true,
        "Código de verificación (SHA-256 de los datos del certificado):",
    );
    y += 14.0;
    w.text(MARGIN, y, 9.0, false, &super::verification_code(digest));
    y += 14.0;
    w.text(
        MARGIN,
        y,
        8.0,
        false,
        "Verifique este certificado con `pasarela verify-certificate` o ante la bolsa: el código debe coincidir con el registrado.",
    );
    for ops in &w.pages {
        let mut page = doc.start_page_with(page_settings.clone());
        let mut surface = page.surface();
        draw(&mut surface, ops, &regular, &bold);
        surface.finish();
        page.finish();
    }
    doc.finish()
        .map_err(|e| CertificateError::Pdf(format!("{e:?}")))
}

/// The "Ajuste del registro" block of a reissued certificate: which note,
/// why, which certificate it replaces, and the figures before and after.
fn adjustment_section(w: &mut Writer, mut y: f32, a: &super::Adjustment) -> f32 {
    y += 10.0;
    w.text(MARGIN, y, 11.0, true, "Ajuste del registro");
    y += 15.0;
    let note = if a.note_type == "CreditNote" {
        "Nota crédito"
    } else {
        "Nota débito"
    };
    let lines = [
        format!(
            "Reemplaza al certificado No. {} (registro original: certificado No. {}).",
            a.replaces, a.original
        ),
        format!(
            "{note} No. {} del {}: concepto {} ({}).",
            a.note_number,
            a.note_issue_date.format("%Y-%m-%d"),
            a.concept,
            a.concept_name
        ),
        format!(
            "Valor registrado antes de la nota: {}    Comisión antes de la nota: {}",
            format_money(a.value_before),
            format_money(a.commission_before)
        ),
    ];
    for text in &lines {
        for l in wrap(text, 9.5, W - 2.0 * MARGIN) {
            w.text(MARGIN, y, 9.5, false, &l);
            y += 13.0;
        }
    }
    w.text(MARGIN, y, 9.5, false, "CUDE de la nota:");
    for l in wrap(&a.note_cude, 8.0, W - 2.0 * MARGIN - 90.0) {
        w.text(MARGIN + 90.0, y, 8.0, false, &l);
        y += 11.0;
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One page with `text` drawn by krilla's own shaping or by ours.
    fn page(text: &str, bold: bool, ours: bool) -> Vec<u8> {
        let (regular, bold_font) = fonts().unwrap();
        let font = if bold { bold_font } else { regular }.clone();
        let mut doc = Document::new();
        let mut page = doc.start_page_with(PageSettings::from_wh(W, H).unwrap());
        let mut surface = page.surface();
        let at = Point::from_xy(10.0, 20.0);
        if ours {
            let glyphs = shaped(text, bold).unwrap();
            surface.draw_glyphs(at, &glyphs, font, text, 11.0, false);
        } else {
            surface.draw_text(at, font, 11.0, text, false, TextDirection::Auto);
        }
        surface.finish();
        page.finish();
        doc.finish().unwrap()
    }

    /// The cached faces and shapes give byte-for-byte the PDF krilla's own
    /// `draw_text` gives (a re-rendered certificate must hash the same),
    /// for labels, accents, kerning pairs, digits and replacement marks, the
    /// second time (from the cache) as the first.
    #[test]
    fn our_shaping_is_krillas() {
        for text in [
            "CERTIFICADO DE REGISTRO",
            "Comisión de registro: $ 1.234.567,89",
            "AVENIDA Ñandú — José Pérez & Cía. S.A.S. «VAT» 'x' \"y\"",
            "To Wa AV Ty 11 fi fl ffi",
            "cufe 8bd7f8a6c3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6",
            "?? ? ?",
            "",
        ] {
            for bold in [false, true] {
                let krilla = page(text, bold, false);
                assert_eq!(page(text, bold, true), krilla, "{text:?} bold={bold}");
                assert_eq!(page(text, bold, true), krilla, "{text:?} from the cache");
            }
        }
    }
}
