//! SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL speaks it, written
//! against the stored verifier (StoredKey, ServerKey) rather than the salted
//! password pgwire's own SCRAM wants: a stolen users file then lets no one
//! log in, because the client proof needs ClientKey, which only hashes to
//! StoredKey.
//!
//! Over TLS the server also offers SCRAM-SHA-256-PLUS with
//! `tls-server-end-point` channel binding (RFC 5929): the client proves it
//! sees the server's own certificate, so a man in the middle holding
//! another certificate cannot relay the login. A client that says it could
//! bind but thought the server could not (`y`) is refused when the server
//! did offer binding: someone removed it on the way.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

pub const MECHANISM: &str = "SCRAM-SHA-256";
pub const MECHANISM_PLUS: &str = "SCRAM-SHA-256-PLUS";
pub const CHANNEL_BINDING: &str = "tls-server-end-point";

/// What the server offered and the client chose, for one exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding<'a> {
    /// No TLS (or no usable certificate hash): binding not offered.
    NotOffered,
    /// Offered, but the client chose plain SCRAM-SHA-256.
    Declined,
    /// The client chose SCRAM-SHA-256-PLUS: the certificate hash to check.
    Required(&'a [u8]),
}
/// PostgreSQL's default: the iteration count only costs the client (the
/// server checks a proof with two HMACs), so it is the client's speed that
/// bounds it.
pub const DEFAULT_ITERATIONS: u32 = 4096;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScramError {
    #[error("malformed SCRAM message: {0}")]
    Malformed(&'static str),
    #[error("channel binding is not supported by this server")]
    ChannelBinding,
    #[error("wrong password")]
    BadProof,
}

/// What the server keeps per user: enough to check a proof, not enough to
/// make one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier {
    pub iterations: u32,
    pub salt: Vec<u8>,
    pub stored_key: [u8; 32],
    pub server_key: [u8; 32],
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(data);
    m.finalize().into_bytes().into()
}

/// SaltedPassword := Hi(SASLprep(password), salt, i). A password SASLprep
/// rejects is used as is, as PostgreSQL and libpq do.
pub fn salted_password(password: &str, salt: &[u8], iterations: u32) -> [u8; 32] {
    let prepped = stringprep::saslprep(password).map(|c| c.into_owned()).unwrap_or_else(|_| password.to_string());
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(prepped.as_bytes(), salt, iterations, &mut out);
    out
}

impl Verifier {
    pub fn from_password(password: &str, salt: &[u8], iterations: u32) -> Verifier {
        let salted = salted_password(password, salt, iterations);
        let client_key = hmac(&salted, b"Client Key");
        Verifier {
            iterations,
            salt: salt.to_vec(),
            stored_key: Sha256::digest(client_key).into(),
            server_key: hmac(&salted, b"Server Key"),
        }
    }

    /// A fresh random 16-byte salt, as PostgreSQL uses.
    pub fn new(password: &str) -> Verifier {
        Verifier::from_password(password, &rand::random::<[u8; 16]>(), DEFAULT_ITERATIONS)
    }
}

/// A random printable nonce (base64 has no comma).
pub fn random_nonce() -> String {
    B64.encode(rand::random::<[u8; 18]>())
}

/// The server's half of one exchange, after the client-first message.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// What the client-final message's `c=` must decode to.
    binding_input: Vec<u8>,
    client_first_bare: String,
    server_first: String,
    nonce: String,
}

/// Reads the client-first message and answers with the server-first
/// message (`exchange.server_first()`).
pub fn client_first(message: &str, verifier: &Verifier, server_nonce: &str, binding: Binding) -> Result<Exchange, ScramError> {
    // gs2-header = cbind-flag "," [authzid] ","
    let mut parts = message.splitn(3, ',');
    let flag = parts.next().ok_or(ScramError::Malformed("empty client-first message"))?;
    let authzid = parts.next().ok_or(ScramError::Malformed("no gs2 header"))?;
    let bare = parts.next().ok_or(ScramError::Malformed("no client-first-bare"))?;
    let cbind_data: &[u8] = match (flag, binding) {
        ("n", Binding::NotOffered | Binding::Declined) | ("y", Binding::NotOffered) => &[],
        // The client could bind and believed the server could not.
        ("y", Binding::Declined) => return Err(ScramError::ChannelBinding),
        (f, Binding::Required(data)) if f.strip_prefix("p=") == Some(CHANNEL_BINDING) => data,
        (_, Binding::Required(_)) => return Err(ScramError::ChannelBinding),
        (f, _) if f.starts_with("p=") => return Err(ScramError::ChannelBinding),
        _ => return Err(ScramError::Malformed("bad channel-binding flag")),
    };
    if !authzid.is_empty() {
        return Err(ScramError::Malformed("authorization identities are not supported"));
    }
    if bare.starts_with("m=") {
        return Err(ScramError::Malformed("mandatory extensions are not supported"));
    }
    // PostgreSQL ignores the SCRAM user name (libpq sends it empty): the
    // startup message's user is the one authenticated.
    let client_nonce =
        bare.split(',').find_map(|a| a.strip_prefix("r=")).filter(|n| !n.is_empty()).ok_or(ScramError::Malformed("no client nonce"))?;
    let nonce = format!("{client_nonce}{server_nonce}");
    let server_first = format!("r={nonce},s={},i={}", B64.encode(&verifier.salt), verifier.iterations);
    let gs2_header = format!("{flag},{authzid},");
    let mut binding_input = gs2_header.as_bytes().to_vec();
    binding_input.extend_from_slice(cbind_data);
    Ok(Exchange { binding_input, client_first_bare: bare.to_string(), server_first, nonce })
}

impl Exchange {
    pub fn server_first(&self) -> &str {
        &self.server_first
    }

    /// Checks the client-final message's proof; on success returns the
    /// server-final message (`v=<ServerSignature>`), which proves to the
    /// client that the server knew its verifier too.
    pub fn client_final(&self, message: &str, verifier: &Verifier) -> Result<String, ScramError> {
        let (without_proof, proof) = message.rsplit_once(",p=").ok_or(ScramError::Malformed("no proof"))?;
        let mut attrs = without_proof.split(',');
        let binding = attrs.next().and_then(|a| a.strip_prefix("c=")).ok_or(ScramError::Malformed("no channel binding"))?;
        let nonce = attrs.next().and_then(|a| a.strip_prefix("r=")).ok_or(ScramError::Malformed("no nonce"))?;
        if B64.decode(binding).map_err(|_| ScramError::Malformed("channel binding is not base64"))? != self.binding_input {
            return Err(ScramError::ChannelBinding);
        }
        if nonce != self.nonce {
            return Err(ScramError::Malformed("nonce mismatch"));
        }
        let proof = B64.decode(proof).map_err(|_| ScramError::Malformed("proof is not base64"))?;
        if proof.len() != 32 {
            return Err(ScramError::Malformed("proof has the wrong length"));
        }
        let auth_message = format!("{},{},{}", self.client_first_bare, self.server_first, without_proof);
        let signature = hmac(&verifier.stored_key, auth_message.as_bytes());
        let client_key: Vec<u8> = proof.iter().zip(signature).map(|(p, s)| p ^ s).collect();
        let candidate: [u8; 32] = Sha256::digest(&client_key).into();
        // Constant time, so the comparison leaks nothing about StoredKey.
        if candidate.iter().zip(verifier.stored_key).fold(0u8, |acc, (a, b)| acc | (a ^ b)) != 0 {
            return Err(ScramError::BadProof);
        }
        Ok(format!("v={}", B64.encode(hmac(&verifier.server_key, auth_message.as_bytes()))))
    }
}

/// The client side, for tests and for checking a password offline.
pub fn client_proof(password: &str, client_first_bare: &str, server_first: &str, client_final_without_proof: &str) -> String {
    let salt_b64 = server_first.split(',').find_map(|a| a.strip_prefix("s=")).unwrap_or_default();
    let iterations = server_first.split(',').find_map(|a| a.strip_prefix("i=")).and_then(|i| i.parse().ok()).unwrap_or(DEFAULT_ITERATIONS);
    let salted = salted_password(password, &B64.decode(salt_b64).unwrap_or_default(), iterations);
    let client_key = hmac(&salted, b"Client Key");
    let stored_key: [u8; 32] = Sha256::digest(client_key).into();
    let auth_message = format!("{client_first_bare},{server_first},{client_final_without_proof}");
    let signature = hmac(&stored_key, auth_message.as_bytes());
    B64.encode(client_key.iter().zip(signature).map(|(k, s)| k ^ s).collect::<Vec<u8>>())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of RFC 7677 section 3.
    #[test]
    fn rfc_7677_example() {
        let v = Verifier::from_password("pencil", &B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap(), 4096);
        let ex = client_first("n,,n=user,r=rOprNGfwEbeRWgbNEkqO", &v, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0", Binding::NotOffered).unwrap();
        assert_eq!(ex.server_first(), "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
        let fin = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
        assert_eq!(ex.client_final(fin, &v).unwrap(), "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
    }

    fn login(password_on_server: &str, password_typed: &str) -> Result<String, ScramError> {
        login_bound(password_on_server, password_typed, "n,,", Binding::NotOffered, b"")
    }

    /// A client that sends `header` and binds to `client_sees`.
    fn login_bound(on_server: &str, typed: &str, header: &str, server: Binding, client_sees: &[u8]) -> Result<String, ScramError> {
        let v = Verifier::new(on_server);
        let bare = format!("n=,r={}", random_nonce());
        let ex = client_first(&format!("{header}{bare}"), &v, &random_nonce(), server)?;
        let nonce = ex.server_first().split(',').next().unwrap().trim_start_matches("r=").to_string();
        let c = B64.encode([header.as_bytes(), client_sees].concat());
        let without_proof = format!("c={c},r={nonce}");
        let proof = client_proof(typed, &bare, ex.server_first(), &without_proof);
        ex.client_final(&format!("{without_proof},p={proof}"), &v)
    }

    #[test]
    fn channel_binding_to_the_server_certificate() {
        let cert_hash = [7u8; 32];
        let plus = "p=tls-server-end-point,,";
        let ok = login_bound("pw-123456", "pw-123456", plus, Binding::Required(&cert_hash), &cert_hash);
        assert!(ok.unwrap().starts_with("v="));
        // A relay with another certificate: the client binds to that one.
        let relayed = login_bound("pw-123456", "pw-123456", plus, Binding::Required(&cert_hash), &[9u8; 32]);
        assert_eq!(relayed, Err(ScramError::ChannelBinding));
        // "y": the client could bind but was told the server cannot.
        assert_eq!(login_bound("pw-123456", "pw-123456", "y,,", Binding::Declined, b""), Err(ScramError::ChannelBinding));
        assert!(login_bound("pw-123456", "pw-123456", "y,,", Binding::NotOffered, b"").is_ok());
        // Plain SCRAM over TLS still works for clients that do not bind.
        assert!(login_bound("pw-123456", "pw-123456", "n,,", Binding::Declined, b"").is_ok());
        // -PLUS chosen but no binding asked for.
        assert_eq!(login_bound("pw-123456", "pw-123456", "n,,", Binding::Required(&cert_hash), b""), Err(ScramError::ChannelBinding));
    }

    #[test]
    fn right_password_passes_wrong_fails() {
        assert!(login("correct horse", "correct horse").unwrap().starts_with("v="));
        assert_eq!(login("correct horse", "correct hors"), Err(ScramError::BadProof));
    }

    #[test]
    fn tampering_is_refused() {
        let v = Verifier::new("pw-123456");
        assert_eq!(client_first("p=tls-server-end-point,,n=,r=abc", &v, "x", Binding::NotOffered).unwrap_err(), ScramError::ChannelBinding);
        assert!(client_first("n,,n=,", &v, "x", Binding::NotOffered).is_err());
        let ex = client_first("n,,n=,r=abc", &v, "def", Binding::NotOffered).unwrap();
        // A nonce the server did not issue.
        assert!(ex.client_final("c=biws,r=abcxyz,p=AAAA", &v).is_err());
        // A proof of the wrong size.
        assert!(ex.client_final("c=biws,r=abcdef,p=AAAA", &v).is_err());
    }

    #[test]
    fn verifiers_are_salted() {
        let a = Verifier::new("same password");
        let b = Verifier::new("same password");
        assert_ne!(a.stored_key, b.stored_key);
        assert_eq!(Verifier::from_password("same password", &a.salt, a.iterations), a);
    }
}
