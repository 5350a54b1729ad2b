"""Reports of a run: the terminal scorecard, the JSON document, and the catalogue listings.

All of them agree on one reading of a run, given here: green only when something was checked
and no deciding scenario failed.
"""

from __future__ import annotations

from collections.abc import Sequence

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
