//! Unit tests of the XAdES verifier: canonicalisation vectors (the expected
//! outputs of whole documents were produced by libxml2's `xmllint --c14n` /
//! `--exc-c14n`), hostile input, and DIAN's public example invoice.

use super::*;

fn dom(xml: &str) -> Dom {
    dom::parse_str(xml, &DEFAULT_LIMITS).expect("test XML parses")
}

fn canon(d: &Dom, apex: Apex, method: &Method) -> String {
    String::from_utf8(c14n::canonicalize(d, apex, None, method)).unwrap()
}

const INCL: Method = Method::Inclusive { comments: false };
const INCL_COMMENTS: Method = Method::Inclusive { comments: true };

const V1: &str = "<?xml version=\"1.0\"?>\n<?pi-before  some data ?>\n<!-- before -->\n<doc xmlns=\"urn:d\" xmlns:b=\"urn:b\" xmlns:a=\"urn:a\" a:z=\"1\" y='2' b:x=\"3&#x9;t&#xA;n\" plain=\"&lt;&amp;&gt;&quot;'\">\n   <e1   />\n   <a:e2 xmlns:a=\"urn:a\" xmlns:c=\"urn:c\"><c:e3 xmlns=\"\">t&amp;&lt;&gt;\"x\"<![CDATA[<cd>&]]></c:e3></a:e2>\n   <!-- inner -->\n   <e4 xml:lang=\"es\">l&#xD;r</e4>\n</doc>\n<!-- after -->\n";

const V1_ROOT: &str = "<doc xmlns=\"urn:d\" xmlns:a=\"urn:a\" xmlns:b=\"urn:b\" plain=\"&lt;&amp;>&quot;'\" y=\"2\" a:z=\"1\" b:x=\"3&#x9;t&#xA;n\">";

#[test]
fn inclusive_c14n_of_a_document_matches_libxml2() {
    let d = dom(V1);
    let with = canon(&d, Apex::Document, &INCL_COMMENTS);
    let expected = format!(
        "<?pi-before some data ?>\n<!-- before -->\n{V1_ROOT}\n   <e1></e1>\n   <a:e2 xmlns:c=\"urn:c\"><c:e3 xmlns=\"\">t&amp;&lt;&gt;\"x\"&lt;cd&gt;&amp;</c:e3></a:e2>\n   <!-- inner -->\n   <e4 xml:lang=\"es\">l&#xD;r</e4>\n</doc>\n<!-- after -->"
    );
    assert_eq!(with, expected);
    let without = canon(&d, Apex::Document, &INCL);
    let expected = format!(
        "<?pi-before some data ?>\n{V1_ROOT}\n   <e1></e1>\n   <a:e2 xmlns:c=\"urn:c\"><c:e3 xmlns=\"\">t&amp;&lt;&gt;\"x\"&lt;cd&gt;&amp;</c:e3></a:e2>\n   \n   <e4 xml:lang=\"es\">l&#xD;r</e4>\n</doc>"
    );
    assert_eq!(without, expected);
}

#[test]
fn exclusive_c14n_of_a_document_matches_libxml2() {
    let d = dom(V1);
    let m = Method::Exclusive {
        comments: true,
        inclusive_prefixes: Vec::new(),
    };
    let expected = format!(
        "<?pi-before some data ?>\n<!-- before -->\n{V1_ROOT}\n   <e1></e1>\n   <a:e2><c:e3 xmlns:c=\"urn:c\">t&amp;&lt;&gt;\"x\"&lt;cd&gt;&amp;</c:e3></a:e2>\n   <!-- inner -->\n   <e4 xml:lang=\"es\">l&#xD;r</e4>\n</doc>\n<!-- after -->"
    );
    assert_eq!(canon(&d, Apex::Document, &m), expected);
}

#[test]
fn a_subtree_carries_the_namespaces_and_xml_attributes_in_scope() {
    let d = dom(
        r#"<r xmlns="urn:d" xmlns:a="urn:a" xml:lang="es"><a:s xmlns:b="urn:b" Id="x"><t b:k="v"/></a:s></r>"#,
    );
    let s = d.child_elements(d.root).next().unwrap();
    assert_eq!(
        canon(&d, Apex::Element(s), &INCL),
        r#"<a:s xmlns="urn:d" xmlns:a="urn:a" xmlns:b="urn:b" Id="x" xml:lang="es"><t b:k="v"></t></a:s>"#
    );
    let exc = Method::Exclusive {
        comments: false,
        inclusive_prefixes: Vec::new(),
    };
    assert_eq!(
        canon(&d, Apex::Element(s), &exc),
        r#"<a:s xmlns:a="urn:a" Id="x"><t xmlns="urn:d" xmlns:b="urn:b" b:k="v"></t></a:s>"#
    );
    let exc_default = Method::Exclusive {
        comments: false,
        inclusive_prefixes: vec![String::new()],
    };
    assert_eq!(
        canon(&d, Apex::Element(s), &exc_default),
        r#"<a:s xmlns="urn:d" xmlns:a="urn:a" Id="x"><t xmlns:b="urn:b" b:k="v"></t></a:s>"#
    );
}

#[test]
fn an_excluded_subtree_leaves_no_trace() {
    let d = dom("<r><a>1</a><sig><x/></sig><b>2</b></r>");
    let sig = d.find("", "sig").unwrap();
    let out = c14n::canonicalize(&d, Apex::Document, Some(sig), &INCL);
    assert_eq!(String::from_utf8(out).unwrap(), "<r><a>1</a><b>2</b></r>");
}

#[test]
fn attribute_whitespace_and_line_ends_are_normalised_by_the_parser() {
    let d = dom("<r a=\"x\ty\r\nz\" b=\"&#x9;&#xD;\">l1\r\nl2\rl3</r>");
    assert_eq!(
        canon(&d, Apex::Document, &INCL),
        "<r a=\"x y z\" b=\"&#x9;&#xD;\">l1\nl2\nl3</r>"
    );
}

#[test]
fn hostile_input_is_refused_with_a_pas_code() {
    let doctype = "<!DOCTYPE r [<!ENTITY e \"x\">]><r>&e;</r>";
    assert_eq!(
        dom::parse_str(doctype, &DEFAULT_LIMITS).unwrap_err().code,
        "PAS04"
    );
    let unknown = "<r>&e;</r>";
    assert_eq!(
        dom::parse_str(unknown, &DEFAULT_LIMITS).unwrap_err().code,
        "PAS05"
    );
    let deep = "<a>".repeat(200) + &"</a>".repeat(200);
    assert_eq!(
        dom::parse_str(&deep, &DEFAULT_LIMITS).unwrap_err().code,
        "PAS06"
    );
    let undeclared = "<p:r/>";
    assert_eq!(
        dom::parse_str(undeclared, &DEFAULT_LIMITS)
            .unwrap_err()
            .code,
        "PAS10"
    );
    let truncated = "<r><a>";
    assert_eq!(
        dom::parse_str(truncated, &DEFAULT_LIMITS).unwrap_err().code,
        "PAS10"
    );
    let small = Limits {
        max_bytes: 10,
        ..DEFAULT_LIMITS
    };
    assert_eq!(
        dom::parse(b"<r>0123456789</r>", &small).unwrap_err().code,
        "PAS02"
    );
}

fn now() -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339("2019-06-22T00:00:00-05:00").unwrap()
}

#[test]
fn an_unsigned_document_is_reported_as_such() {
    let r = verify(b"<Invoice xmlns=\"urn:x\"/>", &TrustStore::new(), now());
    assert!(matches!(r.status(CheckKind::Present), Status::Failed(_)));
    let f = r.findings();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].code, "PAS15");
    assert!(f[0].message.starts_with("Regla: PAS15, Rechazo: "));
    let r = verify(b"<Invoice", &TrustStore::new(), now());
    assert_eq!(r.findings()[0].code, "PAS15");
}

/// DIAN's public example was edited after signing (dian.md): its document
/// digest and signature value fail, and its CA is not trusted, while the
/// XAdES properties (signing certificate digest, issuer and serial, DIAN's
/// policy, signing time) are those of a genuine DIAN signature.
#[test]
fn dian_example_invoice() {
    let x = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/fixtures/dian/exento-de-iva-v1.9.xml"
    ))
    .expect("shared DIAN example");
    let r = verify(&x, &TrustStore::new(), now());
    assert_eq!(r.status(CheckKind::Present), &Status::Ok);
    assert_eq!(r.status(CheckKind::Structure), &Status::Ok);
    assert_eq!(r.status(CheckKind::SigningCertificate), &Status::Ok);
    assert_eq!(r.status(CheckKind::Policy), &Status::Ok);
    assert_eq!(r.status(CheckKind::SigningTime), &Status::Ok);
    assert_eq!(r.status(CheckKind::Validity), &Status::Ok);
    assert!(matches!(
        r.status(CheckKind::DocumentDigest),
        Status::Failed(_)
    ));
    assert!(matches!(
        r.status(CheckKind::SignatureValue),
        Status::Failed(_)
    ));
    assert!(matches!(r.status(CheckKind::Chain), Status::Failed(_)));
    assert!(
        r.signer
            .as_deref()
            .unwrap_or("")
            .contains("CN=Usuario de Pruebas Persona Juridica")
    );
    let codes: Vec<String> = r.findings().into_iter().map(|f| f.code).collect();
    assert!(codes.contains(&"ZE02".to_owned()) && codes.contains(&"ZD05".to_owned()));
    // Years later the certificate had expired, but validity is judged at
    // the signing time.
    let later = DateTime::parse_from_rfc3339("2026-01-01T00:00:00-05:00").unwrap();
    assert_eq!(
        verify(&x, &TrustStore::new(), later).status(CheckKind::Validity),
        &Status::Ok
    );
}

fn signature_with(signed_info_body: &str) -> String {
    format!(
        r#"<r xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:Signature><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="{}"/>{signed_info_body}</ds:SignedInfo><ds:SignatureValue>AA==</ds:SignatureValue></ds:Signature></r>"#,
        c14n::C14N
    )
}

const REF: &str = r#"<ds:Reference URI=""><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue>AA==</ds:DigestValue></ds:Reference>"#;

fn structure_reason(xml: &str) -> String {
    let r = verify(xml.as_bytes(), &TrustStore::new(), now());
    assert_eq!(r.status(CheckKind::Present), &Status::Ok);
    assert_eq!(r.findings()[0].code, "PAS16");
    match r.status(CheckKind::Structure) {
        Status::Failed(why) => why.clone(),
        other => panic!("expected a structure failure, got {other:?}"),
    }
}

#[test]
fn unsupported_or_oversized_signatures_are_structure_failures() {
    let rsa =
        r#"<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>"#;
    let many = format!("{rsa}{}", REF.repeat(MAX_REFERENCES + 1));
    assert!(structure_reason(&signature_with(&many)).contains("más de 8 referencias"));
    let hmac = format!(
        r#"<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"/>{REF}"#
    );
    assert!(structure_reason(&signature_with(&hmac)).contains("hmac-sha256"));
    let xpath = format!(
        r#"{rsa}<ds:Reference URI=""><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue>AA==</ds:DigestValue></ds:Reference>"#
    );
    assert!(structure_reason(&signature_with(&xpath)).contains("transformación no admitida"));
    // Without the enveloped transform the signature would sign itself.
    let no_enveloped = format!("{rsa}{REF}");
    assert!(structure_reason(&signature_with(&no_enveloped)).contains("enveloped-signature"));
}
