//! Amounts and dates as printed on Colombian invoices.

use super::*;

pub(super) fn re(p: &str) -> Regex {
    // Invariant: every pattern is a constant covered by the unit tests.
    Regex::new(p).expect("constant regex")
}

/// Parse an amount as printed in Colombia ("$ 1.234.567,89") or in the
/// international form ("1,234,567.89"); a separator followed by 1–2 final
/// digits is the decimal one.
pub fn parse_money(s: &str) -> Option<Decimal> {
    let t: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '$')
        .collect();
    let t = t.trim_end_matches(['.', ',']);
    if t.is_empty()
        || !t
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == ',')
    {
        return None;
    }
    let last_sep = t.rfind(['.', ',']);
    let (int_part, frac) = match last_sep {
        Some(i) if t.len() - i - 1 <= 2 => (&t[..i], &t[i + 1..]),
        _ => (t, ""),
    };
    let int_digits: String = int_part.chars().filter(char::is_ascii_digit).collect();
    if int_digits.is_empty() {
        return None;
    }
    let v = if frac.is_empty() {
        int_digits
    } else {
        format!("{int_digits}.{frac}")
    };
    Decimal::from_str(&v).ok().map(|d| d.round_dp(2))
}

pub(super) fn money_str(d: Decimal) -> String {
    let mut d = d.round_dp(2);
    d.rescale(2);
    d.to_string()
}

/// Spanish month names, January first (also used by the invoice generator).
pub(crate) const MONTHS: &[&str] = &[
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
];

/// `2024-03-15`, `15/03/2024`, `15-03-2024`, `15 de marzo de 2024`.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(d);
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y/%m/%d") {
        return Some(d);
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%d/%m/%Y") {
        return Some(d);
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%d-%m-%Y") {
        return Some(d);
    }
    let lower = s.to_lowercase();
    let parts: Vec<&str> = lower
        .split_whitespace()
        .filter(|w| *w != "de" && *w != "del")
        .collect();
    if parts.len() == 3 {
        let day: u32 = parts[0].parse().ok()?;
        let m = MONTHS
            .iter()
            .position(|m| *m == parts[1] || (parts[1] == "setiembre" && *m == "septiembre"))?;
        let year: i32 = parts[2].parse().ok()?;
        return NaiveDate::from_ymd_opt(year, m as u32 + 1, day);
    }
    None
}
