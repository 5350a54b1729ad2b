"""The scenario catalogue: records loaded from `catalogue/<category>.toml`, and selection.

Each record reads like a line of the RFC plus a recipe: the requirement it enforces (quoted), how
binding it is, a hint for a beginner, and the steps that check it. Records are validated strictly
on load, so reports, docs and the engine can trust every field.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.audits import RULES
from conformance.checks import CHECKS
from conformance.steps import Step, StepError, parse_steps

CATEGORIES: tuple[str, ...] = (
    "basic",
    "files",
    "not-found",
    "head",
    "headers",
    "framing",
    "keep-alive",
    "pipelining",
    "partial-reads",
    "closed-clients",
    "concurrency",
    "security",
    "errors",
    "conditional",
    "range",
)
# The levels, in the order reports list them. MUST, SHOULD and MAY are the RFC's own keywords and
# are used only where the quoted sentence says so about servers. POLICY is h1check's robustness
# policy: what a course server has to do although the quoted text describes rather than requires
# it (a request split across reads, a client that vanishes, traversal, serving a file byte for
# byte). POLICY decides the exit status together with MUST; SHOULD only with --strict.
LEVELS = ("MUST", "POLICY", "SHOULD", "MAY")
LEVEL_MEANINGS = {
    "MUST": "the RFC's absolute requirement",
    "POLICY": "h1check's robustness policy: the RFC text describes it without a MUST",
    "SHOULD": "the RFC's recommendation",
    "MAY": "optional in the RFC",
}
CATALOGUE_DIR = Path(__file__).resolve().parent / "catalogue"

_TEXT_FIELDS = ("id", "title", "category", "level", "rfc", "requires", "hint")
_ID = re.compile(r"[a-z][a-z0-9-]*\.[a-z0-9][a-z0-9-]*")
_RFC = re.compile(r"RFC (9110|9112) §\d+(\.\d+)*")


class CatalogueError(Exception):
    """A catalogue file or record is invalid; the message names the file and the scenario id."""


class SelectionError(Exception):
    """A selection names an unknown category or level, or an id glob that matches nothing."""


@dataclass(frozen=True)
class Scenario:
    """One conformance check: what it requires, why, and the steps that exercise it."""

    id: str
    title: str
    category: str
    level: str
    rfc: str
    requires: str
    hint: str
    steps: tuple[Step, ...]
    check: str | None = None
    owns: str | None = None
    property: str | None = None


def load_catalogue(directory: Path | None = None) -> list[Scenario]:
    """Load and validate every scenario, in category order then file order."""
    directory = CATALOGUE_DIR if directory is None else directory
    files = sorted(directory.glob("*.toml"))
    if not files:
        raise CatalogueError(f"{directory}: no catalogue files (*.toml)")
    unknown = [path.name for path in files if path.stem not in CATEGORIES]
    if unknown:
        raise CatalogueError(f"{directory}: files not named after a category: {', '.join(unknown)}")
    scenarios: list[Scenario] = []
    seen: dict[str, Path] = {}
    for path in sorted(files, key=lambda p: CATEGORIES.index(p.stem)):
        for scenario in _load_file(path):
            if scenario.id in seen:
                raise CatalogueError(
                    f"{path.name}: {scenario.id}: id also used in {seen[scenario.id].name}"
                )
            seen[scenario.id] = path
            scenarios.append(scenario)
    _require_at_most_one_owner(scenarios)
    return scenarios


def _require_at_most_one_owner(scenarios: list[Scenario]) -> None:
    """A run-wide rule (audits.py) is charged to one scenario, never split between two."""
    for rule in RULES:
        owners = [scenario.id for scenario in scenarios if scenario.owns == rule]
        if len(owners) > 1:
            raise CatalogueError(f"rule {rule!r} has several owners: {', '.join(owners)}")


def _load_file(path: Path) -> list[Scenario]:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise CatalogueError(f"{path.name}: {error}") from None
    extra = set(document) - {"scenario"}
    records = document.get("scenario")
    if extra or not isinstance(records, list) or not records:
        raise CatalogueError(f"{path.name}: expected only [[scenario]] tables")
    scenarios = []
    for position, record in enumerate(records, start=1):
        label = record.get("id", f"scenario #{position}")
        try:
            scenario = _parse_record(record)
        except (CatalogueError, StepError) as error:
            raise CatalogueError(f"{path.name}: {label}: {error}") from None
        if scenario.category != path.stem:
            raise CatalogueError(
                f"{path.name}: {label}: category {scenario.category!r} in the wrong file"
            )
        scenarios.append(scenario)
    return scenarios


def _parse_record(record: dict[str, Any]) -> Scenario:
    unknown = set(record) - {*_TEXT_FIELDS, "steps", "check", "owns", "property"}
    if unknown:
        raise CatalogueError(f"unknown key(s) {', '.join(sorted(unknown))}")
    for name in _TEXT_FIELDS:
        value = record.get(name)
        if not isinstance(value, str) or not value.strip():
            raise CatalogueError(f"{name} must be a non-empty string")
    if not _ID.fullmatch(record["id"]) or record["id"].split(".")[0] != record["category"]:
        raise CatalogueError("id must be '<category>.<lowercase-words>'")
    if record["category"] not in CATEGORIES:
        raise CatalogueError(f"unknown category {record['category']!r}")
    if record["level"] not in LEVELS:
        raise CatalogueError(f"level must be one of {', '.join(LEVELS)}")
    if not _RFC.fullmatch(record["rfc"]):
        raise CatalogueError("rfc must look like 'RFC 9112 §9.6'")
    steps = record.get("steps", [])
    check = record.get("check")
    if not isinstance(steps, list) or (check is not None and not isinstance(check, str)):
        raise CatalogueError("steps must be a list of tables and check a function name")
    prop = record.get("property")
    if not steps and check is None and prop is None:
        raise CatalogueError("a scenario needs steps, a check or a property")
    if prop is not None and (steps or check is not None):
        raise CatalogueError("a property scenario has neither steps nor a check")
    if prop is not None and prop not in _property_names():
        raise CatalogueError(f"property {prop!r} is not defined in conformance/properties/laws.py")
    if check is not None and check not in CHECKS:
        raise CatalogueError(f"check {check!r} is not defined in conformance/checks.py")
    owns = record.get("owns")
    if owns is not None and owns not in RULES:
        raise CatalogueError(f"owns must name a rule of conformance/audits.py: {', '.join(RULES)}")
    return Scenario(
        **{name: record[name] for name in _TEXT_FIELDS},
        steps=parse_steps(steps),
        check=check,
        owns=owns,
        property=prop,
    )


def _property_names() -> set[str]:
    # Imported here: the property layer judges verdicts, and verdicts.py imports this module.
    from conformance.properties.laws import PROPERTIES

    return set(PROPERTIES)


def select(
    scenarios: Iterable[Scenario],
    *,
    categories: Iterable[str] | None = None,
    id_globs: Iterable[str] | None = None,
    levels: Iterable[str] | None = None,
) -> list[Scenario]:
    """Keep the scenarios matching every given filter (None = no filter), in catalogue order."""
    scenarios = list(scenarios)
    categories = _known(categories, CATEGORIES, "category")
    levels = _known(None if levels is None else [lvl.upper() for lvl in levels], LEVELS, "level")
    globs = None if id_globs is None else list(id_globs)
    for glob in globs or ():
        if not any(fnmatch.fnmatchcase(s.id, glob) for s in scenarios):
            raise SelectionError(f"no scenario id matches {glob!r}")
    return [
        scenario
        for scenario in scenarios
        if (categories is None or scenario.category in categories)
        and (levels is None or scenario.level in levels)
        and (globs is None or any(fnmatch.fnmatchcase(scenario.id, glob) for glob in globs))
    ]


def _known(values: Iterable[str] | None, vocabulary: tuple[str, ...], what: str) -> set[str] | None:
    if values is None:
        return None
    chosen = set(values)
    for value in sorted(chosen):
        if value not in vocabulary:
            raise SelectionError(f"unknown {what} {value!r} (known: {', '.join(vocabulary)})")
    return chosen
