//! Certificates, the caller's trust anchors and offline CRLs, and the chain
//! from a signing certificate to an anchor.
//!
//! Pure: the caller reads the PEM/DER files (a file or a folder of accredited
//! CAs, CRLs when configured) and hands the bytes to [`TrustStore`].

use base64::Engine as _;
use x509_cert::Certificate;
use x509_cert::crl::CertificateList;
use x509_cert::der::{self, Decode, Encode};
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage};

use super::algo::{self, Hash};

/// Most certificates a chain may have (leaf included).
pub const MAX_CHAIN: usize = 8;

/// Why a trust-store input was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    #[error("PEM block {index} ({label}) is not valid base64")]
    Base64 { index: usize, label: String },
    #[error("certificate {index} is not a valid X.509 certificate: {reason}")]
    Certificate { index: usize, reason: String },
    #[error("CRL {index} is not a valid X.509 CRL: {reason}")]
    Crl { index: usize, reason: String },
    #[error("no PEM block found")]
    NoPem,
}

/// A parsed certificate with its DER.
#[derive(Debug, Clone)]
pub struct Cert {
    pub der: Vec<u8>,
    pub cert: Certificate,
    subject_der: Vec<u8>,
    issuer_der: Vec<u8>,
    tbs_der: Vec<u8>,
}

fn unix(t: x509_cert::time::Time) -> i64 {
    i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
}

/// Big-endian unsigned bytes → decimal (X.509 serials are up to 20 bytes).
pub fn decimal(bytes: &[u8]) -> String {
    let mut digits: Vec<u8> = vec![0]; // little-endian base 10
    for &b in bytes {
        let mut carry = b as u32;
        for d in digits.iter_mut() {
            let v = (*d as u32) * 256 + carry;
            *d = (v % 10) as u8;
            carry = v / 10;
        }
        while carry > 0 {
            digits.push((carry % 10) as u8);
            carry /= 10;
        }
    }
    while digits.len() > 1 && digits.last() == Some(&0) {
        digits.pop();
    }
    digits.iter().rev().map(|d| char::from(b'0' + d)).collect()
}

/// The printable value of a directory string attribute.
fn attr_text(v: &der::Any) -> String {
    String::from_utf8_lossy(v.value()).into_owned()
}

impl Cert {
    pub fn from_der(der: &[u8]) -> Result<Cert, String> {
        let cert = Certificate::from_der(der).map_err(|e| e.to_string())?;
        let tbs = cert.tbs_certificate();
        let subject_der = tbs.subject().to_der().map_err(|e| e.to_string())?;
        let issuer_der = tbs.issuer().to_der().map_err(|e| e.to_string())?;
        let tbs_der = tbs.to_der().map_err(|e| e.to_string())?;
        Ok(Cert {
            der: der.to_vec(),
            cert,
            subject_der,
            issuer_der,
            tbs_der,
        })
    }

    pub fn serial_decimal(&self) -> String {
        decimal(self.cert.tbs_certificate().serial_number().as_bytes())
    }

    pub fn serial_bytes(&self) -> &[u8] {
        self.cert.tbs_certificate().serial_number().as_bytes()
    }

    /// Validity period as Unix seconds (not before, not after).
    pub fn validity(&self) -> (i64, i64) {
        let v = self.cert.tbs_certificate().validity();
        (unix(v.not_before), unix(v.not_after))
    }

    /// The subject's attribute values, for messages ("CN=…, O=…").
    pub fn subject_text(&self) -> String {
        name_text(self.cert.tbs_certificate().subject())
    }

    pub fn issuer_text(&self) -> String {
        name_text(self.cert.tbs_certificate().issuer())
    }

    /// The issuer's attribute values (no types), for loose name matching.
    pub fn issuer_values(&self) -> Vec<String> {
        self.cert
            .tbs_certificate()
            .issuer()
            .iter()
            .map(|a| attr_text(&a.value))
            .collect()
    }

    pub fn is_self_issued(&self) -> bool {
        self.subject_der == self.issuer_der
    }

    /// True when `issuer`'s subject is this certificate's issuer.
    pub fn named_issuer_is(&self, issuer: &Cert) -> bool {
        self.issuer_der == issuer.subject_der
    }

    /// Basic constraints say CA (absent = not a CA).
    pub fn is_ca(&self) -> bool {
        matches!(
            self.cert.tbs_certificate().get_extension::<BasicConstraints>(),
            Ok(Some((_, bc))) if bc.ca
        )
    }

    /// The key usage extension, when present and readable.
    pub fn key_usage(&self) -> Option<KeyUsage> {
        self.cert
            .tbs_certificate()
            .get_extension::<KeyUsage>()
            .ok()
            .flatten()
            .map(|(_, ku)| ku)
    }

    /// The RSA public key of the certificate.
    pub fn rsa_key(&self) -> Result<rsa::RsaPublicKey, String> {
        let spki = self.cert.tbs_certificate().subject_public_key_info();
        if spki.algorithm.oid.to_string() != algo::RSA_ENCRYPTION_OID {
            return Err(format!(
                "la clave del certificado no es RSA (algoritmo {})",
                spki.algorithm.oid
            ));
        }
        let bits = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| "clave pública con bits sobrantes".to_owned())?;
        algo::rsa_key(bits)
    }

    /// True when this certificate's signature verifies with `issuer`'s key.
    pub fn signed_by(&self, issuer: &Cert) -> bool {
        let Some(hash) = Hash::from_rsa_oid(&self.cert.signature_algorithm().oid.to_string())
        else {
            return false;
        };
        let (Ok(key), Some(sig)) = (issuer.rsa_key(), self.cert.signature().as_bytes()) else {
            return false;
        };
        algo::rsa_verify(&key, hash, &self.tbs_der, sig)
    }
}

fn name_text(name: &x509_cert::name::Name) -> String {
    name.iter()
        .map(|a| {
            let ty = match a.oid.to_string().as_str() {
                "2.5.4.3" => "CN".to_owned(),
                "2.5.4.10" => "O".to_owned(),
                "2.5.4.11" => "OU".to_owned(),
                "2.5.4.6" => "C".to_owned(),
                "2.5.4.7" => "L".to_owned(),
                "2.5.4.8" => "ST".to_owned(),
                "2.5.4.5" => "SERIALNUMBER".to_owned(),
                "2.5.4.9" => "STREET".to_owned(),
                "2.5.4.12" => "T".to_owned(),
                "1.2.840.113549.1.9.1" => "E".to_owned(),
                other => other.to_owned(),
            };
            format!("{ty}={}", attr_text(&a.value))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// An offline CRL.
#[derive(Debug, Clone)]
pub struct Crl {
    list: CertificateList,
    issuer_der: Vec<u8>,
    tbs_der: Vec<u8>,
}

impl Crl {
    pub fn from_der(der: &[u8]) -> Result<Crl, String> {
        let list = CertificateList::from_der(der).map_err(|e| e.to_string())?;
        let issuer_der = list
            .tbs_cert_list
            .issuer
            .to_der()
            .map_err(|e| e.to_string())?;
        let tbs_der = list.tbs_cert_list.to_der().map_err(|e| e.to_string())?;
        Ok(Crl {
            list,
            issuer_der,
            tbs_der,
        })
    }

    fn signed_by(&self, issuer: &Cert) -> bool {
        let Some(hash) = Hash::from_rsa_oid(&self.list.signature_algorithm.oid.to_string()) else {
            return false;
        };
        let (Ok(key), Some(sig)) = (issuer.rsa_key(), self.list.signature.as_bytes()) else {
            return false;
        };
        algo::rsa_verify(&key, hash, &self.tbs_der, sig)
    }

    /// Revocation time (Unix seconds) of `serial`, if listed.
    fn revoked_at(&self, serial: &[u8]) -> Option<i64> {
        self.list
            .tbs_cert_list
            .revoked_certificates
            .as_ref()?
            .iter()
            .find(|r| r.serial_number.as_bytes() == serial)
            .map(|r| unix(r.revocation_date))
    }
}

/// Trust anchors (accredited CAs) and offline CRLs, built by the caller.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    anchors: Vec<Cert>,
    crls: Vec<Crl>,
}

/// PEM blocks of `text`: (label, DER).
fn pem_blocks(text: &[u8]) -> Result<Vec<(String, Vec<u8>)>, TrustError> {
    let text = String::from_utf8_lossy(text);
    let mut out = Vec::new();
    let mut rest: &str = &text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + 11..];
        let Some(label_end) = after.find("-----") else {
            break;
        };
        let label = after[..label_end].to_owned();
        let body = &after[label_end + 5..];
        let end_marker = format!("-----END {label}-----");
        let Some(end) = body.find(&end_marker) else {
            break;
        };
        let b64: String = body[..end]
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64.as_bytes())
            .map_err(|_| TrustError::Base64 {
                index: out.len(),
                label: label.clone(),
            })?;
        out.push((label, der));
        rest = &body[end + end_marker.len()..];
    }
    Ok(out)
}

impl TrustStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }

    pub fn anchors(&self) -> &[Cert] {
        &self.anchors
    }

    /// Add one DER certificate as a trust anchor.
    pub fn add_der(&mut self, der: &[u8]) -> Result<(), TrustError> {
        let cert =
            Cert::from_der(der).map_err(|reason| TrustError::Certificate { index: 0, reason })?;
        self.anchors.push(cert);
        Ok(())
    }

    /// Add every `CERTIFICATE` and `X509 CRL` block of a PEM text (a file,
    /// or files of a folder concatenated). Returns how many were added.
    pub fn add_pem(&mut self, pem: &[u8]) -> Result<usize, TrustError> {
        let blocks = pem_blocks(pem)?;
        if blocks.is_empty() {
            return Err(TrustError::NoPem);
        }
        let mut added = 0;
        for (index, (label, der)) in blocks.into_iter().enumerate() {
            match label.as_str() {
                "CERTIFICATE" | "TRUSTED CERTIFICATE" => {
                    let cert = Cert::from_der(&der)
                        .map_err(|reason| TrustError::Certificate { index, reason })?;
                    self.anchors.push(cert);
                    added += 1;
                }
                "X509 CRL" => {
                    let crl =
                        Crl::from_der(&der).map_err(|reason| TrustError::Crl { index, reason })?;
                    self.crls.push(crl);
                    added += 1;
                }
                _ => {}
            }
        }
        Ok(added)
    }

    /// Add one DER CRL.
    pub fn add_crl_der(&mut self, der: &[u8]) -> Result<(), TrustError> {
        let crl = Crl::from_der(der).map_err(|reason| TrustError::Crl { index: 0, reason })?;
        self.crls.push(crl);
        Ok(())
    }

    /// A store from one PEM text.
    pub fn from_pem(pem: &[u8]) -> Result<Self, TrustError> {
        let mut s = Self::new();
        s.add_pem(pem)?;
        Ok(s)
    }
}

/// Outcome of building and checking the chain of a signing certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainResult {
    /// Subjects from the leaf up to (and including) the anchor, when found.
    pub path: Vec<String>,
    /// `None` when a chain to an anchor was found and every link verified.
    pub chain_error: Option<String>,
    /// A certificate of the path outside its validity at the signing time.
    pub validity_error: Option<String>,
    /// A certificate of the path revoked (by an offline CRL) before signing.
    pub revocation_error: Option<String>,
}

fn fmt_unix(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| t.to_string())
}

/// Build the chain of `leaf` through `intermediates` (the other KeyInfo
/// certificates) to an anchor of `trust`, and check validity at `at` (Unix
/// seconds) and revocation by the store's CRLs.
pub fn check_chain(
    leaf: &Cert,
    intermediates: &[Cert],
    trust: &TrustStore,
    at: i64,
) -> ChainResult {
    let mut path: Vec<&Cert> = vec![leaf];
    let mut chain_error = None;
    let mut anchored = false;
    while path.len() <= MAX_CHAIN {
        let cur = *path.last().unwrap_or(&leaf);
        if trust.anchors.iter().any(|a| a.der == cur.der) {
            anchored = true;
            break;
        }
        let issuer_ok = |c: &&Cert| cur.named_issuer_is(c) && cur.signed_by(c);
        if let Some(a) = trust.anchors.iter().find(issuer_ok) {
            path.push(a);
            anchored = true;
            break;
        }
        match intermediates
            .iter()
            .filter(|c| !path.iter().any(|p| p.der == c.der))
            .find(issuer_ok)
        {
            Some(i) => path.push(i),
            None => {
                chain_error = Some(if trust.anchors.iter().any(|a| cur.named_issuer_is(a)) {
                    format!(
                        "la firma del certificado «{}» no corresponde a la clave de su emisor de confianza",
                        cur.subject_text()
                    )
                } else {
                    format!(
                        "el certificado «{}» fue emitido por «{}», que no es una entidad de certificación de confianza",
                        cur.subject_text(),
                        cur.issuer_text()
                    )
                });
                break;
            }
        }
    }
    if !anchored && chain_error.is_none() {
        chain_error = Some(format!(
            "la cadena de certificados supera {MAX_CHAIN} eslabones"
        ));
    }
    if chain_error.is_none() {
        for issuer in path.iter().skip(1) {
            if issuer.cert.tbs_certificate().version() == x509_cert::certificate::Version::V3
                && !issuer.is_ca()
            {
                chain_error = Some(format!(
                    "el emisor «{}» no es una entidad de certificación (BasicConstraints sin CA)",
                    issuer.subject_text()
                ));
                break;
            }
            if issuer.key_usage().is_some_and(|ku| !ku.key_cert_sign()) {
                chain_error = Some(format!(
                    "el emisor «{}» no tiene el uso de clave keyCertSign",
                    issuer.subject_text()
                ));
                break;
            }
        }
    }
    let validity_error = path.iter().find_map(|c| {
        let (nb, na) = c.validity();
        if at < nb {
            Some(format!(
                "el certificado «{}» aún no era válido al firmar (válido desde {})",
                c.subject_text(),
                fmt_unix(nb)
            ))
        } else if at > na {
            Some(format!(
                "el certificado «{}» estaba vencido al firmar (válido hasta {})",
                c.subject_text(),
                fmt_unix(na)
            ))
        } else {
            None
        }
    });
    let mut revocation_error = None;
    'outer: for pair in path.windows(2) {
        let (cert, issuer) = (pair[0], pair[1]);
        for crl in trust
            .crls
            .iter()
            .filter(|c| c.issuer_der == issuer.subject_der)
        {
            if !crl.signed_by(issuer) {
                continue;
            }
            if let Some(when) = crl.revoked_at(cert.serial_bytes())
                && when <= at
            {
                revocation_error = Some(format!(
                    "el certificado «{}» (serie {}) fue revocado el {}, antes de la firma",
                    cert.subject_text(),
                    cert.serial_decimal(),
                    fmt_unix(when)
                ));
                break 'outer;
            }
        }
    }
    ChainResult {
        path: path.iter().map(|c| c.subject_text()).collect(),
        chain_error,
        validity_error,
        revocation_error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_print_in_decimal() {
        assert_eq!(decimal(&[0]), "0");
        assert_eq!(decimal(&[0x01, 0x00]), "256");
        // The DIAN example's signing certificate serial.
        assert_eq!(
            decimal(&[0x6c, 0x0b, 0x07, 0x62, 0x62, 0x6d, 0xa0, 0xe2]),
            "7785324499979575522"
        );
    }

    #[test]
    fn pem_blocks_are_split_and_decoded() {
        let pem = b"junk\n-----BEGIN X-----\nAAEC\n-----END X-----\n-----BEGIN Y-----\nAw==\n-----END Y-----\n";
        let b = pem_blocks(pem).unwrap();
        assert_eq!(b, vec![("X".into(), vec![0, 1, 2]), ("Y".into(), vec![3])]);
        assert!(matches!(
            pem_blocks(b"-----BEGIN X-----\n!!\n-----END X-----"),
            Err(TrustError::Base64 { .. })
        ));
    }
}
