//! What an extract has said about each of its records, in 16 bytes a row:
//! the first pass records each record's content and line, so a record
//! repeated with the same content is a duplicate and with other content a
//! conflict (the partner changed a row without bumping its version); the
//! lake's own copy of a record can be marked; the second pass publishes
//! each record once. Past `limit` rows nothing more is tracked, so memory
//! stays bounded on multi-gigabyte files (the normaliser still drops
//! duplicates by event id).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use vru_model::Event;
use vru_model::ids::EventId;

const IN_LAKE: u32 = 1 << 31;
const PUBLISHED: u32 = 1 << 30;
const LINE: u32 = PUBLISHED - 1;

#[derive(Debug, Clone, Copy)]
struct Entry {
    content: u32,
    /// Line of the first occurrence, with the two flags above.
    line: u32,
}

/// How a record compares with what the file said before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    New,
    /// Same record, same content, earlier in the file.
    Duplicate,
    /// Same record, other content: names the earlier line.
    Conflict {
        first_line: u64,
    },
}

/// The keys are already uniform hashes (of event ids): used as they are.
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

pub struct RecordTracker {
    map: HashMap<u64, Entry, BuildHasherDefault<Identity>>,
    limit: usize,
}

/// The key a record is tracked by: its event id, or for content-addressed
/// sources (whose event id changes with the content) its record id.
pub fn key(e: &Event) -> u64 {
    let env = &e.envelope;
    if env.source.content_addressed() {
        let id = EventId::derive(env.source.as_str(), &env.partner, &env.record_id, 0);
        u64::from_le_bytes(id.as_bytes()[..8].try_into().expect("8 bytes"))
    } else {
        id_key(&env.event_id)
    }
}

pub fn id_key(id: &EventId) -> u64 {
    u64::from_le_bytes(id.as_bytes()[..8].try_into().expect("8 bytes"))
}

/// The first 32 bits of a 16-hex-digit content hash.
pub fn content32(hash: Option<&str>) -> u32 {
    hash.and_then(|h| h.get(..8)).and_then(|h| u32::from_str_radix(h, 16).ok()).unwrap_or(0)
}

impl RecordTracker {
    pub fn new(limit: usize) -> Self {
        RecordTracker { map: HashMap::default(), limit }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// First pass: records `key` at `line` with its content.
    pub fn observe(&mut self, key: u64, content: u32, line: u64) -> Seen {
        if let Some(e) = self.map.get(&key) {
            return if e.content == content { Seen::Duplicate } else { Seen::Conflict { first_line: u64::from(e.line & LINE) } };
        }
        if self.map.len() < self.limit {
            self.map.insert(key, Entry { content, line: line.min(u64::from(LINE)) as u32 });
        }
        Seen::New
    }

    /// The lake holds this record with `content`: `Some(line)` of the file's
    /// row when the file says something else (a conflict), else marks the
    /// record so it is not published again.
    pub fn against_lake(&mut self, key: u64, content: u32) -> Option<u64> {
        let e = self.map.get_mut(&key)?;
        if e.content != content && content != 0 {
            return Some(u64::from(e.line & LINE));
        }
        e.line |= IN_LAKE;
        None
    }

    /// Records the lake already holds.
    pub fn in_lake(&self) -> u64 {
        self.map.values().filter(|e| e.line & IN_LAKE != 0).count() as u64
    }

    /// `(key, content)` of the records this pass published.
    pub fn published(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.map.iter().filter(|(_, e)| e.line & PUBLISHED != 0).map(|(k, e)| (*k, e.content))
    }

    /// Second pass: true when this record is to be published now (not in
    /// the lake, not published earlier in this pass). Untracked records are
    /// always published.
    pub fn publish(&mut self, key: u64) -> bool {
        match self.map.get_mut(&key) {
            None => true,
            Some(e) if e.line & (IN_LAKE | PUBLISHED) != 0 => false,
            Some(e) => {
                e.line |= PUBLISHED;
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_conflicts_and_the_lake() {
        let mut t = RecordTracker::new(10);
        assert_eq!(t.observe(1, 7, 2), Seen::New);
        assert_eq!(t.observe(1, 7, 5), Seen::Duplicate);
        assert_eq!(t.observe(1, 8, 9), Seen::Conflict { first_line: 2 });
        assert_eq!(t.observe(2, 7, 3), Seen::New);
        assert_eq!(t.observe(3, 7, 4), Seen::New);
        assert_eq!(t.against_lake(2, 7), None);
        assert_eq!(t.against_lake(3, 9), Some(4));
        assert_eq!(t.against_lake(99, 9), None);
        assert_eq!(t.in_lake(), 1);
        assert!(t.publish(1));
        assert!(!t.publish(1));
        assert!(!t.publish(2));
        assert!(t.publish(42));
    }

    #[test]
    fn bounded() {
        let mut t = RecordTracker::new(2);
        for k in 0..5 {
            assert_eq!(t.observe(k, 0, k), Seen::New);
        }
        assert_eq!(t.len(), 2);
        assert_eq!(t.observe(4, 1, 9), Seen::New);
    }
}
