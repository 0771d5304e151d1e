"""The dump scan never sets aside a record the match's own candidate rule keeps: on every record of the real dump
slices, on generated edge cases, and for every word of the shared vocabulary. The rule is the match stage's code
(`with_soundtrack_evidence`), run on the records as the full parser reads them."""

import ast
import gzip
import io
import inspect
import re

import pytest
from lxml import etree

from capstone import scan, vocabulary
from capstone.dump import RECORD_PARSERS, parse_dump_chunk
from capstone.linkage import candidates
from capstone.scan import KeepRule, record_blocks, record_shape, scan_block, scan_stream
from capstone.schemas import frame

from conftest import ROOT

DUMP = ROOT / "data/sample/dump"
SEP = {"release": b"<release ", "master": b"<master "}


def match_rule_ids(spark, records: dict) -> set:
    "Ids of the parsed `records` ({id: record dict}) that the match's candidate rule calls soundtrack candidates."
    rows = [
        (rid, [r["title"]] if r["title"] is not None else [], r["genres"], r["styles"]) for rid, r in records.items()
    ]
    df = frame(spark, "id long, titles array<string>, genres array<string>, styles array<string>", rows)
    return {r.id for r in candidates.with_soundtrack_evidence(df).where("is_soundtrack_candidate").collect()}


def scanned(data: bytes, kind: str, rule: KeepRule = KeepRule(), read_size: int = 1 << 16) -> dict:
    """Verdict reason by record id of a whole dump file's bytes, streamed through the scan: why each kept record was
    kept, and `not_soundtrack` for the others (the ids the scan read from them), checked against its tallies."""
    rows = list(scan_stream(record_blocks(io.BytesIO(data), SEP[kind], read_size), record_shape(kind), rule, "f", None))
    kept = {r[4]: r[6] for r in rows if r[7] is None}
    tallies = {r[6]: r[7] for r in rows if r[7] is not None}
    ids = [int(m) for m in re.findall(rb'<%s id="(\d+)"' % kind.encode(), data)]
    aside = {i: "not_soundtrack" for i in ids if i not in kept}
    assert tallies.get("set_aside:not_soundtrack", 0) == len(aside) and tallies["found"] == len(kept) + len(aside)
    return kept | aside


def real(kind: str) -> tuple[bytes, dict]:
    data = gzip.decompress((DUMP / f"discogs_20200806_{kind}s.xml.gz").read_bytes())
    parsed = {int(el.get("id")): RECORD_PARSERS[kind](el) for el in etree.fromstring(data)}
    return data, parsed


@pytest.mark.parametrize("kind", ["release", "master"])
def test_every_real_record_the_match_rule_keeps_is_kept_by_the_scan(spark, kind):
    data, parsed = real(kind)
    keep = match_rule_ids(spark, parsed)
    verdicts = scanned(data, kind)
    kept = {i for i, why in verdicts.items() if why != "not_soundtrack"}
    assert len(parsed) in (602, 598) and set(verdicts) == set(parsed)
    assert keep and keep <= kept, f"set aside by the scan, kept by the match: {sorted(keep - kept)}"
    # on the real slices the scan is exact: nothing kept beyond the rule, so nothing parsed for nothing
    assert kept == keep


def test_every_release_of_a_soundtrack_master_is_kept(spark):
    masters_data, masters = real("master")
    soundtrack_masters = frozenset(match_rule_ids(spark, masters))
    data, releases = real("release")
    kept = scanned(data, "release", KeepRule(master_ids=soundtrack_masters | {104980}))
    of_masters = {rid for rid, r in releases.items() if r["discogs_master_id"] in soundtrack_masters | {104980}}
    assert of_masters and all(kept[i] != "not_soundtrack" for i in of_masters)
    assert kept[4] == "soundtrack_master"  # Faze Action - Moving Cities: house music, kept for its master here


def _rec(body: str, rid: int) -> bytes:
    return f'<release id="{rid}" status="Accepted">{body}</release>\n'.encode()


# generated records (not real data), each with what keeps it; the plain ones must be set aside
EDGE_CASES = {
    "no genres, a soundtrack master": ('<title>Heat</title><master_id is_main_release="true">9</master_id>', "soundtrack_master"),
    "Score only as a style": ("<title>Heat</title><styles><style>Score</style></styles>", "soundtrack_evidence"),
    "a phrase only in the title": ("<title>Heat (Original Score)</title>", "soundtrack_evidence"),
    "an escaped genre": ("<title>Cats</title><genres><genre>Stage &amp; Screen</genre></genres>", "soundtrack_evidence"),
    "a phrase across a line break": ("<title>Heat (Original\nMotion Picture Soundtrack)</title>", "soundtrack_evidence"),
    "a phrase in capitals": ("<title>HEAT O.S.T.</title>", "soundtrack_evidence"),
    "a phrase behind an entity": ("<title>Heat &#8211; Bande Originale</title>", "soundtrack_evidence"),
    "a phrase in Japanese": ("<title>ヒート サウンドトラック</title>", "soundtrack_evidence"),
    "a style written with a reference": ("<title>Heat</title><styles><style>S&#111;undtrack</style></styles>", "soundtrack_evidence"),
    "a control character in the phrase": ("<title>Sound\x0btrack</title>", "soundtrack_evidence"),
    "a track before the title": ("<tracklist><track><title>Main Title</title></track></tracklist><title>Heat</title>", "to_be_checked"),
    "genres not closed": ("<title>Heat</title><genres><genre>Rock</genre>", "to_be_checked"),
    "a bad master id": ("<title>Heat</title><master_id>9x</master_id>", "to_be_checked"),
    "plain": ("<title>Heat</title><genres><genre>Rock</genre></genres><styles><style>Scored</style></styles>", "not_soundtrack"),
    "Score only in a word of the title": ("<title>The Score</title>", "not_soundtrack"),
    "a phrase only in a track": ("<title>Heat</title><tracklist><track><title>Soundtrack</title></track></tracklist>", "not_soundtrack"),
}  # fmt: skip


def edge_dump() -> tuple[bytes, dict]:
    ids = {name: i + 1 for i, name in enumerate(EDGE_CASES)}
    body = b"".join(_rec(body, ids[name]) for name, (body, _) in EDGE_CASES.items())
    data = b'<?xml version="1.0" encoding="UTF-8"?><releases>\n' + body + b"</releases>\n"
    return data, ids


@pytest.mark.parametrize("read_size", [1, 5, 64, 1 << 20])
def test_generated_edge_cases_whatever_the_read_size(read_size):
    "A phrase or a tag cut between two reads of the stream is found all the same."
    data, ids = edge_dump()
    got = scanned(data, "release", KeepRule(master_ids=frozenset({9})), read_size)
    assert {name: got.get(ids[name]) for name in EDGE_CASES} == {n: why for n, (_, why) in EDGE_CASES.items()}


def test_edge_cases_agree_with_the_match_rule(spark):
    "Every edge case the match's rule keeps (parsed as the pipeline parses it, repair included) the scan keeps."
    data, ids = edge_dump()
    got = scanned(data, "release")
    parsed = {}
    for chunk in data.split(b"<release ")[1:]:
        rid, rec, error, _ = parse_dump_chunk(chunk.decode(), "release")
        if rec is not None:
            parsed[int(rid)] = rec
    keep = match_rule_ids(spark, parsed)
    assert keep and all(got[i] != "not_soundtrack" for i in keep)


def test_every_word_of_the_vocabulary_keeps_a_record_in_both(spark):
    "One record per style, per genre and per title phrase of the shared vocabulary: the match and the scan keep each."
    bodies = [f"<title>Heat</title><styles><style>{s}</style></styles>" for s in vocabulary.SOUNDTRACK_STYLES]
    bodies += [f"<title>Heat</title><genres><genre>{scan.xml_escaped(g).decode()}</genre></genres>" for g in vocabulary.SOUNDTRACK_GENRES]  # fmt: skip
    phrases = vocabulary.SOUNDTRACK_TITLE_RE[4:].replace(r"\b", "").replace(r"\.?", ".").split("|")
    bodies += [f"<title>Heat {p.upper() if p.isascii() else p}</title>" for p in phrases]
    data = b"<releases>\n" + b"".join(_rec(b, i + 1) for i, b in enumerate(bodies)) + b"</releases>\n"
    got = scanned(data, "release")
    parsed = {int(r): rec for r, rec, _, _ in (parse_dump_chunk(c.decode(), "release") for c in data.split(b"<release ")[1:])}  # fmt: skip
    assert match_rule_ids(spark, parsed) == set(parsed), "each word is the match's too"
    assert got == {i: "soundtrack_evidence" for i in parsed}


def _string_constants(fn) -> set[str]:
    "The string constants of a function's code, its docstring left out."
    tree = ast.parse(inspect.getsource(fn)).body[0]
    docstring = ast.get_docstring(tree, clean=False)
    found = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    return found - {docstring}


def test_the_match_rule_and_the_scan_read_one_vocabulary():
    "The rule's words live in `vocabulary` only: neither the match's rule nor the scan carries a word of its own."
    for name in ("SOUNDTRACK_STYLES", "SOUNDTRACK_GENRES", "SOUNDTRACK_TITLE_RE"):
        assert getattr(candidates, name) is getattr(vocabulary, name) is getattr(scan, name)
    words = set(vocabulary.SOUNDTRACK_STYLES) | set(vocabulary.SOUNDTRACK_GENRES)
    assert not _string_constants(candidates.with_soundtrack_evidence) & words
    assert not _string_constants(scan.record_shape) & words
    assert _string_constants(candidates.with_soundtrack_evidence) <= {
        "styles", "genres", "titles", "has_style", "has_genre", "has_phrase", "not_film", "is_soundtrack_candidate",
    }, "a new condition in the match's rule needs its counterpart in the scan (capstone/scan.py)"  # fmt: skip
    shape = record_shape("release")
    assert (shape.genres, shape.styles) == (tuple(vocabulary.SOUNDTRACK_GENRES), tuple(vocabulary.SOUNDTRACK_STYLES))


def test_scope_all_keeps_every_record():
    data, parsed = real("release")
    blocks = record_blocks(io.BytesIO(data), SEP["release"])
    rows = list(scan_stream(blocks, record_shape("release"), KeepRule("all"), "f", None))
    assert {r[6]: r[7] for r in rows if r[7] is not None} == {"found": 602, "kept:all_releases": 602}
    assert [r[0] for r in rows if r[7] is None] == data.split(b"<release ")[1:], "each record's text, whole"


def test_the_tallies_add_up_and_a_cut_stream_ends_or_raises():
    data, _ = edge_dump()
    rows = list(
        scan_stream(record_blocks(io.BytesIO(data), SEP["release"]), record_shape("release"), KeepRule(), "f", None)
    )
    tallies = {r[6]: r[7] for r in rows if r[7] is not None}
    assert tallies["found"] == len(EDGE_CASES) == sum(n for k, n in tallies.items() if k != "found")
    cut = gzip.compress(data)[:-30]
    with pytest.raises(EOFError):
        list(record_blocks(gzip.GzipFile(fileobj=io.BytesIO(cut)), SEP["release"], 64))
    blocks = list(record_blocks(gzip.GzipFile(fileobj=io.BytesIO(cut)), SEP["release"], 64, ignore_corrupt=True))
    assert blocks[-1][1] and b"<release ".join(b for b, _ in blocks[1:]).count(b"</release>") >= len(EDGE_CASES) - 2


def test_scan_block_on_an_empty_or_blank_record():
    verdicts = scan_block(b"  \n", record_shape("release"), KeepRule())
    assert [(v.kept, v.reason) for v in verdicts] == [(False, "")], "white space is no record"


def _judged(verdicts) -> list[tuple]:
    "The verdicts that keep a record or give a reason other than `not_soundtrack`, as comparable tuples."
    return [(v.start, v.end, v.record_id, v.master_id, v.kept, v.reason, v.index) for v in verdicts if v.kept or v.reason != "not_soundtrack"]  # fmt: skip


# generated records (not real data) laid out against the dumps' order: the sieve must leave each to the full verdict
ODD_LAYOUTS = {
    "a master id before the genres": '<title>Heat</title><master_id>9</master_id><genres><genre>Rock</genre></genres>',
    "styles away from the genres": "<title>Heat</title><genres><genre>Rock</genre></genres><country>US</country><styles><style>Score</style></styles>",
    "a bad master id": "<title>Heat</title><genres><genre>Rock</genre></genres><master_id>9x</master_id>",
    "an escaped style": "<title>Heat</title><genres><genre>Rock</genre></genres><styles><style>Sc&#111;re</style></styles>",
    "genres before the title": "<genres><genre>Stage &amp; Screen</genre></genres><title>Heat</title>",
    "a searched id": "<title>Heat</title><genres><genre>Rock</genre></genres>",
}  # fmt: skip


@pytest.mark.parametrize("kind", ["release", "master"])
def test_the_sieve_judges_as_the_full_scan(kind):
    "`sieve_block`, the fast path the stream takes, gives `scan_block`'s verdicts on real, edge and odd records."
    data, parsed = real(kind)
    edge, _ = edge_dump()
    odd = b"<releases>\n" + b"".join(_rec(body, 900 + i) for i, body in enumerate(ODD_LAYOUTS.values())) + b"</releases>\n"  # fmt: skip
    searched = KeepRule(ids=frozenset({sorted(parsed)[7], 900 + len(ODD_LAYOUTS) - 1}), master_ids=frozenset({9, 104980}))  # fmt: skip
    shape = record_shape(kind)
    for dump in (data, edge, odd) if kind == "release" else (data,):
        body = dump.split(SEP[kind], 1)[1]
        for rule in (KeepRule(), searched):
            full = scan_block(body, shape, rule, scan._closing_end(body, kind))
            sieved = scan.sieve_block(body, shape, rule, scan._closing_end(body, kind))
            assert sieved.pieces == len(full) and _judged(sieved.verdicts) == _judged(full)
    if kind == "master":
        return
    odd_body = odd.split(SEP["release"], 1)[1]
    odd_full = scan_block(odd_body, shape, searched, scan._closing_end(odd_body, "release"))
    assert [v.kept for v in odd_full] == [True] * len(ODD_LAYOUTS), "each is kept, so the sieve must not set it aside"
