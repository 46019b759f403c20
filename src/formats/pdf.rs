//! PDFs through poppler-utils, each tool an isolated child (see `worker`):
//! `pdftotext -layout` for the text layer (poppler handles CID/Identity-H
//! fonts and falls back to glyph names when ToUnicode is missing; what stays
//! unreadable is caught by `text::is_usable`), `pdftoppm` to render a page at
//! 300 dpi for OCR, `pdfdetach` for embedded files (PDF/A-3 invoices carry
//! the UBL XML as an attachment).

use image::GrayImage;

use super::worker::{self, Limits, Scratch, WorkerError};

/// Most pages read from one PDF (an invoice has a few; more is suspicious).
pub const MAX_PAGES: usize = 20;
/// Largest embedded file extracted.
pub const MAX_ATTACHMENT: u64 = 20 << 20;

/// Per-page text of the text layer (form feeds split pages).
pub async fn text_pages(pdf: &Scratch, limits: Limits) -> Result<Vec<String>, WorkerError> {
    let path = pdf.path().join("in.pdf");
    let p = path.to_string_lossy();
    let last = MAX_PAGES.to_string();
    let out = worker::run(
        "pdftotext",
        &["-layout", "-enc", "UTF-8", "-l", &last, &p, "-"],
        None,
        limits,
    )
    .await?;
    let text = String::from_utf8_lossy(&out);
    let mut pages: Vec<String> = text.split('\u{0C}').map(str::to_string).collect();
    // pdftotext ends the last page with a form feed too.
    if pages.len() > 1 && pages.last().is_some_and(|s| s.trim().is_empty()) {
        pages.pop();
    }
    Ok(pages)
}

/// Render page `page` (1-based) at `dpi` as grayscale.
pub async fn render_page(
    pdf: &Scratch,
    page: usize,
    dpi: u32,
    limits: Limits,
) -> Result<GrayImage, WorkerError> {
    let path = pdf.path().join("in.pdf");
    let p = path.to_string_lossy();
    let n = page.to_string();
    let r = dpi.to_string();
    let _permit = worker::ocr_permit().await;
    let out = worker::run(
        "pdftoppm",
        &["-r", &r, "-gray", "-f", &n, "-l", &n, "-singlefile", &p],
        None,
        limits,
    )
    .await?;
    drop(_permit);
    let decode_err = |e: String| WorkerError::Io {
        program: "pdftoppm".into(),
        reason: e,
    };
    let pages = super::image::decode_pages(&out).map_err(|e| decode_err(e.to_string()))?;
    pages
        .into_iter()
        .next()
        .ok_or_else(|| decode_err("sin imagen".into()))
}

/// An embedded file.
#[derive(Debug, Clone)]
pub struct Attachment {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Embedded files whose content is XML (the invoice of a PDF/A-3).
pub async fn xml_attachments(
    pdf: &Scratch,
    limits: Limits,
) -> Result<Vec<Attachment>, WorkerError> {
    let path = pdf.path().join("in.pdf");
    let p = path.to_string_lossy();
    let list = worker::run("pdfdetach", &["-list", &p], None, limits).await?;
    let list = String::from_utf8_lossy(&list);
    // "N embedded files" then "1: name" lines.
    let count = list
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0);
    if count == 0 {
        return Ok(Vec::new());
    }
    let dir = pdf.path().join("att");
    std::fs::create_dir_all(&dir).map_err(|e| WorkerError::Io {
        program: "pdfdetach".into(),
        reason: e.to_string(),
    })?;
    let d = dir.to_string_lossy();
    worker::run("pdfdetach", &["-saveall", "-o", &d, &p], None, limits).await?;
    let mut out = Vec::new();
    let entries = std::fs::read_dir(&dir).map_err(|e| WorkerError::Io {
        program: "pdfdetach".into(),
        reason: e.to_string(),
    })?;
    for e in entries.flatten() {
        let Ok(meta) = e.metadata() else { continue };
        if !meta.is_file() || meta.len() > MAX_ATTACHMENT {
            continue;
        }
        let Ok(bytes) = std::fs::read(e.path()) else {
            continue;
        };
        if super::detect::detect(&bytes) == crate::result::Format::Xml {
            out.push(Attachment {
                name: e.file_name().to_string_lossy().into_owned(),
                bytes,
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}
