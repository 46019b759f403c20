//! Text normalisation for description matching (pure).
//!
//! Lower case, accents folded (á→a, ñ→n), punctuation to spaces; then tokens
//! that say nothing about *which* product it is are dropped: stop words,
//! numbers, quantities with units ("500gr", "x4"), unit and packaging words.
//! The word lists come from `[normalise]` in `rules/catalog.toml`.

use std::collections::HashSet;

/// Fold case and accents; keep letters, digits and spaces (others → space).
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = match c {
            'á' | 'à' | 'ä' | 'â' | 'Á' | 'À' | 'Ä' | 'Â' => 'a',
            'é' | 'è' | 'ë' | 'ê' | 'É' | 'È' | 'Ë' | 'Ê' => 'e',
            'í' | 'ì' | 'ï' | 'î' | 'Í' | 'Ì' | 'Ï' | 'Î' => 'i',
            'ó' | 'ò' | 'ö' | 'ô' | 'Ó' | 'Ò' | 'Ö' | 'Ô' => 'o',
            'ú' | 'ù' | 'ü' | 'û' | 'Ú' | 'Ù' | 'Ü' | 'Û' => 'u',
            'ñ' | 'Ñ' => 'n',
            'ç' | 'Ç' => 'c',
            c if c.is_ascii_alphanumeric() => c.to_ascii_lowercase(),
            '_' => '_',
            _ => ' ',
        };
        out.push(c);
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The word lists that normalisation drops.
#[derive(Debug, Clone, Default)]
pub struct Normalizer {
    pub stopwords: HashSet<String>,
    pub unit_words: HashSet<String>,
    pub packaging_words: HashSet<String>,
}

impl Normalizer {
    pub fn new(stop: &[String], units: &[String], packaging: &[String]) -> Normalizer {
        let f = |xs: &[String]| xs.iter().map(|x| fold(x)).collect::<HashSet<_>>();
        Normalizer {
            stopwords: f(stop),
            unit_words: f(units),
            packaging_words: f(packaging),
        }
    }

    /// Is this token a quantity: a number, or a number glued to a unit
    /// ("500gr", "x4", "4und", "1.5kg" already split by `fold`)?
    fn is_quantity(&self, t: &str) -> bool {
        let t = t.strip_prefix('x').unwrap_or(t);
        let digits = t.bytes().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return false;
        }
        let rest = &t[digits..];
        rest.is_empty() || self.unit_words.contains(rest)
    }

    /// Normalised tokens, in order, deduplicated; plural `s` removed.
    pub fn tokens(&self, s: &str) -> Vec<String> {
        let folded = fold(s);
        let mut out: Vec<String> = Vec::new();
        for t in folded.split(' ') {
            if t.is_empty()
                || self.stopwords.contains(t)
                || self.unit_words.contains(t)
                || self.packaging_words.contains(t)
                || self.is_quantity(t)
            {
                continue;
            }
            let t = singular(t);
            if !out.iter().any(|x| x == &t) {
                out.push(t);
            }
        }
        out
    }

    /// Tokens joined by one space: the key for alias lookups.
    pub fn key(&self, s: &str) -> String {
        self.tokens(s).join(" ")
    }
}

/// Crude Spanish singular: "arepas" → "arepa", "limones" → "limon".
fn singular(t: &str) -> String {
    if t.len() > 4 && t.ends_with("es") && !t.ends_with("ees") {
        let stem = &t[..t.len() - 2];
        // limones → limon, but "tomates" → "tomat" would be wrong: only strip
        // "es" after a consonant that cannot end a Spanish singular with "e".
        if stem.ends_with(['n', 'r', 'l', 'd', 'z', 's']) {
            return stem.to_string();
        }
    }
    if t.len() > 3 && t.ends_with('s') && !t.ends_with("ss") {
        return t[..t.len() - 1].to_string();
    }
    t.to_string()
}

/// Character trigrams of a token padded with spaces, for fuzzy token matches
/// ("mozarella" ~ "mozzarella").
pub fn trigrams(t: &str) -> Vec<[u8; 3]> {
    let padded: Vec<u8> = std::iter::once(b' ')
        .chain(t.bytes())
        .chain(std::iter::once(b' '))
        .collect();
    let mut v: Vec<[u8; 3]> = padded.windows(3).map(|w| [w[0], w[1], w[2]]).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Dice similarity of two sorted, deduplicated trigram lists.
pub fn trigram_similarity(a: &[[u8; 3]], b: &[[u8; 3]]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let (mut i, mut j, mut common) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                common += 1;
                i += 1;
                j += 1;
            }
        }
    }
    2.0 * common as f64 / (a.len() + b.len()) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n() -> Normalizer {
        let s = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        Normalizer::new(
            &s(&["de", "con", "x", "por", "y"]),
            &s(&["und", "kg", "gr", "g"]),
            &s(&["bulto", "caja"]),
        )
    }

    #[test]
    fn folds_accents_and_drops_noise() {
        assert_eq!(fold("Café  ÑAME-Limón"), "cafe name limon");
        assert_eq!(
            n().tokens("AREPA CON QUESO MOZARELLA x 4 und"),
            vec!["arepa", "queso", "mozarella"]
        );
        assert_eq!(n().tokens("Bulto de papas x 50kg"), vec!["papa"]);
        assert_eq!(n().tokens("LIMONES 500gr"), vec!["limon"]);
    }

    #[test]
    fn trigram_similarity_tolerates_typos() {
        assert!(trigram_similarity(&trigrams("mozarella"), &trigrams("mozzarella")) > 0.7);
        assert!(trigram_similarity(&trigrams("queso"), &trigrams("arroz")) < 0.2);
    }
}
