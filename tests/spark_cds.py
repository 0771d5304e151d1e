"""A class-data-sharing archive of Spark's classes for the suite's JVMs (`python tests/spark_cds.py` builds it once).

Every notebook the suite executes (the sample run's kernels, nbval's) and every CLI it runs starts a Spark JVM of its
own, and each loads and verifies the same ten thousand classes from Spark's jars. A JDK dynamic CDS archive
(`-XX:ArchiveClassesAtExit`, then `-XX:SharedArchiveFile`) holds them ready to map: a cold session with its first
queries takes 5.4 s instead of 7.6 s on a quiet machine (farm-bench, wall A/B 0.71, median of 5 pairs; 0.55 busy).

The archive is keyed by the jars it was built from (names, sizes, times), in this environment's prefix, so a venv gets
its own and a changed Spark gets a new one. The JVM checks the class path itself and, if anything differs, runs
without the archive; its CDS log is off, so that case prints nothing either."""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import sys
from pathlib import Path

# what a stage notebook does, in a few lines: the classes it loads are the ones archived
WORKLOAD = """
import sys, tempfile
import pandas as pd
from pyspark.sql import SparkSession, Window, functions as F, types as T
spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
         .config("spark.sql.execution.arrow.pyspark.enabled", "true").getOrCreate())
df = spark.createDataFrame(pd.DataFrame({"id": [1, 2, 3], "t": ["a b", "b c", None]}))
@F.pandas_udf(T.LongType())
def n(s: pd.Series) -> pd.Series:
    return s.fillna("").str.len()
words = df.select("id", F.explode(F.split("t", " ")).alias("w"), n("t").alias("n"))
agg = words.groupBy("w").agg(F.count("*").alias("c"), F.collect_set("id").alias("ids"))
ranked = words.join(agg, "w").withColumn("r", F.row_number().over(Window.partitionBy("w").orderBy("id")))
ranked = ranked.withColumn("f", F.filter(F.col("ids"), lambda x: x > 1)).withColumn("m", F.transform("ids", lambda x: x * 2))
out = tempfile.mkdtemp()
ranked.write.mode("overwrite").parquet(out + "/p")
spark.read.parquet(out + "/p").toPandas()
spark.read.json(spark.sparkContext.parallelize(['{"a": 1}'])).collect()
gateway = spark.sparkContext._gateway
spark.stop()
gateway.proc.stdin.close()  # the JVM ends when its stdin does, and writes the archive as it ends
sys.exit(gateway.proc.wait())
"""


def archive_path() -> Path:
    "Where this environment's archive is, for the Spark jars it has now."
    import pyspark

    jars = Path(pyspark.__file__).parent / "jars"
    listing = sorted((p.name, p.stat().st_size, int(p.stat().st_mtime)) for p in jars.glob("*.jar"))
    key = hashlib.sha256(repr((str(jars), listing)).encode()).hexdigest()[:12]
    return Path(sys.prefix) / f"spark-classes-{key}.jsa"


def java_options(archive: Path, write: bool = False) -> str:
    "Driver JVM options that map `archive` (or, with `write`, write it as the JVM ends); the CDS log off."
    return (
        f"-XX:{'ArchiveClassesAtExit' if write else 'SharedArchiveFile'}={archive} -Xlog:cds=off -Xlog:cds+dynamic=off"
    )


def submit_args(*conf: str) -> str:
    "PYSPARK_SUBMIT_ARGS with `conf` (`--conf k=v` pairs) and, when the archive exists, the options that map it."
    path = archive_path()
    args = [a for c in conf for a in ("--conf", c)] + (
        ["--driver-java-options", java_options(path)] if path.exists() else []
    )
    return shlex.join([*args, "pyspark-shell"])


def run_workload(java_opts: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYSPARK_SUBMIT_ARGS=shlex.join(["--driver-java-options", java_opts, "pyspark-shell"]))
    env["PYSPARK_PYTHON"] = sys.executable  # this venv's workers: the Makefile's may name another venv's Python
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    return subprocess.run([sys.executable, "-c", WORKLOAD], env=env, capture_output=True, text=True)


def main() -> int:
    path = archive_path()
    if path.exists():
        print(f"Spark class archive: {path} (exists)")
        return 0
    tmp = Path(f"{path}.tmp")
    written = run_workload(java_options(tmp, write=True))
    # a truncated or damaged archive crashes every JVM that maps it (SIGBUS): one must run on it before it is used
    checked = run_workload(java_options(tmp)) if not written.returncode and tmp.exists() else written
    if checked.returncode:
        tmp.unlink(missing_ok=True)
        print(f"Spark class archive: not built (exit {checked.returncode}); the suite runs without it")
        print(checked.stderr[-1500:])
        return 0  # a speed-up only: its absence changes no result
    tmp.rename(path)
    print(f"Spark class archive: {path} ({path.stat().st_size // 2**20} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
