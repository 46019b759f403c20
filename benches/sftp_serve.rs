//! Not a measurement: the stand-alone SFTP server that scripts/bench-sftp.sh
//! measures, built as a harness-less bench target (optimised, no daemon
//! wiring, and not built by `cargo test`).
//!
//! `PASARELA_SFTP_SERVE=path/to/pasarela.toml cargo bench --bench sftp_serve`
//! serves until SIGINT/SIGTERM and prints `listening 127.0.0.1:PORT` on stdout.
//! Intake events are counted and logged (there is no pipeline here).
//! Without the variable it exits at once, so `cargo bench` passes through it.

use std::sync::Arc;
use std::time::Duration;

fn main() {
    let Ok(path) = std::env::var("PASARELA_SFTP_SERVE") else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "warn".into()),
            )
            .with_writer(std::io::stderr)
            .init();
        let base = std::env::current_dir().expect("cwd");
        let (config, _) = pasarela::config::load_with_base(std::path::Path::new(&path), &base)
            .unwrap_or_else(|p| panic!("config refused: {p:?}"));
        let config = Arc::new(config);
        let store = pasarela::store::Store::open(&config.store.url, false, Duration::from_secs(10))
            .await
            .expect("store");
        let (tx, mut rx) = tokio::sync::mpsc::channel(16_384);
        let counter = tokio::spawn(async move {
            let mut n = 0u64;
            while rx.recv().await.is_some() {
                n += 1;
                eprintln!("intake events: {n}");
            }
            n
        });
        let shutdown = tokio_util::sync::CancellationToken::new();
        let ctx = pasarela::sftp::SftpContext {
            config,
            store,
            intake: tx,
            updates: None,
            defender: None,
        };
        let (addr, join) = pasarela::sftp::start(ctx, shutdown.clone())
            .await
            .expect("start");
        println!("listening {addr}");
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("signal");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        shutdown.cancel();
        let _ = join.await;
        drop(counter);
    });
}
