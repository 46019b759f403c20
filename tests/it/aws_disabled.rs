//! Without the `aws` feature: configurations with `[aws]` still validate, and
//! `pasarela aws sync` says how to get it (docs/AWS.md).
#![cfg(not(feature = "aws"))]

use crate::support::Env;

const CONFIG: &str = r#"
[daemon]
state_dir = "var"

[aws]
region = "us-east-1"
server_id = "s-0123456789abcdef0"
role_arn = "arn:aws:iam::123456789012:role/pasarela-homes"
bucket = "bolsa-sftp"
import_host_key = true

[accounts.acme]
home = "var/home/acme"

[[routes]]
name = "all"
steps = ["classify"]
"#;

#[test]
fn the_aws_section_validates_and_sync_asks_for_the_feature() {
    let env = Env::new(CONFIG);
    let out = env.run(&["validate", "--no-environment"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = env.run(&["aws", "sync", "--dry-run"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(69), "{err}");
    assert!(err.contains("--features aws"), "{err}");

    // The section is still checked: a bad value is a configuration error.
    let env = Env::new(&CONFIG.replace("s-0123456789abcdef0", "srv-1"));
    let out = env.run(&["validate", "--no-environment"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(err.contains("aws.server_id"), "{err}");
}
