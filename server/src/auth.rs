//! Login: SCRAM-SHA-256 against the users file, nothing else offered (no
//! trust, no cleartext, no MD5), so there is no anonymous access and no
//! password crosses the wire. An unknown user gets the same exchange as a
//! known one with a wrong password (a salt derived from the name, a
//! verifier no password matches), so names cannot be probed. Every refusal
//! is audited, including a client that hangs up when asked for a password.

use crate::audit::{Kind, Record, Status};
use crate::handler::{Conn, Phase, Shared};
use crate::policy::Principal;
use crate::scram::{self, Verifier};
use crate::users::{User, UsersFile};
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
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// The users file, re-read when it changes, so `vru user add` takes effect
/// without a restart.
pub struct Users {
    path: PathBuf,
    cache: Mutex<(Option<SystemTime>, UsersFile)>,
}

impl Users {
    pub fn open(path: PathBuf) -> Result<Users, crate::ServerError> {
        let file = UsersFile::load(&path)?;
        let mtime = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        Ok(Users { path, cache: Mutex::new((mtime, file)) })
    }

    pub fn count(&self) -> usize {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).1.users.len()
    }

    pub fn lookup(&self, name: &str) -> Option<User> {
        let mut c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let mtime = std::fs::metadata(&self.path).and_then(|m| m.modified()).ok();
        if mtime != c.0 {
            match UsersFile::load(&self.path) {
                Ok(f) => *c = (mtime, f),
                // A broken edit keeps the last good list.
                Err(e) => tracing::error!("users file not reloaded: {e}"),
            }
        }
        c.1.users.get(name).cloned()
    }
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
        self.shared.audit.write(&r);
        tracing::warn!(client = %self.conn.peer, user = ?user, "login refused: {reason}");
        self.conn.set_phase(Phase::Refused);
        fatal(code, shown)
    }

    fn password_failed(&self, user: &str, reason: &str) -> PgWireError {
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
                client.set_state(PgWireConnectionState::AuthenticationInProgress);
                self.conn.set_phase(Phase::Asked { user });
                client.send(PgWireBackendMessage::Authentication(Authentication::SASL(vec![scram::MECHANISM.to_owned()]))).await?;
            }
            PgWireFrontendMessage::PasswordMessageFamily(msg) => match self.conn.take_phase() {
                Phase::Asked { user } => {
                    let init = msg.into_sasl_initial_response().map_err(|_| self.password_failed(&user, "not a SASL initial response"))?;
                    if init.auth_method != scram::MECHANISM {
                        return Err(self.password_failed(&user, &format!("unsupported SASL mechanism {}", init.auth_method)));
                    }
                    let data = init.data.as_deref().unwrap_or_default();
                    let text = std::str::from_utf8(data).map_err(|_| self.password_failed(&user, "client-first message is not UTF-8"))?;
                    let account = self.shared.users.lookup(&user);
                    let verifier = match account.as_ref().map(|u| u.scram.verifier()) {
                        Some(Ok(v)) => v,
                        Some(Err(e)) => return Err(self.password_failed(&user, &format!("bad verifier in users file: {e}"))),
                        None => decoy(&self.shared.secret, &user),
                    };
                    let exchange = scram::client_first(text, &verifier, &scram::random_nonce())
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
                    let principal = Principal { user: user.clone(), role: account.role, partner: account.partner.clone() };
                    let mut r = Record::new(Kind::Login, self.conn.peer.to_string());
                    r.user = Some(user);
                    r.role = Some(account.role);
                    r.duration_ms = self.conn.started.elapsed().as_millis() as u64;
                    self.shared.audit.write(&r);
                    tracing::info!(client = %self.conn.peer, user = %principal.user, role = %principal.role, "login");
                    self.conn.set_phase(Phase::Authenticated(principal));
                }
                _ => return Err(PgWireError::InvalidSASLState),
            },
            _ => {}
        }
        Ok(())
    }
}
