import pytest
from pyspark.sql import functions as F

from capstone.storage import ContractError
from capstone.schemas import FILMS_SCHEMA, QUARANTINE_SCHEMA, SCHEMAS, frame
from capstone.validate import split_valid


def _staged_films(spark, rows):
    base = frame(spark, "tmdb_id long, title string, vote_average double, release_year int, _error string", rows)
    extra = [F.lit(None).cast(f.dataType).alias(f.name) for f in FILMS_SCHEMA.fields if f.name not in base.columns]
    return base.select("*", *extra, F.lit("raw text").alias("_raw"), F.lit(None).cast("string").alias("record_id"))


def test_split_reconciles_and_explains(spark):
    staged = _staged_films(
        spark,
        [
            (78, "Blade Runner", 7.9, 1982, None),
            (None, "Ghost", 5.0, None, None),
            (5, None, 11.0, None, None),
            (None, None, None, None, "invalid JSON"),
        ],
    )
    good, bad = split_valid(staged, "films", "run-1")
    assert good.count() + bad.count() == staged.count()
    assert [r.tmdb_id for r in good.collect()] == [78]
    assert [(f.name, f.dataType) for f in good.schema] == [(f.name, f.dataType) for f in FILMS_SCHEMA]
    assert [(f.name, f.dataType) for f in bad.schema] == [(f.name, f.dataType) for f in QUARANTINE_SCHEMA]
    reasons = sorted(r.reason for r in bad.collect())
    assert reasons == ["invalid JSON", "missing tmdb_id", "no title; vote_average outside [0, 10]"]
    assert {r.run_id for r in bad.collect()} == {"run-1"}


def test_missing_column_fails_the_run(spark):
    staged = _staged_films(spark, [(1, "x", 1.0, 2000, None)]).drop("popularity")
    with pytest.raises(ContractError, match="popularity"):
        split_valid(staged, "films", "r")


def test_every_table_has_rules_and_a_schema():
    from capstone.validate import RULES

    assert set(RULES) == set(SCHEMAS) == {"films", "releases", "masters", "search_results"}
    for table, schema in SCHEMAS.items():
        key, _ = RULES[table]
        assert not schema[key].nullable, f"{table}.{key} must be declared not null"
