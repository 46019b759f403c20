//! The daemon's one HTTP stack: axum routers served over hyper by our own
//! accept loop, used by the admin probes (`admin`) and the desk (`desk`).
//!
//! The loop holds what a listener exposed to hostile clients needs and
//! `axum::serve` does not give: at most `max_connections` connections served
//! at once (the rest wait in the kernel's backlog, so a flood of idle
//! connections costs neither memory nor file handles), a bound on the time
//! to send a request head (and on a TLS handshake), and optional TLS on the
//! rustls (ring) that mail already builds. The peer's address reaches the
//! handlers as `axum::extract::ConnectInfo<SocketAddr>`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::{debug, warn};

/// How a listener serves.
#[derive(Clone)]
pub struct ServeLimits {
    /// Connections served at once.
    pub max_connections: usize,
    /// Time allowed for a request head (and for a TLS handshake).
    pub read_timeout: Duration,
    /// Serve HTTPS with this configuration.
    pub tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
}

/// A TLS configuration from PEM files (certificate chain, private key).
pub fn tls_config(
    cert: &Path,
    key: &Path,
) -> anyhow::Result<Arc<tokio_rustls::rustls::ServerConfig>> {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("reading {}", cert.display()))?;
    if certs.is_empty() {
        anyhow::bail!("{}: no certificate", cert.display());
    }
    let key =
        PrivateKeyDer::from_pem_file(key).with_context(|| format!("reading {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("TLS certificate and key")?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// Bind `addr` and serve `router` until the returned task is aborted (or the
/// listener fails for good). Returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    router: axum::Router,
    limits: ServeLimits,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let tls = limits.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    let read_timeout = limits.read_timeout;
    // The connections are owned by this task's JoinSet: they end with it.
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        loop {
            // A slot first: beyond the cap, connections wait in the backlog.
            let Ok(permit) = slots.clone().acquire_owned().await else {
                break;
            };
            while connections.try_join_next().is_some() {}
            let (sock, peer) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    warn!(error = %e, "http accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let _ = sock.set_nodelay(true);
            let (router, tls) = (router.clone(), tls.clone());
            connections.spawn(async move {
                let _permit = permit;
                let service = hyper::service::service_fn(
                    move |mut req: hyper::Request<hyper::body::Incoming>| {
                        req.extensions_mut()
                            .insert(axum::extract::ConnectInfo(peer));
                        let mut router = router.clone();
                        async move {
                            tower::Service::call(&mut router, req.map(axum::body::Body::new)).await
                        }
                    },
                );
                let mut http = hyper::server::conn::http1::Builder::new();
                http.timer(TokioTimer::new())
                    .header_read_timeout(read_timeout)
                    .max_buf_size(64 * 1024);
                let served = match tls {
                    None => http.serve_connection(TokioIo::new(sock), service).await,
                    Some(acceptor) => {
                        match tokio::time::timeout(read_timeout, acceptor.accept(sock)).await {
                            Ok(Ok(stream)) => {
                                http.serve_connection(TokioIo::new(stream), service).await
                            }
                            Ok(Err(e)) => {
                                debug!(peer = %peer, error = %e, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                debug!(peer = %peer, "TLS handshake timed out");
                                return;
                            }
                        }
                    }
                };
                if let Err(e) = served {
                    debug!(peer = %peer, error = %e, "http connection ended with an error");
                }
            });
        }
    });
    Ok((bound, task))
}
