//! Retention end to end on the small city (four financial years from April
//! 2020), under the default policy with two years instead of six, applied
//! as of 2024-06-01, with one hold on a record that is due.
//!
//! - `apply_erases_every_due_record_and_nothing_else`: the records kept
//!   are exactly the ones the policy keeps (computed here independently of
//!   the planner, from each record's latest version and each person's last
//!   event), and after apply + vacuum no record id or pseudonym of an
//!   erased record is left in any byte of the lake (every Parquet cell of
//!   every file under it, referenced or not, and every other file) or of
//!   the landing folder (`processed/`, quarantine files, receipts), nor in
//!   any answer of `vru serve` to psql; the deletion markers alone name
//!   erased events (by hash) until Kafka can no longer replay them, and a
//!   run after that leaves none anywhere, Delta logs included.
//! - `apply_killed_at_any_moment_ends_in_the_same_state`: `vru retention
//!   apply` SIGKILLed at moments over three runs, each completed; then `vru
//!   report --from-manifest` for a report made before fails, naming the run.
//! - `a_run_halted_at_any_step_resumes_to_the_same_state`: a run stopped
//!   after each step (journal, markers, marking, DELETE), then rerun, ends
//!   with the same records as an uninterrupted run; after the marking step
//!   the erased records are already invisible to every view while still in
//!   the files (stage 1 before stage 2).

mod common;
// Only `Served` and `add_user` are used here.
#[allow(dead_code)]
#[path = "server/harness.rs"]
mod harness;

use chrono::NaiveDate;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;
use vru_ingest::lake::Lake;
use vru_ingest::retention::apply::{self, Options, Status, Step};
use vru_model::retention::{Basis, Policy};
use vru_model::tables::Table;

const AS_OF: &str = "2024-06-01";

fn as_of() -> NaiveDate {
    AS_OF.parse().unwrap()
}

/// One record: its latest version's subject and date.
#[derive(Debug, Clone)]
struct Rec {
    subject: Option<String>,
    date: NaiveDate,
    /// Event ids of every version: hashes of the record id, so as linkable
    /// as the id itself to anyone who holds it.
    events: Vec<String>,
}

type Records = BTreeMap<Table, BTreeMap<(String, String), Rec>>;

/// Every record of every table, from the lake's full history.
async fn records(lake_dir: &Path) -> Records {
    records_in(&common::session(lake_dir, vec![]).await).await
}

async fn records_in(s: &vru_queries::Session) -> Records {
    let mut out = Records::new();
    for t in Table::ALL {
        let subject = if vru_model::retention::policy::has_person(*t) { "subject" } else { "CAST(NULL AS VARCHAR)" };
        let sql = format!(
            "SELECT partner, record_id, first_value({subject} ORDER BY record_version DESC, ingested_at DESC, event_id DESC), \
             CAST(first_value(CAST(occurred_at AS DATE) ORDER BY record_version DESC, ingested_at DESC, event_id DESC) AS VARCHAR), \
             string_agg(event_id, ' ') \
             FROM {}_log GROUP BY partner, record_id",
            t.name()
        );
        let batches = s.ctx.sql(&sql).await.expect(&sql).collect().await.expect(&sql);
        let m = out.entry(*t).or_default();
        for b in batches {
            let [partners, ids, subjects, dates, events] = [0, 1, 2, 3, 4].map(|i| common::string_values(b.column(i).as_ref()));
            for ((((p, id), subject), date), events) in partners.into_iter().zip(ids).zip(subjects).zip(dates).zip(events) {
                let date = date.as_deref().expect("occurred_at").parse().expect("a date");
                let events = events.unwrap_or_default().split(' ').map(str::to_string).collect();
                m.insert((p.unwrap(), id.unwrap()), Rec { subject: subject.filter(|s| !s.is_empty()), date, events });
            }
        }
    }
    out
}

/// The records the policy keeps on `AS_OF`, worked out from the policy's
/// rules directly: due on (basis + period), the basis being the record's
/// own date or, for a person-based table, the person's last event in the
/// extending tables if later; a hold keeps a due record.
fn expected_kept(policy: &Policy, all: &Records, as_of: NaiveDate) -> Records {
    let mut last: HashMap<(Table, String), NaiveDate> = HashMap::new();
    for (t, recs) in all {
        for r in recs.values() {
            if let Some(s) = &r.subject {
                let e = last.entry((*t, s.clone())).or_insert(r.date);
                *e = (*e).max(r.date);
            }
        }
    }
    let mut out = Records::new();
    for (t, recs) in all {
        for ((partner, id), r) in recs {
            let rule = policy.rule(*t, partner);
            let mut basis = r.date;
            if rule.from == Basis::PersonLastEvent
                && let Some(s) = &r.subject
            {
                for x in &rule.extended_by {
                    if let Some(d) = last.get(&(*x, s.clone())) {
                        basis = basis.max(*d);
                    }
                }
            }
            let keep = match rule.keep.after(basis) {
                None => true,
                Some(due) => due > as_of || policy.holds_for(partner, id, r.subject.as_deref()).any(|h| h.until >= as_of),
            };
            if keep {
                out.entry(*t).or_default().insert((partner.clone(), id.clone()), r.clone());
            }
        }
    }
    out
}

struct City {
    _dir: tempfile::TempDir,
    lake_dir: PathBuf,
    landing: PathBuf,
    policy: Policy,
    /// The policy as a file would hold it (for the `vru` process tests).
    policy_text: String,
}

/// The small city ingested, and the test policy with a hold on one due
/// `police_asb` record.
async fn city(seed: u64) -> City {
    let dir = tempfile::tempdir().unwrap();
    let summary = common::generate(dir.path(), &common::small_city(seed));
    let lake_dir = dir.path().join("lake");
    let lake = Lake::new(&lake_dir);
    common::load_reference(&lake, &summary).await;
    let landing = common::landing_dir(&summary);
    common::run_landing(&lake, &landing).await;
    let all = records(&lake_dir).await;
    let base =
        include_str!("../model/retention/default.toml").replace("6 years", "2 years").replacen("name = \"default\"", "name = \"test\"", 1);
    let loose = Policy::from_toml(&base, "test.toml").unwrap();
    let ((partner, id), _) = all[&Table::PoliceAsb]
        .iter()
        .find(|(_, r)| loose.rule(Table::PoliceAsb, "").keep.after(r.date).is_some_and(|d| d <= as_of()))
        .expect("a due anti-social behaviour record");
    let text =
        format!("{base}\n[[hold]]\npartner = \"{partner}\"\nrecord_id = \"{id}\"\nuntil = 2030-01-01\nreason = \"Case review (test)\"\n");
    let policy = Policy::from_toml(&text, "test.toml").unwrap();
    City { _dir: dir, lake_dir, landing, policy, policy_text: text }
}

fn options(c: &City, halt_at: Option<Step>) -> Options {
    Options {
        as_of: as_of(),
        apply: true,
        confirm: true,
        max_share: 0.05,
        vacuum_grace: Duration::ZERO,
        wait_for_vacuum: false,
        landing: Some(c.landing.clone()),
        limits: Default::default(),
        now: chrono::Utc::now(),
        halt_at,
    }
}

/// The words of a file: every Parquet cell, or the file's text (un-gzipped)
/// split on anything that cannot be part of an id or a pseudonym.
fn words(path: &Path) -> HashSet<String> {
    let bytes = std::fs::read(path).unwrap();
    let mut out = HashSet::new();
    if bytes.starts_with(b"PAR1") {
        use vru_queries::datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap()).unwrap().build().unwrap();
        for b in reader {
            let b = b.unwrap();
            for c in b.columns() {
                for v in common::string_values(c.as_ref()).into_iter().flatten() {
                    out.extend(split(&v));
                    out.insert(v);
                }
            }
        }
        return out;
    }
    let text = if bytes.starts_with(&[0x1f, 0x8b]) {
        let o = std::process::Command::new("gzip").arg("-dc").arg(path).output().unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    } else {
        String::from_utf8_lossy(&bytes).into_owned()
    };
    out.extend(split(&text));
    out
}

fn split(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_')).filter(|w| !w.is_empty()).map(str::to_string).collect()
}

/// Record ids, pseudonyms and event ids of erased records that no kept
/// record has.
fn gone(all: &Records, kept: &Records) -> HashSet<String> {
    let mut keep_words = HashSet::new();
    for recs in kept.values() {
        for ((_, id), r) in recs {
            keep_words.insert(id.clone());
            keep_words.extend(r.subject.clone());
            keep_words.extend(r.events.iter().cloned());
        }
    }
    let mut out = HashSet::new();
    for (t, recs) in all {
        for (k, r) in recs {
            if kept.get(t).is_some_and(|m| m.contains_key(k)) {
                continue;
            }
            out.insert(k.1.clone());
            out.extend(r.subject.clone());
            out.extend(r.events.iter().cloned());
        }
    }
    out.retain(|w| !keep_words.contains(w));
    out
}

fn keys(r: &Records) -> BTreeMap<Table, Vec<(String, String)>> {
    r.iter().map(|(t, m)| (*t, m.keys().cloned().collect())).filter(|(_, v): &(Table, Vec<_>)| !v.is_empty()).collect()
}

/// Asserts two sets of records are equal, saying per table how many are
/// missing and extra (never a list of thousands).
#[track_caller]
fn same(found: &BTreeMap<Table, Vec<(String, String)>>, want: &BTreeMap<Table, Vec<(String, String)>>, what: &str) {
    let mut diffs = Vec::new();
    for t in Table::ALL {
        let (f, w): (HashSet<_>, HashSet<_>) = (found.get(t).into_iter().flatten().collect(), want.get(t).into_iter().flatten().collect());
        if f != w {
            diffs.push(format!(
                "{}: {} found, {} expected, {} missing, {} extra",
                t.name(),
                f.len(),
                w.len(),
                w.difference(&f).count(),
                f.difference(&w).count()
            ));
        }
    }
    assert!(diffs.is_empty(), "{what}: {}", diffs.join("; "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_erases_every_due_record_and_nothing_else() {
    let c = city(12).await;
    let lake = Lake::new(&c.lake_dir);
    let before = records(&c.lake_dir).await;
    let mut kept = expected_kept(&c.policy, &before, as_of());
    // A partner withdraws three of its records the policy would keep, and
    // lists a fourth id that is another partner's: only its own go.
    let asb = &kept[&Table::PoliceAsb];
    // The latest records: not due, and not the held one.
    let partner = asb.keys().next_back().unwrap().0.clone();
    let own: Vec<String> = asb.keys().rev().filter(|(p, _)| *p == partner).take(3).map(|(_, id)| id.clone()).collect();
    let foreign = kept
        .values()
        .flat_map(|m| m.keys())
        .find(|(p, id)| *p != partner && !before.values().any(|m| m.contains_key(&(partner.clone(), id.clone()))))
        .expect("another partner's record")
        .clone();
    let file = c.landing.join(&partner).join("withdrawals_2024-05-30.csv");
    std::fs::write(&file, format!("record_id\n{}\n{}\n", own.join("\n"), foreign.1)).unwrap();
    for id in &own {
        kept.get_mut(&Table::PoliceAsb).unwrap().remove(&(partner.clone(), id.clone()));
    }
    let erased: usize = before.values().map(|m| m.len()).sum::<usize>() - kept.values().map(|m| m.len()).sum::<usize>();
    assert!(erased > 1_000, "the test erases a good share of the city ({erased})");
    let must_go = gone(&before, &kept);
    assert!(must_go.len() > 500, "{} ids and pseudonyms to look for", must_go.len());

    // A dry run changes nothing and its output holds no id.
    let mut dry = options(&c, None);
    dry.apply = false;
    let plan = apply::run(&lake, &c.policy, &dry).await.unwrap();
    assert_eq!(plan.status, Status::DryRun);
    let shown = serde_json::to_string(&plan).unwrap();
    assert!(split(&shown).iter().all(|w| !must_go.contains(w)), "the plan shows an id");
    same(&keys(&records(&c.lake_dir).await), &keys(&before), "a dry run");
    let held: u64 = plan.rows.iter().map(|r| r.tally.held).sum();
    assert_eq!(held, 1, "the one hold");

    // The SQL service's next generation brings the tables it read forward
    // through the run's commits (rewritten files, removes) instead of
    // reading them again: it must read what a fresh session reads.
    let earlier = common::session(&c.lake_dir, vec![]).await;
    let report_made = chrono::Utc::now();
    let o = apply::run(&lake, &c.policy, &options(&c, None)).await.unwrap();
    assert_eq!(o.status, Status::Applied);
    // A report made before the run cannot be reproduced, and is told which
    // run erased its data (`vru report --from-manifest`); one made after can.
    let erasures = vru_ingest::retention::history::erased_since(&lake, &["police_asb".to_string()], report_made).await.unwrap();
    assert_eq!(erasures.len(), 1, "{erasures:?}");
    assert_eq!(erasures[0].run_id, o.header.id);
    assert!(vru_ingest::retention::history::erased_since(&lake, &["police_asb".to_string()], chrono::Utc::now()).await.unwrap().is_empty());
    let deleted: u64 = o.rows.iter().map(|r| r.tally.deleted_on_time + r.tally.deleted_late + r.tally.withdrawn).sum();
    assert_eq!(deleted as usize, erased, "records deleted = records the policy makes due, less the held one, and the withdrawn");
    assert_eq!(o.withdrawals.len(), 1);
    let w = &o.withdrawals[0];
    assert_eq!((w.record_ids_listed, w.records_found, w.not_found), (4, 3, 1), "{w:?}");
    assert!(!file.exists(), "an applied withdrawal file is deleted (it lists ids)");
    let receipt = c.landing.join(&partner).join("processed/withdrawals_2024-05-30.csv.receipt.json");
    assert!(receipt.exists(), "the partner gets a receipt");
    assert!(o.rows.iter().all(|r| r.verified));

    // Exactly the records the policy keeps, in the lake and in SQL.
    let after = records(&c.lake_dir).await;
    same(&keys(&after), &keys(&kept), "after apply");
    let forward = vru_queries::SessionOptions { opened: std::sync::Arc::new(earlier.opened), ..common::session_options(&lake, vec![]) };
    let forward = vru_queries::build_session(&forward).await.unwrap();
    assert_eq!(forward.table_versions, common::session(&c.lake_dir, vec![]).await.table_versions, "at the latest commits");
    assert!(earlier.table_versions.iter().any(|(t, v)| forward.table_versions[t] > *v), "the run committed to tables read before it");
    same(&keys(&records_in(&forward).await), &keys(&kept), "a session brought forward from one read before the run");
    if let Some(answers) = served(&c) {
        same(&answers, &keys(&kept), "the SQL service's answers (psql, analyst)");
    }

    // No byte of the lake or the landing folder holds an erased id. The
    // deletion markers still name erased events (hashes of their record
    // ids) while Kafka may replay them; no Delta log does (the DELETE
    // commits that named them are removed after a checkpoint).
    let events: HashSet<String> = before.values().flat_map(|m| m.values()).flat_map(|r| r.events.iter().cloned()).collect();
    let in_markers = erased_ids_left(&c, &must_go, &events);
    assert!(in_markers > 0, "the markers name the erased events until Kafka can no longer replay them");
    eprintln!("erased event ids in deletion markers after the run: {in_markers}");
    // The management information is in the lake, without ids.
    let s = common::session(&c.lake_dir, vec![]).await;
    let runs = common::count(&s, "SELECT count(*) FROM retention_runs").await;
    assert!(runs > 0);
    let r1 = s
        .ctx
        .sql("SELECT sum(deleted_on_time + deleted_late + withdrawn) FROM measure_r1 WHERE table_name = 'all'")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let r1 = common::string_values(r1[0].column(0).as_ref());
    assert_eq!(r1[0].as_deref(), Some(erased.to_string().as_str()), "R1 counts the deletions and withdrawals");

    // A second run the same day erases nothing more.
    let again = apply::run(&lake, &c.policy, &options(&c, None)).await.unwrap();
    assert_eq!(again.rows.iter().map(|r| r.tally.deleted_on_time + r.tally.deleted_late).sum::<u64>(), 0);
    same(&keys(&records(&c.lake_dir).await), &keys(&kept), "after a second run");
    assert_eq!(again.markers_pruned, 0, "markers stay while Kafka may still hold the events");

    // Once no message can outlive the policy's kafka_max, the next run
    // removes the markers, and no byte anywhere names an erased event.
    let mut later = options(&c, None);
    later.now += chrono::Duration::days(c.policy.kafka_max_days() as i64 + 1);
    let last = apply::run(&lake, &c.policy, &later).await.unwrap();
    assert!(last.markers_pruned as usize >= erased, "{} markers pruned for {erased} records", last.markers_pruned);
    assert!(last.log_files_removed > 0);
    assert_eq!(erased_ids_left(&c, &must_go, &events), 0);
    same(&keys(&records(&c.lake_dir).await), &keys(&kept), "after the markers are pruned");
    assert!(vru_ingest::retention::markers::count_by_run(&lake).await.unwrap().is_empty(), "no marker left");
}

/// Every record the SQL service answers with, per table: `vru serve` over
/// the city's lake as a separate process ([`harness::Served`]), asked by
/// psql as an analyst (who may read every table). `None` when psql is not
/// installed and `VRU_REQUIRE_INTEROP` is not set.
fn served(c: &City) -> Option<BTreeMap<Table, Vec<(String, String)>>> {
    if !std::process::Command::new("psql").arg("--version").output().is_ok_and(|o| o.status.success()) {
        assert!(std::env::var_os("VRU_REQUIRE_INTEROP").is_none(), "psql is required: scripts/test installs it");
        eprintln!("SKIPPED: the SQL service check needs psql");
        return None;
    }
    let data = c.lake_dir.parent().unwrap();
    harness::add_user(data, "ana", "analyst", None);
    let s = harness::Served::start(data, &[], &[]);
    let mut out = BTreeMap::new();
    for t in Table::ALL {
        // CSV, header first.
        let rows = s.rows("ana", &format!("SELECT partner, record_id FROM {}", t.name()));
        let rows: Vec<(String, String)> = rows.into_iter().skip(1).map(|r| (r[0].clone(), r[1].clone())).collect();
        if !rows.is_empty() {
            out.insert(*t, rows);
        }
    }
    Some(out)
}

/// Erased event ids left in the deletion markers' data files; panics if
/// any erased id, pseudonym or event id is anywhere else (a data file, a
/// Delta log or checkpoint, the landing folder).
fn erased_ids_left(c: &City, must_go: &HashSet<String>, events: &HashSet<String>) -> usize {
    // The walk skips a missing directory; the one it replaced failed on
    // one, so a check over nothing cannot pass here.
    assert!(c.lake_dir.is_dir() && c.landing.is_dir(), "lake and landing folder to search");
    let mut all = common::all_files_under(&c.lake_dir);
    all.extend(common::all_files_under(&c.landing));
    let mut leaks = Vec::new();
    let mut in_markers = 0;
    for f in &all {
        let w = words(f);
        let marker_data =
            f.components().any(|c| c.as_os_str() == "retention_markers") && !f.components().any(|c| c.as_os_str() == "_delta_log");
        for hit in must_go.iter().filter(|g| w.contains(*g)) {
            if events.contains(hit) && marker_data {
                in_markers += 1;
            } else {
                leaks.push(format!("{} holds an erased id ({} chars)", f.display(), hit.len()));
                break;
            }
        }
    }
    assert!(leaks.is_empty(), "{}", leaks.join("\n"));
    in_markers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_halted_at_any_step_resumes_to_the_same_state() {
    let c = city(13).await;
    let lake = Lake::new(&c.lake_dir);
    let original = records(&c.lake_dir).await;
    // Four runs, a quarter apart so each has records to erase, each
    // stopped after a different step and then rerun.
    let days = ["2024-06-01", "2024-09-01", "2024-12-01", "2025-03-01"];
    let steps = [Step::Marked, Step::Journal, Step::Markers, Step::Deleted];
    for (day, step) in days.iter().zip(steps) {
        let day: NaiveDate = day.parse().unwrap();
        let kept = keys(&expected_kept(&c.policy, &original, day));
        let mut halted = options(&c, Some(step));
        halted.as_of = day;
        let e = apply::run(&lake, &c.policy, &halted).await.unwrap_err();
        assert!(e.to_string().contains("halted"), "{e}");
        if matches!(step, Step::Marked | Step::Deleted) {
            // Stage 1 is done: every erased record is hidden at once.
            same(&keys(&records(&c.lake_dir).await), &kept, &format!("{day}, halted after {step:?}"));
        }
        if step == Step::Marked {
            // ... while still in the files (stage 2 has not run).
            let s = common::session(&c.lake_dir, vec![]).await;
            let table = lake.open(Table::PoliceAsb.name()).await.unwrap().unwrap();
            s.ctx.register_table("raw_asb", table.table_provider().await.unwrap()).unwrap();
            let raw = common::count(&s, "SELECT count(DISTINCT record_id) FROM raw_asb").await;
            let seen = common::count(&s, "SELECT count(DISTINCT record_id) FROM police_asb_log").await;
            assert!(raw > seen, "stage 2 has not run yet: {raw} records in the files, {seen} visible");
        }
        let mut rerun = options(&c, None);
        rerun.as_of = day;
        let o = apply::run(&lake, &c.policy, &rerun).await.unwrap();
        assert_eq!(o.status, Status::Applied);
        // Halted before its markers were committed, a run changed nothing
        // and is planned afresh; otherwise the rerun completes it.
        assert_eq!(o.resumed.is_some(), step != Step::Journal, "after a halt at {step:?}");
        same(&keys(&records(&c.lake_dir).await), &kept, &format!("{day}, rerun after a halt at {step:?}"));
        assert!(vru_ingest::retention::journal::unfinished(&lake).await.unwrap().is_none());
        for t in Table::ALL {
            if let Some(table) = lake.open(t.name()).await.unwrap() {
                let (marked, deleted) = vru_ingest::retention::markers::seqs(&table, t.name()).await.unwrap();
                assert!(deleted >= marked, "{}: marked {marked}, deleted {deleted}", t.name());
            }
        }
    }
}

/// Rows in every event table's full history, all versions.
async fn total_rows(lake_dir: &Path) -> i64 {
    common::event_counts(lake_dir).await.iter().map(|(_, n)| n).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_normaliser_writing_during_apply_loses_nothing() {
    let c = city(14).await;
    let lake = Lake::new(&c.lake_dir);
    let before = total_rows(&c.lake_dir).await;
    // More extracts from the same partners (a later city), ingested while
    // the run deletes: its commits and the deletion's commits must all land.
    let later = tempfile::tempdir().unwrap();
    let summary = common::generate(later.path(), &common::small_city(15));
    let landing2 = common::landing_dir(&summary);
    // Under other partners' names: the generator numbers records from 1 in
    // every city, so the same partners would be re-sending changed records
    // (refused whole) and whether anything is written would depend on the
    // deletion's timing.
    for entry in std::fs::read_dir(&landing2).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        std::fs::rename(&path, landing2.join(format!("{name}-later"))).unwrap();
    }
    let mut opts = options(&c, None);
    // Files the normaliser is still writing are younger than this: VACUUM
    // must never take them (in production the grace is 15 minutes).
    opts.vacuum_grace = Duration::from_secs(120);
    let (run, report) = tokio::join!(apply::run(&lake, &c.policy, &opts), common::run_landing(&lake, &landing2));
    let run = run.unwrap();
    assert_eq!(run.status, Status::Applied);
    let erased: u64 = run.rows.iter().map(|r| r.tally.events_erased).sum();
    let written = report.normaliser.as_ref().unwrap().events_written;
    let refused: Vec<String> =
        report.receipts.iter().filter(|r| r.rows_published == 0).map(|r| format!("{} {:?}", r.file, r.status)).collect();
    assert!(erased > 0 && written > 0, "erased {erased}, written {written}; files with nothing published: {refused:#?}");
    let after = total_rows(&c.lake_dir).await;
    assert_eq!(after, before - erased as i64 + written as i64, "before {before}, erased {erased}, written {written}");
    let retried: u64 = run.physical.values().map(|p| p.conflicts_retried).sum();
    eprintln!(
        "conflicts retried by the DELETEs: {retried}; failed normaliser commits: {}",
        report.normaliser.as_ref().unwrap().failed_commits
    );
}

/// `vru retention apply` processes SIGKILLed at moments spread over runs
/// (start-up, planning, marker commits, DELETEs, the landing sweep), each
/// followed by a run to the end: exactly the records the policy keeps,
/// nothing erased left in any data file, nothing left half done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_killed_at_any_moment_ends_in_the_same_state() {
    use std::process::{Command, Stdio};
    let c = city(21).await;
    let data = c.lake_dir.parent().unwrap().to_path_buf();
    let original = records(&c.lake_dir).await;
    let policy_file = data.join("test-policy.toml");
    std::fs::write(&policy_file, &c.policy_text).unwrap();
    let vru = |day: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_vru"));
        cmd.arg("--data-dir").arg(&data).arg("--retention").arg(&policy_file);
        cmd.args(["retention", "apply", "--apply", "--confirm", "--as-of", day, "--no-wait", "--json"]);
        cmd.env("VRU_LANDING_DIR", &c.landing).env("VRU_RETENTION__VACUUM_GRACE_SECS", "0").env("VRU_LOG", "warn");
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd
    };
    let lake = Lake::new(&c.lake_dir);
    // A report published before the runs, to reproduce afterwards.
    let report = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_vru"))
            .arg("--data-dir")
            .arg(&data)
            .arg("report")
            .args(args)
            .env("VRU_LOG", "warn")
            .output()
            .unwrap()
    };
    let before = data.join("published");
    let out = report(&["--audience", "analyst", "--year", "2023/24", "--out", before.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut kills = 0;
    // Each day erases more; the kills of a day land at different moments.
    let days = [("2024-06-01", [250u64, 600, 1_100]), ("2024-09-01", [400, 900, 1_600]), ("2024-12-01", [150, 750, 2_000])];
    for (day, delays) in days {
        for delay in delays {
            let mut child = vru(day).spawn().expect("vru starts");
            std::thread::sleep(Duration::from_millis(delay));
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap(); // SIGKILL
                kills += 1;
            }
            child.wait().unwrap();
        }
        let out = vru(day).output().unwrap();
        assert!(out.status.success(), "{day}: the run after the kills fails:\n{}", String::from_utf8_lossy(&out.stderr));
        let kept = expected_kept(&c.policy, &original, day.parse().unwrap());
        same(&keys(&records(&c.lake_dir).await), &keys(&kept), &format!("{day}, after {kills} SIGKILLs so far and a run to the end"));
        assert!(vru_ingest::retention::journal::unfinished(&lake).await.unwrap().is_none(), "{day}: a run left half done");
        // No erased record id, pseudonym or event id in any data file of
        // the lake (the deletion markers name event ids until Kafka can no
        // longer replay them, see the first test).
        let must_go = gone(&original, &kept);
        assert!(c.lake_dir.is_dir(), "a lake to search");
        let all = common::all_files_under(&c.lake_dir);
        for f in all
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "parquet") && !f.components().any(|p| p.as_os_str() == "retention_markers"))
        {
            let w = words(f);
            assert!(!must_go.iter().any(|g| w.contains(g)), "{day}: {} holds an erased id", f.display());
        }
    }
    assert!(kills >= 3, "only {kills} runs were still running when killed");
    eprintln!("{kills} runs killed");
    // Reproducing the earlier report fails, naming the run that erased its
    // data, and writes nothing.
    let again = data.join("reproduced");
    let manifest = before.join("manifest.json");
    let out = report(&["--from-manifest", manifest.to_str().unwrap(), "--out", again.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a report whose data was erased was reproduced");
    assert!(err.contains("cannot be reproduced: retention run ") && err.contains("has since erased data it read"), "{err}");
    assert!(!again.exists() || std::fs::read_dir(&again).unwrap().next().is_none(), "nothing written");
}
