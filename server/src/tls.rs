//! TLS: the acceptor, and the `tls-server-end-point` channel-binding data
//! (RFC 5929) SCRAM-SHA-256-PLUS checks: a hash of the server's own
//! certificate, with the hash function of the certificate's signature
//! algorithm (SHA-256 for MD5 and SHA-1). Certificates signed without a
//! single hash (Ed25519, RSA-PSS) have no such hash: binding is then not
//! offered, and logins use plain SCRAM-SHA-256.

use crate::ServerError;
use datafusion_postgres::pgwire::tokio::TlsAcceptor;
use datafusion_postgres::pgwire::tokio::tokio_rustls::rustls::pki_types::pem::PemObject;
use datafusion_postgres::pgwire::tokio::tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use datafusion_postgres::pgwire::tokio::tokio_rustls::rustls::{self, ServerConfig};
use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};
use std::path::Path;
use std::sync::Arc;

/// The acceptor and the channel-binding data of the certificate.
pub fn acceptor(cert: &Path, key: &Path) -> Result<(TlsAcceptor, Option<Vec<u8>>), ServerError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| ServerError::Tls(format!("certificate {}: {e}", cert.display())))?;
    let Some(leaf) = certs.first() else {
        return Err(ServerError::Tls(format!("no certificate in {}", cert.display())));
    };
    let binding = end_point(leaf.as_ref());
    if binding.is_none() {
        tracing::warn!("the certificate's signature algorithm has no single hash: SCRAM channel binding is not offered");
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| ServerError::Tls(format!("private key {}: {e}", key.display())))?;
    let config = ServerConfig::builder().with_no_client_auth().with_single_cert(certs, key).map_err(|e| ServerError::Tls(e.to_string()))?;
    Ok((TlsAcceptor::from(Arc::new(config)), binding))
}

/// One DER element: (tag, contents, rest).
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        (rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | *b as usize), &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

const SEQUENCE: u8 = 0x30;
const OID: u8 = 0x06;

/// The signature algorithm's OID of a DER certificate.
fn signature_algorithm(cert: &[u8]) -> Option<&[u8]> {
    let (SEQUENCE, body, _) = der(cert)? else { return None };
    let (SEQUENCE, _tbs, rest) = der(body)? else { return None };
    let (SEQUENCE, alg, _) = der(rest)? else { return None };
    let (OID, oid, _) = der(alg)? else { return None };
    Some(oid)
}

/// `tls-server-end-point` data for a DER certificate.
pub fn end_point(cert: &[u8]) -> Option<Vec<u8>> {
    const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01];
    const ECDSA: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04];
    let oid = signature_algorithm(cert)?;
    enum H {
        S224,
        S256,
        S384,
        S512,
    }
    let h = if let Some(last) = oid.strip_prefix(RSA) {
        match last {
            [0x04] | [0x05] | [0x0b] => H::S256, // MD5, SHA-1, SHA-256
            [0x0c] => H::S384,
            [0x0d] => H::S512,
            [0x0e] => H::S224,
            _ => return None,
        }
    } else if let Some(last) = oid.strip_prefix(ECDSA) {
        match last {
            [0x01] | [0x03, 0x02] => H::S256, // SHA-1, SHA-256
            [0x03, 0x01] => H::S224,
            [0x03, 0x03] => H::S384,
            [0x03, 0x04] => H::S512,
            _ => return None,
        }
    } else {
        return None;
    };
    Some(match h {
        H::S224 => Sha224::digest(cert).to_vec(),
        H::S256 => Sha256::digest(cert).to_vec(),
        H::S384 => Sha384::digest(cert).to_vec(),
        H::S512 => Sha512::digest(cert).to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Certificate ::= SEQUENCE { tbs SEQUENCE, alg SEQUENCE { OID }, BIT STRING }
    fn cert_with(oid: &[u8]) -> Vec<u8> {
        let tbs = [SEQUENCE, 2, 0x05, 0x00];
        let mut alg = vec![OID, oid.len() as u8];
        alg.extend_from_slice(oid);
        let alg = [&[SEQUENCE, alg.len() as u8][..], &alg].concat();
        let sig = [0x03, 2, 0x00, 0xff];
        let body = [&tbs[..], &alg, &sig].concat();
        [&[SEQUENCE, 0x81, body.len() as u8][..], &body].concat()
    }

    #[test]
    fn the_hash_follows_the_signature_algorithm() {
        let sha256_rsa = cert_with(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b]);
        assert_eq!(end_point(&sha256_rsa).unwrap(), Sha256::digest(&sha256_rsa).to_vec());
        let sha1_rsa = cert_with(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05]);
        assert_eq!(end_point(&sha1_rsa).unwrap().len(), 32, "SHA-1 becomes SHA-256");
        let sha384_ecdsa = cert_with(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03]);
        assert_eq!(end_point(&sha384_ecdsa).unwrap(), Sha384::digest(&sha384_ecdsa).to_vec());
        let ed25519 = cert_with(&[0x2b, 0x65, 0x70]);
        assert_eq!(end_point(&ed25519), None);
        assert_eq!(end_point(b"not a certificate"), None);
    }
}
