//! File formats: content sniffing, PDF, image (OCR, QR) and Excel readers.
//! See docs/FORMATS.md.

pub mod decode;
pub mod detect;
pub mod excel;
pub mod extract;
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
