"""The extraction and matching benchmarks on tiny sizes: their accounting must be right, whatever the timings."""

import random

import pytest

pytest.importorskip("psutil")  # the benchmarks' tools (the bench extra); a cluster's test run leaves them out
from capstone.tools.bench_extract import PERMANENT, resume_case, run_case, sample_bodies
from capstone.tools.bench_match import bench, pass_yield, prf, tables
from capstone.tools.labelled_world import (
    SUFFIXES,
    by_class,
    composer_pool,
    film_title,
    generate,
    main_title,
    real_material,
    work_key,
)

from conftest import ROOT

pytestmark = pytest.mark.local_only  # left out on a cluster (tests/run_suite.py): the benchmarks are local tools


@pytest.fixture(scope="module")
def material():
    return real_material(
        str(ROOT / "data/sample/snapshots"), str(ROOT / "data/sample/dump/discogs_20200806_masters.xml.gz")
    )


def test_generated_world_is_labelled_and_its_traps_are_not_real_films(material):
    films, masters, truth = generate(3000, material, seed=3)
    titles = {f["title"].casefold() for f in films}
    assert len(titles) == len(films) == 3000  # every film a distinct work
    assert all(m["source"].startswith("generated") for m in masters)
    by_id = {m["discogs_master_id"]: m for m in masters}
    assert {by_id[m]["source"] for _, m in truth} == {"generated soundtrack"}
    assert 0.6 < len(truth) / len(films) < 0.8
    sequels = [m["title"] for m in masters if m["source"] == "generated sequel soundtrack"]
    works = [next(t[: -len(s) - 1] for s in SUFFIXES if t.endswith(" " + s)) for t in sequels]
    assert works and not {w.casefold() for w in works} & titles  # "Taken 2" is only a trap if no film "Taken 2" exists
    kinds = {m["source"] for m in masters}
    assert {
        "generated same-title album",
        "generated not-film recording",
        "generated soundtrack of another work",
    } <= kinds
    assert generate(50, material, seed=3) == generate(50, material, seed=3)  # reproducible


def test_every_variation_class_is_drawn_and_written_as_its_class_says(material):
    films, masters, truth = generate(3000, material, seed=3)
    film_of = {m: f for f, m in truth}
    by_id, titles = {f["tmdb_id"]: f for f in films}, {m["discogs_master_id"]: m for m in masters}
    kinds = {m["variation"] for m in masters}
    assert kinds == {
        "plain", "real_suffix", "foreign_suffix", "numeral", "subtitle_added", "subtitle_dropped", "typo",
        "same_title_album", "sequel", "not_film", "one_word_changed", "album",
    }  # fmt: skip
    assert {titles[m]["variation"] for m in film_of} == kinds - {
        "same_title_album",
        "sequel",
        "not_film",
        "one_word_changed",
        "album",
    }
    for m, f in film_of.items():
        shown, film = (
            titles[m]["title"].split(" - ", 1)[-1] if titles[m]["form"] == "search" else titles[m]["title"],
            by_id[f]["title"],
        )
        kind = titles[m]["variation"]
        if kind == "subtitle_dropped":
            assert shown.startswith(main_title(film)) and not shown.startswith(film)
        elif kind == "numeral":
            assert work_key(shown).startswith(work_key(film)) and not shown.startswith(film)
        elif kind == "typo":
            words = work_key(film).split()
            assert work_key(shown).split()[: len(words)] != words and len(film) >= 15
        elif kind != "plain":
            assert shown.startswith(film)
    traps = [m for m in masters if m["variation"] == "one_word_changed"]
    assert traps and not {work_key(m["title"].rsplit(" (", 1)[0]) for m in traps} & {
        work_key(f["title"]) for f in films
    }


def test_precision_and_recall_by_class():
    masters = [
        dict(discogs_master_id=i, variation=v) for i, v in [(1, "plain"), (2, "plain"), (3, "typo"), (4, "sequel")]
    ]
    truth = {(10, 1), (20, 2), (30, 3)}
    got = by_class({(10, 1), (30, 3), (40, 4)}, truth, masters, blocked={(10, 1), (20, 2)})
    assert got["plain"] == dict(true_links=2, auto_links=1, correct=1, precision=1.0, recall=0.5, blocked=1.0)
    assert got["typo"]["recall"] == 1.0 and got["typo"]["blocked"] == 0.0
    assert got["sequel"] == dict(true_links=0, auto_links=1, correct=0, precision=0.0, recall=None, blocked=None)


def test_composers_and_titles_stay_varied_as_the_world_grows(material):
    base, names, *_ = material
    pool = composer_pool(names, 80000, random.Random(1))
    assert pool[: len(names)] == names and len(pool) == 10000, "real names first, then one composer per eight films"
    assert len({p.casefold() for p in pool}) == len(pool)
    assert [film_title(base, i, random.Random(1)) for i in range(3)] == [t for t, _ in base[:3]]
    first, spliced = base[5][0].split(), film_title(base, len(base) + 5, random.Random(1)).split()
    half = max(1, (len(first) + 1) // 2)
    assert spliced[:half] == first[:half] and len(spliced) > half - 1


def test_prf():
    assert prf({(1, 1), (2, 2)}, {(1, 1), (3, 3)}) == (0.5, 0.5)
    assert prf(set(), {(1, 1)}) == (1.0, 0.0)


def test_match_bench_row_accounts_for_both_matchers(spark, material):
    (row,) = bench(spark, [400], material, baseline_max=400, timeout_s=300)
    assert row["films"] == 400 and row["masters"] == len(generate(400, material)[1])
    # 400 films are too few to learn descriptor tails (`descriptor_min_titles` candidates carry each): recall is lower
    assert row["blocking_recall"] >= 0.98 and row["precision"] >= 0.95 and row["recall"] >= 0.85
    assert row["candidate_pairs"] > 0
    assert row["pairs_per_input_row"] == round(row["candidate_pairs"] / (400 + row["masters"]), 2)
    assert sum(c["true_links"] for c in row["classes"].values()) == row["true_links"]
    assert row["pairs_joined_per_s"] > 0 and row["pairs_scored_per_s"] > 0
    assert row["baseline_wall_s"] is not None and row["baseline_precision"] < row["precision"]
    sizes, classes, passes = tables([row])  # as the notebook shows them (its run under nbval leaves the baseline out)
    assert sizes.loc["baseline_precision", 0] == row["baseline_precision"] and sizes.loc["films", 0] == 400
    assert classes.loc[400]["true_links"].sum() == row["true_links"]
    # a pair found by two passes counts in both; a true pair found by one pass alone, once
    assert passes.loc[400]["pairs"].sum() >= row["candidate_pairs"] and passes.loc[400]["share"].sum() == pytest.approx(
        1, abs=0.01
    )
    assert passes.loc[400]["true_only_here"].sum() <= round(row["blocking_recall"] * row["true_links"])
    assert (passes.loc[400]["true_pairs"] <= passes.loc[400]["pairs"]).all()


def test_pass_yield_counts_the_true_pairs_only_one_pass_finds(spark):
    from capstone.schemas import frame

    pairs = frame(
        spark,
        "tmdb_id long, candidate_id string, blocked_by array<string>",
        [
            (1, "m10", ["exact", "typo"]),  # true, found twice
            (1, "m11", ["typo"]),  # false
            (2, "m20", ["typo"]),  # true, by the typo pass alone
            (3, "m30", ["subtitle"]),  # false
        ],
    )
    truth = frame(spark, "tmdb_id long, discogs_master_id long", [(1, 10), (2, 20), (4, 40)])
    assert pass_yield(pairs, truth) == {
        "exact": {"pairs": 1, "true_pairs": 1, "true_only_here": 0},
        "subtitle": {"pairs": 1, "true_pairs": 0, "true_only_here": 0},
        "typo": {"pairs": 3, "true_pairs": 2, "true_only_here": 1},
    }


@pytest.mark.parametrize("fault", ["5xx_burst", "invalid_json_once", "invalid_json", "cut_mid_body"])
def test_extract_bench_accounts_for_every_film(spark, tmp_path, fault):
    bodies = sample_bodies(str(ROOT / "data/sample/snapshots"), 20)
    row = run_case(spark, bodies, fault, rate=1000, workdir=str(tmp_path), batch_size=7)
    assert row["expected"] == 20 and row["faulted_ids"] == 2
    assert row["landed"] == row["expected_landed"] == (18 if fault in PERMANENT else 20)
    assert row["lost"] == row["duplicated"] == 0
    assert row["quarantined"] == (2 if fault in PERMANENT else 0)
    # a malformed 200 is asked for again: once when it heals, twice more when it does not
    assert row["requests"] == 20 + {"5xx_burst": 6, "invalid_json_once": 2, "invalid_json": 4, "cut_mid_body": 2}[fault]


def test_extract_bench_resume_refetches_only_the_lost_half(spark, tmp_path):
    bodies = sample_bodies(str(ROOT / "data/sample/snapshots"), 20)
    out = resume_case(spark, bodies, rate=1000, workdir=str(tmp_path), batch_size=5)
    assert (out["refetched_ids"], out["fetched_when_done"], out["landed"], out["lost"], out["duplicated"]) == (
        10,
        0,
        20,
        0,
        0,
    )
