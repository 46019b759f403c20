//! File formats: content sniffing and (later) PDF, image and Excel readers.

pub mod detect;
