"Shared fixtures: one local Spark session, and one full in-process run of the five stages on the bundled sample."

import os
from pathlib import Path

import pytest

from capstone.config import local_spark_env

ROOT = Path(__file__).resolve().parents[1]
local_spark_env()
# the test daemon module (tests/coverage_daemon.py) is importable by the Python workers Spark starts
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "tests"), os.environ.get("PYTHONPATH")) if p)


def pytest_configure(config):
    config.addinivalue_line("markers", "local_only: needs this repo's local tools; tests/run_suite.py leaves it out")


@pytest.fixture(scope="session")
def spark():
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if (
        active is not None
    ):  # a Databricks cluster's own session (tests/run_suite.py there): used as it is, never stopped
        yield active
        return
    s = (
        SparkSession.builder.master("local[2]")
        .appName("capstone-tests")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.default.parallelism", "1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        # one JVM serves the whole session: keep the plans of only the last queries (each keeps its plan text, and
        # the matcher's plans are large), and give the driver the heap the notebooks' sessions have
        .config("spark.sql.ui.retainedExecutions", "20")
        .config("spark.ui.retainedJobs", "50")
        .config("spark.ui.retainedStages", "50")
        .config("spark.driver.memory", "4g")
        # Spark's daemon forks the Python workers and reuses them, as on a cluster; its module here saves each
        # worker's coverage after every task (tests/coverage_daemon.py), so code inside Spark workers is measured
        .config("spark.python.daemon.module", "coverage_daemon")
        .getOrCreate()
    )
    s.sparkContext.setLogLevel("ERROR")
    yield s
    s.stop()


@pytest.fixture(scope="session")
def sample_run(spark, tmp_path_factory):
    "All six stages run in-process on the bundled sample; returns (cfg, metrics by stage)."
    from capstone import extract_discogs, extract_tmdb, match, prepare, report, validate
    from capstone.config import PipelineConfig

    out = tmp_path_factory.mktemp("sample_run")
    cfg = PipelineConfig.from_params(
        project_root=str(ROOT),
        raw_root=str(out / "raw"),
        output_root=str(out),
        run_id="test-sample",
        shuffle_partitions=2,
    )
    metrics = {}
    for mod in (extract_tmdb, extract_discogs, prepare, validate, match, report):
        m = (
            mod.run_step(spark, cfg)
            if mod not in (extract_tmdb, extract_discogs)
            else mod.run_step(spark, cfg, progress=False)
        )
        metrics[m["stage"]] = m
    return cfg, metrics
