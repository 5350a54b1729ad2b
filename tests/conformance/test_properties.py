"""The property layer judges right: it passes careful servers, fails each property-only defect
with a replay script that reproduces it, gives the same verdicts twice, and keeps its search
honest (a gone server ends it, a verdict is never asked for twice, the budget holds)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import strategies as st

from conformance.engine import run
from conformance.properties.classify import http09_shaped
from conformance.properties.explore import Profile, Violation, explore
from conformance.properties.replay import script_name, write_script
from conformance.scenarios import load_catalogue
from conformance.settings import Settings
from conformance.target import LaunchedTarget
from conformance.verdicts import SERVER_FAULTS, Outcome, Verdict

REPO = Path(__file__).resolve().parents[2]
SERVERS = REPO / "fixtures" / "servers"
PROPERTY_SCENARIOS = [s for s in load_catalogue() if s.property is not None]
# The fixture servers whose one defect only generated requests find, and what they must fail.
PROPERTY_ONLY = {
    "case_sensitive_fields": {"headers.property-name-case", "files.property-any-valid-request"},
    "strict_field_whitespace": {"headers.property-whitespace", "files.property-any-valid-request"},
    "percent_upper_hex": {"files.property-target-forms", "files.property-any-valid-request"},
    "shallow_pipeline": {"pipelining.property-deep-pipelines"},
}


def launch(name: str) -> LaunchedTarget:
    return LaunchedTarget([sys.executable, str(SERVERS / f"{name}.py"), "{port}"])


def judge(name: str, scenarios=PROPERTY_SCENARIOS) -> list[Verdict]:
    with launch(name) as target:
        return run(scenarios, target, Settings())


def failed(verdicts: list[Verdict]) -> set[str]:
    return {v.scenario.id for v in verdicts if v.outcome in SERVER_FAULTS}


def test_every_property_scenario_is_in_the_catalogue_with_a_level() -> None:
    names = {scenario.property for scenario in PROPERTY_SCENARIOS}
    assert len(names) == len(PROPERTY_SCENARIOS) == 8
    categories = {scenario.category for scenario in PROPERTY_SCENARIOS}
    assert {"headers", "files", "errors", "partial-reads", "pipelining"} <= categories


@pytest.mark.slow
@pytest.mark.parametrize("name", ["correct", "correct_epoll", "legal_close_after_every_response"])
def test_careful_servers_pass_every_property(name: str) -> None:
    verdicts = judge(name)
    assert all(v.outcome is Outcome.PASS for v in verdicts), [
        (v.scenario.id, v.outcome, v.message) for v in verdicts if v.outcome is not Outcome.PASS
    ]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PROPERTY_ONLY))
def test_a_property_only_defect_fails_only_its_properties(name: str) -> None:
    verdicts = judge(name)
    assert failed(verdicts) == PROPERTY_ONLY[name], [(v.scenario.id, v.message) for v in verdicts]
    for verdict in verdicts:
        if verdict.outcome in SERVER_FAULTS:
            assert verdict.replay is not None and verdict.replay["sockets"], verdict.scenario.id
            assert verdict.replay["seed"] == 0 and verdict.replay["example"]
            assert verdict.transcript and verdict.expected


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PROPERTY_ONLY))
def test_the_replay_script_reproduces_the_failure_and_passes_once_fixed(
    name: str, tmp_path: Path
) -> None:
    scenarios = [s for s in PROPERTY_SCENARIOS if s.id in PROPERTY_ONLY[name]][:1]
    (verdict,) = judge(name, scenarios)
    assert verdict.replay is not None
    script = tmp_path / script_name(verdict.scenario.id)
    write_script(script, verdict.scenario.id, verdict.message, verdict.replay)

    def replay(server: str) -> subprocess.CompletedProcess[str]:
        with launch(server) as target:
            return subprocess.run(
                [sys.executable, "-I", str(script), f"{target.host}:{target.port}"],
                capture_output=True,
                text=True,
                timeout=60,
                cwd=tmp_path,  # Standalone: it imports nothing from this repository.
            )

    broken = replay(name)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "STILL FAILING" in broken.stdout and "> " in broken.stdout
    fixed = replay("correct")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "PASSED" in fixed.stdout


@pytest.mark.slow
def test_two_runs_against_one_server_give_the_same_verdicts() -> None:
    first, second = judge("case_sensitive_fields"), judge("case_sensitive_fields")
    assert [(v.scenario.id, v.outcome, v.message) for v in first] == [
        (v.scenario.id, v.outcome, v.message) for v in second
    ]

    def sent(verdicts: list[Verdict]) -> list:
        return [
            (v.replay["example"], [sock["sent"] for sock in v.replay["sockets"]])
            for v in verdicts
            if v.replay
        ]

    assert sent(first) == sent(second) != []


def test_a_server_that_answers_nothing_costs_about_one_timeout_per_property(thread_target):
    """Nothing to compare with: each property is skipped after the plain request's timeout."""
    verdicts = run(PROPERTY_SCENARIOS, thread_target(never_answer=True), Settings(0.5))
    assert {v.outcome for v in verdicts} <= {Outcome.SKIP, Outcome.HANG}
    skipped = [v for v in verdicts if v.outcome is Outcome.SKIP]
    assert skipped and all("cannot be" in v.message for v in skipped), [
        (v.scenario.id, v.message) for v in skipped
    ]
    for verdict in verdicts:
        assert verdict.duration_s < 4 * 0.5 + 2, (verdict.scenario.id, verdict.duration_s)


# The search itself --------------------------------------------------------------------------


QUICK = Profile("test", examples=50, seconds=30.0, seed=0)


def violation(gone: bool = False) -> Violation:
    return Violation(Outcome.FAIL, "wrong", "right", "wrong", [], gone=gone)


def test_the_smallest_failure_is_reported_and_each_example_judged_once() -> None:
    judged: list[int] = []

    def judge_number(number: int) -> None:
        judged.append(number)
        if number >= 10:
            raise violation()

    search = explore(st.integers(0, 1000), judge_number, QUICK)
    assert search.violation is not None and search.violation.example == "10"
    assert len(judged) == len(set(judged)), "an example was sent twice"
    assert search.examples == len(judged)


def test_a_gone_server_ends_the_search_at_the_example_that_met_it() -> None:
    judged: list[int] = []

    def judge_number(number: int) -> None:
        judged.append(number)
        if number >= 10:
            raise violation(gone=True)

    search = explore(st.integers(0, 1000), judge_number, QUICK)
    assert search.violation is not None and search.violation.gone
    assert judged[-1] == int(search.violation.example) >= 10
    assert len([n for n in judged if n >= 10]) == 1, "examples were sent to a gone server"


def test_the_time_budget_ends_the_search() -> None:
    clock = {"calls": 0}

    def judge_slowly(_number: int) -> None:
        clock["calls"] += 1

    search = explore(st.integers(), judge_slowly, Profile("test", 10_000, 0.0, 0))
    assert search.exhausted_budget and search.violation is None
    assert clock["calls"] <= 1


def test_the_same_seed_draws_the_same_examples() -> None:
    def drawn(seed: int) -> list[bytes]:
        seen: list[bytes] = []
        explore(st.binary(min_size=4), seen.append, Profile("test", 20, 30.0, seed))
        return seen

    assert drawn(7) == drawn(7)
    assert drawn(7) != drawn(8)


@pytest.mark.parametrize(
    ("data", "shaped"),
    [
        (b"GET /\r\nHost: localhost\r\n\r\n", True),
        (b"GET  /index.html\r\n\r\n", True),
        (b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", False),
        (b"GET / HTTP/1.1x\r\n\r\n", False),
        (b"GET\r\n\r\n", False),
    ],
)
def test_a_two_word_request_line_may_get_an_http09_reply(data: bytes, shaped: bool) -> None:
    assert http09_shaped(data) is shaped
