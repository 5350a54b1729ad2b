"""Reports of a run: the terminal scorecard, the JSON document, and the catalogue listings.

All of them agree on one reading of a run, given here: green only when something was checked
and no deciding scenario failed.
"""

from __future__ import annotations

from collections.abc import Sequence

from conformance.verdicts import Outcome, Verdict, deciding_failures

EXIT_GREEN = 0
EXIT_FAILED = 1
EXIT_UNCHECKED = 2


def exit_status(verdicts: Sequence[Verdict], strict: bool) -> int:
    """0 when every deciding scenario passed, 1 when any failed, 2 when nothing was checked."""
    if all(verdict.outcome is Outcome.SKIP for verdict in verdicts):
        return EXIT_UNCHECKED
    return EXIT_FAILED if deciding_failures(verdicts, strict) else EXIT_GREEN
