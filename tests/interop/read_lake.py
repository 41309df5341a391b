"""Reads the lake with tools no one on this project wrote.

For each table directory given: the row count from the Python `deltalake`
package (delta-rs's own reader, following the Delta log), and from DuckDB
reading exactly the Parquet files that log lists. Prints JSON.
"""
import json
import sys

import duckdb
from deltalake import DeltaTable

out = {}
for path in sys.argv[1:]:
    dt = DeltaTable(path)
    files = dt.file_uris()
    arrow_rows = dt.to_pyarrow_table().num_rows
    if files:
        duck_rows = duckdb.sql(
            "SELECT count(*) FROM read_parquet(?)", params=[files]
        ).fetchall()[0][0]
    else:
        duck_rows = 0
    out[path] = {"deltalake": arrow_rows, "duckdb": duck_rows, "version": dt.version()}
print(json.dumps(out))
