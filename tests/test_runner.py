"`capstone run` end to end through papermill, as a user runs it."

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from capstone.lock import LOCK_NAME, acquire_lock, release_lock
from conftest import ROOT, SAMPLE_RUN_ID, SAMPLE_SCHEMA

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


def test_the_run_leaves_rendered_notebooks_metrics_and_an_index(sample_run, runner_run):
    cfg, metrics = sample_run
    for nb in ("01_extract_tmdb", "02_extract_discogs", "03_prepare", "04_validate", "05_match", "06_report"):
        assert (runner_run.runs_dir / f"{nb}.ipynb").exists() and (runner_run.runs_dir / f"{nb}.html").exists()
        m = metrics[nb[3:]]
        assert m["run_id"] == SAMPLE_RUN_ID and m["status"] == "succeeded"
    assert "06_report.html" in (runner_run.runs_dir / "index.html").read_text()
    steps = json.loads((runner_run.runs_dir / "run.json").read_text())["steps"]
    assert [s["status"] for s in steps] == ["succeeded"] * 6
    assert f"{runner_run.runs_dir}/index.html" in runner_run.stdout


QUERY = """
import sys
from capstone.config import PipelineConfig
from capstone.runtime import get_spark
schema, root, tables = sys.argv[1], sys.argv[2], sys.argv[3:]
spark = get_spark(PipelineConfig.from_params(output_root=root, schema=schema))
print(*[spark.sql(f"SELECT count(*) FROM {schema}.{t}").first()[0] for t in tables])
"""


def test_its_tables_are_catalog_tables_that_a_new_session_finds_by_name(sample_run, runner_run):
    "With a schema, each table a stage wrote is registered in Spark's own catalog on disk, for the next session too."
    cfg, metrics = sample_run
    want = {
        "film_soundtrack_links": metrics["match"]["rows_out"]["film_soundtrack_links"],
        "films_enriched": metrics["match"]["rows_out"]["films_enriched"],
        "silver_scored_pairs": None,
        "silver_films": metrics["validate"]["rows_out"]["films"],
        "quarantine_releases": metrics["validate"]["rows_quarantined"]["releases"],
        "staging_masters": metrics["prepare"]["rows_out"]["masters"],
    }
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable)
    got = subprocess.run(
        [sys.executable, "-c", QUERY, SAMPLE_SCHEMA, cfg.output_root, *want], capture_output=True, text=True, env=env
    )
    assert got.returncode == 0, got.stderr[-2000:]
    counts = dict(zip(want, map(int, got.stdout.split())))
    assert counts.pop("silver_scored_pairs") > 0
    assert counts == {k: v for k, v in want.items() if v is not None}


def test_the_run_holds_the_output_roots_lock_while_it_runs_and_releases_it(sample_run, runner_run):
    assert runner_run.lock_holders == [SAMPLE_RUN_ID]
    assert not (Path(sample_run.cfg.output_root) / LOCK_NAME).exists()


def test_every_figure_of_the_executed_report_is_an_image(sample_run, runner_run):
    import nbformat

    nb = nbformat.read(runner_run.runs_dir / "06_report.ipynb", as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    as_text = [
        o["data"]["text/plain"]
        for o in outputs
        if "image/png" not in o.get("data", {}) and "<Figure size" in o.get("data", {}).get("text/plain", "")
    ]
    assert not as_text, f"figures shown as text, not pictures: {as_text}"
    plots = sample_run.metrics["report"]["figures"]["plots"]  # their names and bytes: tests/test_report.py
    shown = [base64.b64decode(o["data"]["image/png"]) for o in outputs if "image/png" in o.get("data", {})]
    # every plot the report wrote is shown as that same PNG (the demos of the plot functions show theirs too)
    assert plots and all(Path(p).read_bytes() in shown for p in plots), plots
    images = len(shown)
    html = (runner_run.runs_dir / "06_report.html").read_text()
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,', html)) == images


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


def test_evaluate_command_reads_the_gold_table(sample_run, spark, tmp_path, capsys):
    """The gold links alone (the silver pairs the stage also reads are optional here, and large). The command's own
    entry point, in process on the suite's session (it takes the active one): a JVM of its own costs 20 s; its
    one-line errors are run as a user runs them, below."""
    from capstone.tools.runner import main

    gold = Path(sample_run.cfg.gold("film_soundtrack_links"))
    shutil.copytree(gold, tmp_path / "gold" / gold.name)
    labels = str(ROOT / "data" / "labels" / "dev_labels.csv")
    assert main(["evaluate", "--labels", labels, "-p", f"output_root={tmp_path}"]) == 0
    out = capsys.readouterr().out
    ev = json.loads(out[out.index("{") :])
    assert ev["labelled_positive_pairs"] == 13 and ev["auto"]["tp"] + ev["auto"]["fn"] == 13


SPARK_LOG = re.compile(
    r"^\d\d/\d\d/\d\d \d\d:\d\d:\d\d (WARN|INFO|ERROR) |^Setting default log level|^To adjust logging level|^Setting Spark log level"
)


def error_lines(stderr: str) -> list[str]:
    "What a command said on stderr, without Spark's own start-up log lines."
    return [line for line in stderr.splitlines() if line.strip() and not SPARK_LOG.match(line)]


def test_a_second_run_on_the_same_root_is_refused_naming_the_holder(tmp_path):
    "A run holds the root (this process, alive, as run `first`): a second run stops before any notebook, naming it."
    root = tmp_path / "out"
    root.mkdir()
    assert acquire_lock(None, str(root), "first")
    try:
        second = run("run", "--steps", "prepare", "-p", f"output_root={root}", "-p", "run_id=second")
        assert second.returncode == 1
        (line,) = error_lines(second.stderr)
        assert line.startswith("capstone run FAILED: output_root=") and "is in use by run first (" in line
        assert f"pid {os.getpid()}" in line
        assert json.loads((root / LOCK_NAME).read_text())["run_id"] == "first", "the holder keeps its lock"
        assert not (root / "metrics").exists() and not (root / "runs" / "second").exists()
    finally:
        release_lock(None, str(root), "first")
    assert not (root / LOCK_NAME).exists()


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
def test_cli_errors_are_one_line(sample_run, tmp_path, case):
    out = sample_run.cfg.output_root
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
