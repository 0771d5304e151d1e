"""The tests of the exported functions, with coverage, as a Databricks cluster runs them (the bundle's `capstone_tests`
job) and as `make test-dbr` runs them on the runtime's library versions here.

    python tests/run_suite.py --metrics-root <metrics_root> --run-id <run_id>

JUnit XML and coverage JSON land in `<metrics_root>/tests/<run_id>/`, beside the pipeline's run metrics. Tests that
need this repo's local tools (the papermill runner and its kernel, the bundle CLI models, a wheel build) carry the
`local_only` mark and are left out. The exit status is pytest's: failures, or coverage under `--fail-under`, fail it.
"""

import argparse
import configparser
import os
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# the local tools (capstone/tools/: runner, deck, benchmarks) never run on a cluster: their tests are local_only,
# and the cluster's coverage is of the code a cluster runs
TOOL_FILES = ("tools/*", "_modidx.py")


def coverage_config(dest: Path) -> Path:
    "The repo's .coveragerc, less the local tools."
    rc = configparser.ConfigParser()
    rc.read(ROOT / ".coveragerc")
    rc["run"]["omit"] = "\n".join(f"*/capstone/{m}" for m in TOOL_FILES)
    with open(dest, "w") as f:
        rc.write(f)
    return dest


def use_local_default_fs(spark) -> None:
    "On a single-node Databricks job cluster, let plain paths (pytest's tmp_path) mean the local disk, not DBFS."
    spark.conf.set("fs.defaultFS", "file:///")
    spark.sparkContext._jsc.hadoopConfiguration().set("fs.defaultFS", "file:///")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--metrics-root", required=True, help="the pipeline's metrics root (a lake URI, /Volumes or local)")
    ap.add_argument("--run-id", required=True)
    ap.add_argument("--fail-under", type=float, default=80.0, help="least coverage of capstone/, in percent")
    ap.add_argument("pytest_args", nargs="*", help="more pytest arguments, after --, e.g. -- -k validate")
    args = ap.parse_args(argv)
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT / "tests"))
    from capstone.runtime import local_spark_env

    local_spark_env()
    if "DATABRICKS_RUNTIME_VERSION" in os.environ:
        from pyspark.sql import SparkSession

        use_local_default_fs(SparkSession.getActiveSession())
    with tempfile.TemporaryDirectory() as tmp:
        rc = coverage_config(Path(tmp) / "coveragerc")
        code = pytest.main(
            [
                "tests",
                "-m",
                "not local_only",
                "-p",
                "no:cacheprovider",
                f"--junitxml={tmp}/junit.xml",
                "--cov",
                f"--cov-config={rc}",
                "--cov-report=term",
                f"--cov-report=json:{tmp}/coverage.json",
                f"--cov-fail-under={args.fail_under}",
                *args.pytest_args,
            ]
        )
        from capstone.storage import fs_write_bytes
        from capstone.config import join_uri
        from capstone.runtime import get_spark

        spark, dest = get_spark(), join_uri(args.metrics_root, "tests", args.run_id)
        for name in ("junit.xml", "coverage.json"):
            report = Path(tmp) / name
            if report.exists():
                fs_write_bytes(spark, join_uri(dest, name), report.read_bytes())
    print(f"test reports: {dest}", flush=True)
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
