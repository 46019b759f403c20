//! Per-attempt scoring and `from=` at login, with the real daemon and
//! OpenSSH: several failed attempts on ONE connection ban the address, and a
//! key restricted by from= to the client's address logs in.

use std::process::Command;
use std::time::Duration;

use crate::support::*;

#[test]
fn several_failed_attempts_on_one_connection_ban_the_address() {
    let port = free_port();
    let env = Env::new("");
    let cfg = sftp_keys_config(
        &env,
        port,
        "ban_score = 3\nban_secs = 600\nauth_rejection_delay_ms = 10",
        &[
            ("demo", ""),
            ("local", "from=\"127.0.0.1/32,::1\",restrict"),
        ],
    );
    std::fs::write(env.path().join("config/pasarela.toml"), cfg).unwrap();
    let key = client_key(&env);
    // Four keys the account does not authorise, then the right one, all
    // offered on one connection.
    let mut args: Vec<String> = Vec::new();
    for i in 0..4 {
        let k = env.path().join(format!("wrong{i}"));
        let st = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&k)
            .status()
            .unwrap();
        assert!(st.success());
        args.extend(["-i".into(), k.to_str().unwrap().into()]);
    }
    let daemon = env.start_ready(&[]);
    let login = |user: &str| {
        sftp_cmd(&env, &key, port, user, "/dev/null")
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(
        login("local"),
        "from= allows 127.0.0.1: {}",
        daemon.log_text()
    );
    let mut many = Command::new("sftp");
    many.args(["-b", "/dev/null", "-P", &port.to_string()])
        .args(&args)
        .args(["-i", key.to_str().unwrap()])
        .args(["-o", "IdentitiesOnly=yes"])
        .args(BATCH_SSH_OPTIONS)
        .arg("demo@127.0.0.1")
        .current_dir(env.path());
    let out = many.output().unwrap();
    assert!(
        !out.status.success(),
        "the right key came after the address was banned on this connection"
    );
    assert!(
        wait_until(Duration::from_secs(10), || daemon
            .log_text()
            .contains("sftp address banned")),
        "{}",
        daemon.log_text()
    );
    assert!(!login("demo"), "the banned address is refused");
}
