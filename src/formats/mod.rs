//! File formats: content sniffing, PDF, image (OCR, QR) and Excel readers.
//! See docs/FORMATS.md.

pub mod decode;
pub mod detect;
pub mod excel;
pub mod extract;
// Test and benchmark support: not in a release build (feature `test-support`).
#[cfg(any(test, feature = "test-support"))]
pub mod generate;
pub mod image;
pub mod ocr;
pub mod pdf;
pub mod qr;
pub mod read;
pub mod sandbox;
pub mod text;
pub mod worker;
pub mod zipguard;
