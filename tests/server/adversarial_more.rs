//! The rest of tests/server_adversarial.rs: memory, audit, accounts, the
//! lower-priority findings, the fuzz test and the soak.

use super::*;

#[test]
fn f6_memory_is_bounded_for_the_whole_service() {
    if !clients_available() {
        return;
    }
    let _s = serial();
    let data = data_dir();
    let s = Served::start(data.path(), LIMITS, &[]);
    let base = s.rss_mb();
    s.reset_peak();
    let mut doubling = "WITH s0 AS (SELECT repeat('x', 1024) AS s FROM range(64))".to_string();
    for i in 1..=20 {
        doubling.push_str(&format!(", s{i} AS (SELECT s || s AS s FROM s{})", i - 1));
    }
    doubling.push_str(" SELECT sum(length(s)) FROM s20");
    for (what, sql) in [
        ("repeat", "SELECT length(repeat('x', 600000000))".to_string()),
        ("repeat per row", "SELECT sum(length(repeat('x', CAST(10000000 + value AS INT)))) FROM range(100)".to_string()),
        ("lpad", "SELECT length(lpad('x', 600000000, 'yz'))".to_string()),
        ("replace", "SELECT length(replace(repeat('a', 30000), '', repeat('b', 30000)))".to_string()),
        ("range", "SELECT cardinality(range(1, 10000000000))".to_string()),
        ("|| doubling", doubling),
        (
            "window",
            "SELECT max(r) FROM (SELECT row_number() OVER (ORDER BY (value * 7919) % 30000001) AS r FROM range(30000000)) t".to_string(),
        ),
        ("unnest", "SELECT sum(length(s)) FROM (SELECT repeat('x', 500) AS s, unnest(range(1, 2000000)) AS u FROM range(1)) t".to_string()),
        ("sort", "SELECT max(v) FROM (SELECT (value * 7919) % 40000001 AS v FROM range(40000000) ORDER BY 1 DESC OFFSET 3) t".to_string()),
        ("hash", "SELECT count(*) FROM (SELECT DISTINCT (value * 7919) % 30000001 AS v FROM range(30000000)) t".to_string()),
    ] {
        let e = s.refused("ana", &sql);
        assert!(e.contains("53200") || e.contains("memory limit"), "{what}: {e}");
    }
    let e = s.refused("ana", "SELECT array_agg(value) OVER (ORDER BY value) FROM range(100000)");
    assert!(e.contains("not supported") && e.contains("window"), "{e}");
    let single = s.peak_mb();
    // Six connections each building a ~100 MB hash table: per query 128
    // MiB, 256 MiB in all.
    s.reset_peak();
    let sort = "SELECT count(*) FROM (SELECT DISTINCT (value * 7919) % 3000001 AS v FROM range(3000000)) t";
    let outs: Vec<_> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..6).map(|_| sc.spawn(|| s.psql("ana", sort))).collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok = outs.iter().filter(|o| o.status.success()).count();
    let busy = outs.iter().filter(|o| String::from_utf8_lossy(&o.stderr).contains("in use by other queries")).count();
    // Which limit a crowded query meets first, the service's or its own,
    // depends on timing (a CI run once saw 2 of 6 meet their own); both are
    // the same clean 53200 refusal.
    let own = outs.iter().filter(|o| String::from_utf8_lossy(&o.stderr).contains("per-query memory limit")).count();
    let other: Vec<String> = outs
        .iter()
        .filter(|o| !o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
        .filter(|e| !e.contains("in use by other queries") && !e.contains("per-query memory limit"))
        .collect();
    assert!(
        ok >= 1 && ok + busy + own == 6,
        "{ok} answered, {busy} refused for lack of service memory, {own} over their own limit, others: {other:?}"
    );
    let concurrent = s.peak_mb();
    report(&format!("f6: base {base} MB, single attacks peak {single} MB, six hashes peak {concurrent} MB"));
    s.assert_alive();
    // Each attack alone would take 0.6 to 1+ GB unchecked. Over 25 runs
    // their peak was +286 to +450 MB (allocations DataFusion does not
    // reserve, such as the batches between operators, vary with timing),
    // so the bound is twice the service's 256 MiB, not a tighter figure
    // that one run in twenty crosses.
    assert!(single < base + 2 * 256, "single attacks: peak {single} MB from {base} MB");
    // DataFusion's reservations undercount what a hash aggregation holds
    // (and the batches between operators hold none): one such query under
    // a 128 MiB limit takes about +150 MB RSS, two +320 MB, and the
    // refused ones held memory until refused. The bound is a multiple of
    // the service limit, not of the number of connections (which, with a
    // pool per connection, it was).
    assert!(concurrent < base + 3 * 256, "six hashes: peak {concurrent} MB from {base} MB with a 256 MiB service limit");
    s.audit_until("memory refusals", |r| r.iter().filter(|x| x.error.as_deref().unwrap_or("").starts_with("53200")).count() >= 10);
    report(&format!(
        "F6 memory: repeat 600 MB, per-row repeat, lpad, replace(''), range(1e10), || doubling, window over 30M rows, UNNEST fan-out (1 GB), 40M-row sort, \
         30M-group hash refused (53200), array_agg window refused (0A000): peak RSS +{} MB over {base} MB; six concurrent 3M-group hashes under 128 MiB/query, 256 MiB/service: {ok} answered, \
         {busy} refused as 'in use by other queries', {own} over their own limit, peak RSS +{} MB",
        single.saturating_sub(base),
        concurrent.saturating_sub(base)
    ));
}

#[test]
fn f7_the_audit_is_complete_and_written_first() {
    if !clients_available() {
        return;
    }
    let _s = serial();
    let data = data_dir();
    let s = Served::start(data.path(), LIMITS, &[]);
    // Extended protocol, as psycopg, JDBC and SQLAlchemy send queries.
    let ext = s.python("run", &["pat", "SELECT count(*) FROM measure_h1 WHERE period = %s", "[\"2023/24\"]"]);
    assert_eq!(ext["ok"], true, "{ext}");
    // A long comment in front of a refused statement.
    let comment = format!("/* {} */", "quarterly figures ".repeat(250));
    let hidden = format!("{comment} SELECT * FROM police_offences");
    assert!(s.refused("pat", &hidden).contains("permission denied for table police_offences"));
    let records = s.audit_until("both", |r| {
        r.iter().any(|x| x.kind == Kind::Query && x.query.as_deref().is_some_and(|q| q.contains("measure_h1 WHERE period")))
            && r.iter().any(|x| x.kind == Kind::Query && x.status == Status::Refused && x.tables == ["police_offences"])
    });
    let end = records.iter().find(|x| x.kind == Kind::Query && x.query.as_deref().is_some_and(|q| q.contains("measure_h1 WHERE"))).unwrap();
    assert_eq!(
        (end.tables.clone(), end.statements.clone(), end.rows, end.status),
        (vec!["measure_h1".to_string()], vec!["SELECT".to_string()], 1, Status::Ok)
    );
    let start_at = records.iter().position(|x| x.kind == Kind::QueryStart && x.query_id == end.query_id).expect("a query_start record");
    let end_at = records.iter().position(|x| std::ptr::eq(x, end)).unwrap();
    assert!(start_at < end_at, "query_start is written first");
    let refused = records.iter().find(|x| x.status == Status::Refused && x.tables == ["police_offences"]).unwrap();
    assert_eq!(refused.statements, ["SELECT"]);
    assert_eq!(refused.query_bytes, Some(hidden.len()));
    assert_eq!(refused.sha256.as_deref().map(str::len), Some(64));
    // Fail closed: the audit log cannot be written (moved away and a
    // directory in its place), so queries and logins are refused...
    std::fs::rename(&s.audit, s.audit.with_extension("jsonl.1")).unwrap();
    std::fs::create_dir(&s.audit).unwrap();
    let out = s.psql("ana", "SELECT 1");
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("audit log"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let held = raw_login(s.addr(), "ana", PASSWORD);
    assert!(held.is_err_and(|e| e.contains("audit log")), "a login without an audit record");
    // ...until it can again.
    std::fs::remove_dir(&s.audit).unwrap();
    s.assert_alive();
    assert!(s.audit_records().iter().any(|x| x.kind == Kind::Query && x.query.as_deref().is_some_and(|q| q.contains("SELECT 40 + 2"))));
    report(
        "F7 audit: extended-protocol queries recorded with their text and tables; query_start before query; a 4,500-character comment hides neither the statement kind nor its table; refusals carry tables, size and SHA-256; an unwritable log refuses queries and logins (58030) and rotation is followed",
    );
}

#[test]
fn f8_logins_are_throttled_and_user_names_stay_hidden_across_restarts() {
    if !clients_available() {
        return;
    }
    let _s = serial();
    let data = data_dir();
    let env = [("VRU_SERVER__FAILED_LOGINS_BEFORE_BACKOFF", "5")];
    let s = Served::start(data.path(), LIMITS, &env);
    let salts = (scram_salt(s.addr(), "nobody"), scram_salt(s.addr(), "ana"));
    let flood = s.python("logins", &["ana", "60"]);
    let answers = &flood["answers"];
    assert!(answers["backoff"].as_u64().unwrap_or(0) >= 40, "{flood}");
    assert!(answers["wrong password"].as_u64().unwrap_or(0) <= 12, "{flood}");
    // The real user is slowed too while the address backs off: it gets in
    // once the back-off ends.
    s.audit_until("throttled logins", |r| {
        r.iter().any(|x| x.kind == Kind::Login && x.error.as_deref().unwrap_or("").contains("backing off"))
    });
    s.stop();
    let s = Served::start(data.path(), LIMITS, &env);
    assert_eq!((scram_salt(s.addr(), "nobody"), scram_salt(s.addr(), "ana")), salts, "salts change across a restart");
    s.assert_alive();
    report(&format!(
        "F8 logins: 60 wrong passwords from one address: {} checked, {} refused by back-off ({:.0} attempts/s); an unknown user's salt is the same after a restart",
        answers["wrong password"],
        answers["backoff"],
        flood["attempts_per_second"].as_f64().unwrap()
    ));
}

#[test]
fn f8_removed_or_changed_users_lose_their_sessions_within_a_second() {
    if !clients_available() {
        return;
    }
    let _s = serial();
    let data = data_dir();
    add_user(data.path(), "bo", "analyst", None);
    let s = Served::start(data.path(), LIMITS, &[]);
    for (user, change) in [("bo", "remove"), ("ana", "publisher")] {
        let mut held = Command::new("python3")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/server/hostile.py"))
            .args(["held", &s.host, &s.port, user, "20"])
            .env("PGPASSWORD", PASSWORD)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = std::io::BufReader::new(held.stderr.take().unwrap());
        let mut line = String::new();
        std::io::BufRead::read_line(&mut err, &mut line).unwrap();
        assert_eq!(line.trim(), "ready");
        std::thread::sleep(Duration::from_millis(300));
        let at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        if change == "remove" {
            assert!(vru(data.path(), &["user", "remove", user], None).status.success());
        } else {
            add_user(data.path(), user, change, None);
        }
        let out = held.wait_with_output().unwrap();
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let after = r["ended_at"].as_f64().expect("the session was not ended") - at;
        assert!(after < 1.0, "{user}: ended {after:.2} s after the change: {r}");
        assert!(r["message"].as_str().unwrap_or("").contains("terminating connection"), "{r}");
        report(&format!("F8 accounts: {user}'s open session ended {:.2} s after `vru user {change}`", after));
    }
    s.alive_as("pat");
    s.audit_until("ended sessions", |r| {
        r.iter().filter(|x| x.kind == Kind::Connection && x.error.as_deref().unwrap_or("").contains("session ended")).count() >= 2
    });
}

#[test]
fn f8_tls_logins_bind_the_channel_and_limits_hold_inside_tls() {
    if !clients_available() {
        return;
    }
    let _s = serial();
    let data = data_dir();
    let (cert, key) = (data.path().join("server.crt"), data.path().join("server.key"));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output();
    if !made.is_ok_and(|o| o.status.success()) {
        eprintln!("SKIPPED: openssl cannot make a test certificate here");
        return;
    }
    let mut args = LIMITS.to_vec();
    args.extend(["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()]);
    let s = Served::start(data.path(), &args, &[]);
    // The statement on standard input: 600 kB is over the limit of one
    // command-line argument.
    let psql = |binding: &str, sql: &str| {
        let mut child = Command::new("psql")
            .arg(format!("host={} port={} user=ana dbname=vru sslmode=require channel_binding={binding}", s.host, s.port))
            .args(["-w", "-X", "-At", "-f", "-"])
            .env("PGPASSWORD", PASSWORD)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let sql = sql.to_string();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(sql.as_bytes());
        });
        let out = child.wait_with_output().unwrap();
        let _ = writer.join();
        out
    };
    let bound = psql("require", "SELECT 7");
    assert!(bound.status.success() && String::from_utf8_lossy(&bound.stdout).trim() == "7", "{}", String::from_utf8_lossy(&bound.stderr));
    let big = psql("prefer", &format!("SELECT '{}'", "x".repeat(600_000)));
    assert!(String::from_utf8_lossy(&big.stderr).contains("over the server's limit"), "{}", String::from_utf8_lossy(&big.stderr));
    s.assert_alive();
    report(
        "F8 TLS: psql channel_binding=require logs in with SCRAM-SHA-256-PLUS (tls-server-end-point); a 600 kB statement inside TLS is refused on the wire",
    );
}

#[test]
fn f8_explain_prepared_statements_q1_and_precomputed_measures() {
    if !clients_available() {
        return;
    }
    let _s = serial();
    let data = data_dir();
    let s = Served::start(data.path(), LIMITS, &[("VRU_SERVER__MAX_PREPARED_STATEMENTS", "50")]);
    // Partners and publishers: a logical plan, no files; analysts: files.
    let plan = format!("{:?}", s.rows("pat", "EXPLAIN SELECT * FROM own_police_offences"));
    assert!(!plan.contains(".parquet") && !plan.contains(lake().to_str().unwrap()), "{plan}");
    assert!(s.refused("pat", "EXPLAIN ANALYZE SELECT * FROM own_police_offences").contains("permission denied for EXPLAIN ANALYZE"));
    assert!(format!("{:?}", s.rows("ana", "EXPLAIN SELECT * FROM police_offences_log")).contains(".parquet"));
    // Prepared statements per connection are bounded.
    let p = s.python("prepare", &["ana", "80"]);
    assert_eq!((p["made"].as_u64(), p["sqlstate"].as_str(), p["after"].as_i64()), (Some(50), Some("53400"), Some(42)), "{p}");
    // measure_q1: a partner sees its own extracts, a publisher no file names.
    let q1 = s.rows("pat", "SELECT DISTINCT partner FROM measure_q1");
    assert_eq!(q1[1..], [["police-northshire"]], "{q1:?}");
    assert!(s.refused("pub", "SELECT file_name FROM measure_q1").contains("file_name"));
    assert!(s.rows("ana", "SELECT count(DISTINCT partner) FROM measure_q1")[1][0].parse::<u32>().unwrap() > 1);
    // Measures were computed before the snapshot was served: a partner's
    // and a publisher's first queries only read them.
    for user in ["pat", "pub"] {
        let t = Instant::now();
        s.rows(user, "SELECT count(*) FROM measure_h1");
        assert!(t.elapsed() < Duration::from_secs(2), "{user}'s first query took {:?}", t.elapsed());
    }
    s.assert_alive();
    report(
        "F8 lower: EXPLAIN for partners shows no lake files and EXPLAIN ANALYZE is analysts' only; the 51st prepared statement refused (53400) and the connection goes on; measure_q1 shows a partner its own extracts and a publisher no file names; partner and publisher first queries read precomputed measures",
    );
}

#[test]
fn fuzz_random_sql_is_answered_or_refused() {
    if !clients_available() {
        return;
    }
    let _s = serial();
    let data = data_dir();
    let s = Served::start(data.path(), &["--memory-limit", "128MiB", "--total-memory-limit", "256MiB", "--query-timeout", "3s"], &[]);
    let cases = env_number("VRU_TEST_FUZZ_CASES", 300);
    let seed = env_number("VRU_TEST_FUZZ_SEED", 9);
    let base = s.rss_mb();
    s.reset_peak();
    // Found by the fuzz: the type a client is told must be the type of the
    // rows it gets (a mixed CASE was described as int8 and sent as text),
    // with and without parameters.
    for (sql, params) in
        [("SELECT CASE WHEN NULL THEN 0 ELSE 'x' END AS c", "[]"), ("SELECT CASE WHEN NULL THEN 0 ELSE 'x' END AS c, %s AS p", "[5]")]
    {
        let r = s.python("run", &["ana", sql, params]);
        assert_eq!((r["ok"].as_bool(), r["rows"][0][0].as_str()), (Some(true), Some("x")), "{sql}: {r}");
    }
    let f = s.python("fuzz", &["ana", &seed.to_string(), &cases.to_string()]);
    assert_eq!(f["answered"].as_u64().unwrap() + f["refused"].as_u64().unwrap(), cases, "{f}");
    assert!(f["by_sqlstate"].get("XX000").is_none(), "an internal error: {f}");
    s.assert_alive();
    let peak = s.peak_mb();
    assert!(peak < base + 256 + 400, "peak RSS {peak} MB from {base} MB");
    report(&format!(
        "fuzz: {cases} random statements (seed {seed}) in {:.0} s: {} answered, {} refused {}, {} reconnects after a closed connection; peak RSS +{} MB; server up",
        f["seconds"].as_f64().unwrap(),
        f["answered"],
        f["refused"],
        f["by_sqlstate"],
        f["reconnects"],
        peak.saturating_sub(base)
    ));
}

#[test]
fn soak_well_behaved_clients_under_hostile_load() {
    if !clients_available() {
        return;
    }
    let _s = serial();
    let data = data_dir();
    let total_mb = 512;
    let s = Served::start(
        data.path(),
        &["--memory-limit", "128MiB", "--total-memory-limit", &format!("{total_mb}MiB"), "--query-timeout", "5s"],
        &[],
    );
    let secs = env_number("VRU_TEST_SOAK_SECS", 20);
    let year = s.rows("ana", "SELECT max(period) FROM data_years")[1][0].clone();
    let base = s.rss_mb();
    let calm = s.python("soak", &["ana", &(secs / 2).max(5).to_string(), "20", "0", &year]);
    s.reset_peak();
    let stormy = s.python("soak", &["ana", &secs.to_string(), "20", "5", &year]);
    let peak = s.peak_mb();
    assert_eq!(calm["error_count"], 0, "{calm}");
    assert_eq!(stormy["error_count"], 0, "well-behaved clients failed under hostile load: {stormy}");
    assert!(stormy["hostile"]["refused"].as_u64().unwrap() > 0, "{stormy}");
    s.assert_alive();
    let line = |v: &serde_json::Value| {
        format!(
            "{} queries, p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms",
            v["queries"],
            v["p50_ms"].as_f64().unwrap(),
            v["p95_ms"].as_f64().unwrap(),
            v["max_ms"].as_f64().unwrap()
        )
    };
    report(&format!(
        "soak {secs} s, 20 clients over {} measure views: alone {}; with 5 hostile clients {} (0 errors; hostile: {}); peak RSS {peak} MB (base {base} MB, service memory limit {total_mb} MiB)",
        calm["views"],
        line(&calm),
        line(&stormy),
        stormy["hostile"]
    ));
}
