"""The catalogue as people read it: the `h1check list` table and docs/SCENARIOS.md."""

from __future__ import annotations

from collections.abc import Sequence

from conformance.properties.laws import PROPERTIES
from conformance.scenarios import CATEGORIES, LEVELS, Scenario

REGENERATE = "h1check list --markdown > docs/SCENARIOS.md"


def table(scenarios: Sequence[Scenario]) -> str:
    """One aligned line per scenario: id, category, level, RFC section, title."""
    rows = [("ID", "CATEGORY", "LEVEL", "RFC", "TITLE")]
    rows += [(s.id, s.category, s.level, s.rfc, s.title) for s in scenarios]
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    lines = []
    for *aligned, title in rows:
        cells = [cell.ljust(width) for cell, width in zip(aligned, widths, strict=True)]
        lines.append("  ".join([*cells, title]))
    lines.append(f"{len(scenarios)} scenarios")
    return "\n".join(lines) + "\n"


def markdown(scenarios: Sequence[Scenario]) -> str:
    """The generated docs/SCENARIOS.md: counts per category and level, then every scenario."""
    lines = [
        "# Scenario catalogue",
        "",
        f"Generated from `conformance/catalogue/*.toml` by `{REGENERATE}`; do not edit by hand.",
        "",
        "A level is the keyword of the quoted RFC sentence for servers (MUST, SHOULD, MAY), or POLICY",
        "where the quoted text describes the behaviour without one: h1check's robustness policy.",
        "`h1check run` reports MUST, POLICY and SHOULD scenarios by default. A MUST or POLICY failure",
        "fails the run; a SHOULD failure fails it only with `--strict`; MAY scenarios never do.",
        "",
        "Scenarios whose id contains `property-` are the property layer: each generates many",
        "requests with hypothesis, judges them with h11 as the oracle, and reports the smallest",
        "failing example with a standalone replay script (see the README).",
        "",
        *count_table(scenarios),
    ]
    for category in CATEGORIES:
        group = [s for s in scenarios if s.category == category]
        if not group:
            continue
        lines += ["", f"## {category}"]
        for scenario in group:
            lines += [
                "",
                f"### `{scenario.id}`",
                "",
                f"{scenario.title} — **{scenario.level}**, {scenario.rfc}",
                "",
                f"> {scenario.requires}",
                "",
                f"Hint: {scenario.hint}",
            ]
            if scenario.property is not None:
                lines += ["", f"Property: {PROPERTIES[scenario.property].summary}."]
    return "\n".join(lines) + "\n"


def count_table(scenarios: Sequence[Scenario]) -> list[str]:
    """A markdown table counting scenarios per category and level, with a total row."""
    lines = ["| category | " + " | ".join(LEVELS) + " | total |", "|---" * (len(LEVELS) + 2) + "|"]
    for category in CATEGORIES:
        group = [s for s in scenarios if s.category == category]
        if group:
            lines.append(count_row(category, group))
    lines.append(count_row("**all**", scenarios))
    return lines


def count_row(name: str, group: Sequence[Scenario]) -> str:
    """One row of the count table."""
    counts = [str(sum(s.level == level for s in group)) for level in LEVELS]
    return f"| {name} | " + " | ".join(counts) + f" | {len(group)} |"
