"""The catalogue: it loads and is sound, bad records are rejected clearly, selection, verdicts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conformance import rfc
from conformance.docroot import CANARY_TEXT, source_docroot
from conformance.scenarios import (
    CATEGORIES,
    LEVELS,
    CatalogueError,
    Scenario,
    SelectionError,
    load_catalogue,
    select,
)
from conformance.session import Session
from conformance.steps import (
    STEP_KINDS,
    Expect,
    Repeat,
    Send,
    StepError,
    expand_template,
    parse_step,
)
from conformance.verdicts import Outcome, Verdict, deciding_failures, summarize

VALID = """
[[scenario]]
id = "basic.sample"
title = "A sample"
category = "basic"
level = "MUST"
rfc = "RFC 9110 §9.3.1"
requires = "The GET method requests transfer of a current selected representation for the target resource."
hint = "Do it."
steps = [
  { send = "GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n" },
  { expect = 200, body_file = "index.html" },
]
"""


def write_catalogue(directory: Path, text: str, name: str = "basic.toml") -> Path:
    directory.mkdir(exist_ok=True)
    (directory / name).write_text(text, encoding="utf-8")
    return directory


def all_steps(scenario: Scenario):
    pending = list(scenario.steps)
    while pending:
        step = pending.pop()
        if isinstance(step, Repeat):
            pending.extend(step.steps)
        yield step


def test_the_catalogue_loads_and_covers_every_category():
    scenarios = load_catalogue()
    assert {scenario.category for scenario in scenarios} == set(CATEGORIES)
    assert len({scenario.id for scenario in scenarios}) == len(scenarios)
    assert all(scenario.level in LEVELS for scenario in scenarios)


def test_every_file_the_catalogue_compares_with_exists_in_the_document_root():
    root = source_docroot()
    named = {
        name
        for scenario in load_catalogue()
        for step in all_steps(scenario)
        if isinstance(step, Expect)
        for spec in step.alternatives
        for name in (spec.body_file, spec.content_length_of)
        if name is not None
    }
    assert named
    assert [name for name in sorted(named) if not (root / name).is_file()] == []
    assert all(CANARY_TEXT.encode() not in path.read_bytes() for path in root.rglob("*.*"))


def test_every_requirement_is_quoted_verbatim_from_the_rfc_it_cites():
    misquoted = [
        scenario.id
        for scenario in load_catalogue()
        if rfc.passage(scenario.rfc, scenario.requires) is None
    ]
    assert misquoted == []


def test_a_quote_is_found_in_its_paragraph_with_the_paragraphs_around_it():
    quote = 'A server that receives a "close" connection option MUST initiate closure'
    found = rfc.passage("RFC 9112 §9.6", quote)
    assert found is not None
    assert [p.number for p in (*found.before, found.paragraph, *found.after)] == [5, 6, 7]
    assert found.paragraph.text.startswith(quote) and found.paragraph.text.endswith(".")
    assert rfc.passage("RFC 9112 §9.5", quote) is None
    first = rfc.passage("RFC 9110 §9.3.1", "The GET method requests transfer", around=2)
    assert first is not None and first.before == () and len(first.after) == 2


def test_a_keyword_level_is_the_keyword_of_the_quoted_sentence():
    """MUST, SHOULD and MAY come from the RFC sentence itself; anything else is POLICY."""
    unfounded = [
        scenario.id
        for scenario in load_catalogue()
        if scenario.level != "POLICY" and not re.search(rf"\b{scenario.level}\b", scenario.requires)
    ]
    assert unfounded == []
    policy = [scenario for scenario in load_catalogue() if scenario.level == "POLICY"]
    assert policy and not [s.id for s in policy if re.search(r"\bMUST\b", s.requires)]


def test_a_valid_record_loads_with_parsed_steps(tmp_path):
    (scenario,) = load_catalogue(write_catalogue(tmp_path / "cat", VALID))
    send, expect = scenario.steps
    assert isinstance(send, Send) and send.data == b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    assert isinstance(expect, Expect) and expect.alternatives[0].statuses == ("200",)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('level = "MUST"', 'level = "MUSTN\'T"'), "level must be one of"),
        (('id = "basic.sample"', 'id = "files.sample"'), "id must be '<category>"),
        (('hint = "Do it."', 'hint = ""'), "hint must be a non-empty string"),
        (('rfc = "RFC 9110 §9.3.1"', 'rfc = "section 9"'), "rfc must look like"),
        (('title = "A sample"', 'title = "A sample"\nnotes = "x"'), "unknown key(s) notes"),
        (("{ expect = 200,", "{ expect = 2000,"), "status 2000 is not a code"),
        (("{ expect = 200,", "{ expect = 200, then = 'later',"), "then must be one of"),
        (("{ expect = 200,", "{ expcet = 200,"), "a step needs exactly one of"),
        (("{ expect = 200,", "{ expect = 200, send = 'x',"), "found expect, send"),
        (('body_file = "index.html"', 'bodyfile = "index.html"'), "unknown key(s) bodyfile"),
        (
            ("{ expect = 200,", "{ expect = 200, on = 'other',"),
            "connection 'other' was never opened",
        ),
        (("GET / HTTP", "GET /\u20ac HTTP"), "is not one byte"),
        (('body_file = "index.html"', "body_range = [0, 9]"), "body_range needs body_file"),
        (("{ expect = 200,", "{ expect = 200, or_close = 'yes',"), "or_close must be bool"),
        (
            ("steps = [", 'check = "no_such_check"\nsteps = ['),
            "check 'no_such_check' is not defined",
        ),
    ],
)
def test_bad_records_are_rejected_naming_file_and_id(tmp_path, change, message):
    old, new = change
    assert old in VALID
    directory = write_catalogue(tmp_path / "cat", VALID.replace(old, new, 1))
    with pytest.raises(CatalogueError) as raised:
        load_catalogue(directory)
    assert str(raised.value).startswith("basic.toml: ")
    assert message in str(raised.value)


def test_catalogue_level_problems_are_rejected(tmp_path):
    with pytest.raises(CatalogueError, match="not named after a category"):
        load_catalogue(write_catalogue(tmp_path / "a", VALID, "misc.toml"))
    with pytest.raises(CatalogueError, match="in the wrong file"):
        load_catalogue(
            write_catalogue(
                tmp_path / "b",
                VALID.replace('category = "basic"', 'category = "files"').replace(
                    "basic.sample", "files.sample"
                ),
            )
        )
    doubled = write_catalogue(tmp_path / "c", VALID + VALID)
    with pytest.raises(CatalogueError, match=r"basic\.sample: id also used"):
        load_catalogue(doubled)
    with pytest.raises(CatalogueError, match="no catalogue files"):
        load_catalogue(tmp_path / "empty")


def test_templates_generate_large_inputs():
    assert expand_template("GET /{{ab*3}} HTTP/1.1") == b"GET /ababab HTTP/1.1"
    assert expand_template("\u00ff\u0000") == b"\xff\x00"
    with pytest.raises(StepError, match="exceeds"):
        expand_template("{{a*2000000}}")


def test_steps_parse_their_options():
    send = parse_step({"send": ["GE", "T /"], "pause": 0.02, "on": "b"})
    assert send == Send(on="b", fragments=(b"GE", b"T /"), pause=0.02)
    expect = parse_step({"expect_one_of": [{"status": "4xx"}, {"status": 200}], "or_close": True})
    assert [spec.statuses for spec in expect.alternatives] == [("4xx",), ("200",)]
    assert expect.alternatives[0].accepts_status(431)
    assert not expect.alternatives[0].accepts_status(500)
    with pytest.raises(StepError, match="between 0 and 5 seconds"):
        parse_step({"wait": 60})


def test_select_filters_and_rejects_what_matches_nothing():
    scenarios = load_catalogue()
    heads = select(scenarios, categories=["head"])
    assert heads and all(s.category == "head" for s in heads)
    musts = select(scenarios, id_globs=["keep-alive.*"], levels=["must"])
    assert musts and all(s.level == "MUST" and s.id.startswith("keep-alive.") for s in musts)
    assert select(scenarios) == scenarios
    with pytest.raises(SelectionError, match="unknown category 'caching'"):
        select(scenarios, categories=["caching"])
    with pytest.raises(SelectionError, match=r"no scenario id matches 'nothing\.\*'"):
        select(scenarios, id_globs=["nothing.*"])
    with pytest.raises(SelectionError, match="unknown level"):
        select(scenarios, levels=["OPTIONAL"])


def verdict(level: str, outcome: Outcome, category: str = "basic") -> Verdict:
    scenario = Scenario(
        id=f"{category}.x",
        title="t",
        category=category,
        level=level,
        rfc="RFC 9110 §1",
        requires="r",
        hint="h",
        steps=(),
    )
    return Verdict(scenario, outcome, "message")


def test_deciding_failures_follow_level_and_outcome():
    verdicts = [
        verdict("MUST", Outcome.FAIL),
        verdict("MUST", Outcome.PASS),
        verdict("MUST", Outcome.SKIP),
        verdict("MUST", Outcome.ERROR),
        verdict("SHOULD", Outcome.HANG),
        verdict("MAY", Outcome.CRASH),
        verdict("POLICY", Outcome.BLOCKED),
    ]
    deciding = deciding_failures(verdicts, strict=False)
    assert [v.outcome for v in deciding] == ["fail", "error", "blocked"]
    strict = deciding_failures(verdicts, strict=True)
    assert [v.outcome for v in strict] == ["fail", "error", "hang", "blocked"]


def test_summary_counts_per_outcome_category_and_level():
    summary = summarize([verdict("MUST", Outcome.PASS), verdict("SHOULD", Outcome.FAIL, "head")])
    assert summary["total"] == 2
    assert summary["outcomes"]["pass"] == 1 and summary["outcomes"]["fail"] == 1
    assert summary["categories"]["head"]["fail"] == 1
    assert list(summary["categories"]) == ["basic", "head"]
    assert summary["levels"]["SHOULD"]["fail"] == 1


def test_verdict_json_has_the_report_fields():
    record = verdict("MUST", Outcome.FAIL).to_json()
    for key in ("id", "category", "level", "rfc", "title", "outcome", "message", "duration_s"):
        assert key in record
    assert record["outcome"] == "fail"
    assert {"transcript", "expected", "actual", "reproduction", "choice", "hint"} <= set(record)


def test_every_step_kind_has_a_session_method_that_runs_it():
    missing = [
        key for key, kind in STEP_KINDS.items() if not hasattr(Session, f"_step_{kind.keys[0]}")
    ]
    assert missing == []
    assert all(key in STEP_KINDS[key].keys for key in STEP_KINDS)
