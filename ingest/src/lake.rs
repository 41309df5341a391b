//! The lake (the `vru-lake` crate), and how the landing folder asks it
//! which events a partner already sent.

pub use vru_lake::*;

use vru_model::ids::EventId;

/// The lake as the landing folder asks it, from a blocking ingest thread.
pub struct LakeKnown {
    lake: Lake,
    handle: tokio::runtime::Handle,
}

impl LakeKnown {
    pub fn new(lake: Lake, handle: tokio::runtime::Handle) -> Self {
        LakeKnown { lake, handle }
    }
}

impl crate::extract::KnownEvents for LakeKnown {
    fn for_each(&self, table: vru_model::tables::Table, partner: &str, f: &mut dyn FnMut(&EventId, Option<&str>)) -> Result<(), String> {
        self.handle.block_on(for_each_event(&self.lake, table.name(), partner, f)).map_err(|e| e.to_string())
    }
}
