//! Hostile XML through the real `pasarela process` binary under a 1 GiB
//! address-space limit: every shape gets a result with a finding and a
//! normal exit (issue 16: the in-process XML tree is linear in memory).

use crate::support::*;
use std::os::unix::process::CommandExt;

const HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
<cbc:ID>HOSTILE-1</cbc:ID>
"#;

/// Routes XML through `dian-validate` (the in-process XML tree), with the
/// shipped rules/dian.toml.
fn dian_config() -> String {
    basic_config("")
        .replace("steps = [\"classify\"]", "steps = [\"dian-validate\"]")
        .replace(
            "[accounts.demo]",
            &format!(
                "[dian]\nrules = \"{}\"\n\n[accounts.demo]",
                repo().join("rules/dian.toml").display()
            ),
        )
}

/// About `target` bytes of mixed content: a large text node interleaved with
/// small children that hold character references. Before the fix every
/// piece copied the parent's text so far again (4.5 GiB for 10 MB).
fn mixed_content(target: usize) -> Vec<u8> {
    let mut s = String::with_capacity(target + 4096);
    s.push_str(HEAD);
    s.push_str("<cbc:Note>");
    let chunk = "x".repeat(1000);
    while s.len() < target {
        s.push_str(&chunk);
        s.push_str("<cbc:b>&#65;</cbc:b>");
    }
    s.push_str("</cbc:Note>\n</Invoice>\n");
    s.into_bytes()
}

/// `pasarela process FILE --json` with RLIMIT_AS = 1 GiB; returns the result.
fn process_capped(env: &Env, name: &str, bytes: &[u8]) -> serde_json::Value {
    std::fs::write(env.path().join(name), bytes).unwrap();
    let mut cmd = env.cmd(&["process", name, "--json"]);
    // SAFETY: setrlimit is async-signal-safe; nothing else runs in the hook.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 1 << 30,
                rlim_max: 1 << 30,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().expect("run pasarela");
    assert!(
        out.status.success(),
        "{name}: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{name}: {e}: {}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(r["file"], name, "{r}");
    assert!(
        !r["findings"].as_array().expect("findings").is_empty(),
        "{name}: no finding: {r}"
    );
    r
}

#[test]
fn ten_megabytes_of_mixed_content_get_a_result_under_one_gib() {
    let env = Env::new(&dian_config());
    let r = process_capped(&env, "mixed.xml", &mixed_content(10 << 20));
    assert_eq!(r["format"], "xml", "{r}");
    assert_eq!(r["document_type"], "Invoice", "{r}");
    assert_eq!(r["verdict"], "rejected", "{r}");
}

#[test]
fn other_hostile_shapes_get_a_finding_under_one_gib() {
    let env = Env::new(&dian_config());
    let body = |inner: &str| format!("{HEAD}{inner}\n</Invoice>\n").into_bytes();
    let codes = |r: &serde_json::Value| -> Vec<String> {
        r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["code"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    // Long runs of entity and character references in one text node.
    let refs = body(&format!(
        "<cbc:Note>{}</cbc:Note>",
        "&amp;&#x41;&lt;".repeat(600_000)
    ));
    process_capped(&env, "refs.xml", &refs);
    // Huge numbers of siblings (beyond max_elements).
    let siblings = body(&"<cbc:b/>".repeat(1_200_000));
    let r = process_capped(&env, "siblings.xml", &siblings);
    assert!(codes(&r).contains(&"PAS07".to_owned()), "{r}");
    // Deep nesting.
    let deep = body(&format!(
        "{}{}",
        "<cbc:d>".repeat(200_000),
        "</cbc:d>".repeat(200_000)
    ));
    let r = process_capped(&env, "deep.xml", &deep);
    assert!(codes(&r).contains(&"PAS06".to_owned()), "{r}");
    // Many attributes on one element.
    let attrs: String = (0..500_000).map(|i| format!(" a{i}=\"v\"")).collect();
    let r = process_capped(&env, "attrs.xml", &body(&format!("<cbc:b{attrs}/>")));
    assert!(codes(&r).contains(&"PAS07".to_owned()), "{r}");
    // Mixed content nested: every level interleaves text and children.
    let mut nested = String::new();
    for _ in 0..90 {
        nested.push_str("<cbc:n>");
        for _ in 0..200 {
            nested.push_str(&"y".repeat(300));
            nested.push_str("<cbc:c>&#66;</cbc:c>");
        }
    }
    nested.push_str(&"</cbc:n>".repeat(90));
    process_capped(&env, "nested.xml", &body(&nested));
}
