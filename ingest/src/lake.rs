//! The lake (the `vru-lake` crate), and how the landing folder asks it
//! which events a partner already sent.

pub use vru_lake::*;

use crate::tracker::{content32, id_key};
use std::collections::HashMap;
use std::sync::Mutex;
use vru_model::ids::EventId;
use vru_model::tables::Table;

/// The lake as the landing folder asks it, from a blocking ingest thread,
/// plus what this process published that the lake may not hold yet.
///
/// Without the second part, whether an extract's rows count as re-sent (and
/// whether a changed record without a new version is caught) depended on
/// whether the normaliser had committed the previous extract in time: a
/// slower lake (object storage) gave other data-quality figures, and a
/// conflicting correction could slip through. Entries leave `recent` as
/// soon as a lake scan finds them, so it holds only what Kafka has and the
/// lake does not yet: bounded by the normaliser's lag, not by history.
pub struct LakeKnown {
    lake: Lake,
    handle: tokio::runtime::Handle,
    recent: Mutex<HashMap<(Table, String), HashMap<u64, u32>>>,
}

impl LakeKnown {
    pub fn new(lake: Lake, handle: tokio::runtime::Handle) -> Self {
        LakeKnown { lake, handle, recent: Mutex::default() }
    }

    /// Published records the lake did not hold at the last scan.
    pub fn pending(&self) -> usize {
        self.recent.lock().expect("not poisoned").values().map(HashMap::len).sum()
    }
}

impl crate::extract::KnownEvents for LakeKnown {
    fn for_each(&self, table: Table, partner: &str, f: &mut dyn FnMut(u64, u32)) -> Result<(), String> {
        let mut recent = self.recent.lock().expect("not poisoned");
        let mut pending = recent.remove(&(table, partner.to_string())).unwrap_or_default();
        let scan = self.handle.block_on(for_each_event(&self.lake, table.name(), partner, &mut |id: &EventId, content| {
            let key = id_key(id);
            pending.remove(&key);
            f(key, content32(content));
        }));
        for (&key, &content) in &pending {
            f(key, content);
        }
        if !pending.is_empty() {
            recent.insert((table, partner.to_string()), pending);
        }
        scan.map_err(|e| e.to_string())
    }

    fn published(&self, table: Table, partner: &str, records: &mut dyn Iterator<Item = (u64, u32)>) {
        self.recent.lock().expect("not poisoned").entry((table, partner.to_string())).or_default().extend(records);
    }
}
