import gzip
import json
from pathlib import Path

import pandas as pd
import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from capstone.config import PipelineConfig
from capstone.dump import parse_dump_chunk
from capstone.keys import normalize_artist, normalize_title, split_artist_title
from capstone.prepare import parse_tmdb_movies, prepare_search_results
from capstone.raw import keep_latest, partial_date_error, partial_date_year, read_raw_text
from capstone.prepare import run_step as prepare
from capstone.validate import run_step as validate
from capstone.schemas import frame
from capstone.storage import current_files, local_table, read_table


@pytest.mark.parametrize(
    "title, key",
    [
        # real titles from the sample's Discogs search results and dump, and TMDB
        ("Vangelis = ヴァンゲリス* - Blade Runner (Soundtrack) = ブレードランナー・サウンドトラック", "blade runner"),
        (
            "Hans Zimmer & Benjamin Wallfisch - Blade Runner 2049 (Original Motion Picture Soundtrack)",
            "blade runner 2049",
        ),
        ("Various - Music from the Motion Picture Soundtrack-Back To The Future", "back to the future"),
        (
            "John Williams (4) - E.T. The Extra-Terrestrial Original Motion Picture Soundtrack",
            "e t the extra terrestrial",
        ),
        (
            "Thomas Newman - The Second Best Exotic Marigold Hotel (Original Motion Picture Soundtrack)",
            "the second best exotic marigold hotel",
        ),
        ("Gordon Parks - Shaft's Big Score! - The Original Motion Picture Soundtrack", "shafts big score"),
        ("John Debney - Iron Man 2 (Original Motion Picture Score)", "iron man 2"),
        ("Hans Zimmer - The Dark Knight Rises (Original Motion Picture Soundtrack)", "the dark knight rises"),
        ("Ennio Morricone - C'era Una Volta Il West (Colonna Sonora Originale)", "cera una volta il west"),
        ("Michel Legrand - Les Demoiselles De Rochefort (Bande Originale Du Film)", "les demoiselles de rochefort"),
        ("Ludovico Einaudi - Intouchables - Filmmusik", "intouchables"),
        ("Joe Hisaishi - Spirited Away サウンドトラック", "spirited away"),
        ("Howard Shore - The Two Towers (Deluxe Edition) [Remastered]", "the two towers"),
    ],
)
def test_normalize_title_real_titles(title, key):
    assert normalize_title(split_artist_title(title)[1]) == key


def test_sequels_and_subtitles_are_kept():
    assert normalize_title("Iron Man") != normalize_title("Iron Man 2")
    assert normalize_title("Star Wars: Episode IV - A New Hope") == "star wars episode iv a new hope"
    assert normalize_title("Back to the Future Part II") == "back to the future part ii"


def test_artist_keys():
    assert normalize_artist("John Williams (4)") == "john williams"
    assert normalize_artist("Vangelis = ヴァンゲリス*") == "vangelis"
    assert normalize_artist(None) is None


def test_partial_dates(spark):
    df = frame(spark, "d string", [("1999-03-00",), ("1999",), ("0",), ("",), ("19x9",)])
    got = df.select(partial_date_year(F.col("d")).alias("y"), partial_date_error(F.col("d")).alias("e"))
    expected = frame(
        spark,
        "y int, e string",
        [(1999, None), (1999, None), (None, None), (None, None), (None, "unparseable date '19x9'")],
    )
    assert_df_equality(got, expected, ignore_nullable=True)


def test_keep_latest(spark):
    df = frame(
        spark,
        "id long, v string, ordinal long, _error string",
        [(1, "old", 1, None), (1, "new", 2, None), (None, "a", 3, None), (2, "bad", 4, "x")],
    )
    got = keep_latest(df, "id", [F.col("ordinal").desc()]).select("v")
    assert sorted(r.v for r in got.collect()) == ["a", "bad", "new"]


def test_parse_dump_chunk_faults():
    ok = 'id="12" status="Accepted"><title>Heat</title><released>1995-12-00</released></release>\n'
    rid, rec, err, repaired = parse_dump_chunk(ok, "release")
    assert (rid, err, repaired, rec["title"], rec["released"]) == ("12", None, None, "Heat", "1995-12-00")
    assert parse_dump_chunk('<?xml version="1.0"?>\n<releases>\n', "release") == (None, None, None, None)
    assert parse_dump_chunk('id="13"><title>A <b>nested</title></release>', "release")[2].startswith("XMLSyntaxError")
    assert parse_dump_chunk('id="15"><title>cut', "release")[0:2] == ("15", None)
    assert "invalid literal" in parse_dump_chunk('id="x16"><title>t</title></release>', "release")[2]
    master = parse_dump_chunk(
        'id="7"><main_release>9</main_release><year>0</year><title>T</title></master>\n</masters>', "master"
    )
    assert (master[1]["main_release_id"], master[1]["year"]) == (9, "0")


@pytest.mark.parametrize(
    "title, kept, removed",
    [
        ("Bad \x01title", "Bad title", "U+0001"),
        ("Tab\tand\x0bvtab\x0b", "Tab\tandvtab", "U+000B ×2"),  # a tab is allowed, a vertical tab is not
        ("Ref &#11;and &#x1F;", "Ref and ", "U+000B, U+001F"),
        ("Nul\x00", "Nul", "U+0000"),
        ("Non-character \ufffe", "Non-character ", "U+FFFE"),
    ],
)
def test_a_record_whose_only_fault_is_a_forbidden_character_is_repaired(title, kept, removed):
    rid, rec, err, repaired = parse_dump_chunk(f'id="14"><title>{title}</title></release>', "release")
    assert (rid, rec["title"], err, repaired) == ("14", kept, None, f"removed characters XML forbids: {removed}")


def test_a_record_with_another_fault_besides_a_forbidden_character_is_not_repaired():
    rid, rec, err, repaired = parse_dump_chunk('id="17"><title>Bad \x0b and cut off', "release")
    assert (rid, rec, repaired) == ("17", None, None) and err.startswith("XMLSyntaxError")
    assert parse_dump_chunk('id="18"><title>&#10; is allowed</title></release>', "release")[1:] == (
        {**parse_dump_chunk('id="18"><title>\n is allowed</title></release>', "release")[1]},
        None,
        None,
    )


def test_tmdb_lines(spark):
    raw = frame(
        spark, "value string", [('{"id":1,"title":"Amélie","release_date":"2001-04-25"}',), ("{broken",), (" ",)]
    ).selectExpr("value", "'f' source_file", "current_timestamp() ingested_at", "0L ordinal")
    rows = sorted(parse_tmdb_movies(raw).collect(), key=lambda r: r.tmdb_id or 0)
    assert len(rows) == 2, "blank lines are not records"
    assert rows[0]._error.startswith("invalid JSON") and rows[0]._raw == "{broken"
    assert (rows[1].tmdb_id, rows[1].release_year, rows[1].title_key, rows[1]._error) == (1, 2001, "amelie", None)


def _write_faulty_raw_zone(root: Path):
    "A small raw zone, generated for this test (not real data), with one fault of each kind next to good records."
    (root / "tmdb/movies/a").mkdir(parents=True)
    lines = [
        b'{"id":1,"title":"Heat","release_date":"1995-12-15"}',
        b'{"id":2,"title":"Bro',
        b'{"title":"no id"}',
        b'{"id":3,"title":"X","release_date":"19x9"}',
        b'{"id":1,"title":"Heat (older copy)","release_date":"1995-12-15"}',
        b'{"id":4,"title":"Caf\xe9","release_date":"19x0"}',  # Latin-1, not UTF-8, and a bad date
        b'{"belongs_to_collection":{"id":9},"id":5,"title":"Cut',
    ]
    (root / "tmdb/movies/a/part-0.jsonl.gz").write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    (root / "tmdb/movies/b").mkdir()
    (root / "tmdb/movies/b/part-1.jsonl").write_text(
        '{"id":1,"title":"Heat","release_date":"1995-12-15","popularity":9.5}\n'
    )
    many = gzip.compress("".join(f'{{"id":{i},"title":"Film {i}"}}\n' for i in range(100, 3100)).encode())
    (root / "tmdb/movies/b/part-2.jsonl.gz").write_bytes(many[: len(many) // 2])  # truncated
    (root / "tmdb/movies/b/part-3.jsonl.gz").write_bytes(b"")  # empty
    (root / "discogs/releases").mkdir(parents=True)
    xml = (
        '<releases>\n<release id="10" status="Accepted"><title>Heat</title><genres><genre>Stage &amp; Screen</genre></genres>'
        '<released>1995-00-00</released></release>\n<release id="11" status="Accepted"><title>Bad \x0b</title></release>\n'
        '<release id="12" status="Accepted"><title>Bad year</title><styles><style>Score</style></styles>'
        '<released>19x5</released></release>\n<release id="14"><title>Plain</title><released>19x5</released></release>\n'
        '<release id="13" status="Accepted"><title>Cut off'
    ).encode()
    xml = xml.replace(
        b'<release id="13"', b'<release id="19" status="Accepted"><title>Caf\xe9</title></release>\n<release id="13"'
    )
    (root / "discogs/releases/discogs_20200101_releases.xml.gz").write_bytes(gzip.compress(xml))
    many = gzip.compress(
        (
            "<releases>\n" + "".join(f'<release id="{i}"><title>R{i}</title></release>\n' for i in range(100, 5100))
        ).encode()
    )
    (root / "discogs/releases/discogs_20200201_releases.xml.gz").write_bytes(many[: len(many) // 2])  # truncated
    (root / "discogs/masters").mkdir(parents=True)
    (root / "discogs/masters/discogs_20200101_masters.xml").write_text(
        '<masters>\n<master id="5"><main_release>10</main_release><title>Heat</title><year>1995</year></master>\n'
        '<master id="6x"><title>Bad id</title></master>\n</masters>\n'
    )
    (root / "discogs/search/q").mkdir(parents=True)
    (root / "discogs/search/q/ok.json").write_text(
        json.dumps(
            {
                "pagination": {"page": 1, "urls": {}},
                "results": [
                    {"id": 10, "master_id": 5, "type": "release", "title": "Elliot Goldenthal - Heat", "year": "1995"},
                    {"id": 11, "master_id": 5, "type": "release", "title": "Heat", "genre": "not a list"},
                ],
            }
        )
    )
    (root / "discogs/search/q/empty.json").write_text(
        json.dumps({"pagination": {"page": 1, "urls": {}}, "results": []})
    )
    (root / "discogs/search/q/broken.json").write_text('{"pagination": {"page": 1}, "results": [')


def test_faulty_raw_zone_reconciles(spark, tmp_path):
    _write_faulty_raw_zone(tmp_path / "raw")
    cfg = PipelineConfig.from_params(raw_root=str(tmp_path / "raw"), output_root=str(tmp_path), run_id="faults")
    p = prepare(spark, cfg)
    assert p["rows_in"] == {"films": 10, "releases": 6, "masters": 2, "search_results": 3}
    # release 14 has no soundtrack evidence: counted, set aside unparsed (its bad date unseen); the cut one is checked
    assert p["rows_set_aside"] == {"releases": {"not_soundtrack": 1}, "masters": {}}
    (acc,) = [a for f, a in p["figures"]["dump_files"]["releases"].items() if f.endswith("20200101_releases.xml.gz")]
    assert acc == {
        "found": 6,
        "kept": 2,
        "quarantined": 3,
        "set_aside": {"not_soundtrack": 1},
        "kept_by": {"in_search_results": 1, "soundtrack_evidence": 2, "to_be_checked": 2},
    }
    assert p["figures"]["films_superseded_duplicates"] == 2
    assert p["figures"]["files"] == {
        "films": {"in": 4, "loaded": 2, "quarantined": 2},
        "releases": {"in": 2, "loaded": 1, "quarantined": 1},
        "masters": {"in": 1, "loaded": 1, "quarantined": 0},
        "search_results": {"in": 3, "loaded": 3, "quarantined": 0},
    }
    bad_files = {f["file"].rsplit("/", 1)[-1]: f for f in p["figures"]["quarantined_files"]}
    assert set(bad_files) == {"part-2.jsonl.gz", "part-3.jsonl.gz", "discogs_20200201_releases.xml.gz"}
    assert bad_files["part-3.jsonl.gz"]["reason"] == "empty compressed file (0 bytes)"
    assert bad_files["part-3.jsonl.gz"]["records"] == 0
    assert "EOFError" in bad_files["part-2.jsonl.gz"]["reason"]
    assert 0 < bad_files["part-2.jsonl.gz"]["records"] < 3000
    assert 0 < bad_files["discogs_20200201_releases.xml.gz"]["records"] < 5000

    v = validate(spark, cfg)
    for table in ("films", "releases", "masters", "search_results"):
        assert v["rows_in"][table] == v["rows_out"][table] + v["rows_quarantined"][table]
    assert v["rows_out"] == {"films": 1, "releases": 2, "masters": 1, "search_results": 1}
    assert v["figures"]["rows_repaired"] == {"releases": 1, "masters": 0}
    films = read_table(spark, cfg.silver("films")).collect()
    assert films[0].popularity == 9.5, "the latest ingestion of id 1 wins"
    repaired = read_table(spark, cfg.silver("releases")).where("discogs_release_id = 11").first()
    assert (repaired.title, repaired.repaired) == ("Bad ", "removed characters XML forbids: U+000B")

    # the quarantine's files are readable by pandas and pyarrow, whatever bytes came in (an empty table has none)
    tables = [cfg.quarantine(t) for t in ("films", "releases", "masters", "search_results")]
    q = pd.concat([local_table(t).to_pandas() for t in tables if current_files(t)], ignore_index=True)
    by_id = {(r.table, r.record_id): r for r in q.itertuples()}
    assert by_id[("films", "3")].reason == "unparseable date '19x9'"
    assert by_id[("films", "2")].reason.startswith("invalid JSON"), "a cut line keeps its id"
    assert by_id[("films", "5")].reason.startswith("invalid JSON"), "the outer id, not the collection's"
    assert (by_id[("films", "4")].raw, by_id[("films", "4")].raw_escaped) == (
        '{"id":4,"title":"Caf\\xe9","release_date":"19x0"}',
        True,
    )
    assert by_id[("releases", "19")].reason == "invalid UTF-8 at byte 36" and by_id[("releases", "19")].raw_escaped
    assert "\\xe9" in by_id[("releases", "19")].raw
    assert by_id[("releases", "12")].reason == "unparseable date '19x5'"
    assert by_id[("releases", "13")].reason.startswith("XMLSyntaxError")
    assert "invalid literal" in by_id[("masters", "6x")].reason
    assert by_id[("search_results", "11")].reason == "search result does not match the Discogs result schema"
    no_id = q[q.record_id.isna()].groupby("table").reason.apply(sorted).to_dict()
    assert no_id == {
        "films": ["empty compressed file (0 bytes)", "missing tmdb_id", bad_files["part-2.jsonl.gz"]["reason"]],
        "releases": [bad_files["discogs_20200201_releases.xml.gz"]["reason"]],
        "search_results": ["invalid JSON or not a Discogs search response"],
    }
    assert sorted(q[q.raw_escaped].record_id) == ["19", "4"], "only invalid bytes are escaped and flagged"


def test_search_results_split_artist_and_query(spark, tmp_path):
    body = {
        "pagination": {
            "page": 1,
            "urls": {"next": "https://api.discogs.com/database/search?q=Blade+Runner+soundtrack&page=2"},
        },
        "results": [
            {
                "id": 2893347,
                "master_id": 12717,
                "type": "release",
                "year": "1994",
                "title": "Vangelis = ヴァンゲリス* - Blade Runner (Soundtrack) = ブレードランナー・サウンドトラック",
            },
            {"id": 12717, "master_id": 12717, "type": "master", "title": "Vangelis - Blade Runner"},
        ],
    }
    (tmp_path / "s.json").write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
    rows = (
        prepare_search_results(read_raw_text(spark, [str(tmp_path / "s.json")], whole_text=True))
        .orderBy("search_rank")
        .collect()
    )
    assert [
        (r.artist_credit, r.title_key, r.discogs_release_id, r.discogs_master_id, r.search_query) for r in rows
    ] == [
        ("Vangelis = ヴァンゲリス*", "blade runner", 2893347, 12717, "Blade Runner soundtrack"),
        ("Vangelis", "blade runner", None, 12717, "Blade Runner soundtrack"),
    ]


def test_a_malformed_search_link_keeps_its_query_under_ansi_mode(spark, tmp_path):
    "Spark 4 and serverless compute turn ANSI mode on, where parse_url throws on a bare %; the stage must not."
    links = {"first": "https://api.discogs.com/database/search?q=100%+Real&page=1"}
    body = {
        "pagination": {"page": 1, "urls": links},
        "results": [{"id": 7, "type": "release", "title": "A - 100% Real"}],
    }
    (tmp_path / "s.json").write_text(json.dumps(body), encoding="utf-8")
    before = spark.conf.get("spark.sql.ansi.enabled")
    spark.conf.set("spark.sql.ansi.enabled", "true")
    try:
        rows = prepare_search_results(read_raw_text(spark, [str(tmp_path / "s.json")], whole_text=True)).collect()
    finally:
        spark.conf.set("spark.sql.ansi.enabled", before)
    assert [(r.discogs_release_id, r.search_query, r._error) for r in rows] == [(7, "100% Real", None)]


def test_a_raw_root_without_raw_data_stops_before_replacing_staging(spark, tmp_path):
    "A typo in raw_root must not replace good staging tables with empty ones."
    from capstone.storage import ContractError

    out = tmp_path / "out"
    (out / "staging" / "films").mkdir(parents=True)
    (out / "staging" / "films" / "part-0.parquet").write_bytes(b"kept")
    cfg = PipelineConfig.from_params(raw_root=str(tmp_path / "no-such-raw"), output_root=str(out), run_id="typo")
    with pytest.raises(ContractError, match=r"raw_root='.*no-such-raw' holds none of .*a wrong path"):
        prepare(spark, cfg)
    assert (out / "staging" / "films" / "part-0.parquet").read_bytes() == b"kept"
    assert json.loads((out / "metrics" / "typo" / "prepare.json").read_text())["status"] == "failed"
