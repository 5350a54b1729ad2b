"""The terminal report: a scorecard, then what to fix first, cause by cause.

A beginner reads a report top to bottom and acts on the first thing it says (after CodeCrafters'
tester), so the default report is ordered by cause, not by category: each diagnosis
(diagnoses.py) once, in the order a course fixes things, with one short example of what was sent
and what came back, the RFC sentence and a command that reproduces it; then one line for each
failure no diagnosis explains. Bodies in the example keep their first and last lines. Every
failure in full, transcripts whole, is in `--verbose` and in the JSON and HTML reports.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TextIO

from conformance import __version__
from conformance.diagnoses import Diagnosed, diagnose
from conformance.report import EXIT_FAILED, EXIT_GREEN, by_category, exit_status
from conformance.scenarios import LEVEL_MEANINGS, LEVELS
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
MAX_OUTPUT_CHARS = 160
MAX_LISTED_IDS = 6
RUN_HEAD, RUN_TAIL = 5, 1
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
    verbose: bool = False,
) -> str:
    """The whole report of one run: header, scorecard, causes to fix, other failures, result."""
    paint = Painter(color)
    deciding = {verdict.scenario.id for verdict in deciding_failures(verdicts, strict)}
    lines = [paint(f"h1check {__version__} · {target}", "bold"), ""]
    lines += scorecard(verdicts, deciding, paint)
    diagnosed, unexplained = diagnose(list(verdicts))
    if diagnosed:
        lines += ["", paint("What to fix first", "bold")]
        for number, found in enumerate(diagnosed, start=1):
            lines += ["", *explain_cause(number, found, deciding, paint)]
    others = [v for v in unexplained] + [v for v in verdicts if v.outcome is Outcome.ERROR]
    if others:
        heading = "Other failures" if diagnosed else "Failures"
        lines += ["", paint(heading, "bold")]
        lines += [one_line(v, v.scenario.id in deciding, paint) for v in others]
    skipped = [v for v in verdicts if v.outcome is Outcome.SKIP]
    if skipped:
        lines += ["", "Not judged (what they met is charged to another scenario):"]
        lines += [
            f"  SKIP  {v.scenario.id}: {v.message.removeprefix('not judged: ')}" for v in skipped
        ]
    if verbose:
        problems = [v for v in verdicts if v.outcome not in (Outcome.PASS, Outcome.SKIP)]
        problems.sort(key=lambda v: (v.scenario.id not in deciding, PROBLEM_ORDER.index(v.outcome)))
        if problems:
            lines += ["", paint("Every failure in full", "bold")]
        for verdict in problems:
            decides = verdict.scenario.id in deciding
            lines += ["", explain(verdict, deciding=decides, strict=strict, color=color)]
    elif any(v.outcome not in (Outcome.PASS, Outcome.SKIP) for v in verdicts):
        lines += ["", "Every failure in full: run again with --verbose, or see the JSON report."]
    lines += ["", result_line(verdicts, deciding, strict, duration_s, paint)]
    return "\n".join(lines)


def explain_cause(number: int, found: Diagnosed, deciding: set[str], paint: Painter) -> list[str]:
    """One diagnosis: what is wrong, why, how to fix it, and one failure as evidence."""
    example = found.example
    scenario = example.scenario
    decides = any(v.scenario.id in deciding for v in found.explained)
    style = "red" if decides else "yellow"
    lines = [paint(f"{number}. {found.title}", style), f"   {found.why}"]
    lines.append(f"   Fix: {found.diagnosis.fix}")
    others = [v.scenario.id for v in found.explained[1:]]
    if others:
        listed = ", ".join(others[:MAX_LISTED_IDS])
        more = f" and {len(others) - MAX_LISTED_IDS} more" if len(others) > MAX_LISTED_IDS else ""
        lines.append(f"   Also explains: {listed}{more}")
    if not decides:
        lines.append(f"   ({not_deciding_reason(scenario.level, strict=False)})")
    lines.append(f"   Example: {heading(example, width=0)}: {example.message}")
    if example.expected:
        lines.append(f"     Expected: {example.expected}")
    if example.actual and example.actual != example.message:
        lines.append(f"     Actual:   {example.actual}")
    if example.transcript:
        lines += [f"     {line}" for line in shorten(example.transcript)]
    if example.server_output:
        lines.append("     Server output:")
        lines += [f"       {line}" for line in clip_output(example.server_output)]
    lines.append(f'     {scenario.rfc}: "{scenario.requires}"')
    if example.reproduction:
        lines.append(f"     Reproduce: {paint(example.reproduction, 'dim')}")
    if example.replay_script:
        lines.append(f"     Replay:    {paint(replay_command(example), 'dim')}")
    return lines


def heading(verdict: Verdict, width: int = 5) -> str:
    """Outcome, id, level and section, e.g. `FAIL  basic.get-root  [POLICY · RFC 9110 §9.3.1]`."""
    scenario = verdict.scenario
    outcome = verdict.outcome.upper().ljust(width)
    return f"{outcome} {scenario.id}  [{scenario.level} · {scenario.rfc}]"


def one_line(verdict: Verdict, deciding: bool, paint: Painter) -> str:
    """A failure in one line: outcome, id, level and what happened."""
    style = "red" if deciding else "yellow"
    harness = " (a problem in h1check itself)" if verdict.outcome is Outcome.ERROR else ""
    return f"  {paint(heading(verdict), style)}  {verdict.message}{harness}"


def shorten(transcript: Sequence[str]) -> list[str]:
    """A transcript with each long run of lines in one direction cut to its first and last."""
    lines: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if len(run) > RUN_HEAD + RUN_TAIL + 1:
            arrow = run[0].split(" ", 1)[0]
            hidden = len(run) - RUN_HEAD - RUN_TAIL
            lines.extend([*run[:RUN_HEAD], f"{arrow} ... ({hidden} more lines)", *run[-RUN_TAIL:]])
        else:
            lines.extend(run)
        run.clear()

    for line in transcript:
        if run and line.split(" ", 1)[0] != run[0].split(" ", 1)[0]:
            flush()
        run.append(line)
    flush()
    return lines


def clip_output(output: str) -> list[str]:
    """A server's output with each overlong line cut, and the cut marked."""
    return [
        line if len(line) <= MAX_OUTPUT_CHARS else line[:MAX_OUTPUT_CHARS] + " [...cut]"
        for line in output.splitlines()
    ]


def scorecard(verdicts: Sequence[Verdict], deciding: set[str], paint: Painter) -> list[str]:
    """One line per category (passed/total and what went wrong), then passed/total per level."""
    lines = []
    for category, group in by_category(verdicts):
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
    lines = [paint(heading(verdict), style) + f"  {scenario.title}", f"  {verdict.message}"]
    if verdict.outcome is Outcome.ERROR:
        lines.append("  (a problem in h1check itself, not in the server)")
    elif verdict.outcome is Outcome.BLOCKED:
        lines.append("  (the server was gone: see the crash reported above)")
    elif not deciding:
        lines.append(f"  ({not_deciding_reason(scenario.level, strict)})")
    if verdict.expected:
        lines.append(f"  Expected: {verdict.expected}")
    if verdict.actual and verdict.actual != verdict.message:
        lines.append(f"  Actual:   {verdict.actual}")
    if verdict.choice:
        lines.append(
            f"  Allowed:  the server answered with {verdict.choice}, which the RFC permits"
        )
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
        lines.append("  Server output:")
        lines += [f"    {line}" for line in clip_output(verdict.server_output)]
    if verdict.reproduction:
        lines.append(f"  Reproduce: {paint(verdict.reproduction, 'dim')}")
    if verdict.replay_script:
        lines.append(f"  Replay:    {paint(replay_command(verdict), 'dim')}")
    return "\n".join(lines)


def replay_command(verdict: Verdict) -> str:
    """How to replay a property failure alone, with the server running: its standalone script."""
    return f"python {verdict.replay_script} HOST:PORT   (the exact bytes, no h1check needed)"


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
    for category, group in by_category(verdicts):
        passed = sum(v.outcome is Outcome.PASS for v in group)
        if passed < len(group):
            troubled.append(f"{category} {passed}/{len(group)}")
    return "  ".join([word, *troubled])
