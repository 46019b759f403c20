//! The text model every reader produces: lines of words, each word with the
//! confidence of whoever read it (1.0 for a PDF text layer, Tesseract's word
//! confidence for OCR). Field extraction maps a regex match back to the words
//! it covers to know how sure it may be.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Word {
    pub text: String,
    /// 0.0–1.0.
    pub conf: f32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Line {
    pub words: Vec<Word>,
}

impl Line {
    /// Words joined by single spaces (the string regexes run on).
    pub fn text(&self) -> String {
        let mut s = String::new();
        for (i, w) in self.words.iter().enumerate() {
            if i > 0 {
                s.push(' ');
            }
            s.push_str(&w.text);
        }
        s
    }

    /// Lowest confidence among the words overlapping the byte range
    /// `start..end` of [`Line::text`].
    pub fn span_conf(&self, start: usize, end: usize) -> f32 {
        let mut pos = 0;
        let mut min = 1.0f32;
        let mut any = false;
        for w in &self.words {
            let (ws, we) = (pos, pos + w.text.len());
            if ws < end && we > start {
                min = min.min(w.conf);
                any = true;
            }
            pos = we + 1;
        }
        if any { min } else { 1.0 }
    }

    /// A line read from a text layer: every word fully trusted.
    pub fn from_text(s: &str) -> Line {
        Line {
            words: s
                .split_whitespace()
                .map(|w| Word {
                    text: w.to_string(),
                    conf: 1.0,
                })
                .collect(),
        }
    }
}

/// Lines of a text layer (e.g. `pdftotext -layout` output).
pub fn lines_from_text(s: &str) -> Vec<Line> {
    s.lines()
        .map(Line::from_text)
        .filter(|l| !l.words.is_empty())
        .collect()
}

/// The plain text of lines, one per row.
pub fn plain(lines: &[Line]) -> String {
    lines.iter().map(Line::text).collect::<Vec<_>>().join("\n")
}

/// Does a text layer look like real text? Missing ToUnicode maps and broken
/// CID fonts give empty pages, private-use or control characters, or runs of
/// symbols; such a page is rendered and OCR'd instead.
pub fn is_usable(s: &str) -> bool {
    let mut letters = 0usize;
    let mut bad = 0usize;
    let mut total = 0usize;
    for c in s.chars() {
        if c.is_whitespace() {
            continue;
        }
        total += 1;
        if c.is_alphanumeric() && !('\u{E000}'..='\u{F8FF}').contains(&c) {
            letters += 1;
        } else if c == '\u{FFFD}' || c.is_control() || ('\u{E000}'..='\u{F8FF}').contains(&c) {
            bad += 1;
        }
    }
    if letters < 40 {
        return false;
    }
    // Words made of letters: real text has many words of 3+ letters.
    let words = s
        .split_whitespace()
        .filter(|w| w.chars().filter(|c| c.is_alphabetic()).count() >= 3)
        .count();
    bad * 20 < total && letters * 2 > total && words >= 8
}

/// Character error rate between a reference and a hypothesis, after
/// collapsing whitespace (Levenshtein distance / reference length).
pub fn cer(reference: &str, hypothesis: &str) -> f64 {
    let norm = |s: &str| -> Vec<char> {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .collect()
    };
    let r = norm(reference);
    let h = norm(hypothesis);
    if r.is_empty() {
        return if h.is_empty() { 0.0 } else { 1.0 };
    }
    let mut prev: Vec<usize> = (0..=h.len()).collect();
    let mut cur = vec![0; h.len() + 1];
    for i in 1..=r.len() {
        cur[0] = i;
        for j in 1..=h.len() {
            let sub = prev[j - 1] + usize::from(r[i - 1] != h[j - 1]);
            cur[j] = sub.min(prev[j] + 1).min(cur[j - 1] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[h.len()] as f64 / r.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_confidence_takes_the_weakest_word() {
        let l = Line {
            words: vec![
                Word {
                    text: "Total".into(),
                    conf: 0.9,
                },
                Word {
                    text: "$".into(),
                    conf: 0.5,
                },
                Word {
                    text: "1.000".into(),
                    conf: 0.8,
                },
            ],
        };
        let t = l.text();
        let s = t.find("1.000").unwrap();
        assert_eq!(l.span_conf(s, s + 5), 0.8);
        assert_eq!(l.span_conf(0, t.len()), 0.5);
    }

    #[test]
    fn usable_text() {
        assert!(is_usable(
            "Factura electrónica de venta No. SETP990000123 Fecha de emisión 2024-01-01 Cliente Distribuidora Agropecuaria del Llano Total a pagar"
        ));
        assert!(!is_usable(""));
        assert!(!is_usable("\u{FFFD}\u{FFFD}\u{FFFD} !!! ### $$$"));
    }

    #[test]
    fn cer_counts_edits() {
        assert_eq!(cer("abcd", "abcd"), 0.0);
        assert_eq!(cer("abcd", "abxd"), 0.25);
        assert_eq!(cer("a  b", "a b"), 0.0);
    }
}
