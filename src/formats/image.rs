//! Images: decoding (PNG, JPEG, multi-page TIFF, PNM) into grayscale pages,
//! and the preprocessing that measurably helps Tesseract on scans and phone
//! photos: light normalisation, deskew and Otsu binarisation
//! (docs/BENCHMARKS.md has the figures).
//!
//! Decoding is pure Rust (image, tiff, zune-jpeg) under explicit allocation
//! and size limits, so a decompression bomb is refused instead of exhausting
//! memory. Pure functions; no IO.

use std::io::Cursor;

use image::{GrayImage, ImageDecoder, Luma};

/// Largest accepted page: 12 000 × 12 000 pixels (A3 at 600 dpi fits).
pub const MAX_SIDE: u32 = 12_000;
/// Largest decoder allocation.
pub const MAX_ALLOC: u64 = 512 << 20;
/// At most this many TIFF pages are read.
pub const MAX_PAGES: usize = 50;

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ImageError {
    #[error("la imagen no se pudo decodificar: {0}")]
    Decode(String),
    #[error("la imagen es demasiado grande ({0})")]
    TooLarge(String),
}

fn limits() -> image::Limits {
    let mut l = image::Limits::default();
    l.max_image_width = Some(MAX_SIDE);
    l.max_image_height = Some(MAX_SIDE);
    l.max_alloc = Some(MAX_ALLOC);
    l
}

/// Decode every page of an image file into grayscale, holding them all (for
/// benchmarks and tests of our own images; the daemon decodes one page at a
/// time in the worker, [`decode_page`]).
pub fn decode_pages(bytes: &[u8]) -> Result<Vec<GrayImage>, ImageError> {
    let mut pages = Vec::new();
    loop {
        let (page, more) = decode_page(bytes, pages.len())?;
        pages.push(page);
        if !more {
            return Ok(pages);
        }
    }
}

/// Decode page `index` (0-based) of an image file, and whether more pages
/// follow. Only that page's pixels are ever held: earlier TIFF directories
/// are skipped without decoding them, so a flood of pages costs one page of
/// memory at a time.
pub fn decode_page(bytes: &[u8], index: usize) -> Result<(GrayImage, bool), ImageError> {
    if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        return decode_tiff_page(bytes, index);
    }
    if index > 0 {
        return Err(ImageError::Decode("la imagen tiene una sola página".into()));
    }
    let mut reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| ImageError::Decode(e.to_string()))?;
    reader.limits(limits());
    let img = reader.decode().map_err(map_err)?;
    Ok((img.into_luma8(), false))
}

fn decode_tiff_page(bytes: &[u8], index: usize) -> Result<(GrayImage, bool), ImageError> {
    if index >= MAX_PAGES {
        return Err(ImageError::TooLarge(format!("más de {MAX_PAGES} páginas")));
    }
    let mut tl = tiff::decoder::Limits::default();
    tl.decoding_buffer_size = MAX_ALLOC as usize;
    tl.intermediate_buffer_size = MAX_ALLOC as usize;
    let mut dec = tiff::decoder::Decoder::new(Cursor::new(bytes))
        .map_err(|e| ImageError::Decode(e.to_string()))?
        .with_limits(tl);
    for _ in 0..index {
        if !dec.more_images() {
            return Err(ImageError::Decode("página inexistente".into()));
        }
        dec.next_image()
            .map_err(|e| ImageError::Decode(e.to_string()))?;
    }
    let (w, h) = dec
        .dimensions()
        .map_err(|e| ImageError::Decode(e.to_string()))?;
    if w > MAX_SIDE || h > MAX_SIDE {
        return Err(ImageError::TooLarge(format!("{w}×{h}")));
    }
    let ct = dec
        .colortype()
        .map_err(|e| ImageError::Decode(e.to_string()))?;
    let data = dec
        .read_image()
        .map_err(|e| ImageError::Decode(e.to_string()))?;
    let page = to_gray(w, h, ct, data)?;
    Ok((page, index + 1 < MAX_PAGES && dec.more_images()))
}

fn map_err(e: image::ImageError) -> ImageError {
    match e {
        image::ImageError::Limits(l) => ImageError::TooLarge(l.to_string()),
        other => ImageError::Decode(other.to_string()),
    }
}

fn to_gray(
    w: u32,
    h: u32,
    ct: tiff::ColorType,
    data: tiff::decoder::DecodingResult,
) -> Result<GrayImage, ImageError> {
    use tiff::ColorType as C;
    use tiff::decoder::DecodingResult as D;
    let n = (w as usize) * (h as usize);
    let px: Vec<u8> = match (ct, data) {
        (C::Gray(8), D::U8(v)) => v,
        (C::Gray(16), D::U16(v)) => v.iter().map(|x| (x >> 8) as u8).collect(),
        (C::Gray(1), D::U8(v)) => {
            // Bilevel, rows padded to whole bytes; 0 = black (BlackIsZero).
            let stride = (w as usize).div_ceil(8);
            let mut out = Vec::with_capacity(n);
            for y in 0..h as usize {
                for x in 0..w as usize {
                    let byte = v.get(y * stride + x / 8).copied().unwrap_or(0);
                    let bit = (byte >> (7 - (x % 8))) & 1;
                    out.push(if bit == 1 { 255 } else { 0 });
                }
            }
            out
        }
        (C::RGB(8), D::U8(v)) => v.chunks_exact(3).map(luma).collect(),
        (C::RGBA(8), D::U8(v)) => v.chunks_exact(4).map(luma).collect(),
        (C::GrayA(8), D::U8(v)) => v.chunks_exact(2).map(|c| c[0]).collect(),
        (ct, _) => {
            return Err(ImageError::Decode(format!(
                "tipo de color TIFF no admitido: {ct:?}"
            )));
        }
    };
    GrayImage::from_raw(w, h, px).ok_or_else(|| ImageError::Decode("datos TIFF incompletos".into()))
}

fn luma(c: &[u8]) -> u8 {
    ((c[0] as u32 * 299 + c[1] as u32 * 587 + c[2] as u32 * 114) / 1000) as u8
}

/// Decode the header only: (width, height) of the first page.
pub fn dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    let reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .ok()?;
    let dec = reader.into_decoder().ok()?;
    Some(dec.dimensions())
}

/// Options for [`preprocess`].
#[derive(Debug, Clone, Copy)]
pub struct Preprocess {
    pub normalise_light: bool,
    pub deskew: bool,
    pub binarise: bool,
}

impl Default for Preprocess {
    fn default() -> Self {
        Preprocess {
            normalise_light: true,
            deskew: true,
            binarise: true,
        }
    }
}

impl Preprocess {
    pub const NONE: Preprocess = Preprocess {
        normalise_light: false,
        deskew: false,
        binarise: false,
    };
}

/// The preprocessed page plus what was measured on it.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub image: GrayImage,
    /// The (deskewed, light-normalised) grayscale before binarisation; the
    /// QR decoder prefers it.
    pub gray: GrayImage,
    /// Skew found and corrected, in degrees (positive = counter-clockwise).
    pub skew_degrees: f32,
}

pub fn preprocess(page: &GrayImage, opts: Preprocess) -> Prepared {
    let mut img = page.clone();
    if opts.normalise_light {
        img = normalise_light(&img);
    }
    let mut skew = 0.0;
    if opts.deskew {
        skew = estimate_skew(&img);
        if skew.abs() >= 0.1 {
            img = rotate(&img, -skew);
        }
    }
    let gray = img.clone();
    if opts.binarise {
        let t = otsu_level(&img);
        for p in img.pixels_mut() {
            p.0[0] = if p.0[0] > t { 255 } else { 0 };
        }
    }
    Prepared {
        image: img,
        gray,
        skew_degrees: skew,
    }
}

/// Divide by an estimate of the paper's brightness (max over 32-px blocks,
/// smoothed), which flattens shadows and uneven light from phone photos.
pub fn normalise_light(img: &GrayImage) -> GrayImage {
    const B: u32 = 32;
    let (w, h) = img.dimensions();
    if w < B * 2 || h < B * 2 {
        return img.clone();
    }
    let bw = w.div_ceil(B);
    let bh = h.div_ceil(B);
    let mut bg = vec![0u8; (bw * bh) as usize];
    for by in 0..bh {
        for bx in 0..bw {
            // A high percentile, not the max, so one speck of noise does not win.
            let mut hist = [0u32; 256];
            let mut n = 0;
            for y in (by * B)..((by + 1) * B).min(h) {
                for x in (bx * B)..((bx + 1) * B).min(w) {
                    hist[img.get_pixel(x, y).0[0] as usize] += 1;
                    n += 1;
                }
            }
            let mut acc = 0;
            let mut v = 255u8;
            for i in (0..256).rev() {
                acc += hist[i];
                if acc * 20 >= n {
                    v = i as u8;
                    break;
                }
            }
            bg[(by * bw + bx) as usize] = v;
        }
    }
    // Blocks covered by dark content (a table band, a logo) get the
    // neighbourhood's max: 3×3 dilation, then a 3×3 mean.
    let get = |v: &Vec<u8>, x: i64, y: i64| -> u8 {
        let x = x.clamp(0, bw as i64 - 1) as u32;
        let y = y.clamp(0, bh as i64 - 1) as u32;
        v[(y * bw + x) as usize]
    };
    let mut dil = bg.clone();
    for by in 0..bh as i64 {
        for bx in 0..bw as i64 {
            let mut m = 0;
            for dy in -1..=1 {
                for dx in -1..=1 {
                    m = m.max(get(&bg, bx + dx, by + dy));
                }
            }
            dil[(by as u32 * bw + bx as u32) as usize] = m;
        }
    }
    let mut smooth = dil.clone();
    for by in 0..bh as i64 {
        for bx in 0..bw as i64 {
            let mut s = 0u32;
            for dy in -1..=1 {
                for dx in -1..=1 {
                    s += get(&dil, bx + dx, by + dy) as u32;
                }
            }
            smooth[(by as u32 * bw + bx as u32) as usize] = (s / 9) as u8;
        }
    }
    let mut out = GrayImage::new(w, h);
    for (x, y, p) in out.enumerate_pixels_mut() {
        // Bilinear interpolation of the block grid (block centres).
        let fx = (x as f32 + 0.5) / B as f32 - 0.5;
        let fy = (y as f32 + 0.5) / B as f32 - 0.5;
        let x0 = fx.floor() as i64;
        let y0 = fy.floor() as i64;
        let ax = fx - x0 as f32;
        let ay = fy - y0 as f32;
        let v00 = get(&smooth, x0, y0) as f32;
        let v10 = get(&smooth, x0 + 1, y0) as f32;
        let v01 = get(&smooth, x0, y0 + 1) as f32;
        let v11 = get(&smooth, x0 + 1, y0 + 1) as f32;
        let b = (v00 * (1.0 - ax) + v10 * ax) * (1.0 - ay) + (v01 * (1.0 - ax) + v11 * ax) * ay;
        let v = img.get_pixel(x, y).0[0] as f32;
        let n = if b > 8.0 { v * 255.0 / b } else { v };
        *p = Luma([n.clamp(0.0, 255.0) as u8]);
    }
    out
}

/// Otsu's threshold over the histogram.
pub fn otsu_level(img: &GrayImage) -> u8 {
    let mut hist = [0u64; 256];
    for p in img.pixels() {
        hist[p.0[0] as usize] += 1;
    }
    let total: u64 = hist.iter().sum();
    let sum_all: f64 = hist
        .iter()
        .enumerate()
        .map(|(i, &c)| i as f64 * c as f64)
        .sum();
    let (mut w_b, mut sum_b, mut best, mut level) = (0u64, 0f64, 0f64, 0u8);
    for (t, &c) in hist.iter().enumerate() {
        w_b += c;
        if w_b == 0 {
            continue;
        }
        let w_f = total - w_b;
        if w_f == 0 {
            break;
        }
        sum_b += t as f64 * c as f64;
        let m_b = sum_b / w_b as f64;
        let m_f = (sum_all - sum_b) / w_f as f64;
        let between = w_b as f64 * w_f as f64 * (m_b - m_f) * (m_b - m_f);
        if between > best {
            best = between;
            level = t as u8;
        }
    }
    level
}

/// Skew of text lines in degrees within ±5°, by maximising the variance of
/// the horizontal projection profile of dark pixels (on a 1/4-scale copy).
pub fn estimate_skew(img: &GrayImage) -> f32 {
    const S: u32 = 4;
    let (w, h) = img.dimensions();
    let t = otsu_level(img);
    let mut pts: Vec<(f32, f32)> = Vec::new();
    for y in (0..h).step_by(S as usize) {
        for x in (0..w).step_by(S as usize) {
            if img.get_pixel(x, y).0[0] <= t {
                pts.push(((x / S) as f32, (y / S) as f32));
            }
        }
    }
    if pts.len() < 200 {
        return 0.0;
    }
    let rows = (h / S + w / S) as usize + 8;
    let score = |deg: f32| -> f64 {
        let (s, c) = deg.to_radians().sin_cos();
        let mut hist = vec![0u32; rows * 2];
        for &(x, y) in &pts {
            let r = y * c - x * s + rows as f32;
            if r >= 0.0 && (r as usize) < hist.len() {
                hist[r as usize] += 1;
            }
        }
        hist.windows(2)
            .map(|w| {
                let d = w[1] as f64 - w[0] as f64;
                d * d
            })
            .sum()
    };
    let mut best = (0.0f32, score(0.0));
    let mut a = -5.0f32;
    while a <= 5.0 {
        let sc = score(a);
        if sc > best.1 {
            best = (a, sc);
        }
        a += 0.25;
    }
    // Refine around the best coarse angle.
    let centre = best.0;
    let mut a = centre - 0.25;
    while a <= centre + 0.25 {
        let sc = score(a);
        if sc > best.1 {
            best = (a, sc);
        }
        a += 0.05;
    }
    // The profile is measured with y down; a page rotated counter-clockwise
    // by θ shows lines rising to the right, found here as -θ.
    -best.0
}

/// Rotate about the centre by `deg` degrees counter-clockwise (bilinear,
/// white fill).
pub fn rotate(img: &GrayImage, deg: f32) -> GrayImage {
    let (w, h) = img.dimensions();
    let (s, c) = deg.to_radians().sin_cos();
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
    let mut out = GrayImage::new(w, h);
    let src = img.as_raw();
    for y in 0..h {
        for x in 0..w {
            let dx = x as f32 - cx;
            let dy = y as f32 - cy;
            // Inverse mapping (y axis points down, so CCW on screen uses +s here).
            let sx = dx * c - dy * s + cx;
            let sy = dx * s + dy * c + cy;
            let v = if sx < 0.0 || sy < 0.0 || sx >= (w - 1) as f32 || sy >= (h - 1) as f32 {
                255.0
            } else {
                let x0 = sx as usize;
                let y0 = sy as usize;
                let ax = sx - x0 as f32;
                let ay = sy - y0 as f32;
                let i = y0 * w as usize + x0;
                let p00 = src[i] as f32;
                let p10 = src[i + 1] as f32;
                let p01 = src[i + w as usize] as f32;
                let p11 = src[i + w as usize + 1] as f32;
                (p00 * (1.0 - ax) + p10 * ax) * (1.0 - ay) + (p01 * (1.0 - ax) + p11 * ax) * ay
            };
            out.put_pixel(x, y, Luma([v as u8]));
        }
    }
    out
}

/// Preprocess a page for OCR and, when `want_qr`, look for the DIAN QR
/// (whose area is then blanked so Tesseract does not read it as text).
/// Returns the page to OCR, the QR, and the milliseconds of each part.
pub fn prepare_for_ocr(
    page: &GrayImage,
    opts: Preprocess,
    want_qr: bool,
) -> (Prepared, Option<super::qr::DianQr>, u64, u64) {
    let t0 = std::time::Instant::now();
    let mut p = preprocess(page, opts);
    let prep_ms = t0.elapsed().as_millis() as u64;
    let t1 = std::time::Instant::now();
    let mut q = None;
    if want_qr {
        let found = super::qr::search(page, &p).map(|f| (f.qr, f.bbox, f.margin));
        if let Some((found, (x0, y0, x1, y1), m)) = found {
            let (w, h) = p.image.dimensions();
            for y in y0.saturating_sub(m)..(y1 + m).min(h) {
                for x in x0.saturating_sub(m)..(x1 + m).min(w) {
                    p.image.put_pixel(x, y, Luma([255]));
                }
            }
            q = Some(found);
        }
    }
    (p, q, prep_ms, t1.elapsed().as_millis() as u64)
}

/// Encode as binary PGM (what the OCR child reads fastest).
pub fn to_pgm(img: &GrayImage) -> Vec<u8> {
    let (w, h) = img.dimensions();
    let mut out = format!("P5\n{w} {h}\n255\n").into_bytes();
    out.extend_from_slice(img.as_raw());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stripes(angle: f32) -> GrayImage {
        let mut img = GrayImage::from_pixel(800, 600, Luma([255]));
        for line in 0..12 {
            let y = 60 + line * 40;
            for x in 100..700 {
                for t in 0..6 {
                    img.put_pixel(x, y + t, Luma([0]));
                }
            }
        }
        rotate(&img, angle)
    }

    #[test]
    fn deskew_finds_the_angle() {
        for a in [-3.0f32, -1.5, 0.0, 2.0, 3.0] {
            let est = estimate_skew(&stripes(a));
            assert!((est - a).abs() < 0.3, "rotated {a}, estimated {est}");
        }
    }

    #[test]
    fn otsu_separates_two_levels() {
        let mut img = GrayImage::from_pixel(10, 10, Luma([200]));
        for x in 0..5 {
            img.put_pixel(x, 0, Luma([30]));
        }
        let t = otsu_level(&img);
        assert!((30..200).contains(&t));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode_pages(b"\x89PNG\r\n\x1a\nnot really").is_err());
        assert!(decode_pages(b"II*\0garbage").is_err());
        assert!(decode_pages(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0]).is_err());
    }
}
