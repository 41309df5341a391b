"""Python clients of `vru serve`, driven by tests/server.rs.

    clients.py fetch HOST PORT USER SQL       psycopg and pandas.read_sql fetch SQL's rows
    clients.py load HOST PORT USER CLIENTS SECONDS PERIOD
                                              CLIENTS connections each run the measure
                                              views in turn for SECONDS

The password comes from the PGPASSWORD environment variable (never argv).
Prints one JSON object on stdout.
"""

import json
import os
import sys
import threading
import time
import warnings

import pandas
import psycopg


def connect(host, port, user):
    return psycopg.connect(host=host, port=int(port), user=user, dbname="vru", password=os.environ["PGPASSWORD"], autocommit=True)


def fetch(host, port, user, sql):
    out = {}
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


def main():
    mode = sys.argv[1]
    if mode == "fetch":
        result = fetch(*sys.argv[2:6])
    elif mode == "load":
        host, port, user, clients, seconds, period = sys.argv[2:8]
        result = load(host, port, user, int(clients), float(seconds), period)
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
