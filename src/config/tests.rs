//! Unit tests of configuration compilation.

use std::path::Path;
use std::time::Duration;

use super::*;
use crate::result::Format;

fn load_str(text: &str) -> Result<Config, Vec<ConfigError>> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(&path, text).unwrap();
    load_with_base(&path, Path::new("/base")).map(|(c, _)| c)
}

const ROUTE: &str = "[[routes]]\nname = \"all\"\nsteps = [\"classify\"]\n";

#[test]
fn defaults_and_resolution() {
    let c = load_str(&format!(
        "[accounts.demo]\nhome = \"var/home/demo\"\n{ROUTE}"
    ))
    .unwrap();
    assert_eq!(c.daemon.workers, 16);
    assert_eq!(
        c.accounts["demo"].incoming(),
        Path::new("/base/var/home/demo/incoming")
    );
    assert_eq!(c.store.url, "sqlite:///base/var/pasarela.db");
    assert_eq!(c.retry.backoff(1), Duration::from_secs(1));
    assert_eq!(c.retry.backoff(3), Duration::from_secs(4));
    assert_eq!(c.retry.backoff(40), Duration::from_secs(600));
    assert_eq!(c.retry.max_starts, 3);
    assert_eq!(c.daemon.stale_upload, Duration::from_secs(86_400));
}

#[test]
fn poison_and_upload_limits_are_checked() {
    let errs = load_str(&format!(
        "[daemon]\nstale_upload_secs = 5\n[retry]\nmax_starts = 0\n[accounts.demo]\nhome = \"h\"\n{ROUTE}"
    ))
    .unwrap_err();
    let keys: Vec<&str> = errs.iter().map(|e| e.key.as_str()).collect();
    assert!(keys.contains(&"retry.max_starts"), "{keys:?}");
    assert!(keys.contains(&"daemon.stale_upload_secs"), "{keys:?}");
    let c = load_str(&format!(
        "[daemon]\nstale_upload_secs = 600\n[retry]\nmax_starts = 1\n[accounts.demo]\nhome = \"h\"\n{ROUTE}"
    ))
    .unwrap();
    assert_eq!(c.retry.max_starts, 1);
    assert_eq!(c.daemon.stale_upload, Duration::from_secs(600));
}

#[test]
fn admin_limits_default_and_are_checked() {
    let base = format!("[accounts.demo]\nhome = \"h\"\n{ROUTE}");
    let c = load_str(&format!("[admin]\nlisten = \"127.0.0.1:9464\"\n{base}")).unwrap();
    let a = c.admin_listen.unwrap();
    assert_eq!(
        (a.max_connections, a.read_timeout),
        (64, Duration::from_secs(5))
    );
    let c = load_str(&format!(
        "[admin]\nlisten = \"127.0.0.1:9464\"\nmax_connections = 3\nread_timeout_ms = 250\n{base}"
    ))
    .unwrap();
    let a = c.admin_listen.unwrap();
    assert_eq!(
        (a.max_connections, a.read_timeout),
        (3, Duration::from_millis(250))
    );
    let errs = load_str(&format!(
        "[admin]\nlisten = \"127.0.0.1:9464\"\nmax_connections = 0\nread_timeout_ms = 5\n{base}"
    ))
    .unwrap_err();
    let keys: Vec<&str> = errs.iter().map(|e| e.key.as_str()).collect();
    assert!(keys.contains(&"admin.max_connections"), "{keys:?}");
    assert!(keys.contains(&"admin.read_timeout_ms"), "{keys:?}");
}

#[test]
fn every_problem_is_reported_with_its_key() {
    let errs = load_str(
        "top = 1\n[daemon]\nworkers = 0\nfoo = 2\n[accounts.\"Bad Name\"]\nhome = \"h\"\n[accounts.ok]\nhome = \"h/sub\"\nemail = [\"nope\"]\n[[routes]]\nname = \"r\"\nformats = [\"docx\"]\nsteps = []\naccounts = [\"ghost\"]\n",
    )
    .unwrap_err();
    let keys: Vec<&str> = errs
        .iter()
        .filter(|e| !e.warning)
        .map(|e| e.key.as_str())
        .collect();
    for k in [
        "top",
        "daemon.foo",
        "daemon.workers",
        "accounts.Bad Name",
        "accounts.ok.email[0]",
        "routes[0].formats[0]",
        "routes[0].steps",
        "routes[0].accounts[0]",
    ] {
        assert!(keys.contains(&k), "missing {k} in {keys:?}");
    }
    // Overlapping homes (h contains h/sub).
    assert!(
        errs.iter()
            .any(|e| e.key.ends_with(".home") && e.reason.contains("overlaps")),
        "{errs:?}"
    );
}

#[test]
fn homes_are_compared_by_component() {
    assert!(
        load_str(&format!(
            "[accounts.a]\nhome = \"/h/demo\"\n[accounts.b]\nhome = \"/h/demo2\"\n{ROUTE}"
        ))
        .is_ok()
    );
}

#[test]
fn routes_match_accounts_folders_patterns_formats() {
    let c = load_str(
        "[accounts.a]\nhome = \"a\"\n[accounts.b]\nhome = \"b\"\n\
         [[routes]]\nname = \"b-reports\"\naccounts = [\"b\"]\nfolders = [\"daily-*\"]\nsteps = [\"classify\"]\n\
         [[routes]]\nname = \"xml\"\nformats = [\"xml\"]\npatterns = [\"*.xml\"]\nsteps = [\"classify\"]\n\
         [[routes]]\nname = \"rest\"\nsteps = [\"reject-unsupported\"]\n",
    )
    .unwrap();
    let name = |acc, path, f| {
        c.route_index(Some(acc), path, f)
            .map(|i| c.routes[i].name.as_str())
    };
    assert_eq!(
        name("b", "daily-reports/x.pdf", Format::Pdf),
        Some("b-reports")
    );
    assert_eq!(name("a", "daily-reports/x.xml", Format::Xml), Some("xml"));
    assert_eq!(name("a", "x.XML", Format::Xml), Some("rest"));
    assert_eq!(name("b", "x.xml", Format::Pdf), Some("rest"));
}
