"The ingestion benchmark's parts, on a small generated dump (generated data, labelled as such in its JSON)."

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("psutil")  # the benchmarks' tools (the bench extra); a cluster's test run leaves them out
from capstone.tools.bench_ingest import (
    FAULTS,
    baseline_iterparse,
    bench,
    broken,
    generate_dump,
    sample_records,
    tree_cpu_s,
)

from conftest import ROOT

pytestmark = pytest.mark.local_only  # left out on a cluster (tests/run_suite.py): the benchmarks are local tools

SOURCE = str(ROOT / "data/sample/dump/discogs_20200806_releases.xml.gz")


def test_generated_dump_is_labelled_and_has_known_faults(tmp_path):
    out = str(tmp_path / "generated-discogs_20990101_releases.xml.gz")
    desc = generate_dump(out, 1300, sample_records(SOURCE), bad_every=300)
    assert json.loads(open(out + ".generated.json").read())["generated"] is True
    assert desc["records"] == 1300 and desc["faults"] == {
        "control_char": 1,
        "broken_nesting": 1,
        "bad_id": 1,
        "truncated": 1,
    }
    base = baseline_iterparse(out)
    assert base["parsed"] + base["failed"] <= 1300 and base["seconds"] > 0


def test_each_fault_breaks_the_record():
    rec = '<release id="5" status="Accepted"><title>Heat</title></release>'
    assert {f: broken(rec, f) != rec for f in FAULTS} == dict.fromkeys(FAULTS, True)


def test_bench_reconciles(spark, tmp_path):
    rows = bench(spark, [1500], SOURCE, bad_every=500, work_dir=str(tmp_path))
    # 3 faults generated: the control character is repaired and loaded, the other two are quarantined
    assert rows[0]["reconciles"] and (rows[0]["parsed"], rows[0]["quarantined"], rows[0]["repaired"]) == (1498, 2, 1)
    assert rows[0]["jvm_peak_rss_mb"] > 0 and rows[0]["python_driver_peak_rss_mb"] > 0
    assert rows[0]["project_cpu_s"] > 0 and rows[0]["baseline_cpu_s"] > 0
    assert not os.path.exists(tmp_path), "the generated files are removed after the run"


def test_process_tree_cpu_counts_a_finished_child():
    "A parent of its own (this process's tree also holds the suite's background run, whose processes come and go)."
    burn = "import time\nwhile time.process_time() < 0.5: pass"
    parent_code = f"import subprocess, sys, time\nsubprocess.run([sys.executable, '-c', {burn!r}], check=True)\n"
    parent_code += "print('reaped', flush=True)\ntime.sleep(60)"
    parent = subprocess.Popen([sys.executable, "-c", parent_code], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout.readline().strip() == "reaped"
        assert tree_cpu_s(parent.pid) >= 0.4, "a reaped child's CPU counts in its parent's tree"
    finally:
        parent.kill()
        parent.wait()
