//! Accuracy and speed of reading PDFs, scans and phone photos (issue 5).
//!
//! Generates invoices (`pasarela::formats::generate`), renders and degrades
//! them, runs the same reader the `pdf-extract` / `image-ocr` steps run, and
//! prints per-field exact-match rates, character error rate, the share routed
//! to review, wrong values accepted without review, and time per page.
//!
//!     cargo bench --features test-support --bench formats_accuracy -- [--n 200] [--seed 0] [--threads 2]
//!         [--kinds text,scan,photo,scanpdf] [--no-preprocess] [--write DIR]
//!
//! `--write DIR` also saves each document with its `.truth.json` beside it.
//!
//!     cargo bench --features test-support --bench formats_accuracy -- --outcomes [--n 40] [--kinds ...]
//!
//! `--outcomes` runs the documents through the real daemon instead (SQLite,
//! shipped catalog and rules, `config`-like routes): the electronic invoice
//! of every document whose number is in the test range is sent too
//! (before the reading for half of them, after it for the rest), and the
//! outcome of each file is counted: registered, tied, in review (by reason),
//! rejected. The invoices' dates span two years, so the registration window
//! (`max_age_days`) is widened for this run; nothing else is changed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use pasarela::formats::extract::KEY_FIELDS;
use pasarela::formats::generate::{self, Degradation, Rng};
use pasarela::formats::image::Preprocess;
use pasarela::formats::qr::{self, DianQr};
use pasarela::formats::read::{self, FormatsSettings, Reading};
use pasarela::formats::text;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Kind {
    Text,
    Scan,
    ScanPdf,
    Photo,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Text => "text PDF",
            Kind::Scan => "scan (PNG/JPEG)",
            Kind::ScanPdf => "scanned PDF",
            Kind::Photo => "phone photo (JPEG)",
        }
    }
}

struct Outcome {
    kind: Kind,
    with_qr: bool,
    exact: BTreeMap<&'static str, bool>,
    wrong_accepted: bool,
    review: bool,
    cer: f64,
    page_ms: Vec<u64>,
    doc_ms: u64,
    parts_ms: Vec<(u64, u64, u64)>,
    detail: String,
}

/// `--kinds text,scan,scanpdf,photo` (all four by default).
fn kinds(args: &[String]) -> Vec<Kind> {
    arg::<String>(args, "--kinds")
        .unwrap_or_else(|| "text,scan,scanpdf,photo".into())
        .split(',')
        .filter_map(|k| match k {
            "text" => Some(Kind::Text),
            "scan" => Some(Kind::Scan),
            "scanpdf" => Some(Kind::ScanPdf),
            "photo" => Some(Kind::Photo),
            _ => None,
        })
        .collect()
}

fn arg<T: std::str::FromStr>(args: &[String], name: &str) -> Option<T> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--outcomes") {
        outcomes::run(&args);
        return;
    }
    let n: u64 = arg(&args, "--n").unwrap_or(200);
    let seed0: u64 = arg(&args, "--seed").unwrap_or(0);
    let threads: usize = arg(&args, "--threads").unwrap_or(2);
    let write: Option<String> = arg(&args, "--write");
    let kinds = kinds(&args);
    let mut settings = FormatsSettings::default();
    if args.iter().any(|a| a == "--no-preprocess") {
        settings.preprocess = Preprocess::NONE;
    }
    pasarela::formats::worker::set_ocr_concurrency(threads);
    let settings = Arc::new(settings);
    if let Some(dir) = arg::<String>(&args, "--fixtures") {
        // The committed fixtures under fixtures/formats/.
        let inv = generate::invoice(2024, true);
        let _ = std::fs::write(format!("{dir}/invoice-qr.pdf"), inv.pdf());
        let _ = std::fs::write(
            format!("{dir}/invoice-qr.truth.json"),
            serde_json::to_vec_pretty(&inv.truth).unwrap_or_default(),
        );
        let inv = generate::invoice(2025, false).with_xml_attachment();
        let _ = std::fs::write(format!("{dir}/invoice-xml-attached.pdf"), inv.pdf());
        let _ = std::fs::write(
            format!("{dir}/invoice-xml-attached.truth.json"),
            serde_json::to_vec_pretty(&inv.truth).unwrap_or_default(),
        );
        return;
    }
    if let Some(file) = arg::<String>(&args, "--qr-file") {
        // Which preprocessing lets the QR decoder read this page?
        let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
        let pages = pasarela::formats::image::decode_pages(&bytes).unwrap_or_default();
        for page in pages {
            let t = Instant::now();
            println!(
                "original: {}",
                pasarela::formats::qr::decode(&page).is_some()
            );
            let p = pasarela::formats::image::preprocess(&page, Preprocess::default());
            println!(
                "gray: {} bin: {} skew {}",
                pasarela::formats::qr::decode(&p.gray).is_some(),
                pasarela::formats::qr::decode(&p.image).is_some(),
                p.skew_degrees
            );
            let q = pasarela::formats::image::preprocess(
                &page,
                Preprocess {
                    deskew: false,
                    ..Preprocess::default()
                },
            );
            println!(
                "no-deskew gray: {} bin: {}",
                pasarela::formats::qr::decode(&q.gray).is_some(),
                pasarela::formats::qr::decode(&q.image).is_some()
            );
            let g = &p.gray;
            for div in [3u32, 4] {
                let sm = image::imageops::resize(
                    g,
                    g.width() / div,
                    g.height() / div,
                    image::imageops::FilterType::Triangle,
                );
                println!(
                    "gray/{div}: {}",
                    pasarela::formats::qr::decode(&sm).is_some()
                );
            }
            for (sig, thr) in [(1.0f32, 5i32), (2.0, 10), (3.0, 10)] {
                let us = image::imageops::unsharpen(g, sig, thr);
                println!(
                    "unsharpen {sig} {thr}: {}",
                    pasarela::formats::qr::decode(&us).is_some()
                );
            }
            let up = image::imageops::resize(
                g,
                g.width() * 3 / 2,
                g.height() * 3 / 2,
                image::imageops::FilterType::CatmullRom,
            );
            println!("up1.5: {}", pasarela::formats::qr::decode(&up).is_some());
            let bl = image::imageops::blur(g, 1.5);
            println!("blur1.5: {}", pasarela::formats::qr::decode(&bl).is_some());
            let mut th = bl.clone();
            let lv = pasarela::formats::image::otsu_level(&th);
            for px in th.pixels_mut() {
                px.0[0] = if px.0[0] > lv { 255 } else { 0 };
            }
            println!(
                "blur+otsu: {}",
                pasarela::formats::qr::decode(&th).is_some()
            );
            println!("{} ms", t.elapsed().as_millis());
        }
        return;
    }
    if let Some(list) = arg::<String>(&args, "--qr-lab") {
        // Which QR strategy decodes the pages that carry the DIAN QR, and at
        // what cost? Same documents as the main run (same seeds and kinds).
        let no_qr = args.iter().any(|a| a == "--lab-no-qr");
        qr_lab(&list, n, seed0, threads, &kinds, no_qr);
        return;
    }
    if let Some(file) = arg::<String>(&args, "--file") {
        // Read one file and print what the steps would put in the result.
        let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
        let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("runtime: {e}"));
        let r = rt.block_on(async {
            if bytes.starts_with(b"%PDF") {
                read::read_pdf(&bytes, &settings).await
            } else {
                read::read_image(&bytes, &settings).await
            }
        });
        match r {
            Ok(r) => {
                println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
                println!("findings: {:#?}\n--- text ---\n{}", r.findings, r.text());
            }
            Err(e) => eprintln!("{e}"),
        }
        return;
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(2))
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Some(dir) = &write {
        let _ = std::fs::create_dir_all(dir);
    }
    let started = Instant::now();
    let outcomes: Vec<Outcome> = rt.block_on(async {
        futures::stream::iter(0..n)
            .map(|i| {
                let settings = settings.clone();
                let kind = kinds[(i as usize) % kinds.len()];
                let write = write.clone();
                let nk = kinds.len() as u64;
                async move {
                    one(
                        seed0 + i,
                        kind,
                        (i / nk).is_multiple_of(2),
                        &settings,
                        write.as_deref(),
                    )
                    .await
                }
            })
            .buffer_unordered(threads)
            .inspect(|o| eprintln!("{}", o.detail))
            .collect()
            .await
    });
    report(&outcomes, started.elapsed().as_secs_f64(), &args);
}

/// Generate document `seed` of `kind` as the file bytes and extension, plus
/// the degraded page image as encoded (for scanned PDFs: the embedded JPEG).
async fn make_doc(
    seed: u64,
    kind: Kind,
    with_qr: bool,
) -> (generate::Invoice, Vec<u8>, &'static str, Option<Vec<u8>>) {
    let inv = generate::invoice(seed, with_qr);
    let pdf = inv.pdf();
    let mut rng = Rng::new(seed ^ 0xD15EA5E);
    let (bytes, ext, image) = match kind {
        Kind::Text => (pdf, "pdf", None),
        _ => {
            let page = match generate::rasterise(&pdf, 300).await {
                Ok(p) => p,
                Err(e) => panic!("pdftoppm: {e}"),
            };
            let d = if kind == Kind::Photo {
                Degradation::photo(&mut rng)
            } else {
                Degradation::scan(&mut rng)
            };
            let (page, d) = tokio::task::spawn_blocking(move || {
                let mut r = Rng::new(seed);
                (generate::degrade(&page, &d, &mut r), d)
            })
            .await
            .unwrap_or_else(|e| panic!("degrade: {e}"));
            match kind {
                Kind::ScanPdf => {
                    let jpeg = generate::encode(&page, 80);
                    (
                        generate::scanned_pdf(&jpeg, page.width(), page.height()),
                        "pdf",
                        Some(jpeg),
                    )
                }
                _ => {
                    let q = d.jpeg_quality;
                    let b = generate::encode(&page, q);
                    (b.clone(), if q > 0 { "jpg" } else { "png" }, Some(b))
                }
            }
        }
    };
    (inv, bytes, ext, image)
}

async fn one(
    seed: u64,
    kind: Kind,
    with_qr: bool,
    s: &FormatsSettings,
    write: Option<&str>,
) -> Outcome {
    let (inv, bytes, ext, _) = make_doc(seed, kind, with_qr).await;
    if let Some(dir) = write {
        let base = format!("{dir}/inv{seed:04}-{}", if with_qr { "qr" } else { "noqr" });
        let _ = std::fs::write(format!("{base}.{ext}"), &bytes);
        let _ = std::fs::write(
            format!("{base}.truth.json"),
            serde_json::to_vec_pretty(&inv.truth).unwrap_or_default(),
        );
    }
    let t0 = Instant::now();
    let reading: Reading = if ext == "pdf" {
        read::read_pdf(&bytes, s).await
    } else {
        read::read_image(&bytes, s).await
    }
    .unwrap_or_else(|e| panic!("environment: {e}"));
    let doc_ms = t0.elapsed().as_millis() as u64;
    let mut exact = BTreeMap::new();
    let mut wrong_accepted = false;
    let mut detail = String::new();
    for f in KEY_FIELDS {
        let got = reading.fields.field(f).map(|x| x.value.as_str());
        let want = inv.truth.get(f);
        let ok = got == want;
        exact.insert(*f, ok);
        if !ok {
            detail.push_str(&format!(" {f}: got {got:?} want {want:?};"));
            if got.is_some() && !reading.review {
                wrong_accepted = true;
            }
        }
    }
    let cer = text::cer(&inv.truth.text, &reading.text());
    Outcome {
        kind,
        with_qr,
        exact,
        wrong_accepted,
        review: reading.review,
        cer,
        page_ms: reading.pages.iter().map(|p| p.millis).collect(),
        doc_ms,
        parts_ms: reading
            .pages
            .iter()
            .filter(|p| p.ocr_ms > 0)
            .map(|p| (p.prep_ms, p.qr_ms, p.ocr_ms))
            .collect(),
        detail: format!(
            "seed {seed} {:?} qr={with_qr} review={} [{}]{detail}",
            kind,
            reading.review,
            reading
                .findings
                .iter()
                .map(|f| format!("{}:{}", f.code, f.location.clone().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

fn median(mut v: Vec<u64>) -> u64 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    v[v.len() / 2]
}

fn report(all: &[Outcome], secs: f64, args: &[String]) {
    println!("# formats accuracy: {} documents in {secs:.0} s", all.len());
    println!(
        "command: cargo bench --features test-support --bench formats_accuracy -- {}\n",
        args.iter()
            .skip(1)
            .filter(|a| *a != "--bench")
            .cloned()
            .collect::<Vec<_>>()
            .join(" ")
    );
    let header = format!(
        "| group | docs | {} | CER | review | wrong accepted | median ms/page | median ms/doc |",
        KEY_FIELDS.join(" | ")
    );
    println!("{header}");
    println!("|{}", "---|".repeat(KEY_FIELDS.len() + 8));
    let mut groups: Vec<(String, Vec<&Outcome>)> = Vec::new();
    for qr in [true, false] {
        groups.push((
            format!("all, {}", if qr { "with QR" } else { "without QR" }),
            all.iter().filter(|o| o.with_qr == qr).collect(),
        ));
    }
    let mut kinds: Vec<Kind> = all.iter().map(|o| o.kind).collect();
    kinds.sort();
    kinds.dedup();
    for k in kinds {
        for qr in [true, false] {
            groups.push((
                format!("{}, {}", k.name(), if qr { "QR" } else { "no QR" }),
                all.iter()
                    .filter(|o| o.kind == k && o.with_qr == qr)
                    .collect(),
            ));
        }
    }
    for (name, g) in groups {
        if g.is_empty() {
            continue;
        }
        let n = g.len() as f64;
        let mut row = format!("| {name} | {} |", g.len());
        for f in KEY_FIELDS {
            let ok = g
                .iter()
                .filter(|o| o.exact.get(f).copied().unwrap_or(false))
                .count() as f64;
            row.push_str(&format!(" {:.1} % |", 100.0 * ok / n));
        }
        let cer = g.iter().map(|o| o.cer).sum::<f64>() / n;
        let review = g.iter().filter(|o| o.review).count() as f64;
        let wrong = g.iter().filter(|o| o.wrong_accepted).count();
        let ms = median(g.iter().flat_map(|o| o.page_ms.iter().copied()).collect());
        let doc = median(g.iter().map(|o| o.doc_ms).collect());
        row.push_str(&format!(
            " {:.2} % | {:.1} % | {wrong} | {ms} | {doc} |",
            100.0 * cer,
            100.0 * review / n
        ));
        println!("{row}");
    }
    let parts: Vec<(u64, u64, u64)> = all
        .iter()
        .flat_map(|o| o.parts_ms.iter().copied())
        .collect();
    if !parts.is_empty() {
        println!(
            "\nOCR'd pages: median preprocessing {} ms, QR {} ms, Tesseract {} ms",
            median(parts.iter().map(|p| p.0).collect()),
            median(parts.iter().map(|p| p.1).collect()),
            median(parts.iter().map(|p| p.2).collect())
        );
    }
    println!("\nmisses and reviews:");
    for o in all
        .iter()
        .filter(|o| o.review || o.exact.values().any(|v| !v))
    {
        println!("- {}", o.detail);
    }
}

/// Per document: kind, seed, and per strategy (right, wrong, ms).
type LabRow = (Kind, u64, Vec<(bool, bool, u64)>);

type Strategy = fn(&image::GrayImage, &pasarela::formats::image::Prepared) -> Option<DianQr>;

fn found(a: qr::Attempt) -> Option<DianQr> {
    match a {
        qr::Attempt::Found(q, _) => Some(q),
        _ => None,
    }
}

fn half(g: &image::GrayImage) -> image::GrayImage {
    image::imageops::resize(
        g,
        g.width() / 2,
        g.height() / 2,
        image::imageops::FilterType::Triangle,
    )
}

fn strategy(name: &str) -> Option<Strategy> {
    use qr::RxingReader::{Cpp, Java};
    Some(match name {
        "search" => |page, p| qr::search(page, p).map(|f| f.qr),
        "rqrr-search" => |page, p| qr::search_rqrr(page, p).map(|f| f.qr),
        "rqrr-gray" => |_, p| found(qr::attempt(&p.gray)),
        "rqrr-bin" => |_, p| found(qr::attempt(&p.image)),
        "java-gray" => |_, p| found(qr::attempt_rxing(&p.gray, Java)),
        "cpp-gray" => |_, p| found(qr::attempt_rxing(&p.gray, Cpp)),
        "java-page" => |page, _| found(qr::attempt_rxing(page, Java)),
        "cpp-page" => |page, _| found(qr::attempt_rxing(page, Cpp)),
        "java-half" => |_, p| found(qr::attempt_rxing(&half(&p.gray), Java)),
        "cpp-half" => |_, p| found(qr::attempt_rxing(&half(&p.gray), Cpp)),
        "java-bin" => |_, p| found(qr::attempt_rxing(&p.image, Java)),
        "cpp-bin" => |_, p| found(qr::attempt_rxing(&p.image, Cpp)),
        _ => return None,
    })
}

/// `--qr-lab a,b,…`: decode rate and time of each QR strategy on the pages
/// with the DIAN QR (with `--lab-no-qr`: on the pages without one, where
/// any decoded code counts as wrong).
fn qr_lab(list: &str, n: u64, seed0: u64, threads: usize, kinds: &[Kind], no_qr: bool) {
    let strategies: Vec<(String, Strategy)> = list
        .split(',')
        .map(|n| {
            let f = strategy(n).unwrap_or_else(|| panic!("unknown strategy {n}"));
            (n.to_string(), f)
        })
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(2))
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let jobs: Vec<(u64, Kind)> = (0..n)
        .filter_map(|i| {
            let kind = kinds[(i as usize) % kinds.len()];
            let with_qr = (i / kinds.len() as u64).is_multiple_of(2);
            (with_qr != no_qr && kind != Kind::Text).then_some((seed0 + i, kind))
        })
        .collect();
    let strategies = Arc::new(strategies);
    let rows: Vec<LabRow> = rt.block_on(async {
        futures::stream::iter(jobs)
            .map(|(seed, kind)| {
                let strategies = strategies.clone();
                async move {
                    let (inv, _, _, image) = make_doc(seed, kind, !no_qr).await;
                    let want = inv.truth.get("cufe").map(str::to_string);
                    let bytes = image.unwrap_or_default();
                    tokio::task::spawn_blocking(move || {
                        let page = pasarela::formats::image::decode_pages(&bytes)
                            .unwrap_or_default()
                            .remove(0);
                        let p = pasarela::formats::image::preprocess(&page, Preprocess::default());
                        let mut out = Vec::new();
                        for (_, f) in strategies.iter() {
                            let t = Instant::now();
                            let got = f(&page, &p).and_then(|q| q.cufe());
                            let ms = t.elapsed().as_millis() as u64;
                            let ok = if no_qr {
                                got.is_none()
                            } else {
                                got.is_some() && got == want
                            };
                            out.push((ok, got.is_some() && (no_qr || !ok), ms));
                        }
                        (kind, seed, out)
                    })
                    .await
                    .unwrap_or_else(|e| panic!("lab: {e}"))
                }
            })
            .buffer_unordered(threads)
            .inspect(|(k, s, o)| eprintln!("seed {s} {k:?} {o:?}"))
            .collect()
            .await
    });
    println!(
        "| strategy | pages | {} | decoded, wrong | median ms | max ms | missed (seed kind) |",
        if no_qr {
            "nothing decoded"
        } else {
            "decoded, CUFE exact"
        }
    );
    println!("|---|---|---|---|---|---|---|");
    for (i, (name, _)) in strategies.iter().enumerate() {
        let ok = rows.iter().filter(|r| r.2[i].0).count();
        let wrong = rows.iter().filter(|r| r.2[i].1).count();
        let ms: Vec<u64> = rows.iter().map(|r| r.2[i].2).collect();
        let max = ms.iter().copied().max().unwrap_or(0);
        let missed: Vec<String> = rows
            .iter()
            .filter(|r| !r.2[i].0)
            .map(|r| format!("{} {:?}", r.1, r.0))
            .collect();
        println!(
            "| {name} | {} | {ok} | {wrong} | {} | {max} | {} |",
            rows.len(),
            median(ms),
            missed.join(", ")
        );
    }
}

/// `--outcomes`: what becomes of each document in the running daemon.
mod outcomes {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    use super::{arg, make_doc};

    const BIN: &str = env!("CARGO_BIN_EXE_pasarela");

    struct Daemon(Child);
    impl Drop for Daemon {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn repo() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }

    fn setup(dir: &Path) {
        let rules = repo().join("rules");
        let dian = std::fs::read_to_string(rules.join("dian.toml"))
            .unwrap()
            .replace("max_age_days = 180", "max_age_days = 100000");
        std::fs::create_dir_all(dir.join("config")).unwrap();
        std::fs::write(dir.join("dian.toml"), dian).unwrap();
        let cfg = format!(
            r#"
[daemon]
state_dir = "var"
scan_interval_secs = 2
stability_ms = 300
poll_interval_ms = 100
workers = 2
heavy_workers = 2

[store]
synchronous = "normal"

[log]
level = "warn"

[dian]
rules = "{}"

[registration]
rules_dir = "{}"

[accounts.demo]
home = "var/home/demo"

[[routes]]
name = "xml"
formats = ["xml"]
steps = ["dian-validate", "price", "certify"]

[[routes]]
name = "documents"
formats = ["pdf", "image", "excel"]
steps = ["pdf-extract", "image-ocr", "excel-rows", "price", "certify"]

[[routes]]
name = "unsupported"
steps = ["reject-unsupported"]
"#,
            dir.join("dian.toml").display(),
            rules.display()
        );
        std::fs::write(dir.join("config/pasarela.toml"), cfg).unwrap();
        let out = Command::new(BIN)
            .args(["catalog", "import"])
            .arg(repo().join("fixtures/catalog/subyacentes.csv"))
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn drop_file(dir: &Path, name: &str, bytes: &[u8]) {
        let incoming = dir.join("var/home/demo/incoming");
        std::fs::create_dir_all(&incoming).unwrap();
        let tmp = incoming.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, bytes).unwrap();
        std::fs::rename(&tmp, incoming.join(name)).unwrap();
    }

    fn result(dir: &Path, name: &str) -> Option<serde_json::Value> {
        let p = dir.join(format!("var/home/demo/outgoing/{name}.result.json"));
        serde_json::from_slice(&std::fs::read(p).ok()?).ok()
    }

    /// What a reading ended as: its verdict, and the reason for review.
    fn class(r: &serde_json::Value) -> String {
        let codes: Vec<&str> = r["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["code"].as_str())
            .collect();
        match r["verdict"].as_str().unwrap_or("") {
            "duplicate" => "tied to its XML".into(),
            "accepted" => "registered".into(),
            "rejected" => "rejected".into(),
            "review" if codes.contains(&"PAS88") => "review: awaiting its XML".into(),
            "review" => "review: low confidence / unmatched".into(),
            v => v.into(),
        }
    }

    pub fn run(args: &[String]) {
        let n: u64 = arg(args, "--n").unwrap_or(40);
        let seed0: u64 = arg(args, "--seed").unwrap_or(0);
        let kinds = super::kinds(args);
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        setup(dir);
        let rt = tokio::runtime::Runtime::new().unwrap();
        let docs: Vec<_> = (0..n)
            .map(|i| {
                let kind = kinds[(i as usize) % kinds.len()];
                let (inv, bytes, ext, _) = rt.block_on(make_doc(
                    seed0 + i,
                    kind,
                    (i / kinds.len() as u64).is_multiple_of(2),
                ));
                (i, kind, inv, bytes, ext)
            })
            .collect();
        let child = Command::new(BIN)
            .args(["run", "--now", "2026-01-01T12:00:00-05:00"])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let _daemon = Daemon(child);
        std::thread::sleep(Duration::from_secs(2));
        let started = Instant::now();
        // Every document numbered in the test range (the only range the
        // shipped DIAN rules authorise) also has its XML, sent before the
        // reading or after it, alternately.
        let with_xml = |_: u64, inv: &super::generate::Invoice| inv.truth.prefix == "SETP";
        let mut xml_after = Vec::new();
        let mut names = Vec::new();
        let mut xmls = Vec::new();
        for (i, kind, inv, bytes, ext) in &docs {
            let name = format!("doc{i:04}-{kind:?}.{ext}");
            if with_xml(*i, inv) {
                let x = format!("doc{i:04}.xml");
                if xmls.len() % 2 == 1 {
                    drop_file(dir, &x, inv.electronic().as_bytes());
                } else {
                    xml_after.push((x.clone(), inv.electronic()));
                }
                xmls.push(x);
            }
            drop_file(dir, &name, bytes);
            names.push(name);
        }
        let all_done = |names: &[String]| names.iter().all(|n| result(dir, n).is_some());
        let limit = Duration::from_secs(60 + 20 * n);
        while !all_done(&names) && started.elapsed() < limit {
            std::thread::sleep(Duration::from_millis(200));
        }
        for (x, xml) in &xml_after {
            drop_file(dir, x, xml.as_bytes());
        }
        // The late XMLs register and release their readings.
        let settle = Instant::now();
        loop {
            let waiting_with_xml = docs.iter().zip(&names).any(|((i, _, inv, _, _), n)| {
                with_xml(*i, inv)
                    && result(dir, n).is_some_and(|r| class(&r) == "review: awaiting its XML")
            });
            if (all_done(&xmls) && !waiting_with_xml) || settle.elapsed() > limit {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let secs = started.elapsed().as_secs_f64();
        let mut table: BTreeMap<String, usize> = BTreeMap::new();
        for n in &names {
            let c = result(dir, n).map_or("no result".to_owned(), |r| class(&r));
            *table.entry(c).or_default() += 1;
        }
        let registered_xml = xmls
            .iter()
            .filter(|x| result(dir, x).is_some_and(|r| r["verdict"] == "accepted"))
            .count();
        let certificates = std::fs::read_dir(dir.join("var/home/demo/outgoing/certificates"))
            .map(|d| d.count())
            .unwrap_or(0);
        println!(
            "# outcomes: {} readings ({} with their XML) in {secs:.0} s",
            names.len(),
            xmls.len()
        );
        println!("| outcome of the reading | documents |");
        println!("|---|---|");
        for (c, k) in &table {
            println!("| {c} | {k} |");
        }
        println!(
            "\nelectronic invoices registered: {registered_xml} of {}; certificates issued: {certificates} (one per invoice)",
            xmls.len()
        );
    }
}
