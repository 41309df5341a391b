//! Identifiers that must be stable across re-sends, partners and restarts.

use sha2::{Digest, Sha256};
use std::fmt;

/// An event's identity: a hash of where the row came from and which version
/// of it this is. The same row sent twice yields the same id, which is what
/// lets the normaliser drop re-sent rows instead of counting them twice.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId([u8; 16]);

impl EventId {
    /// Fields are joined with a NUL so that `("ab","c")` and `("a","bc")`
    /// cannot collide.
    pub fn derive(source: &str, partner: &str, record_id: &str, record_version: u32) -> Self {
        let mut h = Sha256::new();
        for part in [source, partner, record_id] {
            h.update(part.as_bytes());
            h.update([0u8]);
        }
        h.update(record_version.to_be_bytes());
        let digest = h.finalize();
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest[..16]);
        EventId(id)
    }

    /// The id of one revision of a record that has no version number: the
    /// record's content stands in for the version.
    pub fn derive_revision(source: &str, partner: &str, record_id: &str, content_hash: &str) -> Self {
        Self::derive(source, partner, &format!("{record_id}\0{content_hash}"), 0)
    }

    pub fn parse(s: &str) -> Option<Self> {
        if s.len() != 32 {
            return None;
        }
        let mut id = [0u8; 16];
        hex::decode_to_slice(s, &mut id).ok()?;
        Some(EventId(id))
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for EventId {
    /// On the stack: the lake's duplicate check formats every id it writes,
    /// and `hex::encode`'s `String` was 2% of the commit thread (stop 28).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 32];
        hex::encode_to_slice(self.0, &mut buf).map_err(|_| fmt::Error)?;
        f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventId({self})")
    }
}

impl serde::Serialize for EventId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for EventId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::wire_time::with_text(d, |s| EventId::parse(s).ok_or_else(|| "event_id must be 32 hex digits".to_string()))
    }
}

/// A pseudonym is the lowercase hex of an HMAC-SHA256: exactly 64 hex digits.
/// Anything else in a person column is treated as a possible raw identifier.
pub fn is_pseudonym(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// 2011 and 2021 LSOA codes for England (E01) and Wales (W01): a letter, two
/// digits, six digits. Whether the code exists is a reference-data question,
/// answered by the lookup table, not here.
pub fn is_lsoa_code(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 9 && (b[0] == b'E' || b[0] == b'W') && &b[1..3] == b"01" && b[3..].iter().all(u8::is_ascii_digit)
}

/// A small-area code of anywhere in the UK, for where a person lives: an
/// English or Welsh LSOA (E01, W01), a Scottish data zone (S01), a Northern
/// Irish data zone (N20, N21) or super output area (`95AA01S1`). A victim
/// who lives in Scotland is kept, and counted as from outside the area.
pub fn is_small_area_code(s: &str) -> bool {
    let b = s.as_bytes();
    let gss = b.len() == 9 && matches!(&b[..3], b"E01" | b"W01" | b"S01" | b"N20" | b"N21") && b[3..].iter().all(u8::is_ascii_digit);
    let ni_soa = b.len() == 8
        && &b[..2] == b"95"
        && b[2..4].iter().all(u8::is_ascii_uppercase)
        && b[4..6].iter().all(u8::is_ascii_digit)
        && b[6] == b'S'
        && b[7].is_ascii_digit();
    gss || ni_soa
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_id_is_deterministic_and_version_sensitive() {
        let a = EventId::derive("police", "p1", "r1", 1);
        assert_eq!(a, EventId::derive("police", "p1", "r1", 1));
        assert_ne!(a, EventId::derive("police", "p1", "r1", 2));
        assert_ne!(a, EventId::derive("police", "p2", "r1", 1));
        assert_ne!(EventId::derive("s", "ab", "c", 1), EventId::derive("s", "a", "bc", 1));
        assert_eq!(EventId::parse(&a.to_string()), Some(a));
        assert_eq!(a.to_string().len(), 32);
    }

    #[test]
    fn shapes() {
        assert!(is_lsoa_code("E01000001"));
        assert!(is_lsoa_code("W01001234"));
        assert!(!is_lsoa_code("E02000001"));
        assert!(!is_lsoa_code("E0100001"));
        for c in ["E01000001", "W01001234", "S01006506", "N21000001", "95AA01S1"] {
            assert!(is_small_area_code(c), "{c}");
        }
        assert!(!is_small_area_code("S02000001") && !is_small_area_code("e01000001"));
        assert!(!is_pseudonym("9434765919"));
        assert!(is_pseudonym(&"a".repeat(64)));
        assert!(!is_pseudonym(&"A".repeat(64)));
    }
}
