//! Reading a PDF or an image end to end: text layer or OCR per page, the DIAN
//! QR, embedded XML, field extraction and the review decision. This is what
//! the `pdf-extract` and `image-ocr` steps and the accuracy benchmark run.
//!
//! A file that cannot be decoded is a finding, never an `Err`; `Err` is kept
//! for environment problems (a tool not installed), which are transient.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::decode::{self, PAGE_FILE, PageRequest, WirePage};
use super::extract::{self, Extraction, ReviewPolicy, Source};
use super::image::Preprocess;
use super::ocr::{self, OcrSettings};
use super::pdf::{self, Attachment};
use super::qr::DianQr;
use super::text::{self, Line};
use super::worker::{self, Limits, Scratch, WorkerError};
use crate::result::Finding;

/// Settings for reading PDFs and images (`rules/formats.toml`, all optional).
#[derive(Debug, Clone)]
pub struct FormatsSettings {
    pub ocr: OcrSettings,
    /// Limits for poppler children.
    pub pdf_limits: Limits,
    /// Limits for `pasarela decode` children (images, spreadsheets).
    pub decode_limits: Limits,
    /// Rendering resolution for pages without text (default 300).
    pub dpi: u32,
    pub preprocess: Preprocess,
    /// Look for the DIAN QR (default true).
    pub qr: bool,
    pub review: ReviewPolicy,
}

impl Default for FormatsSettings {
    fn default() -> Self {
        FormatsSettings {
            ocr: OcrSettings::default(),
            pdf_limits: Limits {
                wall: Duration::from_secs(30),
                ..Limits::default()
            },
            decode_limits: Limits {
                wall: Duration::from_secs(60),
                output_bytes: 48 << 20,
                ..Limits::default()
            },
            dpi: 300,
            preprocess: Preprocess::default(),
            qr: true,
            review: ReviewPolicy::default(),
        }
    }
}

/// Raw shape of `rules/formats.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawFormatsSettings {
    /// Confidence (0–1) below which a key field sends the document to review. Default 0.90.
    pub review_threshold: Option<f32>,
    /// Fields that must be found (default number, issue_date, supplier_nit, total).
    pub required_fields: Option<Vec<String>>,
    /// Rendering resolution for OCR. Default 300.
    pub dpi: Option<u32>,
    /// Tesseract language(s). Default `spa`.
    pub ocr_lang: Option<String>,
    /// Tesseract page segmentation mode. Default 6.
    pub ocr_psm: Option<u8>,
    /// Wall-time limit for one OCR child. Default 60.
    pub ocr_timeout_secs: Option<u64>,
    /// Address-space limit for decoding children. Default 1536.
    pub worker_memory_mb: Option<u64>,
    /// Wall-time limit for one poppler child. Default 30.
    pub pdf_timeout_secs: Option<u64>,
    /// Preprocessing switches. Default true.
    pub deskew: Option<bool>,
    pub binarise: Option<bool>,
    pub normalise_light: Option<bool>,
    /// Decode the DIAN QR. Default true.
    pub qr: Option<bool>,
}

const FIELD_NAMES: &[&str] = &[
    "number",
    "prefix",
    "issue_date",
    "issue_time",
    "due_date",
    "supplier_name",
    "supplier_nit",
    "supplier_dv",
    "customer_name",
    "customer_id",
    "customer_dv",
    "subtotal",
    "tax_iva",
    "tax_other",
    "total",
    "cufe",
];

impl FormatsSettings {
    /// Compile the raw settings; every problem goes to `problems`.
    pub fn compile(
        raw: RawFormatsSettings,
        file: &Path,
        problems: &mut crate::problems::Problems,
    ) -> FormatsSettings {
        let mut s = FormatsSettings::default();
        if let Some(t) = raw.review_threshold {
            if (0.0..=1.0).contains(&t) {
                s.review.threshold = t;
            } else {
                problems.error(file, "review_threshold", "must be between 0 and 1");
            }
        }
        if let Some(r) = raw.required_fields {
            for f in &r {
                if !FIELD_NAMES.contains(&f.as_str()) {
                    problems.error(
                        file,
                        "required_fields",
                        format!("unknown field '{f}' (one of: {})", FIELD_NAMES.join(", ")),
                    );
                }
            }
            s.review.required = r;
        }
        if let Some(d) = raw.dpi {
            if (72..=600).contains(&d) {
                s.dpi = d;
            } else {
                problems.error(file, "dpi", "must be between 72 and 600");
            }
        }
        if let Some(l) = raw.ocr_lang {
            s.ocr.lang = l;
        }
        if let Some(p) = raw.ocr_psm {
            if p <= 13 {
                s.ocr.psm = p;
            } else {
                problems.error(file, "ocr_psm", "must be between 0 and 13");
            }
        }
        if let Some(t) = raw.ocr_timeout_secs {
            s.ocr.limits.wall = Duration::from_secs(t.max(1));
            s.ocr.limits.cpu_secs = t.max(1) * 2;
        }
        if let Some(t) = raw.pdf_timeout_secs {
            s.pdf_limits.wall = Duration::from_secs(t.max(1));
        }
        if let Some(m) = raw.worker_memory_mb {
            if m < 128 {
                problems.error(file, "worker_memory_mb", "must be at least 128");
            }
            s.ocr.limits.memory_bytes = m << 20;
            s.pdf_limits.memory_bytes = m << 20;
            s.decode_limits.memory_bytes = m << 20;
        }
        if let Some(b) = raw.deskew {
            s.preprocess.deskew = b;
        }
        if let Some(b) = raw.binarise {
            s.preprocess.binarise = b;
        }
        if let Some(b) = raw.normalise_light {
            s.preprocess.normalise_light = b;
        }
        if let Some(b) = raw.qr {
            s.qr = b;
        }
        s
    }

    /// Read `file` when it exists, else the defaults.
    pub fn load(file: &Path) -> Result<FormatsSettings, Vec<crate::problems::ConfigError>> {
        if !file.is_file() {
            return Ok(FormatsSettings::default());
        }
        let mut problems = crate::problems::Problems::default();
        let text = std::fs::read_to_string(file).map_err(|e| {
            vec![crate::problems::ConfigError::new(
                file,
                "",
                format!("cannot read file: {e}"),
            )]
        })?;
        let value: toml::Value = match toml::from_str(&text) {
            Ok(v) => v,
            Err(e) => {
                return Err(vec![crate::problems::ConfigError::new(
                    file,
                    "",
                    format!("not valid TOML: {e}"),
                )]);
            }
        };
        let raw: Option<RawFormatsSettings> =
            crate::problems::section(value, file, "", &mut problems);
        let s = raw.map(|r| FormatsSettings::compile(r, file, &mut problems));
        match s {
            Some(s) if !problems.has_errors() => Ok(s),
            _ => Err(problems.items),
        }
    }
}

/// What happened on one page.
#[derive(Debug, Clone, Serialize)]
pub struct PageReport {
    pub page: usize,
    pub source: Source,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skew_degrees: Option<f32>,
    pub qr: bool,
    pub words: usize,
    /// Mean word confidence (0–1).
    pub mean_confidence: f32,
    /// Wall time for the page, and its parts for OCR'd pages.
    pub millis: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub prep_ms: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub qr_ms: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub ocr_ms: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// An embedded invoice XML, exposed for the DIAN validation step.
#[derive(Debug, Clone, Serialize)]
pub struct EmbeddedXml {
    pub name: String,
    pub size: usize,
    pub sha256: String,
    /// The document itself (UTF-8; lossy if it is not).
    pub xml: String,
}

/// Everything read from one file.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Reading {
    pub pages: Vec<PageReport>,
    #[serde(skip)]
    pub lines: Vec<Line>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qr: Option<DianQr>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub embedded_xml: Vec<EmbeddedXml>,
    pub fields: Extraction,
    #[serde(skip)]
    pub findings: Vec<Finding>,
    /// True when the document must go to manual review.
    pub review: bool,
}

impl Reading {
    /// The text that was read, one line per row (for CER and debugging).
    pub fn text(&self) -> String {
        text::plain(&self.lines)
    }
}

/// Environment problems only (a decoding failure of the file is a finding).
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Environment(String),
}

/// A new scratch directory holding the input as `name`.
fn scratch_with(name: &str, bytes: &[u8]) -> Result<Scratch, ReadError> {
    let env = |e: std::io::Error| ReadError::Environment(format!("directorio temporal: {e}"));
    let scratch = Scratch::new().map_err(env)?;
    scratch.write(name, bytes).map_err(env)?;
    Ok(scratch)
}

fn env_error(e: &WorkerError) -> Option<ReadError> {
    e.is_environment()
        .then(|| ReadError::Environment(e.to_string()))
}

/// Read a PDF.
pub async fn read_pdf(bytes: &[u8], s: &FormatsSettings) -> Result<Reading, ReadError> {
    let mut r = Reading::default();
    let scratch = scratch_with(pdf::INPUT, bytes)?;

    match pdf::xml_attachments(&scratch, s.pdf_limits).await {
        Ok(atts) => {
            for Attachment { name, bytes } in atts {
                r.findings.push(Finding::notify(
                    "PAS540",
                    format!("El PDF contiene la factura XML adjunta '{name}' (PDF/A-3); se valida como XML."),
                ));
                r.embedded_xml.push(EmbeddedXml {
                    size: bytes.len(),
                    sha256: crate::fsutil::sha256_hex(&bytes),
                    xml: String::from_utf8_lossy(&bytes).into_owned(),
                    name,
                });
            }
        }
        Err(e) => {
            if let Some(env) = env_error(&e) {
                return Err(env);
            }
            // pdfdetach failing alone is not decisive; pdftotext decides.
        }
    }

    let started = Instant::now();
    let pages = match pdf::text_pages(&scratch, s.pdf_limits).await {
        Ok(p) => p,
        Err(e) => {
            if let Some(env) = env_error(&e) {
                return Err(env);
            }
            r.findings.push(e.finding("PAS410", "PDF ilegible"));
            return Ok(r);
        }
    };
    let text_ms = started.elapsed().as_millis() as u64 / pages.len().max(1) as u64;
    let mut any_ocr = false;
    for (i, page_text) in pages.iter().enumerate() {
        let n = i + 1;
        if text::is_usable(page_text) {
            let lines = text::lines_from_text(page_text);
            r.pages.push(PageReport {
                page: n,
                source: Source::Text,
                skew_degrees: None,
                qr: false,
                words: lines.iter().map(|l| l.words.len()).sum(),
                mean_confidence: 1.0,
                millis: text_ms,
                prep_ms: 0,
                qr_ms: 0,
                ocr_ms: 0,
            });
            r.lines.extend(lines);
            continue;
        }
        let t0 = Instant::now();
        let rendered = match pdf::render_page(&scratch, n, s.dpi, s.pdf_limits).await {
            Ok(p) => p,
            Err(e) => {
                if let Some(env) = env_error(&e) {
                    return Err(env);
                }
                r.findings.push(
                    e.finding("PAS411", &format!("Página {n} del PDF"))
                        .at(format!("página {n}")),
                );
                continue;
            }
        };
        any_ocr = true;
        let what = format!("Página {n} del PDF");
        match read_page(&scratch, &rendered, 0, n, s, "PAS411", &what).await? {
            Ok(page) => r.add_page(page, t0),
            Err(f) => r.findings.push(f.at(format!("página {n}"))),
        }
    }
    let mut x = extract::from_lines(&r.lines, any_ocr);
    // A text PDF whose printed CUFE is missing or malformed: look for the QR.
    let cufe_ok = x.cufe.as_ref().is_some_and(|c| c.value.len() == 96);
    if s.qr
        && r.qr.is_none()
        && !cufe_ok
        && !r.pages.is_empty()
        && let Ok(rendered) = pdf::render_page(&scratch, 1, 150, s.pdf_limits).await
    {
        r.qr = prepare(&scratch, &rendered, 0, s, true)
            .await
            .ok()
            .and_then(|wp| wp.qr);
        if let Some(p) = r.pages.first_mut() {
            p.qr = r.qr.is_some();
        }
    }
    finish(&mut r, &mut x, s);
    r.fields = x;
    Ok(r)
}

/// Most pixels read from one image file, all pages together: eleven A4 pages
/// at 300 dpi. A page flood stops there (finding PAS421, manual review)
/// instead of costing minutes of OCR per page.
pub const MAX_IMAGE_PIXELS: u64 = 100_000_000;

/// Read an image file (PNG, JPEG, TIFF with several pages): each page is
/// decoded and prepared by a sandboxed decoder child, one page at a time,
/// then OCR'd.
pub async fn read_image(bytes: &[u8], s: &FormatsSettings) -> Result<Reading, ReadError> {
    const INPUT: &str = "in.img";
    let mut r = Reading::default();
    let scratch = scratch_with(INPUT, bytes)?;
    let mut pixels = 0u64;
    let mut truncated = false;
    for index in 0..super::image::MAX_PAGES {
        if pixels >= MAX_IMAGE_PIXELS {
            r.findings.push(Finding::notify(
                "PAS421",
                format!(
                    "La imagen tiene más páginas de las que se leen ({index} páginas, {} megapíxeles); las demás no se procesaron.",
                    pixels / 1_000_000
                ),
            ));
            truncated = true;
            break;
        }
        let n = index + 1;
        let t0 = Instant::now();
        let page =
            match read_page(&scratch, INPUT, index, n, s, "PAS420", "Imagen ilegible").await? {
                Ok(page) => page,
                Err(f) => {
                    r.findings.push(if index == 0 {
                        f
                    } else {
                        f.at(format!("página {n}"))
                    });
                    break;
                }
            };
        pixels = pixels.saturating_add(page.pixels.max(1));
        let more = page.more;
        r.add_page(page, t0);
        if !more {
            break;
        }
    }
    if r.pages.is_empty() {
        if r.findings.is_empty() {
            r.findings
                .push(Finding::reject("PAS420", "La imagen no contiene páginas."));
        }
        return Ok(r);
    }
    let mut x = extract::from_lines(&r.lines, true);
    finish(&mut r, &mut x, s);
    r.fields = x;
    // Unread pages may hold what the read ones lack: a person decides.
    r.review |= truncated;
    Ok(r)
}

/// Decode and prepare page `index` of `input` (in `scratch`) in a decoder
/// child, which leaves the prepared page as [`PAGE_FILE`] (or only reads the
/// QR when `qr_only`).
async fn prepare(
    scratch: &Scratch,
    input: &str,
    index: usize,
    s: &FormatsSettings,
    qr_only: bool,
) -> Result<WirePage, WorkerError> {
    let req = PageRequest {
        index,
        preprocess: s.preprocess,
        qr: s.qr,
        qr_only,
    };
    // Preparing a page costs about a core-second on a large scan: it shares
    // the OCR slots.
    let _permit = worker::ocr_permit().await;
    decode::image_page(scratch, input, req, s.decode_limits).await
}

/// One page read: its report and lines, and what the decoder child said of
/// the rest of the file.
struct PageRead {
    report: PageReport,
    lines: Vec<Line>,
    qr: Option<DianQr>,
    more: bool,
    pixels: u64,
}

impl Reading {
    fn add_page(&mut self, page: PageRead, started: Instant) {
        let mut report = page.report;
        report.millis = started.elapsed().as_millis() as u64;
        if self.qr.is_none() {
            self.qr = page.qr;
        }
        self.lines.extend(page.lines);
        self.pages.push(report);
    }
}

/// Decode and prepare page `index` of `input` in a decoder child, then OCR
/// it. `Ok(Err(finding))` when the file's page cannot be read (`code`,
/// `what: why`); `Err` only for environment problems.
async fn read_page(
    scratch: &Scratch,
    input: &str,
    index: usize,
    n: usize,
    s: &FormatsSettings,
    code: &str,
    what: &str,
) -> Result<Result<PageRead, Finding>, ReadError> {
    let wp = match prepare(scratch, input, index, s, false).await {
        Ok(wp) => wp,
        Err(e) => {
            if let Some(env) = env_error(&e) {
                return Err(env);
            }
            return Ok(Err(e.finding(code, what)));
        }
    };
    if let Some(e) = &wp.error {
        return Ok(Err(Finding::reject(code, format!("{what}: {e}."))));
    }
    let mut report = PageReport {
        page: n,
        source: Source::Ocr,
        skew_degrees: Some(wp.skew_degrees),
        qr: wp.qr.is_some(),
        words: 0,
        mean_confidence: 0.0,
        millis: 0,
        prep_ms: wp.prep_ms,
        qr_ms: wp.qr_ms,
        ocr_ms: 0,
    };
    let t_ocr = Instant::now();
    // Scans below ~200 dpi are common; tell Tesseract the resolution we assume.
    let lines = match ocr::ocr_file(scratch, PAGE_FILE, s.dpi, &s.ocr).await {
        Ok(l) => l,
        Err(e) => {
            if let Some(env) = env_error(&e) {
                return Err(env);
            }
            Vec::new()
        }
    };
    let _ = std::fs::remove_file(scratch.path().join(PAGE_FILE));
    report.ocr_ms = t_ocr.elapsed().as_millis() as u64;
    let words: Vec<f32> = lines
        .iter()
        .flat_map(|l| l.words.iter().map(|w| w.conf))
        .collect();
    report.words = words.len();
    report.mean_confidence = if words.is_empty() {
        0.0
    } else {
        words.iter().sum::<f32>() / words.len() as f32
    };
    Ok(Ok(PageRead {
        report,
        lines,
        qr: wp.qr,
        more: wp.more,
        pixels: wp.pixels,
    }))
}

fn finish(r: &mut Reading, x: &mut Extraction, s: &FormatsSettings) {
    if let Some(q) = &r.qr {
        extract::apply_qr(x, q, &mut r.findings);
    }
    // An OCR'd CUFE is 96 characters of noise-prone hex with no way to verify
    // it without the issuer's key: keep it only when it is fully legible,
    // else report it as missing (the QR or the XML carries it reliably).
    // Measured: 96-character hex read by Tesseract with high word confidence
    // was still wrong in ~3 % of scans, so an OCR'd CUFE is never kept.
    let drop_cufe = x.cufe.as_ref().is_some_and(|c| c.source == Source::Ocr);
    if drop_cufe {
        x.cufe = None;
        r.findings.push(
            Finding::notify(
                "PAS514",
                "El CUFE impreso no se pudo leer con certeza; se omite. Adjunte el XML o una imagen con el código QR legible.",
            )
            .at("cufe"),
        );
    }
    if r.lines.is_empty() && r.qr.is_none() {
        r.findings.push(Finding::notify(
            "PAS430",
            "No se pudo leer texto en el documento.",
        ));
    }
    let (f, review) = extract::assess(x, &s.review);
    r.findings.extend(f);
    r.review = review;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_settings_file_is_valid() {
        let s = FormatsSettings::load(Path::new("rules/formats.toml")).unwrap();
        assert_eq!(s.review.threshold, 0.90);
        assert_eq!(s.dpi, 300);
    }

    #[test]
    fn settings_report_every_problem() {
        let dir = std::env::temp_dir().join(format!("pasarela-fs-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("formats.toml");
        std::fs::write(
            &f,
            "review_threshold = 2.0\nrequired_fields = [\"total\", \"nope\"]\nbogus = 1\n",
        )
        .unwrap();
        let e = FormatsSettings::load(&f).unwrap_err();
        assert!(e.len() >= 2, "{e:?}");
        std::fs::write(&f, "review_threshold = 0.8\ndpi = 200\n").unwrap();
        let s = FormatsSettings::load(&f).unwrap();
        assert_eq!(s.review.threshold, 0.8);
        assert_eq!(s.dpi, 200);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
