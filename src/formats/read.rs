//! Reading a PDF or an image end to end: text layer or OCR per page, the DIAN
//! QR, embedded XML, field extraction and the review decision. This is what
//! the `pdf-extract` and `image-ocr` steps and the accuracy benchmark run.
//!
//! A file that cannot be decoded is a finding, never an `Err`; `Err` is kept
//! for environment problems (a tool not installed), which are transient.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::extract::{self, Extraction, ReviewPolicy, Source};
use super::image::{self as img, Preprocess};
use super::ocr::{self, OcrSettings};
use super::pdf::{self, Attachment};
use super::qr::{self, DianQr};
use super::text::{self, Line};
use super::worker::{Limits, Scratch, WorkerError};
use crate::result::Finding;

/// Settings for reading PDFs and images (`rules/formats.toml`, all optional).
#[derive(Debug, Clone)]
pub struct FormatsSettings {
    pub ocr: OcrSettings,
    /// Limits for poppler children.
    pub pdf_limits: Limits,
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
        problems: &mut crate::config::Problems,
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
    pub fn load(file: &Path) -> Result<FormatsSettings, Vec<crate::config::ConfigError>> {
        if !file.is_file() {
            return Ok(FormatsSettings::default());
        }
        let mut problems = crate::config::Problems::default();
        let text = std::fs::read_to_string(file).map_err(|e| {
            vec![crate::config::ConfigError::new(
                file,
                "",
                format!("cannot read file: {e}"),
            )]
        })?;
        let value: toml::Value = match toml::from_str(&text) {
            Ok(v) => v,
            Err(e) => {
                return Err(vec![crate::config::ConfigError::new(
                    file,
                    "",
                    format!("not valid TOML: {e}"),
                )]);
            }
        };
        let raw: Option<RawFormatsSettings> =
            crate::config::section(value, file, "", &mut problems);
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

fn worker_finding(code: &str, what: &str, e: &WorkerError) -> Finding {
    let msg = match e {
        WorkerError::Timeout { secs, .. } => format!(
            "{what}: el procesamiento superó el tiempo máximo ({secs} s); el archivo puede estar dañado o ser hostil."
        ),
        WorkerError::Signal { .. } => format!(
            "{what}: el decodificador terminó anormalmente (archivo dañado o demasiado grande)."
        ),
        WorkerError::Failed { .. } | WorkerError::Io { .. } => {
            format!("{what}: el archivo está dañado o no se puede leer.")
        }
        WorkerError::Spawn { .. } => format!("{what}: herramienta no disponible."),
    };
    Finding::reject(code, msg)
}

fn env_error(e: &WorkerError) -> Option<ReadError> {
    e.is_environment()
        .then(|| ReadError::Environment(e.to_string()))
}

/// Read a PDF.
pub async fn read_pdf(bytes: &[u8], s: &FormatsSettings) -> Result<Reading, ReadError> {
    let mut r = Reading::default();
    let scratch =
        Scratch::new().map_err(|e| ReadError::Environment(format!("directorio temporal: {e}")))?;
    scratch
        .write("in.pdf", bytes)
        .map_err(|e| ReadError::Environment(format!("directorio temporal: {e}")))?;

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
            r.findings
                .push(worker_finding("PAS410", "PDF ilegible", &e));
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
        let page = match pdf::render_page(&scratch, n, s.dpi, s.pdf_limits).await {
            Ok(p) => p,
            Err(e) => {
                if let Some(env) = env_error(&e) {
                    return Err(env);
                }
                r.findings.push(
                    worker_finding("PAS411", &format!("Página {n} del PDF"), &e)
                        .at(format!("página {n}")),
                );
                continue;
            }
        };
        any_ocr = true;
        let (report, lines, qr) = ocr_one(page, n, s).await?;
        let mut report = report;
        report.millis = t0.elapsed().as_millis() as u64;
        if r.qr.is_none() {
            r.qr = qr;
        }
        r.lines.extend(lines);
        r.pages.push(report);
    }
    let mut x = extract::from_lines(&r.lines, any_ocr);
    // A text PDF whose printed CUFE is missing or malformed: look for the QR.
    let cufe_ok = x.cufe.as_ref().is_some_and(|c| c.value.len() == 96);
    if s.qr
        && r.qr.is_none()
        && !cufe_ok
        && !r.pages.is_empty()
        && let Ok(page) = pdf::render_page(&scratch, 1, 150, s.pdf_limits).await
    {
        r.qr = tokio::task::spawn_blocking(move || qr::decode(&page))
            .await
            .ok()
            .flatten();
        if let Some(p) = r.pages.first_mut() {
            p.qr = r.qr.is_some();
        }
    }
    finish(&mut r, &mut x, s);
    r.fields = x;
    Ok(r)
}

/// Read an image file (PNG, JPEG, TIFF with several pages).
pub async fn read_image(bytes: &[u8], s: &FormatsSettings) -> Result<Reading, ReadError> {
    let mut r = Reading::default();
    let owned = bytes.to_vec();
    let decoded = tokio::task::spawn_blocking(move || img::decode_pages(&owned)).await;
    let pages = match decoded {
        Ok(Ok(p)) if !p.is_empty() => p,
        Ok(Ok(_)) => {
            r.findings
                .push(Finding::reject("PAS420", "La imagen no contiene páginas."));
            return Ok(r);
        }
        Ok(Err(e)) => {
            r.findings
                .push(Finding::reject("PAS420", format!("Imagen ilegible: {e}.")));
            return Ok(r);
        }
        Err(_) => {
            r.findings.push(Finding::reject(
                "PAS420",
                "Imagen ilegible: el decodificador falló.",
            ));
            return Ok(r);
        }
    };
    for (i, page) in pages.into_iter().enumerate() {
        let t0 = Instant::now();
        let (mut report, lines, qr) = ocr_one(page, i + 1, s).await?;
        report.millis = t0.elapsed().as_millis() as u64;
        if r.qr.is_none() {
            r.qr = qr;
        }
        r.lines.extend(lines);
        r.pages.push(report);
    }
    let mut x = extract::from_lines(&r.lines, true);
    finish(&mut r, &mut x, s);
    r.fields = x;
    Ok(r)
}

/// Preprocess, decode the QR and OCR one page.
async fn ocr_one(
    page: image::GrayImage,
    n: usize,
    s: &FormatsSettings,
) -> Result<(PageReport, Vec<Line>, Option<DianQr>), ReadError> {
    let opts = s.preprocess;
    let want_qr = s.qr;
    let prepared = tokio::task::spawn_blocking(move || {
        let t0 = Instant::now();
        let mut p = img::preprocess(&page, opts);
        let prep_ms = t0.elapsed().as_millis() as u64;
        let t1 = Instant::now();
        let mut q = None;
        if want_qr {
            let found = qr::search(&page, &p).map(|f| (f.qr, f.bbox, f.margin));
            if let Some((found, (x0, y0, x1, y1), m)) = found {
                let (w, h) = p.image.dimensions();
                for y in y0.saturating_sub(m)..(y1 + m).min(h) {
                    for x in x0.saturating_sub(m)..(x1 + m).min(w) {
                        p.image.put_pixel(x, y, image::Luma([255]));
                    }
                }
                q = Some(found);
            }
        }
        (p, q, prep_ms, t1.elapsed().as_millis() as u64)
    })
    .await;
    let mut report = PageReport {
        page: n,
        source: Source::Ocr,
        skew_degrees: None,
        qr: false,
        words: 0,
        mean_confidence: 0.0,
        millis: 0,
        prep_ms: 0,
        qr_ms: 0,
        ocr_ms: 0,
    };
    let Ok((prepared, qr, prep_ms, qr_ms)) = prepared else {
        return Ok((report, Vec::new(), None));
    };
    report.prep_ms = prep_ms;
    report.qr_ms = qr_ms;
    let t_ocr = Instant::now();
    report.skew_degrees = Some(prepared.skew_degrees);
    report.qr = qr.is_some();
    // Scans below ~200 dpi are common; tell Tesseract the resolution we assume.
    let lines = match ocr::ocr_page(&prepared.image, s.dpi, &s.ocr).await {
        Ok(l) => l,
        Err(e) => {
            if let Some(env) = env_error(&e) {
                return Err(env);
            }
            return Ok((report, Vec::new(), qr));
        }
    };
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
    Ok((report, lines, qr))
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
