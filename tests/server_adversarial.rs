//! `vru serve` against hostile and careless clients (issue 9): one test per
//! finding and its variants. Each checks that the server is still up and
//! serving a new session afterwards, that the limit held (peak RSS and CPU
//! time read from /proc for the server process), and what the audit log
//! recorded. Figures go to `<target tmp>/server-adversarial.txt`.
//!
//! The fuzz test runs `VRU_TEST_FUZZ_CASES` cases (300 by default) and the
//! soak `VRU_TEST_SOAK_SECS` seconds (20 by default; the note reports a
//! 10-minute run).

mod common;
#[path = "server/harness.rs"]
mod harness;

use harness::*;
use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};
use vru_ingest::lake::Lake;
use vru_server::audit::{Kind, Status};

/// One test at a time: they measure memory and CPU on two cores.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// Limits small enough to reach in a test.
const LIMITS: &[&str] = &["--memory-limit", "128MiB", "--total-memory-limit", "256MiB", "--query-timeout", "8s"];

fn sum_or(n: usize, sep: &str, term: impl Fn(usize) -> String) -> String {
    (0..n).map(term).collect::<Vec<_>>().join(sep)
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
fn f1_deep_and_long_statements_are_refused_or_answered_never_fatal() {
    if !clients_available() {
        return;
    }
    let _s = serial();
    let data = data_dir();
    let s = Served::start(data.path(), LIMITS, &[]);
    let base = s.rss_mb();
    s.reset_peak();
    let started = Instant::now();
    // Refused with 54001: a 2,000-term sum, 2,000 UNIONs, 60 parentheses.
    for sql in [
        format!("SELECT {}", sum_or(2000, "+", |_| "1".into())),
        sum_or(2000, " UNION ALL ", |_| "SELECT 1".into()),
        format!("SELECT {}1{}", "(".repeat(60), ")".repeat(60)),
        format!("SELECT count(*) FROM range(10) WHERE value IN ({})", sum_or(120_000, ",", |_| "1".into())),
    ] {
        let e = s.refused("ana", &sql);
        assert!(e.contains("statement too complex"), "{e}");
    }
    // The same over the extended protocol (psycopg, with a parameter).
    let ext = s.python("run", &["ana", &format!("SELECT {} + %s", sum_or(2000, "+", |_| "1".into())), "[1]"]);
    assert_eq!(ext["sqlstate"], "54001", "{ext}");
    // Answered: what BI tools generate for a multi-select, and long ANDs.
    let ors = sum_or(3000, " OR ", |i| format!("record_id = 'v{i}'"));
    assert_eq!(s.rows("ana", &format!("SELECT count(*) FROM police_offences WHERE {ors}"))[1], ["0"]);
    let t = Instant::now();
    let ands = sum_or(5000, " AND ", |i| format!("record_id <> 'v{i}'"));
    let n = s.rows("ana", &format!("SELECT count(*) FROM police_offences_log WHERE {ands}"))[1][0].parse::<u64>().unwrap();
    assert!(n > 0);
    let and_secs = t.elapsed().as_secs_f64();
    assert_eq!(
        s.rows("ana", &format!("SELECT count(*) FROM range(100) WHERE value IN ({})", sum_or(20_000, ",", |i| i.to_string())))[1],
        ["100"]
    );
    s.assert_alive();
    let peak = s.peak_mb();
    assert!(peak < base + 400, "peak RSS {peak} MB from {base} MB");
    let refused = s.audit_until("the refusals", |r| {
        r.iter()
            .filter(|x| x.kind == Kind::Query && x.status == Status::Refused && x.error.as_deref().unwrap_or("").starts_with("54001"))
            .count()
            >= 4
    });
    assert!(refused.iter().any(|x| x.statements == ["SELECT"] && x.error.as_deref().unwrap_or("").starts_with("54001")));
    report(&format!(
        "F1 deep statements: 2,000-term sum, 2,000 UNIONs, 60 parentheses, 120,000-value IN refused (54001, simple and extended protocol); \
         3,000-term OR and 20,000-value IN answered; a 5,000-condition AND answered in {and_secs:.1} s; peak RSS +{} MB; {:.1} s in all",
        peak.saturating_sub(base),
        started.elapsed().as_secs_f64()
    ));
}

#[test]
fn f2_oversized_messages_are_refused_before_they_are_buffered() {
    if !clients_available() {
        return;
    }
    let _s = serial();
    let data = data_dir();
    let s = Served::start(data.path(), LIMITS, &[]);
    let base = s.rss_mb();
    s.reset_peak();
    // Before login: a startup packet, then a Query declaring 1 GiB.
    let mut raw = std::net::TcpStream::connect(s.addr()).unwrap();
    raw.write_all(&startup("ana")).unwrap();
    let before_login = stream_oversized(&mut raw, b'Q', 1 << 30, 400 << 20);
    // After login: a Query declaring 100 MiB, over the 256 KiB limit.
    let mut logged_in = raw_login(s.addr(), "ana", PASSWORD).unwrap();
    let after_login = stream_oversized(&mut logged_in, b'Q', 100 << 20, 200 << 20);
    let said = read_message(&mut logged_in).map(|(_, b)| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
    assert!(said.contains("over the server's limit"), "{said:?}");
    // Over psql: a 300 kB statement, one byte over the limit, the limit.
    let big = format!("SELECT '{}'", "x".repeat(300_000));
    assert!(s.refused("ana", &big).contains("over the server's limit"));
    // "SELECT length('" + x... + "')": exactly max_statement_bytes.
    let fill = (256 << 10) - "SELECT length('')".len();
    let just = format!("SELECT length('{}')", "x".repeat(fill));
    assert!(s.refused("ana", &format!("{just} ")).contains("over the server's limit"), "one byte over");
    assert_eq!(s.rows("ana", &just)[1], [fill.to_string()]);
    s.assert_alive();
    let peak = s.peak_mb();
    assert!(before_login < 64 << 20 && after_login < 64 << 20, "accepted {before_login} and {after_login} bytes");
    assert!(peak < base + 100, "peak RSS {peak} MB from {base} MB");
    s.audit_until("the refused messages", |r| {
        let has = |t: &str| r.iter().any(|x| x.kind == Kind::Connection && x.error.as_deref().unwrap_or("").contains(t));
        has("before login is over the limit") && has("max_statement_bytes")
    });
    report(&format!(
        "F2 oversized messages: a 1 GiB Query before login closed after {} MiB were sent (400 MiB tried), a 100 MiB one after login after {} MiB; \
         a 300 kB statement refused (54000); peak RSS +{} MB",
        before_login >> 20,
        after_login >> 20,
        peak.saturating_sub(base)
    ));
}

#[test]
fn f2_idle_sockets_time_out_and_cannot_lock_others_out() {
    if !clients_available() {
        return;
    }
    let _s = serial();
    let data = data_dir();
    let env =
        [("VRU_SERVER__MAX_CONNECTIONS", "8"), ("VRU_SERVER__MAX_CONNECTIONS_PER_ADDRESS", "4"), ("VRU_SERVER__STARTUP_TIMEOUT", "2s")];
    let s = Served::start(data.path(), LIMITS, &env);
    let idle = std::thread::scope(|sc| {
        let idle = sc.spawn(|| s.python("idle", &["ana", "6", "6", "127.0.0.2"]));
        std::thread::sleep(Duration::from_millis(1500));
        // A real user from another address while the idle ones wait.
        s.assert_alive();
        idle.join().unwrap()
    });
    assert_eq!(idle["held"], 4, "{idle}");
    assert!(idle["turned_away"].as_array().unwrap().iter().all(|t| t.as_str().unwrap().contains("too many connections from this address")));
    for t in idle["closed_after"].as_array().unwrap() {
        assert!(t.as_f64().is_some_and(|t| t < 3.5), "an idle socket was not closed by the startup timeout: {idle}");
    }
    s.assert_alive();
    s.audit_until("slot refusals and timeouts", |r| {
        let has = |t: &str| r.iter().any(|x| x.kind == Kind::Connection && x.error.as_deref().unwrap_or("").contains(t));
        has("too many connections from this address") && has("startup timeout")
    });
    report(&format!(
        "F2 idle sockets: 4 of 6 held from one address (2 turned away, audited), each closed after {:.1}-{:.1} s (startup timeout 2 s); another address logged in meanwhile",
        idle["closed_after"].as_array().unwrap().iter().filter_map(|v| v.as_f64()).fold(f64::MAX, f64::min),
        idle["closed_after"].as_array().unwrap().iter().filter_map(|v| v.as_f64()).fold(0.0, f64::max)
    ));
}

#[test]
fn f3_settings_cannot_lift_the_limits() {
    if !clients_available() {
        return;
    }
    let _s = serial();
    let data = data_dir();
    let s = Served::start(data.path(), LIMITS, &[]);
    for (user, sql) in [
        ("ana", "SET \"datafusion.runtime.memory_limit\" = '1500M'"),
        ("ana", "SET datafusion.runtime.memory_limit = '1500M'"),
        ("pat", "SET \"datafusion\".\"runtime\".\"temp_directory\" = '/tmp/spill'"),
        ("pub", "SET \"datafusion.sql_parser.dialect\" = 'mysql'"),
        ("ana", "SET LOCAL \"datafusion.execution.batch_size\" = 1"),
        ("ana", "SET datafusion.runtime.memory_limit TO DEFAULT"),
    ] {
        let e = s.refused(user, sql);
        assert!(e.contains("permission denied to set"), "{sql}: {e}");
    }
    let ext = s.python("run", &["ana", "SET \"datafusion.runtime.memory_limit\" = '1500M'"]);
    assert_eq!(ext["sqlstate"], "42501", "{ext}");
    // In one session: the refused SET, then a query over the memory limit.
    let out = s.psql("ana", "\\set ON_ERROR_STOP 0\nSET \"datafusion.runtime.memory_limit\" = '1500M';\nSELECT count(*) FROM (SELECT DISTINCT (value * 7919) % 30000001 AS v FROM range(30000000)) t;\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("permission denied to set") && err.contains("memory limit of 128 MiB"), "{err}");
    // What clients send on connect still works, and SHOW reads no server setting.
    assert!(s.rows("pat", "SET application_name = 'DBeaver'; SET extra_float_digits = 3; SHOW search_path").len() >= 2);
    let shown = s.rows("ana", "SHOW datafusion.runtime.temp_directory");
    assert!(!format!("{shown:?}").contains('/'), "{shown:?}");
    s.assert_alive();
    s.audit_until("refused settings", |r| r.iter().filter(|x| x.status == Status::Refused && x.statements == ["SET"]).count() >= 7);
    report(
        "F3 settings: quoted, unquoted, schema-split and LOCAL SETs of datafusion.* refused (42501, both protocols) for every role; the memory limit held after",
    );
}

#[test]
fn f4_the_time_limit_ends_cpu_bound_work_and_bystanders_wait_little() {
    if !clients_available() {
        return;
    }
    let _s = serial();
    let data = data_dir();
    let s = Served::start(data.path(), &["--memory-limit", "128MiB", "--total-memory-limit", "256MiB", "--query-timeout", "4s"], &[]);
    let quiet = s.python("bystander", &["ana", "3"]);
    let heavy = [
        "SELECT count(*) FROM range(200000) a, range(200000) b WHERE a.value * 3 + b.value = 7",
        "SELECT count(*) FROM range(3000) a, range(3000) b, range(3000) c",
        "SELECT count(*) FROM range(500000000) WHERE regexp_like(CAST(value AS VARCHAR), '(0|1)+7$')",
    ];
    for sql in heavy {
        let (out, by, cpu_after) = std::thread::scope(|sc| {
            let by = sc.spawn(|| s.python("bystander", &["ana", "6"]));
            std::thread::sleep(Duration::from_millis(300));
            let t = Instant::now();
            let out = s.psql("ana", sql);
            let took = t.elapsed();
            let cpu = s.cpu_seconds();
            std::thread::sleep(Duration::from_secs(2));
            let by = by.join().unwrap();
            let cpu_after = s.cpu_seconds() - cpu;
            assert!(took < Duration::from_secs(6), "{sql}: {took:?}");
            (out, by, cpu_after)
        });
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("longer than the server's limit of 4 s"), "{sql}: {err}");
        // A query still running would spend ~4 s of CPU here (two cores for
        // 2 s). What is left is the cancelled query's last batches and the
        // bystander's own SELECT 1s: 0.2-0.8 s alone, 1.08 s once in CI
        // beside the other tests of this file, so the bound is 1.5 s.
        assert!(cpu_after < 1.5, "{sql}: {cpu_after:.2} s of CPU in the 2 s after the deadline");
        assert!(by["errors"].as_array().unwrap().is_empty(), "{by}");
        let max = by["max_ms"].as_f64().unwrap();
        assert!(max < 1500.0, "{sql}: a bystander's SELECT 1 waited {max} ms");
        report(&format!(
            "F4 {sql:.60}...: cancelled at 4 s, {cpu_after:.2} s CPU in the 2 s after; bystander SELECT 1 p50 {:.1} ms p95 {:.1} ms max {max:.0} ms (quiet: p50 {:.1} ms, max {:.0} ms)",
            by["p50_ms"].as_f64().unwrap(),
            by["p95_ms"].as_f64().unwrap(),
            quiet["p50_ms"].as_f64().unwrap(),
            quiet["max_ms"].as_f64().unwrap()
        ));
    }
    s.assert_alive();
    s.audit_until("the timeouts", |r| {
        r.iter().filter(|x| x.kind == Kind::Query && x.error.as_deref().unwrap_or("").starts_with("57014")).count() >= 3
    });
}

#[test]
fn f5_select_into_and_every_write_are_refused() {
    if !clients_available() {
        return;
    }
    let _s = serial();
    let data = data_dir();
    let s = Served::start(data.path(), LIMITS, &[]);
    for sql in [
        "SELECT * INTO measure_h1_corrected FROM measure_h1",
        "SELECT 1 AS x INTO TEMPORARY planted",
        "CREATE TABLE planted AS SELECT 1",
        "CREATE VIEW planted AS SELECT 1",
        "INSERT INTO measure_h1 SELECT * FROM measure_h1",
        "WITH d AS (DELETE FROM measure_h1 RETURNING *) SELECT * FROM d",
        "COPY (SELECT 1) TO '/tmp/planted.csv'",
        "CREATE EXTERNAL TABLE planted STORED AS CSV LOCATION '/etc/passwd'",
        "DROP TABLE measure_h1",
    ] {
        for user in ["ana", "pat"] {
            let e = s.refused(user, sql);
            // DataFusion's CREATE EXTERNAL TABLE is not even PostgreSQL syntax.
            assert!(e.contains("read-only") || e.contains("parser error"), "{user}: {sql}: {e}");
        }
    }
    let ext = s.python("run", &["ana", "SELECT * INTO measure_h1_corrected FROM measure_h1 WHERE period = %s", "[\"2023/24\"]"]);
    assert_eq!(ext["sqlstate"], "25006", "{ext}");
    // Nothing was planted: another session does not see it.
    for t in ["measure_h1_corrected", "planted"] {
        assert!(s.refused("ana", &format!("SELECT * FROM {t}")).contains("not found"));
    }
    s.assert_alive();
    let r = s.audit_until("refused writes with their tables", |r| {
        r.iter().any(|x| x.status == Status::Refused && x.error.as_deref().unwrap_or("").starts_with("25006") && x.tables == ["measure_h1"])
    });
    assert!(r.iter().any(|x| x.status == Status::Refused && x.statements == ["CREATE TABLE"]));
    report(
        "F5 writes: SELECT INTO (simple and extended), CTAS, CREATE VIEW, INSERT, data-modifying CTE, COPY, CREATE EXTERNAL TABLE, DROP refused (25006) for analyst and partner; nothing planted",
    );
}

/// Two `vru serve` replicas over one lake (two data directories sharing
/// it, as two machines share object storage) give every role the same
/// answer to every view it can see: the same rows, or the same refusal.
/// With an S3 store (scripts/test), a third replica serves a copy of the
/// lake from the bucket (`--lake s3://...`) and must answer the same too.
#[test]
fn two_replicas_over_one_lake_answer_the_same() {
    if !clients_available() {
        return;
    }
    let _s = serial();
    let (a, b, c) = (data_dir(), data_dir(), data_dir());
    let mut replicas = vec![Served::start(a.path(), &[], &[]), Served::start(b.path(), &[], &[])];
    if let Some(s3) = common::s3::S3::from_env() {
        let address = s3.address("replica");
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        rt.block_on(common::s3::upload(lake(), &Lake::at(&address).unwrap()));
        replicas.push(Served::start(c.path(), &["--lake", &address], &[]));
    }
    let answer = |s: &Served, user: &str, sql: &str| {
        let out = s.psql(user, sql);
        let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect();
        lines.sort();
        (out.status.success(), lines, String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let first = &replicas[0];
    let mut compared = 0;
    for user in ["ana", "pat", "pub"] {
        let list = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'VIEW' ORDER BY 1";
        let views = first.rows(user, list);
        assert!(views.iter().any(|v| v[0].starts_with("measure_")), "{user}: {views:?}");
        for (i, other) in replicas.iter().enumerate().skip(1) {
            assert_eq!(views, other.rows(user, list), "{user} sees other views on replica {i}");
            for v in &views[1..] {
                let sql = format!("SELECT * FROM \"{}\"", v[0]);
                let (x, y) = (answer(first, user, &sql), answer(other, user, &sql));
                let differ = x.1.iter().zip(&y.1).find(|(p, q)| p != q);
                assert!(
                    x == y,
                    "{user}: {sql} on replica {i}: {} and {} rows, ok {} and {}, first difference {differ:?}",
                    x.1.len(),
                    y.1.len(),
                    x.0,
                    y.0
                );
                compared += x.1.len();
            }
        }
    }
    report(&format!("{} replicas (one on S3 if present): {compared} rows compared across 3 roles, all equal", replicas.len()));
    assert!(compared > 1_000, "{compared} rows");
    for r in &replicas {
        r.assert_alive();
    }
}

#[path = "server/adversarial_more.rs"]
mod more;
