//! The daemon's side of the sandboxed decoders (`formats::decode`): what a
//! `pasarela decode` child prints is parsed and checked in the daemon, and a
//! compromised child is as hostile as the file it read. Arbitrary bytes as a
//! workbook (sheets rebuilt only within the cell bound) and as an image page.
//! Any panic, or a rebuilt sheet beyond the bound, is a bug.

use pasarela::formats::decode::{self, MAX_SHEET_CELLS, WireBook, WirePage};

/// One input, as the fuzzer and the replay test (tests/it/fuzz_replay.rs) give it.
pub fn run(data: &[u8]) {
    if let Ok(w) = serde_json::from_slice::<WireBook>(data)
        && let Ok(book) = decode::book_from_wire(w)
    {
        for (_, r) in &book.ranges {
            let (h, w) = r.get_size();
            assert!((h as u64) * (w as u64) <= MAX_SHEET_CELLS);
        }
    }
    let _ = serde_json::from_slice::<WirePage>(data);
}
