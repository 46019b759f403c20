//! File formats: content sniffing and (later) PDF, image and Excel readers.

pub mod detect;
pub mod excel;

pub mod extract;
pub mod generate;

pub mod image;
pub mod ocr;
pub mod pdf;
pub mod qr;
pub mod read;


pub mod text;
pub mod worker;
