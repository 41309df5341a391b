//! One connection, from the first byte to the last: pgwire's TLS
//! negotiation and message handlers, in a loop of our own (pgwire's
//! `process_socket` fixes a 60 s startup timeout, buffers any message up to
//! 1 GiB and dispatches queries in any state) that
//!
//! - gives the whole login, TLS handshake included, `startup_timeout`;
//! - reads through [`FrameLimit`], so no message over the limit is buffered;
//! - dispatches nothing but login messages before a successful login;
//! - ends the session, a query in progress included, when the server says
//!   so (the user was removed), with a FATAL message to the client.

use crate::audit::{Kind, Record, Status};
use crate::frame::{FrameLimit, FrameTooLarge};
use crate::handler::{Conn, Link, Shared};
use crate::query::Stmt;
use datafusion_postgres::pgwire::api::NoopHandler;
use datafusion_postgres::pgwire::api::cancel::DefaultCancelHandler;
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError};
use datafusion_postgres::pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use datafusion_postgres::pgwire::tokio::TlsAcceptor;
use datafusion_postgres::pgwire::tokio::server::{negotiate_tls, process_error, process_message};
use futures::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_util::codec::{Framed, FramedParts};

fn fatal(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new("FATAL".to_owned(), code.to_owned(), message)))
}

/// Writes a connection-level record (the caller limits the rate).
pub fn audit_connection(shared: &Shared, conn: &Conn, status: Status, what: String, repeated: Option<u64>) {
    let mut r = Record::new(Kind::Connection, conn.peer.to_string());
    r.user = conn.principal().map(|p| p.user);
    r.status = status;
    r.error = Some(what);
    r.duration_ms = conn.started.elapsed().as_millis() as u64;
    r.repeated = repeated.filter(|n| *n > 0);
    let _ = shared.audit.write(&r);
}

fn too_large_message(e: &FrameTooLarge) -> String {
    if e.authenticated {
        format!(
            "message of {} bytes is over the server's limit of {} bytes (server.max_statement_bytes): the connection is closed",
            e.declared, e.limit
        )
    } else {
        format!("message of {} bytes before login is over the limit of {} bytes: the connection is closed", e.declared, e.limit)
    }
}

/// Serves one accepted socket until it closes.
pub async fn serve(socket: TcpStream, tls: Option<TlsAcceptor>, shared: Arc<Shared>, conn: Arc<Conn>, cancel: Arc<DefaultCancelHandler>) {
    let startup = tokio::time::Instant::now() + shared.limits.startup_timeout;
    let negotiated = match tokio::time::timeout_at(startup, negotiate_tls::<Stmt>(socket, tls)).await {
        Ok(Ok(Some(s))) => s,
        Ok(Ok(None)) | Ok(Err(_)) => return,
        Err(_) => {
            audit_connection(&shared, &conn, Status::Refused, "no login within the startup timeout (during TLS negotiation)".into(), None);
            return;
        }
    };
    let parts = negotiated.into_parts();
    let mut limited = FrameLimit::new(parts.io, conn.wire.clone());
    if let Err(refused) = limited.observe_buffered(&parts.read_buf) {
        // Came in with the startup packet.
        audit_connection(&shared, &conn, Status::Refused, too_large_message(&refused), None);
        return;
    }
    let mut new_parts = FramedParts::new(limited, parts.codec);
    new_parts.read_buf = parts.read_buf;
    new_parts.write_buf = parts.write_buf;
    let mut socket = Framed::from_parts(new_parts);

    let link = Arc::new(Link { shared: shared.clone(), conn: conn.clone() });
    let startup_handler = Arc::new(crate::auth::ScramStartup { shared: shared.clone(), conn: conn.clone() });
    let noop = Arc::new(NoopHandler);
    loop {
        let logged_in = conn.principal().is_some();
        let next = tokio::select! {
            biased;
            _ = conn.kill.cancelled() => None,
            _ = tokio::time::sleep_until(startup), if !logged_in => {
                audit_connection(&shared, &conn, Status::Refused, format!("no login within the startup timeout ({} s)", shared.limits.startup_timeout.as_secs_f64()), None);
                let _ = socket.send(PgWireBackendMessage::ErrorResponse(ErrorInfo::new("FATAL".into(), "08P01".into(), "no login within the startup timeout".into()).into())).await;
                break;
            }
            m = socket.next() => Some(m),
        };
        let Some(next) = next else {
            end_session(&mut socket, &shared, &conn).await;
            break;
        };
        let msg = match next {
            None => break,
            Some(Ok(m)) => m,
            Some(Err(PgWireError::IoError(e))) if FrameTooLarge::of(&e).is_some() => {
                let refused = FrameTooLarge::of(&e).expect("checked");
                let text = too_large_message(&refused);
                audit_connection(&shared, &conn, Status::Refused, text.clone(), None);
                let _ = process_error(&mut socket, fatal("54000", text), false).await;
                break;
            }
            Some(Err(_)) => break,
        };
        if matches!(msg, PgWireFrontendMessage::Terminate(_)) {
            break;
        }
        // Before login, only login messages (and a cancel request).
        let login_message = matches!(
            msg,
            PgWireFrontendMessage::Startup(_)
                | PgWireFrontendMessage::PasswordMessageFamily(_)
                | PgWireFrontendMessage::CancelRequest(_)
                | PgWireFrontendMessage::SslNegotiation(_)
        );
        if !logged_in && !login_message {
            audit_connection(&shared, &conn, Status::Refused, "a query before login".into(), None);
            let _ = process_error(&mut socket, fatal("28000", "not logged in".into()), false).await;
            break;
        }
        let extended = msg.is_extended_query();
        let handled = tokio::select! {
            biased;
            _ = conn.kill.cancelled() => None,
            r = process_message(msg, &mut socket, startup_handler.clone(), link.clone(), link.clone(), noop.clone(), cancel.clone()) => Some(r),
        };
        let Some(handled) = handled else {
            end_session(&mut socket, &shared, &conn).await;
            break;
        };
        if let Err(e) = handled {
            let is_fatal = matches!(&e, PgWireError::UserError(info) if info.severity == "FATAL");
            if process_error(&mut socket, e, extended).await.is_err() || is_fatal {
                break;
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), socket.close()).await;
}

async fn end_session<S>(
    socket: &mut Framed<S, datafusion_postgres::pgwire::tokio::server::PgWireMessageServerCodec<Stmt>>,
    shared: &Shared,
    conn: &Conn,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + Sync + 'static,
{
    let why = conn.end_reason();
    audit_connection(shared, conn, Status::Refused, format!("session ended by the server: {why}"), None);
    tracing::warn!(client = %conn.peer, "session ended: {why}");
    let _ = process_error(socket, fatal("57P01", format!("terminating connection: {why}")), false).await;
}
