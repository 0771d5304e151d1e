import gzip
import json
from pathlib import Path

import pytest
from werkzeug.wrappers import Response

from capstone.core import ConfigError, PipelineConfig
from capstone.extract_discogs import dump_kind, land_dump
from capstone.extract_discogs import run_step as extract_discogs
from capstone.extract_tmdb import (LiveTmdb, ReplayTmdb, landing_dir, parse_movie_ids, tmdb_session, to_jsonl_line)
from capstone.extract_tmdb import run_step as extract_tmdb

from conftest import ROOT


def test_replay_serves_recorded_before_derived(spark):
    client = ReplayTmdb(spark, str(ROOT / "data/sample/snapshots"))
    status, body = client.get_movie(27205)
    inception = json.loads(body)
    assert status == 200 and inception["title"] == "Inception"
    assert any(c["job"] == "Original Music Composer" and c["name"] == "Hans Zimmer" for c in inception["credits"]["crew"])
    status, body = client.get_movie(78)
    assert status == 200 and json.loads(body)["title"] == "Blade Runner" and "credits" not in json.loads(body)
    assert client.get_movie(999999999)[0] == 404


def test_extract_tmdb_lands_every_id_once(sample_run):
    cfg, metrics = sample_run
    m = metrics["extract_tmdb"]
    assert m["status"] == "succeeded"
    assert m["rows_in"]["ids"] == 4806 == m["rows_out"]["movies"] + sum(m["rows_quarantined"].values())
    lines = []
    for f in sorted(Path(landing_dir(cfg)).glob("*.jsonl.gz")):
        lines += gzip.decompress(f.read_bytes()).decode().splitlines()
    ids = [json.loads(x)["id"] for x in lines]
    assert len(ids) == len(set(ids)) == 4806


def test_rerun_of_replay_replaces_not_appends(spark, tmp_path):
    cfg = PipelineConfig.from_params(project_root=str(ROOT), raw_root=str(tmp_path / "raw"), output_root=str(tmp_path),
                                     tmdb_max_films=5)
    for _ in range(2):
        extract_tmdb(spark, cfg, progress=False)
    files = list((tmp_path / "raw" / "tmdb" / "movies").rglob("*.jsonl.gz"))
    assert len(files) == 1
    assert len(gzip.decompress(files[0].read_bytes()).decode().splitlines()) == 5


def test_parse_movie_ids_counts_bad_lines():
    assert parse_movie_ids(['{"id": 1}', "not json", '{"id": true}', '{"x": 2}', '{"id": 1}', '{"id": 3}']) == ([1, 3], 3)


def test_invalid_body_is_still_landed_on_one_line():
    assert to_jsonl_line(b'{"id": 1,\n"title": "x"') == '{"id": 1, "title": "x"'
    assert to_jsonl_line('{"title":\n "Amélie"}'.encode()) == '{"title":"Amélie"}'


# --- live TMDB client against a real HTTP server on 127.0.0.1 -------------------------------------------------

def test_live_tmdb_sends_bearer_token_and_appends(httpserver):
    httpserver.expect_request("/3/movie/78", query_string="append_to_response=credits%2Cexternal_ids",
                              headers={"Authorization": "Bearer test-token"}).respond_with_json({"id": 78, "title": "Blade Runner"})
    client = LiveTmdb(httpserver.url_for("/3"), tmdb_session(token="test-token", retries=0))
    status, body = client.get_movie(78)
    assert status == 200 and json.loads(body)["title"] == "Blade Runner"


def test_live_tmdb_retries_5xx_then_succeeds(httpserver):
    calls = []

    def flaky(request):
        calls.append(1)
        return Response("busy", status=503) if len(calls) < 3 else Response('{"id": 11}', status=200)
    httpserver.expect_request("/3/movie/11").respond_with_handler(flaky)
    session = tmdb_session(api_key="test-key", retries=4)
    session.adapters["http://"].max_retries.backoff_factor = 0  # keep the test fast; the policy is what is tested
    status, body = LiveTmdb(httpserver.url_for("/3"), session).get_movie(11)
    assert status == 200 and len(calls) == 3


def test_live_tmdb_404_is_reported_not_raised(httpserver):
    httpserver.expect_request("/3/movie/5").respond_with_json({"status_code": 34}, status=404)
    assert LiveTmdb(httpserver.url_for("/3"), tmdb_session(api_key="k", retries=0)).get_movie(5)[0] == 404


def test_live_tmdb_bad_key_fails_fast_naming_the_variable(httpserver):
    httpserver.expect_request("/3/movie/5").respond_with_json({"status_code": 7}, status=401)
    with pytest.raises(PermissionError, match="TMDB_READ_TOKEN"):
        LiveTmdb(httpserver.url_for("/3"), tmdb_session(api_key="k", retries=0)).get_movie(5)


def test_live_mode_without_credentials_says_what_to_set():
    with pytest.raises(ConfigError, match="TMDB_API_KEY"):
        tmdb_session(None, None)


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


def test_discogs_api_mode_is_refused_clearly(spark, tmp_path):
    cfg = PipelineConfig.from_params(raw_root=str(tmp_path), output_root=str(tmp_path), discogs_source="api")
    with pytest.raises(ConfigError, match="discogs_source='api'"):
        extract_discogs(spark, cfg, progress=False)
