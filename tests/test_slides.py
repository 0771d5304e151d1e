"The testing-summary deck (a local tool), built from a finished run of the sample and small test reports."

import pytest

Presentation = pytest.importorskip("pptx").Presentation  # the slides extra; a cluster's test run leaves this out

from capstone.metrics import load_metrics  # noqa: E402
from capstone.tools.slides import build_deck, case_kind, read_test_reports, summary_line  # noqa: E402

from conftest import ROOT  # noqa: E402

pytestmark = pytest.mark.local_only  # left out on a cluster (tests/run_suite.py): the deck is a local tool


@pytest.fixture()
def reports_dir(tmp_path):
    (tmp_path / "junit.xml").write_text(
        "<testsuites><testsuite>"
        '<testcase classname="tests.test_foundations" name="test_config_coerces_widget_strings"/>'
        '<testcase classname="tests.test_foundations" name="test_uris_are_not_paths"/>'
        '<testcase classname="tests.test_extract" name="test_live_tmdb_bad_key_fails_fast_naming_the_variable"/>'
        '<testcase classname="tests.test_runner" name="test_full_run_links_blade_runner_to_vangelis"/>'
        '<testcase classname="nbs.05_match.ipynb" name="Cell 4"/>'
        '<testcase classname="nbs.05_match.ipynb" name="Cell 5"><skipped/></testcase>'
        "</testsuite></testsuites>"
    )
    (tmp_path / "coverage.json").write_text('{"totals": {"percent_covered": 88.5}}')
    return tmp_path


def test_test_reports_are_counted_by_kind(reports_dir):
    t = read_test_reports(str(reports_dir))
    assert t["total"] == {"passed": 5, "failed": 0, "skipped": 1, "errors": 0}
    assert {k: v["passed"] for k, v in t["by_kind"].items()} == {
        "unit": 2,
        "fault injection": 1,
        "end to end": 1,
        "notebook": 1,
    }
    assert summary_line(t) == "tests passed=5 failed=0 skipped=1 coverage=88.5%"
    assert case_kind("tests.test_prepare", "test_faulty_raw_zone_reconciles") == "fault injection"


def test_deck_shows_the_run_figures(sample_run, spark, reports_dir, tmp_path):
    cfg, _ = sample_run
    run_metrics = load_metrics(spark, cfg)
    out = tmp_path / "deck.pptx"
    shown = build_deck(run_metrics, read_test_reports(str(reports_dir)), str(ROOT / "slides/limits.md"), str(out))
    prs = Presentation(str(out))
    assert len(prs.slides) == shown["slides"] == 7

    def text(i):
        s = prs.slides[i]
        parts = [sh.text_frame.text for sh in s.shapes if sh.has_text_frame]
        parts += [c.text for sh in s.shapes if sh.has_table for r in sh.table.rows for c in r.cells]
        return "\n".join(parts)

    assert cfg.run_id in text(0)
    assert "88.5%" in text(2) and "fault injection" in text(2)
    v = run_metrics["validate"]
    assert f"\n{sum(v['rows_in'].values())}\n" in text(3) and f"\n{sum(v['rows_out'].values())}\n" in text(3)
    assert f"\n{v['duration_s']}" in text(3) and "nan" not in text(3)
    assert len(prs.slides[3].shapes[1].table.rows) == len(run_metrics) + 1, "one row per stage"
    ev = run_metrics["match"]["figures"]["evaluation"]
    assert f"precision {ev['auto']['precision']:.3f}" in text(4) and f"(tp {ev['auto']['tp']}," in text(4)
    assert any(sh.shape_type == 13 for sh in prs.slides[4].shapes), "the PR curve picture is on the quality slide"
    assert run_metrics["report"]["figures"]["answer"] in text(5)
    assert any(sh.shape_type == 13 for sh in prs.slides[5].shapes), "the key chart is on the answer slide"
    limits = [l[2:] for l in (ROOT / "slides/limits.md").read_text().splitlines() if l.startswith("- ")]
    assert all(l in text(6) for l in limits) and shown["limits"] == limits


def test_picture_export_deletes_only_what_it_wrote(tmp_path, monkeypatch):
    from capstone.tools.slides import export_pngs

    monkeypatch.setattr(
        "capstone.tools.slides.shutil.which", lambda name: None
    )  # the chart-image path, with or without soffice
    out = tmp_path / "png"
    out.mkdir()
    (out / "mine.png").write_bytes(b"a user's own picture")
    first, second = tmp_path / "pipeline.png", tmp_path / "pr_curve.png"
    first.write_bytes(b"\x89PNG first")
    second.write_bytes(b"\x89PNG second")
    assert [p.rsplit("/", 1)[-1] for p in export_pngs("deck.pptx", [str(first), str(second)], str(out))] == [
        "pipeline.png",
        "pr_curve.png",
    ]
    export_pngs("deck.pptx", [str(second)], str(out))
    assert sorted(p.name for p in out.glob("*.png")) == ["mine.png", "pr_curve.png"]  # its stale picture gone, not mine
    assert (out / "mine.png").read_bytes() == b"a user's own picture"


def test_test_summary_command_prints_the_counts_and_the_time_per_group(reports_dir, capsys):
    from capstone.tools.runner import main

    (reports_dir / "junit.xml").write_text(
        "<testsuites><testsuite>"
        '<properties><property name="sample_run_s" value="140.0"/><property name="sample_run_wait_s" value="0"/>'
        "</properties>"
        '<testcase classname="tests.test_foundations" name="test_uris_are_not_paths" time="0.5"/>'
        '<testcase classname="tests.test_pipeline" name="test_gold" time="2.0">'
        '<properties><property name="group" value="pipeline"/></properties></testcase>'
        '<testcase classname="nbs.05b_candidates.ipynb" name="Cell 4" time="3.5"/>'
        "</testsuite></testsuites>"
    )
    assert main(["test-summary", "--metrics-dir", str(reports_dir)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "tests passed=3 failed=0 skipped=0 coverage=88.5%"
    rows = {line.split()[0]: line.split()[1:] for line in printed[2:6]}
    assert rows == {"runner": ["0", "0.0", "0%"], "pipeline": ["1", "2.0", "33%"], "nbval": ["1", "3.5", "58%"],
                    "unit": ["1", "0.5", "8%"]}  # fmt: skip
    assert printed[6].split() == ["total", "3", "6.0"] and printed[7].startswith("the sample run: 140.0 s")
    assert (reports_dir / "test_summary.txt").read_text().splitlines() == printed
