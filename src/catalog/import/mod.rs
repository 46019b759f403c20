//! `catalog import`: stream a CSV or Excel catalog through a declared column
//! mapping into a new immutable generation (external merge sort), then swap
//! it in atomically.
//!
//! Phases: (1) parse rows and fill a sort buffer; a second thread sorts each
//! full buffer and writes it as a run file while parsing continues (two
//! buffers live at most: memory stays bounded by the budget); (2) k-way merge
//! of the runs with the live generation, classifying every code as
//! inserted / updated / unchanged / kept, writing the new data + index and
//! appending field-level changes to `history.log`; (3) fsync, rename CURRENT,
//! delete the old generation. Malformed rows are reported with their line
//! number and never stop the import.

mod rows;
mod runs;

pub use rows::parse_description;
use rows::*;
use runs::*;

use std::borrow::Cow;
use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde::Serialize;

use super::config::{CatalogConfig, Layout};
use super::model::{ProcessingState, Product};
use super::store::{self, Writer};

/// Why an import could not run at all (row problems are not errors: they are
/// counted and reported in the summary).
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{0}")]
    Layout(String),
    #[error("another catalog import is running (lock {0})")]
    Locked(PathBuf),
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> CatalogError + '_ {
    move |source| CatalogError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A row that was not imported.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Reject {
    pub line: u64,
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Layout name in catalog.toml (default: its `default_layout`).
    pub layout: Option<String>,
    /// Bytes for one sort buffer; two may be live. Default 256 MiB.
    pub sort_buffer_bytes: usize,
    /// Draw a progress bar on stderr (only when stderr is a terminal).
    pub progress: bool,
    /// How many rejected rows to list in detail (the rest are counted).
    pub max_listed_rejects: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            layout: None,
            sort_buffer_bytes: 256 << 20,
            progress: false,
            max_listed_rejects: 1000,
        }
    }
}

/// What an import did. Printed by the CLI and appended to `imports.log`.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ImportSummary {
    pub file: String,
    pub layout: String,
    pub generation: String,
    pub rows_read: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Codes of the previous catalog absent from this file (kept as they were).
    pub kept: u64,
    pub rejected: u64,
    /// The first `max_listed_rejects` rejected rows, by line.
    pub rejects: Vec<Reject>,
    pub total_products: u64,
    pub seconds: f64,
    pub rows_per_second: f64,
    pub finished_at: String,
}

/// Holds the import lock (flock) for the lifetime of the value.
struct Lock(#[allow(dead_code)] File);

fn lock(dir: &Path) -> Result<Lock, CatalogError> {
    let path = dir.join("LOCK");
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_at(&path))?;
    // SAFETY: flock on a valid, owned descriptor; released when `f` closes.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        return Err(CatalogError::Locked(path));
    }
    Ok(Lock(f))
}

struct Phase1 {
    runs: Vec<PathBuf>,
    rows_read: u64,
    rejects: Vec<Reject>,
    rejected: u64,
}

/// Phase 1: parse rows into sort buffers spilled as sorted runs by a second
/// thread. Slightly over 150 lines: the row loop is written once for CSV
/// and once for Excel input, both feeding the same closure.
fn phase1(
    file: &Path,
    layout: &Layout,
    opts: &ImportOptions,
    tmp: &Path,
    bar: &indicatif::ProgressBar,
) -> Result<Phase1, CatalogError> {
    let mut spiller = Spiller::new(tmp.to_path_buf());
    let mut buf = RunBuf::with_capacity(opts.sort_buffer_bytes.min(1 << 31));
    let mut scratch = Vec::new();
    let mut out = Phase1 {
        runs: Vec::new(),
        rows_read: 0,
        rejects: Vec::new(),
        rejected: 0,
    };
    let reject = |out: &mut Phase1, line: u64, reason: String| {
        out.rejected += 1;
        if out.rejects.len() < opts.max_listed_rejects {
            out.rejects.push(Reject { line, reason });
        }
    };
    let budget = opts.sort_buffer_bytes;
    let mut handle_row = |out: &mut Phase1,
                          line: u64,
                          fields: &[&[u8]],
                          cols: &Columns,
                          buf: &mut RunBuf,
                          spiller: &mut Spiller|
     -> Result<(), CatalogError> {
        out.rows_read += 1;
        match map_row(fields, cols, layout).and_then(|p| buf.push(line, &p, &mut scratch)) {
            Ok(()) => {}
            Err(reason) => reject(out, line, reason),
        }
        if buf.arena.len() >= budget {
            let full = std::mem::replace(buf, RunBuf::with_capacity(budget.min(1 << 31)));
            spiller.spill(full).map_err(io_at(tmp))?;
        }
        Ok(())
    };

    if layout.format == "excel" {
        use calamine::{Data, Reader};
        let mut wb = calamine::open_workbook_auto(file).map_err(|e| {
            CatalogError::Layout(format!(
                "{}: cannot open as a workbook: {e}",
                file.display()
            ))
        })?;
        let sheet = match &layout.sheet {
            Some(s) => s.clone(),
            None => wb
                .sheet_names()
                .first()
                .cloned()
                .ok_or_else(|| CatalogError::Layout("the workbook has no sheets".into()))?,
        };
        let range = wb
            .worksheet_range(&sheet)
            .map_err(|e| CatalogError::Layout(format!("sheet '{sheet}': {e}")))?;
        let cell = |d: &Data| -> String {
            match d {
                Data::Empty => String::new(),
                Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
                other => other.to_string(),
            }
        };
        let start_row = range.start().map(|(r, _)| r as u64).unwrap_or(0);
        let mut rows = range.rows();
        let header: Vec<String> = rows
            .next()
            .map(|r| r.iter().map(cell).collect())
            .unwrap_or_default();
        let hv: Vec<Cow<str>> = header.iter().map(|s| Cow::Borrowed(s.as_str())).collect();
        let cols = Columns::resolve(layout, &hv).map_err(CatalogError::Layout)?;
        for (i, r) in rows.enumerate() {
            let strings: Vec<String> = r.iter().map(cell).collect();
            if strings.iter().all(|s| s.trim().is_empty()) {
                continue;
            }
            let fields: Vec<&[u8]> = strings.iter().map(|s| s.as_bytes()).collect();
            handle_row(
                &mut out,
                start_row + i as u64 + 2,
                &fields,
                &cols,
                &mut buf,
                &mut spiller,
            )?;
        }
    } else {
        let f = File::open(file).map_err(io_at(file))?;
        let counter = Arc::new(AtomicU64::new(0));
        let lines = Rc::new(RefCell::new(Lines::default()));
        let reader = Counting {
            inner: f,
            n: counter.clone(),
            lines: lines.clone(),
        };
        let mut rdr = csv::ReaderBuilder::new()
            .delimiter(layout.delimiter.as_bytes().first().copied().unwrap_or(b','))
            .flexible(true)
            .has_headers(false)
            .buffer_capacity(1 << 20)
            .from_reader(reader);
        let mut rec = csv::ByteRecord::new();
        let latin1 = layout.encoding == "latin1";
        let mut cols: Option<Columns> = None;
        loop {
            let start = rdr.position().byte();
            match rdr.read_byte_record(&mut rec) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    let line = lines.borrow_mut().line_of(start);
                    reject(&mut out, line, format!("CSV mal formado: {e}"));
                    continue;
                }
            }
            let line = lines
                .borrow_mut()
                .line_of(rec.position().map_or(start, |p| p.byte()));
            let fields: Vec<&[u8]> = rec.iter().collect();
            match &cols {
                None => {
                    let header: Vec<Cow<str>> = fields
                        .iter()
                        .map(|b| decode(b, latin1).unwrap_or(Cow::Borrowed("")))
                        .map(|s| match s {
                            Cow::Borrowed(b) => Cow::Borrowed(b.trim_start_matches('\u{feff}')),
                            Cow::Owned(o) => {
                                Cow::Owned(o.trim_start_matches('\u{feff}').to_string())
                            }
                        })
                        .collect();
                    cols = Some(Columns::resolve(layout, &header).map_err(CatalogError::Layout)?);
                }
                Some(c) => {
                    if fields
                        .iter()
                        .all(|f| f.iter().all(|b| b.is_ascii_whitespace()))
                    {
                        continue;
                    }
                    handle_row(&mut out, line, &fields, c, &mut buf, &mut spiller)?;
                    if out.rows_read.is_multiple_of(65_536) {
                        bar.set_position(counter.load(Ordering::Relaxed));
                    }
                }
            }
        }
        bar.set_position(counter.load(Ordering::Relaxed));
    }
    if !buf.offs.is_empty() {
        spiller.spill(buf).map_err(io_at(tmp))?;
    }
    out.runs = spiller.finish().map_err(io_at(tmp))?;
    Ok(out)
}

fn next_generation(current: Option<&str>) -> String {
    let n = current
        .and_then(|g| g.strip_prefix("gen-"))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    format!("gen-{:08}", n + 1)
}

fn tsv(s: &str) -> String {
    s.replace(['\t', '\n', '\r'], " ")
}

/// Import `file` into the catalog at `dir` (created if needed).
///
/// Long on purpose: phases 2 (the k-way merge with the live generation,
/// which shares the writer, the history log and the summary counters) and 3
/// (atomic publication) read top to bottom as the module doc describes them;
/// phase 1 is [`phase1`].
pub fn import(
    dir: &Path,
    file: &Path,
    cfg: &CatalogConfig,
    opts: &ImportOptions,
) -> Result<ImportSummary, CatalogError> {
    let started = Instant::now();
    let layout_name = opts
        .layout
        .clone()
        .unwrap_or_else(|| cfg.default_layout.clone());
    let layout = cfg.layouts.get(&layout_name).ok_or_else(|| {
        CatalogError::Layout(format!(
            "no layout '{layout_name}' in {}",
            cfg.source.display()
        ))
    })?;
    std::fs::create_dir_all(dir).map_err(io_at(dir))?;
    let _lock = lock(dir)?;
    let tmp = dir.join("tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(io_at(&tmp))?;

    let size = std::fs::metadata(file).map_err(io_at(file))?.len();
    let bar = if opts.progress && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        let b = indicatif::ProgressBar::with_draw_target(
            Some(size),
            indicatif::ProgressDrawTarget::stderr(),
        );
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        ) {
            b.set_style(style.progress_chars("=> "));
        }
        b.set_message("leyendo");
        b
    } else {
        indicatif::ProgressBar::hidden()
    };

    let p1 = phase1(file, layout, opts, &tmp, &bar)?;
    bar.set_message("fusionando");

    // Phase 2: merge runs (duplicates: the last line wins) with the live generation.
    let current = store::current_generation(dir).map_err(io_at(dir))?;
    let old = store::open(dir).map_err(io_at(dir))?;
    let had_old = old.as_ref().is_some_and(|o| !o.is_empty());
    let mut old_scan = match &old {
        Some(o) => Some(o.scan().map_err(io_at(&o.path))?),
        None => None,
    };
    let mut old_live = match &mut old_scan {
        Some(s) => s.advance().map_err(io_at(dir))?,
        None => false,
    };
    let generation = next_generation(current.as_deref());
    let gdir = dir.join(&generation);
    let _ = std::fs::remove_dir_all(&gdir);
    let mut writer = Writer::create(&gdir).map_err(io_at(&gdir))?;
    let hist_path = dir.join("history.log");
    let mut history = BufWriter::new(
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&hist_path)
            .map_err(io_at(&hist_path))?,
    );
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut summary = ImportSummary {
        file: file.display().to_string(),
        layout: layout_name.clone(),
        generation: generation.clone(),
        rows_read: p1.rows_read,
        rejected: p1.rejected,
        rejects: p1.rejects,
        ..Default::default()
    };

    let mut readers = Vec::new();
    for r in &p1.runs {
        let f = File::open(r).map_err(io_at(r))?;
        readers.push(RunReader {
            r: BufReader::with_capacity(1 << 20, f),
            key: Vec::new(),
            payload: Vec::new(),
            line: 0,
        });
    }
    let mut heap: BinaryHeap<Reverse<(Vec<u8>, u64, usize)>> = BinaryHeap::new();
    for (i, rr) in readers.iter_mut().enumerate() {
        if rr.advance().map_err(io_at(&tmp))? {
            heap.push(Reverse((std::mem::take(&mut rr.key), rr.line, i)));
        }
    }
    let mut win_key: Vec<u8> = Vec::new();
    let mut win_payload: Vec<u8> = Vec::new();
    let mut win_line: u64;
    let mut merged: u64 = 0;
    while let Some(Reverse((key, line, src))) = heap.pop() {
        win_key.clear();
        win_key.extend_from_slice(&key);
        win_line = line;
        std::mem::swap(&mut win_payload, &mut readers[src].payload);
        let mut reuse = key;
        let rr = &mut readers[src];
        rr.key = std::mem::take(&mut reuse);
        if rr.advance().map_err(io_at(&tmp))? {
            heap.push(Reverse((std::mem::take(&mut rr.key), rr.line, src)));
        }
        // Later lines with the same code replace earlier ones.
        while heap.peek().is_some_and(|Reverse((k, _, _))| *k == win_key) {
            let Some(Reverse((k, l, s))) = heap.pop() else {
                break;
            };
            summary.rejected += 1;
            if summary.rejects.len() < opts.max_listed_rejects {
                summary.rejects.push(Reject {
                    line: win_line,
                    reason: format!(
                        "código {} repetido: lo reemplaza la línea {l}",
                        String::from_utf8_lossy(&win_key)
                    ),
                });
            }
            win_line = l;
            std::mem::swap(&mut win_payload, &mut readers[s].payload);
            let rr = &mut readers[s];
            rr.key = k;
            if rr.advance().map_err(io_at(&tmp))? {
                heap.push(Reverse((std::mem::take(&mut rr.key), rr.line, s)));
            }
        }
        // Merge with the live generation.
        while old_live {
            let Some(s) = &mut old_scan else { break };
            if s.key.as_slice() >= win_key.as_slice() {
                break;
            }
            writer.push(&s.key, &s.payload).map_err(io_at(&gdir))?;
            summary.kept += 1;
            old_live = s.advance().map_err(io_at(dir))?;
        }
        let mut same_code_old = false;
        if old_live
            && let Some(s) = &mut old_scan
            && s.key == win_key
        {
            same_code_old = true;
            if s.payload == win_payload {
                summary.unchanged += 1;
            } else {
                summary.updated += 1;
                let code = String::from_utf8_lossy(&win_key).to_string();
                let changes = match (
                    Product::decode(&s.key, &s.payload),
                    Product::decode(&win_key, &win_payload),
                ) {
                    (Some(a), Some(b)) => a
                        .diff(&b)
                        .into_iter()
                        .map(|(f, o, n)| format!("{f}: {} → {}", tsv(&o), tsv(&n)))
                        .collect::<Vec<_>>()
                        .join("; "),
                    _ => "registro modificado".into(),
                };
                writeln!(
                    history,
                    "{now}\t{generation}\t{}\tupdate\t{changes}",
                    tsv(&code)
                )
                .map_err(io_at(&hist_path))?;
            }
            old_live = s.advance().map_err(io_at(dir))?;
        }
        if !same_code_old {
            summary.inserted += 1;
            if had_old {
                let desc = Product::decode(&win_key, &win_payload)
                    .map(|p| p.description())
                    .unwrap_or_default();
                writeln!(
                    history,
                    "{now}\t{generation}\t{}\tinsert\t{}",
                    tsv(&String::from_utf8_lossy(&win_key)),
                    tsv(&desc)
                )
                .map_err(io_at(&hist_path))?;
            }
        }
        writer.push(&win_key, &win_payload).map_err(io_at(&gdir))?;
        merged += 1;
        if merged.is_multiple_of(1_000_000) {
            bar.set_message(format!("fusionando: {merged} códigos"));
        }
    }
    while old_live {
        let Some(s) = &mut old_scan else { break };
        writer.push(&s.key, &s.payload).map_err(io_at(&gdir))?;
        summary.kept += 1;
        old_live = s.advance().map_err(io_at(dir))?;
    }
    drop(readers);
    summary.total_products = writer.finish().map_err(io_at(&gdir))?;
    if !had_old {
        writeln!(
            history,
            "{now}\t{generation}\t*\tload\t{} productos desde {}",
            summary.inserted,
            tsv(&summary.file)
        )
        .map_err(io_at(&hist_path))?;
    }
    let hf = history.into_inner().map_err(|e| CatalogError::Io {
        path: hist_path.clone(),
        source: e.into_error(),
    })?;
    hf.sync_all().map_err(io_at(&hist_path))?;

    // Phase 3: publish atomically, then drop the previous generation.
    store::publish(dir, &generation).map_err(io_at(dir))?;
    drop(old_scan);
    drop(old);
    if let Some(prev) = current
        && prev != generation
    {
        let _ = std::fs::remove_dir_all(dir.join(prev));
    }
    let _ = std::fs::remove_dir_all(&tmp);
    bar.finish_and_clear();

    summary.seconds = started.elapsed().as_secs_f64();
    summary.rows_per_second = if summary.seconds > 0.0 {
        summary.rows_read as f64 / summary.seconds
    } else {
        0.0
    };
    summary.finished_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    summary.rejects.sort_by_key(|r| r.line);
    let log_path = dir.join("imports.log");
    if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(&log_path)
        && let Ok(line) = serde_json::to_string(&summary)
    {
        let _ = writeln!(f, "{line}");
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_descriptions_with_extra_dashes() {
        let d = parse_description(
            "PAN - PRODUCTOS DE PANADERIA - PANDEBONO - UNIDAD - EMPACADO(A) - PROCESADO",
        )
        .unwrap();
        assert_eq!(
            d,
            (
                "PAN".into(),
                "PRODUCTOS DE PANADERIA - PANDEBONO".into(),
                "UNIDAD".into(),
                "EMPACADO(A)".into(),
                "PROCESADO".into()
            )
        );
        let d = parse_description(
            "ALMEJAS - ALMEJA BLANCA - UNIDAD - 60 - 80 UND X 454 GR - PROCESADO",
        )
        .unwrap();
        assert_eq!(d.2, "UNIDAD");
        assert_eq!(d.3, "60 - 80 UND X 454 GR");
        assert!(parse_description("ARROZ - NATURAL").is_err());
    }
}
