//! A retention run: plan, then (with `apply`) stage 1 and stage 2 and the
//! management information, resumable after a kill at any point.
//!
//! Order, each step checked against the lake before it acts:
//! 1. journal written (counts only): from here on the run is resumed, not
//!    re-planned, if it is interrupted;
//! 2. markers appended to `retention_markers` (once per run);
//! 3. each touched event table marked (`vru-retention:marked`): from this
//!    commit every view, measure, report and the SQL service hides the
//!    erased events;
//! 4. per table: Delta DELETE of the marked rows (`vru-retention:deleted`),
//!    then a check that none is left;
//! 5. VACUUM of replaced files older than the grace period (by default the
//!    run waits for it, so one run leaves nothing on disk);
//! 6. landing-folder files past their date, raw files holding erased
//!    records, applied withdrawal files (receipt written, file deleted);
//! 7. `retention_runs` rows (once per run); journal marked done.

use super::journal::{self, Journal, RunLock};
use super::plan::{self, Planned, Withdrawal};
use super::{RetentionError, files, markers, physical};
use crate::lake::{self, Lake};
use crate::limits::Limits;
use chrono::{DateTime, NaiveDate, Utc};
use deltalake::kernel::Transaction;
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;
use vru_model::retention::schema::{MARKERS, RUNS, RunHeader, RunRow, runs_batch, runs_schema};
use vru_model::retention::{Policy, over_share};
use vru_model::tables::Table;

#[derive(Debug, Clone)]
pub struct Options {
    pub as_of: NaiveDate,
    /// Act; otherwise a dry run that changes nothing.
    pub apply: bool,
    /// Allow more than `max_share` of a table, or an `as_of` in the future.
    pub confirm: bool,
    pub max_share: f64,
    /// Replaced files younger than this are kept for readers still on an
    /// older snapshot.
    pub vacuum_grace: Duration,
    /// Wait out the grace period so this run vacuums what it replaced.
    pub wait_for_vacuum: bool,
    pub landing: Option<PathBuf>,
    pub limits: Limits,
    pub now: DateTime<Utc>,
    /// Stop a new run right after this step, as a kill there would (for
    /// the fault tests); a resumed run is never stopped.
    pub halt_at: Option<Step>,
}

/// The steps of a run after which it can be stopped (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The journal is written; nothing else.
    Journal,
    /// The markers are appended; no table is marked.
    Markers,
    /// Stage 1 done: every touched table marked.
    Marked,
    /// Stage 2's DELETEs done; nothing vacuumed.
    Deleted,
}

fn halt(at: Option<Step>, step: Step) -> Result<(), RetentionError> {
    if at == Some(step) {
        return Err(RetentionError::Halted(format!("{step:?}")));
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Nothing changed: what apply would do.
    DryRun,
    Applied,
    /// Over the share limit without --confirm: nothing erased; the run is
    /// recorded with its deficit.
    Refused,
}

/// What a run did (or would do): counts, never ids.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    pub status: Status,
    pub header: RunHeader,
    pub rows: Vec<RunRow>,
    pub over_share: Vec<vru_model::retention::decide::OverShare>,
    pub withdrawals: Vec<super::withdrawals::WithdrawalReceipt>,
    pub refused_withdrawals: Vec<super::withdrawals::WithdrawalReceipt>,
    pub files: files::Swept,
    pub physical: BTreeMap<String, physical::Physical>,
    pub vacuumed_files: BTreeMap<String, usize>,
    /// Events an unfinished run had already hidden, per table.
    pub pending: BTreeMap<String, usize>,
    /// A run interrupted earlier and completed by this one.
    pub resumed: Option<i64>,
    pub legacy_tables: Vec<String>,
    /// Deletion markers removed: their runs are physically applied and
    /// Kafka can no longer replay their events.
    pub markers_pruned: u64,
    /// Delta log files removed after a checkpoint (DELETE commits name
    /// the events they erased).
    pub log_files_removed: usize,
}

/// The next run's sequence number, above every trace of earlier runs.
async fn next_seq(lake: &Lake) -> Result<i64, RetentionError> {
    let runs = match lake.open(RUNS).await? {
        Some(t) => lake::txn_version(&t, RUNS, markers::APP_RUN).await?.unwrap_or(0),
        None => 0,
    };
    Ok(journal::max_seq(lake).await?.max(markers::max_seq(lake).await?).max(runs) + 1)
}

/// Writes the run's `retention_runs` rows, once.
async fn write_runs(lake: &Lake, h: &RunHeader, rows: &[RunRow], finished: DateTime<Utc>) -> Result<(), RetentionError> {
    let table = lake.open_or_create(RUNS, runs_schema()).await?;
    if lake::txn_version(&table, RUNS, markers::APP_RUN).await?.is_some_and(|v| v >= h.seq) || rows.is_empty() {
        return Ok(());
    }
    let batch = runs_batch(h, finished, rows).map_err(|e| RetentionError::Record(e.to_string()))?;
    lake::append(&table, RUNS, batch, vec![Transaction::new(markers::APP_RUN, h.seq)]).await?;
    Ok(())
}

fn header(seq: i64, policy: &Policy, as_of: NaiveDate, now: DateTime<Utc>, outcome: &str) -> RunHeader {
    RunHeader {
        seq,
        id: format!("{}-{seq}", now.format("%Y%m%dT%H%M%SZ")),
        started_at: now,
        as_of,
        policy: policy.name.clone(),
        policy_version: policy.version.clone(),
        policy_sha256: policy.sha256.clone(),
        outcome: outcome.to_string(),
    }
}

fn outcome(
    status: Status,
    header: RunHeader,
    planned: &Planned,
    rows: Vec<RunRow>,
    over: Vec<vru_model::retention::decide::OverShare>,
) -> Outcome {
    Outcome {
        status,
        header,
        rows,
        over_share: over,
        withdrawals: planned.withdrawals.iter().map(|w| w.receipt.clone()).collect(),
        refused_withdrawals: planned.refused.iter().map(|w| w.receipt.clone()).collect(),
        files: files::Swept::default(),
        physical: BTreeMap::new(),
        vacuumed_files: BTreeMap::new(),
        pending: planned.pending.clone(),
        resumed: None,
        legacy_tables: Vec::new(),
        markers_pruned: 0,
        log_files_removed: 0,
    }
}

/// Plans and, with `opts.apply`, applies a run. A dry run takes no lock
/// and changes nothing, not even a refused withdrawal file.
pub async fn run(lake: &Lake, policy: &Policy, opts: &Options) -> Result<Outcome, RetentionError> {
    let lock = if opts.apply { Some(RunLock::take(lake).await?) } else { None };
    let outcome = run_locked(lake, policy, opts).await;
    if let Some(lock) = lock {
        lock.release().await;
    }
    outcome
}

async fn run_locked(lake: &Lake, policy: &Policy, opts: &Options) -> Result<Outcome, RetentionError> {
    let today = opts.now.date_naive();
    if opts.apply && opts.as_of > today && !opts.confirm {
        return Err(RetentionError::Refused(format!(
            "--as-of {} is after today ({today}): that deletes records before they are due; add --confirm if that is really meant",
            opts.as_of
        )));
    }
    let mut resumed = None;
    let mut unfinished = journal::unfinished(lake).await?;
    let committed = markers::max_seq(lake).await?;
    if let Some(j) = unfinished.take_if(|j| opts.apply && committed < j.header.seq) {
        // Killed before its markers were committed: it changed nothing in
        // the lake (the journal holds counts, not the events), so it is
        // planned afresh.
        tracing::warn!(run = %j.header.id, "an interrupted retention run had not committed its markers; planning it again");
        journal::discard(lake, j.header.seq).await?;
    }
    if let Some(j) = unfinished {
        if !opts.apply {
            tracing::warn!(run = %j.header.id, "an interrupted retention run will be completed by the next `vru retention apply --apply`");
        } else {
            tracing::warn!(run = %j.header.id, "completing an interrupted retention run first");
            let seq = j.header.seq;
            let same_day = j.header.as_of == opts.as_of;
            let mut done = finish(lake, policy, j, opts, None).await?;
            done.resumed = Some(seq);
            if same_day {
                // The interrupted run was today's: resuming it is the run.
                return Ok(done);
            }
            resumed = Some(seq);
        }
    }
    let planned = plan::plan(lake, policy, opts.as_of, opts.landing.as_deref(), &opts.limits).await?;
    let seq = next_seq(lake).await?;
    let over = over_share(&planned.tallies, opts.max_share);
    if !opts.apply {
        let mut o = outcome(Status::DryRun, header(seq, policy, opts.as_of, opts.now, "dry_run"), &planned, planned.rows(false), over);
        if let Some(root) = &opts.landing {
            let erased = files::Erased { extracts: planned.extracts.clone(), records: planned.records.clone() };
            o.files = files::sweep(root, &policy.files, opts.now.into(), &erased, &opts.limits, true)?;
        }
        return Ok(o);
    }
    if let Some(root) = &opts.landing {
        for w in &planned.refused {
            withdrawals_refuse(root, w)?;
        }
    }
    if !over.is_empty() && !opts.confirm {
        let h = header(seq, policy, opts.as_of, opts.now, "refused");
        let rows = planned.rows(true);
        write_runs(lake, &h, &rows, Utc::now()).await?;
        let mut o = outcome(Status::Refused, h, &planned, rows, over);
        o.resumed = resumed;
        return Ok(o);
    }
    let h = header(seq, policy, opts.as_of, opts.now, "applied");
    let mut legacy = Vec::new();
    for t in Table::ALL {
        if let Some(table) = lake.open(t.name()).await?
            && physical::is_legacy(&table, t.name())
        {
            legacy.push(t.name().to_string());
        }
    }
    let run_id = h.id.clone();
    let j = Journal {
        header: h,
        rows: planned.rows(false),
        tables: planned.tables(),
        extracts: planned.extracts.iter().cloned().collect::<std::collections::BTreeSet<_>>().into_iter().collect(),
        records: planned.records.iter().cloned().collect::<std::collections::BTreeSet<_>>().into_iter().collect(),
        withdrawals: planned
            .withdrawals
            .iter()
            .map(|w| {
                let mut r = w.receipt.clone();
                r.status = "erased".into();
                r.run = run_id.clone();
                r
            })
            .collect(),
        legacy,
        done: false,
    };
    journal::write(lake, &j).await?;
    halt(opts.halt_at, Step::Journal)?;
    markers::append(lake, seq, &planned.markers, opts.now).await?;
    halt(opts.halt_at, Step::Markers)?;
    let mut o = finish(lake, policy, j, opts, opts.halt_at).await?;
    o.pending = planned.pending.clone();
    o.refused_withdrawals = planned.refused.iter().map(|w| w.receipt.clone()).collect();
    o.over_share = over;
    o.resumed = resumed;
    Ok(o)
}

fn withdrawals_refuse(root: &std::path::Path, w: &Withdrawal) -> Result<(), RetentionError> {
    super::withdrawals::refuse(root, &w.found, &w.receipt)
}

/// Stages 1 and 2 and the management information for a journaled run.
async fn finish(lake: &Lake, policy: &Policy, mut j: Journal, opts: &Options, halt_at: Option<Step>) -> Result<Outcome, RetentionError> {
    let seq = j.header.seq;
    // Stage 1: from each table's marking commit, its erased events are
    // hidden everywhere.
    for t in &j.tables {
        markers::mark(lake, t, seq).await?;
    }
    tracing::info!(run = %j.header.id, tables = j.tables.len(), "stage 1 done: erased events are no longer searchable");
    halt(halt_at, Step::Marked)?;
    // Stage 2.
    for t in j.legacy.clone() {
        physical::migrate_legacy(lake, &t).await?;
    }
    let mut phys = BTreeMap::new();
    let mut verified: HashSet<String> = HashSet::new();
    for t in &j.tables {
        let Some(table) = lake.open(t).await? else { continue };
        let (_, deleted) = markers::seqs(&table, t).await?;
        let ids = markers::ids(lake, t, deleted.min(seq), Some(seq)).await?;
        let p = physical::delete_marked(lake, t, &ids, seq).await?;
        // What this run (and any unfinished one before it) erased must be
        // gone from every file the table now references.
        let left = physical::remaining(lake, t, &ids).await?;
        if left > 0 {
            return Err(RetentionError::NotErased { table: t.clone(), left });
        }
        verified.insert(t.clone());
        tracing::info!(table = %t, rows = p.rows_deleted, files = p.files_rewritten, conflicts = p.conflicts_retried, "stage 2: rows deleted");
        phys.insert(t.clone(), p);
    }
    halt(halt_at, Step::Deleted)?;
    // Markers of runs every table has physically applied, once Kafka can
    // no longer replay their events; before the grace wait, so this run
    // also vacuums the files they were in.
    if let Some(m) = lake.open(MARKERS).await?
        && physical::is_legacy(&m, MARKERS)
    {
        physical::migrate_legacy(lake, MARKERS).await?;
    }
    let keep = chrono::Duration::days(i64::try_from(policy.kafka_max_days()).unwrap_or(i64::MAX / 86_400_000_000));
    let markers_pruned = markers::prune(lake, opts.now, keep).await?;
    // A checkpoint after this run's DELETE commits, so that their log
    // files can go once no reader needs them (below).
    let mut names: Vec<&str> = Vec::new();
    for n in Table::ALL.iter().map(|t| t.name()).chain([MARKERS]) {
        if lake.exists(n).await {
            names.push(n);
        }
    }
    let mut checkpoints = Vec::new();
    for name in &names {
        if let Some(v) = physical::checkpoint(lake, name, seq).await? {
            checkpoints.push((*name, v));
        }
    }
    let checkpointed_at = Utc::now();
    if opts.wait_for_vacuum && !j.tables.is_empty() && !opts.vacuum_grace.is_zero() {
        tracing::info!(seconds = opts.vacuum_grace.as_secs(), "waiting for readers of the replaced files before vacuuming");
        tokio::time::sleep(opts.vacuum_grace).await;
    }
    let mut vacuumed = BTreeMap::new();
    for name in &names {
        let n = physical::vacuum(lake, name, opts.vacuum_grace).await?;
        if n > 0 {
            vacuumed.insert(name.to_string(), n);
        }
    }
    // The DELETE commits name the events they erased: remove them (with
    // every log file before the checkpoint) once the grace is over.
    let grace = chrono::Duration::from_std(opts.vacuum_grace).unwrap_or(chrono::Duration::hours(1));
    let cutoff = checkpointed_at.min(Utc::now() - grace);
    let mut log_files_removed = 0;
    for (name, v) in checkpoints {
        log_files_removed += physical::remove_old_logs(lake, name, v, cutoff).await?;
    }
    tracing::info!(markers_pruned, log_files_removed, "old deletion markers and log files removed");
    let mut swept = files::Swept::default();
    if let Some(root) = &opts.landing {
        let erased = files::Erased { extracts: j.extracts.iter().cloned().collect(), records: j.records.iter().cloned().collect() };
        swept = files::sweep(root, &policy.files, opts.now.into(), &erased, &opts.limits, false)?;
        for r in &j.withdrawals {
            let path = super::withdrawals::scan_landing(root)
                .into_iter()
                .find(|f| f.partner == r.partner && super::withdrawals::sha256_of(&f.path).as_deref() == Some(r.sha256.as_str()))
                .map(|f| f.path);
            super::withdrawals::complete(root, r, path.as_deref())?;
        }
    }
    for row in &mut j.rows {
        row.verified = row.tally.erased() == 0 || verified.contains(&row.table);
    }
    write_runs(lake, &j.header, &j.rows, Utc::now()).await?;
    j.done = true;
    journal::write(lake, &j).await?;
    tracing::info!(run = %j.header.id, files_removed = swept.total(), "retention run complete");
    Ok(Outcome {
        status: Status::Applied,
        header: j.header.clone(),
        rows: j.rows.clone(),
        over_share: Vec::new(),
        withdrawals: j.withdrawals.clone(),
        refused_withdrawals: Vec::new(),
        files: swept,
        physical: phys,
        vacuumed_files: vacuumed,
        pending: BTreeMap::new(),
        resumed: None,
        legacy_tables: j.legacy.clone(),
        markers_pruned,
        log_files_removed,
    })
}
