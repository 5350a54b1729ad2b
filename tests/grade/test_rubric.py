"""The rubric: its file format, an instructor's overrides, its errors, and how a run is scored."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from conformance.grade.rubric import RubricError, load_rubric
from conformance.report import RunReport
from conformance.report.json_report import build_report
from conformance.scenarios import CATEGORIES, load_catalogue
from conformance.verdicts import Outcome, Verdict

CATALOGUE = load_catalogue()


def report(**outcomes: str) -> dict[str, Any]:
    """A JSON report of the whole catalogue: every scenario passes but those given (id=outcome)."""
    verdicts = []
    for scenario in CATALOGUE:
        outcome = Outcome(outcomes.get(scenario.id, "pass"))
        message = "passed" if outcome is Outcome.PASS else f"{outcome} message"
        verdicts.append(Verdict(scenario, outcome, message))
    run = RunReport(tuple(verdicts), "t", datetime.now(UTC), 1.0, strict=False)
    return build_report(run)


def write(tmp_path: Path, text: str) -> Path:
    """An instructor's rubric file."""
    path = tmp_path / "rubric.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_default_rubric_puts_every_category_in_one_of_seven_stages() -> None:
    rubric = load_rubric(None)
    assert [stage.label for stage in rubric.stages] == [
        "1 responds",
        "2 serves files",
        "3 speaks HTTP/1.1",
        "4 survives the real world",
        "5 concurrent",
        "6 safe",
        "7 extras",
    ]
    placed = [category for stage in rubric.stages for category in stage.categories]
    assert sorted(placed) == sorted(CATEGORIES)
    assert rubric.stage_of("keep-alive").number == 3
    assert rubric.stage_of("range").name == rubric.stage_of("conditional").name == "extras"
    assert dict(rubric.level_points) == {"MUST": 2, "POLICY": 2, "SHOULD": 1, "MAY": 0}
    assert not rubric.gating


def test_an_instructors_file_overrides_only_what_it_sets(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[points.level]
SHOULD = 1.5

[points.category]
security = 3
conditional = { SHOULD = 0 }

[points.scenario]
"keep-alive.client-close" = 5
""",
    )
    rubric = load_rubric(path)
    assert rubric.level_points["SHOULD"] == 1.5 and rubric.level_points["MUST"] == 2
    assert rubric.points_for("security.dotdot", "security", "POLICY") == 3
    assert rubric.points_for("conditional.if-none-match", "conditional", "SHOULD") == 0
    assert rubric.points_for("keep-alive.client-close", "keep-alive", "MUST") == 5
    assert rubric.points_for("keep-alive.two-sequential", "keep-alive", "SHOULD") == 1.5
    assert len(rubric.stages) == 7  # No [[stage]] in the file: the default stages stay.


def test_stages_in_an_instructors_file_replace_the_default_ones(tmp_path: Path) -> None:
    first, rest = CATEGORIES[0], CATEGORIES[1:]
    path = write(
        tmp_path,
        f"""
gating = true
[[stage]]
name = "warm-up"
categories = ["{first}"]
[[stage]]
name = "everything else"
categories = {list(rest)!r}
""".replace("'", '"'),
    )
    rubric = load_rubric(path)
    assert [stage.label for stage in rubric.stages] == ["1 warm-up", "2 everything else"]
    assert rubric.gating


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[points.level]\nMUST = 2\nSHOULD = one\n", "rubric.toml: Invalid value (at line 3"),
        (
            "[points.level]\nMUST = 2\nSHOULD = 'one'\n",
            "rubric.toml:3: [points.level] SHOULD: must be a number",
        ),
        ("[points.level]\nSHOULD = -1\n", "rubric.toml:2: [points.level] SHOULD: must be a number"),
        ("[points.level]\nOFTEN = 1\n", "rubric.toml:2: [points.level] OFTEN: unknown level"),
        ("gating = 'yes'\n", "rubric.toml:1: gating: must be true or false"),
        ("gate = 0\n", "rubric.toml:1: gate: must be a number above 0 and at most 1"),
        ("colour = 1\n", "rubric.toml:1: colour: unknown key"),
        ("[points.bonus]\nx = 1\n", "rubric.toml:1: [points] bonus: unknown table"),
        (
            '[points.scenario]\n"keep-alive.nope" = 1\n',
            "rubric.toml:2: [points.scenario] keep-alive.nope: unknown scenario id",
        ),
        (
            "[points.category]\nsecurity = { MUST = true }\n",
            "rubric.toml:2: [points.category] security.MUST: must be a number",
        ),
        (
            "[points.category.security]\nMUST = true\n",
            "rubric.toml:2: [points.category] security.MUST: must be a number",
        ),
        (
            "[points.category]\nstyle = 1\n",
            "rubric.toml:2: [points.category] style: unknown category",
        ),
    ],
)
def test_a_malformed_rubric_names_the_line_and_the_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    with pytest.raises(RubricError) as raised:
        load_rubric(write(tmp_path, text))
    assert str(raised.value).startswith(expected)


def test_malformed_stages_name_the_stage_the_line_and_the_key(tmp_path: Path) -> None:
    stages = '[[stage]]\nname = "a"\ncategories = ["basic"]\n\n[[stage]]\nname = "b"\ncategories = ["basics"]\n'
    with pytest.raises(
        RubricError, match=r"^rubric.toml:7: \[\[stage\]\] #2 categories: unknown category 'basics'"
    ):
        load_rubric(write(tmp_path, stages))
    twice = '[[stage]]\nname = "a"\ncategories = ["basic"]\n[[stage]]\nname = "b"\ncategories = ["basic"]\n'
    with pytest.raises(RubricError, match=r"#2 categories: 'basic' is already in stage #1"):
        load_rubric(write(tmp_path, twice))
    with pytest.raises(
        RubricError, match=r"\[\[stage\]\]: categories in no stage: files, not-found"
    ):
        load_rubric(write(tmp_path, '[[stage]]\nname = "a"\ncategories = ["basic"]\n'))


def test_a_scenario_scores_only_when_it_passes_and_every_failure_stays_in_the_maximum() -> None:
    rubric = load_rubric(None)
    full = rubric.score(report())
    assert full.total == full.max_total == rubric.score(None).max_total
    failing = {
        "basic.get-root": "fail",
        "keep-alive.client-close": "hang",
        "closed-clients.close-after-response": "crash",
        "concurrency.idle-connection": "blocked",
        "errors.missing-host": "error",
    }
    score = rubric.score(report(**failing))
    by_id = {s.id: s for s in score.scenarios}
    for ident, outcome in failing.items():
        assert (by_id[ident].points, by_id[ident].max_points) == (0, 2), ident
        assert by_id[ident].status == "failed"
        assert by_id[ident].note == f"{outcome}: {outcome} message"
    assert score.max_total == full.max_total
    assert score.total == full.total - 2 * len(failing)
    assert score.stages[0].points == 2 and score.stages[0].max == 4


def test_a_skip_neither_earns_nor_costs_points() -> None:
    rubric = load_rubric(None)
    full = rubric.score(report())
    score = rubric.score(report(**{"pipelining.two-in-one-write": "skip"}))
    skipped = next(s for s in score.scenarios if s.id == "pipelining.two-in-one-write")
    assert (skipped.points, skipped.max_points) == (0, 0)
    assert skipped.status == "failed"  # It names a defect to fix before it can be judged.
    assert score.total == score.max_total == full.max_total - 2


def test_a_skip_with_nothing_to_check_shows_as_passed() -> None:
    document = report(**{"errors.allow-on-405": "skip"})
    for record in document["scenarios"]:
        if record["id"] == "errors.allow-on-405":
            record["message"] = "nothing to check in this run: the server sent no 405"
    scored = next(
        s for s in load_rubric(None).score(document).scenarios if s.id == "errors.allow-on-405"
    )
    assert (scored.status, scored.max_points) == ("passed", 0)


def test_a_server_that_never_started_scores_zero_of_the_whole_maximum() -> None:
    rubric = load_rubric(None)
    score = rubric.score(None)
    points = sum(rubric.points_for(s.id, s.category, s.level) for s in CATALOGUE)
    assert (score.total, score.max_total) == (0, points)
    assert all(s.outcome == "not run" and s.status == "failed" for s in score.scenarios)
    assert len(score.tests) == len(CATALOGUE)


def test_a_scenario_missing_from_the_report_counts_zero_and_stays_in_the_maximum() -> None:
    document = report()
    document["scenarios"] = [r for r in document["scenarios"] if r["id"] != "headers.date"]
    score = load_rubric(None).score(document)
    missing = next(s for s in score.scenarios if s.id == "headers.date")
    assert (missing.points, missing.max_points, missing.outcome) == (0, 2, "not run")
    assert score.total == score.max_total - 2


def test_gating_counts_a_stage_only_after_every_earlier_one_has_full_marks(tmp_path: Path) -> None:
    rubric = load_rubric(write(tmp_path, "gating = true\n"))
    score = rubric.score(report(**{"files.css": "fail"}))
    first, second, *later = score.stages
    assert (first.points, second.points, second.max) == (4, second.max - 2, second.max)
    assert all(stage.locked and stage.points == 0 and stage.earned == stage.max for stage in later)
    assert score.total == first.points + second.points
    assert score.max_total == load_rubric(None).score(None).max_total
    held = next(s for s in score.scenarios if s.id == "keep-alive.client-close")
    assert held.points == 0 and held.status == "passed"
    assert "stage 2 serves files earned" in held.note and "full marks" in held.note
    lenient = load_rubric(write(tmp_path, "gating = true\ngate = 0.5\n"))
    assert not any(stage.locked for stage in lenient.score(report(**{"files.css": "fail"})).stages)


def test_tests_are_gradescope_shaped_and_named_by_stage() -> None:
    score = load_rubric(None).score(report(**{"keep-alive.client-close": "fail"}))
    test = next(t for t in score.tests if "keep-alive.client-close" in t["name"])
    assert test == {
        "name": "3 speaks HTTP/1.1 · keep-alive.client-close [MUST]",
        "score": 0,
        "max_score": 2,
        "status": "failed",
        "output": "fail: fail message",
        "output_format": "md",
        "visibility": "visible",
    }
    stages = [int(t["name"].split(" ", 1)[0]) for t in score.tests]
    assert stages == sorted(stages)
