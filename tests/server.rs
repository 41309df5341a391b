//! `vru serve` as analysts' own tools see it: the real `psql` and Python's
//! psycopg and pandas, against the built binary on a free port. Logins,
//! roles, the audit log, limits, fresh lake commits, and the figures the
//! issue asks for (rows/s, latency under 20 clients), printed and written
//! to `<target tmp>/server-figures.txt`.
//!
//! The clients are required when `VRU_REQUIRE_INTEROP` is set (scripts/test
//! installs them); otherwise a missing one skips the test with a message.

mod common;
#[path = "server/fixtures.rs"]
mod fixtures;

use common::*;
use fixtures::{PSQL_DESCRIBE, measure_tables, same_cell, watch_prepared, watched, write_bulk};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::time::{Duration, Instant};
use vru_ingest::lake::Lake;
use vru_model::tables::Table;
use vru_server::audit::{self, Kind, Status};

/// The tests measure latency and throughput on two cores: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const PASSWORD: &str = "correct-horse-battery";

fn clients_available() -> bool {
    let psql = Command::new("psql").arg("--version").output().is_ok_and(|o| o.status.success());
    let python = Command::new("python3").args(["-c", "import psycopg, pandas"]).status().is_ok_and(|s| s.success());
    let r = Command::new("Rscript").args(["-e", "library(RPostgreSQL)"]).output().is_ok_and(|o| o.status.success());
    if psql && python && r {
        return true;
    }
    assert!(
        std::env::var_os("VRU_REQUIRE_INTEROP").is_none(),
        "psql (postgresql-client), python3 with psycopg and pandas, and R with RPostgreSQL (r-cran-rpostgresql) are required: scripts/test installs them"
    );
    eprintln!(
        "SKIPPED: psql, python3 psycopg/pandas or R RPostgreSQL not installed (scripts/test installs them and makes this test mandatory)"
    );
    false
}

fn report(line: &str) {
    eprintln!("REPORT {line}");
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("server-figures.txt");
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
    writeln!(f, "{line}").unwrap();
}

fn vru(data: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vru"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env("VRU_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vru runs");
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "vru {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn add_user(data: &Path, name: &str, role: &str, partner: Option<&str>) {
    let mut args = vec!["user", "add", name, "--role", role, "--password-stdin"];
    if let Some(p) = partner {
        args.extend(["--partner", p]);
    }
    vru(data, &args, Some(&format!("{PASSWORD}\n")));
}

/// A running `vru serve`, stopped when dropped.
struct Served {
    child: Child,
    _stdout: BufReader<ChildStdout>,
    host: String,
    port: String,
    audit: PathBuf,
    log: PathBuf,
}

impl Served {
    fn start(data: &Path, extra: &[&str], env: &[(&str, &str)]) -> Served {
        let log = data.join("serve.log");
        let audit = data.join("server/audit.jsonl");
        let mut child = Command::new(env!("CARGO_BIN_EXE_vru"))
            .arg("--data-dir")
            .arg(data)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .envs(env.iter().copied())
            .env("VRU_LOG", "warn,vru_server=info")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("vru serve runs");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let Some(addr) = line.split("listening on ").nth(1).and_then(|r| r.split_whitespace().next()) else {
            let _ = child.kill();
            panic!("vru serve did not start: {line}\n{}", std::fs::read_to_string(&log).unwrap_or_default());
        };
        let (host, port) = addr.rsplit_once(':').unwrap();
        Served { host: host.to_string(), port: port.to_string(), child, _stdout: stdout, audit, log }
    }

    fn psql(&self, user: &str, password: Option<&str>, sql: &str) -> Output {
        let mut c = Command::new("psql");
        c.args(["-h", &self.host, "-p", &self.port, "-U", user, "-d", "vru", "-w", "-X", "--csv", "-v", "ON_ERROR_STOP=1", "-c", sql]);
        match password {
            Some(p) => c.env("PGPASSWORD", p),
            None => c.env_remove("PGPASSWORD"),
        };
        c.env_remove("PGPASSFILE").env("PGPASSFILE", "/nonexistent").output().expect("psql runs")
    }

    /// Rows of a query as psql prints them in CSV (header first).
    fn rows(&self, user: &str, sql: &str) -> Vec<Vec<String>> {
        let out = self.psql(user, Some(PASSWORD), sql);
        assert!(out.status.success(), "psql {sql}: {}\nserver log:\n{}", String::from_utf8_lossy(&out.stderr), self.server_log());
        let mut r = csv::ReaderBuilder::new().has_headers(false).from_reader(out.stdout.as_slice());
        r.records().map(|rec| rec.unwrap().iter().map(str::to_string).collect()).collect()
    }

    fn refused(&self, user: &str, password: Option<&str>, sql: &str) -> String {
        let out = self.psql(user, password, sql);
        assert!(!out.status.success(), "{user} was allowed: {sql}\n{}", String::from_utf8_lossy(&out.stdout));
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    fn python(&self, args: &[&str]) -> serde_json::Value {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/server/clients.py");
        let mode = args[0];
        let out = Command::new("python3")
            .arg(script)
            .arg(mode)
            .args([self.host.as_str(), self.port.as_str()])
            .args(&args[1..])
            .env("PGPASSWORD", PASSWORD)
            .output()
            .expect("python3 runs");
        assert!(out.status.success(), "clients.py {args:?}: {}\nserver log:\n{}", String::from_utf8_lossy(&out.stderr), self.server_log());
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Each query's rows as R's `dbGetQuery` returns them, written as CSV
    /// (header first) by tests/server/clients.R, one R session for all.
    fn r(&self, user: &str, queries: &[&str]) -> Vec<Vec<Vec<String>>> {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/server/clients.R");
        let out = Command::new("Rscript")
            .arg(script)
            .args(queries)
            .envs([("PGHOST", self.host.as_str()), ("PGPORT", self.port.as_str()), ("PGUSER", user), ("PGPASSWORD", PASSWORD)])
            .output()
            .expect("Rscript runs");
        assert!(out.status.success(), "clients.R: {}\nserver log:\n{}", String::from_utf8_lossy(&out.stderr), self.server_log());
        let text = String::from_utf8_lossy(&out.stdout);
        text.split("--- result\n")
            .skip(1)
            .map(|block| {
                let mut r = csv::ReaderBuilder::new().has_headers(false).from_reader(block.as_bytes());
                r.records().map(|rec| rec.unwrap().iter().map(str::to_string).collect()).collect()
            })
            .collect()
    }

    fn server_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The audit log once `pred` holds (records of a closing connection may
    /// land a moment after the client has exited).
    fn audit_until(&self, what: &str, pred: impl Fn(&[audit::Record]) -> bool) -> Vec<audit::Record> {
        let start = Instant::now();
        loop {
            let records = audit::read(&self.audit).unwrap_or_default();
            if pred(&records) {
                return records;
            }
            assert!(start.elapsed() < Duration::from_secs(10), "audit log lacks {what}:\n{records:#?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_roles_audit_fresh_commits_and_twenty_clients() {
    if !clients_available() {
        return;
    }
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let summary = generate(dir.path(), &small_city(7));
    let lake = Lake::new(data.join("lake"));
    load_reference(&lake, &summary).await;
    run_landing(&lake, &landing_dir(&summary)).await;
    add_user(&data, "ana", "analyst", None);
    add_user(&data, "pat", "partner", Some("police-northshire"));
    add_user(&data, "pub", "publisher", None);
    let users_file = std::fs::read_to_string(data.join("server/users.toml")).unwrap();
    assert!(users_file.contains("stored_key") && !users_file.contains(PASSWORD), "{users_file}");

    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    let metrics_at = format!("127.0.0.1:{metrics_port}");
    let s = Served::start(&data, &["--metrics-listen", &metrics_at], &[("VRU_SERVER__REFRESH_MS", "200")]);

    // Browsing as psql does on connect and with its describe commands.
    for (cmd, want) in PSQL_DESCRIBE {
        let out = s.psql("ana", Some(PASSWORD), cmd);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{cmd}: {}\n{}", String::from_utf8_lossy(&out.stderr), s.server_log());
        for t in want {
            assert!(text.contains(t), "{cmd} lacks {t}:\n{text}");
        }
    }
    // The operator's view: /health, and /metrics read by Prometheus's own
    // parser; the counters moved with the queries above, and move again.
    let scrape = || -> serde_json::Value {
        let py = r#"
import json, sys, urllib.request
from prometheus_client.openmetrics.parser import text_string_to_metric_families
text = urllib.request.urlopen(sys.argv[1] + '/metrics').read().decode()
out = {'health': urllib.request.urlopen(sys.argv[1] + '/health').read().decode().strip()}
for fam in text_string_to_metric_families(text):
    for s in fam.samples:
        key = s.name + '/' + '/'.join(s.labels[k] for k in sorted(s.labels) if k != 'le')
        out[key] = out.get(key, 0) + s.value if s.name.endswith('_bucket') else s.value
print(json.dumps(out))
"#;
        let o = Command::new("python3").args(["-c", py, &format!("http://{metrics_at}")]).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let before = scrape();
    let ok = |m: &serde_json::Value| m["vru_sql_events_total/query/ok/analyst"].as_f64().unwrap_or(0.0);
    assert_eq!(before["health"], "ok");
    assert!(ok(&before) >= 8.0, "{before}");
    assert!(before["vru_sql_events_total/login/ok/analyst"].as_f64().unwrap_or(0.0) >= 8.0, "{before}");
    for key in before.as_object().unwrap().keys() {
        assert!(!key.split('/').any(|label| ["ana", "pat", "pub"].contains(&label)), "a user name is a label: {key}");
    }
    s.psql("ana", Some(PASSWORD), "SELECT 1");
    let after = scrape();
    assert_eq!(ok(&after), ok(&before) + 1.0, "{after}");
    assert!(after["vru_sql_query_duration_seconds_count/analyst"].as_f64().unwrap() >= ok(&after), "{after}");
    report(&format!(
        "metrics: {} series on /metrics; analyst queries ok {} -> {}",
        after.as_object().unwrap().len(),
        ok(&before),
        ok(&after)
    ));
    let dt = s.psql("pat", Some(PASSWORD), "\\dt");
    assert!(String::from_utf8_lossy(&dt.stdout).contains("measure_h1"), "a partner's measures are tables");
    let d = s.psql("ana", Some(PASSWORD), "\\d measure_h1");
    let d_text = String::from_utf8_lossy(&d.stdout);
    assert!(
        d.status.success() && d_text.contains("period") && d_text.contains("offences"),
        "\\d measure_h1:\n{d_text}\n{}",
        String::from_utf8_lossy(&d.stderr)
    );

    // The measure views give the numbers `vru measures` prints.
    let year = s.rows("ana", "SELECT max(period) FROM data_years")[1][0].clone();
    let printed = String::from_utf8_lossy(&vru(&data, &["measures", "--year", &year], None).stdout).into_owned();
    let tables = measure_tables(&printed);
    assert!(tables.len() >= 10, "parsed only {:?} from vru measures", tables.keys());
    let mut compared = 0;
    let mut queries = Vec::new();
    for m in vru_queries::measures::MEASURES {
        let Some((header, want)) = tables.get(m.id) else { continue };
        let mut conds = Vec::new();
        if header.iter().any(|h| h == "period") {
            conds.push(format!("period = '{year}'"));
        }
        if header.iter().any(|h| h == "area_type") {
            conds.push("area_type = 'focus'".to_string());
        }
        let filter = if conds.is_empty() { String::new() } else { format!(" WHERE {}", conds.join(" AND ")) };
        let sql = format!("SELECT * FROM {}{filter} ORDER BY {}", m.view, m.order_by);
        let got = s.rows("ana", &sql);
        assert_eq!(&got[0], header, "{} columns", m.id);
        assert_eq!(got.len() - 1, want.len(), "{} rows", m.id);
        for (g, w) in got[1..].iter().zip(want) {
            for ((c, a), b) in header.iter().zip(g).zip(w) {
                assert!(same_cell(b, a), "{} {c}: psql {a:?}, vru measures {b:?}", m.id);
            }
        }
        queries.push((m.id, sql, header, want));
        compared += 1;
    }
    report(&format!("psql: {compared} measure views equal `vru measures --year {year}` cell for cell"));
    // The same from R (RPostgreSQL over libpq), one session for all.
    let answers = s.r("ana", &queries.iter().map(|q| q.1.as_str()).collect::<Vec<_>>());
    assert_eq!(answers.len(), queries.len(), "R answered {} of {} queries", answers.len(), queries.len());
    for ((id, _, header, want), got) in queries.iter().zip(&answers) {
        assert_eq!(&&got[0], header, "{id} columns in R");
        assert_eq!(got.len() - 1, want.len(), "{id} rows in R");
        for (g, w) in got[1..].iter().zip(want.iter()) {
            for ((c, a), b) in header.iter().zip(g).zip(w) {
                assert!(same_cell(b, a), "{id} {c}: R {a:?}, vru measures {b:?}");
            }
        }
    }
    report(&format!("R (RPostgreSQL): {} measure views equal `vru measures --year {year}` cell for cell", answers.len()));

    // What DBeaver sends on connect and when a table is opened.
    for (user, table) in [("ana", "measure_h1"), ("pat", "own_police_offences")] {
        let answers = s.python(&["catalog", user, table]);
        let failed: Vec<String> = answers
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, v)| !(v.as_bool() == Some(true) || v.as_str().is_some_and(|t| t.starts_with("ok"))))
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        assert!(failed.is_empty(), "DBeaver's catalog queries as {user}: {failed:?}");
    }
    report(
        "DBeaver: the catalog queries of connect, schema, table, column browsing and data preview all answer (pgjdbc-style, extended protocol)",
    );

    // No anonymous access; each refusal audited.
    assert!(s.refused("ana", Some("not-the-password"), "SELECT 1").contains("password authentication failed for user \"ana\""));
    assert!(s.refused("nobody", Some(PASSWORD), "SELECT 1").contains("password authentication failed for user \"nobody\""));
    assert!(s.refused("ana", None, "SELECT 1").contains("no password supplied"));
    s.audit_until("three refused logins", |r| {
        let refused = |user: &str, why: &str| {
            r.iter().any(|x| {
                x.kind == Kind::Login
                    && x.status == Status::Refused
                    && x.user.as_deref() == Some(user)
                    && x.error.as_deref().unwrap_or("").contains(why)
            })
        };
        refused("ana", "wrong password") && refused("nobody", "unknown user") && refused("ana", "no password supplied")
    });

    // Partners: measures under partner disclosure control, their own rows,
    // nothing else.
    let e = s.refused("pat", Some(PASSWORD), "SELECT * FROM police_offences");
    assert!(e.contains("permission denied for table police_offences (role partner)") && e.contains("own_police_offences"), "{e}");
    assert!(s.refused("pat", Some(PASSWORD), "SELECT count(*) FROM ae_attendances").contains("permission denied for table ae_attendances"));
    assert!(s.refused("pat", Some(PASSWORD), "SELECT * FROM crimes").contains("permission denied for table crimes"));
    assert!(
        s.refused("pat", Some(PASSWORD), "SELECT * FROM measure_h1 WHERE period IN (SELECT period FROM victims)")
            .contains("permission denied")
    );
    let own = s.rows("pat", "SELECT partner, count(*) FROM own_police_offences GROUP BY partner");
    assert_eq!(own.len(), 2, "{own:?}");
    assert_eq!(own[1][0], "police-northshire");
    let h1 = s.rows("pat", "SELECT offences FROM measure_h1");
    assert!(h1.len() > 1 && h1[1..].iter().all(|r| r[0] == "*" || r[0].parse::<i64>().is_ok_and(|n| n == 0 || n > 4)), "{h1:?}");
    // Publishers: public outputs only.
    assert!(s.refused("pub", Some(PASSWORD), "SELECT * FROM own_police_offences").contains("permission denied"));
    assert!(
        s.refused("pub", Some(PASSWORD), "SELECT * FROM police_offences_log")
            .contains("permission denied for table police_offences_log (role publisher)")
    );
    let public = s.rows("pub", "SELECT offences FROM measure_h1");
    assert!(
        public[1..].iter().all(|r| r[0] == "*" || r[0].parse::<i64>().is_ok_and(|n| n % 5 == 0)),
        "public counts are rounded to 5: {public:?}"
    );
    // Read-only, whatever the role.
    assert!(s.refused("ana", Some(PASSWORD), "CREATE TABLE t AS SELECT 1").contains("read-only"));
    assert!(s.refused("ana", Some(PASSWORD), "SET datafusion.runtime.memory_limit = '100G'").contains("permission denied"));

    // The audit log has every query, never a result value.
    let ids = s.rows("ana", "SELECT record_id FROM police_offences_log ORDER BY record_id LIMIT 3");
    let records = s.audit_until("refused partner queries", |r| {
        r.iter().any(|x| x.kind == Kind::Query && x.status == Status::Refused && x.user.as_deref() == Some("pat"))
            && r.iter().any(|x| x.query.as_deref().is_some_and(|q| q.contains("LIMIT 3")) && x.rows == 3)
    });
    let text = std::fs::read_to_string(&s.audit).unwrap();
    for id in &ids[1..] {
        assert!(!text.contains(&id[0]), "the audit log holds result value {}", id[0]);
    }
    let q = records.iter().find(|x| x.query.as_deref().is_some_and(|q| q.contains("own_police_offences GROUP BY"))).unwrap();
    assert_eq!(
        (q.role, q.tables.clone(), q.status),
        (Some(vru_server::Role::Partner), vec!["own_police_offences".to_string()], Status::Ok)
    );

    // A lake commit is served without a restart.
    let before = s.rows("ana", "SELECT count(*) FROM police_offences_log WHERE partner = 'police-southshire'")[1][0].clone();
    assert_eq!(before, "0");
    let landing = dir.path().join("police-southshire");
    std::fs::create_dir_all(&landing).unwrap();
    let p = "b".repeat(64);
    let mut csv = String::from("record_id,crime_ref,offence_code,committed_at,offence_lsoa,role,person_id,age\n");
    for i in 0..20 {
        csv.push_str(&format!("s{i},{p},34B,2023-06-01 22:00,E01000001,victim,{p},17\n"));
    }
    let file = landing.join("offences_2023-07-01.csv");
    std::fs::write(&file, csv).unwrap();
    // Meanwhile a client executes one server-side prepared statement over
    // and over, prepared before the commit.
    let watcher = watch_prepared(&s.host, &s.port, PASSWORD, "police-southshire", 20);
    vru(&data, &["ingest", file.to_str().unwrap()], None);
    let start = Instant::now();
    loop {
        let n = s.rows("ana", "SELECT count(*) FROM police_offences_log WHERE partner = 'police-southshire'")[1][0].clone();
        if n == "20" {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "new commit not visible after 30 s (count {n})");
        std::thread::sleep(Duration::from_millis(200));
    }
    report(&format!(
        "freshness: a new lake commit was served {:.1} s after `vru ingest` returned, no restart",
        start.elapsed().as_secs_f64()
    ));
    let watched = watched(watcher, 20);
    report(&format!("freshness: a statement prepared before the commit saw it {} s after it was prepared", watched["seconds"]));
    // ...and the partner still sees only its own organisation's rows.
    assert_eq!(s.rows("pat", "SELECT DISTINCT partner FROM own_police_offences").len(), 2);

    // 20 clients running the measure views.
    let secs: u64 = std::env::var("VRU_TEST_SERVER_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let load = s.python(&["load", "ana", "20", &secs.to_string(), &year]);
    // The server's own account (generations served, measures warmed) is
    // what tells a stall from a slow query.
    assert_eq!(load["error_count"], 0, "errors under load: {load}\nserver log:\n{}", s.server_log());
    assert!(load["queries"].as_u64().unwrap() >= 20, "{load}");
    report(&format!(
        "load: 20 clients x {secs} s over {} measure views: {} queries, 0 errors, p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms, {:.1} queries/s",
        load["views"],
        load["queries"],
        load["p50_ms"].as_f64().unwrap(),
        load["p95_ms"].as_f64().unwrap(),
        load["max_ms"].as_f64().unwrap(),
        load["queries_per_second"].as_f64().unwrap()
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_fetches_a_million_rows_and_the_memory_limit_holds() {
    if !clients_available() {
        return;
    }
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let lake = Lake::new(data.join("lake"));
    let rows = 1_000_000;
    write_bulk(&lake, rows).await;
    add_user(&data, "ana", "analyst", None);
    let s = Served::start(&data, &["--memory-limit", "64MiB", "--query-timeout", "60s"], &[]);

    let fetched = s.python(&["fetch", "ana", "SELECT * FROM police_asb_log"]);
    // psycopg's named (server-side) cursor pages through all of it.
    let named = &fetched["named_cursor"];
    let t_columns = Table::PoliceAsb.schema().fields().len() as u64;
    assert_eq!(named["rows"].as_u64(), Some(rows as u64), "{named}");
    assert_eq!(named["fetches"].as_u64(), Some((rows / 10_000) as u64), "{named}");
    assert_eq!(named["columns"].as_u64(), Some(t_columns), "{named}");
    assert_eq!(named["nuisance"].as_u64(), Some(333_333), "a server-bound parameter: {named}");
    assert!(named["after_commit"].as_str().is_some_and(|e| e.contains("does not exist")), "{named}");
    report(&format!(
        "psycopg named cursor: {rows} rows in {} FETCH FORWARD 10000 in {:.2} s = {:.0} rows/s; client peak RSS {:.0} MB (after fetchall: {:.0} MB)",
        named["fetches"],
        named["seconds"].as_f64().unwrap(),
        named["rows_per_second"].as_f64().unwrap(),
        named["client_peak_mb"].as_f64().unwrap(),
        fetched["client_peak_mb_after_fetchall"].as_f64().unwrap()
    ));
    // The same from psql, in one simple-protocol string: the second FETCH
    // reads on where the first stopped (five different rows), and CLOSE
    // ends the query.
    let paged = s.psql(
        "ana",
        Some(PASSWORD),
        "BEGIN; DECLARE c CURSOR FOR SELECT record_id FROM police_asb_log; FETCH 2 FROM c; FETCH 3 FROM c; CLOSE c; COMMIT",
    );
    let (out, err) = (String::from_utf8_lossy(&paged.stdout), String::from_utf8_lossy(&paged.stderr));
    let ids: Vec<&str> = out.lines().filter(|l| l.starts_with("record_id-")).collect();
    assert_eq!(ids.len(), 5, "{out}\n{err}");
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 5, "five distinct ids: {out}");
    let closed = s.refused("ana", Some(PASSWORD), "BEGIN; DECLARE c CURSOR FOR SELECT 1; CLOSE c; FETCH 1 FROM c");
    assert!(closed.contains("cursor \"c\" does not exist"), "FETCH after CLOSE: {closed}");
    for client in ["psycopg", "pandas"] {
        assert_eq!(fetched[client]["rows"].as_u64(), Some(rows as u64), "{fetched}");
        report(&format!(
            "{client}: {rows} rows x {t_columns} columns in {:.2} s = {:.0} rows/s",
            fetched[client]["seconds"].as_f64().unwrap(),
            fetched[client]["rows_per_second"].as_f64().unwrap()
        ));
    }

    assert!(fetched["cancel"]["seconds"].as_f64().is_some_and(|t| t < 10.0), "cancel: {fetched}");
    assert_eq!(fetched["after_cancel"], 1);
    report(&format!(
        "cancel: psycopg's cancel request ended a running query after {:.1} s",
        fetched["cancel"]["seconds"].as_f64().unwrap()
    ));

    // One connection's query over the memory limit fails with a clear
    // message; another connection's query at the same time succeeds.
    let heavy = "SELECT * FROM police_asb_log ORDER BY record_id DESC";
    let light = "SELECT category, count(*) FROM police_asb_log GROUP BY category ORDER BY category";
    let (h, l) = std::thread::scope(|sc| {
        let h = sc.spawn(|| s.psql("ana", Some(PASSWORD), heavy));
        std::thread::sleep(Duration::from_millis(50));
        let l = sc.spawn(|| s.psql("ana", Some(PASSWORD), light));
        (h.join().unwrap(), l.join().unwrap())
    });
    let err = String::from_utf8_lossy(&h.stderr);
    assert!(!h.status.success() && err.contains("memory limit of 64 MiB"), "heavy query: {err}");
    assert!(l.status.success(), "light query: {}", String::from_utf8_lossy(&l.stderr));
    assert!(String::from_utf8_lossy(&l.stdout).contains("nuisance,333333"), "{}", String::from_utf8_lossy(&l.stdout));
    // The server is still serving.
    assert_eq!(s.rows("ana", "SELECT count(*) FROM police_asb_log")[1][0], rows.to_string());
    let audit = s.audit_until("the failed heavy query", |r| {
        r.iter().any(|x| x.status == Status::Error && x.error.as_deref().is_some_and(|e| e.starts_with("53200")))
    });
    assert!(audit.iter().all(|x| x.user.as_deref() == Some("ana")));
    report(&format!("memory limit: {heavy:?} failed cleanly (SQLSTATE 53200, 64 MiB) while a second connection's query succeeded"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_when_configured_and_no_clear_text_listening_off_loopback() {
    if !clients_available() {
        return;
    }
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();

    let out =
        Command::new(env!("CARGO_BIN_EXE_vru")).arg("--data-dir").arg(&data).args(["serve", "--listen", "0.0.0.0:0"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("refusing to listen on 0.0.0.0:0 without TLS"), "{err}");

    let (cert, key) = (dir.path().join("server.crt"), dir.path().join("server.key"));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output();
    if !made.is_ok_and(|o| o.status.success()) {
        eprintln!("SKIPPED the TLS half: openssl cannot make a test certificate here");
        return;
    }
    add_user(&data, "ana", "analyst", None);
    let s = Served::start(&data, &["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()], &[]);
    let out = Command::new("psql")
        .arg(format!("host={} port={} user=ana dbname=vru sslmode=require", s.host, s.port))
        .args(["-w", "-X", "-c", "\\conninfo", "-c", "SELECT count(*) FROM measure_h1"])
        .env("PGPASSWORD", PASSWORD)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("SSL connection"),
        "{text}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        s.server_log()
    );
    report(
        "TLS: psql sslmode=require connects to `vru serve --tls-cert --tls-key`; a non-loopback --listen without TLS is refused at start",
    );
}
