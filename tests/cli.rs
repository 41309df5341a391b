//! The `vru` binary as users run it.

use std::path::Path;
use std::process::{Command, Output};

fn vru(data: &Path, args: &[&str]) -> Output {
    let out =
        Command::new(env!("CARGO_BIN_EXE_vru")).arg("--data-dir").arg(data).args(args).env("VRU_LOG", "warn").output().expect("vru runs");
    if !out.status.success() {
        panic!("vru {args:?} failed:\n{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
    out
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn demo_runs_end_to_end_and_later_commands_agree() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("vru-data");
    let out = text(&vru(&data, &["demo", "--focus-lsoas", "16", "--scale", "0.3"]));
    for needle in ["1/4 Generating", "3/4 Ingesting", "Serious violence offences: ", "C1  ", "Open ", "report.html in a browser"] {
        assert!(out.contains(needle), "demo output lacks {needle:?}:\n{out}");
    }
    assert!(out.lines().count() < 60, "a summary, not a dump:\n{out}");
    assert!(data.join("report/report.html").exists());
    // Every next step works as printed, from another directory.
    let next: Vec<&str> = out.lines().skip_while(|l| *l != "Next:").skip(1).map(str::trim).collect();
    assert!(next.len() >= 4, "{out}");
    let python = Command::new("python3").args(["-c", "import pandas, pyarrow"]).status().is_ok_and(|s| s.success());
    for cmd in next {
        if cmd.starts_with("python3") && !python {
            assert!(std::env::var_os("VRU_REQUIRE_INTEROP").is_none(), "python3 with pandas and pyarrow is required");
            continue;
        }
        let o = Command::new("sh").args(["-c", cmd]).current_dir(dir.path()).env("VRU_LOG", "warn").output().unwrap();
        assert!(o.status.success(), "{cmd}\n{}", String::from_utf8_lossy(&o.stderr));
    }
    // The demo leaves its focus area beside the lake, so `vru measures`
    // afterwards reports the same area.
    let m = text(&vru(&data, &["measures", "--measure", "H1"]));
    assert!(m.contains("Castlebridge"), "{m}");
    let s = text(&vru(&data, &["sql", "SELECT count(*) AS n FROM police_offences_log"]));
    assert!(s.contains("| n "), "{s}");

    // Results for other tools: CSV safe for Excel, JSON lines, Parquet
    // that DuckDB reads, one file per measure.
    let csv = text(&vru(&data, &["sql", "SELECT '=cmd|calc' AS f, -1 AS n, 'a,b' AS s", "--format", "csv"]));
    assert_eq!(csv, "f,n,s\n'=cmd|calc,-1,\"a,b\"\n");
    let json = text(&vru(&data, &["sql", "SELECT count(*) AS n FROM police_offences_log", "--format", "json"]));
    let n: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert!(n["n"].as_i64().unwrap() > 1_000, "{json}");
    let pq = dir.path().join("log.parquet");
    vru(&data, &["sql", "SELECT * FROM police_offences_log", "--format", "parquet", "--out", pq.to_str().unwrap()]);
    assert!(std::fs::read(&pq).unwrap().starts_with(b"PAR1"));
    let out = dir.path().join("measures");
    vru(&data, &["measures", "--format", "csv", "--out", out.to_str().unwrap()]);
    let h1 = std::fs::read_to_string(out.join("h1.csv")).unwrap();
    assert!(h1.starts_with("period,period_type,") && h1.lines().count() > 1, "{h1}");
    assert!(out.join("h1_public.csv").exists() && out.join("r1.csv").exists());
    let one = text(&vru(&data, &["measures", "--measure", "h1", "--format", "json"]));
    assert!(one.lines().all(|l| l.starts_with('{')), "{one}");
    // A name that is not a measure is an error listing the names.
    let bad = Command::new(env!("CARGO_BIN_EXE_vru")).arg("--data-dir").arg(&data).args(["measures", "--measure", "h9"]).output().unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown measure \"h9\": the measures are h1, h1_public, h2"));
}

#[test]
fn pseudonymise_replaces_identifiers_with_keyed_pseudonyms() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.key");
    vru(dir.path(), &["pseudonymise", "--new-key", key.to_str().unwrap()]);
    let csv = dir.path().join("in.csv");
    std::fs::write(&csv, "nhs_number,age\n943 476 5919,15\n9434765919,16\n,17\n").unwrap();
    let args = ["pseudonymise", "--key-file", key.to_str().unwrap(), "--id-column", "NHS_NUMBER", csv.to_str().unwrap()];
    let out = text(&vru(dir.path(), &args));
    let rows: Vec<&str> = out.lines().collect();
    assert_eq!(rows[0], "nhs_number,age");
    let p1 = rows[1].split(',').next().unwrap();
    assert!(p1.len() == 64 && p1.chars().all(|c| c.is_ascii_hexdigit()), "{p1}");
    assert_eq!(rows[1].split(',').next(), rows[2].split(',').next(), "spacing does not change the pseudonym");
    assert_eq!(rows[3], ",17", "blank identifiers stay blank");
    assert!(!out.contains("9434765919"));
    assert_eq!(text(&vru(dir.path(), &args)), out, "deterministic for a key");
}

#[test]
fn ingest_of_a_bad_file_writes_a_receipt_and_publishes_only_good_rows() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let partner = dir.path().join("police-test");
    std::fs::create_dir_all(&partner).unwrap();
    let p = "b".repeat(64);
    let mut csv = String::from("record_id,crime_ref,offence_code,committed_at,offence_lsoa,role,person_id,age\n");
    for i in 0..20 {
        csv.push_str(&format!("r{i},{p},34B,2023-06-01 22:00,E01000001,victim,{p},17\n"));
    }
    csv.push_str(&format!("bad,{p},34B,2023-06-01 22:00,E01000001,victim,{p},200\n"));
    let file = partner.join("offences_2023-07-01.csv");
    std::fs::write(&file, csv).unwrap();
    let out = text(&vru(&data, &["ingest", file.to_str().unwrap()]));
    assert!(out.contains("offences_2023-07-01.csv:22:8: (age) 200 is out of range 0-120"), "{out}");
    let receipt: serde_json::Value =
        serde_json::from_slice(&std::fs::read(partner.join("offences_2023-07-01.csv.receipt.json")).unwrap()).unwrap();
    assert_eq!(receipt["status"], "accepted_with_rejections");
    assert_eq!(receipt["rows_published"], 20);
    assert_eq!(receipt["confirmed_by"], "lake-committed");
    let n = text(&vru(
        &data,
        &[
            "sql",
            "SELECT count(*) AS n, count(DISTINCT record_id) AS d, sum(CASE WHEN record_id = 'bad' THEN 1 ELSE 0 END) AS bad FROM police_offences_log",
        ],
    ));
    assert!(n.contains("| 20 | 20 | 0   |"), "{n}");
}

/// A lake holding only data.police.uk files: `vru measures` runs, says
/// which measures have nothing to show, and shows the public ones.
#[test]
fn measures_run_on_a_lake_with_only_public_data() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("2022-03-cleveland-street.csv");
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/police_uk/2022-03-cleveland-street.csv"), &file).unwrap();
    let data = dir.path().join("data");
    vru(&data, &["ingest", "--format", "police-uk", file.to_str().unwrap()]);
    let all = text(&vru(&data, &["measures"]));
    assert!(all.starts_with("Measures for 2021/22"), "{all}");
    assert!(all.contains("H2 Homicide: no rows for 2021/22 in the focus area (--all-areas shows every area)"), "{all}");
    assert!(!all.contains("++"), "no empty tables:\n{all}");
    let public = text(&vru(&data, &["measures", "--all-areas", "--measure", "h1_public"]));
    assert!(public.contains("| 2021/22 | financial_year | force     | Cleveland Police"), "{public}");
}
