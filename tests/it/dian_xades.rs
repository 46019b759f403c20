//! XAdES-EPES signature verification (`dian::xades`), checked against
//! `xmlsec1 --verify` (libxmlsec1 + OpenSSL) on a corpus of documents that a
//! test CA signs here.
//!
//! The CAs and keys are made at test time with the `openssl` CLI in a temp
//! dir (names say TEST-ONLY; nothing is committed). The test signer below
//! builds DIAN's signature shape (three references: document with the
//! enveloped transform, KeyInfo, SignedProperties; XAdES-EPES with DIAN's
//! policy) using Pasarela's canonicaliser and `openssl dgst -sign`, so a
//! canonicalisation bug would make xmlsec1 reject the "valid" documents.
//!
//! The differential test needs `xmlsec1` (Debian package `xmlsec1`); without
//! it the test fails, unless `PASARELA_SKIP_XMLSEC1=1` is set, in which case
//! only Pasarela's verdicts are checked against the expected ones.
//! xmlsec1 checks XML-DSig only: the XAdES checks (signing certificate,
//! policy, signing time, key usage) are compared with the expectations alone.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use chrono::{DateTime, Duration, FixedOffset, Utc};
use pasarela::dian::DocKind;
use pasarela::dian::generator::{self, GenOptions};
use pasarela::dian::xades::algo::Hash;
use pasarela::dian::xades::{
    self, Apex, CheckKind, Method, Part, SignatureReport, Status, TrustStore, c14n, dom,
};
use pasarela::dian::xml::NS_DS;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn run(dir: &Path, program: &str, args: &[&str]) -> std::process::Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, "openssl", args);
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A certificate with its private key (in the temp dir).
#[derive(Clone)]
struct Identity {
    key: PathBuf,
    pem: PathBuf,
    der: Vec<u8>,
    /// Issuer as RFC 2253, as signers write `X509IssuerName`.
    issuer: String,
    serial: String,
}

struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        Pki {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn ca(&self, name: &str) -> Identity {
        let key = format!("{name}.key");
        let pem = format!("{name}.pem");
        openssl(
            self.path(),
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &pem,
                "-days",
                "3650",
                "-subj",
                &format!("/C=CO/O=Pasarela Pruebas/CN=TEST-ONLY CA {name}"),
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        self.identity(&key, &pem)
    }

    fn leaf(&self, name: &str, ca: &Identity, serial: u32, days: u32) -> Identity {
        self.issue(
            name,
            ca,
            serial,
            days,
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,nonRepudiation\n",
        )
    }

    /// An intermediate CA under `root` (or, with `ca: false`, a certificate
    /// that is used as one without being a CA).
    fn intermediate(&self, name: &str, root: &Identity, serial: u32, ca: bool) -> Identity {
        let ext = if ca {
            "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
        } else {
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,nonRepudiation\n"
        };
        self.issue(name, root, serial, 3650, ext)
    }

    fn issue(
        &self,
        name: &str,
        ca: &Identity,
        serial: u32,
        days: u32,
        extensions: &str,
    ) -> Identity {
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        let pem = format!("{name}.pem");
        let ext = format!("{name}.ext");
        std::fs::write(self.path().join(&ext), extensions).unwrap();
        openssl(
            self.path(),
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                &format!("/C=CO/O=Proveedor de Pruebas S.A.S./CN=TEST-ONLY firmante {name}"),
            ],
        );
        openssl(
            self.path(),
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                ca.pem.to_str().unwrap(),
                "-CAkey",
                ca.key.to_str().unwrap(),
                "-set_serial",
                &serial.to_string(),
                "-days",
                &days.to_string(),
                "-extfile",
                &ext,
                "-out",
                &pem,
            ],
        );
        self.identity(&key, &pem)
    }

    fn identity(&self, key: &str, pem: &str) -> Identity {
        let der_file = format!("{pem}.der");
        openssl(
            self.path(),
            &["x509", "-in", pem, "-outform", "DER", "-out", &der_file],
        );
        let issuer = openssl(
            self.path(),
            &[
                "x509", "-in", pem, "-noout", "-issuer", "-nameopt", "RFC2253",
            ],
        );
        let serial_hex = openssl(self.path(), &["x509", "-in", pem, "-noout", "-serial"]);
        let serial_hex = serial_hex.trim().trim_start_matches("serial=");
        let serial = xades::pki::decimal(&hex::decode(serial_hex).expect("hex serial"));
        Identity {
            key: self.path().join(key),
            pem: self.path().join(pem),
            der: std::fs::read(self.path().join(der_file)).unwrap(),
            issuer: issuer.trim().trim_start_matches("issuer=").to_owned(),
            serial,
        }
    }

    fn trust(&self, cas: &[&Identity]) -> TrustStore {
        let mut pem = Vec::new();
        for ca in cas {
            pem.extend(std::fs::read(&ca.pem).unwrap());
        }
        TrustStore::from_pem(&pem).expect("test CA PEM")
    }

    /// RSA PKCS#1 v1.5 signature of `data` by `key`.
    fn rsa_sign(&self, key: &Path, hash: Hash, data: &[u8]) -> Vec<u8> {
        let input = self.path().join("to-sign.bin");
        let output = self.path().join("signature.bin");
        std::fs::write(&input, data).unwrap();
        let flag = match hash {
            Hash::Sha1 => "-sha1",
            Hash::Sha256 => "-sha256",
            Hash::Sha384 => "-sha384",
            Hash::Sha512 => "-sha512",
        };
        openssl(
            self.path(),
            &[
                "dgst",
                flag,
                "-sign",
                key.to_str().unwrap(),
                "-out",
                output.to_str().unwrap(),
                input.to_str().unwrap(),
            ],
        );
        std::fs::read(output).unwrap()
    }
}

/// How the test signer signs (each field defaults to DIAN's profile).
#[derive(Clone)]
struct Opts {
    /// `CanonicalizationMethod` written in SignedInfo.
    c14n_declared: &'static str,
    /// The method actually used to canonicalise SignedInfo for the RSA signature.
    c14n_signed: &'static str,
    sig_hash: Hash,
    digest: Hash,
    signing_time: DateTime<FixedOffset>,
    policy_hash: String,
    /// Sign a wrong document digest (SignedInfo is then consistently signed).
    corrupt_doc_digest: bool,
    /// Certificate named by `xades:SigningCertificate` (default: the signer's).
    signing_certificate: Option<Identity>,
    /// Certificate put in `ds:KeyInfo` (default: the signer's).
    key_info_cert: Option<Identity>,
    /// More certificates in `ds:KeyInfo` (intermediate CAs).
    chain: Vec<Identity>,
}

fn bogota(t: DateTime<Utc>) -> DateTime<FixedOffset> {
    t.with_timezone(&FixedOffset::west_opt(5 * 3600).unwrap())
}

impl Opts {
    fn dian(signing_time: DateTime<FixedOffset>) -> Opts {
        Opts {
            c14n_declared: c14n::C14N,
            c14n_signed: c14n::C14N,
            sig_hash: Hash::Sha256,
            digest: Hash::Sha256,
            signing_time,
            policy_hash: xades::DIAN_POLICY_SHA256.to_owned(),
            corrupt_doc_digest: false,
            signing_certificate: None,
            key_info_cert: None,
            chain: Vec::new(),
        }
    }
}

const SID: &str = "xmldsig-0f1e2d3c-test";
const EXT_NS: &str = "urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2";

fn signature_template(signer: &Identity, o: &Opts) -> String {
    let named = o.signing_certificate.as_ref().unwrap_or(signer);
    let in_key_info = o.key_info_cert.as_ref().unwrap_or(signer);
    let dig = o.digest.digest_uri();
    format!(
        r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Id="{SID}">
          <ds:SignedInfo>
            <!-- SignedInfo de prueba -->
            <ds:CanonicalizationMethod Algorithm="{c14n}"/>
            <ds:SignatureMethod Algorithm="{sigm}"/>
            <ds:Reference Id="{SID}-ref0" URI="">
              <ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/></ds:Transforms>
              <ds:DigestMethod Algorithm="{dig}"/>
              <ds:DigestValue>@DOC@</ds:DigestValue>
            </ds:Reference>
            <ds:Reference URI="#{SID}-keyinfo"><ds:DigestMethod Algorithm="{dig}"/><ds:DigestValue>@KI@</ds:DigestValue></ds:Reference>
            <ds:Reference Type="http://uri.etsi.org/01903#SignedProperties" URI="#{SID}-signedprops"><ds:DigestMethod Algorithm="{dig}"/><ds:DigestValue>@SP@</ds:DigestValue></ds:Reference>
          </ds:SignedInfo>
          <ds:SignatureValue Id="{SID}-sigvalue">@SV@</ds:SignatureValue>
          <ds:KeyInfo Id="{SID}-keyinfo">
            <ds:X509Data>
              <ds:X509Certificate>{cert}</ds:X509Certificate>{chain}
            </ds:X509Data>
          </ds:KeyInfo>
          <ds:Object>
            <xades:QualifyingProperties xmlns:xades="http://uri.etsi.org/01903/v1.3.2#" Target="#{SID}">
              <xades:SignedProperties Id="{SID}-signedprops">
                <xades:SignedSignatureProperties>
                  <xades:SigningTime>{time}</xades:SigningTime>
                  <xades:SigningCertificate>
                    <xades:Cert>
                      <xades:CertDigest><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue>{cert_digest}</ds:DigestValue></xades:CertDigest>
                      <xades:IssuerSerial><ds:X509IssuerName>{issuer}</ds:X509IssuerName><ds:X509SerialNumber>{serial}</ds:X509SerialNumber></xades:IssuerSerial>
                    </xades:Cert>
                  </xades:SigningCertificate>
                  <xades:SignaturePolicyIdentifier>
                    <xades:SignaturePolicyId>
                      <xades:SigPolicyId><xades:Identifier>{policy}</xades:Identifier></xades:SigPolicyId>
                      <xades:SigPolicyHash><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue>{policy_hash}</ds:DigestValue></xades:SigPolicyHash>
                    </xades:SignaturePolicyId>
                  </xades:SignaturePolicyIdentifier>
                  <xades:SignerRole><xades:ClaimedRoles><xades:ClaimedRole>supplier</xades:ClaimedRole></xades:ClaimedRoles></xades:SignerRole>
                </xades:SignedSignatureProperties>
              </xades:SignedProperties>
            </xades:QualifyingProperties>
          </ds:Object>
        </ds:Signature>"##,
        c14n = o.c14n_declared,
        sigm = o.sig_hash.rsa_signature_uri(),
        cert = b64(&in_key_info.der),
        chain = o
            .chain
            .iter()
            .map(|c| format!(
                "\n              <ds:X509Certificate>{}</ds:X509Certificate>",
                b64(&c.der)
            ))
            .collect::<String>(),
        time = o.signing_time.format("%Y-%m-%dT%H:%M:%S%.3f%:z"),
        cert_digest = b64(&Hash::Sha256.digest(&named.der)),
        issuer = named.issuer.replace('&', "&amp;").replace('<', "&lt;"),
        serial = named.serial,
        policy = xades::DIAN_POLICY_URLS[0],
        policy_hash = o.policy_hash,
    )
}

/// Put the signature where DIAN does: a last `ext:UBLExtension` (created,
/// with `ext:UBLExtensions`, when the document has none).
fn insert_signature(xml: &str, signature: &str) -> String {
    if let Some(at) = xml.find("</ext:UBLExtensions>") {
        let ext = format!(
            "  <ext:UBLExtension>\n      <ext:ExtensionContent>\n        {signature}\n      </ext:ExtensionContent>\n    </ext:UBLExtension>\n  "
        );
        return format!("{}{ext}{}", &xml[..at], &xml[at..]);
    }
    let root_start = xml
        .match_indices('<')
        .map(|(i, _)| i)
        .find(|i| !xml[i + 1..].starts_with('?') && !xml[i + 1..].starts_with('!'))
        .expect("root element");
    let root_end = root_start + xml[root_start..].find('>').expect("root tag end") + 1;
    format!(
        "{}\n  <ext:UBLExtensions xmlns:ext=\"{EXT_NS}\"><ext:UBLExtension><ext:ExtensionContent>{signature}</ext:ExtensionContent></ext:UBLExtension></ext:UBLExtensions>{}",
        &xml[..root_end],
        &xml[root_end..]
    )
}

fn element_by_id(d: &dom::Dom, id: &str) -> usize {
    d.elements()
        .find(|e| d.attr(*e, "Id") == Some(id))
        .unwrap_or_else(|| panic!("no element with Id {id}"))
}

/// Sign `xml` (an unsigned UBL document) as `signer`.
fn sign(pki: &Pki, xml: &str, signer: &Identity, o: &Opts) -> String {
    let limits = xades::DEFAULT_LIMITS;
    let mut text = insert_signature(xml, &signature_template(signer, o));
    let d = dom::parse_str(&text, &limits).expect("template parses");
    let sig = d.find(NS_DS, "Signature").unwrap();
    let incl = Method::Inclusive { comments: false };
    let mut doc_digest = o
        .digest
        .digest(&c14n::canonicalize(&d, Apex::Document, Some(sig), &incl));
    if o.corrupt_doc_digest {
        doc_digest[0] ^= 0xff;
    }
    let ki = element_by_id(&d, &format!("{SID}-keyinfo"));
    let sp = element_by_id(&d, &format!("{SID}-signedprops"));
    let ki_digest = o
        .digest
        .digest(&c14n::canonicalize(&d, Apex::Element(ki), None, &incl));
    let sp_digest = o
        .digest
        .digest(&c14n::canonicalize(&d, Apex::Element(sp), None, &incl));
    text = text
        .replace("@DOC@", &b64(&doc_digest))
        .replace("@KI@", &b64(&ki_digest))
        .replace("@SP@", &b64(&sp_digest));
    let d = dom::parse_str(&text, &limits).unwrap();
    let sig = d.find(NS_DS, "Signature").unwrap();
    let si = d.child(sig, NS_DS, "SignedInfo").unwrap();
    let method = Method::from_uri(o.c14n_signed).unwrap();
    let signed_info = c14n::canonicalize(&d, Apex::Element(si), None, &method);
    let value = pki.rsa_sign(&signer.key, o.sig_hash, &signed_info);
    // Line-wrapped base64, as signers write it.
    let wrapped: Vec<String> = b64(&value)
        .as_bytes()
        .chunks(76)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    text.replace("@SV@", &format!("\n{}\n", wrapped.join("\n")))
}

fn xmlsec1_available() -> bool {
    Command::new("xmlsec1")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// xmlsec1's verdict on `xml`, trusting `ca`, at the time `at`.
fn xmlsec1_verify(
    pki: &Pki,
    name: &str,
    xml: &str,
    ca: &Identity,
    at: DateTime<FixedOffset>,
) -> (bool, String) {
    let file = pki.path().join(format!("{name}.xml"));
    std::fs::write(&file, xml).unwrap();
    let when = at
        .with_timezone(&Utc)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    let out = run(
        pki.path(),
        "xmlsec1",
        &[
            "--verify",
            "--trusted-pem",
            ca.pem.to_str().unwrap(),
            "--id-attr:Id",
            "http://uri.etsi.org/01903/v1.3.2#:SignedProperties",
            "--id-attr:Id",
            "http://www.w3.org/2000/09/xmldsig#:KeyInfo",
            "--verification-gmt-time",
            &when,
            file.to_str().unwrap(),
        ],
    );
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn failed_codes(r: &SignatureReport) -> Vec<&'static str> {
    let mut codes: Vec<&'static str> = r
        .checks
        .iter()
        .filter(|c| matches!(c.status, Status::Failed(_)))
        .map(|c| c.kind.code())
        .collect();
    codes.dedup();
    codes
}

fn invoice() -> String {
    generator::generate(7, DocKind::Invoice, &GenOptions::default()).xml
}

struct Case {
    name: &'static str,
    xml: String,
    /// Verification instant (the daemon's "now").
    now: DateTime<FixedOffset>,
    /// Codes of the checks expected to fail (empty: fully valid).
    expect_failed: Vec<&'static str>,
}

#[test]
fn differential_against_xmlsec1() {
    let pki = Pki::new();
    let ca = pki.ca("ca1");
    let other_ca = pki.ca("ca2");
    let signer = pki.leaf("leaf-a", &ca, 4242, 3650);
    let second = pki.leaf("leaf-b", &ca, 4343, 3650);
    let short = pki.leaf("leaf-short", &ca, 4444, 1);
    let stranger = pki.leaf("leaf-stranger", &other_ca, 4545, 3650);
    let sub_ca = pki.intermediate("sub-ca", &ca, 5000, true);
    let below_sub = pki.leaf("leaf-below-sub-ca", &sub_ca, 5001, 3650);
    let not_a_ca = pki.intermediate("not-a-ca", &ca, 5100, false);
    let below_not_a_ca = pki.leaf("leaf-below-not-a-ca", &not_a_ca, 5101, 3650);
    let trust = pki.trust(&[&ca]);

    let t0 = bogota(Utc::now() + Duration::seconds(120));
    let later = t0 + Duration::hours(1);
    let base = invoice();
    let dian = Opts::dian(t0);
    let signed = sign(&pki, &base, &signer, &dian);
    let with = |f: &dyn Fn(&mut Opts)| {
        let mut o = dian.clone();
        f(&mut o);
        o
    };
    let case = |name, xml, expect_failed| Case {
        name,
        xml,
        now: later,
        expect_failed,
    };

    let mut cases = vec![
        case("valid", signed.clone(), vec![]),
        case(
            "valid-rsa-sha1-digest-sha1",
            sign(&pki, &base, &signer, &with(&|o| {
                o.sig_hash = Hash::Sha1;
                o.digest = Hash::Sha1;
            })),
            vec![],
        ),
        case(
            "valid-rsa-sha512-digest-sha384",
            sign(&pki, &base, &signer, &with(&|o| {
                o.sig_hash = Hash::Sha512;
                o.digest = Hash::Sha384;
            })),
            vec![],
        ),
        case(
            "valid-rsa-sha384-digest-sha512",
            sign(&pki, &base, &signer, &with(&|o| {
                o.sig_hash = Hash::Sha384;
                o.digest = Hash::Sha512;
            })),
            vec![],
        ),
        case(
            "valid-exclusive-c14n",
            sign(&pki, &base, &signer, &with(&|o| {
                o.c14n_declared = c14n::EXC_C14N;
                o.c14n_signed = c14n::EXC_C14N;
            })),
            vec![],
        ),
        case(
            "valid-c14n-with-comments",
            sign(&pki, &base, &signer, &with(&|o| {
                o.c14n_declared = c14n::C14N_COMMENTS;
                o.c14n_signed = c14n::C14N_COMMENTS;
            })),
            vec![],
        ),
        case(
            "valid-exclusive-c14n-with-comments",
            sign(&pki, &base, &signer, &with(&|o| {
                o.c14n_declared = c14n::EXC_C14N_COMMENTS;
                o.c14n_signed = c14n::EXC_C14N_COMMENTS;
            })),
            vec![],
        ),
        case(
            "valid-signed-application-response",
            sign(
                &pki,
                &generator::application_response("SETP990000001", "abc123", "02", "2024-03-15"),
                &signer,
                &dian,
            ),
            vec![],
        ),
        case(
            "valid-signed-credit-note",
            sign(
                &pki,
                &generator::generate(8, DocKind::CreditNote, &GenOptions::default()).xml,
                &signer,
                &dian,
            ),
            vec![],
        ),
        // Changes canonicalisation erases: spacing inside tags, quotes,
        // <a/> versus <a></a>, a comment, a character reference.
        case(
            "markup-variations-still-valid",
            signed
                .replacen("<cbc:UBLVersionID>", "<cbc:UBLVersionID >", 1)
                .replacen("</cbc:ProfileID>", "</cbc:ProfileID  ><!-- nota -->", 1)
                .replacen("schemeAgencyID=\"195\"", "schemeAgencyID='195'", 1)
                .replacen("<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>", "<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"></ds:Transform>", 1)
                .replacen("<cbc:ProfileExecutionID>2<", "<cbc:ProfileExecutionID>&#50;<", 1),
            vec![],
        ),
        case(
            "tampered-content",
            signed.replacen("<cbc:ProfileExecutionID>2<", "<cbc:ProfileExecutionID>1<", 1),
            vec!["ZE02"],
        ),
        case(
            "extra-whitespace-in-signed-content",
            signed.replacen("\n  <cbc:CustomizationID>", "\n   <cbc:CustomizationID>", 1),
            vec!["ZE02"],
        ),
        case(
            "extra-whitespace-in-text",
            signed.replacen("<cbc:ProfileExecutionID>2<", "<cbc:ProfileExecutionID>2 <", 1),
            vec!["ZE02"],
        ),
        case(
            "tampered-signed-info",
            signed.replacen(&format!("{SID}-ref0\""), &format!("{SID}-refX\""), 1),
            vec!["ZE02"],
        ),
        case(
            "tampered-signed-properties",
            signed.replacen(
                "<xades:ClaimedRole>supplier<",
                "<xades:ClaimedRole>third party<",
                1,
            ),
            vec!["ZE02"],
        ),
        case(
            "tampered-signature-value",
            {
                let at = signed.find("-sigvalue\">\n").unwrap() + 12;
                let mut s = signed.clone();
                let c = if &s[at..at + 1] == "A" { "B" } else { "A" };
                s.replace_range(at..at + 1, c);
                s
            },
            vec!["ZE02"],
        ),
        case(
            "wrong-document-digest",
            sign(&pki, &base, &signer, &with(&|o| o.corrupt_doc_digest = true)),
            vec!["ZE02"],
        ),
        case(
            "signed-over-a-different-canonicalisation",
            sign(&pki, &base, &signer, &with(&|o| o.c14n_signed = c14n::EXC_C14N)),
            vec!["ZE02"],
        ),
        case(
            "certificate-swapped-in-key-info",
            sign(&pki, &base, &signer, &with(&|o| o.key_info_cert = Some(second.clone()))),
            // The KeyInfo holds another trusted certificate, signed over
            // consistently: only the signature value fails (and the
            // SigningCertificate then names a certificate not in KeyInfo).
            vec!["ZE02", "PAS17"],
        ),
        case(
            "signer-from-an-untrusted-ca",
            sign(&pki, &base, &stranger, &dian),
            vec!["ZD05"],
        ),
        case(
            "valid-through-an-intermediate-ca-in-key-info",
            sign(&pki, &base, &below_sub, &with(&|o| o.chain = vec![sub_ca.clone()])),
            vec![],
        ),
        case(
            "intermediate-ca-missing-from-key-info",
            sign(&pki, &base, &below_sub, &dian),
            vec!["ZD05"],
        ),
        case(
            "issuer-is-not-a-ca",
            sign(&pki, &base, &below_not_a_ca, &with(&|o| o.chain = vec![not_a_ca.clone()])),
            vec!["ZD05"],
        ),
        case(
            "expired-certificate",
            sign(&pki, &base, &short, &with(&|o| o.signing_time = t0 + Duration::days(3))),
            vec!["ZD04"],
        ),
        case(
            "certificate-not-yet-valid",
            sign(&pki, &base, &signer, &with(&|o| o.signing_time = t0 - Duration::days(2))),
            vec!["ZD04"],
        ),
        // Beyond xmlsec1: XAdES/DIAN properties.
        case(
            "wrong-policy-hash",
            sign(&pki, &base, &signer, &with(&|o| o.policy_hash = b64(&[7u8; 32]))),
            vec!["PAS18"],
        ),
        case(
            "signing-certificate-names-the-ca",
            sign(&pki, &base, &signer, &with(&|o| o.signing_certificate = Some(ca.clone()))),
            vec!["PAS17"],
        ),
    ];
    // The expired case is verified after its signing time.
    for c in &mut cases {
        if c.name == "expired-certificate" {
            c.now = t0 + Duration::days(3) + Duration::hours(1);
        }
    }

    // `PASARELA_XADES_SEEDS=<dir>` writes the corpus out (fuzz/seeds/xades_verify/).
    if let Some(dir) = std::env::var_os("PASARELA_XADES_SEEDS") {
        for c in &cases {
            std::fs::write(Path::new(&dir).join(format!("{}.xml", c.name)), &c.xml).unwrap();
        }
    }
    let have_xmlsec1 = xmlsec1_available();
    if !have_xmlsec1 {
        assert!(
            std::env::var_os("PASARELA_SKIP_XMLSEC1").is_some(),
            "xmlsec1 is not installed (Debian package xmlsec1, see scripts/install-deps.sh); set PASARELA_SKIP_XMLSEC1=1 to check only Pasarela's verdicts"
        );
    }
    let mut problems = Vec::new();
    for c in &cases {
        let report = xades::verify(c.xml.as_bytes(), &trust, c.now);
        let failed = failed_codes(&report);
        if failed != c.expect_failed {
            problems.push(format!(
                "{}: expected failing checks {:?}, got {:?}\n{:#?}",
                c.name, c.expect_failed, failed, report.checks
            ));
        }
        if have_xmlsec1 {
            let at = report.signing_time.unwrap_or(c.now);
            let (theirs, stderr) = xmlsec1_verify(&pki, c.name, &c.xml, &ca, at);
            if theirs != report.xmldsig_valid() {
                problems.push(format!(
                    "{}: xmlsec1 says {}, Pasarela's XML-DSig checks say {} ({:?})\nxmlsec1: {stderr}",
                    c.name,
                    theirs,
                    report.xmldsig_valid(),
                    failed
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// An AttachedDocument carries the invoice and DIAN's ApplicationResponse
/// as text; each is verified on its own.
#[test]
fn attached_document_parts_are_verified_separately() {
    let pki = Pki::new();
    let ca = pki.ca("ca");
    let supplier = pki.leaf("supplier", &ca, 11, 3650);
    let dian_key = pki.leaf("dian", &ca, 12, 3650);
    let trust = pki.trust(&[&ca]);
    let t0 = bogota(Utc::now() + Duration::seconds(120));
    let now = t0 + Duration::hours(1);
    let opts = Opts::dian(t0);

    let mut inner = generator::generate(9, DocKind::Invoice, &GenOptions::default());
    inner.xml = sign(&pki, &inner.xml, &supplier, &opts);
    let response = sign(
        &pki,
        &generator::application_response(&inner.number, &inner.cufe, "02", "2024-03-15"),
        &dian_key,
        &opts,
    );
    let attached = generator::attached_document(&inner, Some(&response));
    let reports = xades::verify_all(attached.as_bytes(), &trust, now, &xades::DEFAULT_LIMITS);
    let parts: Vec<Part> = reports.iter().map(|(p, _)| *p).collect();
    assert_eq!(parts, vec![Part::Root, Part::Embedded, Part::DianResponse]);
    // The container itself is not signed by the generator.
    assert_eq!(failed_codes(&reports[0].1), vec!["PAS15"]);
    assert!(reports[1].1.valid(), "{:#?}", reports[1].1.checks);
    assert!(reports[2].1.valid(), "{:#?}", reports[2].1.checks);

    // DIAN's verdict edited inside the container: its signature breaks.
    let forged = attached.replacen(
        "<cbc:ResponseCode>02</cbc:ResponseCode>",
        "<cbc:ResponseCode>02</cbc:ResponseCode><!-- -->",
        1,
    );
    let forged = forged.replacen(
        "Documento validado por la DIAN",
        "Documento validado por la DIAN.",
        1,
    );
    let reports = xades::verify_all(forged.as_bytes(), &trust, now, &xades::DEFAULT_LIMITS);
    assert!(reports[1].1.valid());
    assert_eq!(failed_codes(&reports[2].1), vec!["ZE02"]);
    assert!(
        reports[2].1.findings()[0]
            .message
            .starts_with("Regla: ZE02, Rechazo: ")
    );
}

/// A reference pointed at a decoy (the same `Id` twice) is refused rather
/// than resolved to either element (signature wrapping).
#[test]
fn duplicate_ids_are_refused() {
    let pki = Pki::new();
    let ca = pki.ca("ca");
    let signer = pki.leaf("leaf", &ca, 21, 3650);
    let trust = pki.trust(&[&ca]);
    let t0 = bogota(Utc::now() + Duration::seconds(120));
    let signed = sign(&pki, &invoice(), &signer, &Opts::dian(t0));
    let decoy = format!("<cbc:Note Id=\"{SID}-signedprops\">decoy</cbc:Note></Invoice>");
    let wrapped = signed.replacen("</Invoice>", &decoy, 1);
    let r = xades::verify(wrapped.as_bytes(), &trust, t0 + Duration::hours(1));
    match r.status(CheckKind::SignedPropertiesDigest) {
        Status::Failed(why) => assert!(why.contains("aparece 2 veces"), "{why}"),
        other => panic!("expected a failure, got {other:?}"),
    }
    assert!(!r.valid());
}

impl Pki {
    /// Revoke `cert` (issued by `ca`) as of `when` and return the CA's CRL (PEM).
    fn crl_revoking(&self, ca: &Identity, cert: &Identity, when: DateTime<Utc>) -> Vec<u8> {
        let p = self.path();
        std::fs::write(p.join("index.txt"), "").unwrap();
        std::fs::write(p.join("crlnumber"), "1000\n").unwrap();
        std::fs::write(
            p.join("ca.cnf"),
            format!(
                "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\ncrlnumber = crlnumber\ndefault_md = sha256\ndefault_crl_days = 30\ncertificate = {}\nprivate_key = {}\n",
                ca.pem.display(),
                ca.key.display()
            ),
        )
        .unwrap();
        openssl(
            p,
            &[
                "ca",
                "-config",
                "ca.cnf",
                "-revoke",
                cert.pem.to_str().unwrap(),
            ],
        );
        // Set the recorded revocation date (third field) before the CRL is made.
        let index = std::fs::read_to_string(p.join("index.txt")).unwrap();
        let index: String = index
            .lines()
            .map(|l| {
                let mut f: Vec<String> = l.split('\t').map(str::to_owned).collect();
                f[2] = when.format("%y%m%d%H%M%SZ").to_string();
                f.join("\t") + "\n"
            })
            .collect();
        std::fs::write(p.join("index.txt"), index).unwrap();
        openssl(
            p,
            &["ca", "-config", "ca.cnf", "-gencrl", "-out", "crl.pem"],
        );
        std::fs::read(p.join("crl.pem")).unwrap()
    }
}

/// An offline CRL revokes a certificate from its revocation date on: a
/// document signed before it stays valid, one signed after fails ZD06.
#[test]
fn revocation_by_an_offline_crl_counts_from_the_revocation_date() {
    let pki = Pki::new();
    let ca = pki.ca("ca");
    let revoked = pki.leaf("revoked", &ca, 31, 30);
    let kept = pki.leaf("kept", &ca, 32, 30);
    let revoked_at = Utc::now() + Duration::days(1);
    let crl = pki.crl_revoking(&ca, &revoked, revoked_at);
    let mut pem = std::fs::read(&ca.pem).unwrap();
    pem.extend(crl);
    let trust = TrustStore::from_pem(&pem).expect("CA and CRL");

    let before = bogota(Utc::now() + Duration::seconds(120));
    let after = bogota(revoked_at + Duration::days(1));
    let doc = invoice();
    let check = |signer: &Identity, at: DateTime<FixedOffset>| {
        let xml = sign(&pki, &doc, signer, &Opts::dian(at));
        xades::verify(xml.as_bytes(), &trust, at + Duration::hours(1))
    };
    let r = check(&revoked, before);
    assert!(r.valid(), "{:#?}", r.checks);
    let r = check(&revoked, after);
    assert_eq!(failed_codes(&r), vec!["ZD06"]);
    match r.status(CheckKind::Revocation) {
        Status::Failed(why) => assert!(why.contains("revocado"), "{why}"),
        other => panic!("{other:?}"),
    }
    let r = check(&kept, after);
    assert!(r.valid(), "{:#?}", r.checks);
}

/// The fuzz target's properties on its committed seeds (the signed corpus):
/// every check has an outcome, findings match failures, nothing is valid
/// without a trust anchor, and canonical XML is a fixed point.
#[test]
fn fuzz_seed_properties() {
    let dir = pasarela_seeds_dir();
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("fuzz/seeds/xades_verify") {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let now = generator::default_issued_at();
        for (_, r) in xades::verify_all(&data, &TrustStore::new(), now, &xades::DEFAULT_LIMITS) {
            assert_eq!(r.checks.len(), xades::CheckKind::ALL.len());
            let failed = r
                .checks
                .iter()
                .filter(|c| matches!(c.status, Status::Failed(_)))
                .count();
            assert_eq!(r.findings().len(), failed, "{}", path.display());
            assert!(!r.valid(), "{}", path.display());
        }
        let d = dom::parse(&data, &xades::DEFAULT_LIMITS).expect("seed parses");
        let m = Method::Inclusive { comments: false };
        let once = c14n::canonicalize(&d, Apex::Element(d.root), None, &m);
        let again = dom::parse(&once, &xades::DEFAULT_LIMITS).expect("canonical XML parses");
        assert_eq!(
            once,
            c14n::canonicalize(&again, Apex::Element(again.root), None, &m),
            "{}",
            path.display()
        );
        seen += 1;
    }
    assert!(seen >= 20, "only {seen} seeds in {}", dir.display());
}

fn pasarela_seeds_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/xades_verify")
}

// ---------------------------------------------------------------------------
// Signatures as DIAN rules (`dian::validate`, `[signatures]` settings) and the
// production sample (config/production.toml, rules/dian-production.toml).

/// Every code the signature check emits.
const SIGNATURE_CODES: &[&str] = &[
    "PAS15", "PAS16", "PAS17", "PAS18", "PAS19", "PAS29", "ZE02", "ZD04", "ZD05", "ZD06", "ZD07",
];

/// The signature findings of `xml` under `settings`: (code, severity).
fn signature_findings(
    xml: &str,
    settings: &pasarela::dian::DianSettings,
    now: DateTime<FixedOffset>,
) -> Vec<(String, pasarela::result::Severity)> {
    pasarela::dian::validate(xml.as_bytes(), settings, now)
        .findings
        .into_iter()
        .filter(|f| SIGNATURE_CODES.contains(&f.code.as_str()))
        .map(|f| (f.code, f.severity))
        .collect()
}

/// Settings from a DIAN rules file written in `dir`, with its trust material
/// loaded the way a generation loads it.
fn settings_from(dir: &Path, text: &str) -> pasarela::dian::DianSettings {
    let file = dir.join("dian.toml");
    std::fs::write(&file, text).unwrap();
    let mut s = pasarela::dian::load_settings(&file).expect("settings");
    pasarela::pipeline::trust::load(&mut s, &file).expect("trust material");
    s
}

#[test]
fn signature_findings_follow_the_settings() {
    use pasarela::result::Severity::{Notify, Reject};
    let pki = Pki::new();
    let ca = pki.ca("ca");
    let signer = pki.leaf("supplier", &ca, 21, 3650);
    let t0 = bogota(Utc::now() + Duration::seconds(120));
    let now = t0 + Duration::hours(1);
    let unsigned = invoice();
    let signed = sign(&pki, &unsigned, &signer, &Opts::dian(t0));
    let tampered = signed.replacen(
        "</cbc:RegistrationName>",
        " S.A.S.</cbc:RegistrationName>",
        1,
    );
    assert_ne!(signed, tampered);
    let anchors = format!("trust_anchors = {:?}\n", ca.pem.display().to_string());
    let dir = tempfile::tempdir().unwrap();
    let with = |body: &str| settings_from(dir.path(), &format!("[signatures]\n{body}"));

    // off: nothing is verified, however broken.
    let off = with("enforce = \"off\"\n");
    assert!(signature_findings(&tampered, &off, now).is_empty());
    // The built-in default (no settings file) is off too.
    assert!(signature_findings(&tampered, &Default::default(), now).is_empty());

    // notify: a genuine signature under a trusted CA says nothing; an edit is
    // reported but does not reject.
    let notify = with(&format!("enforce = \"notify\"\n{anchors}"));
    assert_eq!(signature_findings(&signed, &notify, now), vec![]);
    let got = signature_findings(&tampered, &notify, now);
    assert_eq!(got, vec![("ZE02".to_owned(), Notify)]);

    // reject: the same edit rejects; no signature at all rejects (PAS15).
    let reject = with(&format!("enforce = \"reject\"\n{anchors}"));
    assert_eq!(signature_findings(&signed, &reject, now), vec![]);
    assert_eq!(
        signature_findings(&tampered, &reject, now),
        vec![("ZE02".to_owned(), Reject)]
    );
    assert_eq!(
        signature_findings(&unsigned, &reject, now),
        vec![("PAS15".to_owned(), Reject)]
    );

    // Nothing trusted: a genuine signature has no chain (ZD05)…
    let untrusted = with("enforce = \"reject\"\n");
    assert_eq!(
        signature_findings(&signed, &untrusted, now),
        vec![("ZD05".to_owned(), Reject)]
    );
    // …and per-rule overrides apply as to every other rule.
    let softened = settings_from(
        dir.path(),
        "[signatures]\nenforce = \"reject\"\n[rules.ZD05]\nseverity = \"notify\"\n",
    );
    assert_eq!(
        signature_findings(&signed, &softened, now),
        vec![("ZD05".to_owned(), Notify)]
    );
    let silenced = settings_from(
        dir.path(),
        "[signatures]\nenforce = \"reject\"\n[rules.ZD05]\nenabled = false\n",
    );
    assert_eq!(signature_findings(&signed, &silenced, now), vec![]);
}

#[test]
fn signature_settings_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dian.toml");
    std::fs::write(&file, "[signatures]\nenforce = \"maybe\"\nwhat = 1\n").unwrap();
    let errs = pasarela::dian::load_settings(&file).expect_err("bad settings");
    let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    assert!(
        text.iter().any(|t| t.contains("signatures.enforce")),
        "{text:#?}"
    );
    assert!(text.iter().any(|t| t.contains("what")), "{text:#?}");

    // A trust path that does not exist, or a file that is not a certificate,
    // is a configuration error naming the key.
    for (body, key) in [
        ("trust_anchors = \"missing\"\n", "signatures.trust_anchors"),
        ("crls = \"not-a-crl.crl\"\n", "signatures.crls"),
    ] {
        std::fs::write(dir.path().join("not-a-crl.crl"), b"garbage").unwrap();
        std::fs::write(&file, format!("[signatures]\n{body}")).unwrap();
        let mut s = pasarela::dian::load_settings(&file).expect("settings");
        let errs = pasarela::pipeline::trust::load(&mut s, &file).expect_err(key);
        assert!(
            errs.iter().all(|e| e.to_string().contains(key)),
            "{errs:#?}"
        );
    }
}

/// `require_dian_response`: an AttachedDocument without DIAN's response is
/// refused (PAS29); with a genuine one it passes, and the response's own
/// signature is verified.
#[test]
fn attached_documents_must_carry_a_signed_dian_response() {
    use pasarela::result::Severity::Reject;
    let pki = Pki::new();
    let ca = pki.ca("ca");
    let supplier = pki.leaf("supplier", &ca, 31, 3650);
    let dian_key = pki.leaf("dian", &ca, 32, 3650);
    let t0 = bogota(Utc::now() + Duration::seconds(120));
    let now = t0 + Duration::hours(1);
    let opts = Opts::dian(t0);
    let mut inner = generator::generate(9, DocKind::Invoice, &GenOptions::default());
    inner.xml = sign(&pki, &inner.xml, &supplier, &opts);
    let response = sign(
        &pki,
        &generator::application_response(&inner.number, &inner.cufe, "02", "2024-03-15"),
        &dian_key,
        &opts,
    );
    let dir = tempfile::tempdir().unwrap();
    let settings = settings_from(
        dir.path(),
        &format!(
            "[signatures]\nenforce = \"reject\"\nrequire_dian_response = true\ntrust_anchors = {:?}\n",
            ca.pem.display().to_string()
        ),
    );
    // The generator's container is unsigned (PAS15 on the root part); what
    // matters here is what follows from the response.
    let codes = |xml: &str| -> Vec<String> {
        signature_findings(xml, &settings, now)
            .into_iter()
            .filter(|(_, s)| *s == Reject)
            .map(|(c, _)| c)
            .collect()
    };
    let without = generator::attached_document(&inner, None);
    assert_eq!(codes(&without), vec!["PAS29", "PAS15"]);
    let with = generator::attached_document(&inner, Some(&response));
    assert_eq!(codes(&with), vec!["PAS15"]);
    let forged = with.replacen(
        "Documento validado por la DIAN",
        "Documento validado por la DIAN.",
        1,
    );
    assert_eq!(codes(&forged), vec!["PAS15", "ZE02"]);
}

/// The production sample end to end through `pasarela process`: it validates;
/// DIAN's public example (test environment, signature not trusted) is
/// rejected; an invoice of a configured production range signed under a
/// trusted CA is accepted, and the same invoice edited after signing, or a
/// production-marked invoice without a signature, is rejected.
#[test]
fn production_sample_end_to_end() {
    use crate::support::{Env, repo};
    let env = Env::new("");
    let root = env.path();
    std::fs::copy(
        repo().join("config/production.toml"),
        root.join("config/pasarela.toml"),
    )
    .unwrap();
    std::fs::create_dir_all(root.join("rules")).unwrap();
    std::fs::create_dir_all(root.join("config/trust/crls")).unwrap();
    std::fs::create_dir_all(root.join("config/templates")).unwrap();
    for t in std::fs::read_dir(repo().join("config/templates"))
        .unwrap()
        .flatten()
    {
        std::fs::copy(t.path(), root.join("config/templates").join(t.file_name())).unwrap();
    }
    let dian_rules = std::fs::read_to_string(repo().join("rules/dian-production.toml")).unwrap();
    let check = env.run(&["validate", "--no-environment"]);
    assert!(
        !check.status.success(),
        "validate without the rules file should fail"
    );

    // The issuer's production range and key, as an administrator adds them.
    let key = "5e1f0a27c0b0c9ea3a4b2f6d0f0f9d8c7b6a5e4d";
    let range = format!(
        "\n[[ranges]]\nauthorization = \"18760000001\"\nprefix = \"SETP\"\nfrom = 990000000\nto = 995000000\nvalid_from = \"2019-01-19\"\nvalid_to = \"2030-01-19\"\ntechnical_key = \"{key}\"\n"
    );
    std::fs::write(
        root.join("rules/dian-production.toml"),
        format!("{dian_rules}{range}"),
    )
    .unwrap();
    for f in ["commissions.toml", "catalog.toml"] {
        std::fs::copy(repo().join("rules").join(f), root.join("rules").join(f)).unwrap();
    }
    let pki = Pki::new();
    let ca = pki.ca("accredited-ca");
    std::fs::copy(&ca.pem, root.join("config/trust/accredited-ca.pem")).unwrap();
    // Only validation: pricing needs an imported catalog, not the point here.
    let config = std::fs::read_to_string(root.join("config/pasarela.toml"))
        .unwrap()
        .replace(
            "steps = [\"dian-validate\", \"price\", \"certify\"]",
            "steps = [\"dian-validate\"]",
        );
    std::fs::write(root.join("config/pasarela.toml"), config).unwrap();
    let check = env.run(&["validate", "--no-environment"]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );

    let signer = pki.leaf("supplier", &ca, 41, 3650);
    let issued = bogota(Utc::now() - Duration::minutes(5));
    // The test CA's certificates start now: sign just after.
    let signed_at = bogota(Utc::now() + Duration::seconds(120));
    let now = signed_at + Duration::minutes(30);
    let production = GenOptions {
        issued_at: issued,
        environment: "1".to_owned(),
        technical_key: key.to_owned(),
        ..GenOptions::default()
    };
    let genuine = generator::generate(11, DocKind::Invoice, &production).xml;
    let genuine = sign(&pki, &genuine, &signer, &Opts::dian(signed_at));
    let edited = genuine.replacen(
        "</cbc:RegistrationName>",
        " S.A.S.</cbc:RegistrationName>",
        1,
    );
    // A forgery: marked production, CUFE made with the public test key, no signature.
    let forged = generator::generate(
        12,
        DocKind::Invoice,
        &GenOptions {
            issued_at: issued,
            environment: "1".to_owned(),
            ..GenOptions::default()
        },
    )
    .xml;
    let files = [
        ("public-example.xml", crate::support::dian_example()),
        ("genuine.xml", genuine.into_bytes()),
        ("edited.xml", edited.into_bytes()),
        ("forged.xml", forged.into_bytes()),
    ];
    for (name, bytes) in &files {
        std::fs::write(root.join(name), bytes).unwrap();
    }
    let now_arg = now.to_rfc3339();
    let verdict = |name: &str| -> (String, Vec<(String, String)>) {
        let out = env.run(&["process", "--json", "--now", &now_arg, name]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{name}: {e}: {}", String::from_utf8_lossy(&out.stderr)));
        let findings = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["code"].as_str().unwrap().to_owned(),
                    f["severity"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        (v["verdict"].as_str().unwrap().to_owned(), findings)
    };
    let rejects = |f: &[(String, String)]| -> Vec<String> {
        f.iter()
            .filter(|(_, s)| s == "reject")
            .map(|(c, _)| c.clone())
            .collect()
    };

    let (v, f) = verdict("genuine.xml");
    assert_eq!(v, "accepted", "{f:#?}");
    assert!(rejects(&f).is_empty(), "{f:#?}");

    let (v, f) = verdict("edited.xml");
    assert_eq!(v, "rejected");
    assert_eq!(rejects(&f), vec!["ZE02"], "{f:#?}");

    let (v, f) = verdict("forged.xml");
    assert_eq!(v, "rejected");
    assert!(rejects(&f).contains(&"PAS15".to_owned()), "{f:#?}");

    let (v, f) = verdict("public-example.xml");
    assert_eq!(v, "rejected");
    let r = rejects(&f);
    for code in ["PAS28", "ZE02", "ZD05"] {
        assert!(r.contains(&code.to_owned()), "{code} missing: {f:#?}");
    }
}

/// The demo configuration keeps DIAN's public example working but reports
/// its broken signature.
#[test]
fn demo_reports_a_broken_signature_without_rejecting_for_it() {
    use crate::support::{Env, repo};
    let env = Env::new("");
    std::fs::copy(
        repo().join("config/pasarela.toml"),
        env.path().join("config/pasarela.toml"),
    )
    .unwrap();
    let rules = env.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    for f in ["dian.toml", "commissions.toml", "catalog.toml"] {
        std::fs::copy(repo().join("rules").join(f), rules.join(f)).unwrap();
    }
    std::fs::create_dir_all(env.path().join("fixtures/keys")).unwrap();
    std::fs::copy(
        repo().join("fixtures/keys/demo_ed25519.pub"),
        env.path().join("fixtures/keys/demo_ed25519.pub"),
    )
    .unwrap();
    std::fs::write(
        env.path().join("example.xml"),
        crate::support::dian_example(),
    )
    .unwrap();
    let out = env.run(&["process", "--json", "example.xml"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let findings = v["findings"].as_array().unwrap();
    let sig: Vec<(&str, &str)> = findings
        .iter()
        .map(|f| (f["code"].as_str().unwrap(), f["severity"].as_str().unwrap()))
        .filter(|(c, _)| SIGNATURE_CODES.contains(c))
        .collect();
    assert!(sig.iter().any(|(c, _)| *c == "ZE02"), "{findings:#?}");
    assert!(sig.iter().all(|(_, s)| *s == "notify"), "{findings:#?}");
}

/// When signatures are verified, the rules read the signing time from the
/// signed properties only: a decoy `SigningTime` outside them (first in
/// document order, so a plain search finds it) changes nothing.
#[test]
fn rules_read_the_signed_signing_time() {
    let pki = Pki::new();
    let ca = pki.ca("ca");
    let signer = pki.leaf("supplier", &ca, 51, 3650);
    let t0 = bogota(Utc::now() + Duration::seconds(120));
    let now = t0 + Duration::hours(1);
    let signed = sign(&pki, &invoice(), &signer, &Opts::dian(t0));
    // Unsigned, and dated on the invoice's issue day.
    let decoy = "<ds:Object><x:SigningTime xmlns:x=\"http://uri.etsi.org/01903/v1.3.2#\">2024-03-15T10:05:00-05:00</x:SigningTime></ds:Object>";
    let i = signed
        .find("</ds:SignatureValue>")
        .expect("signature value")
        + "</ds:SignatureValue>".len();
    let decoyed = format!("{}{decoy}{}", &signed[..i], &signed[i..]);
    let dir = tempfile::tempdir().unwrap();
    let settings = settings_from(
        dir.path(),
        &format!(
            "[signatures]\nenforce = \"reject\"\ntrust_anchors = {:?}\n",
            ca.pem.display().to_string()
        ),
    );
    let codes = |xml: &str, s: &pasarela::dian::DianSettings| -> Vec<String> {
        pasarela::dian::validate(xml.as_bytes(), s, now)
            .findings
            .into_iter()
            .map(|f| f.code)
            .collect()
    };
    // The decoy does not break the signature: it is outside every reference.
    let got = codes(&decoyed, &settings);
    assert!(
        !got.iter().any(|c| SIGNATURE_CODES.contains(&c.as_str())),
        "{got:?}"
    );
    // Signed years after the issue date: FAD09e, from the signed time.
    assert!(got.contains(&"FAD09e".to_owned()), "{got:?}");
    // Without verification the model's own reading (the decoy) is used.
    let off = pasarela::dian::DianSettings::default();
    assert!(!codes(&decoyed, &off).contains(&"FAD09e".to_owned()));
}

/// RADIAN events are verified like invoices: a genuine signature passes, an
/// edit after signing is ZE02, an unsigned event is PAS15 (reject settings).
#[test]
fn events_are_signature_checked_like_invoices() {
    use pasarela::result::Severity::Reject;
    let pki = Pki::new();
    let ca = pki.ca("ca");
    let signer = pki.leaf("buyer", &ca, 22, 3650);
    let t0 = bogota(Utc::now() + Duration::seconds(120));
    let now = t0 + Duration::hours(1);
    let inv = generator::build(7, DocKind::Invoice, &GenOptions::default());
    let unsigned = generator::event(&inv, "031", "EV031-1", "2024-03-15").xml;
    let signed = sign(&pki, &unsigned, &signer, &Opts::dian(t0));
    let tampered = signed.replacen("<cbc:ResponseCode>031", "<cbc:ResponseCode>030", 1);
    assert_ne!(signed, tampered);
    let dir = tempfile::tempdir().unwrap();
    let reject = settings_from(
        dir.path(),
        &format!(
            "[signatures]\nenforce = \"reject\"\ntrust_anchors = {:?}\n",
            ca.pem.display().to_string()
        ),
    );
    assert_eq!(signature_findings(&signed, &reject, now), vec![]);
    let v = pasarela::dian::validate(signed.as_bytes(), &reject, now);
    assert!(v.event.is_some() && !v.rejected(), "{:?}", v.findings);
    assert_eq!(
        signature_findings(&tampered, &reject, now),
        vec![("ZE02".to_owned(), Reject)]
    );
    assert_eq!(
        signature_findings(&unsigned, &reject, now),
        vec![("PAS15".to_owned(), Reject)]
    );
}
