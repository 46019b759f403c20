//! The field extractor behind PDFs, scans and photos: text lines (with OCR
//! word confidences) → invoice fields with confidences → review decision, and
//! the DIAN QR payload parser whose fields override the text's. Any panic is
//! a bug; so is a confidence outside 0–1.

use pasarela::formats::extract::{self, ReviewPolicy};
use pasarela::formats::qr;
use pasarela::formats::text::{Line, Word};

/// One input, as the fuzzer and the replay test (tests/it/fuzz_replay.rs) give it.
pub fn run(data: &[u8]) {
    // First byte: OCR or text layer, and whether the rest is also a QR payload.
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    // Word confidences from the characters' bytes, so the fuzzer controls them.
    let lines: Vec<Line> = text
        .lines()
        .take(400)
        .map(|l| Line {
            words: l
                .split_whitespace()
                .map(|w| Word {
                    text: w.to_string(),
                    conf: (w.len() % 101) as f32 / 100.0,
                })
                .collect(),
        })
        .collect();
    let mut x = extract::from_lines(&lines, mode & 1 == 1);
    let mut findings = Vec::new();
    if mode & 2 == 2
        && let Some(q) = qr::parse(&text)
    {
        extract::apply_qr(&mut x, &q, &mut findings);
    }
    let (review, _) = extract::assess(&x, &ReviewPolicy::default());
    let json = serde_json::to_value(&x).expect("extraction serialises");
    for (name, f) in json.as_object().into_iter().flatten() {
        if let Some(c) = f.get("confidence").and_then(|c| c.as_f64()) {
            assert!((0.0..=1.0).contains(&c), "{name}: confidence {c}");
        }
    }
    let _ = review;
}
