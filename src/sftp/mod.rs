//! The SFTP server (russh + russh-sftp): the gateway's front door.
//!
//! Owns: host keys, authentication, per-address defence, the per-account
//! virtual filesystem, atomic uploads that notify intake on CLOSE, and the
//! audit of every operation. Must not: parse invoices or touch the pipeline
//! other than through `intake::IntakeEvent`.
//!
//! Codemap: `config` (the `[sftp]` and `[accounts.NAME.sftp]` tables),
//! `auth` (keys, argon2id), `hostkeys`, `defense` (caps, scores, bans),
//! `vfs` (view paths, permissions, confinement), `server` (accept loop and
//! connections; `server::handler` the russh handler, `server::accounts` the
//! accounts as logins see them), `session` (the
//! pipelined SFTP request loop; `session::processor` the request processor,
//! `session::budget` limits, quota and reserve, `session::wire` and
//! `session::fsops` protocol and confined filesystem helpers).
//!
//! **Architecture Invariant:** every filesystem access of a client goes
//! through `vfs::View::resolve`, which decides on the canonical path, and is
//! then made through `View::open`/`lstat`/`parent` (openat2 beneath the
//! mount's directory descriptor), never by path.

pub mod auth;
pub mod config;
pub mod defense;
pub mod hostkeys;
mod server;
pub mod session;
pub mod vfs;

/// What the SFTP server needs from the daemon.
pub struct SftpContext {
    pub config: std::sync::Arc<crate::config::Config>,
    pub store: crate::store::Store,
    pub intake: tokio::sync::mpsc::Sender<crate::intake::IntakeEvent>,
    /// Reloaded configurations (SIGHUP, file change): new logins use the new
    /// accounts, keys and networks; open sessions keep what they logged in
    /// with. `None`: the accounts of `config` for the server's life.
    pub updates: Option<tokio::sync::watch::Receiver<std::sync::Arc<crate::config::Config>>>,
    /// The failed-login scorer, shared with the desk's sign-in so both count
    /// against one address. `None`: the server makes its own from `[sftp]`.
    pub defender: Option<std::sync::Arc<crate::sftp::defense::Defender>>,
}

/// Binds the listener (config.sftp.listen; port 0 allowed), loads or
/// generates host keys, and serves until `shutdown` is cancelled.
pub async fn start(
    ctx: SftpContext,
    shutdown: tokio_util::sync::CancellationToken,
) -> anyhow::Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>)> {
    server::start(ctx, shutdown).await
}
