//! The pure-Rust decoders (calamine for spreadsheets; image, tiff and the QR
//! search for pictures) run in the sandboxed worker, not in the daemon: a
//! 1.5 KB spreadsheet can make calamine ask for hundreds of GiB, and an
//! allocation failure aborts the whole process, which `catch_unwind` cannot
//! stop. The daemon starts its own binary as `pasarela decode …` through
//! `worker::run_in` (limits, `sandbox`, a scratch directory of its own); the
//! child reads its input from the scratch directory and prints JSON. Its
//! output is checked before use (sizes, positions), since a compromised child
//! is as hostile as the file it read.
//!
//! Wire format (internal, versioned only with the binary):
//! - `decode excel IN` → one JSON object [`WireBook`];
//! - `decode image IN --page N [--qr] [--deskew …]` → one JSON object
//!   [`WirePage`]; the prepared page is written to `page.pgm` in the scratch
//!   directory for Tesseract to read.
//! - `decode image IN --qr-only` → [`WirePage`] with only `qr` set.

use std::path::{Path, PathBuf};

use calamine::{Data, ExcelDateTime, ExcelDateTimeType, Range};
use serde::{Deserialize, Serialize};

use super::excel::DecodedBook;
use super::image::Preprocess;
use super::qr::DianQr;
use super::worker::{self, Limits, Scratch, WorkerError};
use crate::result::Finding;

/// Most cells (rows × columns of a sheet's used area) the daemon accepts
/// from the worker for one sheet: a real broker sheet has thousands of rows
/// of a few dozen columns.
pub const MAX_SHEET_CELLS: u64 = 2_000_000;
/// Most sheets taken from one workbook.
pub const MAX_SHEETS: usize = 64;
/// The file the prepared page is written to, in the child's scratch.
pub const PAGE_FILE: &str = "page.pgm";

/// One cell value on the wire.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "t", content = "v")]
pub enum WireValue {
    S(String),
    I(i64),
    F(f64),
    B(bool),
    /// Excel serial date/time (1900 system).
    D(f64),
    Iso(String),
    Dur(String),
    E,
}

/// One sheet: its used area and its non-empty cells.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireSheet {
    pub name: String,
    pub start: (u32, u32),
    pub end: (u32, u32),
    pub cells: Vec<(u32, u32, WireValue)>,
}

/// What `pasarela decode excel` prints.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct WireBook {
    pub sheets: Vec<WireSheet>,
    pub findings: Vec<Finding>,
    pub unreadable: bool,
}

/// What `pasarela decode image` prints.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct WirePage {
    /// Decoding failed: the reason (Spanish, for the finding).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default)]
    pub more: bool,
    /// Width × height of the decoded page.
    #[serde(default)]
    pub pixels: u64,
    #[serde(default)]
    pub skew_degrees: f32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qr: Option<DianQr>,
    #[serde(default)]
    pub prep_ms: u64,
    #[serde(default)]
    pub qr_ms: u64,
}

fn to_wire(d: &Data) -> Option<WireValue> {
    Some(match d {
        Data::Empty => return None,
        Data::String(s) => WireValue::S(s.clone()),
        Data::Int(i) => WireValue::I(*i),
        Data::Float(f) => WireValue::F(*f),
        Data::Bool(b) => WireValue::B(*b),
        Data::DateTime(dt) => WireValue::D(dt.as_f64()),
        Data::DateTimeIso(s) => WireValue::Iso(s.clone()),
        Data::DurationIso(s) => WireValue::Dur(s.clone()),
        Data::Error(_) => WireValue::E,
    })
}

fn from_wire(v: WireValue) -> Data {
    match v {
        WireValue::S(s) => Data::String(s),
        WireValue::I(i) => Data::Int(i),
        WireValue::F(f) => Data::Float(f),
        WireValue::B(b) => Data::Bool(b),
        WireValue::D(f) => {
            Data::DateTime(ExcelDateTime::new(f, ExcelDateTimeType::DateTime, false))
        }
        WireValue::Iso(s) => Data::DateTimeIso(s),
        WireValue::Dur(s) => Data::DurationIso(s),
        WireValue::E => Data::Error(calamine::CellErrorType::Value),
    }
}

fn area(start: (u32, u32), end: (u32, u32)) -> Option<u64> {
    if end.0 < start.0 || end.1 < start.1 {
        return None;
    }
    Some((u64::from(end.0 - start.0) + 1) * (u64::from(end.1 - start.1) + 1))
}

fn sheet_too_large(name: &str) -> Finding {
    Finding::notify(
        "PAS604",
        format!(
            "La hoja '{name}' no se procesó: su área usada supera {MAX_SHEET_CELLS} celdas (filas × columnas)."
        ),
    )
    .at(format!("hoja '{name}'"))
}

/// The child's side of the spreadsheet decoder: sheets to the wire, with
/// the used area of each bounded.
pub fn book_to_wire(book: DecodedBook) -> WireBook {
    let mut w = WireBook {
        findings: book.findings,
        unreadable: book.unreadable,
        ..WireBook::default()
    };
    for (name, range) in book.ranges.into_iter().take(MAX_SHEETS) {
        let (Some(start), Some(end)) = (range.start(), range.end()) else {
            w.sheets.push(WireSheet {
                name,
                start: (0, 0),
                end: (0, 0),
                cells: Vec::new(),
            });
            continue;
        };
        if area(start, end).is_none_or(|a| a > MAX_SHEET_CELLS) {
            w.findings.push(sheet_too_large(&name));
            continue;
        }
        let cells = range
            .used_cells()
            .filter_map(|(r, c, d)| to_wire(d).map(|v| (start.0 + r as u32, start.1 + c as u32, v)))
            .collect();
        w.sheets.push(WireSheet {
            name,
            start,
            end,
            cells,
        });
    }
    w
}

/// The daemon's side: rebuild the sheets, refusing what a well-behaved child
/// never sends (areas over the bound, cells outside their sheet).
pub fn book_from_wire(w: WireBook) -> Result<DecodedBook, String> {
    let mut book = DecodedBook {
        findings: w.findings,
        unreadable: w.unreadable,
        ranges: Vec::new(),
    };
    if w.sheets.len() > MAX_SHEETS {
        return Err("demasiadas hojas".into());
    }
    for s in w.sheets {
        if s.cells.is_empty() {
            book.ranges.push((s.name, Range::empty()));
            continue;
        }
        if area(s.start, s.end).is_none_or(|a| a > MAX_SHEET_CELLS) {
            return Err(format!("hoja '{}' fuera de límites", s.name));
        }
        let mut range = Range::new(s.start, s.end);
        for (r, c, v) in s.cells {
            if r < s.start.0 || r > s.end.0 || c < s.start.1 || c > s.end.1 {
                return Err(format!("celda fuera de la hoja '{}'", s.name));
            }
            range.set_value((r, c), from_wire(v));
        }
        book.ranges.push((s.name, range));
    }
    Ok(book)
}

/// Where this process's own binary is, to start `pasarela decode`: the
/// running executable when it is `pasarela`, else (tests and benchmarks run
/// from `target/*/deps/`) the `pasarela` beside or above it.
/// `PASARELA_WORKER_EXE` overrides both.
pub fn worker_exe() -> Result<PathBuf, WorkerError> {
    if let Some(p) = std::env::var_os("PASARELA_WORKER_EXE") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(|e| WorkerError::Spawn {
        program: "pasarela".into(),
        reason: e.to_string(),
    })?;
    if exe.file_stem().is_some_and(|s| s == "pasarela") {
        return Ok(exe);
    }
    let dir = exe.parent().unwrap_or(Path::new("."));
    for cand in [dir.join("pasarela"), dir.join("..").join("pasarela")] {
        if cand.is_file() {
            return Ok(cand);
        }
    }
    Err(WorkerError::Spawn {
        program: "pasarela decode".into(),
        reason: format!(
            "no se encontró el binario pasarela junto a {}",
            exe.display()
        ),
    })
}

async fn run_decoder(
    scratch: &Scratch,
    args: &[&str],
    limits: Limits,
) -> Result<Vec<u8>, WorkerError> {
    let exe = worker_exe()?;
    let exe = exe.to_string_lossy().into_owned();
    worker::run_in(scratch, &exe, args, None, limits, &[]).await
}

/// Decode a workbook in the worker. `bytes` are written to the scratch
/// directory first; `Err` means the child failed (crash, limit, bad output).
pub async fn excel(bytes: &[u8], limits: Limits) -> Result<DecodedBook, WorkerError> {
    let scratch = Scratch::new().map_err(|e| io_err("pasarela decode", e))?;
    scratch
        .write("in.xlsx", bytes)
        .map_err(|e| io_err("pasarela decode", e))?;
    let out = run_decoder(&scratch, &["decode", "excel", "in.xlsx"], limits).await?;
    let wire: WireBook = serde_json::from_slice(&out).map_err(|e| bad_output(e.to_string()))?;
    book_from_wire(wire).map_err(bad_output)
}

/// Options for one image page.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub index: usize,
    pub preprocess: Preprocess,
    pub qr: bool,
    pub qr_only: bool,
}

/// Decode and prepare page `req.index` of `input` (a file in `scratch`) in
/// the worker. Unless `qr_only`, the prepared page is left in `scratch` as
/// [`PAGE_FILE`].
pub async fn image_page(
    scratch: &Scratch,
    input: &str,
    req: PageRequest,
    limits: Limits,
) -> Result<WirePage, WorkerError> {
    let index = req.index.to_string();
    let mut args = vec!["decode", "image", input, "--page", &index];
    if req.qr_only {
        args.push("--qr-only");
    } else {
        if req.qr {
            args.push("--qr");
        }
        if req.preprocess.deskew {
            args.push("--deskew");
        }
        if req.preprocess.binarise {
            args.push("--binarise");
        }
        if req.preprocess.normalise_light {
            args.push("--normalise-light");
        }
    }
    let out = run_decoder(scratch, &args, limits).await?;
    serde_json::from_slice(&out).map_err(|e| bad_output(e.to_string()))
}

fn io_err(program: &str, e: std::io::Error) -> WorkerError {
    WorkerError::Io {
        program: program.into(),
        reason: e.to_string(),
    }
}

fn bad_output(reason: String) -> WorkerError {
    WorkerError::Io {
        program: "pasarela decode".into(),
        reason: format!("salida inválida: {reason}"),
    }
}

/// The child: `pasarela decode …`. Runs without an async runtime and prints
/// one JSON object on standard output.
pub fn child_main(cmd: crate::cli::DecodeCommand) -> crate::exit::Exit {
    use crate::cli::DecodeCommand;
    use crate::exit::Exit;
    let json = match cmd {
        DecodeCommand::Excel { input } => match std::fs::read(&input) {
            Ok(bytes) => {
                let book = super::excel::decode_sheets(&bytes);
                drop(bytes);
                serde_json::to_vec(&book_to_wire(book))
            }
            Err(e) => {
                eprintln!("cannot read {}: {e}", input.display());
                return Exit::NoInput;
            }
        },
        DecodeCommand::Image {
            input,
            page,
            qr,
            qr_only,
            deskew,
            binarise,
            normalise_light,
            preview,
        } => {
            let bytes = match std::fs::read(&input) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("cannot read {}: {e}", input.display());
                    return Exit::NoInput;
                }
            };
            let opts = Preprocess {
                deskew,
                binarise,
                normalise_light,
            };
            if preview {
                serde_json::to_vec(&preview_child(&bytes, page))
            } else {
                serde_json::to_vec(&image_child(&bytes, page, qr, qr_only, opts))
            }
        }
    };
    match json {
        Ok(j) => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            if out.write_all(&j).and_then(|_| out.flush()).is_err() {
                return Exit::IoErr;
            }
            Exit::Ok
        }
        Err(e) => {
            eprintln!("cannot encode the result: {e}");
            Exit::Software
        }
    }
}

/// The file `decode image --preview` writes in its working directory.
pub const PREVIEW_FILE: &str = "preview.png";
/// The widest preview, in pixels.
const PREVIEW_WIDTH: u32 = 1600;

fn preview_child(bytes: &[u8], index: usize) -> WirePage {
    let (page, more) = match super::image::decode_page(bytes, index) {
        Ok(p) => p,
        Err(e) => {
            return WirePage {
                error: Some(e.to_string()),
                ..WirePage::default()
            };
        }
    };
    let pixels = u64::from(page.width()) * u64::from(page.height());
    let page = if page.width() > PREVIEW_WIDTH {
        let h =
            (u64::from(page.height()) * u64::from(PREVIEW_WIDTH) / u64::from(page.width())).max(1);
        image::imageops::resize(
            &page,
            PREVIEW_WIDTH,
            h as u32,
            image::imageops::FilterType::Triangle,
        )
    } else {
        page
    };
    let mut png = Vec::new();
    let written = image::DynamicImage::ImageLuma8(page)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| e.to_string())
        .and_then(|_| std::fs::write(PREVIEW_FILE, &png).map_err(|e| e.to_string()));
    WirePage {
        error: written
            .err()
            .map(|e| format!("no se pudo escribir la vista previa: {e}")),
        more,
        pixels,
        ..WirePage::default()
    }
}

/// Decode page `index` (0-based) of an image in the worker into a PNG for
/// people to look at; `Ok(None)` when the image has no such page.
pub async fn image_preview(
    bytes: &[u8],
    index: usize,
    limits: Limits,
) -> Result<Option<Vec<u8>>, WorkerError> {
    let scratch = Scratch::new().map_err(|e| io_err("pasarela decode", e))?;
    scratch
        .write("in.img", bytes)
        .map_err(|e| io_err("pasarela decode", e))?;
    let page = index.to_string();
    let out = run_decoder(
        &scratch,
        &["decode", "image", "in.img", "--page", &page, "--preview"],
        limits,
    )
    .await?;
    let wire: WirePage = serde_json::from_slice(&out).map_err(|e| bad_output(e.to_string()))?;
    if let Some(e) = wire.error {
        // A page past the last is an error of the decoder, not of the file.
        if index > 0 {
            return Ok(None);
        }
        return Err(bad_output(e));
    }
    let png = std::fs::read(scratch.path().join(PREVIEW_FILE))
        .map_err(|e| io_err("pasarela decode", e))?;
    Ok(Some(png))
}

fn image_child(bytes: &[u8], index: usize, qr: bool, qr_only: bool, opts: Preprocess) -> WirePage {
    let (page, more) = match super::image::decode_page(bytes, index) {
        Ok(p) => p,
        Err(e) => {
            return WirePage {
                error: Some(e.to_string()),
                ..WirePage::default()
            };
        }
    };
    let pixels = u64::from(page.width()) * u64::from(page.height());
    if qr_only {
        return WirePage {
            qr: super::qr::decode(&page),
            more,
            pixels,
            ..WirePage::default()
        };
    }
    let (prepared, found, prep_ms, qr_ms) = super::image::prepare_for_ocr(&page, opts, qr);
    drop(page);
    let pgm = super::image::to_pgm(&prepared.image);
    if let Err(e) = std::fs::write(PAGE_FILE, pgm) {
        return WirePage {
            error: Some(format!("no se pudo escribir la página preparada: {e}")),
            ..WirePage::default()
        };
    }
    WirePage {
        error: None,
        more,
        pixels,
        skew_degrees: prepared.skew_degrees,
        qr: found,
        prep_ms,
        qr_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_refuses_cells_outside_their_sheet_and_huge_areas() {
        let w = WireBook {
            sheets: vec![WireSheet {
                name: "a".into(),
                start: (0, 0),
                end: (1, 1),
                cells: vec![(5, 0, WireValue::I(1))],
            }],
            ..WireBook::default()
        };
        assert!(book_from_wire(w).is_err());
        let w = WireBook {
            sheets: vec![WireSheet {
                name: "far".into(),
                start: (0, 0),
                end: (1_048_575, 16_383),
                cells: vec![
                    (0, 0, WireValue::I(1)),
                    (1_048_575, 16_383, WireValue::I(2)),
                ],
            }],
            ..WireBook::default()
        };
        assert!(book_from_wire(w).is_err());
    }

    #[test]
    fn wire_round_trip_keeps_positions_and_values() {
        let mut r = Range::new((2, 1), (3, 2));
        r.set_value((2, 1), Data::String("NIT".into()));
        r.set_value((3, 2), Data::Float(12.5));
        let book = DecodedBook {
            ranges: vec![("Hoja1".into(), r.clone())],
            ..DecodedBook::default()
        };
        let back = book_from_wire(book_to_wire(book)).unwrap();
        assert_eq!(back.ranges[0].1, r);
    }
}
