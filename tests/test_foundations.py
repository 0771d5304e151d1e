"What every stage stands on: the config and its parameters, the runtime (Spark session, secrets), storage and tables, the output root's lock and the stage metrics."

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from functools import partial

import pytest
from chispa import assert_df_equality

from capstone.config import ConfigError, PipelineConfig, has_scheme, join_uri, resolve_uri
from capstone.runtime import get_secret, get_spark
from capstone.storage import (
    ContractError,
    fs_copy,
    fs_exists,
    fs_list,
    fs_read_bytes,
    fs_write_bytes,
    read_table,
    table_history,
    write_table,
)
from capstone.metrics import read_metrics, stage_metrics
from capstone.schemas import frame
from conftest import session_has_delta


def test_config_coerces_widget_strings():
    cfg = PipelineConfig.from_params(
        project_root="/repo", match_threshold="0.95", review_threshold="0.4", tmdb_max_films="25", run_id="abc"
    )
    assert (cfg.match_threshold, cfg.review_threshold, cfg.tmdb_max_films) == (0.95, 0.4, 25)
    assert cfg.silver("films") == "/repo/data/out/silver/films"
    assert cfg.metrics_path("match") == "/repo/data/out/metrics/abc/match.json"


@pytest.mark.parametrize(
    "params, message",
    [
        ({"raw_rot": "x"}, "raw_rot"),
        ({"tmdb_max_films": "many"}, "tmdb_max_films"),
        ({"discogs_source": "ftp"}, "discogs_source"),
        ({"match_threshold": "0.4", "review_threshold": "0.5"}, "review_threshold"),
        ({"run_id": "a b"}, "run_id"),
    ],
)
def test_config_rejects_bad_values(params, message):
    with pytest.raises(ConfigError, match=message):
        PipelineConfig.from_params(**params)


def test_uris_are_not_paths():
    root = "abfss://lake@acct.dfs.core.windows.net/capstone"
    cfg = PipelineConfig.from_params(project_root="/repo", raw_root=root + "/raw", output_root=root)
    assert cfg.gold("film_soundtrack_links") == root + "/gold/film_soundtrack_links"
    assert cfg.raw("tmdb", "movies") == root + "/raw/tmdb/movies"
    assert has_scheme(root) and not has_scheme("/tmp/x") and not has_scheme("C:/x")
    assert resolve_uri("data/x", "/repo") == "/repo/data/x" and resolve_uri("/abs", "/repo") == "/abs"
    assert join_uri("file:///tmp/", "/a/", "b") == "file:///tmp/a/b"


def test_gold_and_metrics_can_live_in_their_own_containers():
    lake = "abfss://{}@acct.dfs.core.windows.net/prod"
    cfg = PipelineConfig.from_params(
        output_root=lake.format("silver"),
        gold_root=lake.format("gold"),
        metrics_root=lake.format("metrics"),
        run_id="r7",
    )
    assert cfg.silver("films") == lake.format("silver") + "/silver/films"
    assert cfg.gold("films_enriched") == lake.format("gold") + "/films_enriched"
    assert cfg.metrics_path("match") == lake.format("metrics") + "/r7/match.json"


def test_abfss_without_the_connector_fails_before_any_work(spark):
    cfg = PipelineConfig.from_params(raw_root="abfss://raw@acct.dfs.core.windows.net/x", run_id="r1")
    with pytest.raises(ConfigError, match=r"raw_root=.*no FileSystem for 'abfss://'.*Databricks"):
        get_spark(cfg)


def test_secrets_come_from_the_environment_without_a_scope(monkeypatch):
    cfg = PipelineConfig.from_params(run_id="r1")
    monkeypatch.setenv("DISCOGS_TOKEN", "tok")
    monkeypatch.delenv("TMDB_API_KEY", raising=False)
    assert get_secret("DISCOGS_TOKEN", cfg) == "tok"
    assert get_secret("TMDB_API_KEY", cfg) is None
    with pytest.raises(KeyError, match="not a credential"):
        get_secret("AWS_SECRET", cfg)


def test_fs_helpers_roundtrip(spark, tmp_path):
    uri = join_uri(str(tmp_path), "x", "é.json")
    fs_write_bytes(spark, uri, "ünïcode".encode())
    assert fs_read_bytes(spark, uri).decode() == "ünïcode"
    fs_copy(spark, uri, join_uri(str(tmp_path), "y", "copy.json"))
    assert fs_exists(spark, join_uri(str(tmp_path), "y", "copy.json"))
    assert sorted(u.rsplit("/", 1)[-1] for u in fs_list(spark, str(tmp_path), (".json",))) == ["copy.json", "é.json"]
    assert not list(tmp_path.rglob("*._tmp_*")), "temporary files must be renamed away"
    assert not list(tmp_path.rglob("*.crc")), "no checksum side files in the raw zone"
    with pytest.raises(FileNotFoundError):
        fs_read_bytes(spark, join_uri(str(tmp_path), "missing"))


def test_write_table_replaces_and_read_table_checks(spark, tmp_path, table_format):
    uri = str(tmp_path / "t")
    assert write_table(frame(spark, "id long, s string", [(1, "a"), (2, "b")]), uri, table_format=table_format) == 2
    df = frame(spark, "id long, s string", [(3, "c")])
    assert write_table(df, uri, table_format=table_format) == 1
    assert_df_equality(read_table(spark, uri), df)
    if table_format == "delta":  # every version kept, each readable by number
        assert sorted(r.id for r in read_table(spark, uri, version=0).collect()) == [1, 2]
    with pytest.raises(ContractError, match="run prepare first"):
        read_table(spark, str(tmp_path / "none"), hint="prepare")
    marker = tmp_path / "t" / ("_delta_log" if table_format == "delta" else "_SUCCESS")
    shutil.rmtree(marker) if marker.is_dir() else marker.unlink()
    with pytest.raises(ContractError, match="incomplete"):
        read_table(spark, uri)


def test_a_guarded_table_may_not_lose_more_than_half_its_rows(spark, tmp_path, table_format):
    "A wrong input path must not empty the table that answers to it: the old version stays, with nothing beside it."
    uri, write = str(tmp_path / "films"), partial(write_table, table_format=table_format)
    assert write(frame(spark, "id long", [(i,) for i in range(10)]), uri) == 10
    with pytest.raises(ContractError, match=r"would shrink from 10 to 4 rows: is raw_root='/typo' the input you meant"):
        write(frame(spark, "id long", [(i,) for i in range(4)]), uri, guarded_by="raw_root='/typo'")
    assert read_table(spark, uri).count() == 10
    assert [p.name for p in tmp_path.iterdir()] == ["films"], "the refused version is gone"
    if table_format == "delta":
        assert [h.version for h in table_history(spark, uri)] == [0], "checked before the commit: none made"
    assert write(frame(spark, "id long", [(i,) for i in range(5)]), uri, guarded_by="raw_root='/x'") == 5


def test_metrics_json_keeps_numpy_counts_as_numbers():
    'Spark Connect 3.5 counts rows as NumPy integers: the metrics JSON still says 4806, not "4806".'
    import numpy as np

    from capstone.metrics import StageMetrics

    m = StageMetrics(stage="match", run_id="r1", rows_in={"films": np.int64(4806)}, figures={"share": np.float64(0.5)})
    d = json.loads(m.to_json())
    assert (d["rows_in"], d["figures"]) == ({"films": 4806}, {"share": 0.5})


def test_stage_metrics_marks_failures(spark, tmp_path):
    cfg = PipelineConfig.from_params(output_root=str(tmp_path), run_id="r1")
    with pytest.raises(RuntimeError):
        with stage_metrics(spark, cfg, "prepare") as m:
            m.rows_in["films"] = 3
            time.sleep(0.05)
            raise RuntimeError("disk full")
    got = read_metrics(spark, cfg, "prepare")
    assert got["status"] == "failed" and "disk full" in got["error"] and got["rows_in"] == {"films": 3}
    # the duration spans the stage's body up to its failure (the dataclass default is 0.0)
    assert json.loads((tmp_path / "metrics" / "r1" / "prepare.json").read_text())["duration_s"] >= 0.05


REMOTE = os.environ.get("SPARK_REMOTE", "")
WRITER = """
import sys
from capstone.runtime import get_spark
from capstone.storage import write_table
spark = get_spark()
version = 0
while True:
    version += 1
    write_table(spark.range(100_000).selectExpr(f"{version} AS version", "id"), sys.argv[1], 4, table_format=sys.argv[2])
    print(version, flush=True)
"""


@contextmanager
def writer_spark(tmp_path):
    """Where the killed writer's Spark runs, JVM included: its own local session; under make test-connect its own Spark
    Connect server (tests/connect_server.py), killed with it, since this suite's session holds the shared one."""
    if not REMOTE.startswith("sc://"):
        yield {"SPARK_TESTING": "1"} if REMOTE.startswith("local") else {}  # PySpark 4: an ephemeral local server
        return
    import connect_server

    server, url = connect_server.start(tmp_path / "writer-server.log")
    try:
        yield {"SPARK_REMOTE": url}
    finally:
        connect_server.stop(server, signal.SIGKILL)


def test_kill_9_during_table_writes_leaves_a_table_readers_and_the_next_run_can_use(spark, tmp_path, table_format):
    "A writer replacing a table over and over is killed outright at a random instant, JVM included."
    uri = str(tmp_path / "tbl")
    with writer_spark(tmp_path) as env:
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, uri, table_format],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
            env=dict(os.environ, PYSPARK_PYTHON=sys.executable, **env),
        )
        try:
            assert proc.stdout.readline().strip() == "1", "the first version is written"
            time.sleep(random.uniform(0.0, 2.0))  # somewhere inside a later write: data files, the commit or the swap
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    versions = read_table(spark, uri).groupBy("version").count().collect()
    assert len(versions) == 1 and versions[0]["count"] == 100_000, "one whole version, old or new"
    assert read_table(spark, uri).count() == 100_000
    assert write_table(spark.range(3).selectExpr("0 AS version", "id"), uri, table_format=table_format) == 3
    assert [n for n in os.listdir(tmp_path) if n.startswith(".tbl.")] == [], "the dead writer's temporary is gone"


def test_fs_unreadable_names_empty_truncated_and_corrupt_compressed_files(spark, tmp_path):
    import gzip
    from capstone.storage import fs_unreadable

    whole = gzip.compress(b"".join(b'{"id": %d}\n' % i for i in range(5000)))
    files = {
        "ok.jsonl.gz": whole,
        "cut.jsonl.gz": whole[: len(whole) // 2],
        "empty.jsonl.gz": b"",
        "garbage.jsonl.gz": b"not gzip at all",
        "plain.jsonl": b"{}\n",
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    got = {name: fs_unreadable(spark, str(tmp_path / name)) for name in files}
    assert got["ok.jsonl.gz"] is None and got["plain.jsonl"] is None, "readable, or not compressed"
    assert got["empty.jsonl.gz"] == "empty compressed file (0 bytes)"
    assert got["cut.jsonl.gz"].startswith("unreadable compressed file: EOFError: ")
    assert got["garbage.jsonl.gz"].startswith("unreadable compressed file: ")


def test_a_lock_holder_is_gone_when_its_process_is_dead_or_its_lock_is_stale_on_another_host():
    import datetime as dt
    import socket

    from capstone.lock import LOCK_STALE_AFTER, holder_gone

    here, now = socket.gethostname(), dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    assert holder_gone({"host": here, "pid": dead.pid}), "a reaped process on this host"
    assert not holder_gone({"host": here, "pid": os.getpid()}), "this process, alive"
    assert not holder_gone({"host": here}), "no pid: not known to be gone"
    old = (now - LOCK_STALE_AFTER - dt.timedelta(minutes=1)).isoformat()
    recent = (now - dt.timedelta(hours=1)).isoformat()
    assert holder_gone({"host": "elsewhere", "pid": 1, "started_at": old}, now=now)
    assert not holder_gone({"host": "elsewhere", "pid": 1, "started_at": recent}, now=now)
    assert not holder_gone({"host": "elsewhere", "started_at": "not a time"}, now=now)


def test_two_writers_racing_on_one_delta_table_make_one_commit_and_one_clear_error(spark, tmp_path):
    "The lock keeps a second run off an output root; two writers meeting on one table all the same: one commit."
    if not session_has_delta(spark):
        pytest.skip("this session has no Delta Lake")
    from pyspark.sql import functions as F

    uri = str(tmp_path / "raced")
    write_table(spark.range(4), uri)
    slow = F.udf(lambda x: time.sleep(0.4) or x, "long")  # both transactions start before either commits
    outcomes = {}

    def writer(name: str) -> None:
        try:
            outcomes[name] = write_table(spark.range(4, numPartitions=2).select(slow("id").alias("id")), uri)
        except ContractError as e:
            outcomes[name] = e

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    errors = [o for o in outcomes.values() if isinstance(o, ContractError)]
    assert len(errors) == 1 and "another writer committed to this table first" in str(errors[0]), outcomes
    assert [h.version for h in table_history(spark, uri)] == [1, 0], "one commit over the first version"
    assert read_table(spark, uri).count() == 4


def test_a_delta_table_named_by_a_relative_path_has_its_versions(spark, tmp_path):
    "Delta's SQL names a path table only by an absolute path: `data/out/gold/x` works as well as the absolute one."
    if not session_has_delta(spark):
        pytest.skip("this session has no Delta Lake")
    rel = os.path.relpath(tmp_path / "t")  # against the working directory, which the session's driver shares
    write_table(spark.range(2), rel)
    write_table(spark.range(3), rel)
    assert [h.version for h in table_history(spark, rel)] == [1, 0]
    assert read_table(spark, rel, version=0).count() == 2


def test_capstone_restore_puts_back_every_table_a_run_wrote(spark, tmp_path):
    "Two runs of a stage, then `capstone restore --run-id first`: both tables are the first run's again, cell by cell."
    if not session_has_delta(spark):
        pytest.skip("this session has no Delta Lake")
    from capstone.metrics import table_writer
    from capstone.tools.runner import main

    runs = {"first": [(1, "a"), (2, "b")], "second": [(3, "c")]}
    for run_id, rows in runs.items():
        cfg = PipelineConfig.from_params(output_root=str(tmp_path), run_id=run_id)
        with stage_metrics(spark, cfg, "match") as m:
            write = table_writer(cfg, m)
            write(frame(spark, "id long, s string", rows), cfg.gold("links"))
            write(frame(spark, "id long", [(r[0],) for r in rows]), cfg.silver("pairs"))
    assert main(["restore", "--run-id", "first", "-p", f"output_root={tmp_path}"]) == 0
    assert_df_equality(read_table(spark, cfg.gold("links")), frame(spark, "id long, s string", runs["first"]), ignore_row_order=True)  # fmt: skip
    assert sorted(r.id for r in read_table(spark, cfg.silver("pairs")).collect()) == [1, 2]
    assert main(["restore", "--run-id", "nosuch", "-p", f"output_root={tmp_path}"]) == 1
