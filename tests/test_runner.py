"`capstone run` end to end through papermill, as a user runs it."

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import ROOT

pytestmark = (
    pytest.mark.local_only
)  # left out on a cluster (tests/run_suite.py): the papermill runner and its Jupyter kernel are this repo's local tools

CAPSTONE = str(Path(sys.executable).parent / "capstone")


def run(*args, timeout=900):
    return subprocess.run(
        [CAPSTONE, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ, PYSPARK_PYTHON=sys.executable, SPARK_LOCAL_IP="127.0.0.1"),
    )


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


def test_every_figure_of_the_executed_report_is_an_image(full_run):
    import nbformat

    out, _ = full_run
    run_dir = out / "runs" / "e2e-1"
    nb = nbformat.read(run_dir / "06_report.ipynb", as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    as_text = [
        o["data"]["text/plain"]
        for o in outputs
        if "image/png" not in o.get("data", {}) and "<Figure size" in o.get("data", {}).get("text/plain", "")
    ]
    assert not as_text, f"figures shown as text, not pictures: {as_text}"
    plots = sorted(p.name for p in (out / "reports" / "e2e-1").glob("*.png"))
    images = sum("image/png" in o.get("data", {}) for o in outputs)
    assert len(plots) == 5 and images == len(plots), (plots, images)  # with the dev labels: the PR curve too
    html = (run_dir / "06_report.html").read_text()
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,', html)) == images


def other_raw_zone(sample_raw: Path, dest: Path) -> Path:
    "A raw zone that is not the sample: two films in three, Blade Runner not among them, nor its search page."
    shutil.copytree(sample_raw, dest, ignore=shutil.ignore_patterns("Blade_Runner.json"))
    kept = 0
    for part in (dest / "tmdb" / "movies").rglob("*.jsonl.gz"):
        lines = gzip.decompress(part.read_bytes()).splitlines(keepends=True)
        keep = [line for i, line in enumerate(lines) if i % 3 and json.loads(line).get("id") != 78]
        kept += len(keep)
        part.write_bytes(gzip.compress(b"".join(keep)))
    assert 3000 < kept < 3300 and not list(dest.rglob("Blade_Runner.json"))
    return dest


def test_later_steps_run_alone_on_a_raw_zone_that_is_not_the_sample(full_run, tmp_path):
    out, _ = full_run
    raw = other_raw_zone(out / "raw", tmp_path / "raw")
    proc = run("run", "--steps", "prepare,validate,match", "-p", f"raw_root={raw}", "-p", f"output_root={tmp_path}/out")
    assert proc.returncode == 0, proc.stderr[-3000:]
    films = pd.read_parquet(tmp_path / "out/silver/films")
    assert 3000 < len(films) < 3300 and 78 not in set(films.tmdb_id)
    links = pd.read_parquet(tmp_path / "out/gold/film_soundtrack_links")
    assert len(links) > 0 and 78 not in set(links.tmdb_id)
    assert not (tmp_path / "out" / "raw").exists()


def test_failure_names_notebook_and_cell_in_one_line(tmp_path):
    proc = run("run", "--steps", "match", "-p", f"output_root={tmp_path}", "-p", "run_id=broken")
    assert proc.returncode == 1
    line = [l for l in proc.stderr.splitlines() if l.startswith("capstone run FAILED")]
    assert (
        len(line) == 1
        and "05_match, cell" in line[0]
        and "ContractError" in line[0]
        and "run validate first" in line[0]
    )
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
    ev = json.loads(proc.stdout[proc.stdout.index("{") :])
    assert ev["labelled_positive_pairs"] == 13 and ev["auto"]["tp"] + ev["auto"]["fn"] == 13


SPARK_LOG = re.compile(
    r"^\d\d/\d\d/\d\d \d\d:\d\d:\d\d (WARN|INFO|ERROR) |^Setting default log level|^To adjust logging level"
)


def error_lines(stderr: str) -> list[str]:
    "What a command said on stderr, without Spark's own start-up log lines."
    return [line for line in stderr.splitlines() if line.strip() and not SPARK_LOG.match(line)]


def test_a_second_run_on_the_same_root_is_refused_naming_the_holder(full_run, tmp_path):
    out, _ = full_run
    root = tmp_path / "out"
    args = ["run", "--steps", "prepare", "-p", f"raw_root={out}/raw", "-p", f"output_root={root}"]
    first = subprocess.Popen(
        [CAPSTONE, *args, "-p", "run_id=first"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ, PYSPARK_PYTHON=sys.executable),
    )
    lock = root / "_capstone.lock"
    deadline = time.monotonic() + 120
    while not lock.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert lock.exists(), "the first run holds the lock while it runs"
    second = run(*args, "-p", "run_id=second")
    assert second.returncode == 1
    (line,) = error_lines(second.stderr)
    assert line.startswith("capstone run FAILED: output_root=") and "is in use by run first (" in line and "pid" in line
    assert first.wait(timeout=900) == 0
    assert not lock.exists(), "released at the end"
    assert not (root / "metrics" / "second").exists() and (root / "metrics" / "first" / "prepare.json").exists()


def test_match_knobs_are_checked_before_the_first_notebook(tmp_path):
    proc = run(
        "run", "--steps", "prepare,validate,match", "-p", 'match_knobs={"nosuch": 1}', "-p", f"output_root={tmp_path}"
    )
    assert proc.returncode == 2 and error_lines(proc.stderr) == [error_lines(proc.stderr)[0]]
    assert "nosuch" in proc.stderr and not (tmp_path / "staging").exists() and not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "case",
    [
        "labels that do not exist",
        "no gold table yet",
        "an output root that is a file",
        "a deck before any test report",
        "steps naming nothing",
    ],
)
def test_cli_errors_are_one_line(full_run, tmp_path, case):
    out, _ = full_run
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    args, status = {
        "labels that do not exist": (
            ["evaluate", "--labels", str(tmp_path / "none.csv"), "-p", f"output_root={out}"],
            1,
        ),
        "no gold table yet": (
            ["evaluate", "--labels", "data/labels/dev_labels.csv", "-p", f"output_root={tmp_path}"],
            1,
        ),
        "an output root that is a file": (["run", "--steps", "prepare", "-p", f"output_root={a_file}"], 1),
        "a deck before any test report": (
            [
                "slides",
                "--metrics-dir",
                str(tmp_path / "no-reports"),
                "--out",
                str(tmp_path / "deck.pptx"),
                "-p",
                f"output_root={out}",
            ],
            1,
        ),
        "steps naming nothing": (["run", "--steps", ",", "-p", f"output_root={tmp_path}"], 2),
    }[case]
    proc = run(*args)
    assert proc.returncode == status, proc.stderr[-2000:]
    assert len(error_lines(proc.stderr)) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
