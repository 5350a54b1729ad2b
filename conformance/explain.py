"""`h1check explain ID`: one scenario as a reader needs it before fixing anything.

What it requires and how binding that is, the RFC paragraph the requirement stands in (with the
paragraphs around it, from the texts bundled in conformance/rfc), what the scenario sends and
expects step by step, the hint, and the command that runs it alone.
"""

from __future__ import annotations

import textwrap

from conformance import rfc
from conformance.checks import CHECKS
from conformance.scenarios import LEVEL_MEANINGS, Scenario

WIDTH = 96


def explain_scenario(scenario: Scenario) -> str:
    """The text `h1check explain` prints for one scenario."""
    lines = [
        f"{scenario.id}  [{scenario.level} · {scenario.rfc}]",
        f"  {scenario.title}",
        "",
        f"Level: {scenario.level}: {LEVEL_MEANINGS[scenario.level]}",
        "",
        f"What the RFC says ({scenario.rfc}; the sentence enforced is marked >>):",
    ]
    lines += _passage(scenario)
    lines += ["", "What h1check does:"]
    lines += [f"  {number}. {line}" for number, line in enumerate(_steps(scenario), start=1)]
    if scenario.owns is not None:
        lines.append(
            f"  Then it holds every response of the run to the rule {scenario.owns!r}, and this"
            " scenario is charged with every breach of it."
        )
    lines += ["", *_wrap(f"Hint: {scenario.hint}", "  ")]
    lines += ["", f"Run it alone: h1check run --id {scenario.id} -- python server.py {{port}}"]
    return "\n".join(lines) + "\n"


def _passage(scenario: Scenario) -> list[str]:
    found = rfc.passage(scenario.rfc, scenario.requires)
    if found is None:
        return _wrap(scenario.requires, "  >> ")
    lines = []
    for paragraph in found.before:
        lines += _wrap(paragraph.text, "     ")
    lines += _wrap(found.paragraph.text, "  >> ")
    for paragraph in found.after:
        lines += _wrap(paragraph.text, "     ")
    return lines


def _steps(scenario: Scenario) -> list[str]:
    if scenario.check is not None:
        return [f"runs the check {scenario.check!r}: {_check_summary(scenario)}"]
    return [step.describe() for step in scenario.steps]


def _check_summary(scenario: Scenario) -> str:
    return (CHECKS[scenario.check].__doc__ or "").strip() if scenario.check else ""


def _wrap(text: str, indent: str) -> list[str]:
    return textwrap.wrap(
        text, WIDTH, initial_indent=indent, subsequent_indent=" " * len(indent)
    ) or [indent]
