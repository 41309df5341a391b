//! A size limit on every frontend message, enforced on the bytes as they
//! arrive, before pgwire's codec buffers a message whole.
//!
//! pgwire accepts a Query or Parse message of up to 1 GiB and buffers it
//! until complete, before any handler runs; it has no setting for a smaller
//! bound. [`FrameLimit`] sits between the (decrypted) stream and pgwire's
//! codec and follows the protocol's framing (an untyped first message, then
//! a type byte and a 4-byte length per message): when a header declares a
//! message over the limit, reading fails at once, so at most one read's
//! worth of the message is ever in memory. Before login the limit is a few
//! KiB (a startup packet and SCRAM messages are small); after it, the
//! configured statement size. It wraps the TLS stream, not the TCP socket,
//! so it sees plaintext framing.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// PostgreSQL's own bound on a startup packet, which is also ample for the
/// SCRAM messages that follow it.
pub const PRE_AUTH_MAX_MESSAGE: usize = 10_000;

/// The limits one connection's messages are held to.
#[derive(Debug)]
pub struct WireLimits {
    pub pre_auth: usize,
    pub post_auth: usize,
    /// Set by the login handler once the password is checked.
    pub authenticated: AtomicBool,
}

impl WireLimits {
    pub fn new(post_auth: usize) -> WireLimits {
        WireLimits { pre_auth: PRE_AUTH_MAX_MESSAGE, post_auth, authenticated: AtomicBool::new(false) }
    }

    fn current(&self) -> (usize, bool) {
        let auth = self.authenticated.load(Ordering::Acquire);
        (if auth { self.post_auth } else { self.pre_auth }, auth)
    }
}

/// A message whose declared length is over the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {declared}-byte message exceeds the limit of {limit} bytes")]
pub struct FrameTooLarge {
    pub declared: usize,
    pub limit: usize,
    pub authenticated: bool,
    /// The message type byte; `None` for the untyped startup message.
    pub kind: Option<u8>,
}

impl FrameTooLarge {
    /// The refusal carried by an I/O error from [`FrameLimit`], if any.
    pub fn of(e: &io::Error) -> Option<FrameTooLarge> {
        e.get_ref().and_then(|inner| inner.downcast_ref::<FrameTooLarge>()).copied()
    }
}

/// Where the parser is in the byte stream.
#[derive(Debug)]
struct Framing {
    header: [u8; 5],
    have: usize,
    /// Body bytes of the current message still to pass.
    remaining: usize,
    /// After the first (untyped) message every message has a type byte.
    typed: bool,
}

impl Framing {
    /// Follows `bytes`; returns the offset at which a message over the
    /// limit starts (0 if its header began in an earlier read).
    fn observe(&mut self, bytes: &[u8], limits: &WireLimits) -> Result<(), (usize, FrameTooLarge)> {
        let mut i = 0;
        while i < bytes.len() {
            if self.remaining > 0 {
                let n = self.remaining.min(bytes.len() - i);
                self.remaining -= n;
                i += n;
                if self.remaining == 0 {
                    self.typed = true;
                }
                continue;
            }
            let header_len = if self.typed { 5 } else { 4 };
            let start = i.saturating_sub(self.have);
            let n = (header_len - self.have).min(bytes.len() - i);
            self.header[self.have..self.have + n].copy_from_slice(&bytes[i..i + n]);
            self.have += n;
            i += n;
            if self.have < header_len {
                continue;
            }
            self.have = 0;
            let at = if self.typed { 1 } else { 0 };
            let declared = u32::from_be_bytes(self.header[at..at + 4].try_into().expect("4 bytes")) as usize;
            let (limit, authenticated) = limits.current();
            if declared > limit {
                let kind = self.typed.then_some(self.header[0]);
                return Err((start, FrameTooLarge { declared, limit, authenticated, kind }));
            }
            // A length under 4 is malformed: pgwire's decoder reports it.
            self.remaining = declared.saturating_sub(4);
            if self.remaining == 0 {
                self.typed = true;
            }
        }
        Ok(())
    }
}

/// The stream wrapper; see the module documentation.
pub struct FrameLimit<S> {
    inner: S,
    limits: Arc<WireLimits>,
    framing: Framing,
    refused: Option<FrameTooLarge>,
}

impl<S> FrameLimit<S> {
    pub fn new(inner: S, limits: Arc<WireLimits>) -> FrameLimit<S> {
        FrameLimit { inner, limits, framing: Framing { header: [0; 5], have: 0, remaining: 0, typed: false }, refused: None }
    }

    /// Accounts for bytes read from the stream before this wrapper was put
    /// in front of it (pgwire's TLS negotiation may have buffered some).
    pub fn observe_buffered(&mut self, bytes: &[u8]) -> Result<(), FrameTooLarge> {
        self.framing.observe(bytes, &self.limits).map_err(|(_, e)| e)
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

fn refusal(e: FrameTooLarge) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl<S: AsyncRead + Unpin> AsyncRead for FrameLimit<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if let Some(e) = self.refused {
            return Poll::Ready(Err(refusal(e)));
        }
        let before = buf.filled().len();
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        let limits = this.limits.clone();
        if let Err((at, e)) = this.framing.observe(&buf.filled()[before..], &limits) {
            // Deliver the whole messages before the refused one, then fail.
            buf.set_filled(before + at);
            this.refused = Some(e);
            if at == 0 {
                return Poll::Ready(Err(refusal(e)));
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FrameLimit<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    fn startup() -> Vec<u8> {
        let body = b"\x00\x03\x00\x00user\x00ana\x00\x00";
        let mut m = ((body.len() + 4) as u32).to_be_bytes().to_vec();
        m.extend_from_slice(body);
        m
    }

    fn typed(kind: u8, body_len: usize) -> Vec<u8> {
        let mut m = vec![kind];
        m.extend_from_slice(&((body_len + 4) as u32).to_be_bytes());
        m.extend(std::iter::repeat_n(b'x', body_len));
        m
    }

    async fn read_all(bytes: Vec<u8>, limits: Arc<WireLimits>, chunk: usize) -> (Vec<u8>, Option<FrameTooLarge>) {
        let (mut tx, rx) = tokio::io::duplex(chunk);
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            for c in bytes.chunks(chunk) {
                if tx.write_all(c).await.is_err() {
                    return;
                }
            }
        });
        let mut s = FrameLimit::new(rx, limits);
        let mut out = Vec::new();
        let mut buf = vec![0u8; chunk];
        loop {
            match s.read(&mut buf).await {
                Ok(0) => return (out, None),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) => return (out, FrameTooLarge::of(&e)),
            }
        }
    }

    #[tokio::test]
    async fn small_messages_pass_and_a_large_one_stops_at_its_header() {
        for chunk in [1, 3, 7, 64, 4096] {
            let limits = Arc::new(WireLimits::new(1000));
            let mut stream = startup();
            stream.extend(typed(b'p', 50));
            stream.extend(typed(b'Q', 2000));
            // Declares 1 GiB and sends none of it.
            let mut huge = vec![b'Q'];
            huge.extend_from_slice(&(1u32 << 30).to_be_bytes());
            let (out, refused) = read_all([stream.clone(), huge].concat(), limits.clone(), chunk).await;
            let e = refused.expect("refused");
            assert_eq!((e.declared, e.limit, e.authenticated, e.kind), (1 << 30, PRE_AUTH_MAX_MESSAGE, false, Some(b'Q')));
            // Everything before the refused message, at most its header.
            assert!(out.starts_with(&stream) && out.len() < stream.len() + 5, "chunk {chunk}: {} of {}", out.len(), stream.len());
        }
    }

    #[tokio::test]
    async fn the_limit_rises_after_login() {
        let limits = Arc::new(WireLimits::new(50_000));
        limits.authenticated.store(true, Ordering::Release);
        let stream = [startup(), typed(b'Q', 20_000), typed(b'Q', 60_000)].concat();
        let (out, refused) = read_all(stream, limits, 8192).await;
        let e = refused.expect("the 60 kB one is refused");
        assert_eq!((e.declared, e.limit, e.authenticated), (60_004, 50_000, true));
        assert_eq!(out.len(), startup().len() + 20_005);
    }

    #[tokio::test]
    async fn an_oversized_startup_packet_is_refused() {
        let mut m = (1u32 << 20).to_be_bytes().to_vec();
        m.extend_from_slice(&[0, 3, 0, 0]);
        let (out, refused) = read_all(m, Arc::new(WireLimits::new(1 << 20)), 4096).await;
        assert!(out.is_empty());
        assert_eq!(refused.unwrap().kind, None);
    }
}
