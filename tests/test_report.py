"The report stage, built from a finished run of the sample."

from pathlib import Path


def test_report_writes_its_plots_and_metrics(sample_run, spark):
    cfg, metrics = sample_run
    m = metrics["report"]
    assert m["status"] == "succeeded"
    names = sorted(Path(p).name for p in m["figures"]["plots"])
    assert names == [
        "pipeline.png",
        "pr_curve.png",
        "question_soundtrack_genres.png",
        "question_soundtrack_styles.png",
        "score_histogram.png",
    ]
    for p in m["figures"]["plots"]:
        assert Path(p.replace("file:", "")).read_bytes()[:4] == b"\x89PNG"
    linked = metrics["match"]["rows_out"]["film_soundtrack_links"]
    assert m["figures"]["films"] == metrics["validate"]["rows_out"]["films"]
    assert 0 < m["figures"]["films_with_soundtrack"] <= linked
    assert f"{m['figures']['films_with_soundtrack']} of {m['figures']['films']} films" in m["figures"]["answer"]
    groups = {g["group"]: g for g in m["figures"]["genre_groups"]}
    assert groups["(no linked soundtrack)"]["n"] == m["figures"]["films"] - m["figures"]["films_with_soundtrack"]
