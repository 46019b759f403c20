//! File formats: content sniffing and (later) PDF, image and Excel readers.

pub mod detect;

pub mod extract;

pub mod image;
pub mod ocr;
pub mod pdf;
pub mod qr;


pub mod text;
pub mod worker;
