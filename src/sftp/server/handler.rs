//! The russh handler of one connection: authentication (keys, passwords,
//! bans), channel policy (only the `sftp` subsystem; everything else gets an
//! explicit failure), and the audit and intake notices of each session.

use super::*;

pub(super) struct SshHandler {
    pub(super) shared: Arc<Shared>,
    pub(super) ip: IpAddr,
    pub(super) state: Arc<ConnState>,
    pub(super) channels: HashMap<ChannelId, Channel<Msg>>,
    pub(super) account: Option<Arc<SftpAccount>>,
    pub(super) auth_tx: tokio::sync::watch::Sender<bool>,
    /// SFTP sessions running on this connection.
    pub(super) sessions: Arc<AtomicUsize>,
}

impl SshHandler {
    pub(super) fn note_user(&self, user: &str) {
        *self
            .state
            .last_user
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = user.to_string();
    }

    /// One failed authentication attempt: scored at once (a client may try
    /// many passwords or keys on one connection).
    pub(super) fn fail(&self, user: &str, reason: &str) -> Auth {
        let unknown = !self.shared.accounts().contains_key(user);
        if unknown {
            self.state.unknown_user.store(true, Ordering::Release);
        }
        self.state.failures.fetch_add(1, Ordering::AcqRel);
        tracing::debug!(ip = %self.ip, user, reason, "sftp authentication attempt rejected");
        let score = if unknown { 2 } else { 1 };
        if let Some(len) = self.shared.defender.failed(self.ip, score, Instant::now()) {
            *self.state.banned.lock().unwrap_or_else(|e| e.into_inner()) = Some(len);
        }
        Auth::reject()
    }

    /// Refuse every further attempt once the address is banned (the ban
    /// may come from this connection's own attempts).
    pub(super) fn banned(&self) -> bool {
        let banned = self.shared.defender.is_banned(self.ip, Instant::now());
        if banned {
            // The ban may have arrived after the connection was admitted
            // (another daemon's, loaded from the store meanwhile).
            tracing::info!(ip = %self.ip, "sftp authentication refused: address banned");
        }
        banned
    }

    /// The account, if it exists, has SFTP and accepts this source address.
    pub(super) fn account_for(&self, user: &str) -> Result<Arc<SftpAccount>, &'static str> {
        let a = self
            .shared
            .accounts()
            .get(user)
            .cloned()
            .ok_or("unknown account")?;
        if !a.sftp.network_allowed(self.ip) {
            return Err("source address not allowed");
        }
        Ok(a)
    }

    pub(super) fn accept(&mut self, a: Arc<SftpAccount>) -> Auth {
        *self
            .state
            .authenticated
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(a.name.clone());
        self.account = Some(a);
        Auth::Accept
    }
}

impl russh::server::Handler for SshHandler {
    type Error = russh::Error;

    async fn auth_none(&mut self, user: &str) -> Result<Auth, Self::Error> {
        self.note_user(user);
        Ok(Auth::reject())
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        self.note_user(user);
        if self.banned() {
            return Ok(Auth::reject());
        }
        match self.account_for(user) {
            Ok(a) => {
                match auth::key_allowed(&a.sftp.keys, offer.public_key, self.ip, chrono::Utc::now())
                {
                    Ok(()) => Ok(Auth::Accept),
                    Err(why) => Ok(self.fail(user, why.as_str())),
                }
            }
            Err(reason) => Ok(self.fail(user, reason)),
        }
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        self.note_user(user);
        if self.banned() {
            return Ok(Auth::reject());
        }
        match self.account_for(user) {
            Ok(a) => {
                match auth::key_allowed(&a.sftp.keys, key.public_key, self.ip, chrono::Utc::now()) {
                    Ok(()) => {
                        tracing::debug!(fingerprint = %key.public_key.fingerprint(HashAlg::Sha256), "key accepted");
                        Ok(self.accept(a))
                    }
                    Err(why) => Ok(self.fail(user, why.as_str())),
                }
            }
            Err(reason) => Ok(self.fail(user, reason)),
        }
    }

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        self.note_user(user);
        if self.banned() {
            return Ok(Auth::reject());
        }
        let a = match self.account_for(user) {
            Ok(a) => a,
            Err(reason) => return Ok(self.fail(user, reason)),
        };
        let Some(hash) = a.sftp.password_hash.clone() else {
            return Ok(self.fail(user, "no password set"));
        };
        let pw = password.to_string();
        let ok = tokio::task::spawn_blocking(move || auth::verify_password(&pw, &hash))
            .await
            .unwrap_or(false);
        if ok {
            Ok(self.accept(a))
        } else {
            Ok(self.fail(user, "wrong password"))
        }
    }

    async fn auth_succeeded(&mut self, _session: &mut Session) -> Result<(), Self::Error> {
        let Some(a) = self.account.clone() else {
            return Ok(());
        };
        let _ = self.auth_tx.send(true);
        tracing::info!(account = %a.name, ip = %self.ip, "sftp login");
        crate::admin::metrics::inc("pasarela_sftp_logins_total", &[("outcome", "success")]);
        self.shared
            .audit(
                Some(&a.name),
                "sftp.login",
                serde_json::json!({"ip": self.ip.to_string()}),
            )
            .await;
        Ok(())
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if self.account.is_none() || self.channels.len() >= 4 {
            reply.reject(ChannelOpenFailure::ResourceShortage).await;
            return Ok(());
        }
        self.channels.insert(channel.id(), channel);
        reply.accept().await;
        Ok(())
    }

    async fn channel_close(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.channels.remove(&channel);
        Ok(())
    }

    async fn subsystem_request(
        &mut self,
        channel_id: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let (Some(a), true) = (self.account.clone(), name == "sftp") else {
            tracing::info!(ip = %self.ip, subsystem = name, "refused subsystem");
            session.channel_failure(channel_id)?;
            session.close(channel_id)?;
            return Ok(());
        };
        let Some(channel) = self.channels.remove(&channel_id) else {
            session.channel_failure(channel_id)?;
            return Ok(());
        };
        // Each session holds a blocking thread and file handles: bound them
        // for all accounts together and for each account.
        let permit = match self.shared.session_permit(&a.name) {
            Ok(p) => p,
            Err(cap) => {
                tracing::warn!(account = %a.name, ip = %self.ip, cap, "sftp session refused: session cap reached");
                crate::admin::metrics::inc(
                    "pasarela_sftp_sessions_refused_total",
                    &[("reason", cap)],
                );
                session.channel_failure(channel_id)?;
                session.close(channel_id)?;
                return Ok(());
            }
        };
        // Each session holds a thread: bound them per connection (OpenSSH MaxSessions).
        if self.sessions.load(Ordering::Acquire) >= MAX_SESSIONS_PER_CONNECTION {
            tracing::warn!(account = %a.name, ip = %self.ip, "too many sftp sessions on one connection");
            session.channel_failure(channel_id)?;
            session.close(channel_id)?;
            return Ok(());
        }
        session.channel_success(channel_id)?;
        self.sessions.fetch_add(1, Ordering::AcqRel);
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let ctx = SessionCtx {
            account: a.name.clone(),
            ip: self.ip,
            view: a.view.clone(),
            incoming: a.incoming.clone(),
            max_open_handles: self.shared.cfg.max_open_handles,
            max_file_bytes: self.shared.ctx.config.daemon.max_file_bytes,
            limits: self.shared.limits.clone(),
            usage: a.usage.clone(),
            handle_budgets: [self.shared.handles.clone(), a.handles.clone()],
            events: ev_tx,
            shutdown: self.shared.shutdown.clone(),
        };
        let shared = self.shared.clone();
        self.shared
            .tracker
            .spawn(events(shared, a.name.clone(), self.ip, ev_rx));
        let running = self.sessions.clone();
        let store = self.shared.ctx.store.clone();
        let record = crate::store::sftp_state::SftpSession {
            id: uuid::Uuid::new_v4().simple().to_string(),
            daemon: self.shared.daemon.clone(),
            account: a.name.clone(),
            peer: self.ip.to_string(),
            started_at: chrono::Utc::now().timestamp_millis(),
        };
        self.shared.tracker.spawn(async move {
            // `pasarela status` lists open sessions from the store.
            if let Err(e) = store.sftp_session_open(&record).await {
                tracing::warn!(error = %e, "cannot record the sftp session");
            }
            session::run(channel, ctx).await;
            let _ = store.sftp_session_close(&record.id).await;
            running.fetch_sub(1, Ordering::AcqRel);
            drop(permit);
        });
        Ok(())
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        tracing::info!(ip = %self.ip, "refused shell request");
        session.channel_failure(channel)?;
        session.close(channel)?;
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        _data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        tracing::info!(ip = %self.ip, "refused exec request");
        session.channel_failure(channel)?;
        session.close(channel)?;
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn x11_request(
        &mut self,
        channel: ChannelId,
        _single_connection: bool,
        _x11_auth_protocol: &str,
        _x11_auth_cookie: &str,
        _x11_screen_number: u32,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        _variable_name: &str,
        _variable_value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn agent_request(
        &mut self,
        _channel: ChannelId,
        _session: &mut Session,
    ) -> Result<bool, Self::Error> {
        Ok(false)
    }

    async fn tcpip_forward(
        &mut self,
        _address: &str,
        _port: &mut u32,
        _session: &mut Session,
    ) -> Result<bool, Self::Error> {
        tracing::info!(ip = %self.ip, "refused remote forwarding");
        Ok(false)
    }

    async fn streamlocal_forward(
        &mut self,
        _socket_path: &str,
        _session: &mut Session,
    ) -> Result<bool, Self::Error> {
        Ok(false)
    }

    async fn channel_open_direct_tcpip(
        &mut self,
        _channel: Channel<Msg>,
        _host_to_connect: &str,
        _port_to_connect: u32,
        _originator_address: &str,
        _originator_port: u32,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        tracing::info!(ip = %self.ip, "refused local forwarding");
        reply
            .reject(ChannelOpenFailure::AdministrativelyProhibited)
            .await;
        Ok(())
    }

    async fn channel_open_forwarded_tcpip(
        &mut self,
        _channel: Channel<Msg>,
        _host_to_connect: &str,
        _port_to_connect: u32,
        _originator_address: &str,
        _originator_port: u32,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        reply
            .reject(ChannelOpenFailure::AdministrativelyProhibited)
            .await;
        Ok(())
    }

    async fn channel_open_direct_streamlocal(
        &mut self,
        _channel: Channel<Msg>,
        _socket_path: &str,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        reply
            .reject(ChannelOpenFailure::AdministrativelyProhibited)
            .await;
        Ok(())
    }

    async fn channel_open_x11(
        &mut self,
        _channel: Channel<Msg>,
        _originator_address: &str,
        _originator_port: u32,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        reply
            .reject(ChannelOpenFailure::AdministrativelyProhibited)
            .await;
        Ok(())
    }
}

/// Audit rows and intake notices of one SFTP session, in order.
async fn events(
    shared: Arc<Shared>,
    account: String,
    ip: IpAddr,
    mut rx: mpsc::UnboundedReceiver<Event>,
) {
    while let Some(ev) = rx.recv().await {
        match ev {
            Event::Audit { event, detail } => shared.audit(Some(&account), event, detail).await,
            Event::Completed { path, upload } => {
                if shared
                    .ctx
                    .intake
                    .send(IntakeEvent::Completed {
                        account: account.clone(),
                        path: path.clone(),
                        upload,
                    })
                    .await
                    .is_err()
                {
                    tracing::warn!(%ip, path = %path.display(), "intake is not running; the periodic scan will pick the file up");
                }
            }
        }
    }
}
