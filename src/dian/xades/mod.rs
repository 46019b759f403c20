//! XAdES-EPES signature verification of DIAN UBL documents (pure: bytes and
//! values in, a [`SignatureReport`] out; no IO, no clock: the caller passes
//! "now" and the [`TrustStore`]).
//!
//! What is verified, in order (docs/DIAN.md "Signature verification"):
//! 1. one `ds:Signature` with a supported `SignedInfo` (C14N 1.0 or exclusive
//!    C14N, with or without comments; RSA PKCS#1 v1.5 with SHA-1/256/384/512);
//! 2. the references: the document (`URI=""`, enveloped-signature
//!    transform), this signature's `ds:KeyInfo` and its
//!    `xades:SignedProperties` (by `Id`; an `Id` used twice is refused, so a
//!    reference cannot be pointed at a decoy element), each digest;
//! 3. the `SignatureValue` over canonical `SignedInfo`, with the key of a
//!    `ds:KeyInfo` certificate (that certificate is the signer);
//! 4. XAdES: `SigningCertificate` (digest, issuer and serial of the signer),
//!    `SigningTime` (present, not after "now"), DIAN's
//!    `SignaturePolicyIdentifier` (identifier and SHA-256 hash);
//! 5. the signer's certificate: valid at the signing time, a chain (through
//!    the other `ds:KeyInfo` certificates) to an anchor of the trust store
//!    with RSA signatures and CA issuers, not revoked by an offline CRL
//!    before signing, key usage allowing signatures.
//!
//! **Architecture Invariant:** the XML-DSig processing model here never
//! fetches anything: a reference other than `""` or `#id` is refused, as are
//! XPath and XSLT transforms.
//!
//! Every check lands in the report as ok, failed (with a Spanish reason for
//! the submitter) or not checked (an earlier failure made it meaningless);
//! [`SignatureReport::findings`] maps failures to DIAN's rule codes (ZE02,
//! ZD04–ZD07) or Pasarela's (PAS15–PAS19) with the default severity
//! (reject); the caller's settings decide the final severity.

pub mod algo;
pub mod c14n;
pub mod dom;
pub mod pki;
mod report;

use base64::Engine as _;
use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone};

pub use c14n::{Apex, Method};
pub use dom::Dom;
use dom::NodeId;
pub use pki::{Cert, TrustError, TrustStore};
pub use report::{Check, CheckKind, Part, SignatureReport, Status};

use super::xml::{Limits, NS_DS, NS_XADES};

/// DIAN's signature policy (Política de firma v2): identifier and SHA-256.
pub const DIAN_POLICY_URLS: &[&str] = &[
    "https://facturaelectronica.dian.gov.co/politicadefirma/v2/politicadefirmav2.pdf",
    "https://facturaelectronica.dian.gov.co/politicadefirma/v1/politicadefirmav2.pdf",
];
/// Base64 SHA-256 of DIAN's policy document, as DIAN's examples carry it.
pub const DIAN_POLICY_SHA256: &str = "dMoMvtcG5aIzgYo0tIsSQeVJBDnUnfSOfBpxXrmor0Y=";

const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const SIGNED_PROPERTIES_TYPE: &str = "http://uri.etsi.org/01903#SignedProperties";
const NS_EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";

/// Most `ds:Reference`s accepted (DIAN's profile has 3): each may
/// canonicalise the whole document, so the work stays a small multiple of it.
pub const MAX_REFERENCES: usize = 8;
/// Most transforms per reference (DIAN's profile has 1).
pub const MAX_TRANSFORMS: usize = 4;
/// Most certificates read from `ds:KeyInfo` (each is tried as the signer).
pub const MAX_KEYINFO_CERTS: usize = 10;
/// Most `xades:Cert` entries of `SigningCertificate` looked at.
pub const MAX_SIGNING_CERTS: usize = 10;

/// How far in the future a `SigningTime` may be (clock skew), in seconds.
pub const MAX_SIGNING_SKEW_SECS: i64 = 600;

/// Default limits (those of the default DIAN settings).
pub const DEFAULT_LIMITS: Limits = Limits {
    max_bytes: 20 * 1024 * 1024,
    max_depth: 100,
    max_elements: 1_000_000,
};

/// Verify the signature of a UBL document with the default size limits.
pub fn verify(xml: &[u8], trust: &TrustStore, now: DateTime<FixedOffset>) -> SignatureReport {
    verify_with_limits(xml, trust, now, &DEFAULT_LIMITS)
}

/// Verify the signature of a UBL document.
pub fn verify_with_limits(
    xml: &[u8],
    trust: &TrustStore,
    now: DateTime<FixedOffset>,
    limits: &Limits,
) -> SignatureReport {
    let mut report = SignatureReport::new();
    match dom::parse(xml, limits) {
        Ok(dom) => verify_dom(&dom, trust, now, &mut report),
        Err(p) => unreadable(&mut report, &p),
    }
    report
}

fn unreadable(report: &mut SignatureReport, p: &super::xml::XmlProblem) {
    report.fail(
        CheckKind::Present,
        format!(
            "el documento no se puede leer para verificar la firma: {}",
            p.message
        ),
    );
    report.skip_rest("documento ilegible");
}

/// Verify a file and, for an AttachedDocument, the invoice and DIAN's
/// ApplicationResponse it carries as text (CDATA): one report per part found.
pub fn verify_all(
    xml: &[u8],
    trust: &TrustStore,
    now: DateTime<FixedOffset>,
    limits: &Limits,
) -> Vec<(Part, SignatureReport)> {
    let mut report = SignatureReport::new();
    let dom = match dom::parse(xml, limits) {
        Ok(d) => d,
        Err(p) => {
            unreadable(&mut report, &p);
            return vec![(Part::Root, report)];
        }
    };
    verify_dom(&dom, trust, now, &mut report);
    let mut out = vec![(Part::Root, report)];
    let root = dom.root;
    if !dom.is(root, super::xml::NS_ATTACHED, "AttachedDocument") {
        return out;
    }
    let cac = super::xml::NS_CAC;
    let description = |start: NodeId| -> Option<String> {
        let a = dom.child(start, cac, "Attachment")?;
        let e = dom.child(a, cac, "ExternalReference")?;
        let d = dom.child(e, super::xml::NS_CBC, "Description")?;
        Some(dom.text(d).trim().to_owned()).filter(|t| !t.is_empty())
    };
    if let Some(t) = description(root) {
        out.push((
            Part::Embedded,
            verify_with_limits(t.as_bytes(), trust, now, limits),
        ));
    }
    let response = dom
        .child(root, cac, "ParentDocumentLineReference")
        .and_then(|p| dom.child(p, cac, "DocumentReference"))
        .and_then(description);
    if let Some(t) = response {
        out.push((
            Part::DianResponse,
            verify_with_limits(t.as_bytes(), trust, now, limits),
        ));
    }
    out
}

/// A parsed `ds:Reference`.
struct Reference {
    uri: String,
    ty: Option<String>,
    transforms: Vec<(String, NodeId)>,
    hash: Hash,
    digest: Vec<u8>,
}

use algo::Hash;

fn b64(text: &str) -> Option<Vec<u8>> {
    let clean: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(clean.as_bytes())
        .ok()
}

fn structure_fail(report: &mut SignatureReport, reason: impl Into<String>) {
    report.fail(CheckKind::Structure, reason);
    report.skip_rest("la estructura de la firma no es válida");
}

/// Elements carrying an unprefixed `Id` attribute with this value.
fn by_id(dom: &Dom, id: &str) -> Vec<NodeId> {
    dom.elements()
        .filter(|e| dom.attr(*e, "Id") == Some(id))
        .collect()
}

fn parse_reference(dom: &Dom, r: NodeId) -> Result<Reference, String> {
    let uri = dom
        .attr(r, "URI")
        .ok_or("un ds:Reference no tiene el atributo URI")?
        .to_owned();
    let ty = dom.attr(r, "Type").map(str::to_owned);
    let mut transforms = Vec::new();
    if let Some(ts) = dom.child(r, NS_DS, "Transforms") {
        for t in dom.children_named(ts, NS_DS, "Transform") {
            if transforms.len() == MAX_TRANSFORMS {
                return Err(format!(
                    "un ds:Reference tiene más de {MAX_TRANSFORMS} transformaciones"
                ));
            }
            let alg = dom
                .attr(t, "Algorithm")
                .ok_or("un ds:Transform no tiene Algorithm")?;
            if alg != ENVELOPED && Method::from_uri(alg).is_none() {
                return Err(format!("transformación no admitida: {alg}"));
            }
            transforms.push((alg.to_owned(), t));
        }
    }
    let dm = dom
        .child(r, NS_DS, "DigestMethod")
        .ok_or("un ds:Reference no tiene ds:DigestMethod")?;
    let alg = dom.attr(dm, "Algorithm").unwrap_or("");
    let hash = Hash::from_digest_uri(alg)
        .ok_or_else(|| format!("algoritmo de resumen no admitido: {alg}"))?;
    let dv = dom
        .child(r, NS_DS, "DigestValue")
        .ok_or("un ds:Reference no tiene ds:DigestValue")?;
    let digest = b64(&dom.text(dv)).ok_or("un ds:DigestValue no es base64 válido")?;
    Ok(Reference {
        uri,
        ty,
        transforms,
        hash,
        digest,
    })
}

/// The canonicalisation method of a `ds:CanonicalizationMethod` or
/// `ds:Transform` element (with its `InclusiveNamespaces` prefix list).
fn method_of(dom: &Dom, el: NodeId, alg: &str) -> Option<Method> {
    let mut m = Method::from_uri(alg)?;
    if let Method::Exclusive {
        inclusive_prefixes, ..
    } = &mut m
        && let Some(inc) = dom.child(el, NS_EXC_C14N, "InclusiveNamespaces")
    {
        *inclusive_prefixes = dom
            .attr(inc, "PrefixList")
            .unwrap_or("")
            .split_ascii_whitespace()
            .map(|p| {
                if p == "#default" {
                    String::new()
                } else {
                    p.to_owned()
                }
            })
            .collect();
    }
    Some(m)
}

/// The digest input of a reference: its node set (a subtree, or the whole
/// document) through its transforms, canonicalised.
fn reference_octets(
    dom: &Dom,
    reference: &Reference,
    signature: NodeId,
) -> Result<(Vec<u8>, Option<NodeId>), String> {
    let (apex, target) = if reference.uri.is_empty() {
        (Apex::Document, None)
    } else if let Some(id) = reference.uri.strip_prefix('#') {
        let found = by_id(dom, id);
        match found.as_slice() {
            [one] => (Apex::Element(*one), Some(*one)),
            [] => return Err(format!("ninguna parte del documento tiene Id=\"{id}\"")),
            _ => {
                return Err(format!(
                    "el Id \"{id}\" aparece {} veces (posible ataque de envoltura de firma)",
                    found.len()
                ));
            }
        }
    } else {
        return Err(format!(
            "la referencia URI=\"{}\" apunta fuera del documento; solo se admiten \"\" y \"#Id\"",
            reference.uri
        ));
    };
    let mut exclude = None;
    let mut method = Method::Inclusive { comments: false };
    for (alg, el) in &reference.transforms {
        if alg == ENVELOPED {
            let inside = match apex {
                Apex::Document => true,
                Apex::Element(a) => dom.is_within(signature, a),
            };
            if inside {
                exclude = Some(signature);
            }
        } else if let Some(m) = method_of(dom, *el, alg) {
            method = m;
        }
    }
    // Same-document references never carry comments (XML-DSig §4.3.3.3).
    let method = method.without_comments();
    Ok((c14n::canonicalize(dom, apex, exclude, &method), target))
}

fn parse_signing_time(text: &str) -> Option<DateTime<FixedOffset>> {
    let t = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Some(d);
    }
    // Without an offset: Colombian time, as DIAN's documents mean it.
    let naive = NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f").ok()?;
    let bogota = FixedOffset::west_opt(5 * 3600)?;
    bogota.from_local_datetime(&naive).single()
}

/// Loose comparison of an `X509IssuerName` string with the certificate's
/// issuer: every plain (non-`#hex`) attribute value of the string must be one
/// of the issuer's values. Renderings of the same name differ between
/// signers (order, spacing, escaping), so exact string equality would reject
/// genuine signatures.
fn issuer_matches(text: &str, cert: &Cert) -> bool {
    let values = cert.issuer_values();
    let norm = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    let have: Vec<String> = values.iter().map(|v| norm(v)).collect();
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut escaped = false;
    for ch in text.chars() {
        if escaped {
            cur.push(ch);
            escaped = false;
        } else if ch == '\\' {
            escaped = true;
        } else if ch == ',' || ch == ';' || ch == '+' {
            parts.push(std::mem::take(&mut cur));
        } else {
            cur.push(ch);
        }
    }
    parts.push(cur);
    let mut any = false;
    for p in parts {
        let Some((_, v)) = p.split_once('=') else {
            if p.trim().is_empty() {
                continue;
            }
            return false;
        };
        let v = v.trim().trim_matches('"');
        if v.starts_with('#') {
            continue;
        }
        any = true;
        if !have.contains(&norm(v)) {
            return false;
        }
    }
    any
}

/// Every check of one signature, in the order of [`CheckKind::ALL`]. Long on
/// purpose: one straight sequence where each early return marks the checks
/// after it as not run, which is what a reviewer audits against XML-DSig and
/// DIAN's XAdES profile; the pieces that stand alone (references, the
/// signing certificate, the policy, the chain) are their own functions.
fn verify_dom(
    dom: &Dom,
    trust: &TrustStore,
    now: DateTime<FixedOffset>,
    report: &mut SignatureReport,
) {
    let Some(sig) = dom.find(NS_DS, "Signature") else {
        report.fail(
            CheckKind::Present,
            "el documento no tiene firma electrónica (ds:Signature)",
        );
        report.skip_rest("el documento no está firmado");
        return;
    };
    report.ok(CheckKind::Present);

    // --- SignedInfo and its references.
    let Some(si) = dom.child(sig, NS_DS, "SignedInfo") else {
        return structure_fail(report, "la firma no tiene ds:SignedInfo");
    };
    let Some(cm) = dom.child(si, NS_DS, "CanonicalizationMethod") else {
        return structure_fail(report, "ds:SignedInfo no tiene ds:CanonicalizationMethod");
    };
    let cm_alg = dom.attr(cm, "Algorithm").unwrap_or("");
    let Some(si_method) = method_of(dom, cm, cm_alg) else {
        return structure_fail(
            report,
            format!("método de canonicalización no admitido: {cm_alg}"),
        );
    };
    let Some(sm) = dom.child(si, NS_DS, "SignatureMethod") else {
        return structure_fail(report, "ds:SignedInfo no tiene ds:SignatureMethod");
    };
    let sm_alg = dom.attr(sm, "Algorithm").unwrap_or("");
    let Some(sig_hash) = Hash::from_rsa_signature_uri(sm_alg) else {
        return structure_fail(report, format!("algoritmo de firma no admitido: {sm_alg}"));
    };
    let mut refs = Vec::new();
    for r in dom.children_named(si, NS_DS, "Reference") {
        if refs.len() == MAX_REFERENCES {
            return structure_fail(
                report,
                format!("ds:SignedInfo tiene más de {MAX_REFERENCES} referencias"),
            );
        }
        match parse_reference(dom, r) {
            Ok(x) => refs.push(x),
            Err(e) => return structure_fail(report, e),
        }
    }
    let Some(sv_el) = dom.child(sig, NS_DS, "SignatureValue") else {
        return structure_fail(report, "la firma no tiene ds:SignatureValue");
    };
    let Some(signature_value) = b64(&dom.text(sv_el)) else {
        return structure_fail(report, "ds:SignatureValue no es base64 válido");
    };
    let key_info = dom.child(sig, NS_DS, "KeyInfo");
    let signed_props = dom
        .children_named(sig, NS_DS, "Object")
        .flat_map(|o| dom.children_named(o, NS_XADES, "QualifyingProperties"))
        .flat_map(|q| dom.children_named(q, NS_XADES, "SignedProperties"))
        .next();

    // Which reference is which.
    let doc_refs: Vec<&Reference> = refs.iter().filter(|r| r.uri.is_empty()).collect();
    if doc_refs.len() != 1 {
        return structure_fail(
            report,
            format!(
                "se esperaba una referencia al documento completo (URI=\"\"), hay {}",
                doc_refs.len()
            ),
        );
    }
    if !doc_refs[0].transforms.iter().any(|(a, _)| a == ENVELOPED) {
        return structure_fail(
            report,
            "la referencia al documento no tiene la transformación enveloped-signature",
        );
    }
    let id_of = |el: Option<NodeId>| el.and_then(|e| dom.attr(e, "Id")).map(|i| format!("#{i}"));
    let ki_uri = id_of(key_info);
    let sp_uri = id_of(signed_props);
    let ki_ref = refs
        .iter()
        .find(|r| ki_uri.as_deref() == Some(r.uri.as_str()));
    let sp_ref = refs
        .iter()
        .find(|r| sp_uri.as_deref() == Some(r.uri.as_str()));
    let Some(sp_ref) = sp_ref else {
        return structure_fail(
            report,
            "ninguna referencia firma las xades:SignedProperties de esta firma (XAdES-EPES)",
        );
    };
    if sp_ref.ty.as_deref() != Some(SIGNED_PROPERTIES_TYPE) {
        return structure_fail(
            report,
            format!(
                "la referencia a xades:SignedProperties no tiene Type=\"{SIGNED_PROPERTIES_TYPE}\""
            ),
        );
    }
    report.ok(CheckKind::Structure);

    // --- Reference digests.
    for r in &refs {
        let kind = if r.uri.is_empty() {
            CheckKind::DocumentDigest
        } else if Some(r.uri.as_str()) == ki_uri.as_deref() {
            CheckKind::KeyInfoDigest
        } else if Some(r.uri.as_str()) == sp_uri.as_deref() {
            CheckKind::SignedPropertiesDigest
        } else {
            // Any other reference must verify too; it counts as the document.
            CheckKind::DocumentDigest
        };
        match reference_octets(dom, r, sig) {
            Ok((octets, _)) => {
                if r.hash.digest(&octets) == r.digest {
                    if !matches!(report.status(kind), Status::Failed(_)) {
                        report.ok(kind);
                    }
                } else {
                    let what = match kind {
                        CheckKind::KeyInfoDigest => "a ds:KeyInfo (certificado)",
                        CheckKind::SignedPropertiesDigest => "a xades:SignedProperties",
                        _ => "al contenido del documento",
                    };
                    report.fail(
                        kind,
                        format!(
                            "la firma no corresponde {what}: el resumen {} (referencia URI=\"{}\") no coincide; el documento fue modificado después de firmarse",
                            r.hash.name(),
                            r.uri
                        ),
                    );
                }
            }
            Err(e) => {
                report.fail(kind, e);
            }
        }
    }
    if ki_ref.is_none() {
        // DIAN's profile signs the KeyInfo; without it a certificate could be swapped.
        report.fail(
            CheckKind::KeyInfoDigest,
            "ninguna referencia firma el ds:KeyInfo de esta firma",
        );
    }

    // --- Certificates in KeyInfo.
    let mut certs = Vec::new();
    if let Some(ki) = key_info {
        for xd in dom.children_named(ki, NS_DS, "X509Data") {
            for c in dom.children_named(xd, NS_DS, "X509Certificate") {
                if certs.len() == MAX_KEYINFO_CERTS {
                    break;
                }
                match b64(&dom.text(c)).map(|d| Cert::from_der(&d)) {
                    Some(Ok(cert)) => certs.push(cert),
                    Some(Err(e)) => {
                        report.fail(
                            CheckKind::SignatureValue,
                            format!("un certificado de ds:KeyInfo no es X.509 válido: {e}"),
                        );
                        report.skip_rest("certificado ilegible");
                        return;
                    }
                    None => {
                        report.fail(
                            CheckKind::SignatureValue,
                            "un ds:X509Certificate no es base64 válido",
                        );
                        report.skip_rest("certificado ilegible");
                        return;
                    }
                }
            }
        }
    }
    if certs.is_empty() {
        report.fail(
            CheckKind::SignatureValue,
            "la firma no incluye el certificado del firmante (ds:KeyInfo/ds:X509Data/ds:X509Certificate)",
        );
        report.skip_rest("sin certificado del firmante");
        return;
    }

    // --- SignatureValue.
    let signed_info = c14n::canonicalize(dom, Apex::Element(si), None, &si_method);
    let signer_idx = certs.iter().position(|c| {
        c.rsa_key()
            .is_ok_and(|k| algo::rsa_verify(&k, sig_hash, &signed_info, &signature_value))
    });
    let signer = match signer_idx {
        Some(i) => {
            report.ok(CheckKind::SignatureValue);
            certs.remove(i)
        }
        None => {
            let why = match certs[0].rsa_key() {
                Err(e) => e,
                Ok(_) => "el valor de la firma (ds:SignatureValue) no corresponde a ds:SignedInfo con la clave del certificado".to_owned(),
            };
            report.fail(CheckKind::SignatureValue, why);
            certs.remove(0)
        }
    };
    report.signer = Some(signer.subject_text());

    // --- XAdES signed properties (read only from the referenced element).
    let ssp = signed_props.and_then(|sp| dom.child(sp, NS_XADES, "SignedSignatureProperties"));
    let signing_time = ssp
        .and_then(|s| dom.child(s, NS_XADES, "SigningTime"))
        .map(|t| dom.text(t));
    match signing_time.as_deref().map(|t| (t, parse_signing_time(t))) {
        None => report.fail(CheckKind::SigningTime, "falta xades:SigningTime"),
        Some((t, None)) => report.fail(
            CheckKind::SigningTime,
            format!(
                "xades:SigningTime «{}» no es una fecha y hora válida",
                t.trim()
            ),
        ),
        Some((_, Some(st))) => {
            report.signing_time = Some(st);
            if st.timestamp() > now.timestamp() + MAX_SIGNING_SKEW_SECS {
                report.fail(
                    CheckKind::SigningTime,
                    format!(
                        "la fecha de firma {} es posterior a la recepción ({})",
                        st.to_rfc3339(),
                        now.to_rfc3339()
                    ),
                );
            } else {
                report.ok(CheckKind::SigningTime);
            }
        }
    }
    check_signing_certificate(dom, ssp, &signer, report);
    check_policy(dom, ssp, report);

    // --- Certificate: validity, chain, revocation, key usage.
    let at = report.signing_time.unwrap_or(now).timestamp();
    let chain = pki::check_chain(&signer, &certs, trust, at);
    report.chain = chain.path.clone();
    match chain.validity_error {
        None => report.ok(CheckKind::Validity),
        Some(e) => report.fail(CheckKind::Validity, e),
    }
    match chain.chain_error {
        None => report.ok(CheckKind::Chain),
        Some(e) if trust.is_empty() => report.fail(
            CheckKind::Chain,
            format!("no hay entidades de certificación de confianza configuradas ({e})"),
        ),
        Some(e) => report.fail(CheckKind::Chain, e),
    }
    match chain.revocation_error {
        None => report.ok(CheckKind::Revocation),
        Some(e) => report.fail(CheckKind::Revocation, e),
    }
    match signer.key_usage() {
        Some(ku) if !ku.digital_signature() && !ku.non_repudiation() => report.fail(
            CheckKind::KeyUsage,
            "el certificado del firmante no permite firmar (KeyUsage sin digitalSignature ni nonRepudiation)",
        ),
        _ => report.ok(CheckKind::KeyUsage),
    }
}

fn check_signing_certificate(
    dom: &Dom,
    ssp: Option<NodeId>,
    signer: &Cert,
    report: &mut SignatureReport,
) {
    let Some(sc) = ssp.and_then(|s| dom.child(s, NS_XADES, "SigningCertificate")) else {
        return report.fail(
            CheckKind::SigningCertificate,
            "falta xades:SigningCertificate",
        );
    };
    let mut reasons = Vec::new();
    for cert in dom
        .children_named(sc, NS_XADES, "Cert")
        .take(MAX_SIGNING_CERTS)
    {
        let digest = dom.child(cert, NS_XADES, "CertDigest").and_then(|cd| {
            let alg = dom.child(cd, NS_DS, "DigestMethod")?;
            let hash = Hash::from_digest_uri(dom.attr(alg, "Algorithm")?)?;
            let value = b64(&dom.text(dom.child(cd, NS_DS, "DigestValue")?))?;
            Some((hash, value))
        });
        let Some((hash, value)) = digest else {
            reasons.push("un xades:Cert no tiene un CertDigest legible".to_owned());
            continue;
        };
        if hash.digest(&signer.der) != value {
            continue; // another certificate of the chain
        }
        let is = dom.child(cert, NS_XADES, "IssuerSerial");
        let serial = is
            .and_then(|i| dom.child(i, NS_DS, "X509SerialNumber"))
            .map(|s| dom.text(s).trim().to_owned());
        let issuer = is
            .and_then(|i| dom.child(i, NS_DS, "X509IssuerName"))
            .map(|s| dom.text(s));
        match (serial, issuer) {
            (Some(s), Some(i)) => {
                if s != signer.serial_decimal() {
                    return report.fail(
                        CheckKind::SigningCertificate,
                        format!(
                            "xades:IssuerSerial indica la serie {s}, pero el certificado firmante tiene la serie {}",
                            signer.serial_decimal()
                        ),
                    );
                }
                if !issuer_matches(&i, signer) {
                    return report.fail(
                        CheckKind::SigningCertificate,
                        format!(
                            "xades:X509IssuerName «{}» no es el emisor del certificado firmante («{}»)",
                            i.trim(),
                            signer.issuer_text()
                        ),
                    );
                }
                return report.ok(CheckKind::SigningCertificate);
            }
            _ => {
                return report.fail(
                    CheckKind::SigningCertificate,
                    "el xades:Cert del firmante no tiene IssuerSerial completo",
                );
            }
        }
    }
    reasons.insert(
        0,
        "ningún xades:Cert de xades:SigningCertificate tiene el resumen del certificado firmante"
            .to_owned(),
    );
    report.fail(CheckKind::SigningCertificate, reasons.join("; "));
}

fn check_policy(dom: &Dom, ssp: Option<NodeId>, report: &mut SignatureReport) {
    let Some(pid) = ssp
        .and_then(|s| dom.child(s, NS_XADES, "SignaturePolicyIdentifier"))
        .and_then(|p| dom.child(p, NS_XADES, "SignaturePolicyId"))
    else {
        return report.fail(
            CheckKind::Policy,
            "falta xades:SignaturePolicyIdentifier con la política de firma de la DIAN (XAdES-EPES)",
        );
    };
    let identifier = dom
        .child(pid, NS_XADES, "SigPolicyId")
        .and_then(|s| dom.child(s, NS_XADES, "Identifier"))
        .map(|i| dom.text(i).trim().to_owned())
        .unwrap_or_default();
    if !DIAN_POLICY_URLS.contains(&identifier.as_str()) {
        return report.fail(
            CheckKind::Policy,
            format!(
                "la política de firma «{identifier}» no es la de la DIAN ({})",
                DIAN_POLICY_URLS[0]
            ),
        );
    }
    let hash = dom.child(pid, NS_XADES, "SigPolicyHash");
    let alg = hash
        .and_then(|h| dom.child(h, NS_DS, "DigestMethod"))
        .and_then(|d| dom.attr(d, "Algorithm"))
        .unwrap_or("");
    let value = hash
        .and_then(|h| dom.child(h, NS_DS, "DigestValue"))
        .map(|v| dom.text(v).trim().to_owned())
        .unwrap_or_default();
    if Hash::from_digest_uri(alg) != Some(Hash::Sha256) {
        return report.fail(
            CheckKind::Policy,
            format!("el resumen de la política de firma debe ser SHA-256 (es «{alg}»)"),
        );
    }
    if value != DIAN_POLICY_SHA256 {
        return report.fail(
            CheckKind::Policy,
            format!(
                "el resumen de la política de firma «{value}» no es el de la política de la DIAN ({DIAN_POLICY_SHA256})"
            ),
        );
    }
    report.ok(CheckKind::Policy);
}

#[cfg(test)]
mod tests;
