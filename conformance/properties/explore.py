"""Driving hypothesis against a live server: examples, a time budget, and one shrunk failure.

Hypothesis assumes a test it can rerun at will, cheaply and with the same result. A live server
is none of those, so these rules keep a property honest and its verdict repeatable:

* Every example's verdict is remembered by the example's value. Hypothesis replays the minimal
  failure at the end; it gets the remembered violation instead of a second exchange that a
  slow or flaky server could answer differently ("Flaky" would then hide a real defect).
* A server that refuses connections is gone: searching further would only find "failures"
  that are the crash's echo. The search stops there, and the example that met the refusal is
  the one reported (the engine charges the crash by its own rules).
* A server that gives the search nothing to compare with (the plain request goes unanswered)
  cannot be judged by it: the first example that finds so raises ScenarioSkipped, which ends
  the search at once and skips the scenario; the fixed catalogue says what is wrong.
* Shrinking a failure that shows only by waiting out the timeout (a hang, a connection never
  closed) costs seconds per attempt, so after a few such failures (a count, not a clock, so the
  result does not depend on the machine's speed) the search stops at the smallest so far. A
  time budget is the last safety net: once spent, new examples pass without being sent.

The seed is the profile's; with the same seed and a server that answers the same way, two runs
give the same verdicts.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import HealthCheck, Phase, Verbosity, given, seed
from hypothesis import settings as hypothesis_settings
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.strategies import SearchStrategy

from conformance.properties.exchange import Exchange
from conformance.properties.replay import Check
from conformance.settings import Settings
from conformance.verdicts import Outcome, ScenarioSkipped

Example = TypeVar("Example")


@dataclass(frozen=True)
class Profile:
    """How hard a run looks: examples and seconds per property, and the seed."""

    name: str
    examples: int
    seconds: float
    seed: int
    split_pause_s: float = 0.005
    # Failures found only by waiting out a timeout (a hang, a connection never closed) cost
    # seconds each to shrink: after this many the search stops, at the smallest so far.
    slow_failures: int = 3

    def describe(self) -> str:
        """The profile in words, for reports."""
        return f"{self.name} profile: seed {self.seed}, {self.examples} examples before shrinking"


DEFAULT_SEED = 0
DEFAULT = Profile("default", examples=30, seconds=20.0, seed=DEFAULT_SEED)
DEEP = Profile("deep", examples=600, seconds=120.0, seed=DEFAULT_SEED, slow_failures=10)


def profile_for(settings: Settings) -> Profile:
    """The profile a run's settings ask for, with their seed."""
    chosen = DEEP if settings.deep else DEFAULT
    return replace(chosen, seed=settings.seed)


class Violation(Exception):
    """An example the server handled wrongly: the outcome, in words, and the sockets' record."""

    def __init__(
        self,
        outcome: Outcome,
        message: str,
        expected: str,
        actual: str,
        exchanges: list[Exchange],
        *,
        gone: bool = False,
    ) -> None:
        super().__init__(message)
        self.outcome, self.message = outcome, message
        self.expected, self.actual = expected, actual
        self.exchanges = exchanges
        self.gone = gone
        self.example = ""
        self.checks: list[Check] = []
        self.slow = False


@dataclass
class Search:
    """The result of exploring one property: the reported violation, if any, and the effort."""

    violation: Violation | None
    examples: int
    seconds: float
    exhausted_budget: bool


def _keep_cwd_clean() -> None:
    """Keep hypothesis's cache out of the user's directory.

    Hypothesis keeps a cache under ./.hypothesis even with no example database; a student
    running h1check beside server.py should not find it there. A test session (hypothesis's
    pytest plugin loaded) or an explicit HYPOTHESIS_STORAGE_DIRECTORY keeps its own choice.
    """
    if "HYPOTHESIS_STORAGE_DIRECTORY" in os.environ or "_hypothesis_pytestplugin" in sys.modules:
        return
    set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "h1check-hypothesis")


def explore(
    strategy: SearchStrategy[Example],
    judge: Callable[[Example], None],
    profile: Profile,
    describe: Callable[[Example], str] = repr,
) -> Search:
    """Run `judge` on examples drawn from `strategy` until one fails (shrunk) or the profile ends."""
    _keep_cwd_clean()
    verdicts: dict[str, Violation | None] = {}
    started = time.monotonic()
    state: dict[str, Any] = {
        "stopped": False,
        "examples": 0,
        "budget": False,
        "skipped": None,
        "slow": 0,
    }

    def property_holds(example: Example) -> None:
        key = repr(example)
        if key in verdicts:
            found = verdicts[key]
            if found is not None:
                raise found
            return
        if state["stopped"]:
            return
        if time.monotonic() - started > profile.seconds:
            state["stopped"] = state["budget"] = True
            return
        state["examples"] += 1
        try:
            judge(example)
        except Violation as violation:
            violation.example = describe(example)
            verdicts[key] = violation
            state["slow"] += violation.slow
            state["stopped"] |= violation.gone or state["slow"] >= profile.slow_failures
            raise
        except ScenarioSkipped as skipped:
            state["stopped"], state["skipped"] = True, skipped
        verdicts[key] = None

    search = given(strategy)(property_holds)
    search = seed(profile.seed)(search)
    search = hypothesis_settings(
        max_examples=profile.examples,
        database=None,
        deadline=None,
        derandomize=False,
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
        print_blob=False,
        verbosity=Verbosity.quiet,
    )(search)
    violation = None
    try:
        search()
    except Violation as found:
        violation = found
    if violation is None and state["skipped"] is not None:
        raise state["skipped"]
    return Search(violation, state["examples"], time.monotonic() - started, state["budget"])
