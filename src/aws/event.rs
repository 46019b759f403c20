//! The pure half of the S3 path: S3 event notifications (as SQS message
//! bodies) → objects, and object keys → (account, relative path) with the
//! layout `pasarela aws sync` gives the homes (`[PREFIX/]NAME/incoming/REL`).
//! No IO; unit-tested on every build.

use serde::Deserialize;

use super::config::Aws;

/// One `ObjectCreated` record of a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub bucket: String,
    /// Decoded (notifications URL-encode keys).
    pub key: String,
}

/// Why a message is not an S3 notification: it goes to the dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(pub String);

#[derive(Deserialize)]
struct Notification {
    #[serde(rename = "Records")]
    records: Option<Vec<Record>>,
    /// `s3:TestEvent`, sent once when the notification is configured.
    #[serde(rename = "Event")]
    event: Option<String>,
    /// S3 → SNS → SQS: the notification is a string inside the envelope.
    #[serde(rename = "Type")]
    sns_type: Option<String>,
    #[serde(rename = "Message")]
    sns_message: Option<String>,
}

#[derive(Deserialize)]
struct Record {
    #[serde(rename = "eventName")]
    event_name: String,
    s3: RecordS3,
}

#[derive(Deserialize)]
struct RecordS3 {
    bucket: NamedBucket,
    object: RecordObject,
}

#[derive(Deserialize)]
struct NamedBucket {
    name: String,
}

#[derive(Deserialize)]
struct RecordObject {
    key: String,
}

/// The objects a message says were created. `Ok(empty)` for a test event or
/// records of other kinds (deletions); `Err` for anything that is not an
/// S3 notification at all.
pub fn parse_message(body: &str) -> Result<Vec<Created>, Malformed> {
    parse_depth(body, 0)
}

fn parse_depth(body: &str, depth: u8) -> Result<Vec<Created>, Malformed> {
    let n: Notification = serde_json::from_str(body)
        .map_err(|e| Malformed(format!("not an S3 event notification: {e}")))?;
    if n.sns_type.as_deref() == Some("Notification") && depth == 0 {
        let inner = n
            .sns_message
            .ok_or_else(|| Malformed("SNS envelope without a Message".into()))?;
        return parse_depth(&inner, 1);
    }
    if let Some(records) = n.records {
        let mut out = Vec::new();
        for r in records {
            if !r.event_name.starts_with("ObjectCreated:")
                && !r.event_name.starts_with("s3:ObjectCreated:")
            {
                continue;
            }
            let key = decode_key(&r.s3.object.key)
                .ok_or_else(|| Malformed("an object key that is not URL-encoded UTF-8".into()))?;
            out.push(Created {
                bucket: r.s3.bucket.name,
                key,
            });
        }
        return Ok(out);
    }
    if n.event.as_deref() == Some("s3:TestEvent") {
        return Ok(Vec::new());
    }
    Err(Malformed(
        "JSON without Records: not an S3 event notification".into(),
    ))
}

/// S3 notifications encode keys like an HTML form: `%XX` escapes and `+`
/// for a space.
pub fn decode_key(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// `bucket/key` for CopyObject's `x-amz-copy-source`, the key URL-encoded.
pub fn copy_source(bucket: &str, key: &str) -> String {
    let mut out = format!("{bucket}/");
    for &c in key.as_bytes() {
        if c.is_ascii_alphanumeric() || b"-_.~/".contains(&c) {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

/// Where an object is in the homes' layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    pub account: String,
    /// Path below the account's `incoming/`, `/`-separated.
    pub rel: String,
}

/// The account and relative path of a key under some account's
/// `incoming/`; `None` for any other key (outgoing/, archive/, a folder
/// marker, a key outside the homes) and for relative paths a local upload
/// could not have (empty, `.`/`..` parts, hidden or temporary names,
/// control characters).
pub fn place(aws: &Aws, key: &str) -> Option<Placed> {
    let rest = if aws.home_prefix.is_empty() {
        key
    } else {
        key.strip_prefix(aws.home_prefix.as_str())?
            .strip_prefix('/')?
    };
    let (account, rest) = rest.split_once('/')?;
    let rel = rest.strip_prefix("incoming/")?;
    if account.is_empty()
        || rel.is_empty()
        || rel.split('/').any(|c| {
            c == "."
                || c == ".."
                || crate::fsutil::is_ignored_name(c)
                || c.chars().any(|ch| ch.is_control() || ch == '\\')
        })
    {
        return None;
    }
    Some(Placed {
        account: account.to_string(),
        rel: rel.to_string(),
    })
}

/// The name of an archived input relative to `archive/` (`YYYY-MM-DD/<id>-<name>`),
/// from the archive path the job recorded: its last two components.
pub fn archive_name(archive_path: &std::path::Path) -> Option<String> {
    let mut parts: Vec<String> = archive_path
        .iter()
        .rev()
        .take(2)
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    if parts.len() < 2 {
        return None;
    }
    parts.reverse();
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aws(prefix: &str) -> Aws {
        Aws {
            region: "us-east-1".into(),
            endpoint_url: None,
            server_id: "s-0123456789abcdef0".into(),
            role_arn: "arn:aws:iam::1:role/r".into(),
            bucket: "bolsa".into(),
            home_prefix: prefix.into(),
            import_host_key: false,
            s3: None,
        }
    }

    #[test]
    fn notifications_are_read_as_aws_and_moto_send_them() {
        // AWS keeps '/' and writes a space as '+'; moto also escapes '/'.
        let aws_body = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put",
            "s3":{"bucket":{"name":"bolsa"},"object":{"key":"p/acme/incoming/fac+1%C3%B1.xml","size":5,"eTag":"x"}}},
            {"eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"bolsa"},"object":{"key":"k"}}}]}"#;
        let got = parse_message(aws_body).unwrap();
        assert_eq!(
            got,
            vec![Created {
                bucket: "bolsa".into(),
                key: "p/acme/incoming/fac 1ñ.xml".into()
            }]
        );
        let moto_body = r#"{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"p%2Facme%2Fincoming%2Fx+y.xml"}}}]}"#;
        assert_eq!(
            parse_message(moto_body).unwrap()[0].key,
            "p/acme/incoming/x y.xml"
        );
        let test_event = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"}"#;
        assert!(parse_message(test_event).unwrap().is_empty());
        let sns = serde_json::json!({"Type": "Notification", "Message": moto_body}).to_string();
        assert_eq!(parse_message(&sns).unwrap().len(), 1);
    }

    #[test]
    fn anything_else_is_malformed() {
        for body in [
            "garbage",
            "{}",
            r#"{"Records":[{"eventName":"ObjectCreated:Put"}]}"#,
            r#"{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"%FF%FE"}}}]}"#,
            r#"{"Type":"Notification","Message":"{\"Type\":\"Notification\",\"Message\":\"{}\"}"}"#,
        ] {
            assert!(parse_message(body).is_err(), "{body}");
        }
    }

    #[test]
    fn keys_are_placed_in_the_homes_layout() {
        let a = aws("pasarela/homes");
        assert_eq!(
            place(&a, "pasarela/homes/acme/incoming/2026/f.xml"),
            Some(Placed {
                account: "acme".into(),
                rel: "2026/f.xml".into()
            })
        );
        for k in [
            "pasarela/homes/acme/outgoing/f.xml",
            "pasarela/homes/acme/incoming/",
            "pasarela/homes/acme/incoming/sub/",
            "pasarela/homes/acme/incoming/../x.xml",
            "pasarela/homes/acme/incoming/.hidden",
            "pasarela/homes/acme/incoming/f.xml.part",
            "pasarela/homes/acme/incoming/a\u{1b}b.xml",
            "other/acme/incoming/f.xml",
            "pasarela/homesX/acme/incoming/f.xml",
            "pasarela/homes/acme",
        ] {
            assert_eq!(place(&a, k), None, "{k}");
        }
        assert_eq!(
            place(&aws(""), "acme/incoming/f.xml").unwrap().account,
            "acme"
        );
        assert_eq!(a.home_key("acme"), "pasarela/homes/acme/");
        assert_eq!(aws("").home_key("acme"), "acme/");
    }

    #[test]
    fn copy_sources_and_archive_names() {
        assert_eq!(copy_source("b", "a/x y+ñ.xml"), "b/a/x%20y%2B%C3%B1.xml");
        assert_eq!(
            archive_name(std::path::Path::new(
                "/h/acme/archive/2026-12-07/00000012-f.xml"
            ))
            .as_deref(),
            Some("2026-12-07/00000012-f.xml")
        );
        assert_eq!(decode_key("%4"), None);
    }
}
