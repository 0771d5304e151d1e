"The ingestion benchmark's parts, on a small generated dump (generated data, labelled as such in its JSON)."

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("psutil")  # the benchmarks' tools (the bench extra); a cluster's test run leaves them out
from capstone.tools.bench_ingest import (
    FAULTS,
    _openers,
    baseline_iterparse,
    broken,
    floor_count,
    generate_dump,
    sample_records,
)
from capstone.tools.measures import CpuSampler, tree_cpu_s

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


def test_the_floor_counts_every_record_with_every_decompressor(tmp_path):
    "The whole bench runs in nbs/tools/bench_ingest.ipynb under nbval; here, the floor and the masters' dump."
    out = str(tmp_path / "generated-discogs_20990101_masters.xml.gz")
    masters = sample_records(str(ROOT / "data/sample/dump/discogs_20200806_masters.xml.gz"), "master")
    desc = generate_dump(out, 1000, masters, bad_every=0, kind="master")
    assert len(masters) == 598 and desc["gzip"].startswith("level 6") and desc["xml_chars"] > 1000 * 500
    assert {name: floor_count(out, o, b"<master ")["records"] for name, o in _openers().items()} == dict.fromkeys(
        _openers(), 1000
    )


def test_cpu_is_read_between_samples():
    cpu = CpuSampler(os.getpid())
    cpu.samples = [(0.0, 1.0), (2.0, 3.0)]
    assert (cpu.at(1.0), cpu.at(-1.0), cpu.at(5.0)) == (2.0, 1.0, 3.0)


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
