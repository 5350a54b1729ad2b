"""Baselines: recorded outcomes, and the differences a regression check must name."""

from __future__ import annotations

import json

import pytest

from conformance import baseline
from conformance.cli import main
from conformance.scenarios import load_catalogue
from conformance.verdicts import Outcome, Verdict

SCENARIOS = load_catalogue()[:4]


def verdicts(*outcomes: Outcome) -> list[Verdict]:
    return [
        Verdict(scenario, outcome, f"{scenario.id} was {outcome}")
        for scenario, outcome in zip(SCENARIOS, outcomes, strict=True)
    ]


def test_a_recorded_run_compares_equal_to_itself(tmp_path):
    path = tmp_path / "b.json"
    run = verdicts(Outcome.PASS, Outcome.FAIL, Outcome.HANG, Outcome.SKIP)
    baseline.record(path, run, "a server")
    recorded = baseline.load(path)
    assert recorded == {
        s.id: o for s, o in zip(SCENARIOS[:3], ["pass", "fail", "hang"], strict=True)
    }
    assert baseline.compare(recorded, run) == []


def test_failing_differently_is_not_a_change_but_passing_is():
    recorded = {SCENARIOS[0].id: "pass", SCENARIOS[1].id: "hang", SCENARIOS[2].id: "fail"}
    run = verdicts(Outcome.FAIL, Outcome.CRASH, Outcome.PASS, Outcome.PASS)
    lines = [difference.describe() for difference in baseline.compare(recorded, run)]
    assert lines[0].startswith(f"new failure: {SCENARIOS[0].id} (recorded pass, now fail)")
    assert lines[0].endswith(f"{SCENARIOS[0].id} was fail")
    assert lines[1] == f"unexpected pass: {SCENARIOS[2].id} (recorded fail, now pass)"
    assert lines[2] == f"not in the baseline: {SCENARIOS[3].id} (recorded missing, now pass)"
    assert len(lines) == 3


def test_a_harness_error_is_always_a_difference():
    recorded = {SCENARIOS[0].id: "error"}
    [difference] = baseline.compare(recorded, verdicts(Outcome.ERROR, *[Outcome.SKIP] * 3))
    assert difference.describe().startswith("harness error:")


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        (None, "no baseline at"),
        ("{not json", "cannot read baseline"),
        (json.dumps({"format": 99, "outcomes": {}}), "is not an h1check baseline"),
        (json.dumps({"format": 1, "outcomes": {"x": "great"}}), "unknown outcome for x"),
    ],
)
def test_unreadable_baselines_are_one_line_errors(tmp_path, content, complaint):
    path = tmp_path / "b.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(baseline.BaselineError, match=complaint):
        baseline.load(path)


def test_the_command_line_names_each_change_and_exits_1(tmp_path, capsys):
    path = tmp_path / "epoll.json"
    selection = ["run", "--reference", "epoll", "--id", "basic.*", "--level", "POLICY"]
    assert main([*selection, "--write-baseline", str(path)]) == 0
    recorded = json.loads(path.read_text())
    assert recorded["outcomes"] and set(recorded["outcomes"].values()) == {"pass"}
    assert main([*selection, "--baseline", str(path)]) == 0
    first = next(iter(recorded["outcomes"]))
    recorded["outcomes"][first] = "fail"
    path.write_text(json.dumps(recorded))
    capsys.readouterr()
    assert main([*selection, "--baseline", str(path)]) == 1
    assert f"unexpected pass: {first} (recorded fail, now pass)" in capsys.readouterr().out
