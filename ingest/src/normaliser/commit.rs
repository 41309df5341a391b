//! A flight's commits, run on a worker thread while the consume loop goes
//! on reading: conversion, Parquet encoding and the Delta commit were
//! about 40% of the normaliser's time on the 10x city, with the loop
//! stopped. It owns the table handles and the id lookup between flights,
//! so nothing is shared with the loop; at most one flight is in the air.

use super::state::{Commit, Partition};
use super::{NormaliserError, app_id};
use crate::lake::{self, LakeError};
use deltalake::DeltaTable;
use deltalake::kernel::Transaction;
use std::collections::BTreeMap;
use std::time::Instant;
use vru_model::Event;
use vru_model::tables::{Table, to_record_batch};

pub(super) struct Committer {
    pub cluster_id: String,
    pub deltas: BTreeMap<Table, DeltaTable>,
    /// Which of a batch's ids the lake holds.
    pub lookup: lake::IdLookup,
}

/// One commit that is in the lake.
pub(super) struct Landed {
    pub table: Table,
    pub txns: Vec<(Partition, i64)>,
    pub written: usize,
    pub dropped: usize,
}

impl Committer {
    /// Commits `commits` in order, removing each from the front as it lands
    /// and reporting it in `landed`; on error the rest stay for a retry.
    pub async fn fly(&mut self, commits: &mut Vec<(Commit, Vec<Event>)>, landed: &mut Vec<Landed>) -> Result<(), NormaliserError> {
        while let Some((commit, rows)) = commits.first_mut() {
            let table = commit.table;
            self.recheck_txns(table, &commit.txns).await?;
            let started = Instant::now();
            let dropped = self.drop_rows_in_lake(table, rows).await?;
            let actions: Vec<Transaction> = commit.txns.iter().map(|(p, o)| Transaction::new(app_id(&self.cluster_id, p), *o)).collect();
            let delta = &self.deltas[&table];
            let written = rows.len();
            let next = if rows.is_empty() {
                lake::commit_offsets_only(delta, table.name(), actions).await?
            } else {
                let converting = Instant::now();
                let refs: Vec<&Event> = rows.iter().collect();
                let batch =
                    to_record_batch(table, &refs).map_err(|e| LakeError::Invalid { table: table.name().into(), reason: e.to_string() })?;
                let writing = Instant::now();
                let next = lake::append(delta, table.name(), batch, actions).await?;
                tracing::debug!(
                    table = table.name(),
                    convert_ms = (writing - converting).as_millis() as u64,
                    write_ms = writing.elapsed().as_millis() as u64,
                    "appended"
                );
                next
            };
            let version = next.version();
            self.deltas.insert(table, next);
            crate::metrics::global().commit(true, started.elapsed().as_secs_f64());
            tracing::info!(table = table.name(), rows = written, version, ms = started.elapsed().as_millis() as u64, "committed to lake");
            let (commit, _) = commits.remove(0);
            landed.push(Landed { table, txns: commit.txns, written, dropped });
        }
        Ok(())
    }

    /// After a failed commit: another writer may have moved a table on (a
    /// retention deletion removes files this commit's snapshot still
    /// lists, which Delta reports as a conflict), so the retry starts from
    /// each table's latest version. The flight's rows are kept.
    pub async fn reload_tables(&mut self) {
        for (table, delta) in self.deltas.iter_mut() {
            if let Err(e) = lake::refresh(delta, table.name()).await {
                tracing::warn!(table = table.name(), error = %e, "cannot reload the table; retrying from the old snapshot");
            }
        }
    }

    /// Right before a commit, as kafka-delta-ingest does: the table's
    /// latest `txn` for each partition must still be below what this commit
    /// records. If another writer moved it on (a second normaliser, or this
    /// one's earlier attempt that landed although it reported a failure),
    /// committing would write events twice: stop instead, and a restart
    /// resumes from what the lake records.
    async fn recheck_txns(&mut self, table: Table, txns: &[(Partition, i64)]) -> Result<(), NormaliserError> {
        let delta = self.deltas.get_mut(&table).expect("every table loaded");
        lake::refresh(delta, table.name()).await?;
        for (part, ours) in txns {
            let theirs = lake::txn_version(delta, table.name(), &app_id(&self.cluster_id, part)).await?;
            if let Some(theirs) = theirs.filter(|t| t >= ours) {
                return Err(NormaliserError::Conflict {
                    table: table.name().into(),
                    partition: format!("{}/{}", part.0, part.1),
                    theirs,
                    ours: *ours,
                });
            }
        }
        Ok(())
    }

    /// Drops the rows whose event id the table already holds (a partner's
    /// re-sent rows that reached Kafka twice, or a replay), so the lake
    /// keeps one row per event id. Runs after [`Self::recheck_txns`]
    /// refreshed the table, so a commit of another writer is seen.
    async fn drop_rows_in_lake(&mut self, table: Table, rows: &mut Vec<Event>) -> Result<usize, NormaliserError> {
        if rows.is_empty() {
            return Ok(0);
        }
        let started = Instant::now();
        let ids: Vec<_> = rows.iter().map(|e| e.envelope.event_id).collect();
        let (present, stats) = self.lookup.present(&self.deltas[&table], table.name(), &ids).await?;
        let before = rows.len();
        rows.retain(|e| !present.contains(&e.envelope.event_id));
        let dropped = before - rows.len();
        crate::metrics::global().found_in_lake(dropped as u64);
        tracing::debug!(
            table = table.name(),
            ids = ids.len(),
            dropped,
            ?stats,
            ms = started.elapsed().as_millis() as u64,
            "checked the batch against the lake"
        );
        Ok(dropped)
    }
}
