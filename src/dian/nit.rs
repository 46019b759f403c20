//! The NIT (Número de Identificación Tributaria) and its check digit (DV):
//! DIAN's algorithm and the normalisations the rest of the daemon uses. Pure.
//!
//! A NIT is written `900373991-9` or `900.373.991-9`: up to 15 digits, then
//! the DV after a dash. Documents carry the DV apart
//! (`CompanyID@schemeID`); spreadsheets and PDFs print it after the dash.

/// DIAN's weights, from the rightmost digit of the NIT leftwards.
const DV_WEIGHTS: [u32; 15] = [3, 7, 13, 17, 19, 23, 29, 37, 41, 43, 47, 53, 59, 67, 71];

/// The check digit of a NIT given as plain digits, or `None` when it is not
/// 1–15 ASCII digits.
pub fn check_digit(nit: &str) -> Option<u8> {
    if nit.is_empty() || nit.len() > DV_WEIGHTS.len() || !nit.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sum: u32 = nit
        .bytes()
        .rev()
        .zip(DV_WEIGHTS.iter())
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    let r = sum % 11;
    // r < 11, so the digit always fits.
    Some(if r <= 1 { r as u8 } else { (11 - r) as u8 })
}

/// Does a printed DV (e.g. "9") match the NIT's check digit? `Some(dv)` when
/// it does; `None` when it does not, is not a number, or the NIT is not
/// 1–15 digits.
pub fn printed_dv_matches(nit: &str, printed: &str) -> Option<u8> {
    match (printed.parse::<u8>(), check_digit(nit)) {
        (Ok(p), Some(c)) if p == c => Some(p),
        _ => None,
    }
}

/// Normalise a NIT for comparison: the digits of the part before any '-'
/// (dots, spaces and the DV are ignored).
pub fn normalize(s: &str) -> String {
    let main = s.split('-').next().unwrap_or(s);
    main.chars().filter(|c| c.is_ascii_digit()).collect()
}

/// A NIT as typed into a form or a cell (`900.373.991-9`): the number's
/// digits (thousands separators '.', ' ' and ',' dropped) and the DV text
/// after the first '-', if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Typed<'a> {
    pub digits: String,
    pub dv: Option<&'a str>,
}

/// Split a typed NIT; `None` when the number is not 1–15 digits once its
/// separators are dropped. The DV is not checked (see [`printed_dv_matches`]).
pub fn parse_typed(raw: &str) -> Option<Typed<'_>> {
    let (number, dv) = match raw.split_once('-') {
        Some((n, d)) => (n, Some(d.trim())),
        None => (raw, None),
    };
    let digits: String = number
        .chars()
        .filter(|c| !matches!(c, '.' | ' ' | ','))
        .collect();
    if digits.is_empty()
        || digits.len() > DV_WEIGHTS.len()
        || !digits.chars().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    Some(Typed { digits, dv })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_digits_of_known_nits() {
        for (nit, dv) in [
            ("800197268", 4),
            ("900108281", 3),
            ("900373991", 9),
            ("900374637", 0),
            ("860028580", 2),
            ("890903938", 8),
            ("860034313", 7),
        ] {
            assert_eq!(check_digit(nit), Some(dv), "{nit}");
        }
    }

    #[test]
    fn check_digit_needs_1_to_15_digits() {
        assert_eq!(check_digit("80019726X"), None);
        assert_eq!(check_digit("12a"), None);
        assert_eq!(check_digit(""), None);
        assert_eq!(check_digit("1234567890123456"), None);
        assert!(check_digit("123456789012345").is_some());
    }

    #[test]
    fn printed_dv() {
        assert_eq!(printed_dv_matches("900373991", "9"), Some(9));
        assert_eq!(printed_dv_matches("900373991", "09"), Some(9));
        assert_eq!(printed_dv_matches("900373991", "8"), None);
        assert_eq!(printed_dv_matches("900373991", "x"), None);
        assert_eq!(printed_dv_matches("9003a3991", "9"), None);
    }

    #[test]
    fn normalize_keeps_the_number_digits() {
        assert_eq!(normalize("900.373.991-9"), "900373991");
        assert_eq!(normalize(" 900 373 991 "), "900373991");
        assert_eq!(normalize("900373991"), "900373991");
        assert_eq!(normalize("-9"), "");
    }

    #[test]
    fn parse_typed_splits_number_and_dv() {
        assert_eq!(
            parse_typed("900.373.991-9"),
            Some(Typed {
                digits: "900373991".into(),
                dv: Some("9")
            })
        );
        assert_eq!(
            parse_typed("900,373,991"),
            Some(Typed {
                digits: "900373991".into(),
                dv: None
            })
        );
        assert_eq!(parse_typed("90037399A-9"), None);
        assert_eq!(parse_typed("-9"), None);
        assert_eq!(parse_typed("1234567890123456"), None);
    }
}
