//! The integration tests: one test binary (linking the crate once instead of
//! once per file). Each module is one area; `support` is the one harness
//! (with `support::sftp` and `support::deliver` for those areas). Kept apart,
//! in their own binaries: `resilience_pg_restart` (restarts the PostgreSQL
//! server, which every PostgreSQL test here would feel) and `aws_sync`
//! (feature `aws`). Built with the `test-support` feature (the generators the
//! tests use), which scripts/test.sh turns on.

mod support;

mod aws_disabled;
mod catalog_cli;
mod catalog_import;
mod catalog_matching;
mod cli;
mod daemon_basics;
mod daemon_certify;
mod daemon_crash;
mod daemon_registration;
mod daemon_reload;
mod daemon_sftp;
mod daemon_systemd;
mod deliver_certificates;
mod deliver_config;
mod deliver_daemon;
mod deliver_mail;
mod deliver_reports;
mod deliver_tls;
mod desk_browser;
mod dian_docs;
mod dian_events;
mod dian_fixtures;
mod dian_keys;
mod dian_notes;
mod dian_rules;
mod dian_xades;
mod dian_xsd;
mod formats_excel;
mod formats_read;
mod formats_steps;
mod fuzz_replay;
mod hostile_xml;
mod multi_daemon;
mod ops_admin;
mod resilience_disk_full;
mod resilience_hostile;
mod resilience_mixed;
mod review_queue;
mod rules_engine;
mod security_secrets;
mod sftp_defender_attempts;
mod sftp_key_options;
mod sftp_limits;
mod sftp_openssh;
mod sftp_paramiko;
mod validate_rules;
