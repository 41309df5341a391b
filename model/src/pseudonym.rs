//! Keyed pseudonyms. Partners share a secret key and compute the same
//! pseudonym for the same person, so records link across partners; the lake
//! never holds the key, so a pseudonym cannot be reversed or brute-forced from
//! a list of known NHS numbers (a plain hash could be).

use crate::error::ErrorKind;
use hmac::{Hmac, Mac};
use sha2::Sha256;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("the pseudonym key must be hex text of at least {MIN_KEY_BYTES} bytes ({hex} hex digits); got {0} bytes", hex = MIN_KEY_BYTES * 2)]
    TooShort(usize),
    #[error("the pseudonym key file must contain hex digits only (generate one with `vru pseudonymise --new-key FILE`)")]
    NotHex,
}

impl KeyError {
    /// The key file is set up by an operator.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Configuration
    }
}

/// Keys shorter than this are refused: HMAC-SHA256 is only as strong as the key.
pub const MIN_KEY_BYTES: usize = 32;

#[derive(Clone)]
pub struct Pseudonymiser {
    mac: Hmac<Sha256>,
}

impl Pseudonymiser {
    /// Takes the text of a key file: hex digits, surrounding whitespace ignored.
    pub fn from_key_text(text: &str) -> Result<Self, KeyError> {
        let key = hex::decode(text.trim()).map_err(|_| KeyError::NotHex)?;
        Self::from_key(&key)
    }

    pub fn from_key(key: &[u8]) -> Result<Self, KeyError> {
        if key.len() < MIN_KEY_BYTES {
            return Err(KeyError::TooShort(key.len()));
        }
        let mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
        Ok(Self { mac })
    }

    /// Identifiers are normalised first (spaces and hyphens removed,
    /// upper-cased) because partners write the same NHS number as
    /// `943 476 5919` or `9434765919`; both must give the same pseudonym.
    pub fn pseudonym(&self, raw: &str) -> String {
        let mut mac = self.mac.clone();
        for c in raw.chars().filter(|c| !c.is_whitespace() && *c != '-') {
            let mut buf = [0u8; 4];
            mac.update(c.to_uppercase().next().unwrap_or(c).encode_utf8(&mut buf).as_bytes());
        }
        hex::encode(mac.finalize().into_bytes())
    }
}

/// Encodes fresh key bytes (from the caller's random source) as key-file text.
pub fn key_text(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::is_pseudonym;

    fn p() -> Pseudonymiser {
        Pseudonymiser::from_key_text(&"0f".repeat(32)).unwrap()
    }

    #[test]
    fn normalises_before_hashing() {
        assert_eq!(p().pseudonym("943 476 5919"), p().pseudonym("9434765919"));
        assert_eq!(p().pseudonym("ab-12"), p().pseudonym("AB12"));
        assert_ne!(p().pseudonym("9434765919"), p().pseudonym("9434765918"));
        assert!(is_pseudonym(&p().pseudonym("x")));
    }

    #[test]
    fn key_changes_pseudonym() {
        let other = Pseudonymiser::from_key_text(&"1f".repeat(32)).unwrap();
        assert_ne!(p().pseudonym("9434765919"), other.pseudonym("9434765919"));
    }

    #[test]
    fn known_vector() {
        // HMAC-SHA256(key = 32 x 0x0f, "9434765919"), computed independently
        // with Python's hmac module.
        assert_eq!(p().pseudonym("9434765919"), "f94613f2b9ddd51e9e78ece3942b3b6cebba227a5f827b3f4b4ff5cef28fd728");
    }

    #[test]
    fn short_or_bad_keys_refused() {
        assert_eq!(Pseudonymiser::from_key_text("abcd").err(), Some(KeyError::TooShort(2)));
        assert_eq!(Pseudonymiser::from_key_text("zz").err(), Some(KeyError::NotHex));
    }
}
