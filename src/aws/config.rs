//! `[aws]`: the AWS Transfer Family server `pasarela aws sync` keeps in step
//! with Pasarela's accounts (docs/AWS.md).
//!
//! Parsed whether or not the `aws` feature is compiled in, so `validate`
//! accepts (and checks) the same files on every build. Credentials are never
//! read from here: they come from the AWS chain (environment, profile, role).

use std::path::Path;

use serde::Deserialize;

use crate::problems::Problems;

/// Keys that would carry credentials: refused with a pointer to the AWS chain.
const CREDENTIAL_KEYS: &[&str] = &[
    "access_key_id",
    "aws_access_key_id",
    "secret_access_key",
    "aws_secret_access_key",
    "session_token",
    "aws_session_token",
];

/// `[aws]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AwsRaw {
    /// AWS region of the server, e.g. `us-east-1`.
    pub region: Option<String>,
    /// Another endpoint than AWS's, e.g. `http://127.0.0.1:5000` for moto.
    pub endpoint_url: Option<String>,
    /// The Transfer Family server, `s-` followed by 17 hex digits.
    pub server_id: Option<String>,
    /// IAM role the users get (it must allow access to `bucket`).
    pub role_arn: Option<String>,
    /// S3 bucket holding the homes.
    pub bucket: Option<String>,
    /// Folder inside the bucket above the homes, e.g. `pasarela`. Default: none.
    pub home_prefix: Option<String>,
    /// Import Pasarela's SFTP host keys into the server. Default false.
    pub import_host_key: bool,
    /// `[aws.s3]`: the S3 path (uploads in S3 reach the pipeline through
    /// SQS, results go back to S3). Default: none (no S3 intake). Kept as a
    /// value and read as [`S3Raw`], so unknown keys are named `aws.s3.KEY`.
    pub s3: Option<toml::Value>,
}

/// `[aws.s3]` as written: the S3 intake's queues and timings (docs/AWS.md).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct S3Raw {
    /// Name of the SQS queue the bucket's `s3:ObjectCreated:*` notifications
    /// go to. Required.
    pub queue: Option<String>,
    /// Name of its dead-letter queue. Default: the queue's name + `-dlq`.
    pub dead_letter_queue: Option<String>,
    /// Receives of one message before SQS moves it to the dead-letter queue.
    /// Default 5.
    pub max_receive_count: Option<u32>,
    /// How long a received message stays invisible to other daemons while
    /// this one stages it. Default 300.
    pub visibility_timeout_secs: Option<u64>,
    /// Long-poll wait of one ReceiveMessage call (0-20). Default 20.
    pub wait_secs: Option<u64>,
    /// How often the daemon lists every account's `incoming/` prefix to take
    /// objects whose event was lost (also once at start-up). Default 300.
    pub reconcile_interval_secs: Option<u64>,
    /// Objects staged at the same time. Default 8.
    pub concurrency: Option<usize>,
}

/// The compiled `[aws]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aws {
    pub region: String,
    pub endpoint_url: Option<String>,
    pub server_id: String,
    pub role_arn: String,
    pub bucket: String,
    /// Without leading or trailing `/`; empty for none.
    pub home_prefix: String,
    pub import_host_key: bool,
    /// `[aws.s3]`, compiled.
    pub s3: Option<S3>,
}

/// `[aws.s3]`, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3 {
    pub queue: String,
    pub dead_letter_queue: String,
    pub max_receive_count: u32,
    pub visibility_timeout: std::time::Duration,
    pub wait_secs: u64,
    pub reconcile_interval: std::time::Duration,
    pub concurrency: usize,
}

impl Aws {
    /// The key prefix of an account's home in the bucket: `[PREFIX/]NAME/`.
    pub fn home_key(&self, account: &str) -> String {
        if self.home_prefix.is_empty() {
            format!("{account}/")
        } else {
            format!("{}/{account}/", self.home_prefix)
        }
    }

    /// The S3 path an account's `/` maps to: `/BUCKET[/PREFIX]/NAME`.
    pub fn home_target(&self, account: &str) -> String {
        if self.home_prefix.is_empty() {
            format!("/{}/{account}", self.bucket)
        } else {
            format!("/{}/{}/{account}", self.bucket, self.home_prefix)
        }
    }
}

/// Compile `[aws]` from its TOML value, recording every problem.
pub fn compile(mut value: toml::Value, file: &Path, p: &mut Problems) -> Option<Aws> {
    if let toml::Value::Table(t) = &mut value {
        let found: Vec<String> = t
            .keys()
            .filter(|k| CREDENTIAL_KEYS.contains(&k.to_ascii_lowercase().as_str()))
            .cloned()
            .collect();
        for k in found {
            // Dropped here so the value is not also reported as an unknown key.
            t.remove(&k);
            {
                p.error(
                    file,
                    format!("aws.{k}"),
                    "credentials are never read from the configuration file; \
                     use the AWS chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, \
                     a profile, or an instance role)",
                );
            }
        }
    }
    let raw: AwsRaw = crate::problems::section(value, file, "aws", p)?;
    raw.compile(file, p)
}

impl AwsRaw {
    pub fn compile(self, file: &Path, p: &mut Problems) -> Option<Aws> {
        let mut ok = true;
        let mut required = |v: Option<String>, key: &str, p: &mut Problems| -> String {
            match v {
                Some(s) if !s.trim().is_empty() => s,
                _ => {
                    p.error(file, format!("aws.{key}"), "is required in [aws]");
                    ok = false;
                    String::new()
                }
            }
        };
        let region = required(self.region, "region", p);
        let server_id = required(self.server_id, "server_id", p);
        let role_arn = required(self.role_arn, "role_arn", p);
        let bucket = required(self.bucket, "bucket", p);

        if !region.is_empty()
            && !region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            p.error(
                file,
                "aws.region",
                format!("'{region}' is not a region name like us-east-1"),
            );
            ok = false;
        }
        if !server_id.is_empty() && !valid_server_id(&server_id) {
            p.error(
                file,
                "aws.server_id",
                format!("'{server_id}' is not a Transfer server id (s- and 17 hex digits)"),
            );
            ok = false;
        }
        let role_ok = role_arn.starts_with("arn:") && role_arn.contains(":role/");
        if !role_arn.is_empty() && !role_ok {
            p.error(
                file,
                "aws.role_arn",
                format!("'{role_arn}' is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)"),
            );
            ok = false;
        }
        if !bucket.is_empty() && !valid_bucket(&bucket) {
            p.error(
                file,
                "aws.bucket",
                format!(
                    "'{bucket}' is not an S3 bucket name (3-63 characters: a-z, 0-9, '.', '-')"
                ),
            );
            ok = false;
        }
        let home_prefix = self
            .home_prefix
            .as_deref()
            .unwrap_or("")
            .trim_matches('/')
            .to_string();
        if !home_prefix.is_empty()
            && home_prefix
                .split('/')
                .any(|c| c.is_empty() || c == "." || c == ".." || c.chars().any(char::is_control))
        {
            p.error(
                file,
                "aws.home_prefix",
                format!("'{home_prefix}' is not a folder path like pasarela/homes (no empty, '.' or '..' parts)"),
            );
            ok = false;
        }
        if let Some(u) = &self.endpoint_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            p.error(
                file,
                "aws.endpoint_url",
                format!("'{u}' is not an http:// or https:// URL"),
            );
            ok = false;
        }
        let s3 = self.s3.map(|v| {
            let s3 = crate::problems::section::<S3Raw>(v, file, "aws.s3", p)
                .and_then(|s| s.compile(file, p));
            ok &= s3.is_some();
            s3
        });
        let s3 = s3.flatten();
        ok.then_some(Aws {
            s3,
            region,
            endpoint_url: self.endpoint_url,
            server_id,
            role_arn,
            bucket,
            home_prefix,
            import_host_key: self.import_host_key,
        })
    }
}

impl S3Raw {
    fn compile(self, file: &Path, p: &mut Problems) -> Option<S3> {
        let mut ok = true;
        let mut queue_name = |v: Option<String>, key: &str, p: &mut Problems| -> Option<String> {
            let v = v?;
            if valid_queue_name(&v) {
                return Some(v);
            }
            p.error(
                file,
                format!("aws.s3.{key}"),
                format!(
                    "'{v}' is not an SQS queue name (1-80 characters: A-Z, a-z, 0-9, '-', '_')"
                ),
            );
            ok = false;
            None
        };
        let queue_given = self.queue.is_some();
        let queue = queue_name(self.queue, "queue", p);
        let dlq = queue_name(self.dead_letter_queue, "dead_letter_queue", p);
        if !queue_given {
            p.error(file, "aws.s3.queue", "is required in [aws.s3]");
            ok = false;
        }
        let mut range =
            |v: Option<u64>, default: u64, lo: u64, hi: u64, key: &str, p: &mut Problems| {
                let v = v.unwrap_or(default);
                if !(lo..=hi).contains(&v) {
                    p.error(
                        file,
                        format!("aws.s3.{key}"),
                        format!("{v} is outside {lo}..={hi}"),
                    );
                    ok = false;
                }
                v
            };
        let max_receive_count = range(
            self.max_receive_count.map(u64::from),
            5,
            1,
            1000,
            "max_receive_count",
            p,
        );
        let visibility = range(
            self.visibility_timeout_secs,
            300,
            1,
            43_200,
            "visibility_timeout_secs",
            p,
        );
        let wait_secs = range(self.wait_secs, 20, 0, 20, "wait_secs", p);
        let reconcile = range(
            self.reconcile_interval_secs,
            300,
            1,
            86_400,
            "reconcile_interval_secs",
            p,
        );
        let concurrency = range(
            self.concurrency.map(|c| c as u64),
            8,
            1,
            256,
            "concurrency",
            p,
        );
        let queue = queue?;
        let dead_letter_queue = match dlq {
            Some(d) => d,
            None => {
                let d = format!("{queue}-dlq");
                if !valid_queue_name(&d) {
                    p.error(
                        file,
                        "aws.s3.dead_letter_queue",
                        format!("'{d}' (the default) is too long; name the dead-letter queue"),
                    );
                    ok = false;
                }
                d
            }
        };
        if dead_letter_queue == queue {
            p.error(
                file,
                "aws.s3.dead_letter_queue",
                "must differ from the queue",
            );
            ok = false;
        }
        ok.then_some(S3 {
            queue,
            dead_letter_queue,
            max_receive_count: max_receive_count as u32,
            visibility_timeout: std::time::Duration::from_secs(visibility),
            wait_secs,
            reconcile_interval: std::time::Duration::from_secs(reconcile),
            concurrency: concurrency as usize,
        })
    }
}

fn valid_queue_name(s: &str) -> bool {
    (1..=80).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn valid_server_id(s: &str) -> bool {
    s.strip_prefix("s-").is_some_and(|h| {
        h.len() == 17
            && h.chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    })
}

fn valid_bucket(s: &str) -> bool {
    (3..=63).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile_str(text: &str) -> (Option<Aws>, Problems) {
        let mut p = Problems::default();
        let value: toml::Value = toml::from_str(text).unwrap();
        let a = compile(value, Path::new("p.toml"), &mut p);
        (a, p)
    }

    #[test]
    fn a_full_section_compiles() {
        let (a, p) = compile_str(
            r#"region = "us-east-1"
endpoint_url = "http://127.0.0.1:5000"
server_id = "s-0123456789abcdef0"
role_arn = "arn:aws:iam::123456789012:role/transfer-homes"
bucket = "bolsa-sftp"
home_prefix = "/pasarela/homes/"
import_host_key = true
"#,
        );
        assert!(p.items.is_empty(), "{:?}", p.items);
        let a = a.unwrap();
        assert_eq!(a.home_prefix, "pasarela/homes");
        assert_eq!(a.home_target("acme"), "/bolsa-sftp/pasarela/homes/acme");
        assert!(a.import_host_key);
        let no_prefix = Aws {
            home_prefix: String::new(),
            ..a
        };
        assert_eq!(no_prefix.home_target("acme"), "/bolsa-sftp/acme");
    }

    #[test]
    fn the_s3_section_compiles_with_defaults_and_reports_bad_values() {
        let base = r#"region = "us-east-1"
server_id = "s-0123456789abcdef0"
role_arn = "arn:aws:iam::123456789012:role/transfer-homes"
bucket = "bolsa-sftp"
"#;
        let (a, p) = compile_str(&format!("{base}[s3]\nqueue = \"pasarela-intake\"\n"));
        assert!(p.items.is_empty(), "{:?}", p.items);
        let s3 = a.unwrap().s3.unwrap();
        assert_eq!(s3.dead_letter_queue, "pasarela-intake-dlq");
        assert_eq!(s3.max_receive_count, 5);
        assert_eq!(s3.wait_secs, 20);
        let (a, p) = compile_str(&format!(
            "{base}[s3]\nqueue = \"bad name\"\nwait_secs = 30\nmax_receive_count = 0\ncolour = 1\n"
        ));
        assert!(a.is_none());
        let keys: Vec<&str> = p.items.iter().map(|e| e.key.as_str()).collect();
        for k in [
            "aws.s3.queue",
            "aws.s3.wait_secs",
            "aws.s3.max_receive_count",
            "aws.s3.colour",
        ] {
            assert!(keys.contains(&k), "missing {k} in {keys:?}");
        }
        let (_, p) = compile_str(&format!("{base}[s3]\n"));
        assert_eq!(p.items.len(), 1, "{:?}", p.items);
        assert_eq!(p.items[0].key, "aws.s3.queue");
    }

    #[test]
    fn every_problem_is_reported_and_credentials_are_refused() {
        let (a, p) = compile_str(
            r#"region = "US East"
server_id = "srv-1"
role_arn = "role/x"
bucket = "No_Such"
home_prefix = "a/../b"
endpoint_url = "127.0.0.1:5000"
secret_access_key = "hunter2"
colour = "blue"
"#,
        );
        assert!(a.is_none());
        let keys: Vec<&str> = p.items.iter().map(|e| e.key.as_str()).collect();
        for k in [
            "aws.region",
            "aws.server_id",
            "aws.role_arn",
            "aws.bucket",
            "aws.home_prefix",
            "aws.endpoint_url",
            "aws.secret_access_key",
            "aws.colour",
        ] {
            assert!(keys.contains(&k), "missing {k} in {keys:?}");
        }
        // The secret itself never appears in a message.
        assert!(p.items.iter().all(|e| !e.reason.contains("hunter2")));
        let (_, p) = compile_str("");
        assert_eq!(p.items.len(), 4, "{:?}", p.items);
    }
}
