"""From a run's verdicts to points: the course's stages, what each scenario is worth, and a score.

A rubric is data (default_rubric.toml, whose comments are the format's documentation), read on top
of by an instructor's file, so a course reweights without touching code. Scoring follows the
suite's own rule that one defect is charged once: a `skip` (a scenario that met a defect another
scenario owns, or had nothing to judge) leaves the maximum instead of costing points a second
time, while every outcome that is the server's doing, or h1check's (`error`), earns nothing and
stays in it. A score keeps, for each scenario, the one line that says why it scored what it did,
so a student's Gradescope page and feedback can show it.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from conformance.scenarios import CATEGORIES, LEVELS, Scenario, load_catalogue

RUBRIC_FILE = Path(__file__).resolve().parent / "default_rubric.toml"
NOT_RUN = "not run"
# How the engine words a skip whose rule had nothing to judge (engine.settle): nothing is wrong,
# so Gradescope shows it as passed, where a skip past another scenario's defect shows as failed.
NOTHING_TO_CHECK = "nothing to check"
_TOP_KEYS = ("gating", "gate", "points", "stage")
_POINT_TABLES = ("level", "category", "scenario")
_HEADER = re.compile(r"\s*\[\[?\s*([^\[\]]+?)\s*\]\]?\s*(#.*)?$")


class RubricError(Exception):
    """A rubric file is invalid; the message names the file, the line, the table and the key."""


@dataclass(frozen=True)
class Stage:
    """One step of the course, and the categories of scenarios that check it."""

    number: int
    name: str
    categories: tuple[str, ...]

    @property
    def label(self) -> str:
        """How reports name the stage, e.g. "3 speaks HTTP/1.1"."""
        return f"{self.number} {self.name}"


@dataclass(frozen=True)
class ScenarioScore:
    """What one scenario scored, and the line that says why."""

    id: str
    title: str
    level: str
    stage: Stage
    outcome: str
    points: float
    max_points: float
    status: str
    note: str

    @property
    def name(self) -> str:
        """The Gradescope test name, e.g. "3 speaks HTTP/1.1 · keep-alive.client-close [MUST]"."""
        return f"{self.stage.label} · {self.id} [{self.level}]"

    def test(self, output: str | None = None) -> dict[str, Any]:
        """This scenario as one test of Gradescope's results.json (output: the note by default)."""
        return {
            "name": self.name,
            "score": self.points,
            "max_score": self.max_points,
            "status": self.status,
            "output": self.note if output is None else output,
            "output_format": "md",
            "visibility": "visible",
        }


@dataclass(frozen=True)
class StageScore:
    """A stage's points; `earned` is before gating, `locked` when gating kept it from counting."""

    number: int
    name: str
    points: float
    max: float
    earned: float
    locked: bool

    @property
    def label(self) -> str:
        """How reports name the stage, e.g. "3 speaks HTTP/1.1"."""
        return f"{self.number} {self.name}"


@dataclass(frozen=True)
class Score:
    """A submission's points: the total, each stage, and each scenario."""

    total: float
    max_total: float
    stages: tuple[StageScore, ...]
    scenarios: tuple[ScenarioScore, ...]

    @property
    def tests(self) -> list[dict[str, Any]]:
        """One Gradescope test per scenario, stage by stage."""
        return [scenario.test() for scenario in self.scenarios]


@dataclass(frozen=True)
class Rubric:
    """The stages, the points of every scenario, and whether stages are gated."""

    stages: tuple[Stage, ...]
    level_points: Mapping[str, float]
    category_points: Mapping[str, Mapping[str, float]]
    scenario_points: Mapping[str, float]
    gating: bool
    gate: float
    catalogue: tuple[Scenario, ...]

    def points_for(self, ident: str, category: str, level: str) -> float:
        """A scenario's points: its own entry, else its category's (for its level), else its level's."""
        if ident in self.scenario_points:
            return self.scenario_points[ident]
        return self.category_points.get(category, {}).get(level, self.level_points[level])

    def stage_of(self, category: str) -> Stage:
        """The stage a category belongs to."""
        return next(stage for stage in self.stages if category in stage.categories)

    def score(self, report: dict[str, Any] | None) -> Score:
        """Score a JSON report (conformance/report/json_report.py); None: the server never ran."""
        records = {record["id"]: record for record in report["scenarios"]} if report else {}
        unchecked = (
            "the server was never checked" if report is None else "this run did not include it"
        )
        scored = [self._score_one(entry, unchecked) for entry in self._entries(records)]
        stages: list[StageScore] = []
        holdback: StageScore | None = None  # The first stage short of the gate.
        for stage in self.stages:
            own = [s for s in scored if s.stage == stage]
            earned, maximum = _sum(s.points for s in own), _sum(s.max_points for s in own)
            held = holdback if self.gating else None
            points = earned if held is None else 0.0
            stages.append(
                StageScore(stage.number, stage.name, points, maximum, earned, held is not None)
            )
            if held is not None:
                scored = [_held_back(s, held, self.gate) if s.stage == stage else s for s in scored]
            if holdback is None and earned + 1e-9 < self.gate * maximum:
                holdback = stages[-1]
        return Score(
            total=_sum(stage.points for stage in stages),
            max_total=_sum(stage.max for stage in stages),
            stages=tuple(stages),
            scenarios=tuple(scored),
        )

    def _entries(self, records: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        """Every scenario to grade, the catalogue's and any other the report holds, stage by stage.

        A record's own fields win over the catalogue's: the report says what was run.
        """
        known = {scenario.id for scenario in self.catalogue}
        entries = [
            {
                "id": s.id,
                "title": s.title,
                "category": s.category,
                "level": s.level,
                **records.get(s.id, {}),
            }
            for s in self.catalogue
        ]
        entries += [record for ident, record in records.items() if ident not in known]
        order = {entry["id"]: position for position, entry in enumerate(entries)}
        return sorted(entries, key=lambda e: (self.stage_of(e["category"]).number, order[e["id"]]))

    def _score_one(self, entry: dict[str, Any], unchecked: str) -> ScenarioScore:
        points = self.points_for(entry["id"], entry["category"], entry["level"])
        outcome = entry.get("outcome", NOT_RUN)
        message = entry.get("message", unchecked)
        earned, maximum, status = 0.0, points, "failed"
        if outcome == "pass":
            earned, status, note = points, "passed", message
        elif outcome == "skip":
            maximum = 0.0
            status = "passed" if message.startswith(NOTHING_TO_CHECK) else "failed"
            note = f"not scored: {message}"
        elif outcome == NOT_RUN:
            note = f"not run: {message}"
        else:
            note = f"{outcome}: {message}"
        return ScenarioScore(
            id=entry["id"],
            title=entry["title"],
            level=entry["level"],
            stage=self.stage_of(entry["category"]),
            outcome=outcome,
            points=earned,
            max_points=maximum,
            status=status,
            note=note,
        )


def _held_back(scenario: ScenarioScore, holdback: StageScore, gate: float) -> ScenarioScore:
    """A scenario of a stage gating keeps from counting: 0 points, and the reason."""
    needed = "full marks" if gate >= 1 else f"{gate:.0%} of its points"
    reason = (
        f"(counts 0: stage {holdback.label} earned {holdback.earned:g}/{holdback.max:g}, and a"
        f" stage counts only once every earlier stage has {needed})"
    )
    return replace(scenario, points=0.0, note=f"{scenario.note} {reason}")


def _sum(values: Iterable[float]) -> float:
    """A sum of points, rounded so that 0.1 + 0.2 reads 0.3."""
    return round(sum(values, 0.0), 6)


def load_rubric(path: Path | None = None) -> Rubric:
    """The default rubric, with the instructor's file (if any) read on top of it."""
    catalogue = tuple(load_catalogue())
    ids = frozenset(scenario.id for scenario in catalogue)
    layers = [_read(RUBRIC_FILE, ids)] + ([_read(path, ids)] if path is not None else [])
    merged: dict[str, Any] = {"level": {}, "category": {}, "scenario": {}}
    for layer in layers:
        for key in ("gating", "gate", "stages"):
            if key in layer:
                merged[key] = layer[key]
        for table in _POINT_TABLES:
            merged[table].update(layer.get(table, {}))
    return Rubric(
        stages=merged["stages"],
        level_points=merged["level"],
        category_points=merged["category"],
        scenario_points=merged["scenario"],
        gating=merged["gating"],
        gate=merged["gate"],
        catalogue=catalogue,
    )


def _read(path: Path, ids: frozenset[str]) -> dict[str, Any]:
    """One rubric file, validated: only the keys it sets."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise RubricError(f"{path}: cannot read it: {error}") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RubricError(f"{path.name}: {error}{_quote_line(text, str(error))}") from None
    return _Checker(path.name, text).layer(document, ids)


def _quote_line(text: str, error: str) -> str:
    """The line a TOML error points at, quoted, so the key it is about is in the message."""
    found = re.search(r"at line (\d+)", error)
    lines = text.splitlines()
    if found is None or not 0 < int(found.group(1)) <= len(lines):
        return ""
    return f": {lines[int(found.group(1)) - 1].strip()}"


class _Checker:
    """Validates one parsed rubric file, naming where in it each mistake is."""

    def __init__(self, filename: str, text: str) -> None:
        self.filename, self.text = filename, text

    def error(self, where: str, problem: str, *places: tuple[str, str | None, int]) -> RubricError:
        """An error for `where` (e.g. "[points.level] SHOULD"), at the first place found in the text."""
        line = next(
            (found for place in places if (found := _line_of(self.text, *place)) is not None), None
        )
        at = self.filename if line is None else f"{self.filename}:{line}"
        return RubricError(f"{at}: {where}: {problem}")

    def layer(self, document: dict[str, Any], ids: frozenset[str]) -> dict[str, Any]:
        """The settings one file makes, each checked."""
        for key in document:
            if key not in _TOP_KEYS:
                raise self.error(key, f"unknown key (known: {', '.join(_TOP_KEYS)})", ("", key, 0))
        layer: dict[str, Any] = {}
        if "gating" in document:
            if not isinstance(document["gating"], bool):
                raise self.error("gating", "must be true or false", ("", "gating", 0))
            layer["gating"] = document["gating"]
        if "gate" in document:
            gate = document["gate"]
            if not _is_points(gate) or not 0 < gate <= 1:
                raise self.error("gate", "must be a number above 0 and at most 1", ("", "gate", 0))
            layer["gate"] = float(gate)
        points = document.get("points", {})
        if not isinstance(points, dict):
            raise self.error("points", "must be a table", ("", "points", 0))
        for key in points:
            if key not in _POINT_TABLES:
                known = ", ".join(f"[points.{name}]" for name in _POINT_TABLES)
                raise self.error(
                    f"[points] {key}",
                    f"unknown table (known: {known})",
                    ("points", key, 0),
                    (f"points.{key}", None, 0),
                )
        layer["level"] = self.points(points, "level", LEVELS, "level")
        layer["scenario"] = self.points(points, "scenario", ids, "scenario id")
        layer["category"] = self.category_points(points.get("category", {}))
        if "stage" in document:
            layer["stages"] = self.stages(document["stage"])
        return layer

    def points(
        self, points: dict[str, Any], table: str, known: Collection[str], what: str
    ) -> dict[str, float]:
        """A table of name -> points whose names must be known."""
        entries = points.get(table, {})
        where = f"[points.{table}]"
        if not isinstance(entries, dict):
            raise self.error(where, "must be a table", ("points", table, 0))
        for key, value in entries.items():
            place = (f"points.{table}", key, 0)
            if key not in known:
                raise self.error(f"{where} {key}", f"unknown {what}", place)
            if not _is_points(value):
                raise self.error(f"{where} {key}", "must be a number (0 or more)", place)
        return {key: float(value) for key, value in entries.items()}

    def category_points(self, entries: Any) -> dict[str, dict[str, float]]:
        """[points.category]: a category -> points for all its levels, or a table level -> points."""
        if not isinstance(entries, dict):
            raise self.error("[points.category]", "must be a table", ("points", "category", 0))
        parsed = {}
        for category, value in entries.items():
            where = f"[points.category] {category}"
            place = ("points.category", category, 0)
            if category not in CATEGORIES:
                raise self.error(where, f"unknown category (known: {', '.join(CATEGORIES)})", place)
            if _is_points(value):
                parsed[category] = dict.fromkeys(LEVELS, float(value))
                continue
            if not isinstance(value, dict):
                raise self.error(where, "must be a number or a table of level = number", place)
            for level, points in value.items():
                nested = (f"points.category.{category}", level, 0)
                if level not in LEVELS:
                    raise self.error(f"{where}.{level}", "unknown level", place, nested)
                if not _is_points(points):
                    raise self.error(
                        f"{where}.{level}", "must be a number (0 or more)", place, nested
                    )
            parsed[category] = {level: float(points) for level, points in value.items()}
        return parsed

    def stages(self, tables: Any) -> tuple[Stage, ...]:
        """The [[stage]] tables: each a name and its categories, every category in exactly one."""
        if not isinstance(tables, list) or not tables:
            raise self.error("stage", "must be [[stage]] tables", ("", "stage", 0))
        stages = []
        owner: dict[str, int] = {}
        for number, table in enumerate(tables, start=1):
            where = f"[[stage]] #{number}"
            if not isinstance(table, dict):
                raise self.error(where, "must be a table", ("", "stage", 0))
            for key in table:
                if key not in ("name", "categories"):
                    raise self.error(
                        f"{where} {key}",
                        "unknown key (known: name, categories)",
                        ("stage", key, number - 1),
                    )
            name, categories = table.get("name"), table.get("categories")
            if not isinstance(name, str) or not name.strip():
                raise self.error(
                    f"{where} name",
                    "must be a non-empty string",
                    ("stage", "name", number - 1),
                    ("stage", None, number - 1),
                )
            if not isinstance(categories, list) or not categories:
                raise self.error(
                    f"{where} categories",
                    "must be a non-empty list of categories",
                    ("stage", "categories", number - 1),
                    ("stage", None, number - 1),
                )
            for category in categories:
                place = ("stage", "categories", number - 1)
                if category not in CATEGORIES:
                    raise self.error(
                        f"{where} categories",
                        f"unknown category {category!r} (known: {', '.join(CATEGORIES)})",
                        place,
                    )
                if category in owner:
                    raise self.error(
                        f"{where} categories",
                        f"{category!r} is already in stage #{owner[category]}",
                        place,
                    )
                owner[category] = number
            stages.append(Stage(number, name.strip(), tuple(categories)))
        missing = [category for category in CATEGORIES if category not in owner]
        if missing:
            raise self.error(
                "[[stage]]", f"categories in no stage: {', '.join(missing)}", ("stage", None, 0)
            )
        return tuple(stages)


def _is_points(value: Any) -> bool:
    """Whether a TOML value is a number of points: finite and not negative (true is not 1)."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


def _line_of(text: str, table: str, key: str | None, occurrence: int) -> int | None:
    """The line where `key` is set in `table` (its `occurrence`-th [[table]]), or the table's header
    line when `key` is None; None when it cannot be found (a dotted key, an inline table)."""
    section, seen = "", 0 if table == "" else -1
    assignment = None if key is None else re.compile(rf"\s*[\"']?{re.escape(key)}[\"']?\s*=")
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            section = header.group(1)
            if section == table:
                seen += 1
                if key is None and seen == occurrence:
                    return number
            continue
        if section == table and seen == occurrence and assignment and assignment.match(line):
            return number
    return None
