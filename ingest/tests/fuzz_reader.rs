//! Fuzzes the extract reader through `ExtractJob::run` with proptest: (a)
//! arbitrary bytes as a file, (b) valid extracts mutated (bit flips,
//! inserted quotes, commas, newlines, NUL and 0xff, deletions, truncation),
//! also gzipped. Whatever the bytes:
//!
//! * `run` returns, without panicking;
//! * a refused file publishes nothing; otherwise the sink holds exactly
//!   `rows_published` events and the receipt, `rows_read = rows_published +
//!   rows_rejected + rows_duplicate` (the identity `ExtractJob` keeps for
//!   every file it accepts), `rows_read` is the number of records a CSV
//!   parser finds, and the quarantine holds exactly the rejected records;
//! * every published event comes from a record that was not rejected (per
//!   record id, published ≤ records in the file - records quarantined);
//! * every issue's line is within the file's line count;
//! * the status agrees with the counts and the partial-file rule, and an
//!   accepted file lists one issue per rejected row.
//!
//! `PROPTEST_CASES` sets the number of cases per test (default 256, a few
//! seconds); `FUZZ_REPORT=1` prints how many cases ran.

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use vru_ingest::extract::{ExtractJob, ExtractRules};
use vru_ingest::limits::Limits;
use vru_ingest::sink::VecSink;
use vru_model::classification::Catalogue;
use vru_model::event::Kind;
use vru_model::receipt::{MAX_ISSUES_LISTED, Status};

const DEFAULT_CASES: u32 = 256;

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_CASES);
    Config { cases, failure_persistence: None, ..Config::default() }
}

/// File bytes, shown as escaped text when a case fails.
#[derive(Clone)]
struct Bytes(Vec<u8>);

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "b\"{}\"", self.0.escape_ascii())
    }
}

#[derive(Debug, Clone, Copy)]
enum Extract {
    Offences,
    Asb,
    Attendances,
}

impl Extract {
    fn partner_and_file(self) -> (&'static str, &'static str) {
        match self {
            Extract::Offences => ("police-fuzz", "offences_2025-01-31.csv"),
            Extract::Asb => ("police-fuzz", "asb_2025-01-31.csv"),
            Extract::Attendances => ("ae-fuzz", "attendances_2025-01-31.csv"),
        }
    }

    fn header(self) -> &'static str {
        match self {
            Extract::Offences => {
                "record_id,record_version,crime_ref,offence_code,committed_at,recorded_date,offence_lsoa,role,person_id,age,sex,home_lsoa,knife_flag,firearm_flag,domestic_flag,outcome,outcome_date"
            }
            Extract::Asb => "record_id,record_version,incident_at,lsoa,category",
            Extract::Attendances => {
                "record_id,record_version,site_code,arrival_at,assault_at,assault_method,location_type,location_description,patient_id,age,sex,home_lsoa"
            }
        }
    }

    /// A valid row, varied by `s`.
    fn row(self, i: usize, s: u32) -> String {
        let pick = |options: &[&'static str], k: u32| options[(k as usize) % options.len()];
        let (m, d, h, l) = (1 + s % 12, 1 + s % 28, s % 24, s % 10_000);
        let pseudo = format!("{:064x}", u128::from(s) * 0x9e37_79b9_7f4a_7c15 + i as u128);
        match self {
            Extract::Offences => {
                let outcome = if s.is_multiple_of(3) { format!("charged,2024-12-{d:02}") } else { ",".into() };
                let role = pick(&["victim", "suspect", "charged"], s / 3);
                // No one under the age of criminal responsibility is charged.
                let age = if role == "charged" { 10 + s % 111 } else { s % 121 };
                format!(
                    "R-{i},{},{pseudo},{},2024-{m:02}-{d:02} {h:02}:15,2024-{m:02}-28,E0101{l:04},{},{pseudo},{},{},E0102{l:04},{},N,,{outcome}",
                    1 + s % 3,
                    pick(&["5D", "8N", "34B", "105A"], s / 7),
                    role,
                    age,
                    pick(&["M", "F", "U", ""], s / 5),
                    pick(&["Y", "N", ""], s / 11),
                )
            }
            Extract::Asb => {
                format!("R-{i},1,2024-{m:02}-{d:02} {h:02}:00,E0103{l:04},{}", pick(&["personal", "nuisance", "environmental"], s))
            }
            Extract::Attendances => format!(
                "R-{i},1,RW{},2024-{m:02}-{d:02} 23:10,2024-{m:02}-{d:02} 22:40,{},home,{},{pseudo},{},F,E0104{l:04}",
                s % 9,
                pick(&["knife_sharp_object", "body_part", ""], s / 3),
                pick(&["", "outside the shop", "\"by the \"\"Lion\"\", rear\"", "\"two\nlines\""], s / 13),
                s % 121,
            ),
        }
    }
}

/// A quarantined record is its file record, except that a refused value in a
/// free-text column is masked (`[postcode]`, `s…g (8 characters)`).
fn same_but_masked(file: &csv::ByteRecord, quarantined: &csv::ByteRecord) -> bool {
    let masked = |c: &[u8]| {
        let t = String::from_utf8_lossy(c);
        (t.starts_with('[') && t.ends_with(']')) || (t.contains('…') && t.ends_with("characters)"))
    };
    file.len() == quarantined.len() && file.iter().zip(quarantined.iter()).all(|(f, q)| f == q || masked(q))
}

fn extract() -> impl Strategy<Value = Extract> {
    prop_oneof![Just(Extract::Offences), Just(Extract::Asb), Just(Extract::Attendances)]
}

/// Bytes that matter to a CSV reader, and some that do not.
fn csv_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        4 => prop::sample::select(vec![b',', b'"', b'\n', b'\r', 0u8, 0xff, 0xef, 0xbb, 0xbf, b';', b'\t', b' ']),
        6 => b'0'..=b'9',
        3 => b'A'..=b'Z',
        3 => prop::sample::select(b"-:/E".to_vec()),
    ]
}

/// Sometimes tight limits and other partial-file thresholds, to reach the
/// line limit and both sides of the rule.
fn rules() -> impl Strategy<Value = ExtractRules> {
    (prop::sample::select(vec![4usize << 20, 4 << 20, 400, 64]), prop::sample::select(vec![0.1, 0.1, 0.0, 0.5, 1.0])).prop_map(
        |(max_line_bytes, fraction)| ExtractRules {
            max_rejected_fraction: fraction,
            limits: Limits { max_line_bytes, ..Limits::default() },
            ..ExtractRules::default()
        },
    )
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(Index, u8),
    Insert(Index, u8),
    Delete(Index, usize),
    Truncate(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let inserted = prop::sample::select(vec![b'"', b',', b'\n', b'\r', 0xff, 0u8, b' ']);
    prop_oneof![
        1 => (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        3 => (any::<Index>(), inserted).prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => (any::<Index>(), 1usize..40).prop_map(|(i, n)| Mutation::Delete(i, n)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(bytes: &mut Vec<u8>, m: &Mutation) {
    if bytes.is_empty() {
        if let Mutation::Insert(_, b) = m {
            bytes.push(*b);
        }
        return;
    }
    match m {
        Mutation::Flip(i, bit) => {
            let at = i.index(bytes.len());
            bytes[at] ^= 1 << bit;
        }
        Mutation::Insert(i, b) => bytes.insert(i.index(bytes.len() + 1), *b),
        Mutation::Delete(i, n) => {
            let at = i.index(bytes.len());
            bytes.drain(at..(at + n).min(bytes.len()));
        }
        Mutation::Truncate(i) => bytes.truncate(i.index(bytes.len() + 1)),
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// The text the reader saw: inflated when the file is gzip, as far as it inflates.
fn content(bytes: &[u8]) -> Vec<u8> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        let _ = flate2::read::MultiGzDecoder::new(bytes).take(64 << 20).read_to_end(&mut out);
        out
    } else {
        bytes.to_vec()
    }
}

/// Lines as an editor counts them: `\r\n`, `\r` and `\n` each end one.
fn physical_lines(bytes: &[u8]) -> u64 {
    let mut n = 1;
    for (i, b) in bytes.iter().enumerate() {
        n += u64::from(*b == b'\n' || (*b == b'\r' && bytes.get(i + 1) != Some(&b'\n')));
    }
    n
}

/// Records as the csv crate reads them (header first), and how many record
/// ids of full-width rows each id has.
fn records(text: &[u8]) -> Vec<csv::ByteRecord> {
    csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text).byte_records().map_while(Result::ok).collect()
}

fn ids(header: &csv::ByteRecord, rows: &[csv::ByteRecord]) -> HashMap<String, u64> {
    let norm = |f: &[u8]| String::from_utf8_lossy(f).trim().trim_start_matches('\u{feff}').to_ascii_lowercase().replace(' ', "_");
    let mut out = HashMap::new();
    let Some(col) = header.iter().position(|f| norm(f) == "record_id") else { return out };
    for r in rows.iter().filter(|r| r.len() == header.len()) {
        if let Ok(id) = std::str::from_utf8(&r[col]) {
            *out.entry(id.trim().to_string()).or_default() += 1;
        }
    }
    out
}

fn check(dir: &Path, extract: Extract, bytes: &[u8], rules: &ExtractRules) -> Result<(), TestCaseError> {
    check_with(dir, extract, bytes, rules, false)
}

fn check_with(dir: &Path, extract: Extract, bytes: &[u8], rules: &ExtractRules, strict: bool) -> Result<(), TestCaseError> {
    let (partner, file) = extract.partner_and_file();
    let path = dir.join(file);
    let q = dir.join("quarantine.csv");
    std::fs::write(&path, bytes).unwrap();
    let _ = std::fs::remove_file(&q);
    let cat = Catalogue::builtin();
    let now = chrono::DateTime::parse_from_rfc3339("2025-06-30T12:00:00Z").unwrap().to_utc();
    let job = ExtractJob::new(&path, partner, &cat, rules, now).quarantine(&q);
    let mut sink = VecSink::default();
    let r = job.run(&mut sink).map_err(|e| TestCaseError::fail(format!("run failed: {e}")))?;
    let data: Vec<_> = sink.events.iter().filter(|e| e.envelope.kind != Kind::ExtractReceipt).collect();
    let lines = r.issue_lines();

    let text = content(bytes);
    let max_line = physical_lines(&text).max(physical_lines(bytes));
    for i in &r.issues {
        prop_assert!(i.line <= max_line, "issue on line {} of {max_line}: {lines:?}", i.line);
    }
    prop_assert!(r.issues.len() <= MAX_ISSUES_LISTED && r.issues_total >= r.issues.len() as u64);

    if r.status == Status::Rejected {
        prop_assert!(sink.events.is_empty() && r.rows_published == 0, "a refused file published: {lines:?}");
        prop_assert!(!r.issues.is_empty(), "refused without an issue");
        return Ok(());
    }
    prop_assert_eq!(data.len() as u64, r.rows_published);
    prop_assert_eq!(sink.events.len() as u64, r.rows_published + 1, "the receipt event is sent once");
    prop_assert_eq!(r.rows_read, r.rows_published + r.rows_rejected + r.rows_duplicate);
    // One issue per rejected row, plus the note on a header-only file.
    prop_assert_eq!(r.issues_total, r.rows_rejected + u64::from(r.rows_read == 0), "{:?}", lines);
    match r.status {
        Status::Accepted => prop_assert_eq!(r.rows_rejected, 0),
        Status::AcceptedWithRejections => {
            prop_assert!(r.rows_rejected > 0);
            prop_assert!(r.rows_rejected as f64 / r.rows_read as f64 <= rules.max_rejected_fraction, "{r:?}");
        }
        other => prop_assert!(false, "status {other:?}"),
    }

    // Compare with an independent read of the same text.
    let all = records(&text);
    let (header, rows) = all.split_first().expect("an accepted file has a header");
    prop_assert_eq!(r.rows_read, rows.len() as u64, "rows_read is the number of records");
    let quarantined: Vec<csv::ByteRecord> = match csv::ReaderBuilder::new().flexible(true).from_path(&q) {
        Ok(mut rd) => rd.byte_records().map(|x| x.unwrap()).collect(),
        Err(_) => Vec::new(),
    };
    let neutral = |r: &csv::ByteRecord| {
        csv::ByteRecord::from(r.iter().map(|c| vru_ingest::quarantine::neutralise(c).into_owned()).collect::<Vec<_>>())
    };
    // Rows of another width than the header were once glued together in the
    // quarantine (fixed); `strict` checks every file exactly, the default
    // run only files whose rows all have the header's width.
    if strict || rows.iter().all(|r| r.len() == header.len()) {
        prop_assert_eq!(quarantined.len() as u64, r.rows_rejected, "quarantine holds the rejected records");
        // The quarantine is safe to open in a spreadsheet: formula-like
        // cells carry a leading `'`, nothing else changes.
        let rows_safe: Vec<csv::ByteRecord> = rows.iter().map(neutral).collect();
        for bad in &quarantined {
            prop_assert!(rows_safe.iter().any(|r| same_but_masked(r, bad)), "quarantined a record that is not in the file: {bad:?}");
            for cell in bad.iter() {
                prop_assert!(!cell.first().is_some_and(|b| b"=+-@\t\r".contains(b)), "a formula-like cell in the quarantine: {bad:?}");
            }
        }
    }
    // Only quarantined records that are records of the file count as rejected
    // (the defect above can glue two short rows into a full-width one).
    let faithful: Vec<csv::ByteRecord> =
        rows.iter().filter(|r| quarantined.iter().any(|q| same_but_masked(&neutral(r), q))).cloned().collect();
    let in_file = ids(header, rows);
    let in_quarantine = ids(header, &faithful);
    let mut published: HashMap<&str, u64> = HashMap::new();
    for e in &data {
        *published.entry(e.envelope.record_id.as_str()).or_default() += 1;
    }
    for (id, n) in published {
        let good = in_file.get(id).copied().unwrap_or(0).saturating_sub(in_quarantine.get(id).copied().unwrap_or(0));
        prop_assert!(n <= good, "{id} published {n} times, but only {good} unrejected records carry it");
    }
    Ok(())
}

fn run<S: Strategy>(strategy: S, test: impl Fn(&Path, S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let dir = tempfile::tempdir().unwrap();
    let calls = AtomicU64::new(0);
    let started = std::time::Instant::now();
    let mut runner = TestRunner::new(config());
    let result = runner.run(&strategy, |v| {
        calls.fetch_add(1, Ordering::Relaxed);
        test(dir.path(), v)
    });
    if std::env::var_os("FUZZ_REPORT").is_some() {
        let name = std::thread::current().name().unwrap_or("?").to_string();
        eprintln!("{name}: {} runs (cases and shrinking) in {:.1?}", calls.load(Ordering::Relaxed), started.elapsed());
    }
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn arbitrary_bytes() {
    let header_then_noise = (extract(), prop::collection::vec(csv_byte(), 0..2048))
        .prop_map(|(x, noise)| (x, Bytes([x.header().as_bytes(), b"\n", &noise].concat())));
    let files = prop_oneof![
        1 => (extract(), prop::collection::vec(any::<u8>(), 0..4096).prop_map(Bytes)),
        1 => (extract(), prop::collection::vec(csv_byte(), 0..4096).prop_map(Bytes)),
        2 => header_then_noise,
    ];
    run((files, rules()), |dir, ((x, bytes), rules)| check(dir, x, &bytes.0, &rules));
}

/// A valid extract (LF or CRLF, with or without BOM), the mutations to apply,
/// and whether (and how) to gzip it afterwards.
#[allow(clippy::type_complexity)]
fn mutated() -> impl Strategy<Value = ((Extract, Bytes), Vec<Mutation>, Option<Vec<Mutation>>, ExtractRules)> {
    let valid = (extract(), prop::collection::vec(any::<u32>(), 0..40), any::<bool>(), any::<bool>()).prop_map(|(x, seeds, crlf, bom)| {
        let eol = if crlf { "\r\n" } else { "\n" };
        let mut text = String::from(if bom { "\u{feff}" } else { "" });
        text += x.header();
        for (i, s) in seeds.iter().enumerate() {
            text += eol;
            text += &x.row(i, *s);
        }
        text += eol;
        (x, Bytes(text.into_bytes()))
    });
    let mutations = prop::collection::vec(mutation(), 0..8);
    let compressed = prop::option::weighted(0.2, prop::collection::vec(mutation(), 0..2));
    (valid, mutations, compressed, rules())
}

fn apply(mut bytes: Vec<u8>, muts: &[Mutation], gz: Option<Vec<Mutation>>) -> Vec<u8> {
    for m in muts {
        mutate(&mut bytes, m);
    }
    if let Some(gz_muts) = gz {
        bytes = gzip(&bytes);
        for m in &gz_muts {
            mutate(&mut bytes, m);
        }
    }
    bytes
}

#[test]
fn mutated_extracts() {
    run(mutated(), |dir, ((x, Bytes(bytes)), muts, gz, rules)| check(dir, x, &apply(bytes, &muts, gz), &rules));
}

#[test]
fn quarantine_holds_every_rejected_record() {
    run(mutated(), |dir, ((x, Bytes(bytes)), muts, gz, rules)| check_with(dir, x, &apply(bytes, &muts, gz), &rules, true));
}

#[test]
fn unmutated_extracts_are_accepted_whole() {
    // The generator itself: without mutations every row is valid.
    let valid = (extract(), prop::collection::vec(any::<u32>(), 1..30));
    run(valid, |dir, (x, seeds)| {
        let text: String = std::iter::once(x.header().to_string())
            .chain(seeds.iter().enumerate().map(|(i, s)| x.row(i, *s)))
            .collect::<Vec<_>>()
            .join("\n");
        check(dir, x, text.as_bytes(), &ExtractRules::default())?;
        let (partner, file) = x.partner_and_file();
        let cat = Catalogue::builtin();
        let now = chrono::DateTime::parse_from_rfc3339("2025-06-30T12:00:00Z").unwrap().to_utc();
        let path = dir.join(file);
        let rules = ExtractRules::default();
        let job = ExtractJob::new(&path, partner, &cat, &rules, now);
        let r = job.run(&mut VecSink::default()).unwrap();
        prop_assert_eq!(r.status, Status::Accepted, "{:?}", r.issue_lines());
        prop_assert_eq!(r.rows_published, seeds.len() as u64);
        Ok(())
    });
}
