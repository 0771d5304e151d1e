"Matching on tiny literal frames. Titles, years and styles are those of real Discogs and TMDB records; the frames are built here."
import pytest
from pyspark.sql import functions as F

from capstone.match import (MatchConfig, block_pairs, build_candidates, compare_pairs, credit_names, evaluate_links,
                            gold_links, release_observations, score_pairs, select_links, unmatched)
from capstone.prepare import normalize_artist, normalize_title, split_artist_title
from capstone.validate import FILMS_SCHEMA, MASTERS_SCHEMA, RELEASES_SCHEMA, SEARCH_RESULTS_SCHEMA


def frame(spark, schema, rows):
    # cached, so the joins below read the rows from memory instead of re-running the Python source each time
    df = spark.createDataFrame([tuple(r.get(f.name) for f in schema.fields) for r in rows], schema).cache()
    df.count()
    return df


def film(tmdb_id, title, year, composers=(), original_title=None):
    keys = sorted({normalize_title(t) for t in (title, original_title or title)})
    ck = [normalize_artist(c) for c in composers]
    return dict(tmdb_id=tmdb_id, title=title, original_title=original_title or title, release_year=year,
                genres=["Drama"], popularity=10.0, vote_average=7.0, vote_count=100, has_credits=bool(composers),
                composers=list(composers), composer_keys=ck, alt_titles=[], title_key=keys[0], title_keys=keys)


def result(rid, master, search_title, year, styles=("Soundtrack",), genres=("Stage & Screen",)):
    artist, title = split_artist_title(search_title)
    return dict(discogs_id=rid, result_type="release", discogs_release_id=rid, discogs_master_id=master,
                search_title=search_title, artist_credit=artist, title=title, title_key=normalize_title(title),
                release_year=year, genres=list(genres), styles=list(styles), formats=[], labels=[], search_rank=1)


def link(spark, films, results, masters=(), mcfg=MatchConfig()):
    f = frame(spark, FILMS_SCHEMA, films)
    obs = release_observations(frame(spark, RELEASES_SCHEMA, []), frame(spark, SEARCH_RESULTS_SCHEMA, results))
    cands = build_candidates(frame(spark, MASTERS_SCHEMA, list(masters)), obs).where("is_soundtrack_candidate")
    pairs = block_pairs(f, cands, mcfg)
    selected = select_links(score_pairs(compare_pairs(pairs, f, cands, mcfg), mcfg))
    return f, cands, pairs, selected, gold_links(selected, "t")


def linked(links):
    return {(r.tmdb_id, r.discogs_master_id) for r in links.collect()}


def test_blade_runner_is_vangelis_not_2049(spark):
    *_, links = link(spark, [film(78, "Blade Runner", 1982)], [
        result(7097828, 12717, "Vangelis - Blade Runner", 2015, ("Ambient", "Soundtrack", "Score")),
        result(2893347, 12717, "Vangelis = ヴァンゲリス* - Blade Runner (Soundtrack) = ブレードランナー・サウンドトラック", 1994),
        result(11240550, 1250568, "Hans Zimmer & Benjamin Wallfisch - Blade Runner 2049 (Original Motion Picture Soundtrack)", 2017)])
    assert linked(links) == {(78, 12717)}
    row = links.collect()[0]
    assert row.band == "auto" and row.discogs_release_id == 2893347 and row.sim_title == 1.0


def test_iron_man_is_not_iron_man_2(spark):
    films = [film(1726, "Iron Man", 2008), film(10138, "Iron Man 2", 2010)]
    *_, links = link(spark, films, [
        result(2331221, 222233, "John Debney - Iron Man 2 (Original Motion Picture Score)", 2010, ("Score",)),
        result(1421187, 134579, "Ramin Djawadi - Iron Man (Original Motion Picture Soundtrack)", 2008, ("Score",))])
    assert linked(links) == {(10138, 222233), (1726, 134579)}
    *_, only_first = link(spark, films[:1], [result(2331221, 222233, "John Debney - Iron Man 2 (Original Motion Picture Score)", 2010)])
    assert linked(only_first) == set()


def test_star_wars_is_not_the_force_awakens(spark):
    *_, links = link(spark, [film(11, "Star Wars", 1977)], [
        result(8657358, 930347, "John Williams (4) - Star Wars: The Force Awakens (Original Motion Picture Soundtrack)", 2016),
        result(528627, 25529, "John Williams (4), The London Symphony Orchestra* - Star Wars", 1977)])
    assert linked(links) == {(11, 25529)}


def test_fight_club_is_not_gcw_fight_club(spark):
    *_, links = link(spark, [film(550, "Fight Club", 1999, composers=["Dust Brothers"])], [
        result(900001, 900002, "Various - GCW Fight Club", 2022, ("Soundtrack",)),
        result(1204735, 29540, "The Dust Brothers - Fight Club (Original Motion Picture Score)", 1999, ("Score",))])
    assert linked(links) == {(550, 29540)}


def test_joe_is_not_joe_hisaishi(spark):
    *_, pairs, _, links = link(spark, [film(157834, "Joe", 2013)], [
        result(1187321, 21341, "Joe Hisaishi - Spirited Away (Soundtrack)", 2001),
        result(1520375, 40101, "Joe Hisaishi - Joe Hisaishi Best Selection", 2013, ("Soundtrack", "Score")),
        result(2205555, 30211, "Joe Hisaishi - Kikujiro (Original Soundtrack)", 1999)])
    assert linked(links) == set()


def test_one_master_one_film_and_reasons(spark):
    films = [film(155, "The Dark Knight", 2008), film(49026, "The Dark Knight Rises", 2012)]
    f, cands, pairs, selected, links = link(spark, films, [
        result(3839721, 456321, "Hans Zimmer - The Dark Knight Rises (Original Motion Picture Soundtrack)", 2012, ("Soundtrack", "Score")),
        result(1439381, 8062, "Hans Zimmer And James Newton Howard - The Dark Knight (Original Motion Picture Soundtrack)", 2008, ("Score",))])
    assert linked(links) == {(155, 8062), (49026, 456321)}
    assert links.groupBy("discogs_master_id").count().where("count > 1").count() == 0
    un = unmatched(f, cands, selected)
    assert un.count() == 0


def test_unmatched_reasons(spark):
    f, cands, pairs, selected, links = link(spark, [film(98, "Gladiator", 2000), film(1, "Zzyzx Road", 2006)], [
        result(186845, 48122, "3rd Bass - Gladiator", 1992)])
    assert linked(links) == set()
    reasons = {(r.entity, r.id): r.reason for r in unmatched(f, cands, selected).collect()}
    assert reasons == {("film", "98"): "below threshold", ("film", "1"): "no candidate", ("candidate", "m48122"): "below threshold"}


def test_year_from_a_dump_master_is_two_sided(spark):
    heat_master = dict(discogs_master_id=129714, main_release_id=9000, title="Heat (Music From The Motion Picture)",
                       title_key="heat", year=1995, genres=["Stage & Screen"], styles=["Soundtrack"], artist_keys=[])
    *_, links = link(spark, [film(136795, "The Heat", 2013), film(949, "Heat", 1995)], [], masters=[heat_master])
    assert linked(links) == {(949, 129714)}


def test_no_cross_join_in_the_plan(spark):
    f, cands, pairs, selected, links = link(spark, [film(78, "Blade Runner", 1982)],
                                            [result(7097828, 12717, "Vangelis - Blade Runner", 2015)])
    plan = links._jdf.queryExecution().executedPlan().toString()
    for bad in ("CartesianProduct", "BroadcastNestedLoopJoin"):
        assert bad not in plan
    assert "Join" in plan


def test_credit_names():
    assert credit_names("Hans Zimmer And Lisa Gerrard") == ["hans zimmer", "lisa gerrard"]


def test_evaluate_links(spark):
    from capstone.match import LABELS_SCHEMA, candidate_id_of
    labels = spark.createDataFrame([
        ("search", 1, 10, "a", None, None, None, 78, "Blade Runner", None, "match", "high", ""),
        ("search", 2, 20, "b", None, None, None, 78, "Blade Runner", None, "nonmatch", "high", ""),
        ("search", 3, 30, "c", None, None, None, 11, "Star Wars", None, "match", "high", ""),
        ("dump_master", None, 40, "d", None, None, None, None, None, None, "nonmatch", "high", "")], LABELS_SCHEMA) \
        .withColumn("candidate_id", candidate_id_of(F.col("discogs_master_id"), F.col("discogs_release_id")))
    links = spark.createDataFrame([(78, 10, 1, "auto", 0.99, "Blade Runner", "a"), (78, 20, 2, "review", 0.6, "Blade Runner", "b"),
                                   (5, 40, 4, "auto", 0.95, "X", "d"), (6, 99, 9, "auto", 0.95, "Y", "z")],
                                  "tmdb_id long, discogs_master_id long, discogs_release_id long, band string, score double, "
                                  "film_title string, candidate_title string")
    ev = evaluate_links(links, labels)
    assert ev["auto"] | {} == ev["auto"] and (ev["auto"]["tp"], ev["auto"]["fp"], ev["auto"]["fn"]) == (1, 1, 1)
    assert ev["auto"]["unlabelled_links"] == 1
    assert (ev["auto_review"]["tp"], ev["auto_review"]["fp"], ev["auto_review"]["fn"]) == (1, 2, 1)
    assert ev["auto_review"]["precision"] == pytest.approx(1 / 3)
