import gzip
import json
from pathlib import Path

import pytest

from capstone.config import ConfigError, PipelineConfig
from capstone.extract_discogs import dump_kind, land_dump
from capstone.extract_tmdb import landing_dirs, parse_movie_ids
from capstone.tmdb_replay import TmdbSnapshot
from capstone.extract_tmdb import run_step as extract_tmdb

from conftest import ROOT


def test_replay_serves_recorded_before_derived(spark):
    snapshot = TmdbSnapshot(spark, str(ROOT / "data/sample/snapshots"))
    status, body = snapshot.body(27205)
    inception = json.loads(body)
    assert status == 200 and inception["title"] == "Inception"
    assert any(
        c["job"] == "Original Music Composer" and c["name"] == "Hans Zimmer" for c in inception["credits"]["crew"]
    )
    status, body = snapshot.body(78)
    assert status == 200 and json.loads(body)["title"] == "Blade Runner" and "credits" not in json.loads(body)
    assert snapshot.body(999999999)[0] == 404


def test_extract_tmdb_lands_every_id_once(sample_run):
    cfg, metrics = sample_run
    m = metrics["extract_tmdb"]
    assert m["status"] == "succeeded"
    assert m["rows_in"]["ids"] == 4806 == m["rows_out"]["movies"] + sum(m["rows_quarantined"].values())
    lines = []
    for f in sorted(Path(landing_dirs(cfg)["landed"]).glob("*.jsonl.gz")):
        lines += gzip.decompress(f.read_bytes()).decode().splitlines()
    ids = [json.loads(x)["id"] for x in lines]
    assert len(ids) == len(set(ids)) == 4806


def test_rerun_of_replay_replaces_not_appends(spark, tmp_path):
    cfg = PipelineConfig.from_params(
        project_root=str(ROOT), raw_root=str(tmp_path / "raw"), output_root=str(tmp_path), tmdb_max_films=5
    )
    for _ in range(2):
        extract_tmdb(spark, cfg, progress=False)
    files = list((tmp_path / "raw" / "tmdb" / "movies").rglob("*.jsonl.gz"))
    assert [f.name for f in files] == ["part-00000.jsonl.gz"]
    assert len(gzip.decompress(files[0].read_bytes()).decode().splitlines()) == 5


def test_parse_movie_ids_counts_bad_lines():
    assert parse_movie_ids(['{"id": 1}', "not json", '{"id": true}', '{"x": 2}', '{"id": 1}', '{"id": 3}']) == (
        [1, 3],
        3,
    )


# --- Discogs --------------------------------------------------------------------------------------------------


def test_dump_names_and_kinds(spark, tmp_path):
    assert dump_kind("/x/discogs_20200806_releases.xml.gz") == ("20200806", "releases")
    cfg = PipelineConfig.from_params(raw_root=str(tmp_path))
    with pytest.raises(ConfigError, match="masters dump"):
        land_dump(spark, cfg, str(ROOT / "data/sample/dump/discogs_20200806_masters.xml.gz"), "releases")
    with pytest.raises(ConfigError, match="does not exist"):
        land_dump(spark, cfg, str(tmp_path / "discogs_20200101_releases.xml.gz"), "releases")


def test_extract_discogs_lands_bytes_unchanged(sample_run):
    cfg, metrics = sample_run
    assert metrics["extract_discogs"]["rows_out"]["search_files"] == 10
    src = ROOT / "data/sample/dump/discogs_20200806_releases.xml.gz"
    dst = Path(cfg.raw("discogs", "releases", src.name))
    assert dst.read_bytes() == src.read_bytes()
