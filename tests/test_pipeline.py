"The six stages (the report the last) on the bundled real sample: facts read from the suite's one run of it (conftest)."

from pathlib import Path

from capstone.metrics import read_metrics
from capstone.storage import read_table


def test_every_stage_succeeds_and_reconciles(sample_run, spark):
    cfg, metrics = sample_run
    assert [m["status"] for m in metrics.values()] == ["succeeded"] * 6
    v = metrics["validate"]
    for table, n in v["rows_in"].items():
        assert n == v["rows_out"][table] + v["rows_quarantined"][table]
    p = metrics["prepare"]
    # the dump slices' records with soundtrack evidence (or a soundtrack master); the others counted and set aside
    assert p["rows_in"] == {"films": 4806, "releases": 19, "masters": 14, "search_results": 50}
    assert p["rows_set_aside"] == {"releases": {"not_soundtrack": 583}, "masters": {"not_soundtrack": 584}}
    assert read_metrics(spark, cfg, "match")["run_id"] == "test-sample"


def test_each_stage_says_where_its_time_went(sample_run):
    "Seconds per step, in the order the steps ran: a table each for prepare and validate, the match's steps."
    _, metrics = sample_run
    tables = ["films", "releases", "masters", "search_results"]
    assert list(metrics["prepare"]["steps_s"]) == [
        "films",
        "search_results",
        "soundtrack_masters",
        "releases",
        "masters",
    ]
    assert list(metrics["validate"]["steps_s"]) == [*tables, "figures"]
    assert list(metrics["match"]["steps_s"]) == [
        "films", "discogs_items", "soundtrack_candidates", "frequencies", "blocking", "comparison_scoring", "gold",
        "figures", "evaluation"
    ]  # fmt: skip
    for stage in ("prepare", "validate", "match"):
        m = metrics[stage]
        assert all(s > 0 for s in m["steps_s"].values()) and sum(m["steps_s"].values()) <= m["duration_s"], stage


def _names_and_types(schema) -> list[tuple[str, str]]:
    return [(f.name, f.dataType.simpleString()) for f in schema.fields]


def test_gold_tables_are_their_written_contracts(sample_run, spark):
    "Every column of the gold tables, in order, with its type, is the one written out in schemas.py: no more, no less."
    from capstone.schemas import ENRICHED_SCHEMA, LINKS_SCHEMA

    cfg, _ = sample_run
    for table, schema in [("film_soundtrack_links", LINKS_SCHEMA), ("films_enriched", ENRICHED_SCHEMA)]:
        assert _names_and_types(read_table(spark, cfg.gold(table)).schema) == _names_and_types(schema), table


def test_gold_contract_and_known_links(sample_run, spark):
    cfg, metrics = sample_run
    links = read_table(spark, cfg.gold("film_soundtrack_links"))
    types = dict(links.dtypes)
    assert (
        types["tmdb_id"],
        types["discogs_master_id"],
        types["discogs_release_id"],
        types["score"],
        types["band"],
    ) == ("bigint", "bigint", "bigint", "double", "string")
    rows = links.collect()
    pairs = {(r.tmdb_id, r.discogs_master_id) for r in rows}
    assert (78, 12717) in pairs and (78, 1250568) not in pairs
    assert all(0 <= r.score <= 1 and r.band in ("auto", "review") and r.discogs_release_id is not None for r in rows)
    assert len({r.discogs_master_id for r in rows}) == len(rows), "one master goes to at most one film"
    assert links.groupBy("tmdb_id", "discogs_master_id").count().where("count > 1").count() == 0


def test_enriched_has_one_row_per_film(sample_run, spark):
    cfg, metrics = sample_run
    enriched = read_table(spark, cfg.gold("films_enriched"))
    assert enriched.count() == metrics["validate"]["rows_out"]["films"] == enriched.select("tmdb_id").distinct().count()
    br = enriched.where("tmdb_id = 78").collect()[0]
    assert br.has_soundtrack and 12717 in br.discogs_master_ids and "Stage & Screen" in br.soundtrack_genres
    assert br.popularity > 0 and br.vote_average > 0


def test_dev_label_evaluation_is_reported(sample_run):
    cfg, metrics = sample_run
    ev = metrics["match"]["figures"]["evaluation"]
    assert ev["labelled_positive_pairs"] == 13
    assert ev["blocking_recall"] == 1.0
    assert ev["auto"]["precision"] >= 0.9 and ev["auto_review"]["recall"] >= 0.9


def test_replayed_search_pages_land_under_their_own_names(sample_run):
    "The snapshot's relative paths are kept: a `file:` prefix once cut them short (`source=replay/earch/...`)."
    cfg, _ = sample_run
    landed = Path(cfg.raw("discogs", "search", "source=replay"))
    snapshot = Path(cfg.snapshot_root) / "discogs" / "search"
    assert sorted(p.relative_to(landed) for p in landed.rglob("*.json")) == sorted(
        p.relative_to(snapshot) for p in snapshot.rglob("*.json")
    )
    assert len(list(landed.rglob("*.json"))) >= 10


def test_a_much_smaller_input_does_not_replace_good_tables_unless_allowed(sample_run, spark, tmp_path):
    "A raw root holding a third of the films (a wrong or half-copied path) is refused, naming it; allow_shrink lets it."
    import gzip
    import shutil

    import pytest

    from capstone.storage import ContractError
    from capstone.config import PipelineConfig
    from capstone.prepare import run_step as prepare

    cfg, metrics = sample_run
    raw, out = tmp_path / "raw", tmp_path / "out"
    shutil.copytree(cfg.raw_root, raw, ignore=shutil.ignore_patterns("search"))
    for part in (raw / "tmdb" / "movies").rglob("*.jsonl.gz"):
        lines = gzip.decompress(part.read_bytes()).splitlines(keepends=True)
        part.write_bytes(gzip.compress(b"".join(lines[::3])))
    shutil.copytree(cfg.staging("films"), out / "staging" / "films")
    small = PipelineConfig.from_params(raw_root=str(raw), output_root=str(out), run_id="small")
    with pytest.raises(
        ContractError,
        match=rf"would shrink from {metrics['prepare']['rows_out']['films']} to \d+ rows: "
        rf"is raw_root='{raw}' the input you meant\?",
    ):
        prepare(spark, small)
    assert read_table(spark, str(out / "staging" / "films")).count() == metrics["prepare"]["rows_out"]["films"]
    allowed = PipelineConfig.from_params(raw_root=str(raw), output_root=str(out), run_id="allowed", allow_shrink="true")
    assert prepare(spark, allowed)["rows_out"]["films"] < metrics["prepare"]["rows_out"]["films"] / 2
