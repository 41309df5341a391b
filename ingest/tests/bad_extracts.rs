//! Bad extracts: every problem is reported with file, line, column and
//! reason; nothing from a bad row (or a refused file) is published.

use std::path::{Path, PathBuf};
use vru_ingest::extract::{ExtractJob, ExtractRules};
use vru_ingest::sink::VecSink;
use vru_model::classification::Catalogue;
use vru_model::error::ErrorKind;
use vru_model::extract::ExtractKind;
use vru_model::receipt::{Receipt, Status};

const P: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

fn header() -> String {
    ExtractKind::PoliceOffences.columns().iter().map(|c| c.name).collect::<Vec<_>>().join(",")
}

/// A valid row with `record_id` and optional field overrides by column name.
fn row(id: &str, overrides: &[(&str, &str)]) -> String {
    ExtractKind::PoliceOffences
        .columns()
        .iter()
        .map(|c| {
            if let Some((_, v)) = overrides.iter().find(|(k, _)| *k == c.name) {
                return v.to_string();
            }
            match c.name {
                "record_id" => id.to_string(),
                "record_version" => "1".into(),
                "crime_ref" | "person_id" => P.into(),
                "offence_code" => "5D".into(),
                "committed_at" => "2023-05-01 21:00".into(),
                "recorded_date" => "2023-05-02".into(),
                "offence_lsoa" => "E01000001".into(),
                "role" => "victim".into(),
                "age" => "19".into(),
                "sex" => "M".into(),
                _ => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn ingest(path: &Path, quarantine: Option<&Path>) -> (Receipt, VecSink) {
    let mut sink = VecSink::default();
    let cat = Catalogue::builtin();
    let rules = ExtractRules::default();
    let mut job = ExtractJob::new(path, "police-test", &cat, &rules, chrono::Utc::now());
    job.quarantine = quarantine;
    let r = job.run(&mut sink).unwrap();
    (r, sink)
}

fn col(name: &str) -> usize {
    ExtractKind::PoliceOffences.columns().iter().position(|c| c.name == name).unwrap() + 1
}

#[test]
fn bad_rows_are_named_and_quarantined_good_rows_published() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = format!("{}\n", header()).into_bytes();
    for i in 0..30 {
        bytes.extend(format!("{}\n", row(&format!("ok{i}"), &[])).into_bytes());
    }
    bytes.extend(format!("{}\n", row("bad-date", &[("committed_at", "2023-02-30 10:00")])).into_bytes()); // line 32
    bytes.extend(format!("{}\n", row("bad-age", &[("age", "abc")])).into_bytes()); // line 33
    let mut utf = row("bad-utf8", &[("offence_lsoa", "E0100000X")]).into_bytes(); // line 34
    let pos = utf.windows(9).position(|w| w == b"E0100000X").unwrap();
    utf[pos + 8] = 0xff;
    bytes.extend(utf);
    bytes.push(b'\n');
    let path = write(dir.path(), "offences_2024-01-31.csv", &bytes);
    let q = dir.path().join("quarantine.csv");
    let (r, sink) = ingest(&path, Some(&q));

    assert_eq!(r.status, Status::AcceptedWithRejections);
    assert_eq!(r.fault, Some(ErrorKind::PartnerData), "bad rows are the partner's to fix");
    assert_eq!((r.rows_read, r.rows_published, r.rows_rejected), (33, 30, 3));
    let lines = r.issue_lines();
    let expect = [
        format!("offences_2024-01-31.csv:32:{}: (committed_at) `2023-02-30 10:00` is not a date and time", col("committed_at")),
        format!("offences_2024-01-31.csv:33:{}: (age) `abc` is not a whole number", col("age")),
        format!("offences_2024-01-31.csv:34:{}: (offence_lsoa) not valid UTF-8", col("offence_lsoa")),
    ];
    for e in &expect {
        assert!(lines.iter().any(|l| l.starts_with(e.as_str())), "no issue starting {e:?} in {lines:#?}");
    }
    // 30 rows and the receipt; nothing from the bad rows.
    assert_eq!(sink.events.len(), 31);
    assert!(sink.events.iter().all(|e| !e.envelope.record_id.starts_with("bad")));
    let quarantined = std::fs::read(&q).unwrap();
    assert_eq!(quarantined.iter().filter(|b| **b == b'\n').count(), 4, "header and three bad rows");
}

#[test]
fn missing_column_rejects_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let h = header().replace("offence_code,", "");
    let body = row("r1", &[]).replacen(",5D", "", 1);
    let path = write(dir.path(), "offences_2024.csv", format!("{h}\n{body}\n").as_bytes());
    let (r, sink) = ingest(&path, None);
    assert_eq!(r.status, Status::Rejected);
    assert_eq!(r.fault, Some(ErrorKind::PartnerData));
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["fault"], "partner_data", "the receipt file says whose fault it is");
    assert!(
        r.issue_lines().iter().any(|l| l == "offences_2024.csv:1:0: (offence_code) required column is missing"),
        "{:#?}",
        r.issue_lines()
    );
    assert!(sink.events.is_empty());
}

#[test]
fn too_many_bad_rows_rejects_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = format!("{}\n", header());
    for i in 0..5 {
        text.push_str(&format!("{}\n", row(&format!("r{i}"), &[("recorded_date", "02/30/2023")])));
    }
    text.push_str(&format!("{}\n", row("good", &[])));
    let path = write(dir.path(), "offences_x.csv", text.as_bytes());
    let (r, sink) = ingest(&path, None);
    assert_eq!(r.status, Status::Rejected);
    assert!(r.issues[0].reason.contains("5 of 6 rows"), "{:?}", r.issues[0]);
    assert!(sink.events.is_empty(), "nothing is published from a refused file, not even its good rows");
}

#[test]
fn raw_identifiers_refuse_the_whole_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = format!("{}\n", header());
    for i in 0..50 {
        text.push_str(&format!("{}\n", row(&format!("r{i}"), &[])));
    }
    // One NHS number left in the person column, on the last line.
    text.push_str(&format!("{}\n", row("raw", &[("person_id", "943 476 5919")])));
    let path = write(dir.path(), "offences_raw.csv", text.as_bytes());
    let (r, sink) = ingest(&path, None);
    assert_eq!(r.status, Status::Rejected);
    assert!(sink.events.is_empty());
    let lines = r.issue_lines().join("\n");
    assert!(
        lines.contains(&format!("offences_raw.csv:52:{}: (person_id) holds [NHS number] (an NHS number)", col("person_id"))),
        "{lines}"
    );
    assert!(!lines.contains("943 476 5919"), "the identifier is never repeated: {lines}");
    assert!(lines.contains("vru pseudonymise"), "{lines}");
}

#[test]
fn wrong_file_name_and_empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "crimes.csv", header().as_bytes());
    let (r, _) = ingest(&path, None);
    assert_eq!(r.status, Status::Rejected);
    assert!(r.issues[0].reason.contains("offences_*.csv"), "{:?}", r.issues);
    let path = write(dir.path(), "offences_empty.csv", b"");
    let (r, sink) = ingest(&path, None);
    assert_eq!(r.status, Status::Rejected);
    assert!(r.issue_lines()[0].contains("offences_empty.csv:1:0: the file is empty"), "{:?}", r.issue_lines());
    assert!(sink.events.is_empty());
}
