"""What the engine concluded about one scenario, and how a run's verdicts add up.

Outcomes keep the server's failures apart from the suite's own: `fail`, `hang` and `crash` are
the server's doing; `blocked` means the scenario could not run because the server was gone (it
crashed and could not be restarted, or a server h1check did not start stopped answering), which is
the server's doing too but charged to the scenario that caused it; `error` means the harness could
not judge (never blamed on the server); `skip` means the scenario was not judged because another
scenario owns the defect it met, and never decides anything.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from conformance.scenarios import CATEGORIES, LEVELS, Scenario


class Outcome(StrEnum):
    """How a scenario ended."""

    PASS = "pass"
    FAIL = "fail"
    HANG = "hang"
    CRASH = "crash"
    BLOCKED = "blocked"
    ERROR = "error"
    SKIP = "skip"


SERVER_FAULTS = frozenset({Outcome.FAIL, Outcome.HANG, Outcome.CRASH})
UNJUDGED = frozenset({Outcome.BLOCKED, Outcome.ERROR})


class ScenarioFailed(Exception):
    """The server did something a scenario does not allow: ends it with a fail, hang or crash."""

    def __init__(
        self, outcome: Outcome, message: str, expected: str = "", actual: str = ""
    ) -> None:
        super().__init__(message)
        self.outcome, self.message = outcome, message
        self.expected, self.actual = expected, actual


class ScenarioEnded(Exception):
    """The server closed the connection where the scenario allows it; nothing more to check."""


class ScenarioSkipped(Exception):
    """The scenario met a defect another scenario owns and cannot judge its own concern past it."""


class HarnessError(Exception):
    """The suite itself cannot carry on (e.g. a document root file is missing)."""


@dataclass
class Verdict:
    """The engine's judgement of one scenario, with everything a reader needs to act on it."""

    scenario: Scenario
    outcome: Outcome
    message: str
    expected: str = ""
    actual: str = ""
    duration_s: float = 0.0
    transcript: list[str] = field(default_factory=list)
    reproduction: str = ""
    choice: str | None = None
    server_output: str | None = None
    notes: list[str] = field(default_factory=list)
    charged_elsewhere: list[str] = field(default_factory=list)
    # A property scenario's failure: seed, example and every socket's bytes (properties/replay.py),
    # and where its standalone replay script was written, relative to the report.
    replay: dict[str, Any] | None = None
    replay_script: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the record the JSON report stores for this scenario."""
        scenario = self.scenario
        return {
            "id": scenario.id,
            "category": scenario.category,
            "level": scenario.level,
            "rfc": scenario.rfc,
            "title": scenario.title,
            "outcome": str(self.outcome),
            "message": self.message,
            "duration_s": round(self.duration_s, 4),
            "transcript": list(self.transcript),
            "expected": self.expected,
            "actual": self.actual,
            "reproduction": self.reproduction,
            "choice": self.choice,
            "hint": scenario.hint,
            "requires": scenario.requires,
            "server_output": self.server_output,
            "notes": list(self.notes),
            "charged_elsewhere": list(self.charged_elsewhere),
            "property": scenario.property,
            "replay": self.replay,
            "replay_script": self.replay_script,
        }


def summarize(verdicts: Iterable[Verdict]) -> dict[str, Any]:
    """Count outcomes overall, per category and per level (every known key present, even at 0)."""
    verdicts = list(verdicts)

    def counts(group: Iterable[Verdict]) -> dict[str, int]:
        tally = Counter(verdict.outcome for verdict in group)
        return {str(outcome): tally.get(outcome, 0) for outcome in Outcome}

    categories = [name for name in CATEGORIES if any(v.scenario.category == name for v in verdicts)]
    return {
        "total": len(verdicts),
        "outcomes": counts(verdicts),
        "categories": {
            name: counts(v for v in verdicts if v.scenario.category == name) for name in categories
        },
        "levels": {
            name: counts(v for v in verdicts if v.scenario.level == name) for name in LEVELS
        },
    }


def deciding_levels(strict: bool) -> tuple[str, ...]:
    """The levels whose failures decide the exit status: MUST and POLICY, SHOULD too when strict."""
    return ("MUST", "POLICY", "SHOULD") if strict else ("MUST", "POLICY")


def deciding_failures(verdicts: Iterable[Verdict], strict: bool) -> list[Verdict]:
    """Return the verdicts that make a run non-green.

    A server fault (fail, hang, crash) decides at the deciding levels; `blocked` and `error` mean
    the run could not judge that scenario, so they also keep the run from looking green. `skip`
    never decides: the defect it met is charged to the scenario that owns it.
    """
    levels = deciding_levels(strict)
    return [
        verdict
        for verdict in verdicts
        if verdict.scenario.level in levels
        and (verdict.outcome in SERVER_FAULTS or verdict.outcome in UNJUDGED)
    ]
