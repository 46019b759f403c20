//! Degrading rendered pages as scanners and phones do, and encoding them.

use super::*;

/// How a page is degraded.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Degradation {
    pub rotate_degrees: f32,
    pub blur_passes: u8,
    pub noise_sigma: f32,
    /// Darkest light factor of the gradient (1.0 = even light).
    pub light_min: f32,
    /// JPEG quality (0 = lossless PNG).
    pub jpeg_quality: u8,
}

impl Degradation {
    /// A flatbed scan: slight tilt, mild noise.
    pub fn scan(rng: &mut Rng) -> Degradation {
        Degradation {
            rotate_degrees: (rng.f32() * 2.0 - 1.0) * 1.5,
            blur_passes: rng.range(0, 2) as u8,
            noise_sigma: 3.0 + rng.f32() * 6.0,
            light_min: 1.0,
            jpeg_quality: if rng.chance(0.5) { 0 } else { 85 },
        }
    }
    /// A phone photo: up to ±3°, blur, noise, uneven light, JPEG.
    pub fn photo(rng: &mut Rng) -> Degradation {
        Degradation {
            rotate_degrees: (rng.f32() * 2.0 - 1.0) * 3.0,
            blur_passes: rng.range(1, 3) as u8,
            noise_sigma: 6.0 + rng.f32() * 8.0,
            light_min: 0.55 + rng.f32() * 0.3,
            jpeg_quality: 50 + rng.range(0, 36) as u8,
        }
    }
}

/// Apply a degradation (pure; deterministic for a given `rng`).
pub fn degrade(page: &GrayImage, d: &Degradation, rng: &mut Rng) -> GrayImage {
    let mut im = if d.rotate_degrees.abs() > 0.01 {
        img::rotate(page, d.rotate_degrees)
    } else {
        page.clone()
    };
    for _ in 0..d.blur_passes {
        im = box_blur3(&im);
    }
    let (w, h) = im.dimensions();
    let angle = rng.f32() * std::f32::consts::TAU;
    let (dx, dy) = (angle.cos(), angle.sin());
    let diag = ((w * w + h * h) as f32).sqrt();
    for (x, y, p) in im.enumerate_pixels_mut() {
        let mut v = p.0[0] as f32;
        if d.light_min < 1.0 {
            let t =
                ((x as f32 - w as f32 / 2.0) * dx + (y as f32 - h as f32 / 2.0) * dy) / diag + 0.5;
            v *= d.light_min + (1.0 - d.light_min) * t.clamp(0.0, 1.0);
        }
        if d.noise_sigma > 0.0 {
            v += rng.gauss() * d.noise_sigma;
        }
        *p = Luma([v.clamp(0.0, 255.0) as u8]);
    }
    im
}

pub(super) fn box_blur3(im: &GrayImage) -> GrayImage {
    let (w, h) = im.dimensions();
    let mut out = im.clone();
    for y in 1..h.saturating_sub(1) {
        for x in 1..w.saturating_sub(1) {
            let mut s = 0u32;
            for dy in 0..3 {
                for dx in 0..3 {
                    s += im.get_pixel(x + dx - 1, y + dy - 1).0[0] as u32;
                }
            }
            out.put_pixel(x, y, Luma([(s / 9) as u8]));
        }
    }
    out
}

/// Encode a page as JPEG (quality > 0), else PNG.
pub fn encode(page: &GrayImage, jpeg_quality: u8) -> Vec<u8> {
    let mut buf = Cursor::new(Vec::new());
    let res = if jpeg_quality > 0 {
        let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, jpeg_quality);
        page.write_with_encoder(enc)
    } else {
        page.write_to(&mut buf, image::ImageFormat::Png)
    };
    if res.is_err() {
        return Vec::new();
    }
    buf.into_inner()
}

/// A multi-page TIFF (uncompressed grayscale).
pub fn tiff_pages(pages: &[GrayImage]) -> Vec<u8> {
    let mut buf = Cursor::new(Vec::new());
    {
        let Ok(mut enc) = tiff::encoder::TiffEncoder::new(&mut buf) else {
            return Vec::new();
        };
        for p in pages {
            if enc
                .write_image::<tiff::encoder::colortype::Gray8>(p.width(), p.height(), p.as_raw())
                .is_err()
            {
                return Vec::new();
            }
        }
    }
    buf.into_inner()
}

/// Convenience for callers without a runtime at hand: a worker error as text.
pub fn describe(e: &WorkerError) -> String {
    e.to_string()
}
