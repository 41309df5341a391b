//! Login: SCRAM-SHA-256 against the users file (with channel binding,
//! `-PLUS`, over TLS), nothing else offered (no trust, no cleartext, no
//! MD5), so there is no anonymous access and no password crosses the wire.
//! An unknown user gets the same exchange as a known one with a wrong
//! password (a salt derived from the name with a secret kept in the data
//! directory, so it is the same after a restart, as a real user's is; a
//! verifier no password matches), so names cannot be probed. An address
//! that keeps failing backs off ([`crate::admission`]). Every refusal is
//! audited, including a client that hangs up when asked for a password; a
//! login whose record cannot be written is refused.

use crate::admission::Refusal as Turned;
use crate::audit::{Kind, Record, Status};
use crate::handler::{Conn, Phase, Shared};
use crate::policy::Principal;
use crate::scram::{self, Binding, Verifier};

use async_trait::async_trait;
use datafusion_postgres::pgwire::api::auth::{
    DefaultServerParameterProvider, StartupHandler, finish_authentication, protocol_negotiation, save_startup_parameters_to_metadata,
};
use datafusion_postgres::pgwire::api::{ClientInfo, METADATA_USER, PgWireConnectionState, PidSecretKeyGenerator};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::startup::Authentication;
use datafusion_postgres::pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use futures::{Sink, SinkExt};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt::Debug;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// The decoy-salt secret: read from `path`, or made and written there
/// (mode 0600) on first start.
pub fn load_or_create_secret(path: &Path) -> Result<[u8; 32], crate::ServerError> {
    let err = |e: std::io::Error| crate::ServerError::Secret { path: path.to_path_buf(), source: e };
    match std::fs::read(path) {
        Ok(bytes) => {
            return <[u8; 32]>::try_from(bytes.as_slice())
                .map_err(|_| err(std::io::Error::new(std::io::ErrorKind::InvalidData, "not 32 bytes: delete it to make a new one")));
        }
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(err(e)),
        Err(_) => {}
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let secret: [u8; 32] = rand::random();
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path).map_err(err)?;
    f.write_all(&secret).and_then(|()| f.sync_all()).map_err(err)?;
    Ok(secret)
}

/// A verifier no password matches, stable per name so that asking twice
/// for an unknown user shows the same salt, as for a real one.
fn decoy(secret: &[u8; 32], name: &str) -> Verifier {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("any key length");
    m.update(name.as_bytes());
    let digest: [u8; 32] = m.finalize().into_bytes().into();
    Verifier { iterations: scram::DEFAULT_ITERATIONS, salt: digest[..16].to_vec(), stored_key: rand::random(), server_key: rand::random() }
}

fn fatal(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new("FATAL".to_owned(), code.to_owned(), message)))
}

pub struct ScramStartup {
    pub shared: Arc<Shared>,
    pub conn: Arc<Conn>,
}

impl ScramStartup {
    /// Audits a refused login and returns the error the client sees, which
    /// says no more than PostgreSQL's does.
    fn refuse(&self, user: Option<&str>, reason: &str, code: &str, shown: String) -> PgWireError {
        let mut r = Record::new(Kind::Login, self.conn.peer.to_string());
        r.user = user.map(str::to_string);
        r.status = Status::Refused;
        r.error = Some(reason.to_string());
        r.duration_ms = self.conn.started.elapsed().as_millis() as u64;
        let _ = self.shared.audit.write(&r);
        tracing::warn!(client = %self.conn.peer, user = ?user, "login refused: {reason}");
        self.conn.set_phase(Phase::Refused);
        fatal(code, shown)
    }

    fn password_failed(&self, user: &str, reason: &str) -> PgWireError {
        self.shared.admission.login_failed(self.conn.peer.ip());
        self.refuse(Some(user), reason, "28P01", format!("password authentication failed for user \"{user}\""))
    }
}

#[async_trait]
impl StartupHandler for ScramStartup {
    async fn on_startup<C>(&self, client: &mut C, message: PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                let Some(user) = client.metadata().get(METADATA_USER).cloned() else {
                    return Err(self.refuse(
                        None,
                        "no user name given",
                        "28000",
                        "no PostgreSQL user name specified in startup packet".into(),
                    ));
                };
                if self.shared.tls_required && !client.is_secure() && !self.conn.peer.ip().is_loopback() {
                    return Err(self.refuse(
                        Some(&user),
                        "connection without TLS",
                        "28000",
                        "this server requires TLS for remote clients (sslmode=require)".into(),
                    ));
                }
                let ip = self.conn.peer.ip();
                if let Some(wait) = self.shared.admission.backoff(ip) {
                    let shown = Turned::Throttled.message(&self.shared.admission.limits, Some(wait));
                    self.conn.set_phase(Phase::Refused);
                    if let Some(repeated) = self.shared.admission.audit_now(ip, Turned::Throttled) {
                        let mut r = Record::new(Kind::Login, self.conn.peer.to_string());
                        r.user = Some(user.clone());
                        r.status = Status::Refused;
                        r.error = Some("address backing off after failed logins".into());
                        r.repeated = (repeated > 0).then_some(repeated);
                        let _ = self.shared.audit.write(&r);
                    }
                    return Err(fatal("28000", shown));
                }
                client.set_state(PgWireConnectionState::AuthenticationInProgress);
                let plus = client.is_secure() && self.shared.channel_binding.is_some();
                self.conn.set_phase(Phase::Asked { user, plus });
                let mut mechanisms = vec![scram::MECHANISM.to_owned()];
                if plus {
                    mechanisms.insert(0, scram::MECHANISM_PLUS.to_owned());
                }
                client.send(PgWireBackendMessage::Authentication(Authentication::SASL(mechanisms))).await?;
            }
            PgWireFrontendMessage::PasswordMessageFamily(msg) => match self.conn.take_phase() {
                Phase::Asked { user, plus } => {
                    let init = msg.into_sasl_initial_response().map_err(|_| self.password_failed(&user, "not a SASL initial response"))?;
                    let binding = match (init.auth_method.as_str(), plus) {
                        (scram::MECHANISM, false) => Binding::NotOffered,
                        (scram::MECHANISM, true) => Binding::Declined,
                        (scram::MECHANISM_PLUS, true) => {
                            Binding::Required(self.shared.channel_binding.as_deref().expect("offered only with binding data"))
                        }
                        (other, _) => return Err(self.password_failed(&user, &format!("unsupported SASL mechanism {other}"))),
                    };
                    let data = init.data.as_deref().unwrap_or_default();
                    let text = std::str::from_utf8(data).map_err(|_| self.password_failed(&user, "client-first message is not UTF-8"))?;
                    let account = self.shared.users.lookup(&user);
                    let verifier = match account.as_ref().map(|u| u.scram.verifier()) {
                        Some(Ok(v)) => v,
                        Some(Err(e)) => return Err(self.password_failed(&user, &format!("bad verifier in users file: {e}"))),
                        None => decoy(&self.shared.secret, &user),
                    };
                    let exchange = scram::client_first(text, &verifier, &scram::random_nonce(), binding)
                        .map_err(|e| self.password_failed(&user, &e.to_string()))?;
                    client
                        .send(PgWireBackendMessage::Authentication(Authentication::SASLContinue(exchange.server_first().to_owned().into())))
                        .await?;
                    self.conn.set_phase(Phase::Exchanging { user, account, verifier, exchange: Box::new(exchange) });
                }
                Phase::Exchanging { user, account, verifier, exchange } => {
                    let resp = msg.into_sasl_response().map_err(|_| self.password_failed(&user, "not a SASL response"))?;
                    let text =
                        std::str::from_utf8(&resp.data).map_err(|_| self.password_failed(&user, "client-final message is not UTF-8"))?;
                    let outcome = exchange.client_final(text, &verifier);
                    let (account, server_final) = match (account, outcome) {
                        (None, _) => return Err(self.password_failed(&user, "unknown user")),
                        (Some(_), Err(e)) => return Err(self.password_failed(&user, &e.to_string())),
                        (Some(a), Ok(f)) => (a, f),
                    };
                    // Recorded before the client hears it is in.
                    let principal = Principal {
                        user: user.clone(),
                        role: account.role,
                        partner: account.partner.clone(),
                        stored_key: account.scram.stored_key.clone(),
                    };
                    let mut r = Record::new(Kind::Login, self.conn.peer.to_string());
                    r.user = Some(user.clone());
                    r.role = Some(account.role);
                    r.duration_ms = self.conn.started.elapsed().as_millis() as u64;
                    if let Err(e) = self.shared.audit.write(&r) {
                        self.conn.set_phase(Phase::Refused);
                        return Err(fatal("58030", format!("the server cannot write its audit log, so it accepts no logins ({e})")));
                    }
                    // Queries may be larger than login messages from here on.
                    self.conn.set_phase(Phase::Authenticated(principal.clone()));
                    self.conn.wire.authenticated.store(true, Ordering::Release);
                    let session = self.shared.sessions.add(principal.clone(), self.conn.clone());
                    let _ = self.conn.session.set(session);
                    client.send(PgWireBackendMessage::Authentication(Authentication::SASLFinal(server_final.into()))).await?;
                    let (pid, secret_key) = self.shared.pids.generate(&*client);
                    client.set_pid_and_secret_key(pid, secret_key.clone());
                    // Kept by the connection, not in pgwire's session extensions:
                    // pgwire would cancel only the planning of a query, the
                    // connection's handlers cancel the whole of it.
                    let _ = self.conn.cancel.set(self.shared.connections.register(pid, secret_key));
                    let mut params = DefaultServerParameterProvider::default();
                    params.is_superuser = false;
                    finish_authentication(client, &params).await?;
                    tracing::info!(client = %self.conn.peer, user = %principal.user, role = %principal.role, "login");
                }
                _ => return Err(PgWireError::InvalidSASLState),
            },
            _ => {}
        }
        Ok(())
    }
}
