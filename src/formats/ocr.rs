//! OCR with Tesseract (Spanish model, page segmentation mode 6) run as an
//! isolated child; word-level confidences come from its TSV output, because
//! page-level means hide the few doubtful digits that matter
//! (../shared/stack.md).

use image::GrayImage;

use super::text::{Line, Word};
use super::worker::{self, Limits, WorkerError};

/// Tesseract settings.
#[derive(Debug, Clone)]
pub struct OcrSettings {
    /// Tesseract binary (default `tesseract`).
    pub program: String,
    /// Language models, `+`-separated (default `spa`).
    pub lang: String,
    /// Page segmentation mode (default 6: one uniform block; beats auto on invoices).
    pub psm: u8,
    pub limits: Limits,
}

impl Default for OcrSettings {
    fn default() -> Self {
        OcrSettings {
            program: "tesseract".into(),
            lang: "spa".into(),
            psm: 6,
            limits: Limits::default(),
        }
    }
}

/// OCR one grayscale page (already preprocessed) at `dpi`: our own page
/// (benchmarks), written to a scratch directory for Tesseract.
pub async fn ocr_page(
    img: &GrayImage,
    dpi: u32,
    settings: &OcrSettings,
) -> Result<Vec<Line>, WorkerError> {
    let io = |e: std::io::Error| WorkerError::Io {
        program: settings.program.clone(),
        reason: e.to_string(),
    };
    let scratch = worker::Scratch::new().map_err(io)?;
    scratch
        .write("page.pgm", &super::image::to_pgm(img))
        .map_err(io)?;
    ocr_file(&scratch, "page.pgm", dpi, settings).await
}

/// OCR a prepared page that a decoder child left in `scratch` as `file`
/// (Tesseract reads it there; the daemon never holds the pixels).
pub async fn ocr_file(
    scratch: &worker::Scratch,
    file: &str,
    dpi: u32,
    settings: &OcrSettings,
) -> Result<Vec<Line>, WorkerError> {
    let psm = settings.psm.to_string();
    let dpi = dpi.to_string();
    let _permit = worker::ocr_permit().await;
    let out = worker::run_in(
        scratch,
        &settings.program,
        &[
            file,
            "stdout",
            "-l",
            &settings.lang,
            "--psm",
            &psm,
            "--dpi",
            &dpi,
            "tsv",
        ],
        None,
        settings.limits,
        &[],
    )
    .await?;
    Ok(parse_tsv(&String::from_utf8_lossy(&out)))
}

/// Parse Tesseract's TSV (level, page_num, block_num, par_num, line_num,
/// word_num, left, top, width, height, conf, text) into lines of words.
pub fn parse_tsv(tsv: &str) -> Vec<Line> {
    let mut lines: Vec<Line> = Vec::new();
    let mut current: Option<(u32, u32, u32, u32)> = None;
    for row in tsv.lines().skip(1) {
        let cols: Vec<&str> = row.splitn(12, '\t').collect();
        if cols.len() < 12 || cols[0] != "5" {
            continue;
        }
        let text = cols[11].trim();
        if text.is_empty() {
            continue;
        }
        let num = |i: usize| cols[i].parse::<u32>().unwrap_or(0);
        let key = (num(1), num(2), num(3), num(4));
        let conf = cols[10].parse::<f32>().unwrap_or(0.0).clamp(0.0, 100.0);
        let word = Word {
            text: text.to_string(),
            conf: conf / 100.0,
        };
        if current != Some(key) {
            lines.push(Line::default());
            current = Some(key);
        }
        if let Some(l) = lines.last_mut() {
            l.words.push(word);
        }
    }
    lines
}

/// Is Tesseract with the Spanish model installed?
pub async fn available(settings: &OcrSettings) -> bool {
    match worker::run(&settings.program, &["--list-langs"], None, settings.limits).await {
        Ok(out) => String::from_utf8_lossy(&out)
            .lines()
            .any(|l| settings.lang.split('+').any(|x| x == l.trim())),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsv_groups_words_into_lines() {
        let tsv = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n\
1\t1\t0\t0\t0\t0\t0\t0\t100\t100\t-1\t\n\
5\t1\t1\t1\t1\t1\t0\t0\t10\t10\t96.5\tFactura\n\
5\t1\t1\t1\t1\t2\t0\t0\t10\t10\t91\tNo.\n\
5\t1\t1\t1\t2\t1\t0\t0\t10\t10\t40\tSETP990000123\n";
        let lines = parse_tsv(tsv);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].text(), "Factura No.");
        assert!((lines[1].words[0].conf - 0.40).abs() < 1e-6);
    }
}
