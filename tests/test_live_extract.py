"""Live extraction against a real HTTP server on 127.0.0.1 that imitates TMDB and Discogs with recorded bodies.

Every fault test asserts the exact set of records landed, that none is duplicated, and where each other id went.
"""

import datetime as dt
import gzip
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Response

from capstone.config import ConfigError, PipelineConfig
from capstone.extract_discogs import classify_page, discogs_session, pause_when_exhausted, search_live
from capstone.extract_discogs import run_step as extract_discogs
from capstone.extract_tmdb import extract_movies, landing_dirs
from capstone.extract_tmdb import run_step as extract_tmdb
from capstone.fetch import FetchStats, api_session

from conftest import ROOT

SNAPSHOT = ROOT / "data/sample/snapshots"


def recorded_films(n: int = 24) -> dict[int, bytes]:
    "Real recorded TMDB bodies (tmdb/movie) and bodies derived from the TMDB 5000 CSV, by id."
    films = {int(p.stem): p.read_bytes() for p in (SNAPSHOT / "tmdb/movie").glob("*.json")}
    for line in gzip.decompress((SNAPSHOT / "tmdb/derived/movie_from_tmdb5000.jsonl.gz").read_bytes()).splitlines():
        if len(films) >= n:
            break
        films.setdefault(json.loads(line)["id"], line)
    return films


class FakeTmdb:
    "`/3/movie/<id>`: the recorded body, a 404 for unknown ids, or the faults scripted for an id, in order."

    def __init__(self, httpserver, films, token="test-token", api_key=None, delay=0.0):
        self.films, self.token, self.api_key, self.delay = films, token, api_key, delay
        self.faults: dict[int, list] = {}
        self.calls: list[int] = []
        self.by_agent: list[tuple[str, int]] = []  # (User-Agent, id) of each call: one client's calls from another's
        httpserver.expect_request(re.compile(r"/3/movie/\d+")).respond_with_handler(self.handle)
        self.base = httpserver.url_for("/3")

    def handle(self, request):
        tmdb_id = int(request.path.rsplit("/", 1)[-1])
        self.calls.append(tmdb_id)
        self.by_agent.append((request.headers.get("User-Agent", ""), tmdb_id))
        if self.delay:
            time.sleep(self.delay)
        ok = (
            request.headers.get("Authorization") == f"Bearer {self.token}"
            if self.api_key is None
            else request.args.get("api_key") == self.api_key
        )
        if not ok:
            return Response('{"status_code":7,"status_message":"Invalid API key"}', status=401)
        if request.args.get("append_to_response") != "credits,external_ids":
            return Response("missing append_to_response", status=400)
        script = self.faults.get(tmdb_id)
        if script:
            fault = script.pop(0) if len(script) > 1 else script[0]
            if fault != "ok":
                return fault if isinstance(fault, Response) else fault()
        if tmdb_id not in self.films:
            return Response('{"success":false,"status_code":34}', status=404)
        return Response(self.films[tmdb_id], status=200, content_type="application/json")


def cut_body():
    r = Response(b'{"id": 1, "title": "cut', status=200, content_type="application/json")
    r.headers["Content-Length"] = "500"  # the connection ends 477 bytes early
    return r


def slow(seconds):
    def respond():
        time.sleep(seconds)
        return Response("{}", status=200)

    return respond


def cfg_for(tmp_path, base, **extra):
    ids_file = tmp_path / "movie_ids_11_26_2026.json.gz"
    return PipelineConfig.from_params(
        raw_root=str(tmp_path / "raw"),
        output_root=str(tmp_path / "out"),
        snapshot_root=str(tmp_path / "snap"),
        tmdb_source="api",
        tmdb_ids_file=str(ids_file),
        tmdb_base_url=base,
        run_id="live-test",
        **extra,
    )


def write_ids(cfg, ids):
    Path(cfg.tmdb_ids_file).write_bytes(gzip.compress("".join(json.dumps({"id": i}) + "\n" for i in ids).encode()))


TMDB_AUTH = {"Authorization": "Bearer test-token"}


def fast_session(base, headers=TMDB_AUTH, retries=3, **kw):
    "The production session with a short backoff: the retry policy is what is tested, not its waits."
    return api_session(base, per_second=1000, retries=retries, backoff=0.01, headers=headers, **kw)


def discogs_headers(token):
    return {"Authorization": f"Discogs token={token}", "User-Agent": "capstone-soundtracks/test"}


def landed(cfg, kind="landed"):
    "Every JSONL line landed for this extraction, by id field, as a list (duplicates would show)."
    out = []
    for f in sorted(Path(landing_dirs(cfg)[kind]).glob("part-*.jsonl.gz")):
        for line in gzip.decompress(f.read_bytes()).decode().splitlines():
            doc = json.loads(line)
            out.append(doc["id"] if kind == "landed" else doc["tmdb_id"])
    return out


def quarantine_reasons(cfg):
    out = {}
    for f in sorted(Path(landing_dirs(cfg)["quarantined"]).glob("part-*.jsonl.gz")):
        for line in gzip.decompress(f.read_bytes()).decode().splitlines():
            doc = json.loads(line)
            out[doc["tmdb_id"]] = doc
    return out


@pytest.fixture
def httpserver():
    "A real, threaded HTTP server on 127.0.0.1 (like the APIs, it answers concurrent requests concurrently)."
    server = HTTPServer(host="127.0.0.1", threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def films():
    return recorded_films()


def test_every_film_lands_once_and_deleted_films_are_recorded(spark, tmp_path, httpserver, films):
    server = FakeTmdb(httpserver, films)
    cfg = cfg_for(tmp_path, server.base, http_workers=4)
    ids = sorted(films) + [999999901]
    write_ids(cfg, ids)
    out = extract_movies(spark, cfg, fast_session(server.base), ids, batch_size=7, progress=False)
    assert sorted(landed(cfg)) == sorted(films)
    assert landed(cfg, "not_found") == [999999901]
    assert (out["landed"], out["not_found"], out["quarantined"]) == (len(films), 1, 0)
    assert out["http"]["requests"] == len(ids) and out["http"]["retries"] == 0
    inception = next(
        json.loads(x)
        for x in gzip.decompress(next(Path(landing_dirs(cfg)["landed"]).glob("part-*")).read_bytes()).splitlines()
        if json.loads(x)["id"] == 27205
    )
    assert inception == json.loads(films[27205])  # landed unchanged (compact, same keys and values)


@pytest.mark.parametrize("retry_after", ["1", None])
def test_429_waits_and_retries(spark, tmp_path, httpserver, films, retry_after):
    server = FakeTmdb(httpserver, films)
    victim = sorted(films)[3]
    headers = {"Retry-After": retry_after} if retry_after else {}
    server.faults[victim] = [Response("slow down", status=429, headers=headers), "ok"]
    cfg = cfg_for(tmp_path, server.base)
    out = extract_movies(spark, cfg, fast_session(server.base), sorted(films), batch_size=10, progress=False)
    assert sorted(landed(cfg)) == sorted(films)
    assert server.calls.count(victim) == 2
    assert (out["http"]["status_429"], out["http"]["retries"], out["http"]["failures"]) == (1, 1, 0)


def test_bursts_of_5xx_are_retried_and_a_persistent_one_is_quarantined(spark, tmp_path, httpserver, films):
    server = FakeTmdb(httpserver, films)
    flaky, broken = sorted(films)[:2]
    server.faults[flaky] = [Response("", status=500), Response("", status=502), Response("", status=503), "ok"]
    server.faults[broken] = [Response("down", status=503)]
    cfg = cfg_for(tmp_path, server.base)
    out = extract_movies(spark, cfg, fast_session(server.base, retries=3), sorted(films), batch_size=10, progress=False)
    assert sorted(landed(cfg)) == sorted(set(films) - {broken})
    assert quarantine_reasons(cfg)[broken]["reason"] == "HTTP 503 after retries"
    assert server.calls.count(flaky) == 4 and server.calls.count(broken) == 4
    assert out["landed"] + out["quarantined"] == len(films) and out["http"]["failures"] == 1


def test_a_response_slower_than_the_timeout_is_retried_then_quarantined(spark, tmp_path, httpserver, films):
    server = FakeTmdb(httpserver, films)
    victim = sorted(films)[5]
    server.faults[victim] = [slow(1.0)]
    cfg = cfg_for(tmp_path, server.base)
    ids = sorted(films)[:8]
    out = extract_movies(
        spark, cfg, fast_session(server.base, retries=1), ids, batch_size=8, progress=False, timeout=0.3
    )
    assert sorted(landed(cfg)) == sorted(set(ids) - {victim})
    assert (
        "Timeout" in quarantine_reasons(cfg)[victim]["reason"]
        or "Connection" in quarantine_reasons(cfg)[victim]["reason"]
    )
    assert server.calls.count(victim) == 2 and out["quarantined"] == 1


def test_a_connection_dropped_mid_body_is_asked_again(spark, tmp_path, httpserver, films):
    server = FakeTmdb(httpserver, films)
    once, always = sorted(films)[:2]
    server.faults[once] = [cut_body, "ok"]
    server.faults[always] = [cut_body]
    cfg = cfg_for(tmp_path, server.base)
    out = extract_movies(spark, cfg, fast_session(server.base), sorted(films), batch_size=10, progress=False)
    assert sorted(landed(cfg)) == sorted(set(films) - {always})
    assert quarantine_reasons(cfg)[always]["reason"] == "body cut off: ChunkedEncodingError"
    assert server.calls.count(once) == 2 and server.calls.count(always) == 3
    assert out["quarantined"] == 1


def test_invalid_json_and_odd_shapes_are_asked_again_then_quarantined_with_the_url_but_not_the_key(
    spark, tmp_path, httpserver, films
):
    fake_key = f"fake-key-{uuid.uuid4().hex}"
    server = FakeTmdb(httpserver, films, api_key=fake_key)
    bad_json, wrong_id, once = sorted(films)[:3]
    server.faults[bad_json] = [Response(b'{"id": 5, "title": "Ali', status=200)]
    server.faults[wrong_id] = [Response(b'{"id": 1, "title": "Someone else"}', status=200)]
    server.faults[once] = [Response(b'{"id": 5, "title": "Ali', status=200), "ok"]  # a transient fault
    cfg = cfg_for(tmp_path, server.base)
    session = api_session(server.base, per_second=1000, retries=1, backoff=0.01, params={"api_key": fake_key})
    out = extract_movies(spark, cfg, session, sorted(films), batch_size=10, progress=False)
    q = quarantine_reasons(cfg)
    assert sorted(landed(cfg)) == sorted(set(films) - {bad_json, wrong_id})
    assert q[bad_json]["reason"] == "invalid JSON (malformed or truncated body) (3 attempts)"
    assert q[wrong_id]["reason"] == f"unexpected shape: expected an object with id {wrong_id} (3 attempts)"
    assert (q[bad_json]["runs"], q[bad_json]["final"]) == (1, False)
    assert [server.calls.count(i) for i in (bad_json, wrong_id, once)] == [3, 3, 2]
    assert out["http"]["retries"] == out["http"]["bodies_asked_again"] == 2 + 2 + 1, "each repeat is a retry"
    assert out["http"]["failures"] == 2
    assert "api_key=REDACTED" in q[bad_json]["url"] and fake_key not in json.dumps(q)


def test_quarantined_ids_are_asked_again_by_the_next_runs_then_final(spark, tmp_path, httpserver, films):
    from capstone.extract_tmdb import QUARANTINE_RUNS

    server = FakeTmdb(httpserver, films)
    recovers, never = sorted(films)[:2]
    server.faults[never] = [Response("busy", status=503)]
    server.faults[recovers] = [Response("busy", status=503)] * 3 + ["ok"]  # 3 requests in run 1 (retries=2), then ok
    cfg = cfg_for(tmp_path, server.base)
    ids = sorted(films)
    runs = [
        extract_movies(spark, cfg, fast_session(server.base, retries=2), ids, batch_size=5, progress=False)
        for _ in range(QUARANTINE_RUNS + 1)
    ]
    assert [r["quarantined"] for r in runs] == [2, 1, 1, 1]
    assert [r["quarantine"]["asked_again"] for r in runs] == [0, 2, 1, 0], "bounded: the last run asks for nothing"
    assert [r["quarantine"]["recovered"] for r in runs] == [0, 1, 0, 0]
    assert [r["quarantine"]["final"] for r in runs] == [0, 0, 1, 1]
    assert sorted(landed(cfg)) == sorted(set(ids) - {never}) and len(landed(cfg)) == len(set(landed(cfg)))
    assert (quarantine_reasons(cfg)[never]["runs"], quarantine_reasons(cfg)[never]["final"]) == (QUARANTINE_RUNS, True)
    assert server.calls.count(never) == 3 * QUARANTINE_RUNS
    assert all(r["landed"] + r["not_found"] + r["quarantined"] == len(ids) for r in runs)


def test_an_id_left_in_both_records_and_quarantine_by_a_crash_counts_once(spark, tmp_path, httpserver, films):
    server = FakeTmdb(httpserver, films)
    flaky = sorted(films)[0]
    server.faults[flaky] = [Response("busy", status=503)] * 2 + ["ok"]
    cfg = cfg_for(tmp_path, server.base)
    ids = sorted(films)
    extract_movies(spark, cfg, fast_session(server.base, retries=1), ids, batch_size=5, progress=False)
    q_file = Path(landing_dirs(cfg)["quarantined"]) / "part-00000.jsonl.gz"
    stale = q_file.read_bytes()
    extract_movies(spark, cfg, fast_session(server.base, retries=1), ids, batch_size=5, progress=False)
    q_file.write_bytes(stale)  # as if killed after the records file was rewritten, before the quarantine was
    calls = len(server.calls)
    out = extract_movies(spark, cfg, fast_session(server.base, retries=1), ids, batch_size=5, progress=False)
    assert len(server.calls) == calls and out["quarantined"] == 0 and not q_file.exists()
    assert sorted(landed(cfg)) == ids


def test_401_stops_the_run_naming_the_variables(spark, tmp_path, httpserver, films):
    server = FakeTmdb(httpserver, films, token="the-right-one")
    cfg = cfg_for(tmp_path, server.base)
    with pytest.raises(PermissionError, match="TMDB_READ_TOKEN or TMDB_API_KEY"):
        extract_movies(
            spark,
            cfg,
            fast_session(server.base, {"Authorization": "Bearer wrong"}),
            sorted(films),
            batch_size=5,
            progress=False,
        )
    assert landed(cfg) == []


def test_live_mode_without_credentials_says_what_to_set(spark, tmp_path, monkeypatch):
    monkeypatch.delenv("TMDB_READ_TOKEN", raising=False)
    monkeypatch.delenv("TMDB_API_KEY", raising=False)
    cfg = cfg_for(tmp_path, "http://127.0.0.1:9/3")
    write_ids(cfg, [1])
    with pytest.raises(ConfigError, match="TMDB_READ_TOKEN .* or TMDB_API_KEY"):
        extract_tmdb(spark, cfg, progress=False)


def test_running_the_same_extraction_twice_lands_every_record_once(spark, tmp_path, httpserver, films):
    server = FakeTmdb(httpserver, films)
    cfg = cfg_for(tmp_path, server.base)
    ids = sorted(films)
    first = extract_movies(spark, cfg, fast_session(server.base), ids, batch_size=5, progress=False)
    files = {p: p.read_bytes() for p in Path(landing_dirs(cfg)["landed"]).glob("*")}
    calls = len(server.calls)
    second = extract_movies(spark, cfg, fast_session(server.base), ids, batch_size=5, progress=False)
    assert (first["fetched_ids"], second["fetched_ids"], second["resumed_ids"]) == (len(ids), 0, len(ids))
    assert len(server.calls) == calls
    assert {p: p.read_bytes() for p in Path(landing_dirs(cfg)["landed"]).glob("*")} == files
    assert sorted(landed(cfg)) == ids


KILLED_RUN = """
import json, sys
from capstone.config import PipelineConfig
from capstone.runtime import get_spark
from capstone.extract_tmdb import extract_movies
from capstone.fetch import api_session
cfg = PipelineConfig.from_params(**json.loads(sys.argv[1]))
ids = json.loads(sys.argv[2])
spark = get_spark(cfg)
session = api_session(cfg.tmdb_base_url, per_second=1000, retries=1, backoff=0.01,
                      headers={"Authorization": "Bearer test-token"})
print("started", flush=True)
extract_movies(spark, cfg, session, ids, batch_size=4, progress=False)
"""


def test_kill_9_mid_run_then_restart_loses_and_duplicates_nothing(spark, tmp_path, httpserver, films):
    server = FakeTmdb(httpserver, films, delay=0.15)
    cfg = cfg_for(tmp_path, server.base, http_workers=1)
    ids = sorted(films)
    params = {
        k: getattr(cfg, k)
        for k in (
            "raw_root",
            "output_root",
            "snapshot_root",
            "tmdb_source",
            "tmdb_ids_file",
            "tmdb_base_url",
            "run_id",
            "http_workers",
        )
    }
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, json.dumps(params), json.dumps(ids)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=str(ROOT),
    )
    parts = Path(landing_dirs(cfg)["landed"])
    deadline = time.monotonic() + 120
    while len(list(parts.glob("part-*.jsonl.gz"))) < 2:
        assert child.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "no batch landed in time"
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    done_before = len(list(parts.glob("part-*.jsonl.gz")))
    assert 2 <= done_before < len(ids) // 4 + 1
    landed_before = set(landed(cfg))

    # The killed run's last request can still be in the server's socket when it dies, and be served after
    # the kill: the restart's calls are told apart by their User-Agent, not by when they arrived.
    server.delay = 0
    restart = fast_session(server.base, headers={**TMDB_AUTH, "User-Agent": "restart"})
    out = extract_movies(spark, cfg, restart, ids, batch_size=4, progress=False)
    got = landed(cfg)
    assert sorted(got) == ids and len(got) == len(set(got))  # nothing lost, nothing twice
    assert out["resumed_ids"] == len(landed_before) >= 4 * done_before
    assert out["fetched_ids"] == len(ids) - out["resumed_ids"]
    refetched = [i for agent, i in server.by_agent if agent == "restart"]
    assert set(refetched) == set(ids) - landed_before  # the batches landed before the kill were not fetched again
    assert not [p for p in parts.iterdir() if not p.name.startswith((".", "part-"))]


def test_secrets_appear_in_no_file_the_extraction_writes(
    spark, tmp_path, httpserver, films, monkeypatch, capsys, caplog
):
    key, token = f"tmdb-sentinel-{uuid.uuid4().hex}", f"discogs-sentinel-{uuid.uuid4().hex}"  # made up per run
    caplog.set_level(logging.DEBUG, logger="urllib3")
    server = FakeTmdb(httpserver, films, api_key=key)
    bad, retried = sorted(films)[:2]
    server.faults[bad] = [Response(b"{oops", status=200)]
    server.faults[retried] = [Response("busy", status=503), "ok"]  # urllib3 logs the URL it retries
    fake_discogs(httpserver, token, {("master", "Score", 1982): [{"id": 1}, {"id": 2}]})
    monkeypatch.delenv("TMDB_READ_TOKEN", raising=False)
    monkeypatch.setenv("TMDB_API_KEY", key)
    monkeypatch.setenv("DISCOGS_TOKEN", token)
    cfg = cfg_for(
        tmp_path,
        server.base,
        discogs_source="record",
        discogs_base_url=httpserver.url_for(""),
        discogs_year_from=1982,
        discogs_year_to=1982,
        discogs_requests_per_min=60000,
        discogs_releases_dump="",
        discogs_masters_dump="",
    )
    write_ids(cfg, sorted(films) + [999999902])
    tm = extract_tmdb(spark, cfg, progress=False)
    dm = extract_discogs(spark, cfg, progress=False)
    assert tm["rows_quarantined"]["quarantined"] == 1 and tm["rows_quarantined"]["not_found"] == 1
    assert dm["rows_out"]["search_pages"] >= 1
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != Path(cfg.tmdb_ids_file).name]
    assert len(written) > 10
    for p in written:
        data = p.read_bytes()
        data = gzip.decompress(data) if p.suffix == ".gz" else data
        assert key.encode() not in data and token.encode() not in data, p
    out = capsys.readouterr()
    assert key not in out.out + out.err and token not in out.out + out.err
    ours = "\n".join(
        r.getMessage() for r in caplog.records if not r.name.startswith("werkzeug")
    )  # not the fake server's
    assert "Retry" in ours and "api_key=REDACTED" in ours
    assert key not in ours and token not in ours


# --- Discogs --------------------------------------------------------------------------------------------------


def fake_discogs(
    httpserver,
    token,
    pages_by_query,
    per_page=100,
    pages_reported=None,
    items_reported=None,
    remaining=None,
    faults=None,
):
    """`/database/search`: the results of each (type, style, year), served `per_page` at a time; unknown queries
    are empty. `pages_reported`/`items_reported` override what pagination says, to imitate Discogs' off-by-ones."""
    calls = []
    faults = faults or {}

    def handle(request):
        a = request.args
        calls.append((a.get("type"), a.get("style"), int(a.get("year")), int(a.get("page"))))
        if request.headers.get("Authorization") != f"Discogs token={token}":
            return Response('{"message": "You must authenticate to access this resource."}', status=401)
        if not request.headers.get("User-Agent", "").startswith("capstone-soundtracks/"):
            return Response('{"message": "User-Agent required"}', status=403)
        if a.get("genre") != "Stage & Screen":
            return Response("wrong genre", status=400)
        key = (a.get("type"), a.get("style"), int(a.get("year")))
        page = int(a.get("page"))
        script = faults.get((*key, page))
        if script:
            fault = script.pop(0) if len(script) > 1 else script[0]
            if fault != "ok":
                return fault
        results = pages_by_query.get(key, [])
        size = int(a.get("per_page"))
        chunk = results[(page - 1) * size : page * size]
        items = (items_reported or {}).get(key, len(results))
        pages = (pages_reported or {}).get(key, -(-items // size))
        if not chunk and page > max(pages, 1):
            return Response('{"message": "Page not found"}', status=404)
        headers = {"X-Discogs-Ratelimit-Remaining": str(remaining)} if remaining is not None else {}
        body = {
            "pagination": {
                "page": page,
                "pages": pages,
                "per_page": size,
                "items": items,
                "urls": {"next": f"{request.base_url}?page={page + 1}&token={token}"},
            },
            "results": chunk,
        }
        return Response(json.dumps(body), status=200, content_type="application/json", headers=headers)

    httpserver.expect_request("/database/search").respond_with_handler(handle)
    return calls


def discogs_cfg(tmp_path, httpserver, **extra):
    return PipelineConfig.from_params(
        raw_root=str(tmp_path / "raw"),
        output_root=str(tmp_path / "out"),
        snapshot_root=str(tmp_path / "snap"),
        discogs_source="api",
        discogs_base_url=httpserver.url_for(""),
        discogs_year_from=1982,
        discogs_year_to=1982,
        discogs_requests_per_min=60000,
        run_id="d1",
        **extra,
    )


def landed_results(cfg):
    ids = []
    for f in sorted(Path(cfg.raw("discogs", "search", "source=api")).rglob("page-*.json")):
        ids += [r["id"] for r in json.loads(f.read_bytes())["results"]]
    return ids


def test_search_pages_through_an_empty_last_page_and_an_off_by_one(spark, tmp_path, httpserver):
    score = [{"id": i, "title": f"Score {i}"} for i in range(250)]
    songs = [{"id": 1000 + i, "title": f"Songs {i}"} for i in range(200)]
    calls = fake_discogs(
        httpserver,
        "tok",
        {("master", "Score", 1982): score, ("master", "Soundtrack", 1982): songs},
        pages_reported={
            ("master", "Score", 1982): 2,  # says 2 pages, but 250 items: 3 pages
            ("master", "Soundtrack", 1982): 3,
        },
    )  # says 3, page 3 comes back empty
    cfg = discogs_cfg(tmp_path, httpserver)
    session = fast_session(httpserver.url_for(""), discogs_headers("tok"))
    out = search_live(spark, cfg, session, progress=False)
    got = landed_results(cfg)
    assert sorted(got) == sorted(r["id"] for r in score + songs) and len(got) == len(set(got))
    assert ("master", "Score", 1982, 3) in calls and ("master", "Soundtrack", 1982, 3) in calls
    assert out["queries"] == 4 and out["results"] == 450 and out["quarantined"] == 0


def test_search_restart_fetches_only_missing_pages(spark, tmp_path, httpserver):
    score = [{"id": i} for i in range(300)]
    key = ("release", "Score", 1982)
    calls = fake_discogs(httpserver, "tok", {key: score}, faults={(*key, 2): [Response("down", status=503)]})
    cfg = discogs_cfg(tmp_path, httpserver)
    session = fast_session(httpserver.url_for(""), discogs_headers("tok"), retries=1)
    first = search_live(spark, cfg, session, progress=False)
    assert first["quarantined"] == 1 and sorted(landed_results(cfg)) == list(range(100)) + list(range(200, 300))
    # the query was not finished; heal the server and run again: only page 2 is fetched
    calls.clear()
    httpserver.clear()
    fake_discogs(httpserver, "tok", {key: score})
    second = search_live(spark, cfg, session, progress=False)
    got = landed_results(cfg)
    assert sorted(got) == list(range(300)) and len(got) == len(set(got))
    assert second["resumed_pages"] >= 2


def test_a_malformed_search_page_is_asked_again_and_a_page_that_stays_bad_is_final_after_three_runs(
    spark, tmp_path, httpserver
):
    from capstone.fetch import QUARANTINE_RUNS

    score = [{"id": i} for i in range(300)]
    key = ("release", "Score", 1982)
    bad = Response('{"pagination": {"page": 2}, "resul', status=200)
    calls = fake_discogs(httpserver, "tok", {key: score}, faults={(*key, 1): [bad, "ok"], (*key, 2): [bad]})
    cfg = discogs_cfg(tmp_path, httpserver)
    session = fast_session(httpserver.url_for(""), discogs_headers("tok"), retries=1)
    runs = [search_live(spark, cfg, session, progress=False) for _ in range(QUARANTINE_RUNS + 1)]
    page_calls = [sum(c == (*key, p) for c in calls) for p in (1, 2, 3)]
    assert page_calls == [2, 3 * QUARANTINE_RUNS, 1], "page 1 asked once again, page 2 three times in each of 3 runs"
    assert runs[0]["http"]["bodies_asked_again"] == 1 + 2
    assert [r["quarantined"] for r in runs] == [1, 1, 1, 1] and [r["final_quarantined"] for r in runs] == [0, 0, 1, 1]
    assert sorted(landed_results(cfg)) == list(range(100)) + list(range(200, 300))
    q = json.loads(next(Path(cfg.raw("discogs", "_quarantine")).rglob("page-00002.json")).read_text())
    assert (q["runs"], q["final"], q["reason"]) == (
        QUARANTINE_RUNS,
        True,
        "invalid JSON (malformed or truncated body) (3 attempts)",
    )


def test_discogs_401_names_the_token_variable():
    with pytest.raises(PermissionError, match="DISCOGS_TOKEN"):
        classify_page(type("F", (), {"status": 401, "error": None, "body": b"", "url": "u"})())


def test_discogs_without_token_says_what_to_set(spark, tmp_path, httpserver, monkeypatch):
    monkeypatch.delenv("DISCOGS_TOKEN", raising=False)
    cfg = discogs_cfg(tmp_path, httpserver)
    with pytest.raises(ConfigError, match="DISCOGS_TOKEN"):
        extract_discogs(spark, cfg, progress=False)


def test_discogs_pauses_when_its_window_is_exhausted(spark, tmp_path, httpserver):
    fake_discogs(httpserver, "tok", {("master", "Score", 1982): [{"id": 1}]}, remaining=0)
    cfg = discogs_cfg(tmp_path, httpserver)
    session = discogs_session(cfg, "tok")
    stats = FetchStats()
    session.hooks["response"].append(pause_when_exhausted(0.01, stats))
    out = search_live(spark, cfg, session, progress=False, stats=stats)
    assert stats.pauses == out["http"]["requests"] == 4  # every response said 0 left
    assert landed_results(cfg) == [1]


def test_incremental_run_fetches_the_films_changed_since_the_last_complete_extraction(
    spark, tmp_path, httpserver, films, monkeypatch
):
    server = FakeTmdb(httpserver, films)
    changed = sorted(films)[:5] + [999999903]  # a changed film that was deleted since: recorded as not found
    windows = []

    def changes(request):
        windows.append((request.args["start_date"], request.args["end_date"], int(request.args["page"])))
        page = int(request.args["page"])
        chunk = changed[(page - 1) * 3 : page * 3] if len(windows) <= 2 else changed[:1]  # repeats are dropped
        return Response(
            json.dumps(
                {
                    "results": [{"id": i, "adult": False} for i in chunk],
                    "page": page,
                    "total_pages": 2 if len(windows) <= 2 else 1,
                }
            ),
            content_type="application/json",
        )

    httpserver.expect_request("/3/movie/changes").respond_with_handler(changes)
    monkeypatch.setenv("TMDB_READ_TOKEN", "test-token")
    cfg = cfg_for(tmp_path, server.base)
    with pytest.raises(ConfigError, match="last complete API extraction"):
        extract_tmdb(spark, PipelineConfig.from_params(**{**cfg.params(), "tmdb_ids_file": "changes"}), progress=False)
    start = (dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=20)).isoformat()
    Path(cfg.raw("tmdb", "_checkpoints", "source=api")).mkdir(parents=True)
    Path(cfg.raw("tmdb", "_checkpoints", "source=api", "_last_success.json")).write_text(json.dumps({"date": start}))
    inc = PipelineConfig.from_params(**{**cfg.params(), "tmdb_ids_file": "changes"})
    m = extract_tmdb(spark, inc, progress=False)
    assert [w[2] for w in windows] == [1, 2, 1] and windows[0][0] == start  # 21 days: two windows, the first paged
    assert (m["rows_in"]["ids"], m["rows_out"]["movies"], m["rows_quarantined"]["not_found"]) == (6, 5, 1)
    assert sorted(server.calls) == sorted(changed)
    assert (
        json.loads(Path(cfg.raw("tmdb", "_checkpoints", "source=api", "_last_success.json")).read_text())["date"]
        == dt.datetime.now(dt.timezone.utc).date().isoformat()
    )
