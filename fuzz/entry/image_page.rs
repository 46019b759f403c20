//! The image decoder that runs in the sandboxed worker (`pasarela decode
//! image`): any bytes as PNG/JPEG/TIFF/PNM, page by page (TIFF directories
//! skipped without decoding), then the OCR preparation and QR search on small
//! pages. Decoding is bounded by the decoders' own limits (side, allocation,
//! pages); any panic is a bug.

use pasarela::formats::image::{self, Preprocess};

/// One input, as the fuzzer and the replay test (tests/it/fuzz_replay.rs) give it.
pub fn run(data: &[u8]) {
    for index in 0..3 {
        match image::decode_page(data, index) {
            Ok((page, more)) => {
                if u64::from(page.width()) * u64::from(page.height()) <= 250_000 {
                    let _ = image::prepare_for_ocr(&page, Preprocess::default(), true);
                }
                if !more {
                    break;
                }
            }
            Err(_) => break,
        }
    }
}
