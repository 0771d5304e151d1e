"`capstone run` end to end through papermill, as a user runs it."
import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import ROOT

pytestmark = pytest.mark.local_only  # left out on a cluster (tests/run_suite.py): the papermill runner and its Jupyter kernel are this repo's local tools

CAPSTONE = str(Path(sys.executable).parent / "capstone")


def run(*args, timeout=900):
    return subprocess.run([CAPSTONE, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, PYSPARK_PYTHON=sys.executable, SPARK_LOCAL_IP="127.0.0.1"))


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("e2e")
    proc = run("run", "-p", f"output_root={out}", "-p", f"raw_root={out}/raw", "-p", "run_id=e2e-1")
    return out, proc


def test_full_run_links_blade_runner_to_vangelis(full_run):
    out, proc = full_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    links = pd.read_parquet(out / "gold/film_soundtrack_links")
    pairs = set(zip(links.tmdb_id, links.discogs_master_id))
    assert (78, 12717) in pairs
    assert (78, 1250568) not in pairs


def test_full_run_leaves_rendered_notebooks_and_metrics(full_run):
    out, proc = full_run
    run_dir = out / "runs" / "e2e-1"
    for nb in ("01_extract_tmdb", "02_extract_discogs", "03_prepare", "04_validate", "05_match", "06_report"):
        assert (run_dir / f"{nb}.ipynb").exists() and (run_dir / f"{nb}.html").exists()
        stage = nb[3:]
        m = json.loads((out / "metrics" / "e2e-1" / f"{stage}.json").read_text())
        assert m["run_id"] == "e2e-1" and m["status"] == "succeeded"
    assert "06_report.html" in (run_dir / "index.html").read_text()
    assert (out / "reports" / "e2e-1" / "question_soundtrack_genres.png").exists()
    assert "index.html" in proc.stdout


def other_raw_zone(sample_raw: Path, dest: Path) -> Path:
    "A raw zone that is not the sample: a third of its films, Blade Runner not among them, and no search responses."
    shutil.copytree(sample_raw, dest, ignore=shutil.ignore_patterns("search"))
    kept = 0
    for part in (dest / "tmdb" / "movies").rglob("*.jsonl.gz"):
        lines = gzip.decompress(part.read_bytes()).splitlines(keepends=True)
        keep = [line for i, line in enumerate(lines) if i % 3 == 0 and json.loads(line).get("id") != 78]
        kept += len(keep)
        part.write_bytes(gzip.compress(b"".join(keep)))
    assert kept > 1000 and not (dest / "discogs" / "search").exists()
    return dest


def test_later_steps_run_alone_on_a_raw_zone_that_is_not_the_sample(full_run, tmp_path):
    out, _ = full_run
    raw = other_raw_zone(out / "raw", tmp_path / "raw")
    proc = run("run", "--steps", "prepare,validate,match", "-p", f"raw_root={raw}", "-p", f"output_root={tmp_path}/out")
    assert proc.returncode == 0, proc.stderr[-3000:]
    films = pd.read_parquet(tmp_path / "out/silver/films")
    assert 1000 < len(films) < 2000 and 78 not in set(films.tmdb_id)
    links = pd.read_parquet(tmp_path / "out/gold/film_soundtrack_links")
    assert len(links) > 0 and 78 not in set(links.tmdb_id)
    assert not (tmp_path / "out" / "raw").exists()


def test_failure_names_notebook_and_cell_in_one_line(tmp_path):
    proc = run("run", "--steps", "match", "-p", f"output_root={tmp_path}", "-p", "run_id=broken")
    assert proc.returncode == 1
    line = [l for l in proc.stderr.splitlines() if l.startswith("capstone run FAILED")]
    assert len(line) == 1 and "05_match, cell" in line[0] and "ContractError" in line[0] and "run validate first" in line[0]
    m = json.loads((tmp_path / "metrics" / "broken" / "match.json").read_text())
    assert m["status"] == "failed"
    assert not (tmp_path / "gold").exists()
    assert "failed" in (tmp_path / "runs" / "broken" / "index.html").read_text()


def test_bad_parameter_is_refused_before_running(tmp_path):
    proc = run("run", "-p", "raw_rot=x", "-p", f"output_root={tmp_path}")
    assert proc.returncode == 2 and "raw_rot" in proc.stderr
    assert not (tmp_path / "runs").exists()


def test_evaluate_command_reads_the_gold_table(full_run):
    out, _ = full_run
    proc = run("evaluate", "--labels", "data/labels/dev_labels.csv", "-p", f"output_root={out}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    ev = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert ev["labelled_positive_pairs"] == 13 and ev["auto"]["tp"] + ev["auto"]["fn"] == 13
