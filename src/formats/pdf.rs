//! PDFs through poppler-utils, each tool an isolated child working in the
//! job's scratch directory (see `worker`): `pdftotext -layout` for the text
//! layer (poppler handles CID/Identity-H fonts and falls back to glyph names
//! when ToUnicode is missing; what stays unreadable is caught by
//! `text::is_usable`), `pdftoppm` to render a page for OCR into the scratch
//! directory, `pdfdetach` for embedded files (PDF/A-3 invoices carry the UBL
//! XML as an attachment).
//!
//! No decoder chooses an output path: embedded files are saved one by one,
//! by index, under names Pasarela makes (`att-1`, `att-2`, …). poppler
//! before 24.03 writes `-saveall` attachments under the names the PDF gives,
//! `../../` included; the sandbox would stop that too (the child may write
//! only its scratch directory), but the names are never used for paths.

use super::worker::{self, Limits, Scratch, WorkerError};

/// Most pages read from one PDF (an invoice has a few; more is suspicious).
pub const MAX_PAGES: usize = 20;
/// Largest embedded file extracted.
pub const MAX_ATTACHMENT: u64 = 20 << 20;
/// Most embedded files looked at.
pub const MAX_ATTACHMENTS: usize = 16;
/// The input's name in the scratch directory.
pub const INPUT: &str = "in.pdf";
/// Where a rendered page goes (`pdftoppm -singlefile` adds `.pgm`).
pub const RENDERED: &str = "pdfpage";

fn input(pdf: &Scratch) -> String {
    pdf.path().join(INPUT).to_string_lossy().into_owned()
}

/// Per-page text of the text layer (form feeds split pages).
pub async fn text_pages(pdf: &Scratch, limits: Limits) -> Result<Vec<String>, WorkerError> {
    let p = input(pdf);
    let last = MAX_PAGES.to_string();
    let out = worker::run_in(
        pdf,
        "pdftotext",
        &["-layout", "-enc", "UTF-8", "-l", &last, &p, "-"],
        None,
        limits,
        &[],
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

/// `pdftoppm OPTIONS -f N -l N -singlefile in.pdf BASE` in the worker: one
/// page to `BASE.<ext>` in the scratch directory. `Ok(false)` when no image
/// came out (a page past the last renders nothing).
async fn pdftoppm(
    pdf: &Scratch,
    options: &[&str],
    page: usize,
    base: &str,
    ext: &str,
    limits: Limits,
) -> Result<bool, WorkerError> {
    let p = input(pdf);
    let n = page.to_string();
    let out = pdf.path().join(base).to_string_lossy().into_owned();
    let mut args = options.to_vec();
    args.extend(["-f", &n, "-l", &n, "-singlefile", &p, &out]);
    let _permit = worker::ocr_permit().await;
    let ran = worker::run_in(pdf, "pdftoppm", &args, None, limits, &[]).await;
    let made = pdf.path().join(format!("{base}.{ext}")).is_file();
    match ran {
        Ok(_) => Ok(made),
        Err(e) => Err(e),
    }
}

fn no_image() -> WorkerError {
    WorkerError::Io {
        program: "pdftoppm".into(),
        reason: "sin imagen".into(),
    }
}

/// Render page `page` (1-based) at `dpi` as a grayscale PGM in the scratch
/// directory; returns its file name there. The pixels stay on disk: a
/// decoder child prepares them and Tesseract reads them.
pub async fn render_page(
    pdf: &Scratch,
    page: usize,
    dpi: u32,
    limits: Limits,
) -> Result<String, WorkerError> {
    let r = dpi.to_string();
    if !pdftoppm(pdf, &["-r", &r, "-gray"], page, RENDERED, "pgm", limits).await? {
        return Err(no_image());
    }
    Ok(format!("{RENDERED}.pgm"))
}

/// Page `page` (1-based) of a PDF as a PNG for people to look at (the
/// desk's page view): rendered in the worker at most 1600 pixels on its long
/// side. `Ok(None)` when the PDF has no such page.
pub async fn preview_page(
    bytes: &[u8],
    page: usize,
    limits: Limits,
) -> Result<Option<Vec<u8>>, WorkerError> {
    let io = |e: std::io::Error| WorkerError::Io {
        program: "pdftoppm".into(),
        reason: e.to_string(),
    };
    let pdf = Scratch::new().map_err(io)?;
    pdf.write(INPUT, bytes).map_err(io)?;
    match pdftoppm(
        &pdf,
        &["-png", "-scale-to", "1600"],
        page,
        "preview",
        "png",
        limits,
    )
    .await
    {
        Ok(true) => std::fs::read(pdf.path().join("preview.png"))
            .map(Some)
            .map_err(io),
        // pdftoppm renders nothing (or fails) for a page past the last.
        Ok(false) | Err(_) if page > 1 => Ok(None),
        Ok(false) => Err(no_image()),
        Err(e) => Err(e),
    }
}

/// An embedded file.
#[derive(Debug, Clone)]
pub struct Attachment {
    /// The name the PDF gives it, for messages only (control characters
    /// removed, at most 100 characters); never a path.
    pub name: String,
    pub bytes: Vec<u8>,
}

/// The names `pdfdetach -list` prints ("N embedded files" then "i: name").
fn listed_names(list: &str) -> Vec<String> {
    list.lines()
        .skip(1)
        .filter_map(|l| l.split_once(": ").map(|(_, n)| n))
        .map(|n| n.chars().filter(|c| !c.is_control()).take(100).collect())
        .collect()
}

/// Embedded files whose content is XML (the invoice of a PDF/A-3).
pub async fn xml_attachments(
    pdf: &Scratch,
    limits: Limits,
) -> Result<Vec<Attachment>, WorkerError> {
    let p = input(pdf);
    let list = worker::run_in(pdf, "pdfdetach", &["-list", &p], None, limits, &[]).await?;
    let list = String::from_utf8_lossy(&list);
    let count = list
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0);
    let names = listed_names(&list);
    let mut out = Vec::new();
    for i in 1..=count.min(MAX_ATTACHMENTS) {
        let file = pdf.path().join(format!("att-{i}"));
        let dest = file.to_string_lossy().into_owned();
        let idx = i.to_string();
        if worker::run_in(
            pdf,
            "pdfdetach",
            &["-save", &idx, "-o", &dest, &p],
            None,
            limits,
            &[],
        )
        .await
        .is_err()
        {
            continue;
        }
        // symlink_metadata: a file, not whatever a link would point at.
        let Ok(meta) = std::fs::symlink_metadata(&file) else {
            continue;
        };
        if !meta.is_file() || meta.len() > MAX_ATTACHMENT {
            let _ = std::fs::remove_file(&file);
            continue;
        }
        let Ok(bytes) = std::fs::read(&file) else {
            continue;
        };
        let _ = std::fs::remove_file(&file);
        if super::detect::detect(&bytes) == crate::result::Format::Xml {
            out.push(Attachment {
                name: names
                    .get(i - 1)
                    .cloned()
                    .unwrap_or_else(|| format!("adjunto {i}")),
                bytes,
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_names_are_display_text_only() {
        let l = "2 embedded files\n1: ../../etc/evil\x1b[2J\n2: factura.xml\n";
        assert_eq!(listed_names(l), vec!["../../etc/evil[2J", "factura.xml"]);
    }
}
