"""Reads the lake with tools no one on this project wrote.

For each table directory given: the row count from the Python `deltalake`
package (delta-rs's own reader, following the Delta log), and from DuckDB
reading exactly the Parquet files that log lists. Prints JSON.

An `s3://` table is read with the endpoint and credentials of the AWS_*
variables; DuckDB is left out there (its S3 reader is an extension
download), so its count is null.
"""
import json
import os
import sys

import duckdb
from deltalake import DeltaTable

out = {}
S3_KEYS = ["AWS_ENDPOINT_URL", "AWS_ALLOW_HTTP", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]

for path in sys.argv[1:]:
    remote = path.startswith("s3://")
    options = {k: os.environ[k] for k in S3_KEYS if k in os.environ} if remote else None
    dt = DeltaTable(path, storage_options=options)
    files = dt.file_uris()
    arrow_rows = dt.to_pyarrow_table().num_rows
    if remote:
        duck_rows = None
    elif files:
        duck_rows = duckdb.sql(
            "SELECT count(*) FROM read_parquet(?)", params=[files]
        ).fetchall()[0][0]
    else:
        duck_rows = 0
    out[path] = {"deltalake": arrow_rows, "duckdb": duck_rows, "version": dt.version()}
print(json.dumps(out), flush=True)
# After reading from S3, the native object-store client's threads abort
# the interpreter's normal shutdown ("terminate called without an active
# exception"); everything is printed, so leave without it.
os._exit(0)
