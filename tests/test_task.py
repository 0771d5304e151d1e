"""`capstone-task`: a stage run from a job's Python wheel task arguments, in this process (the serverless job)."""

import json
from pathlib import Path

import pytest

from capstone import runtime, task
from capstone.config import ConfigError
from capstone.task import main

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOTS = ROOT / "data/sample/snapshots"


def test_a_task_runs_its_stage_and_prints_its_metrics(spark, tmp_path, capsys):
    "The stage that takes `dbutils` (API keys from a secret scope) gets it; the run's metrics land where the stage's do."
    main(
        [
            "--stage=extract_tmdb",
            "--run_id=task-test",
            f"--raw_root={tmp_path}/raw",
            f"--output_root={tmp_path}/out",
            f"--snapshot_root={SNAPSHOTS}",
            f"--tmdb_ids_file={SNAPSHOTS}/tmdb/movie_ids_sample.json.gz",
            "--tmdb_source=replay",
            "--tmdb_max_films=5",
        ]
    )
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary | {"duration_s": None} == {
        "stage": "extract_tmdb",
        "status": "succeeded",
        "run_id": "task-test",
        "rows_in": {"ids": 5},
        "rows_out": {"movies": 5},
        "duration_s": None,
    }
    saved = json.loads((tmp_path / "out/metrics/task-test/extract_tmdb.json").read_text())
    assert saved["rows_out"] == {"movies": 5}


def test_a_task_on_a_wrong_raw_root_writes_no_table(spark, tmp_path):
    with pytest.raises(Exception, match="nothing to prepare"):
        main(["--stage=prepare", "--run_id=t", f"--raw_root={tmp_path}/nowhere", f"--output_root={tmp_path}/out"])
    assert not (tmp_path / "out/staging").exists()


def test_a_task_refuses_repo_relative_paths_before_spark(monkeypatch):
    monkeypatch.setattr(task, "get_spark", lambda *a, **k: pytest.fail("no session for a bad config"))
    with pytest.raises(ConfigError, match="relative paths"):
        main(["--stage=validate", "--run_id=t", "--raw_root=data/out/raw", "--output_root=/Volumes/c/s/v/out"])


class _Builder:
    "SparkSession.builder as Databricks' runtime has it: getOrCreate gives the compute's own session."

    def __init__(self, session):
        self.session = session

    def getOrCreate(self):
        return self.session

    def master(self, *_):
        pytest.fail("a local master on Databricks")

    remote = config = appName = master


def test_on_databricks_get_spark_takes_the_computes_session(spark, monkeypatch):
    "A Python task starts with no active session; it must take Databricks' one, not build a local driver."

    class _Session:
        builder = _Builder(spark)

        @staticmethod
        def getActiveSession():
            return None

    monkeypatch.setattr(runtime, "SparkSession", _Session)
    monkeypatch.setenv("DATABRICKS_RUNTIME_VERSION", "client.2.5")
    assert runtime.get_spark() is spark
