"""Python clients of `vru serve`, driven by tests/server.rs.

    clients.py fetch HOST PORT USER SQL       psycopg and pandas.read_sql fetch SQL's rows
    clients.py load HOST PORT USER CLIENTS SECONDS PERIOD
                                              CLIENTS connections each run the measure
                                              views in turn for SECONDS
    clients.py catalog HOST PORT USER TABLE   the catalog queries DBeaver sends on
                                              connect and when browsing TABLE, over the
                                              extended protocol as its JDBC driver does

The password comes from the PGPASSWORD environment variable (never argv).
Prints one JSON object on stdout.
"""

import json
import os
import resource
import sys
import threading
import time
import warnings

import pandas
import psycopg


def connect(host, port, user):
    return psycopg.connect(host=host, port=int(port), user=user, dbname="vru", password=os.environ["PGPASSWORD"], autocommit=True)


def named_cursor(host, port, user, sql, batch):
    """psycopg's server-side cursor, as an analyst pages through a result
    too big for memory: DECLARE, describe, FETCH FORWARD in batches, CLOSE
    and COMMIT, in a transaction (psycopg's default). Runs first, so the
    client's peak RSS is measured before any fetchall."""
    conn = psycopg.connect(host=host, port=int(port), user=user, dbname="vru", password=os.environ["PGPASSWORD"])
    start = time.perf_counter()
    rows, fetches, first = 0, 0, None
    with conn.cursor(name="vru_pages") as cur:
        cur.execute(sql)
        columns = [d.name for d in cur.description]
        while True:
            page = cur.fetchmany(batch)
            if not page:
                break
            first = first or page[0]
            rows += len(page)
            fetches += 1
    conn.commit()
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # With a parameter bound by the server, the default page size.
    with conn.cursor(name="vru_param") as cur:
        cur.execute("SELECT count(*) AS n FROM police_asb_log WHERE category = %s", ("nuisance",))
        nuisance = cur.fetchone()[0]
    conn.commit()
    # A WITHOUT HOLD cursor ends with its transaction, as in PostgreSQL.
    gone = None
    cur = conn.cursor(name="vru_gone")
    cur.execute("SELECT 1")
    conn.commit()
    try:
        conn.execute('FETCH 1 FROM "vru_gone"')
    except psycopg.errors.InvalidCursorName as e:
        gone = str(e).splitlines()[0]
    conn.rollback()
    conn.close()
    return {"rows": rows, "fetches": fetches, "columns": len(columns), "first": [str(v) for v in first], "seconds": seconds,
            "rows_per_second": rows / seconds, "client_peak_mb": peak_mb, "nuisance": nuisance, "after_commit": gone}


def fetch(host, port, user, sql):
    out = {"named_cursor": named_cursor(host, port, user, sql, 10000)}
    with connect(host, port, user) as conn:
        start = time.perf_counter()
        with conn.cursor() as cur:
            cur.execute(sql)
            rows = cur.fetchall()
        seconds = time.perf_counter() - start
        out["psycopg"] = {"rows": len(rows), "seconds": seconds, "rows_per_second": len(rows) / seconds}
        del rows
        start = time.perf_counter()
        with warnings.catch_warnings():
            # pandas prefers SQLAlchemy but reads a DBAPI2 connection fine.
            warnings.simplefilter("ignore", UserWarning)
            frame = pandas.read_sql(sql, conn)
        seconds = time.perf_counter() - start
        out["pandas"] = {"rows": len(frame), "columns": len(frame.columns), "seconds": seconds, "rows_per_second": len(frame) / seconds}
        # A cancel request (what psql's Ctrl-C sends) ends a long query.
        timer = threading.Timer(1.0, conn.cancel_safe)
        timer.start()
        start = time.perf_counter()
        try:
            conn.execute("SELECT count(*) FROM range(100000000000)").fetchone()
            out["cancel"] = "not cancelled"
        except psycopg.errors.QueryCanceled as e:
            out["cancel"] = {"seconds": time.perf_counter() - start, "message": str(e).splitlines()[0]}
        timer.join()
        out["after_cancel"] = conn.execute("SELECT 1").fetchone()[0]
    out["client_peak_mb_after_fetchall"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def percentile(sorted_values, p):
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


def load(host, port, user, clients, seconds, period):
    with connect(host, port, user) as conn:
        views = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'measure_%' ORDER BY table_name").fetchall()]
        with_period = {r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.columns WHERE table_name LIKE 'measure_%' AND column_name = 'period'").fetchall()}
    queries = []
    for v in views:
        if v in with_period:
            queries.append((f"SELECT * FROM {v} WHERE period = %s", (period,)))
        else:
            queries.append((f"SELECT * FROM {v}", None))
    latencies, errors, lock = [], [], threading.Lock()
    deadline = time.monotonic() + seconds

    def client(i):
        try:
            conn = connect(host, port, user)
        except Exception as e:  # noqa: BLE001 - reported, not raised
            with lock:
                errors.append(f"client {i} connect: {e}")
            return
        n = i
        with conn:
            while time.monotonic() < deadline:
                sql, params = queries[n % len(queries)]
                n += 1
                start = time.perf_counter()
                try:
                    conn.execute(sql, params).fetchall()
                except Exception as e:  # noqa: BLE001
                    with lock:
                        errors.append(f"client {i} {sql}: {e}")
                    continue
                with lock:
                    latencies.append((time.perf_counter() - start) * 1000)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - started
    latencies.sort()
    return {
        "clients": clients,
        "seconds": wall,
        "views": len(views),
        "queries": len(latencies),
        "errors": errors[:20],
        "error_count": len(errors),
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "max_ms": latencies[-1] if latencies else None,
        "queries_per_second": len(latencies) / wall,
    }


# What DBeaver (pgjdbc) sends on connect and when a table is opened, in
# order; $oid placeholders are filled from earlier answers.
DBEAVER = [
    ("set extra_float_digits", "SET extra_float_digits = 3", None),
    ("set application_name", "SET application_name = 'DBeaver 25.1.5 - Main <vru>'", None),
    ("current schema and user", "SELECT current_schema(), session_user", None),
    ("server version", "SELECT version()", None),
    ("search path", "SHOW search_path", None),
    # DBeaver's "database" must be the session's catalog, `datafusion`.
    ("databases", "SELECT db.oid, db.* FROM pg_catalog.pg_database db WHERE datname = %s", ("datafusion",)),
    ("schemas", "SELECT n.oid, n.*, d.description FROM pg_catalog.pg_namespace n "
     "LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid = n.oid AND d.objsubid = 0 "
     "AND d.classoid = 'pg_namespace'::regclass ORDER BY nspname", None),
    ("public schema oid", "SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = 'public'", None),
    ("tables", "SELECT c.oid, c.*, d.description, pg_catalog.pg_get_expr(c.relpartbound, c.oid) AS partition_expr, "
     "pg_catalog.pg_get_partkeydef(c.oid) AS partition_key FROM pg_catalog.pg_class c "
     "LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid = c.oid AND d.objsubid = 0 AND d.classoid = 'pg_class'::regclass "
     "WHERE c.relnamespace = %s AND c.relkind NOT IN ('i', 'I', 'c')", "$namespace"),
    ("table oid", "SELECT c.oid FROM pg_catalog.pg_class c WHERE c.relname = %s", "$table"),
    ("columns", "SELECT c.relname, a.*, pg_catalog.pg_get_expr(ad.adbin, ad.adrelid, true) AS def_value, dsc.description "
     "FROM pg_catalog.pg_attribute a INNER JOIN pg_catalog.pg_class c ON (a.attrelid = c.oid) "
     "LEFT OUTER JOIN pg_catalog.pg_attrdef ad ON (a.attrelid = ad.adrelid AND a.attnum = ad.adnum) "
     "LEFT OUTER JOIN pg_catalog.pg_description dsc ON (c.oid = dsc.objoid AND a.attnum = dsc.objsubid) "
     "WHERE NOT a.attisdropped AND c.oid = %s ORDER BY a.attnum", "$oid"),
    ("constraints", "SELECT c.oid, c.*, t.relname AS tabrelname, rt.relnamespace AS refnamespace, d.description "
     "FROM pg_catalog.pg_constraint c INNER JOIN pg_catalog.pg_class t ON t.oid = c.conrelid "
     "LEFT OUTER JOIN pg_catalog.pg_class rt ON rt.oid = c.confrelid "
     "LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid = c.oid AND d.objsubid = 0 AND d.classoid = 'pg_constraint'::regclass "
     "WHERE c.conrelid = %s ORDER BY c.oid", "$oid"),
    ("indexes", "SELECT i.*, c.relname FROM pg_catalog.pg_index i INNER JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid "
     "WHERE i.indrelid = %s", "$oid"),
    ("information_schema columns", "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s", "$table"),
    ("data preview", "SELECT * FROM {table} LIMIT 200", None),
    ("row count", "SELECT count(*) FROM {table}", None),
]


def catalog(host, port, user, table):
    out, found = {}, {"$table": (table,)}
    with connect(host, port, user) as conn:
        for name, sql, params in DBEAVER:
            if isinstance(params, str):
                params = found.get(params)
            sql = sql.replace("{table}", table)
            try:
                cur = conn.execute(sql, params)
                rows = cur.fetchall() if cur.description is not None else []
            except Exception as e:  # noqa: BLE001 - each failure is reported
                out[name] = f"error: {str(e).splitlines()[0]}"
                continue
            out[name] = f"ok: {len(rows)} rows"
            if name == "public schema oid" and rows:
                found["$namespace"] = (rows[0][0],)
            if name == "table oid" and rows:
                found["$oid"] = (rows[0][0],)
            if name == "tables":
                out["tables include " + table] = any(table in map(str, r) for r in rows)
    return out


def watch(host, port, user, partner, want, seconds):
    """A BI tool's habit: one connection running the same server-side
    prepared statement until the lake's new rows show. Says "ready" on
    stderr once the statement is prepared, so the caller commits after."""
    sql = "SELECT count(*) FROM police_offences_log WHERE partner = %s"
    with connect(host, port, user) as conn:
        first = conn.execute(sql, (partner,), prepare=True).fetchone()[0]
        print("ready", file=sys.stderr, flush=True)
        start, last = time.time(), first
        while time.time() - start < float(seconds):
            last = conn.execute(sql, (partner,), prepare=True).fetchone()[0]
            if last == int(want):
                break
            time.sleep(0.2)
        return {"first": first, "last": last, "seconds": round(time.time() - start, 2)}


def main():
    mode = sys.argv[1]
    if mode == "fetch":
        result = fetch(*sys.argv[2:6])
    elif mode == "catalog":
        result = catalog(*sys.argv[2:6])
    elif mode == "watch":
        result = watch(*sys.argv[2:8])
    elif mode == "load":
        host, port, user, clients, seconds, period = sys.argv[2:8]
        result = load(host, port, user, int(clients), float(seconds), period)
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
