//! SIGHUP reloads the configuration through the same path as start-up; a bad
//! new configuration keeps the old one running.

use std::time::Duration;

use crate::support::*;

#[test]
fn sighup_applies_a_good_config_and_refuses_a_bad_one() {
    let base = basic_config("");
    let env = Env::new(&base);
    let mut daemon = env.start_ready(&[]);

    // Add an account and reload.
    let with_broker = base.replace(
        "[accounts.demo]",
        "[accounts.broker2]\nhome = \"var/home/broker2\"\n\n[accounts.demo]",
    );
    std::fs::write(env.path().join("config/pasarela.toml"), &with_broker).unwrap();
    daemon.signal(1);
    assert!(
        wait_until(Duration::from_secs(20), || env
            .home("broker2")
            .join("incoming")
            .is_dir()),
        "{}",
        daemon.log_text()
    );
    env.submit_within(&daemon, "broker2", "b.xml", &dian_example(), 20);
    assert_eq!(env.read_result("broker2", "b.xml")["account"], "broker2");

    // A broken config is refused; the running one keeps working.
    std::fs::write(
        env.path().join("config/pasarela.toml"),
        with_broker
            .replace("workers", "wrokers")
            .replace("[daemon]", "[daemon]\nbogus = 1"),
    )
    .unwrap();
    daemon.signal(1);
    assert!(
        wait_until(Duration::from_secs(20), || daemon
            .log_text()
            .contains("reload refused")),
        "{}",
        daemon.log_text()
    );
    assert!(
        daemon.log_text().contains("daemon.bogus: unknown key"),
        "{}",
        daemon.log_text()
    );
    env.submit_within(&daemon, "demo", "still.xml", &dian_example(), 20);
    assert_eq!(daemon.terminate(), Some(0));
}

#[test]
fn editing_the_config_file_reloads_without_a_signal() {
    let base = basic_config("");
    let env = Env::new(&base);
    let mut daemon = env.start_ready(&[]);
    std::thread::sleep(Duration::from_millis(1100));
    let with_broker = base.replace(
        "[accounts.demo]",
        "[accounts.broker3]\nhome = \"var/home/broker3\"\n\n[accounts.demo]",
    );
    std::fs::write(env.path().join("config/pasarela.toml"), &with_broker).unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || env
            .home("broker3")
            .join("incoming")
            .is_dir()),
        "{}",
        daemon.log_text()
    );
    assert!(
        daemon
            .log_text()
            .contains("configuration or rule files changed")
    );
    assert_eq!(daemon.terminate(), Some(0));
}
