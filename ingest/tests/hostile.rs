//! The hostile corpus (`tests/hostile/`, see its README): every file goes
//! through `ExtractJob` as the landing folder sends it and must end as the
//! table says: status, counts, an issue line `file:line:column:` with the
//! reason, nothing from a bad row published. Large files (1 MB field, 5 MB
//! line, gzip bomb, 100 000 columns) are generated in a temporary folder.
//! The defects it found (CRLF/CR/blank-line line numbers, a spaced header
//! hiding NHS numbers, glued quarantine rows) are fixed and stay as cases.

use std::io::Write;
use std::path::{Path, PathBuf};
use vru_ingest::extract::{ExtractJob, ExtractRules, NothingKnown};
use vru_ingest::landing::Landing;
use vru_ingest::sink::VecSink;
use vru_model::Event;
use vru_model::classification::Catalogue;
use vru_model::event::{Attributes, Kind, Sex};
use vru_model::receipt::{MAX_ISSUES_LISTED, Receipt, Status};

mod corpus;

use corpus::{ACC, AWR, Case, Expect, NONE, PSEUDO, RAW, REJ};

/// Every case of the corpus, old and new.
fn all_cases() -> impl Iterator<Item = &'static Case> {
    corpus::CASES.iter().chain(corpus::identifiers::CASES)
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/hostile")
}

/// The partner folder by extract kind: police, A&E, youth justice, ACE,
/// survey, commitments, public data (named by month), education.
fn partner_of(file: &str) -> &'static str {
    match file.split(['_', '-']).next().unwrap() {
        "offences" | "asb" | "crimes" => "police-northshire",
        "attendances" => "ae-northshire",
        "outcomes" => "yjs-northshire",
        "screenings" => "ace-northshire",
        "responses" => "survey-northshire",
        "commitments" => "commitments-northshire",
        "2024" => "police_uk-public",
        _ => "education-northshire",
    }
}

fn path(file: &str) -> PathBuf {
    corpus().join(partner_of(file)).join(file)
}

struct Ingested {
    receipt: Receipt,
    /// Everything sent, the receipt event included.
    sent: Vec<Event>,
    quarantined: Vec<csv::ByteRecord>,
}

impl Ingested {
    fn data(&self) -> impl Iterator<Item = &Event> {
        self.sent.iter().filter(|e| e.envelope.kind != Kind::ExtractReceipt)
    }
    fn event(&self, record_id: &str) -> &Event {
        let mut found = self.data().filter(|e| e.envelope.record_id == record_id);
        let e = found.next().unwrap_or_else(|| panic!("{record_id} was not published"));
        assert!(found.next().is_none(), "{record_id} published twice");
        e
    }
}

fn ingest_as(path: &Path, partner: &str, rules: &ExtractRules) -> Ingested {
    let dir = tempfile::tempdir().unwrap();
    let q = dir.path().join("quarantine.csv");
    let cat = Catalogue::builtin();
    let now = chrono::DateTime::parse_from_rfc3339("2025-06-30T12:00:00Z").unwrap().to_utc();
    let job = ExtractJob::new(path, partner, &cat, rules, now).quarantine(&q);
    let mut sink = VecSink::default();
    let receipt = job.run(&mut sink).expect("a VecSink never fails");
    let quarantined = match csv::ReaderBuilder::new().has_headers(true).flexible(true).from_path(&q) {
        Ok(mut r) => r.byte_records().map(|r| r.unwrap()).collect(),
        Err(_) => Vec::new(),
    };
    Ingested { receipt, sent: sink.events, quarantined }
}

fn ingest_file(file: &str) -> Ingested {
    ingest(&path(file))
}

fn ingest(path: &Path) -> Ingested {
    let partner = path.parent().and_then(|p| p.file_name()).unwrap().to_str().unwrap().to_string();
    ingest_as(path, &partner, &ExtractRules::default())
}

/// Lines as an editor counts them: `\r\n`, `\r` and `\n` each end one.
fn physical_lines(bytes: &[u8]) -> u64 {
    let mut n = 1;
    for (i, b) in bytes.iter().enumerate() {
        n += u64::from(*b == b'\n' || (*b == b'\r' && bytes.get(i + 1) != Some(&b'\n')));
    }
    n
}

/// What must hold for every file, good or bad. With `safety_only` (known
/// defects) only: nothing from a bad row or a refused file was published.
fn invariants(name: &str, bytes: &[u8], got: &Ingested, safety_only: bool) -> Vec<String> {
    let r = &got.receipt;
    let mut errs = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            errs.push(format!("{name}: {what}"));
        }
    };
    for e in got.data() {
        check(!e.envelope.record_id.starts_with("BAD"), format!("bad row {} was published", e.envelope.record_id));
    }
    if r.status == Status::Rejected {
        check(got.sent.is_empty() && r.rows_published == 0, format!("a refused file published {} events", got.sent.len()));
    }
    if safety_only {
        return errs;
    }
    for e in got.data().filter(|e| !e.envelope.record_id.starts_with("R-")) {
        check(false, format!("{:?} is not a good row's id, yet was published", e.envelope.record_id));
    }
    if r.status != Status::Rejected {
        let data = got.data().count() as u64;
        check(data == r.rows_published, format!("{data} events sent but rows_published = {}", r.rows_published));
        check(got.sent.len() as u64 == data + 1, "the receipt event was not sent once".into());
        let sum = r.rows_published + r.rows_rejected + r.rows_duplicate;
        check(r.rows_read == sum, format!("rows_read {} != published + rejected + duplicate {sum}", r.rows_read));
        let quarantined = got.quarantined.len() as u64;
        check(quarantined == r.rows_rejected, format!("{quarantined} quarantined, {} rejected", r.rows_rejected));
    }
    let lines = physical_lines(bytes);
    for (i, l) in r.issues.iter().zip(r.issue_lines()) {
        check(l.starts_with(&format!("{name}:")), format!("issue line does not name the file: {l:?}"));
        check(i.line <= lines, format!("issue on line {} of a {lines}-line file: {l:?}", i.line));
    }
    check(r.issues_total >= r.issues.len() as u64 && r.issues.len() <= MAX_ISSUES_LISTED, "issue totals".into());
    errs
}

/// The case's own expectations.
fn expectations(name: &str, status: Status, counts: Option<(u64, u64, u64, u64)>, issues: &[Expect], got: &Ingested) -> Vec<String> {
    let r = &got.receipt;
    let lines = r.issue_lines();
    let mut errs = Vec::new();
    if r.status != status {
        errs.push(format!("{name}: status {:?}, expected {status:?}; issues {lines:#?}", r.status));
    }
    let actual = (r.rows_read, r.rows_published, r.rows_rejected, r.rows_duplicate);
    if counts.is_some_and(|c| c != actual) {
        errs.push(format!("{name}: (read, published, rejected, duplicate) = {actual:?}, expected {:?}", counts.unwrap()));
    }
    for (line, col, reason) in issues {
        let start = format!("{name}:{line}:{col}:");
        if !lines.iter().any(|l| l.starts_with(&start) && l.contains(reason)) {
            errs.push(format!("{name}: no issue `{start} ...{reason}...` in {lines:#?}"));
        }
    }
    let listed = issues.len() as u64;
    if (issues.is_empty() && r.issues_total != 0) || r.issues_total < listed {
        errs.push(format!("{name}: {} issues, expected {listed}: {lines:#?}", r.issues_total));
    }
    errs
}

/// Runs one corpus file; `strict` adds the accounting invariants and the
/// case's expectations to the safety checks.
fn run_case(case: &Case, strict: bool) -> Vec<String> {
    let path = path(case.file);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let name = path.file_name().unwrap().to_str().unwrap().to_string();
    let got = match std::panic::catch_unwind(|| ingest(&path)) {
        Ok(got) => got,
        Err(_) => return vec![format!("{name}: ExtractJob::run panicked")],
    };
    let mut errs = invariants(&name, &bytes, &got, !strict);
    if strict {
        errs.extend(expectations(&name, case.status, Some(case.counts), case.issues, &got));
    }
    errs
}

#[test]
fn every_corpus_file_ends_as_its_readme_says() {
    let mut errs = Vec::new();
    for case in all_cases() {
        errs.extend(run_case(case, true));
    }
    assert!(errs.is_empty(), "{} failures:\n{}", errs.len(), errs.join("\n"));
}

/// Letters and digits only, lower-cased: how a planted value is looked for,
/// so no spacing or case hides it.
fn squash(s: &str) -> String {
    s.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect()
}

#[test]
fn planted_identifiers_are_never_repeated() {
    // Every receipt, quarantine file and log line the corpus produces.
    let logs = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    let writer = {
        let logs = logs.clone();
        move || LogSink(logs.clone())
    };
    let subscriber = tracing_subscriber::fmt().with_writer(writer).with_max_level(tracing::Level::TRACE).finish();
    let mut outputs = Vec::new();
    tracing::subscriber::with_default(subscriber, || {
        for case in all_cases() {
            let got = ingest(&path(case.file));
            let mut text = serde_json::to_string(&got.receipt).unwrap();
            text.push_str(&got.receipt.issue_lines().join("\n"));
            for r in &got.quarantined {
                text.push_str(&String::from_utf8_lossy(r.as_slice()));
            }
            outputs.push((case.file, text));
        }
    });
    let logs = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    let mut checked = 0;
    for (file, p) in corpus::identifiers::planted() {
        let (_, text) = outputs.iter().find(|(f, _)| *f == file).unwrap_or_else(|| panic!("{file} is not a case"));
        assert!(!squash(text).contains(&squash(&p)), "{file}: `{p}` is repeated in its receipt or quarantine: {text}");
        assert!(!squash(&logs).contains(&squash(&p)), "{file}: `{p}` is repeated in the logs");
        checked += 1;
    }
    assert!(checked >= 40, "{checked}");
}

#[derive(Clone)]
struct LogSink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_case_table_covers_the_corpus() {
    let mut on_disk = Vec::new();
    for partner in std::fs::read_dir(corpus()).unwrap().flatten().filter(|e| e.path().is_dir()) {
        for f in std::fs::read_dir(partner.path()).unwrap().flatten() {
            on_disk.push(format!("{}/{}", partner.file_name().to_string_lossy(), f.file_name().to_string_lossy()));
        }
    }
    on_disk.sort();
    let mut listed: Vec<String> = all_cases().map(|c| format!("{}/{}", partner_of(c.file), c.file)).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
    assert!(listed.len() >= 120);
    let readme = std::fs::read_to_string(corpus().join("README.md")).unwrap();
    for f in &listed {
        let name = f.rsplit('/').next().unwrap();
        assert!(readme.contains(&format!("`{name}`")), "{name} is not in tests/hostile/README.md");
    }
}

fn offence(e: &Event) -> &vru_model::event::Offence {
    let Attributes::Offence(o) = &e.attributes else { panic!("not an offence") };
    o
}

fn description(e: &Event) -> Option<&str> {
    let Attributes::AeAttendance(a) = &e.attributes else { panic!("not an attendance") };
    a.location_description.as_deref()
}

#[test]
fn accepted_files_carry_their_values_through() {
    // BOM: stripped, the first column is still `record_id`.
    let got = ingest_file("offences_bom.csv");
    let ids: Vec<String> = got.data().map(|e| e.envelope.record_id.clone()).collect();
    assert_eq!(ids, (1..=12).map(|i| format!("R-{i:02}")).collect::<Vec<_>>());
    assert_eq!(offence(got.event("R-01")).offence_code, "8N");
    // CRLF: no `\r` left on the last column.
    let got = ingest_file("offences_crlf.csv");
    let o = offence(got.event("R-11"));
    assert_eq!((o.outcome.as_deref(), o.outcome_date.map(|d| d.to_string())), (Some("charged"), Some("2024-12-01".into())));
    assert_eq!(got.event("R-12").envelope.home_lsoa.as_deref(), Some("E01020012"));
    // Quoted fields: commas and doubled quotes inside values.
    let got = ingest_file("offences_quoted_fields.csv");
    assert_eq!(got.event("R-05, part A").envelope.age, Some(17));
    assert_eq!(got.event("R-06 \"the second\"").envelope.sex, Some(Sex::Male));
    // No final newline: the last row is read whole.
    let got = ingest_file("offences_no_final_newline.csv");
    assert_eq!(got.event("R-12").envelope.home_lsoa.as_deref(), Some("E01020012"));
    // A well-formed LSOA code is not checked against the list of areas at ingest.
    let got = ingest_file("offences_unknown_lsoa.csv");
    let e = &got.event("R-04").envelope;
    assert_eq!((e.event_lsoa.as_deref(), e.home_lsoa.as_deref()), (Some("E01999999"), Some("W01001234")));
    // Duplicates: published once; a new version is a new event.
    let got = ingest_file("offences_duplicate_rows.csv");
    assert_eq!(got.data().filter(|e| e.envelope.record_id == "R-05").map(|e| e.envelope.record_version).collect::<Vec<_>>(), [1, 2]);
    got.event("R-02");
    // Same record and version with different values: a conflict, so the
    // file is refused (the case table checks the issue naming both lines).
    let got = ingest_file("offences_conflicting_duplicate.csv");
    assert!(got.sent.is_empty());
    // BOM and a quoted header.
    let got = ingest_file("asb_bom_quoted_header.csv");
    let Attributes::AsbIncident(a) = &got.event("R-08").attributes else { panic!() };
    assert_eq!(a.category, "environmental");
    // Quoted newlines (LF and CRLF) inside free text.
    let got = ingest_file("attendances_quoted_newline.csv");
    assert_eq!(description(got.event("R-03")), Some("outside the bus station,\nnear the taxi rank"));
    assert_eq!(description(got.event("R-06")), Some("by the \"Red Lion\"\r\n(rear entrance)"));
    assert_eq!(got.event("R-07").envelope.age, Some(22));
    let got = ingest_file("attendances_bad_row_after_multiline.csv");
    assert_eq!(description(got.event("R-02")), Some("near the park gates\n\n,,,\nby the swings"));
}

#[test]
fn bad_rows_are_quarantined_byte_for_byte() {
    let got = ingest_file("offences_non_utf8.csv");
    assert_eq!(got.quarantined.len(), 1);
    assert_eq!(&got.quarantined[0][0], b"BAD-caf\xe9");
    let got = ingest_file("offences_unterminated_quote.csv");
    // The unclosed quote swallowed the last row: it is inside the quarantined
    // record (not lost), but it is not counted or listed as a row of its own.
    let swallowed = &got.quarantined[0][0];
    assert!(swallowed.starts_with(b"BAD-QUOTE,1,") && swallowed.windows(5).any(|w| w == b"\nR-12"));
    assert!(got.data().all(|e| e.envelope.record_id != "R-12"));
}

#[test]
fn raw_identifiers_point_to_vru_pseudonymise() {
    let raw = all_cases().filter(|c| c.issues.iter().any(|i| *i == RAW || i.2.contains("raw identifier")));
    let mut n = 0;
    for case in raw {
        let got = ingest(&path(case.file));
        let lines = got.receipt.issue_lines();
        assert!(lines.iter().any(|l| l.contains(PSEUDO)), "{}: {lines:#?}", case.file);
        n += 1;
    }
    assert_eq!(n, 51, "every raw-identifier case in the corpus");
}

#[test]
fn partner_names_with_dot_dot_are_refused() {
    let path = path("offences_bom.csv");
    for partner in ["../police-northshire", "police-northshire/../../etc", "..", "police-../x"] {
        let got = ingest_as(&path, partner, &ExtractRules::default());
        assert_eq!(got.receipt.status, Status::Rejected, "{partner}");
        assert!(got.sent.is_empty());
        let want = format!("offences_bom.csv:0:0: partner name `{partner}` may only hold lower-case letters, digits, `-` and `_`");
        assert!(got.receipt.issue_lines()[0].starts_with(&want), "{:?}", got.receipt.issue_lines());
    }
}

#[test]
fn landing_folder_with_dot_dot_names_stays_inside_the_root() {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("landing");
    let partner = root.join("police-..");
    std::fs::create_dir_all(&partner).unwrap();
    std::fs::copy(path("offences_bom.csv"), partner.join("offences_..2024.csv")).unwrap();
    let mut landing = Landing::open(&root, std::time::Duration::ZERO, Default::default()).unwrap();
    let found = landing.scan().ready;
    assert_eq!(found.len(), 1);
    let mut sink = VecSink::default();
    let done = landing.ingest(&found[0], &mut sink, &Catalogue::builtin(), &ExtractRules::default(), &NothingKnown).unwrap().unwrap();
    let receipt = landing.file_away(done).unwrap();
    assert_eq!(receipt.status, Status::Rejected);
    assert!(receipt.issues[0].reason.contains("partner name `police-..` may only hold"), "{:?}", receipt.issues);
    assert!(sink.events.is_empty());
    assert!(partner.join("rejected/offences_..2024.csv").is_file() && partner.join("rejected/offences_..2024.csv.receipt.json").is_file());
    let outside: Vec<_> = std::fs::read_dir(outer.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(outside, ["landing"], "nothing is written outside the landing root");
}

// ---- generated at test time: too large to commit -------------------------------------

const AE_HEADER: &str = "record_id,record_version,site_code,arrival_at,assault_at,assault_method,location_type,location_description,patient_id,age,sex,home_lsoa";

fn ae_row(id: &str, site: &str, description: &str) -> String {
    format!("{id},1,{site},2024-02-03 23:10,2024-02-03 22:40,body_part,home,{description},{},19,F,E01000001\n", "ab".repeat(32))
}

fn check_generated(name: &str, bytes: Vec<u8>, status: Status, counts: Option<(u64, u64, u64, u64)>, issues: &[Expect]) -> Ingested {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(partner_of(name)).join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, &bytes).unwrap();
    let got = ingest(&path);
    let mut errs = invariants(name, &bytes, &got, false);
    errs.extend(expectations(name, status, counts, issues, &got));
    assert!(errs.is_empty(), "{}", errs.join("\n"));
    got
}

fn offences_header() -> String {
    std::fs::read_to_string(path("offences_header_only.csv")).unwrap()
}

/// `n` valid offence rows (at most 30), one per line.
fn offences_rows(n: usize) -> String {
    let text = std::fs::read_to_string(path("offences_raw_nhs_in_person_id.csv")).unwrap();
    text.lines().skip(1).filter(|l| !l.starts_with("BAD")).take(n).map(|l| format!("{l}\n")).collect()
}

#[test]
fn one_megabyte_fields() {
    let big = "x".repeat(1 << 20);
    let mut text = format!("{AE_HEADER}\n");
    for i in 1..=20 {
        text += &ae_row(&format!("R-{i:02}"), "RW3", "near the park");
        match i {
            3 => text += &ae_row("BAD-DESCRIPTION", "RW3", &big),
            10 => text += &ae_row("BAD-SITE", &big, ""),
            _ => {}
        }
    }
    let issues =
        [(5, 8, "(location_description) free text longer than 1000 characters"), (13, 3, "(site_code) value is 1048576 characters long")];
    check_generated("attendances_1mb_field.csv", text.into_bytes(), AWR, Some((22, 20, 2, 0)), &issues);
}

#[test]
fn five_megabyte_lines_without_newline() {
    let endless = "y".repeat(5 << 20);
    let line_limit = "a line is longer than 4194304 bytes; refused";
    check_generated("offences_5mb_header.csv", endless.clone().into_bytes(), REJ, Some(NONE), &[(1, 0, line_limit)]);
    // After good rows the reader cannot say which line: the issue is file-level.
    let text = format!("{}{}{endless}", offences_header(), offences_rows(3));
    check_generated("offences_5mb_line.csv", text.into_bytes(), REJ, Some((3, 0, 0, 0)), &[(0, 0, line_limit)]);
}

#[test]
fn gzip_bomb_is_refused_and_honest_gzip_accepted() {
    // A valid header and row, then 64 lines of 1 MiB of zeros: each line is
    // under the line limit, the whole inflates about 1000:1.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(format!("{AE_HEADER}\n{}", ae_row("R-01", "RW3", "near the park")).as_bytes()).unwrap();
    let mut zeros = vec![b'0'; 1 << 20];
    *zeros.last_mut().unwrap() = b'\n';
    for _ in 0..64 {
        gz.write_all(&zeros).unwrap();
    }
    let bomb = gz.finish().unwrap();
    let ratio = (64 << 20) / bomb.len();
    assert!(ratio >= 900, "the bomb inflates only {ratio}:1");
    let reason = "decompressed extract is larger than";
    let got = check_generated("attendances_zip_bomb.csv.gz", bomb, REJ, None, &[(0, 0, reason)]);
    assert!(got.receipt.issues[0].reason.contains("possible decompression bomb"));

    let plain = std::fs::read(path("attendances_quoted_newline.csv")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&plain).unwrap();
    let got = check_generated("attendances_2024-03-01.csv.gz", gz.finish().unwrap(), ACC, Some((10, 10, 0, 0)), &[]);
    assert_eq!(description(got.event("R-03")), Some("outside the bus station,\nnear the taxi rank"));
}

#[test]
fn extremely_many_columns() {
    let mut header = offences_header().trim_end().to_string();
    for i in 1..=100_000 {
        header += &format!(",x{i:06}");
    }
    let text = format!("{header}\n{}", offences_rows(2));
    let got = check_generated("offences_many_columns.csv", text.into_bytes(), REJ, Some(NONE), &[(1, 18, "(x000001) unknown column")]);
    assert_eq!((got.receipt.issues_total, got.receipt.issues.len()), (100_000, MAX_ISSUES_LISTED));

    let wide = format!("BAD-WIDE{}\n", ",1".repeat(99_999));
    let rows = offences_rows(20);
    let (first, rest) = rows.split_at(rows.match_indices('\n').nth(9).unwrap().0 + 1);
    let text = format!("{}{first}{wide}{rest}", offences_header());
    check_generated(
        "offences_many_fields_row.csv",
        text.into_bytes(),
        AWR,
        Some((21, 20, 1, 0)),
        &[(12, 0, "row has 100000 fields; the header has 17")],
    );
}

// ---- defects the corpus found (fixed): kept as regression tests -------------------------

#[test]
fn short_rows_stay_rows_of_their_own_in_the_quarantine() {
    let got = ingest_file("offences_two_short_rows.csv");
    let ids: Vec<&[u8]> = got.quarantined.iter().map(|r| &r[0]).collect();
    assert_eq!(ids, [&b"BAD-SHORT-1"[..], b"BAD-SHORT-2"]);
}
