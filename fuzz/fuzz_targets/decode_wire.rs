//! The daemon's side of the sandboxed decoders (`formats::decode`): what a
//! `pasarela decode` child prints is parsed and checked in the daemon, and a
//! compromised child is as hostile as the file it read. Arbitrary bytes as a
//! workbook (sheets rebuilt only within the cell bound) and as an image page.
//! Any panic, or a rebuilt sheet beyond the bound, is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pasarela::formats::decode::{self, MAX_SHEET_CELLS, WireBook, WirePage};

fuzz_target!(|data: &[u8]| {
    if let Ok(w) = serde_json::from_slice::<WireBook>(data)
        && let Ok(book) = decode::book_from_wire(w)
    {
        for (_, r) in &book.ranges {
            let (h, w) = r.get_size();
            assert!((h as u64) * (w as u64) <= MAX_SHEET_CELLS);
        }
    }
    let _ = serde_json::from_slice::<WirePage>(data);
});
