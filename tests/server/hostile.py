"""Hostile and careless clients of `vru serve`, driven by tests/server_adversarial.rs.

    hostile.py run HOST PORT USER SQL [PARAMS_JSON]
        one statement over psycopg (the extended protocol, as psycopg, JDBC and
        SQLAlchemy send it); PARAMS_JSON binds parameters
    hostile.py bystander HOST PORT USER SECONDS
        one connection running SELECT 1 in a loop: its latencies
    hostile.py logins HOST PORT USER ATTEMPTS
        wrong-password logins as fast as possible: how many were answered how
    hostile.py held HOST PORT USER SECONDS
        one logged-in connection running SELECT 1 every 50 ms until it fails:
        when and how it ended (for a removed user)
    hostile.py idle HOST PORT USER COUNT SECONDS LOCAL_ADDRESS
        COUNT sockets from LOCAL_ADDRESS (127.0.0.2) that never log in: which
        were turned away at once, and when the others were closed
    hostile.py prepare HOST PORT USER COUNT
        COUNT different named prepared statements on one connection
    hostile.py fuzz HOST PORT USER SEED CASES
        random SQL from a grammar (deep expressions, long IN lists, nested
        subqueries, odd quoting, settings, writes), each answered or refused
    hostile.py soak HOST PORT USER SECONDS GOOD HOSTILE PERIOD
        GOOD clients running the measure views while HOSTILE clients run the
        attack set; latencies of the good ones, errors of both

The password comes from PGPASSWORD. Prints one JSON object on stdout.
"""

import json
import os
import random
import sys
import threading
import time

import psycopg


def connect(host, port, user, **kw):
    return psycopg.connect(host=host, port=int(port), user=user, dbname="vru", password=os.environ["PGPASSWORD"],
                           autocommit=True, connect_timeout=10, **kw)


def outcome(e):
    """SQLSTATE and first line of an error, or what happened to the connection."""
    state = getattr(e, "sqlstate", None)
    return {"sqlstate": state, "message": str(e).splitlines()[0] if str(e) else type(e).__name__}


def percentile(values, p):
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, max(0, round(p / 100 * (len(v) - 1))))]


def run(host, port, user, sql, params=None):
    start = time.perf_counter()
    try:
        with connect(host, port, user) as conn:
            cur = conn.execute(sql, json.loads(params) if params else None)
            rows = cur.fetchall() if cur.description is not None else []
            return {"ok": True, "rows": [list(map(str, r)) for r in rows[:5]], "row_count": len(rows),
                    "seconds": time.perf_counter() - start}
    except Exception as e:  # noqa: BLE001 - the outcome is the result
        return {"ok": False, **outcome(e), "seconds": time.perf_counter() - start}


def bystander(host, port, user, seconds):
    latencies, errors = [], []
    with connect(host, port, user) as conn:
        deadline = time.monotonic() + float(seconds)
        while time.monotonic() < deadline:
            t = time.perf_counter()
            try:
                conn.execute("SELECT 1").fetchone()
                latencies.append((time.perf_counter() - t) * 1000)
            except Exception as e:  # noqa: BLE001
                errors.append(outcome(e))
            time.sleep(0.02)
    return {"count": len(latencies), "errors": errors, "p50_ms": percentile(latencies, 50),
            "p95_ms": percentile(latencies, 95), "max_ms": max(latencies) if latencies else None}


def logins(host, port, user, attempts):
    start = time.perf_counter()
    answers = {}
    for _ in range(int(attempts)):
        try:
            psycopg.connect(host=host, port=int(port), user=user, dbname="vru", password="wrong-password!",
                            connect_timeout=10).close()
            key = "accepted"
        except Exception as e:  # noqa: BLE001
            text = str(e)
            key = ("backoff" if "too many failed logins" in text
                   else "wrong password" if "password authentication failed" in text else text.splitlines()[-1][:80])
        answers[key] = answers.get(key, 0) + 1
    seconds = time.perf_counter() - start
    return {"answers": answers, "seconds": seconds, "attempts_per_second": int(attempts) / seconds}


def held(host, port, user, seconds):
    conn = connect(host, port, user)
    print("ready", file=sys.stderr, flush=True)
    deadline = time.monotonic() + float(seconds)
    queries = 0
    while time.monotonic() < deadline:
        try:
            conn.execute("SELECT 1").fetchone()
            queries += 1
        except Exception as e:  # noqa: BLE001
            return {"ended_at": time.time(), "queries": queries, **outcome(e)}
        time.sleep(0.05)
    return {"ended_at": None, "queries": queries}


def idle(host, port, user, count, seconds, local):
    import socket
    socks, turned_away = [], []
    start = time.monotonic()
    for _ in range(int(count)):
        s = socket.socket()
        s.bind((local, 0))
        s.connect((host, int(port)))
        s.settimeout(0.3)
        try:
            first = s.recv(1)
            if first == b"E":
                turned_away.append(s.recv(4096).decode(errors="replace"))
                s.close()
                continue
        except socket.timeout:
            pass
        socks.append(s)
    closed_after = []
    deadline = start + float(seconds)
    for s in socks:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            while s.recv(4096):
                pass
            closed_after.append(time.monotonic() - start)
        except (socket.timeout, ConnectionResetError):
            closed_after.append(None if isinstance(sys.exc_info()[1], socket.timeout) else time.monotonic() - start)
        s.close()
    return {"held": len(socks), "turned_away": turned_away, "closed_after": closed_after}


def prepare(host, port, user, count):
    made = 0
    with connect(host, port, user) as conn:
        try:
            for i in range(int(count)):
                conn.execute(f"SELECT {i} AS n", prepare=True).fetchone()
                made += 1
        except Exception as e:  # noqa: BLE001
            return {"made": made, **outcome(e), "after": conn.execute("SELECT 42").fetchone()[0]}
    return {"made": made}


# The grammar of the fuzz test.
NAMES = ["value", "a.value", "\"value\"", "t.\"VALUE\"", "x"]
TABLES = ["range(50) t", "range(10) a", "(SELECT value, value * 2 AS x FROM range(20)) t", "measure_h1",
          "\"measure_h1\"", "police_offences", "\"Police_Offences\"", "pg_catalog.pg_class", "no_such_table"]


def expr(r, depth):
    if depth <= 0 or r.random() < 0.25:
        return r.choice(["1", "0", "NULL", "'x'", "'a''b'", "E'\\\\x'", "value", "1.5e3", "TRUE", "'2024-01-01'::date",
                         "$$dollar$$", "-9223372036854775808"])
    kind = r.randrange(12)
    if kind == 0:
        return "(" + " + ".join(expr(r, 0) for _ in range(r.choice([2, 50, 500, 1500]))) + ")"
    if kind == 1:
        return "(" + " OR ".join(f"value = {r.randrange(9999)}" for _ in range(r.choice([2, 100, 3000]))) + ")"
    if kind == 2:
        return f"value IN ({', '.join(str(r.randrange(10**6)) for _ in range(r.choice([1, 10, 1000, 20000])))})"
    if kind == 3:
        inner = expr(r, depth - 1)
        for _ in range(r.choice([1, 5, 30, 70])):
            inner = f"(SELECT {inner})"
        return inner
    if kind == 4:
        return f"({expr(r, depth - 1)} {r.choice(['+', '-', '*', '/', '%', '||', 'AND', 'OR', '=', '<>', '<'])} {expr(r, depth - 1)})"
    if kind == 5:
        f = r.choice(["repeat", "lpad", "rpad", "upper", "length", "abs", "coalesce", "concat", "md5", "replace"])
        if f in ("repeat", "lpad", "rpad"):
            return f"{f}({expr(r, depth - 1)}, {r.choice(['3', '100000000', '-1', 'value'])})"
        if f == "replace":
            return f"replace({expr(r, depth - 1)}, '', {expr(r, depth - 1)})"
        return f"{f}({expr(r, depth - 1)})"
    if kind == 6:
        return f"CASE WHEN {expr(r, depth - 1)} THEN {expr(r, depth - 1)} ELSE {expr(r, depth - 1)} END"
    if kind == 7:
        return f"CAST({expr(r, depth - 1)} AS {r.choice(['INT', 'TEXT', 'DOUBLE', 'DATE', 'BIGINT[]'])})"
    if kind == 8:
        return "(" * 60 + "1" + ")" * 60
    if kind == 9:
        return f"array_agg({expr(r, depth - 1)}) OVER (ORDER BY value)"
    if kind == 10:
        return f"cardinality(range(1, {r.choice(['10', '10000000000'])}))"
    return r.choice(NAMES)


def statement(r):
    kind = r.randrange(15)
    if kind == 14:
        return cursor_statement(r)
    if kind < 7:
        where = f" WHERE {expr(r, 3)}" if r.random() < 0.6 else ""
        return f"SELECT {expr(r, 3)} AS c FROM {r.choice(TABLES)}{where} LIMIT 5"
    if kind == 7:
        return " UNION ALL ".join(["SELECT 1"] * r.choice([2, 100, 2000]))
    if kind == 8:
        return r.choice(["SET \"datafusion.runtime.memory_limit\" = '1500M'", "SET datafusion.execution.batch_size = 1",
                         "SET application_name = 'fuzz'", "SET \"TimeZone\" = 'UTC'", "SET ROLE analyst",
                         "SHOW datafusion.runtime.temp_directory", "SET \"datafusion\".sql_parser.dialect = 'mysql'"])
    if kind == 9:
        return r.choice(["SELECT 1 INTO t", "CREATE TABLE t AS SELECT 1", "INSERT INTO measure_h1 SELECT * FROM measure_h1",
                         "COPY (SELECT 1) TO '/tmp/x'", "DROP TABLE measure_h1", "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'",
                         "WITH d AS (DELETE FROM measure_h1 RETURNING *) SELECT * FROM d", "PREPARE p AS SELECT 1",
                         "DECLARE c CURSOR FOR SELECT 1"])
    if kind == 10:
        return f"EXPLAIN {r.choice(['', 'ANALYZE ', 'VERBOSE '])}SELECT * FROM {r.choice(TABLES)}"
    if kind == 11:
        return f"/* {'x' * r.choice([10, 5000])} */ SELECT {expr(r, 2)}"
    if kind == 12:
        return "".join(r.choice("()'\"; \\$-+*/SELECTFROMWHERE,0123456789") for _ in range(r.randrange(1, 200)))
    return f"SELECT {expr(r, 4)}; SELECT {expr(r, 1)}"


def cursor_statement(r):
    """Cursor statements in any order: DECLAREs past the limit, FETCHes of
    closed or unknown cursors, backward and binary requests, transactions
    ending under them."""
    name = f"c{r.randrange(5)}"
    choice = r.randrange(8)
    if choice == 0:
        hold = r.choice(["", " WITH HOLD", " SCROLL", " BINARY", " NO SCROLL"])
        return f"DECLARE {name}{hold} CURSOR FOR SELECT {expr(r, 2)} AS c FROM {r.choice(TABLES)}"
    if choice == 1:
        return f"DECLARE {name} CURSOR FOR SELECT value FROM range({r.choice([10, 100000, 100000000])})"
    if choice in (2, 3):
        return f"FETCH {r.choice(['', 'NEXT ', '5 ', 'FORWARD 1000 ', 'ALL ', 'BACKWARD 2 ', 'ABSOLUTE 3 ', '0 ', '-1 '])}FROM {name}"
    if choice == 4:
        return f"CLOSE {r.choice([name, 'ALL'])}"
    return r.choice(["BEGIN", "COMMIT", "ROLLBACK", "DISCARD ALL"])


def fuzz(host, port, user, seed, cases):
    r = random.Random(int(seed))
    answered, refused, reconnects, by_state, examples = 0, 0, 0, {}, {}
    conn = connect(host, port, user)
    start = time.perf_counter()
    for i in range(int(cases)):
        sql = statement(r)
        try:
            cur = conn.execute(sql, prepare=False)
            if cur.description is not None:
                cur.fetchall()
            answered += 1
        except psycopg.Error as e:
            refused += 1
            by_state[e.sqlstate or "none"] = by_state.get(e.sqlstate or "none", 0) + 1
            examples.setdefault(e.sqlstate or "none", f"{sql[-300:]} -> {str(e)[:600]}")
            if not conn.closed and conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
                # A failed transaction (after a fuzzed BEGIN) would refuse
                # every later case alike: end it, keep fuzzing.
                conn.execute("ROLLBACK")
            if conn.closed or conn.broken:
                # Closed by the server (an oversized statement): fine, if it
                # is still there for the next one.
                reconnects += 1
                conn = connect(host, port, user)
    conn.close()
    return {"cases": int(cases), "answered": answered, "refused": refused, "reconnects": reconnects,
            "by_sqlstate": by_state, "examples": examples, "seconds": time.perf_counter() - start}


# What the hostile soak clients send, in turn.
ATTACKS = [
    "SELECT " + "+".join(["1"] * 2000),
    "SELECT count(*) FROM range(100) WHERE " + " OR ".join(f"value = {i}" for i in range(3000)),
    "SET \"datafusion.runtime.memory_limit\" = '1500M'",
    "SELECT count(*) FROM range(100000) a, range(100000) b WHERE a.value * 3 + b.value = 7",
    "SELECT 1 INTO planted",
    "SELECT length(repeat('x', 600000000))",
    "SELECT sum(length(lpad('x', 1000000))) FROM range(2000)",
    "SELECT count(*) FROM (SELECT row_number() OVER (ORDER BY value DESC) FROM range(30000000)) t",
    "SELECT value FROM range(100000000) ORDER BY value DESC LIMIT 1 OFFSET 5",
    "/* " + "x" * 4000 + " */ SELECT * FROM police_offences",
    "SELECT * FROM " + "(" * 60 + "SELECT 1" + ")" * 60,
]


def soak(host, port, user, seconds, good, hostile, period):
    with connect(host, port, user) as conn:
        views = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'measure_%' ORDER BY table_name").fetchall()]
        with_period = {r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.columns WHERE table_name LIKE 'measure_%' AND column_name = 'period'").fetchall()}
    queries = [(f"SELECT * FROM {v} WHERE period = %s", (period,)) if v in with_period else (f"SELECT * FROM {v}", None)
               for v in views]
    lock = threading.Lock()
    latencies, good_errors, bad = [], [], {"ran": 0, "refused": 0, "failed": 0, "reconnects": 0}
    deadline = time.monotonic() + float(seconds)

    def good_client(i):
        try:
            conn = connect(host, port, user)
        except Exception as e:  # noqa: BLE001
            with lock:
                good_errors.append(f"connect: {e}")
            return
        n = i
        while time.monotonic() < deadline:
            sql, params = queries[n % len(queries)]
            n += 1
            t = time.perf_counter()
            try:
                conn.execute(sql, params).fetchall()
                with lock:
                    latencies.append((time.perf_counter() - t) * 1000)
            except Exception as e:  # noqa: BLE001
                with lock:
                    good_errors.append(f"{sql}: {str(e).splitlines()[0]}")
        conn.close()

    def hostile_client(i):
        n = i
        conn = None
        while time.monotonic() < deadline:
            try:
                if conn is None or conn.closed or conn.broken:
                    conn = connect(host, port, user)
                    with lock:
                        bad["reconnects"] += 1
                cur = conn.execute(ATTACKS[n % len(ATTACKS)], prepare=False)
                if cur.description is not None:
                    cur.fetchall()
                with lock:
                    bad["ran"] += 1
            except psycopg.Error as e:
                with lock:
                    bad["refused" if e.sqlstate else "failed"] += 1
            except Exception:  # noqa: BLE001
                with lock:
                    bad["failed"] += 1
            n += 1

    threads = [threading.Thread(target=good_client, args=(i,)) for i in range(int(good))]
    threads += [threading.Thread(target=hostile_client, args=(i,)) for i in range(int(hostile))]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - start
    return {"views": len(views), "queries": len(latencies), "errors": good_errors[:20], "error_count": len(good_errors),
            "p50_ms": percentile(latencies, 50), "p95_ms": percentile(latencies, 95),
            "max_ms": max(latencies) if latencies else None, "queries_per_second": len(latencies) / wall, "hostile": bad}


def main():
    mode, host, port, user, *rest = sys.argv[1:]
    result = {
        "run": run, "bystander": bystander, "logins": logins, "held": held, "idle": idle, "prepare": prepare, "fuzz": fuzz, "soak": soak,
    }[mode](host, port, user, *rest)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
