//! What should be in the lake, and what is: event ids computed from the
//! extract files by the same reader ingest uses, and read back from every
//! Delta table (checking that no id is there twice).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use vru_ingest::extract::{ExtractJob, ExtractRules};
use vru_ingest::lake::{self as lakeio, Lake};
use vru_ingest::sink::VecSink;
use vru_model::classification::Catalogue;
use vru_model::ids::EventId;
use vru_model::tables::Table;

/// `(partner, file)` for every extract under a landing folder.
pub fn extract_files(landing: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for p in std::fs::read_dir(landing).unwrap().flatten() {
        for f in std::fs::read_dir(p.path()).unwrap().flatten() {
            out.push((p.file_name().to_string_lossy().into_owned(), f.path()));
        }
    }
    out.sort();
    out
}

/// Every distinct event the files hold (receipts included), by parsing them.
pub fn expected_ids(files: &[(String, PathBuf)]) -> HashSet<EventId> {
    let (cat, rules) = (Catalogue::builtin(), ExtractRules::default());
    let mut ids = HashSet::new();
    for (partner, path) in files {
        let mut sink = VecSink::default();
        ExtractJob::new(path, partner, &cat, &rules, chrono::Utc::now()).run(&mut sink).unwrap();
        ids.extend(sink.events.iter().map(|e| e.envelope.event_id));
    }
    ids
}

/// Event ids in the lake, checking no id is there twice.
pub async fn lake_ids(lake: &Lake) -> HashSet<EventId> {
    let counts = super::event_counts_of(lake).await;
    let mut all = HashSet::new();
    for t in Table::ALL {
        let Some(delta) = lake.open(t.name()).await.unwrap() else { continue };
        let ids = lakeio::event_ids(&delta, t.name()).await.unwrap();
        let rows = counts.iter().find(|(n, _)| n == t.name()).unwrap().1 as usize;
        assert_eq!(rows, ids.len(), "{}: {rows} rows but {} distinct ids", t.name(), ids.len());
        all.extend(ids);
    }
    all
}
