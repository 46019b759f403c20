//! Digest and RSA signature algorithms, by XML-DSig URI and by X.509 OID.

use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::{Pkcs1v15Sign, RsaPublicKey};
use sha1::Digest as _;
use sha2::Digest as _;

/// A digest algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    /// By `ds:DigestMethod/@Algorithm`.
    pub fn from_digest_uri(uri: &str) -> Option<Hash> {
        Some(match uri {
            "http://www.w3.org/2000/09/xmldsig#sha1" => Hash::Sha1,
            "http://www.w3.org/2001/04/xmlenc#sha256" => Hash::Sha256,
            "http://www.w3.org/2001/04/xmldsig-more#sha384" => Hash::Sha384,
            "http://www.w3.org/2001/04/xmlenc#sha512" => Hash::Sha512,
            _ => return None,
        })
    }

    /// The `ds:DigestMethod` URI.
    pub fn digest_uri(self) -> &'static str {
        match self {
            Hash::Sha1 => "http://www.w3.org/2000/09/xmldsig#sha1",
            Hash::Sha256 => "http://www.w3.org/2001/04/xmlenc#sha256",
            Hash::Sha384 => "http://www.w3.org/2001/04/xmldsig-more#sha384",
            Hash::Sha512 => "http://www.w3.org/2001/04/xmlenc#sha512",
        }
    }

    /// By `ds:SignatureMethod/@Algorithm` (RSA PKCS#1 v1.5 only).
    pub fn from_rsa_signature_uri(uri: &str) -> Option<Hash> {
        Some(match uri {
            "http://www.w3.org/2000/09/xmldsig#rsa-sha1" => Hash::Sha1,
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" => Hash::Sha256,
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384" => Hash::Sha384,
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512" => Hash::Sha512,
            _ => return None,
        })
    }

    /// The `ds:SignatureMethod` URI of RSA with this digest.
    pub fn rsa_signature_uri(self) -> &'static str {
        match self {
            Hash::Sha1 => "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
            Hash::Sha256 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            Hash::Sha384 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
            Hash::Sha512 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
        }
    }

    /// By the OID of an X.509 `sha*WithRSAEncryption` signature algorithm.
    pub fn from_rsa_oid(oid: &str) -> Option<Hash> {
        Some(match oid {
            "1.2.840.113549.1.1.5" => Hash::Sha1,
            "1.2.840.113549.1.1.11" => Hash::Sha256,
            "1.2.840.113549.1.1.12" => Hash::Sha384,
            "1.2.840.113549.1.1.13" => Hash::Sha512,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Hash::Sha1 => "SHA-1",
            Hash::Sha256 => "SHA-256",
            Hash::Sha384 => "SHA-384",
            Hash::Sha512 => "SHA-512",
        }
    }

    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha1 => sha1::Sha1::digest(data).to_vec(),
            Hash::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Hash::Sha384 => sha2::Sha384::digest(data).to_vec(),
            Hash::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }

    /// The DER `DigestInfo` prefix PKCS#1 v1.5 puts before the digest
    /// (RFC 8017 §9.2, note 1).
    fn digest_info_prefix(self) -> &'static [u8] {
        match self {
            Hash::Sha1 => &[
                0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04,
                0x14,
            ],
            Hash::Sha256 => &[
                0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x01, 0x05, 0x00, 0x04, 0x20,
            ],
            Hash::Sha384 => &[
                0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x02, 0x05, 0x00, 0x04, 0x30,
            ],
            Hash::Sha512 => &[
                0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x03, 0x05, 0x00, 0x04, 0x40,
            ],
        }
    }

    fn output_len(self) -> usize {
        match self {
            Hash::Sha1 => 20,
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
            Hash::Sha512 => 64,
        }
    }
}

/// The OID of `rsaEncryption` (an RSA SubjectPublicKeyInfo).
pub const RSA_ENCRYPTION_OID: &str = "1.2.840.113549.1.1.1";

/// Smallest RSA modulus accepted, in bits (DIAN's policy asks for 2048;
/// 1024 is what the oldest accredited certificates used).
pub const MIN_RSA_BITS: usize = 1024;

/// An RSA public key from the PKCS#1 `RSAPublicKey` DER (the bit string of
/// an RSA SubjectPublicKeyInfo).
pub fn rsa_key(pkcs1_der: &[u8]) -> Result<RsaPublicKey, String> {
    let key =
        RsaPublicKey::from_pkcs1_der(pkcs1_der).map_err(|e| format!("clave RSA ilegible: {e}"))?;
    let bits = rsa::traits::PublicKeyParts::n(&key).bits() as usize;
    if bits < MIN_RSA_BITS {
        return Err(format!(
            "clave RSA de {bits} bits, menos que el mínimo de {MIN_RSA_BITS}"
        ));
    }
    Ok(key)
}

/// Verify an RSASSA-PKCS1-v1_5 signature over `message`.
pub fn rsa_verify(key: &RsaPublicKey, hash: Hash, message: &[u8], signature: &[u8]) -> bool {
    let scheme = Pkcs1v15Sign {
        hash_len: Some(hash.output_len()),
        prefix: hash.digest_info_prefix().into(),
    };
    key.verify(scheme, &hash.digest(message), signature).is_ok()
}
