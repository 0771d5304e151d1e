"""Compare two gold roots cell by cell: `python tests/gold_diff.py GOLD_A GOLD_B`.

`make test-dbr` runs it on the sample's gold from the dev venv and from the Databricks Runtime 14.3 parity venv. Every
table must have the same columns, types, rows and cells; doubles may differ by at most 1e-12 (the last bits of a
logistic on another libm), and the largest such difference is printed. Exit status 1 names every difference found.
Each table is read at its current version (a Delta table's files as its log names them; a Parquet folder's), so
a Delta gold compares with a Parquet one too.
"""

import json
import sys

import numpy as np

from capstone.storage import local_table

TABLES = {
    "film_soundtrack_links": ["tmdb_id", "discogs_master_id", "discogs_release_id"],
    "films_enriched": ["tmdb_id"],
    "unmatched": ["entity", "id"],
}
TOLERANCE = 1e-12


def canonical(value):
    "A plain-Python form of one cell: arrays and maps as lists, NaN as None."
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in value.items()}
    if isinstance(value, float) and value != value:
        return None
    return value.item() if isinstance(value, np.generic) else value


def close(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= TOLERANCE
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
    return a == b


def compare(table: str, a_root: str, b_root: str, keys: list[str]) -> tuple[list[str], str]:
    a, b = local_table(f"{a_root}/{table}"), local_table(f"{b_root}/{table}")
    if a.schema.remove_metadata() != b.schema.remove_metadata():
        return [f"{table}: schemas differ:\n{a.schema}\n{b.schema}"], ""
    keys = [k for k in keys if k in a.column_names] or a.column_names[:1]
    a, b = (t.to_pandas().sort_values(keys, kind="stable").reset_index(drop=True) for t in (a, b))
    if len(a) != len(b):
        return [f"{table}: {len(a)} rows against {len(b)}"], ""
    diffs, worst = [], 0.0
    for col in a.columns:
        for i, (x, y) in enumerate(zip(a[col], b[col])):
            x, y = canonical(x), canonical(y)
            if isinstance(x, float) and isinstance(y, float):
                worst = max(worst, abs(x - y))
            if not close(x, y):
                diffs.append(f"{table}: row {i} ({dict(a.loc[i, keys])}) column {col}: {x!r} against {y!r}")
    return diffs, f"{table}: {len(a)} rows x {len(a.columns)} columns, largest double difference {worst:.3g}"


def main(a_root: str, b_root: str) -> int:
    diffs = []
    for table, keys in TABLES.items():
        found, summary = compare(table, a_root, b_root, keys)
        diffs += found
        print(summary or f"{table}: differs", flush=True)
    for d in diffs[:50]:
        print("DIFF", d)
    print(json.dumps({"tables": len(TABLES), "differences": len(diffs)}))
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
