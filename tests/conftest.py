"""Shared fixtures: one local Spark session, and the suite's one run of the sample pipeline.

The sample pipeline runs once per suite. Locally it runs through the runner as a user runs it (`capstone run`:
papermill, one kernel per notebook, every cell and assert of the stage notebooks 01-06), started in the background
once the selection is final; the unit tests and the notebooks under nbval run meanwhile, and the tests that
read the run are moved to the end. Every end-to-end fact reads that one run. `--sample-run` chooses how it is had:

- `runner` (the default here): `capstone run` into `--sample-root` (default `data/out-test`, which `make test-dbr`
  then compares with the parity run's gold);
- `inprocess` (the default on a Databricks cluster, which has no papermill kernel): the stages' `run_step` in this
  process, into a temporary folder;
- a path: the output root of a finished run, read as it is.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import NamedTuple

import pytest

from capstone.config import PipelineConfig
from capstone.runtime import delta_settings, jar_cache, local_spark_env
from spark_cds import submit_args

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_RUN_ID = "test-sample"
SAMPLE_SCHEMA = "capstone_test"
CAPSTONE = str(Path(sys.executable).parent / "capstone")
local_spark_env()
# the test daemon module (tests/coverage_daemon.py) is importable by the Python workers Spark starts, and every Spark
# this suite starts, in its own process or in a notebook's kernel (nbval, the runner), forks its workers through it
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "tests"), os.environ.get("PYTHONPATH")) if p)
# ... and every Spark JVM it starts maps the class archive of tests/spark_cds.py when `make test` has built it
os.environ.setdefault("PYSPARK_SUBMIT_ARGS", submit_args("spark.python.daemon.module=coverage_daemon"))


def pytest_addoption(parser):
    parser.addoption(
        "--sample-run",
        default=None,
        help="the suite's one run of the sample: runner, inprocess, or the output root of a finished run",
    )
    parser.addoption(
        "--sample-root", default=str(ROOT / "data" / "out-test"), help="where --sample-run=runner writes its run"
    )


def pytest_configure(config):
    config.addinivalue_line("markers", "local_only: needs this repo's local tools; tests/run_suite.py leaves it out")
    if config.pluginmanager.hasplugin("_cov"):
        config.pluginmanager.register(NotebookKernelCoverage(), "capstone-kernel-coverage")


class NotebookKernelCoverage:
    """nbval stops a notebook's kernel with SIGKILL once its last cell is done, and the coverage the kernel measured
    (coverage's `patch = subprocess` started it there, .coveragerc) would die with it: the kernel saves it first. A
    plugin, not a hook of this file, so that it sees the items under nbs/ too."""

    SAVE = "import coverage as _c\n_c.Coverage.current() and _c.Coverage.current().save()"

    @pytest.hookimpl(tryfirst=True)  # before nbval's own teardown, which stops the kernel
    def pytest_runtest_teardown(self, item, nextitem):
        kernel = getattr(item.parent, "kernel", None)
        if kernel is None or (nextitem is not None and nextitem.parent is item.parent) or not kernel.is_alive():
            return
        kernel.await_idle(kernel.kc.execute(self.SAVE, stop_on_error=False), 60)


def reads_sample_run(item) -> bool:
    return "sample_run" in getattr(item, "fixturenames", ())


def sample_config(root: Path, run_id: str = SAMPLE_RUN_ID) -> PipelineConfig:
    "The config of a sample run whose output root is `root` (its raw zone inside it)."
    return PipelineConfig.from_params(
        project_root=str(ROOT), raw_root=str(root / "raw"), output_root=str(root), run_id=run_id
    )


def sample_run_mode(config) -> str:
    given = config.getoption("--sample-run")
    if given:
        return given
    return "inprocess" if "DATABRICKS_RUNTIME_VERSION" in os.environ else "runner"


class SampleRun(NamedTuple):
    "The suite's run of the sample pipeline: its config (output root and run id) and its metrics by stage."

    cfg: PipelineConfig
    metrics: dict


class RunnerRun(NamedTuple):
    "What `capstone run` left besides the tables: the executed notebooks, its output, the lock holders seen."

    runs_dir: Path
    stdout: str
    lock_holders: list


class BackgroundRun:
    "`capstone run` on the sample into `root`, started now; `wait()` returns its exit code and output."

    def __init__(self, root: Path):
        if root.exists():
            shutil.rmtree(root)  # the suite's own output folder, from an earlier suite
        root.mkdir(parents=True)
        self.root, self.log = root, root / "capstone-run.log"
        args = ["run", "-p", f"output_root={root}", "-p", f"raw_root={root}/raw", "-p", f"run_id={SAMPLE_RUN_ID}"]
        args += ["-p", f"schema={SAMPLE_SCHEMA}"]  # its tables registered in Spark's own catalog, as `make run` does
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [CAPSTONE, *args], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.started, self.ended = time.monotonic(), None
        self.lock_holders: list = []
        self.watcher = threading.Thread(target=self._watch_lock, daemon=True)
        self.watcher.start()

    def _watch_lock(self) -> None:
        "Record who holds the output root's lock while the run is alive."
        from capstone.lock import LOCK_NAME

        lock = self.root / LOCK_NAME
        while self.proc.poll() is None:
            try:
                holder = json.loads(lock.read_text()).get("run_id")
            except (FileNotFoundError, ValueError):
                holder = None
            if holder and holder not in self.lock_holders:
                self.lock_holders.append(holder)
            time.sleep(0.2)
        self.ended = time.monotonic()

    def wait(self, timeout: float = 1800) -> tuple[int, str]:
        code = self.proc.wait(timeout=timeout)
        self.watcher.join()
        return code, self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait()


def pytest_collection_modifyitems(session, config, items):
    "Tests that read the sample run go last, each with the group its time is reported under."
    reads = [i for i in items if reads_sample_run(i)]
    for item in items:  # the group each test's time is reported under (`capstone test-summary`)
        if item.nodeid.startswith("tests/test_runner.py"):
            item.user_properties.append(("group", "runner"))
        elif item in reads:
            item.user_properties.append(("group", "pipeline"))
    if reads:
        items[:] = [i for i in items if i not in reads] + reads


def pytest_collection_finish(session):
    "In runner mode, the sample run starts now, in the background, if a selected test (after -k, -m) reads it."
    config = session.config
    if (
        any(reads_sample_run(i) for i in session.items)
        and sample_run_mode(config) == "runner"
        and not config.option.collectonly
    ):
        config._capstone_background = BackgroundRun(Path(config.getoption("--sample-root")))


def pytest_sessionfinish(session):
    background = getattr(session.config, "_capstone_background", None)
    if background is not None:
        background.stop()  # an interrupted suite leaves no pipeline running


def run_in_process(spark, out: Path) -> PipelineConfig:
    "The six stages' `run_step` in this process (a cluster's way: it has no papermill kernel)."
    from capstone import extract_discogs, extract_tmdb, match, prepare, report, validate

    cfg = sample_config(out)
    for mod in (extract_tmdb, extract_discogs):
        mod.run_step(spark, cfg, progress=False)
    for mod in (prepare, validate, match, report):
        mod.run_step(spark, cfg)
    return cfg


@pytest.fixture(scope="session")
def spark():
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if (
        active is not None
    ):  # a Databricks cluster's own session (tests/run_suite.py there): used as it is, never stopped
        yield active
        return
    remote = os.environ.get("SPARK_REMOTE")
    if remote:  # make test-connect: a Spark Connect session, with no SparkContext, as standard and serverless compute
        s = (
            SparkSession.builder.remote(remote)
            .appName("capstone-tests")
            .config("spark.sql.shuffle.partitions", "1")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .getOrCreate()
        )
        yield s
        s.stop()
        return
    s = (
        SparkSession.builder.master("local[2]")
        .appName("capstone-tests")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.default.parallelism", "1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        # literal frames (schemas.frame) go through Arrow, as in the notebooks' sessions: their rows live in the JVM
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        # the suite's frames are a few rows: re-planning every stage (AQE) costs more than it saves there (the matcher
        # on three films: 15 s with it, 10 s without); the sample run keeps the notebooks' own settings
        .config("spark.sql.adaptive.enabled", "false")
        # one JVM serves the whole session: keep the plans of only the last queries (each keeps its plan text, and
        # the matcher's plans are large), and give the driver the heap the notebooks' sessions have
        .config("spark.sql.ui.retainedExecutions", "20")
        .config("spark.ui.retainedJobs", "50")
        .config("spark.ui.retainedStages", "50")
        .config("spark.driver.memory", "4g")
        # Spark's daemon forks the Python workers and reuses them, as on a cluster; its module here saves each
        # worker's coverage after every task (tests/coverage_daemon.py), so code inside Spark workers is measured
        .config("spark.python.daemon.module", "coverage_daemon")
        .config(map=delta_settings(jar_cache()))  # Delta Lake, as every local session of the pipeline has it
        .getOrCreate()
    )
    s.sparkContext.setLogLevel("ERROR")
    yield s
    s.stop()


def session_has_delta(spark) -> bool:
    "Whether this session reads and writes Delta tables: Databricks' always; elsewhere, with Delta's SQL extension."
    if "DATABRICKS_RUNTIME_VERSION" in os.environ:
        return True
    try:
        return "DeltaSparkSessionExtension" in (spark.conf.get("spark.sql.extensions", "") or "")
    except Exception:  # a setting this compute will not show
        return False


@pytest.fixture(params=["delta", "parquet"])
def table_format(request, spark) -> str:
    "Each table format, for tests of what both promise; Delta skipped on a session without it (PySpark 4 here)."
    if request.param == "delta" and not session_has_delta(spark):
        pytest.skip("this session has no Delta Lake")
    return request.param


@pytest.fixture(scope="session")
def sample_run(request, tmp_path_factory) -> SampleRun:
    "The suite's one run of the sample pipeline (see the module's docstring), with its metrics JSON by stage."
    mode = sample_run_mode(request.config)
    if mode == "runner":
        background, t0 = request.config._capstone_background, time.monotonic()
        code, out = background.wait()
        record = request.getfixturevalue("record_testsuite_property")
        record("sample_run_s", round(background.ended - background.started, 1))
        record("sample_run_wait_s", round(time.monotonic() - t0, 1))
        if code != 0:
            pytest.fail(f"capstone run on the sample exited {code}:\n{out[-3000:]}", pytrace=False)
        cfg = sample_config(Path(request.config.getoption("--sample-root")))
    elif mode == "inprocess":
        cfg = run_in_process(request.getfixturevalue("spark"), tmp_path_factory.mktemp("sample_run"))
    else:
        root = Path(mode)
        (run_id,) = [p.name for p in (root / "metrics").iterdir() if p.is_dir() and p.name != "tests"]
        cfg = sample_config(root, run_id)
    from capstone.metrics import load_metrics  # the one reader of a run's metrics JSON, in stage order

    return SampleRun(cfg, load_metrics(request.getfixturevalue("spark"), cfg))


@pytest.fixture(scope="session")
def runner_run(request, sample_run) -> RunnerRun:
    "The executed notebooks, output and lock holders of the sample run, when the runner made it."
    background = getattr(request.config, "_capstone_background", None)
    if background is None:
        pytest.skip("the sample run was not made by the runner here")
    _, stdout = background.wait()
    return RunnerRun(Path(sample_run.cfg.output_root) / "runs" / SAMPLE_RUN_ID, stdout, background.lock_holders)
