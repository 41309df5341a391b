//! The identifier detector as a property: raw identifiers in the formats
//! people and systems write them, embedded anywhere in any column of a
//! valid extract, always refuse the whole file, publish nothing and are
//! never repeated in the receipt; valid pseudonyms (either case of hex)
//! never trip it. `PROPTEST_CASES` raises the count (CI runs the default).

use proptest::prelude::*;
use vru_ingest::extract::{ExtractJob, ExtractRules};
use vru_ingest::sink::VecSink;
use vru_model::classification::Catalogue;
use vru_model::extract::{Column, ExtractKind, FieldType};
use vru_model::identifiers::{nhs_check, upn};
use vru_model::receipt::Status;

const COLUMNS: &[&str] = &[
    "record_id",
    "record_version",
    "crime_ref",
    "offence_code",
    "committed_at",
    "recorded_date",
    "offence_lsoa",
    "role",
    "person_id",
    "age",
    "sex",
    "home_lsoa",
    "knife_flag",
    "firearm_flag",
    "domestic_flag",
    "outcome",
    "outcome_date",
];

fn hex64(seed: u64, upper: bool) -> String {
    use sha2::{Digest, Sha256};
    let h = hex::encode(Sha256::digest(seed.to_be_bytes()));
    if upper { h.to_uppercase() } else { h }
}

/// A valid offences extract of `n` rows, as fields.
fn extract(n: usize, seed: u64, upper_hex: bool) -> Vec<Vec<String>> {
    (0..n)
        .map(|i| {
            let s = seed.wrapping_mul(1000).wrapping_add(i as u64).wrapping_mul(2);
            vec![
                format!("R-{i:03}"),
                "1".into(),
                hex64(s, upper_hex),
                "8N".into(),
                format!("2024-0{}-1{} 21:15", 1 + i % 9, i % 10),
                format!("2024-0{}-2{}", 1 + i % 9, i % 8),
                format!("E0101{:04}", i),
                "victim".into(),
                hex64(s.wrapping_add(1), upper_hex),
                format!("{}", 10 + i % 60),
                ["M", "F", "U"][i % 3].into(),
                format!("E0102{:04}", i),
                "N".into(),
                "N".into(),
                String::new(),
                String::new(),
                String::new(),
            ]
        })
        .collect()
}

fn write(rows: &[Vec<String>]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("offences_2025-01-31.csv");
    let mut w = csv::Writer::from_path(&path).unwrap();
    w.write_record(COLUMNS).unwrap();
    for r in rows {
        w.write_record(r).unwrap();
    }
    w.flush().unwrap();
    (dir, path)
}

fn run(path: &std::path::Path) -> (vru_model::receipt::Receipt, VecSink) {
    let cat = Catalogue::builtin();
    let rules = ExtractRules::default();
    let now = chrono::DateTime::parse_from_rfc3339("2025-06-30T12:00:00Z").unwrap().to_utc();
    let mut sink = VecSink::default();
    let r = ExtractJob::new(path, "police-northshire", &cat, &rules, now).run(&mut sink).unwrap();
    (r, sink)
}

fn digits(n: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(0u8..10, n)
}

fn nhs() -> impl Strategy<Value = String> {
    (digits(9), 0usize..4).prop_filter_map("check digit 10 is never issued", |(d, style)| {
        let mut all = [0u8; 10];
        all[..9].copy_from_slice(&d);
        let check = (0..10).find(|c| {
            all[9] = *c;
            nhs_check(&all)
        })?;
        all[9] = check;
        let s: String = all.iter().map(|d| char::from(b'0' + d)).collect();
        Some(match style {
            0 => s,
            1 => format!("{} {} {}", &s[..3], &s[3..6], &s[6..]),
            2 => format!("{}.{}.{}", &s[..3], &s[3..6], &s[6..]),
            _ => format!("{}-{}-{}", &s[..3], &s[3..6], &s[6..]),
        })
    })
}

fn upn_value() -> impl Strategy<Value = String> {
    (digits(11), proptest::option::of(0usize..23), any::<bool>()).prop_map(|(d, temp, lower)| {
        let tail = match temp {
            Some(i) => char::from(b"ABCDEFGHJKLMNPQRTUVWXYZ"[i]).to_string(),
            None => "7".to_string(),
        };
        let body: String = d.iter().map(|d| char::from(b'0' + d)).collect::<String>() + &tail;
        let w = (b'A'..=b'Z').map(|l| format!("{}{body}", l as char)).find(|w| upn(w) == Some(true)).expect("some check letter fits");
        if lower { w.to_lowercase() } else { w }
    })
}

fn postcode() -> impl Strategy<Value = String> {
    let letter = || proptest::sample::select(b"ABCDEFGHJKLMNOPRSTUWYZ".to_vec()).prop_map(char::from);
    (letter(), letter(), 0u8..10, 1u8..10, letter(), letter(), 0usize..3, any::<bool>(), any::<bool>()).prop_map(
        |(a, b, d1, d2, x, y, shape, space, lower)| {
            let outward = match shape {
                0 => format!("{a}{d1}"),
                1 => format!("{a}{b}{d1}"),
                _ => format!("{a}{b}{d1}{d2}"),
            };
            let p = format!("{outward}{}{d2}{x}{y}", if space { " " } else { "" });
            if lower { p.to_lowercase() } else { p }
        },
    )
}

fn email() -> impl Strategy<Value = String> {
    ("[a-z]{1,8}(\\.[a-z]{1,6})?", "[a-z]{2,10}", proptest::sample::select(vec!["org", "co.uk", "nhs.net", "gov.uk", "com"]))
        .prop_map(|(l, d, t)| format!("{l}@{d}.{t}"))
}

fn phone() -> impl Strategy<Value = String> {
    (digits(9), digits(7), 0usize..4).prop_map(|(m, l, style)| {
        let m: String = m.iter().map(|d| char::from(b'0' + d)).collect();
        let l: String = l.iter().map(|d| char::from(b'0' + d)).collect();
        match style {
            0 => format!("07{} {}", &m[..3], &m[3..]),
            1 => format!("+44 7{} {}", &m[..3], &m[3..]),
            2 => format!("0113 {} {}", &l[..3], &l[3..]),
            _ => format!("020 {} {}", &l[..4], &m[..4]),
        }
    })
}

fn dob() -> impl Strategy<Value = String> {
    (1u32..29, 1u32..13, 1995i32..2020, 0usize..4).prop_map(|(d, m, y, style)| match style {
        0 => format!("DOB {d:02}/{m:02}/{y}"),
        1 => format!("dob: {y}-{m:02}-{d:02}"),
        2 => format!("born on {d} March {y}"),
        _ => format!("date of birth {d}.{m}.{y}"),
    })
}

fn address() -> impl Strategy<Value = String> {
    (
        1u32..400,
        proptest::sample::select(vec!["Oak", "High", "Mill", "Church", "Station"]),
        proptest::sample::select(vec!["Street", "Road", "Lane", "Close", "Avenue"]),
    )
        .prop_map(|(n, a, b)| format!("{n} {a} {b}"))
}

#[derive(Debug, Clone)]
enum Format {
    Nhs,
    Upn,
    Postcode,
    Email,
    Phone,
    Dob,
    Address,
}

fn identifier() -> impl Strategy<Value = (Format, String)> {
    prop_oneof![
        nhs().prop_map(|v| (Format::Nhs, v)),
        upn_value().prop_map(|v| (Format::Upn, v)),
        postcode().prop_map(|v| (Format::Postcode, v)),
        email().prop_map(|v| (Format::Email, v)),
        phone().prop_map(|v| (Format::Phone, v)),
        dob().prop_map(|v| (Format::Dob, v)),
        address().prop_map(|v| (Format::Address, v)),
    ]
}

fn alnum_lower(s: &str) -> String {
    s.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect()
}

/// A refused file: nothing of it published, and the identifier not in its
/// receipt. Regrouped digits count as a repeat too (943 476 5919 shown as
/// 9434765919); a digit-free value such as o@ut.com only as itself, or it
/// would match ordinary words ("outcome").
fn nothing_published_or_repeated(receipt: &vru_model::receipt::Receipt, sink: &VecSink, id: &str) -> Result<(), TestCaseError> {
    prop_assert!(sink.events.is_empty(), "nothing of a refused file is published");
    prop_assert_eq!(receipt.rows_published, 0);
    let json = serde_json::to_string(receipt).unwrap();
    prop_assert!(!json.to_lowercase().contains(&id.to_lowercase()), "the receipt repeats {id}: {:?}", receipt.issue_lines());
    let digits = alnum_lower(id);
    if digits.chars().any(|c| c.is_ascii_digit()) {
        prop_assert!(!alnum_lower(&json).contains(&digits), "the receipt repeats {id}: {:?}", receipt.issue_lines());
    }
    Ok(())
}

proptest! {
    #[test]
    fn identifiers_anywhere_refuse_the_file(
        (format, id) in identifier(),
        n in 3usize..25,
        row in 0usize..25,
        col in 0usize..17,
        prefix in proptest::sample::select(vec!["", "seen ", "ref: ", "(", "x, "]),
        suffix in proptest::sample::select(vec!["", " today", ")", ".", " ,y"]),
        replace in any::<bool>(),
        seed in any::<u64>(),
    ) {
        // An address in a record id is not looked for (ids are codes), and
        // nothing else may go there: an address goes in the next column.
        // (Mapped, not assumed away, so long runs do not hit proptest's
        // limit on rejected cases.)
        let col = if matches!(format, Format::Address) && col == 0 { 1 } else { col };
        let mut rows = extract(n, seed, false);
        let row = row % n;
        let value = format!("{prefix}{id}{suffix}");
        rows[row][col] = if replace || col == 0 { value } else { format!("{} {value}", rows[row][col]) };
        let (_dir, path) = write(&rows);
        let (receipt, sink) = run(&path);
        prop_assert_eq!(receipt.status, Status::Rejected, "{:?} in column {} row {}: {:?}", format, COLUMNS[col], row, receipt.issue_lines());
        nothing_published_or_repeated(&receipt, &sink, &id)?;
    }

    #[test]
    fn valid_pseudonyms_never_trip_the_detector(n in 1usize..40, seed in any::<u64>(), upper in any::<bool>()) {
        let rows = extract(n, seed, upper);
        let (_dir, path) = write(&rows);
        let (receipt, sink) = run(&path);
        prop_assert_eq!(receipt.status, Status::Accepted, "{:?}", receipt.issue_lines());
        prop_assert_eq!(sink.events.len(), n + 1);
        for e in sink.events.iter().filter_map(|e| e.envelope.subject.as_ref()) {
            prop_assert!(vru_model::ids::is_pseudonym(e), "stored lower-case");
        }
    }
}

/// A valid value for a column, by its type (a few by name, where a
/// source reads text as something more: a month, an offence code).
fn valid_value(c: &Column, i: usize) -> String {
    match (c.name, c.ty) {
        ("offence_code", _) => "8N".into(),
        ("month", _) => "2024-06".into(),
        ("crime_type", _) => "Violence and sexual offences".into(),
        ("record_id" | "crime_id", _) => format!("R-{i:03}"),
        (_, FieldType::Pseudonym) => hex64(i as u64 * 7 + c.name.len() as u64, false),
        (_, FieldType::Lsoa) => "E01000001".into(),
        (_, FieldType::SmallArea) => "E01000002".into(),
        (_, FieldType::Date) => "2024-06-01".into(),
        (_, FieldType::PlannedDate) => "2025-06-01".into(),
        (_, FieldType::DateTime) => "2024-06-01 21:15".into(),
        (_, FieldType::Int { min, max }) => 14.clamp(min, max).to_string(),
        (_, FieldType::Decimal { .. }) => "1".into(),
        (_, FieldType::Coordinate) => "-1.5".into(),
        (_, FieldType::Flag) => "N".into(),
        (_, FieldType::Sex) => "F".into(),
        (_, FieldType::OneOf(allowed)) => allowed[0].into(),
        (_, FieldType::Text | FieldType::FreeText | FieldType::Id) => "x".into(),
    }
}

/// A valid extract of `kind`: every required column filled, the optional
/// ones blank (their rules across columns are the sources' own tests).
fn any_kind_extract(kind: ExtractKind, n: usize) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let cols = kind.columns();
    let rows = (0..n)
        .map(|i| cols.iter().map(|c| if c.required || c.name == "crime_id" { valid_value(c, i) } else { String::new() }).collect())
        .collect();
    (cols.iter().map(|c| c.name).collect(), rows)
}

fn run_kind(kind: ExtractKind, header: &[&str], rows: &[Vec<String>]) -> (vru_model::receipt::Receipt, VecSink, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{}_2025-01-31.csv", kind.prefix()));
    let mut w = csv::Writer::from_path(&path).unwrap();
    w.write_record(header).unwrap();
    for r in rows {
        w.write_record(r).unwrap();
    }
    w.flush().unwrap();
    let partner = format!("{}-test", kind.source());
    let cat = Catalogue::builtin();
    let now = chrono::DateTime::parse_from_rfc3339("2025-06-30T12:00:00Z").unwrap().to_utc();
    let mut sink = VecSink::default();
    let r = ExtractJob::new(&path, &partner, &cat, &ExtractRules::default(), now).run(&mut sink).unwrap();
    (r, sink, dir)
}

proptest! {
    /// The same promise for every extract kind the registry declares,
    /// ambulance call-outs included: a source added tomorrow is covered
    /// without a line here.
    #[test]
    fn identifiers_anywhere_in_any_kind_refuse_the_file(
        (format, id) in identifier(),
        kind in proptest::sample::select(ExtractKind::ALL.to_vec()),
        n in 3usize..15,
        row in 0usize..15,
        col in 0usize..30,
        replace in any::<bool>(),
    ) {
        let (header, mut rows) = any_kind_extract(kind, n);
        let row = row % n;
        // Not an address in an id column (ids are codes; see above).
        let mut col = col % header.len();
        while matches!(format, Format::Address) && header[col].ends_with("_id") {
            col = (col + 1) % header.len();
        }
        rows[row][col] = if replace || rows[row][col].is_empty() { id.clone() } else { format!("{} {id}", rows[row][col]) };
        let (receipt, sink, _dir) = run_kind(kind, &header, &rows);
        prop_assert_eq!(receipt.status, Status::Rejected, "{:?} in {:?} column {} row {}: {:?}", format, kind, header[col], row, receipt.issue_lines());
        nothing_published_or_repeated(&receipt, &sink, &id)?;
    }
}

#[test]
fn every_kind_template_is_valid() {
    for kind in ExtractKind::ALL {
        let (header, rows) = any_kind_extract(*kind, 5);
        let (receipt, sink, _dir) = run_kind(*kind, &header, &rows);
        assert_eq!(receipt.status, Status::Accepted, "{kind:?}: {:?}", receipt.issue_lines());
        assert_eq!(sink.events.len(), 5 + 1, "{kind:?}: five events and the receipt");
    }
}

#[test]
fn the_extract_template_is_valid() {
    let rows = extract(25, 1, false);
    let (_dir, path) = write(&rows);
    let (receipt, _) = run(&path);
    assert_eq!(receipt.status, Status::Accepted, "{:?}", receipt.issue_lines());
    assert_eq!(ExtractKind::PoliceOffences.columns().len(), COLUMNS.len());
}
