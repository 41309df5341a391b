//! The `vru` binary as users run it.

mod common;

use common::files_under;
use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};

/// `vru --data-dir DATA ARGS` with the extra environment `envs`, as an
/// operator runs it; whatever its exit status.
fn vru_command(data: &Path, args: &[&str], envs: &[(&str, &OsStr)]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vru"));
    c.arg("--data-dir").arg(data).args(args).env("VRU_LOG", "warn");
    for (k, v) in envs {
        c.env(k, v);
    }
    c
}

fn vru_with(data: &Path, args: &[&str], envs: &[(&str, &OsStr)]) -> Output {
    vru_command(data, args, envs).output().expect("vru runs")
}

/// `vru` that must succeed.
fn vru(data: &Path, args: &[&str]) -> Output {
    let out = vru_with(data, args, &[]);
    if !out.status.success() {
        panic!("vru {args:?} failed:\n{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
    out
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs each command with `sh` in `dir`, as a user pasting it would; a
/// `python3` line is skipped only where pandas is not installed and the
/// harness does not require it.
fn run_as_printed(commands: &[&str], dir: &Path) {
    let python = Command::new("python3").args(["-c", "import pandas, pyarrow"]).status().is_ok_and(|s| s.success());
    for cmd in commands {
        if cmd.starts_with("python3") && !python {
            assert!(std::env::var_os("VRU_REQUIRE_INTEROP").is_none(), "python3 with pandas and pyarrow is required");
            continue;
        }
        let o = Command::new("sh").args(["-c", cmd]).current_dir(dir).env("VRU_LOG", "warn").output().unwrap();
        assert!(o.status.success(), "{cmd}\n{}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    }
}

/// A newcomer following the README: every command of its "Set up" section
/// (but the test command itself), in a fresh directory, with `cargo run
/// --release --` standing for the binary this test was built with (a
/// release build would take CI half an hour), then every next step the
/// demo prints. Any command that fails as printed fails the test.
#[test]
fn a_newcomer_follows_the_readme_and_every_printed_hint_works() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let setup = readme.split("\n## Set up\n").nth(1).and_then(|s| s.split("\n## ").next()).expect("a Set up section");
    let bin = env!("CARGO_BIN_EXE_vru");
    let commands: Vec<String> = setup
        .lines()
        .filter_map(|l| l.strip_prefix("    "))
        .filter(|c| !c.starts_with("scripts/test"))
        .map(|c| c.replace("cargo run --release --", &format!("'{bin}'")))
        .collect();
    assert!(commands.len() >= 3 && commands[0].ends_with(" demo"), "{commands:?}");
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let demo = Command::new("sh").args(["-c", &commands[0]]).current_dir(dir.path()).env("VRU_LOG", "warn").output().unwrap();
    let seconds = started.elapsed().as_secs_f64();
    assert!(demo.status.success(), "{}\n{}", text(&demo), String::from_utf8_lossy(&demo.stderr));
    let out = text(&demo);
    assert!(dir.path().join("vru-data/report/report.html").exists(), "the report is where the README says");
    run_as_printed(&commands[1..].iter().map(String::as_str).collect::<Vec<_>>(), dir.path());
    let next: Vec<&str> = out.lines().skip_while(|l| *l != "Next:").skip(1).map(str::trim).collect();
    assert!(next.len() >= 4, "{out}");
    run_as_printed(&next, dir.path());
    eprintln!(
        "newcomer: {} README commands and {} printed hints ran as printed; the demo took {seconds:.1} s and printed {} lines",
        commands.len(),
        next.len(),
        out.lines().count()
    );
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
    run_as_printed(&next, dir.path());
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
    let bad = vru_with(&data, &["measures", "--measure", "h9"], &[]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown measure \"h9\": the measures are h1, h1_public, h2"));

    scratch_files_do_not_outlive_a_killed_report(&data, dir.path());
}

/// A batch run's scratch files are lake rows (the current state as
/// Parquet). A report SIGKILLed while it holds them cannot remove them;
/// the next run must, and removes its own. Too little memory for a query
/// is the operator's setting to change: exit 78, naming it.
fn scratch_files_do_not_outlive_a_killed_report(data: &Path, dir: &Path) {
    let scratch = dir.join("scratch");
    let parquet_under = |d: &Path| files_under(d, "parquet").len();
    let on_scratch = [("VRU_MEASURES__SCRATCH_DIR", scratch.as_os_str())];
    let out = dir.join("killed-report");
    let mut child =
        vru_command(data, &["report", "--audience", "public", "--year", "2023/24", "--out", out.to_str().unwrap()], &on_scratch)
            .spawn()
            .unwrap();
    let started = std::time::Instant::now();
    while parquet_under(&scratch) == 0 {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the report ended ({status}) before it wrote any scratch file");
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "no scratch file after 60 s");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(parquet_under(&scratch) > 0, "the killed report's files are there to be removed");
    let o = vru_with(data, &["measures", "--measure", "h1"], &on_scratch);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(parquet_under(&scratch), 0, "scratch files outlived the run that wrote them or the one that was killed");
    assert_eq!(std::fs::read_dir(&scratch).unwrap().count(), 0, "scratch directories left behind");

    let o = vru_with(data, &["measures"], &[("VRU_MEASURES__MEMORY_LIMIT", OsStr::new("1MiB")), on_scratch[0]]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(78), "{err}");
    assert!(err.contains("measures.memory_limit"), "{err}");
    assert_eq!(std::fs::read_dir(&scratch).unwrap().count(), 0, "a failed run left its scratch directory");

    // A scratch directory that cannot be one is the setting's fault.
    let file = dir.join("not-a-directory");
    std::fs::write(&file, b"").unwrap();
    let o = vru_with(data, &["measures", "--measure", "h1"], &[("VRU_MEASURES__SCRATCH_DIR", file.as_os_str())]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(78), "{err}");
    assert!(err.contains("scratch directory") && err.contains("measures.scratch_dir"), "{err}");
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

/// What the operator of `vru run` sees: `/metrics` read by Prometheus's
/// own parser while the pipeline runs, its counters agreeing with the
/// receipts the partners got, and `/health`. Labels never carry more than
/// a partner folder's name.
#[test]
fn run_serves_metrics_that_agree_with_the_receipts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let city = dir.path().join("city");
    vru(
        &data,
        &[
            "generate",
            "--out",
            city.to_str().unwrap(),
            "--focus-lsoas",
            "8",
            "--other-las",
            "1",
            "--lsoas-per-other-la",
            "8",
            "--years",
            "2",
        ],
    );
    let landing = city.join("landing");
    let files = std::fs::read_dir(&landing).unwrap().flatten().flat_map(|p| std::fs::read_dir(p.path()).unwrap().flatten()).count();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let at = format!("127.0.0.1:{port}");
    let log = std::fs::File::create(dir.path().join("run.log")).unwrap();
    let mut run = Command::new(env!("CARGO_BIN_EXE_vru"))
        .arg("--data-dir")
        .arg(&data)
        .args(["run", "--watch", landing.to_str().unwrap(), "--metrics-listen", &at])
        .env("VRU_LOG", "warn")
        .env("VRU_LANDING__SETTLE_MS", "100")
        .stdout(std::process::Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    let scrape = || -> Option<serde_json::Value> {
        let py = r#"
import json, sys, urllib.request
from prometheus_client.openmetrics.parser import text_string_to_metric_families
text = urllib.request.urlopen(sys.argv[1] + '/metrics').read().decode()
out = {'health': urllib.request.urlopen(sys.argv[1] + '/health').read().decode().strip()}
for fam in text_string_to_metric_families(text):
    for s in fam.samples:
        if s.name.endswith('_bucket'):
            continue
        key = s.name + '/' + '/'.join(str(s.labels[k]) for k in sorted(s.labels))
        out[key] = s.value
print(json.dumps(out))
"#;
        let o = Command::new("python3").args(["-c", py, &format!("http://{at}")]).output().ok()?;
        o.status.success().then(|| serde_json::from_slice(&o.stdout).unwrap())
    };
    let get = |m: &serde_json::Value, k: &str| m[k].as_f64().unwrap_or(0.0);
    let started = std::time::Instant::now();
    let metrics = loop {
        assert!(run.try_wait().unwrap().is_none(), "vru run exited:\n{}", std::fs::read_to_string(dir.path().join("run.log")).unwrap());
        if let Some(m) = scrape() {
            let receipts: f64 = m
                .as_object()
                .unwrap()
                .iter()
                .filter(|(k, _)| k.starts_with("vru_ingest_receipts_total/"))
                .map(|(_, v)| v.as_f64().unwrap())
                .sum();
            let published = get(&m, "vru_ingest_rows_total/published");
            let handled = get(&m, "vru_normaliser_messages_total/buffered") + get(&m, "vru_normaliser_messages_total/duplicate");
            if receipts as usize == files && handled >= published + files as f64 && published > 0.0 {
                break m;
            }
        } else if std::env::var_os("VRU_REQUIRE_INTEROP").is_some() && started.elapsed() > std::time::Duration::from_secs(20) {
            panic!("no /metrics from vru run, or python3 without prometheus_client");
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(120), "receipts never all counted");
        std::thread::sleep(std::time::Duration::from_millis(250));
    };
    let _ = Command::new("kill").args(["-INT", &run.id().to_string()]).status();
    let status = run.wait().unwrap();
    assert!(status.success(), "vru run after SIGINT: {status}");
    assert_eq!(metrics["health"], "ok");
    // Every receipt the partners got is counted under its partner and
    // status, and the rows agree with the receipts' own totals.
    let mut receipts = std::collections::BTreeMap::<(String, String), f64>::new();
    let (mut read, mut published) = (0u64, 0u64);
    for partner in std::fs::read_dir(&landing).unwrap().flatten() {
        for r in std::fs::read_dir(partner.path().join("processed")).into_iter().flatten().flatten() {
            if r.path().to_string_lossy().ends_with(".receipt.json") {
                let v: serde_json::Value = serde_json::from_slice(&std::fs::read(r.path()).unwrap()).unwrap();
                *receipts.entry((v["partner"].as_str().unwrap().to_string(), v["status"].as_str().unwrap().to_string())).or_default() +=
                    1.0;
                read += v["rows_read"].as_u64().unwrap();
                published += v["rows_published"].as_u64().unwrap();
            }
        }
    }
    assert!(!receipts.is_empty());
    for ((partner, status), n) in &receipts {
        assert_eq!(get(&metrics, &format!("vru_ingest_receipts_total/{partner}/{status}")), *n, "{partner} {status}: {metrics}");
    }
    assert_eq!(get(&metrics, "vru_ingest_rows_total/read"), read as f64);
    assert_eq!(get(&metrics, "vru_ingest_rows_total/published"), published as f64);
    // Every published row and each file's receipt event reached the
    // normaliser: buffered for the lake, or dropped as a re-sent copy.
    let handled = get(&metrics, "vru_normaliser_messages_total/buffered") + get(&metrics, "vru_normaliser_messages_total/duplicate");
    assert_eq!(handled, (published + files as u64) as f64, "{metrics}");
    let commits = get(&metrics, "vru_normaliser_commits_total/ok");
    assert!(commits >= 1.0 && get(&metrics, "vru_normaliser_commit_duration_seconds_count/") == commits, "{metrics}");
    let lags: Vec<f64> = metrics
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.starts_with("vru_normaliser_lag_messages/"))
        .map(|(_, v)| v.as_f64().unwrap())
        .collect();
    assert!(!lags.is_empty(), "a lag per partition: {metrics}");
    // The sample dashboard charts only series the pipeline serves.
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/grafana/vru-pipeline.json")).unwrap(),
    )
    .unwrap();
    let served: std::collections::BTreeSet<&str> = metrics.as_object().unwrap().keys().map(|k| k.split('/').next().unwrap()).collect();
    for panel in dashboard["panels"].as_array().unwrap() {
        let expr = panel["targets"][0]["expr"].as_str().unwrap();
        for name in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| w.starts_with("vru_")) {
            let base = name.trim_end_matches("_bucket");
            assert!(
                served.iter().any(|s| s.starts_with(base)),
                "{} charts {name}, which vru run does not serve: {served:?}",
                panel["title"]
            );
        }
    }
    eprintln!(
        "metrics: {} series; {files} receipts, {published} rows published, {commits} commits, lag per partition {lags:?}",
        metrics.as_object().unwrap().len()
    );
}
