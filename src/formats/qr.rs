//! The DIAN QR code printed on an invoice's graphic representation: decoding
//! (rxing's port of zxing-cpp, with rqrr as a second decoder; both pure
//! Rust, so they run in-process) and parsing of its `Key: value` lines (NumFac, FecFac,
//! HorFac, NitFac, DocAdq, ValFac, ValIva, ValOtroIm, ValTolFac, CUFE and the
//! `documentkey=` URL). Pure functions.

use std::collections::BTreeMap;

use image::GrayImage;
use serde::{Deserialize, Serialize};

/// Fields read from a DIAN QR code.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DianQr {
    /// Every `Key: value` pair as found.
    pub fields: BTreeMap<String, String>,
    /// The URL line, when present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl DianQr {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// The CUFE: the `CUFE` field, else the URL's `documentkey`.
    pub fn cufe(&self) -> Option<String> {
        if let Some(c) = self.get("CUFE").or_else(|| self.get("CUDE")) {
            return Some(c.to_ascii_lowercase());
        }
        let url = self.url.as_deref()?;
        let i = url.find("documentkey=")?;
        let v: String = url[i + 12..]
            .chars()
            .take_while(|c| c.is_ascii_hexdigit())
            .collect();
        (!v.is_empty()).then(|| v.to_ascii_lowercase())
    }
}

/// Parse the text of a QR. Returns `None` when it carries no DIAN field.
pub fn parse(text: &str) -> Option<DianQr> {
    let mut qr = DianQr::default();
    // Some issuers put everything on one line separated by spaces or ';'.
    let normalised = text.replace(['\r', ';'], "\n");
    for raw in normalised.lines() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with("http://") || line.starts_with("https://") {
            qr.url = Some(line.to_string());
            continue;
        }
        // Several pairs on one line: split before each known key.
        for part in split_known_keys(line) {
            if let Some((k, v)) = part.split_once([':', '=']) {
                let k = k.trim();
                if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric()) {
                    qr.fields.insert(k.to_string(), v.trim().to_string());
                }
            }
        }
    }
    let known = [
        "NumFac",
        "FecFac",
        "NitFac",
        "DocAdq",
        "ValTolFac",
        "CUFE",
        "CUDE",
    ];
    let any = known.iter().any(|k| qr.get(k).is_some()) || qr.cufe().is_some();
    any.then_some(qr)
}

const KEYS: &[&str] = &[
    "NumFac",
    "FecFac",
    "HorFac",
    "NitFac",
    "DocAdq",
    "ValFac",
    "ValIva",
    "ValOtroIm",
    "ValTolFac",
    "CUFE",
    "CUDE",
    "QRCode",
];

fn split_known_keys(line: &str) -> Vec<&str> {
    let mut cuts = vec![0];
    for k in KEYS {
        let mut from = 0;
        while let Some(i) = line[from..].find(k) {
            let at = from + i;
            let after = line[at + k.len()..].trim_start();
            if at > 0 && (after.starts_with(':') || after.starts_with('=')) {
                cuts.push(at);
            }
            from = at + k.len();
        }
    }
    cuts.sort_unstable();
    cuts.dedup();
    let mut parts = Vec::new();
    for (i, &c) in cuts.iter().enumerate() {
        let end = cuts.get(i + 1).copied().unwrap_or(line.len());
        parts.push(line[c..end].trim());
    }
    parts
}

/// Find and decode QR codes in a page; returns the first DIAN QR.
pub fn decode(img: &GrayImage) -> Option<DianQr> {
    decode_located(img).map(|(q, _)| q)
}

/// Like [`decode`], also returning the code's bounding box
/// `(x0, y0, x1, y1)` in `img` coordinates (so OCR can blank it out).
/// rxing first, then rqrr ([`attempt`]).
pub fn decode_located(img: &GrayImage) -> Option<(DianQr, (u32, u32, u32, u32))> {
    match attempt_rxing(img, RxingReader::Cpp) {
        Attempt::Found(q, b) => Some((q, b)),
        _ => match attempt(img) {
            Attempt::Found(q, b) => Some((q, b)),
            _ => None,
        },
    }
}

/// The outcome of looking for a QR code.
pub enum Attempt {
    Found(DianQr, (u32, u32, u32, u32)),
    /// Finder patterns were seen but nothing decoded (worth sharpening).
    Seen,
    /// No QR-like pattern at all.
    Nothing,
}

/// rqrr on a half-size copy first (fast, and large modules on phone photos
/// decode better), then full size.
pub fn attempt(img: &GrayImage) -> Attempt {
    let (w, h) = img.dimensions();
    let mut seen = false;
    if w > 1200 && h > 1200 {
        let small =
            image::imageops::resize(img, w / 2, h / 2, image::imageops::FilterType::Triangle);
        match decode_once(&small) {
            Attempt::Found(q, (x0, y0, x1, y1)) => {
                return Attempt::Found(q, (x0 * 2, y0 * 2, x1 * 2, y1 * 2));
            }
            Attempt::Seen => seen = true,
            Attempt::Nothing => {}
        }
    }
    match decode_once(img) {
        Attempt::Nothing if seen => Attempt::Seen,
        other => other,
    }
}

fn decode_once(img: &GrayImage) -> Attempt {
    let (w, h) = img.dimensions();
    let mut prepared =
        rqrr::PreparedImage::prepare_from_greyscale(w as usize, h as usize, |x, y| {
            img.get_pixel(x as u32, y as u32).0[0]
        });
    let grids = prepared.detect_grids();
    let seen = !grids.is_empty();
    for grid in grids {
        if let Ok((_, content)) = grid.decode()
            && let Some(q) = parse(&content)
        {
            let xs = grid.bounds.iter().map(|p| p.x.max(0) as u32);
            let ys = grid.bounds.iter().map(|p| p.y.max(0) as u32);
            let bbox = (
                xs.clone().min().unwrap_or(0),
                ys.clone().min().unwrap_or(0),
                xs.max().unwrap_or(0).min(w),
                ys.max().unwrap_or(0).min(h),
            );
            return Attempt::Found(q, bbox);
        }
    }
    if seen {
        Attempt::Seen
    } else {
        Attempt::Nothing
    }
}

/// A DIAN QR found on a page, with the area to blank out before OCR.
pub struct Found {
    pub qr: DianQr,
    /// Bounding box `(x0, y0, x1, y1)` in the prepared page's coordinates.
    pub bbox: (u32, u32, u32, u32),
    /// Extra margin to blank around `bbox` (wider when the box was found on
    /// the page as received, which is not deskewed).
    pub margin: u32,
}

/// Look for the DIAN QR on a page: `page` as received, `prepared` its
/// preprocessed copy (`gray` deskewed and light-normalised, `image`
/// binarised).
///
/// rxing's port of the zxing-cpp reader runs on the cleaned grayscale, then
/// on the binarised page (~50–100 ms each on a 300 dpi A4 page): it read
/// every generated scan and photo, where rqrr ([`search_rqrr`], ~1 s a page)
/// missed a fifth (docs/BENCHMARKS.md). Only when a set of finder patterns
/// was seen but nothing decoded does it try the page as received (not
/// deskewed, so blanked with a wider margin). rqrr is not tried after that:
/// it decoded nothing rxing missed, and noise on phone photos often forms a
/// finder-pattern set, where its ~3 s would be spent for nothing.
pub fn search(page: &GrayImage, prepared: &super::image::Prepared) -> Option<Found> {
    let mut seen = false;
    for img in [&prepared.gray, &prepared.image] {
        match attempt_rxing(img, RxingReader::Cpp) {
            Attempt::Found(qr, bbox) => {
                return Some(Found {
                    qr,
                    bbox,
                    margin: 12,
                });
            }
            Attempt::Seen => seen = true,
            Attempt::Nothing => {}
        }
    }
    if !seen {
        return None;
    }
    match attempt_rxing(page, RxingReader::Cpp) {
        Attempt::Found(qr, bbox) => Some(Found {
            qr,
            bbox,
            margin: 48,
        }),
        _ => None,
    }
}

/// rqrr over the cleaned grayscale, the binarised page, the page as
/// received and a sharpened copy, stopping at the first that decodes (the
/// last two only when rqrr saw a finder pattern). The search used before
/// rxing: ~1 s per page, and it missed the dense DIAN QR on a fifth of the
/// blurred scans and photos.
pub fn search_rqrr(page: &GrayImage, prepared: &super::image::Prepared) -> Option<Found> {
    let mut seen = false;
    for variant in 0..4 {
        let a = match variant {
            0 => attempt(&prepared.gray),
            1 => attempt(&prepared.image),
            2 if seen => attempt(page),
            3 if seen => attempt(&image::imageops::unsharpen(&prepared.gray, 3.0, 10)),
            _ => break,
        };
        match a {
            Attempt::Found(qr, bbox) => {
                let margin = if variant == 2 { 48 } else { 12 };
                return Some(Found { qr, bbox, margin });
            }
            Attempt::Seen => seen = true,
            Attempt::Nothing => {}
        }
    }
    None
}

/// Which rxing (ZXing port) reader to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RxingReader {
    /// The port of ZXing's Java QR reader (missed 3 of 75 codes that the
    /// cpp port read; kept for the benchmark's comparison).
    Java,
    /// The port of zxing-cpp's QR reader: every code on the page.
    Cpp,
}

/// Decode with rxing: ZXing's hybrid (local, 8×8-block) binarisation, then
/// the finder-pattern search with `TryHarder`. Returns the first code that
/// carries DIAN fields, with its bounding box; `Seen` when a set of three
/// finder patterns was found but nothing DIAN decoded.
pub fn attempt_rxing(img: &GrayImage, reader: RxingReader) -> Attempt {
    use rxing::common::HybridBinarizer;
    use rxing::{BinaryBitmap, DecodeHints, Luma8Source};
    let (w, h) = img.dimensions();
    let Ok(source) = Luma8Source::new_with_slice(img.as_raw(), w, h) else {
        return Attempt::Nothing;
    };
    let mut bitmap = BinaryBitmap::new(HybridBinarizer::new(source));
    let hints = DecodeHints {
        TryHarder: Some(true),
        ..Default::default()
    };
    // rxing is a large port that indexes a lot: should it panic on some
    // page, that page loses its QR (counted as not found), not its OCR.
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        decode_rxing(&mut bitmap, &hints, reader)
    }));
    let Ok((results, pad, seen)) = decoded else {
        return Attempt::Nothing;
    };
    for result in &results {
        let Some(q) = parse(result.getText()) else {
            continue;
        };
        let pts = result.getPoints();
        if pts.is_empty() {
            return Attempt::Found(q, (0, 0, w, h));
        }
        let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for p in pts {
            x0 = x0.min(p.x);
            y0 = y0.min(p.y);
            x1 = x1.max(p.x);
            y1 = y1.max(p.y);
        }
        let m = (x1 - x0).max(y1 - y0) * pad;
        let clamp = |v: f32, hi: u32| v.clamp(0.0, hi as f32) as u32;
        return Attempt::Found(
            q,
            (
                clamp(x0 - m, w),
                clamp(y0 - m, h),
                clamp(x1 + m, w),
                clamp(y1 + m, h),
            ),
        );
    }
    if seen {
        Attempt::Seen
    } else {
        Attempt::Nothing
    }
}

/// rxing's decoding proper: the codes read, how much to widen their points
/// into a box (fraction of the span), and whether a code or a set of three
/// finder patterns was seen.
fn decode_rxing<B: rxing::Binarizer>(
    bitmap: &mut rxing::BinaryBitmap<B>,
    hints: &rxing::DecodeHints,
    reader: RxingReader,
) -> (Vec<rxing::RXingResult>, f32, bool) {
    use rxing::ImmutableReader;
    use rxing::multi::MultipleBarcodeReader;
    use rxing::qrcode::cpp_port::detector;
    let (results, pad) = match reader {
        RxingReader::Java => {
            let r = rxing::qrcode::QRCodeReader::new().immutable_decode_with_hints(bitmap, hints);
            // Finder-pattern centres (3.5 modules in from the edge) and
            // maybe an alignment pattern: widen by a tenth of the span.
            (r.map(|r| vec![r]).unwrap_or_default(), 0.1)
        }
        RxingReader::Cpp => {
            let r = rxing::qrcode::cpp_port::QrReader.decode_multiple_with_hints(bitmap, hints);
            // The code's four corners.
            (r.unwrap_or_default(), 0.0)
        }
    };
    if !results.is_empty() {
        // Something was read (maybe not a DIAN QR).
        return (results, pad, true);
    }
    // The binarised matrix is cached in `bitmap`: asking whether three
    // finder patterns line up costs only the pattern scan.
    let mut fps = detector::FindFinderPatterns(bitmap.get_black_matrix(), true, 0);
    let seen = !detector::GenerateFinderPatternSets(&mut fps).is_empty();
    (results, pad, seen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dian_lines() {
        let t = "NumFac: SETP990000002\nFecFac: 2019-06-21\nHorFac: 10:53:10-05:00\nNitFac: 700085371\nDocAdq: 800199436\nValFac: 1500000.00\nValIva: 285000.00\nValOtroIm: 0.00\nValTolFac: 1785000.00\nCUFE: 8BB918b1\nhttps://catalogo-vpfe-hab.dian.gov.co/document/searchqr?documentkey=8bb918b1";
        let q = parse(t).unwrap();
        assert_eq!(q.get("NumFac"), Some("SETP990000002"));
        assert_eq!(q.get("ValTolFac"), Some("1785000.00"));
        assert_eq!(q.cufe().as_deref(), Some("8bb918b1"));
        assert!(q.url.is_some());
    }

    #[test]
    fn parses_one_line_form() {
        let q =
            parse("NumFac: FE12 FecFac: 2024-01-02 NitFac: 900373991 ValTolFac: 10.00 CUFE: ab")
                .unwrap();
        assert_eq!(q.get("NumFac"), Some("FE12"));
        assert_eq!(q.get("NitFac"), Some("900373991"));
    }

    #[test]
    fn non_dian_qr_is_none() {
        assert!(parse("https://example.com").is_none());
        assert!(parse("hola").is_none());
    }

    /// `text` as a QR code, `scale` pixels per module, at `(ox, oy)` on a
    /// white page of `side × side`; returns the page and the code's box.
    fn render(
        text: &str,
        scale: u32,
        ox: u32,
        oy: u32,
        side: u32,
    ) -> (GrayImage, (u32, u32, u32, u32)) {
        let code = qrcode::QrCode::new(text.as_bytes()).unwrap();
        let w = code.width() as u32;
        let mut img = GrayImage::from_pixel(side, side, image::Luma([255]));
        for y in 0..w {
            for x in 0..w {
                if code[(x as usize, y as usize)] == qrcode::Color::Dark {
                    for dy in 0..scale {
                        for dx in 0..scale {
                            img.put_pixel(
                                ox + x * scale + dx,
                                oy + y * scale + dy,
                                image::Luma([0]),
                            );
                        }
                    }
                }
            }
        }
        (img, (ox, oy, ox + w * scale, oy + w * scale))
    }

    /// What a generated invoice's DIAN QR holds: ~420 bytes, version 13–14.
    fn dian_text() -> (String, String) {
        let cufe: String = (0..96)
            .map(|i| char::from(b"0123456789abcdef"[(i * 7 + 3) % 16]))
            .collect();
        let text = format!(
            "NumFac: SETP990000123\nFecFac: 2024-03-10\nHorFac: 10:53:10-05:00\nNitFac: 900373991\nDocAdq: 1020304050\nValFac: 1500000.00\nValIva: 285000.00\nValOtroIm: 0.00\nValTolFac: 1785000.00\nCUFE: {cufe}\nhttps://catalogo-vpfe-hab.dian.gov.co/document/searchqr?documentkey={cufe}"
        );
        (text, cufe)
    }

    #[test]
    fn decodes_a_rendered_qr() {
        let (img, _) = render(
            "NumFac: SETP1\nFecFac: 2024-01-02\nCUFE: abc",
            8,
            32,
            32,
            400,
        );
        let q = decode(&img).unwrap();
        assert_eq!(q.get("NumFac"), Some("SETP1"));
    }

    #[test]
    fn rxing_reads_a_blurred_dense_dian_qr_and_locates_it() {
        let (text, cufe) = dian_text();
        assert!(text.len() > 400);
        // 5 px per module (a 115 pt code at 300 dpi is ~6.6), then a blur
        // like a flatbed scan's.
        let (img, (x0, y0, x1, y1)) = render(&text, 5, 300, 500, 1200);
        let img = image::imageops::blur(&img, 1.6);
        let Attempt::Found(q, (bx0, by0, bx1, by1)) = attempt_rxing(&img, RxingReader::Cpp) else {
            panic!("not decoded");
        };
        assert_eq!(q.cufe().as_deref(), Some(cufe.as_str()));
        assert_eq!(q.get("ValTolFac"), Some("1785000.00"));
        // The box is the code's, within a module or two.
        for (got, want) in [(bx0, x0), (by0, y0), (bx1, x1), (by1, y1)] {
            assert!(
                got.abs_diff(want) <= 10,
                "box {:?} vs {:?}",
                (bx0, by0, bx1, by1),
                (x0, y0, x1, y1)
            );
        }
    }

    #[test]
    fn search_reads_what_rqrr_misses() {
        // Blurred so that rqrr no longer decodes it (if rqrr ever does, this
        // test still checks that search reads it and where).
        let (text, cufe) = dian_text();
        let (page, _) = render(&text, 4, 200, 900, 1400);
        let page = image::imageops::blur(&page, 1.9);
        let prepared =
            crate::formats::image::preprocess(&page, crate::formats::image::Preprocess::default());
        let rqrr = search_rqrr(&page, &prepared);
        let found = search(&page, &prepared).expect("search decodes the blurred code");
        assert_eq!(found.qr.cufe().as_deref(), Some(cufe.as_str()));
        assert!(
            rqrr.is_none(),
            "rqrr decoded it too: make the blur stronger"
        );
    }

    #[test]
    fn a_page_without_a_code_is_nothing() {
        let mut page = GrayImage::from_pixel(900, 1200, image::Luma([250]));
        // Text-like strokes.
        for line in 0..20 {
            for x in (60..840).step_by(14) {
                for dy in 0..18 {
                    for dx in 0..6 {
                        page.put_pixel(x + dx, 80 + line * 50 + dy, image::Luma([20]));
                    }
                }
            }
        }
        let prepared =
            crate::formats::image::preprocess(&page, crate::formats::image::Preprocess::default());
        assert!(search(&page, &prepared).is_none());
        assert!(matches!(
            attempt_rxing(&page, RxingReader::Cpp),
            Attempt::Nothing
        ));
    }

    #[test]
    fn a_code_that_is_not_dian_is_not_taken() {
        let (img, _) = render("https://example.com/not-an-invoice", 8, 40, 40, 500);
        assert!(matches!(
            attempt_rxing(&img, RxingReader::Cpp),
            Attempt::Seen
        ));
        assert!(decode(&img).is_none());
    }
}
