"Discogs dump ingestion on the real dump slices, the soundtrack view's rules on real records, and re-ingestion."

import gzip
import shutil

import pytest
from pyspark.sql import functions as F

from capstone.config import PipelineConfig
from capstone.prepare import raw_sources, load_staging
from capstone.storage import read_table

from conftest import ROOT

DUMP = ROOT / "data/sample/dump"


def one(df, cond):
    rows = df.where(cond).collect()
    assert len(rows) == 1, f"{cond}: {len(rows)} rows"
    return rows[0]


def typed(spark, cfg, table: str):
    "Every record of a dump slice typed as prepare types it (`releases_scope=all`: none set aside)."
    source = raw_sources(cfg, 2)[table][0]
    with source.records(spark, [str(DUMP / f"discogs_20200806_{table}.xml.gz")]) as read:
        return spark.createDataFrame(read.rows.collect(), read.rows.schema)


def test_real_values_from_the_dump_slices(spark, tmp_path):
    cfg = PipelineConfig.from_params(output_root=str(tmp_path), run_id="values", releases_scope="all")
    masters, releases = typed(spark, cfg, "masters"), typed(spark, cfg, "releases")
    assert (masters.count(), releases.count()) == (598, 602)
    heat = one(masters, "discogs_master_id = 129714")
    assert (heat.title, heat.year, "Stage & Screen" in heat.genres, "Score" in heat.styles) == (
        "Heat (Music From The Motion Picture)",
        1995,
        True,
        True,
    )
    assert one(masters, "discogs_master_id = 517026").year is None, "a master year of 0 means unknown"
    no_date = one(releases, "discogs_release_id = 1586316")
    assert (no_date.released, no_date.release_year, no_date.title) == (None, None, "Open Your Heart")
    knockin = one(releases, "discogs_release_id = 6")
    assert ("Alexi Delano", "Recorded By, Written-By") in {(a.name, a.role) for a in knockin.extraartists}
    first = one(releases, "discogs_release_id = 4")
    assert (first.discogs_master_id, first.is_main_release, first.released, first.country) == (
        104980,
        False,
        "1999-11-02",
        "US",
    )
    assert [(t.position, t.title, t.duration) for t in first.tracklist][0] == ("1", "Moving Cities", "6:24")
    assert first.labels[0].catno == "9 47555-2" and first.formats[0].name == "CD"


def test_every_record_of_the_slices_is_accounted_for(sample_run):
    "Found = kept + quarantined + set aside, per dump file; validate then passes or quarantines every kept one."
    _, metrics = sample_run
    raw = {
        "releases": gzip.decompress((DUMP / "discogs_20200806_releases.xml.gz").read_bytes()).count(b"<release "),
        "masters": gzip.decompress((DUMP / "discogs_20200806_masters.xml.gz").read_bytes()).count(b"<master "),
    }
    p = metrics["prepare"]
    for table in ("releases", "masters"):
        (acc,) = p["figures"]["dump_files"][table].values()
        assert acc["found"] == raw[table] == acc["kept"] + acc["quarantined"] + sum(acc["set_aside"].values())
        assert p["rows_in"][table] == acc["kept"] + acc["quarantined"]
        assert p["rows_set_aside"][table] == acc["set_aside"]
        v = metrics["validate"]
        assert v["rows_out"][table] + v["rows_quarantined"][table] == p["rows_in"][table]


@pytest.mark.parametrize(
    "candidate_id, is_candidate, not_film",
    [
        ("m1033347", True, False),  # The Second Best Exotic Marigold Hotel: a film score
        ("m129714", True, False),  # Heat: a film soundtrack
        ("m1033283", True, True),  # Diddy Kong Racing: video-game music (Chiptune, Soundtrack)
        ("m1162081", True, True),  # FAB - Music From The TV Shows By Barry Gray: TV themes
        ("m910735", True, True),  # El Barberillo De Lavapies: a zarzuela, a stage work
        ("m937448", True, False),  # Frank Sinatra swing compilation: Discogs files it under Stage & Screen, so it is a
        # candidate; no film matches it, and matching (not the view) must leave it unlinked
        ("m104980", False, False),  # Faze Action - Moving Cities: house music, no soundtrack evidence at all
    ],
)
def test_soundtrack_view_rules_on_real_records(sample_run, spark, candidate_id, is_candidate, not_film):
    cfg, _ = sample_run
    items = read_table(spark, cfg.silver("discogs_items"))
    if not is_candidate:  # no evidence: the dump scan set it aside, so the match never saw it
        assert items.where(F.col("candidate_id") == candidate_id).count() == 0
        return
    row = one(items, F.col("candidate_id") == candidate_id)
    assert (row.is_soundtrack_candidate, row.not_film) == (is_candidate, not_film)
    in_view = (
        read_table(spark, cfg.silver("soundtrack_candidates")).where(F.col("candidate_id") == candidate_id).count()
    )
    assert in_view == int(is_candidate)


def test_sinatra_compilation_stays_unlinked(sample_run, spark):
    cfg, _ = sample_run
    links = read_table(spark, cfg.gold("film_soundtrack_links")).where("discogs_master_id = 937448")
    assert links.count() == 0


def test_reingest_replaces_and_newer_dump_supersedes(spark, tmp_path):
    "The releases' staging step (prepare's `load_staging`, as `run_step` calls it) on the real dump, then again beside a newer one."
    raw = tmp_path / "raw" / "discogs" / "releases"
    raw.mkdir(parents=True)
    shutil.copy(DUMP / "discogs_20200806_releases.xml.gz", raw)
    cfg = PipelineConfig.from_params(
        raw_root=str(tmp_path / "raw"), output_root=str(tmp_path), run_id="reingest", releases_scope="all"
    )
    source, key, order = raw_sources(cfg, 2)["releases"]
    assert load_staging(spark, source, cfg.staging("releases"), key, order)[:3] == (602, 602, 1)
    newer = b'<releases>\n<release id="4" status="Accepted"><title>Moving Cities (newer dump)</title></release>\n</releases>\n'
    (raw / "discogs_20210101_releases.xml.gz").write_bytes(gzip.compress(newer))
    # the same raw zone and one newer dump: the table is replaced, not added to; release 4 is superseded once
    again = load_staging(spark, source, cfg.staging("releases"), key, order)
    assert again[:4] == (603, 602, 2, [])
    assert sorted(a["found"] for a in again.accounting.values()) == [1, 602]
    staged = read_table(spark, cfg.staging("releases"))
    assert staged.count() == 602 and staged.select("discogs_release_id").distinct().count() == 602
    assert one(staged, "discogs_release_id = 4").title == "Moving Cities (newer dump)"


def _path_oracle(el, path, fields):
    "What a record's nested list holds, read the slow way (one find per field), to check the one-pass extractor."
    return [tuple(x.findtext(f) or None for f in fields) for x in el.findall(path)]


@pytest.mark.parametrize("kind", ["release", "master"])
def test_one_pass_extractor_agrees_with_path_lookups_on_every_real_record(kind):
    from lxml import etree
    from capstone.dump import RECORD_PARSERS

    root = etree.fromstring(gzip.decompress((DUMP / f"discogs_20200806_{kind}s.xml.gz").read_bytes()))
    records = root.findall(kind)
    assert len(records) in (602, 598)
    for el in records:
        rec = RECORD_PARSERS[kind](el)
        assert rec["title"] == el.findtext("title")
        assert rec["genres"] == [g.text for g in el.findall("genres/genre")]
        assert rec["styles"] == [s.text for s in el.findall("styles/style")]
        assert [(a["name"], a["anv"], a["role"]) for a in rec["artists"]] == _path_oracle(
            el, "artists/artist", ["name", "anv", "role"]
        )
        if kind == "master":
            assert rec["year"] == el.findtext("year")
            continue
        assert [(a["name"], a["role"]) for a in rec["extraartists"]] == _path_oracle(
            el, "extraartists/artist", ["name", "role"]
        )
        assert [(t["position"], t["title"], t["duration"]) for t in rec["tracklist"]] == _path_oracle(
            el, "tracklist/track", ["position", "title", "duration"]
        )
        assert [f["descriptions"] for f in rec["formats"]] == [
            [d.text for d in f.findall("descriptions/description")] for f in el.findall("formats/format")
        ]
        assert rec["released"] == el.findtext("released")
        master = el.find("master_id")
        assert rec["discogs_master_id"] == (int(master.text) if master is not None else None)
