"""Counts data.police.uk street-level rows by crime type with Python's csv
module: the independent reference for the public-data H1 test."""
import collections
import csv
import json
import sys

counts = collections.Counter()
for path in sys.argv[1:]:
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            counts[row["Crime type"]] += 1
print(json.dumps(counts))
