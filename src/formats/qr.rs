//! The DIAN QR code printed on an invoice's graphic representation: decoding
//! (rqrr, pure Rust) and parsing of its `Key: value` lines (NumFac, FecFac,
//! HorFac, NitFac, DocAdq, ValFac, ValIva, ValOtroIm, ValTolFac, CUFE and the
//! `documentkey=` URL). Pure functions.

use std::collections::BTreeMap;

use image::GrayImage;
use serde::Serialize;

/// Fields read from a DIAN QR code.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
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
/// Tries a half-size copy first (fast, and large modules on phone photos
/// decode better), then full size.
pub fn decode_located(img: &GrayImage) -> Option<(DianQr, (u32, u32, u32, u32))> {
    match attempt(img) {
        Attempt::Found(q, b) => Some((q, b)),
        _ => None,
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

/// Half size first, then full size.
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

    #[test]
    fn decodes_a_rendered_qr() {
        let code = qrcode::QrCode::new(b"NumFac: SETP1\nFecFac: 2024-01-02\nCUFE: abc").unwrap();
        let w = code.width();
        let scale = 8;
        let quiet = 4;
        let side = ((w + 2 * quiet) * scale) as u32;
        let mut img = GrayImage::from_pixel(side, side, image::Luma([255]));
        for y in 0..w {
            for x in 0..w {
                if code[(x, y)] == qrcode::Color::Dark {
                    for dy in 0..scale {
                        for dx in 0..scale {
                            img.put_pixel(
                                ((x + quiet) * scale + dx) as u32,
                                ((y + quiet) * scale + dy) as u32,
                                image::Luma([0]),
                            );
                        }
                    }
                }
            }
        }
        let q = decode(&img).unwrap();
        assert_eq!(q.get("NumFac"), Some("SETP1"));
    }
}
