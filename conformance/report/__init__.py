"""Reports of a run: the terminal report, and the JSON, JUnit and HTML documents.

Every reporter reads one RunReport and agrees on one reading of a run, given here: green only
when a deciding scenario was judged and none failed. The file formats share one interface, a
function from the RunReport to the document's text, registered by name in `FILE_FORMATS`
(report/formats.py), so the command line writes each with the same few lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from conformance.scenarios import CATEGORIES
from conformance.verdicts import Outcome, Verdict, deciding_failures, deciding_levels

EXIT_GREEN = 0
EXIT_FAILED = 1
EXIT_UNCHECKED = 2


def exit_status(verdicts: Sequence[Verdict], strict: bool) -> int:
    """1 when any deciding scenario did not pass, else 0 when at least one was judged, else 2.

    A run whose selection holds no scenario at a deciding level (say `--level MAY`), or whose
    deciding scenarios were all skipped, decides nothing: it must not look green.
    """
    if deciding_failures(verdicts, strict):
        return EXIT_FAILED
    levels = deciding_levels(strict)
    judged = [v for v in verdicts if v.scenario.level in levels and v.outcome is Outcome.PASS]
    return EXIT_GREEN if judged else EXIT_UNCHECKED


def by_category(verdicts: Sequence[Verdict]) -> list[tuple[str, list[Verdict]]]:
    """The verdicts of each category that has any, in catalogue order: what scorecards show."""
    groups = [(name, [v for v in verdicts if v.scenario.category == name]) for name in CATEGORIES]
    return [(name, group) for name, group in groups if group]


@dataclass(frozen=True)
class RunReport:
    """Everything a reporter needs about one run against one server."""

    verdicts: tuple[Verdict, ...]
    target: str
    started: datetime
    duration_s: float
    strict: bool

    @property
    def exit_status(self) -> int:
        """The exit status `h1check run` gives for this run."""
        return exit_status(self.verdicts, self.strict)
