//! CUFE/CUDE and the software security code: pure functions (the NIT
//! check digit is in [`super::nit`]).

use rust_decimal::Decimal;
use sha2::{Digest, Sha384};

/// Lowercase hex SHA-384.
pub fn sha384_hex(s: &str) -> String {
    hex::encode(Sha384::digest(s.as_bytes()))
}

/// DIAN amount format: truncated (not rounded) to 2 decimals, '.' separator.
pub fn amount(d: Decimal) -> String {
    let t = d.trunc_with_scale(2);
    format!("{t:.2}")
}

/// The fields of the CUFE/CUDE pre-hash string, in DIAN's order.
#[derive(Debug, Clone, Default)]
pub struct KeyInput<'a> {
    pub number: &'a str,
    pub issue_date: &'a str,
    pub issue_time: &'a str,
    pub line_extension: Decimal,
    pub iva: Decimal,
    pub inc: Decimal,
    pub ica: Decimal,
    pub payable: Decimal,
    pub supplier_nit: &'a str,
    pub customer_id: &'a str,
    /// Technical key (CUFE) or software PIN (CUDE).
    pub secret: &'a str,
    pub environment: &'a str,
}

impl KeyInput<'_> {
    /// The concatenation DIAN hashes.
    pub fn prehash(&self) -> String {
        format!(
            "{}{}{}{}01{}04{}03{}{}{}{}{}{}",
            self.number,
            self.issue_date,
            self.issue_time,
            amount(self.line_extension),
            amount(self.iva),
            amount(self.inc),
            amount(self.ica),
            amount(self.payable),
            self.supplier_nit,
            self.customer_id,
            self.secret,
            self.environment
        )
    }
    pub fn key(&self) -> String {
        sha384_hex(&self.prehash())
    }
}

/// SoftwareSecurityCode = SHA-384(SoftwareID + PIN + NumFac).
pub fn software_security_code(software_id: &str, pin: &str, number: &str) -> String {
    sha384_hex(&format!("{software_id}{pin}{number}"))
}

/// Is this 96 lowercase hex characters?
/// 96 hexadecimal digits, in either case: DIAN compares CUFE/CUDE values
/// case-insensitively (they are computed in lower case).
pub fn is_sha384_hex(s: &str) -> bool {
    s.len() == 96 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_truncate() {
        assert_eq!(amount(Decimal::new(123456, 3)), "123.45");
        assert_eq!(amount(Decimal::new(5, 0)), "5.00");
    }
}
