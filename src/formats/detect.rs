//! Content sniffing: the format is decided from the bytes, never the name.

use crate::result::Format;

/// Detect the format of a file from its content.
pub fn detect(bytes: &[u8]) -> Format {
    let head = &bytes[..bytes.len().min(1024)];
    if find(head, b"%PDF-").is_some() {
        return Format::Pdf;
    }
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n")
        || bytes.starts_with(&[0xFF, 0xD8, 0xFF])
        || bytes.starts_with(b"II*\0")
        || bytes.starts_with(b"MM\0*")
    {
        return Format::Image;
    }
    // OLE2 compound file (xls) and ZIP containers holding a workbook (xlsx, ods).
    if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        return Format::Excel;
    }
    if bytes.starts_with(b"PK\x03\x04") {
        if find(bytes, b"xl/workbook").is_some()
            || find(head, b"application/vnd.oasis.opendocument.spreadsheet").is_some()
        {
            return Format::Excel;
        }
        return Format::Unknown;
    }
    if looks_like_xml(bytes) {
        return Format::Xml;
    }
    Format::Unknown
}

fn looks_like_xml(bytes: &[u8]) -> bool {
    // UTF-16 with BOM is still XML (the parser reports the unsupported encoding).
    if bytes.starts_with(&[0xFF, 0xFE, b'<']) || bytes.starts_with(&[0xFE, 0xFF, 0, b'<']) {
        return true;
    }
    let b = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let rest = &b[start..];
    rest.len() >= 2
        && rest[0] == b'<'
        && (rest[1] == b'?' || rest[1] == b'!' || rest[1].is_ascii_alphabetic() || rest[1] == b'_')
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The root element's local name of an XML document, skipping the prolog,
/// comments, processing instructions and DOCTYPE. Cheap; no parsing beyond that.
pub fn xml_root_name(bytes: &[u8]) -> Option<String> {
    let b = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'<' {
            i += 1;
            continue;
        }
        let rest = &b[i + 1..];
        if rest.starts_with(b"?") {
            i += find(rest, b"?>")? + 3;
        } else if rest.starts_with(b"!--") {
            i += find(rest, b"-->")? + 4;
        } else if rest.starts_with(b"!") {
            i += find(rest, b">")? + 2;
        } else {
            let end = rest
                .iter()
                .position(|c| c.is_ascii_whitespace() || *c == b'>' || *c == b'/')?;
            let qname = std::str::from_utf8(&rest[..end]).ok()?;
            let local = qname.rsplit(':').next()?;
            return (!local.is_empty()).then(|| local.to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(bytes: &[u8], expect: Format) {
        assert_eq!(
            detect(bytes),
            expect,
            "{:?}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(20)])
        );
    }

    #[test]
    fn detects_by_content() {
        check(b"<?xml version=\"1.0\"?><Invoice/>", Format::Xml);
        check(b"\xEF\xBB\xBF\n  <Invoice xmlns=\"x\"/>", Format::Xml);
        check(b"%PDF-1.7\n...", Format::Pdf);
        check(b"\x89PNG\r\n\x1a\n....", Format::Image);
        check(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0], Format::Image);
        check(b"II*\0....", Format::Image);
        check(
            &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0, 0],
            Format::Excel,
        );
        check(b"PK\x03\x04......xl/workbook.xml....", Format::Excel);
        check(b"PK\x03\x04......word/document.xml", Format::Unknown);
        check(b"hello, world", Format::Unknown);
        check(b"", Format::Unknown);
        check(b"<", Format::Unknown);
    }

    #[test]
    fn real_fixtures() {
        let dian = std::fs::read("../shared/fixtures/dian/exento-de-iva-v1.9.xml").unwrap();
        assert_eq!(detect(&dian), Format::Xml);
        assert_eq!(xml_root_name(&dian).as_deref(), Some("Invoice"));
        let xls = std::fs::read("../shared/fixtures/bmc/PLANTILLA51_SIMONA.xls").unwrap();
        assert_eq!(detect(&xls), Format::Excel);
    }

    #[test]
    fn root_name_skips_prolog() {
        assert_eq!(
            xml_root_name(
                b"<?xml version='1.0'?><!-- c --><!DOCTYPE x><fe:CreditNote xmlns:fe='u'>"
            )
            .as_deref(),
            Some("CreditNote")
        );
        assert_eq!(xml_root_name(b"no xml"), None);
    }
}
