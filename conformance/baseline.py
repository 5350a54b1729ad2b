"""A server's recorded outcomes, so that any change in them is noticed.

A baseline is what a server author commits next to a backend: for each scenario, whether it
passed. Comparing a run with it answers the regression question — "did anything change?" —
rather than the grading one, so a backend that fails a category by design (the serial
backend and `concurrency`) is green as long as it fails exactly what it failed before.

Outcomes are compared as pass / not pass: whether a scenario that fails does so by a wrong
answer, a hang or a crash can depend on timing, while passing cannot. A harness `error` is
always a difference, because nothing was judged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from conformance.verdicts import Outcome, Verdict

FORMAT = 1


class BaselineError(Exception):
    """A baseline file that cannot be read; the message is one line."""


@dataclass(frozen=True)
class Difference:
    """One scenario whose outcome is not the recorded one."""

    scenario_id: str
    recorded: str
    observed: str
    message: str

    def describe(self) -> str:
        """One line naming the change and why."""
        if self.recorded == "missing":
            kind = "not in the baseline"
        elif self.observed == Outcome.PASS:
            kind = "unexpected pass"
        elif self.observed == Outcome.ERROR:
            kind = "harness error"
        elif self.observed == Outcome.BLOCKED:
            kind = "not run (the server was gone)"
        else:
            kind = "new failure"
        detail = f": {self.message}" if self.message and self.observed != Outcome.PASS else ""
        return f"{kind}: {self.scenario_id} (recorded {self.recorded}, now {self.observed}){detail}"


def load(path: Path) -> dict[str, str]:
    """The recorded outcome of each scenario id in a baseline file."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BaselineError(f"no baseline at {path} (record one with --write-baseline)") from None
    except (OSError, ValueError) as error:
        raise BaselineError(f"cannot read baseline {path}: {error}") from None
    if not isinstance(document, dict):
        document = {}
    outcomes = document.get("outcomes")
    if document.get("format") != FORMAT or not isinstance(outcomes, dict):
        raise BaselineError(f"{path} is not an h1check baseline (format {FORMAT})")
    known = {outcome.value for outcome in Outcome}
    bad = [key for key, value in outcomes.items() if value not in known]
    if bad:
        raise BaselineError(f"{path}: unknown outcome for {bad[0]}")
    return outcomes


def record(path: Path, verdicts: Iterable[Verdict], target: str) -> None:
    """Write the outcomes of a run as the baseline for ``target``."""
    document = {
        "format": FORMAT,
        "target": target,
        "outcomes": {
            verdict.scenario.id: verdict.outcome.value
            for verdict in verdicts
            if verdict.outcome is not Outcome.SKIP
        },
    }
    path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def compare(recorded: dict[str, str], verdicts: Iterable[Verdict]) -> list[Difference]:
    """Every scenario of the run whose pass/not-pass differs from the record, in run order."""
    differences = []
    for verdict in verdicts:
        observed = verdict.outcome
        if observed is Outcome.SKIP:
            continue
        before = recorded.get(verdict.scenario.id, "missing")
        passed_then, passes_now = before == Outcome.PASS, observed is Outcome.PASS
        if before == "missing" or observed is Outcome.ERROR or passed_then != passes_now:
            differences.append(
                Difference(verdict.scenario.id, before, observed.value, verdict.message)
            )
    return differences
