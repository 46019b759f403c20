//! authorized_keys options with the real daemon and OpenSSH's `sftp`:
//! `from=` and `expiry-time=` are enforced, keys with options an SFTP-only
//! server cannot honour (`command=`) are refused and reported by `validate`.

use crate::support::*;

#[test]
fn from_expiry_and_unsupported_options_are_enforced() {
    let port = free_port();
    let env = Env::new("");
    let cfg = sftp_keys_config(
        &env,
        port,
        "auth_rejection_delay_ms = 10\nban_score = 1000",
        &[
            ("plain", ""),
            ("elsewhere", "from=\"10.0.0.0/8,192.0.2.*\""),
            ("negated", "from=\"127.0.0.0/8,!127.0.0.1\""),
            ("expired", "expiry-time=\"20200101Z\",no-pty"),
            ("forced", "command=\"/usr/bin/false\""),
        ],
    );
    std::fs::write(env.path().join("config/pasarela.toml"), cfg).unwrap();
    // validate names the refused entry (a warning: the rest of the config is fine).
    let out = env.run(&["validate", "--no-environment"]);
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("option 'command' cannot be honoured"),
        "{text}"
    );
    assert!(text.contains("expired (expiry-time)"), "{text}");
    let key = client_key(&env);
    let login = |user: &str| {
        sftp_cmd(&env, &key, port, user, "/dev/null")
            .output()
            .unwrap()
            .status
            .success()
    };
    let daemon = env.start_ready(&[]);
    assert!(login("plain"), "{}", daemon.log_text());
    assert!(!login("elsewhere"), "from= excludes 127.0.0.1");
    assert!(!login("negated"), "from= negation");
    assert!(!login("expired"), "expiry-time passed");
    assert!(!login("forced"), "command= cannot be honoured");
}
