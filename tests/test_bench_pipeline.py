"The pipeline benchmark's parts: its raw zone is valid input, its memory counts the whole process tree, a failing stage stops it loudly."

import json
import os
import stat
import subprocess
import sys

import pytest

pytest.importorskip("psutil")  # the benchmarks' tools (the bench extra); a cluster's test run leaves them out
from capstone.tools import bench_pipeline
from capstone.tools.labelled_world import generate, real_material
from capstone.tools.bench_pipeline import TreeRSS, growth, run_stage, sample_movies, tables, write_raw_zone

from conftest import ROOT

pytestmark = pytest.mark.local_only  # left out on a cluster (tests/run_suite.py): the benchmarks are local tools

SNAPSHOTS = str(ROOT / "data/sample/snapshots")


@pytest.fixture(scope="module")
def world():
    material = real_material(SNAPSHOTS, str(ROOT / "data/sample/dump/discogs_20200806_masters.xml.gz"))
    return generate(400, material, seed=5)


def test_generated_raw_zone_says_it_is_generated(tmp_path, world):
    # that prepare and validate take this raw zone whole (every film and master in, none set aside) is asserted by
    # nbs/tools/bench_pipeline.ipynb under nbval, on the run it benches
    films, masters, _ = world
    desc = write_raw_zone(str(tmp_path / "raw"), films, masters, sample_movies(SNAPSHOTS), parts=3)
    assert desc["generated"] and desc["films"] == 400 and desc["masters"] == len(masters)
    assert json.loads((tmp_path / "raw" / "GENERATED.json").read_text()) == desc
    assert len(list((tmp_path / "raw" / "tmdb").rglob("part-*.jsonl.gz"))) == 3


def test_generated_releases_dump_is_read_whole_by_the_real_dump_reader(tmp_path, world, spark):
    "Every release written (the masters' own and the real non-soundtrack records under new ids) parses, none in error."
    from capstone.dump import parse_dump, read_dump_chunks
    from capstone.schemas import RELEASE_RECORD_SCHEMA
    from capstone.tools.bench_pipeline import release_sample

    films, masters, _ = world
    sample = release_sample(str(ROOT / "data/sample/dump/discogs_20200806_releases.xml.gz"))
    desc = write_raw_zone(str(tmp_path / "raw"), films, masters, sample_movies(SNAPSHOTS), sample, 0.5, parts=1)
    assert desc["releases"] == desc["releases_of_masters"] + desc["non_soundtrack_filler"]
    assert 0.49 < desc["soundtrack_share"] < 0.51 and desc["proportions_of"]["per_master"] == {1: 337, 2: 8, 4: 1}
    dump = str(tmp_path / "raw/discogs/releases/generated-discogs_20990101_releases.xml.gz")
    parsed = parse_dump(read_dump_chunks(spark, [dump], "release", 2), "release", RELEASE_RECORD_SCHEMA)
    got = parsed.selectExpr("count(*) AS n", "count(_error) AS bad", "count(DISTINCT r.discogs_release_id) AS ids")
    assert got.collect()[0].asDict() == {"n": desc["releases"], "bad": 0, "ids": desc["releases"]}


def test_films_borrow_real_fields_but_keep_their_own_title_year_and_composer(world):
    films, _, _ = world
    movies = sample_movies(SNAPSHOTS)
    f = next(f for f in films if f["composer"])
    rec = bench_pipeline.movie_record(f, movies[0], __import__("random").Random(1))
    assert (rec["id"], rec["title"], rec["release_date"][:4]) == (f["tmdb_id"], f["title"], str(f["release_year"]))
    assert rec["credits"]["crew"][0]["name"] == f["composer"] and rec["genres"] == movies[0]["genres"]


def test_tree_memory_counts_the_children():
    # a shell that starts a Python holding 300 MB: the shell alone is a few MB
    cmd = [
        "sh",
        "-c",
        f"{sys.executable} -c 'import time; b = bytearray(300 * 2**20); b[::4096] = b\"x\" * len(b[::4096]); time.sleep(2)'",
    ]
    proc = subprocess.Popen(cmd)
    with TreeRSS(proc.pid, interval=0.1) as mem:
        proc.wait()
    assert mem.peak_kb > 250 * 1024


def _fake_capstone(tmp_path, monkeypatch, body: str):
    script = tmp_path / "capstone"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(bench_pipeline, "capstone_command", lambda: str(script))


def test_a_stage_gets_its_parameters_and_a_failing_one_stops_the_bench(tmp_path, monkeypatch):
    seen = tmp_path / "args"
    _fake_capstone(tmp_path, monkeypatch, f'echo "$@" > {seen}')
    out = run_stage("validate", {"raw_root": "r", "run_id": "x"}, str(tmp_path), str(tmp_path / "log"))
    assert seen.read_text().split() == ["run", "--steps", "validate", "-p", "raw_root=r", "-p", "run_id=x"]
    assert out["wall_s"] > 0
    _fake_capstone(tmp_path, monkeypatch, "echo working; echo 'ContractError: no films' >&2; exit 3")
    with pytest.raises(RuntimeError, match=r"(?s)--steps match exited 3.*ContractError: no films"):
        run_stage("match", {}, str(tmp_path), str(tmp_path / "log"))


def _row(n: int, t: float) -> dict:
    stages = {"prepare": t, "validate": t, "match": 2 * t}
    return {
        "films": n,
        "stages": {
            s: {"wall_s": w, "stage_s": w / 2, "peak_mb": 900.0, "rows_in": 2 * n, "rows_per_s": 1.0}
            for s, w in stages.items()
        },
    }


def test_growth_per_doubling_and_shares():
    rows = [_row(4000, 44.1), _row(1000, 10.0), _row(8000, 88.2)]
    g = growth(rows)
    assert [(x["from"], x["to"]) for x in g] == [(1000, 4000), (4000, 8000)]
    assert g[0]["total"] == 2.1 and g[1]["match"] == 2.0  # 4.41x over two doublings; 2x over one
    stages, _ = tables(rows)
    assert stages.loc[(1000, "match"), "share"] == 0.5
    assert stages.loc[(8000, "total"), "wall_s"] == 352.8 and stages.loc[(8000, "total"), "share"] == 1.0
    assert os.path.basename(bench_pipeline.capstone_command()) == "capstone"
