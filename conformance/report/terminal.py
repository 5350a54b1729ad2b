"""The terminal report: a compact scorecard by category, then every problem explained.

Each explanation carries what a beginner needs to act (after CodeCrafters' tester): what was
expected and what came back, the bytes on the wire, the RFC sentence, a hint, and a command that
reproduces it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TextIO

from conformance import __version__
from conformance.report import EXIT_FAILED, EXIT_GREEN, exit_status
from conformance.scenarios import CATEGORIES, LEVEL_MEANINGS, LEVELS
from conformance.verdicts import Outcome, Verdict, deciding_failures, deciding_levels

PROBLEM_ORDER = (
    Outcome.CRASH,
    Outcome.HANG,
    Outcome.FAIL,
    Outcome.BLOCKED,
    Outcome.ERROR,
    Outcome.SKIP,
)
MAX_NOTES = 4
STYLES = {"green": "32", "red": "31", "yellow": "33", "bold": "1", "dim": "2"}


def use_color(stream: TextIO) -> bool:
    """Colour only for a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    return stream.isatty() and not os.environ.get("NO_COLOR")


class Painter:
    """Wraps text in ANSI styles, or leaves it alone when colour is off."""

    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, text: str, style: str) -> str:
        """Return `text` in `style` (one of STYLES)."""
        return f"\x1b[{STYLES[style]}m{text}\x1b[0m" if self.color else text


def render_run(
    verdicts: Sequence[Verdict],
    *,
    target: str,
    duration_s: float,
    strict: bool,
    color: bool = False,
) -> str:
    """The whole report of one run: header, scorecard, explained problems, result line."""
    paint = Painter(color)
    deciding = {verdict.scenario.id for verdict in deciding_failures(verdicts, strict)}
    lines = [paint(f"h1check {__version__} · {target}", "bold"), ""]
    lines += scorecard(verdicts, deciding, paint)
    problems = [v for v in verdicts if v.outcome not in (Outcome.PASS, Outcome.SKIP)]
    problems.sort(key=lambda v: (v.scenario.id not in deciding, PROBLEM_ORDER.index(v.outcome)))
    first_crash: dict[str, str] = {}  # Server output -> the scenario it is explained under.
    for verdict in problems:
        decides = verdict.scenario.id in deciding
        output = verdict.server_output or ""
        if verdict.outcome is Outcome.CRASH and output in first_crash:
            lines.append(same_crash(verdict, first_crash[output], decides, paint))
            continue
        if output:
            first_crash.setdefault(output, verdict.scenario.id)
        lines += ["", explain(verdict, deciding=decides, strict=strict, color=color)]
    skipped = [v for v in verdicts if v.outcome is Outcome.SKIP]
    if skipped:
        lines += ["", "Not judged (another scenario is charged with what they met):"]
        lines += [f"  SKIP  {v.scenario.id}: {v.message}" for v in skipped]
    lines += ["", result_line(verdicts, deciding, strict, duration_s, paint)]
    return "\n".join(lines)


def scorecard(verdicts: Sequence[Verdict], deciding: set[str], paint: Painter) -> list[str]:
    """One line per category (passed/total and what went wrong), then passed/total per level."""
    lines = []
    for category in CATEGORIES:
        group = [v for v in verdicts if v.scenario.category == category]
        if not group:
            continue
        passed = sum(v.outcome is Outcome.PASS for v in group)
        problems = ", ".join(
            f"{count} {outcome}"
            for outcome in PROBLEM_ORDER
            if (count := sum(v.outcome is outcome for v in group))
        )
        decides = any(v.scenario.id in deciding for v in group)
        style = "green" if not problems else "red" if decides else "yellow"
        score = paint(f"{passed:>3}/{len(group):<3}", style)
        lines.append(f"  {category:<15}{score} {problems}".rstrip())
    levels, legend = [], []
    for level in LEVELS:
        group = [v for v in verdicts if v.scenario.level == level]
        if group:
            levels.append(f"{level} {sum(v.outcome is Outcome.PASS for v in group)}/{len(group)}")
            legend.append(f"{level}: {LEVEL_MEANINGS[level]}")
    lines += ["", "  passed: " + " · ".join(levels), "  (" + "; ".join(legend) + ")"]
    return lines


def explain(verdict: Verdict, *, deciding: bool, strict: bool, color: bool = False) -> str:
    """Explain one problem verdict: what was expected, what happened, and how to reproduce it."""
    paint = Painter(color)
    scenario = verdict.scenario
    style = "red" if deciding else "yellow"
    heading = f"{verdict.outcome.upper():<5} {scenario.id}  [{scenario.level} · {scenario.rfc}]"
    lines = [paint(heading, style) + f"  {scenario.title}", f"  {verdict.message}"]
    if verdict.outcome is Outcome.ERROR:
        lines.append("  (a problem in h1check itself, not in the server)")
    elif verdict.outcome is Outcome.BLOCKED:
        lines.append("  (the server was gone: see the crash reported above)")
    elif not deciding:
        lines.append(f"  ({not_deciding_reason(scenario.level, strict)})")
    if verdict.expected:
        lines.append(f"  Expected: {verdict.expected}")
    if verdict.actual:
        lines.append(f"  Actual:   {verdict.actual}")
    if verdict.choice:
        lines.append(f"  Chose:    {verdict.choice}")
    notes = verdict.notes[:MAX_NOTES]
    lines += [f"  Note:     {note}" for note in notes]
    if len(verdict.notes) > len(notes):
        lines.append(f"  Note:     ... {len(verdict.notes) - len(notes)} more in the JSON report")
    if verdict.transcript:
        lines.append("  On the wire (> sent, < received):")
        lines += [f"    {line}" for line in verdict.transcript]
    lines.append(f'  {scenario.rfc}: "{scenario.requires}"')
    lines.append(f"  Hint:     {scenario.hint}")
    if verdict.server_output:
        lines.append("  Server:")
        lines += [f"    {line}" for line in verdict.server_output.splitlines()]
    if verdict.reproduction:
        lines.append(f"  Reproduce: {paint(verdict.reproduction, 'dim')}")
    return "\n".join(lines)


def same_crash(verdict: Verdict, first: str, deciding: bool, paint: Painter) -> str:
    """One line for a crash whose server output was already shown under `first`.

    A server that dies on every request would otherwise print the same traceback, and the same
    advice, once per scenario; the JSON report keeps each verdict whole.
    """
    scenario = verdict.scenario
    heading = f"CRASH {scenario.id}  [{scenario.level} · {scenario.rfc}]"
    return paint(heading, "red" if deciding else "yellow") + f"  the same crash as {first}"


def not_deciding_reason(level: str, strict: bool) -> str:
    """Why a failure at `level` leaves the exit status alone."""
    if level == "SHOULD" and not strict:
        return "SHOULD: reported, but only --strict makes it decide the exit status"
    return f"{level}: reported, never decides the exit status"


def decided_by(strict: bool) -> str:
    """The deciding levels in words, e.g. "MUST and POLICY"."""
    levels = deciding_levels(strict)
    return ", ".join(levels[:-1]) + " and " + levels[-1]


def result_line(
    verdicts: Sequence[Verdict],
    deciding: set[str],
    strict: bool,
    duration_s: float,
    paint: Painter,
) -> str:
    """The verdict of the whole run in one line, with its duration."""
    decided_levels = decided_by(strict)
    status = exit_status(verdicts, strict)
    if status == EXIT_GREEN:
        summary = paint("PASS", "green") + f": every {decided_levels} scenario passed"
    elif status == EXIT_FAILED:
        count = len(deciding)
        noun = "scenario" if count == 1 else "scenarios"
        summary = paint("FAIL", "red") + f": {count} {decided_levels} {noun} did not pass"
    else:
        summary = paint("NOTHING DECIDED", "red") + f": no {decided_levels} scenario was judged"
    return f"{summary} ({len(verdicts)} run in {duration_s:.2f} s)"


def one_line_summary(verdicts: Sequence[Verdict], strict: bool) -> str:
    """The run's result in a word, then passed/total for each category that had a problem."""
    status = exit_status(verdicts, strict)
    word = {EXIT_GREEN: "PASS", EXIT_FAILED: "FAIL"}.get(status, "NOTHING DECIDED")
    troubled = []
    for category in CATEGORIES:
        group = [v for v in verdicts if v.scenario.category == category]
        passed = sum(v.outcome is Outcome.PASS for v in group)
        if passed < len(group):
            troubled.append(f"{category} {passed}/{len(group)}")
    return "  ".join([word, *troubled])
