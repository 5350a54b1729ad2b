"""From the scenarios a server failed to the causes a student should fix, in course order.

Failures share causes: a server that takes one recv() for the whole request fails six
partial-reads scenarios and both pipelining ones for one reason, and a report that lists eight
failures teaches less than one that names the reason once. A diagnosis (diagnoses.toml) is a
signature over a run's verdicts: the scenarios that must have failed, optionally how (the
outcome, and a pattern on what came back), and which other failures the same cause explains. The
file's order is the order a course fixes things in, so crashes come first: a server that dies
hides every other defect. Each failure is explained by the first diagnosis that claims it, and
whatever no diagnosis claims is reported on its own.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.verdicts import Outcome, Verdict

DIAGNOSES_FILE = Path(__file__).resolve().parent / "diagnoses.toml"
FAILING = frozenset({Outcome.FAIL, Outcome.HANG, Outcome.CRASH, Outcome.BLOCKED})
_TEXT = ("id", "title", "why", "fix")
_LISTS = ("requires", "explains", "outcomes")


class DiagnosisError(Exception):
    """diagnoses.toml is invalid; the message names the diagnosis and the key."""


@dataclass(frozen=True)
class Diagnosis:
    """One cause: the failures that reveal it, the failures it explains, and how to fix it."""

    id: str
    title: str
    why: str
    fix: str
    requires: tuple[str, ...]
    explains: tuple[str, ...]
    outcomes: frozenset[Outcome]
    came_back: re.Pattern[str] | None

    def matches(self, verdict: Verdict, globs: tuple[str, ...]) -> bool:
        """Whether a failing verdict has one of the outcomes and an id matching one of `globs`."""
        return verdict.outcome in self.outcomes and any(
            fnmatch.fnmatchcase(verdict.scenario.id, glob) for glob in globs
        )

    def reveals(self, verdict: Verdict, glob: str) -> bool:
        """Whether a failing verdict is evidence for this diagnosis: it matches `glob`, and what
        came back fits `came_back` (the explained failures need only match `explains`)."""
        said = f"{verdict.message}\n{verdict.actual}"
        return self.matches(verdict, (glob,)) and (
            self.came_back is None or self.came_back.search(said) is not None
        )


@dataclass(frozen=True)
class Diagnosed:
    """A diagnosis that applies to a run: its words filled in, and the failures it explains."""

    diagnosis: Diagnosis
    title: str
    why: str
    explained: tuple[Verdict, ...]

    @property
    def example(self) -> Verdict:
        """The failure shown as evidence: the first one the signature required."""
        return self.explained[0]


def load_diagnoses(path: Path = DIAGNOSES_FILE) -> list[Diagnosis]:
    """Load and validate every diagnosis, in file order (the order to fix them in)."""
    try:
        records = tomllib.loads(path.read_text(encoding="utf-8")).get("diagnosis")
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise DiagnosisError(f"{path.name}: {error}") from None
    if not isinstance(records, list) or not records:
        raise DiagnosisError(f"{path.name}: expected [[diagnosis]] tables")
    diagnoses = [_parse(record, path.name) for record in records]
    ids = [diagnosis.id for diagnosis in diagnoses]
    duplicates = sorted({ident for ident in ids if ids.count(ident) > 1})
    if duplicates:
        raise DiagnosisError(f"{path.name}: duplicate id(s) {', '.join(duplicates)}")
    return diagnoses


def _parse(record: dict[str, Any], filename: str) -> Diagnosis:
    label = f"{filename}: {record.get('id', '?')}"
    unknown = set(record) - {*_TEXT, *_LISTS, "came_back"}
    if unknown:
        raise DiagnosisError(f"{label}: unknown key(s) {', '.join(sorted(unknown))}")
    for key in _TEXT:
        if not isinstance(record.get(key), str) or not record[key].strip():
            raise DiagnosisError(f"{label}: {key} must be a non-empty string")
    for key in _LISTS:
        value = record.get(key, [])
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise DiagnosisError(f"{label}: {key} must be a list of strings")
    if not record.get("requires"):
        raise DiagnosisError(f"{label}: requires must name at least one scenario glob")
    try:
        outcomes = frozenset(Outcome(name) for name in record.get("outcomes", [])) or FAILING
        came_back = record.get("came_back")
        pattern = re.compile(came_back) if came_back is not None else None
    except (ValueError, re.error) as error:
        raise DiagnosisError(f"{label}: {error}") from None
    if not outcomes <= FAILING:
        raise DiagnosisError(f"{label}: outcomes must be among {', '.join(sorted(FAILING))}")
    return Diagnosis(
        id=record["id"],
        title=record["title"],
        why=record["why"],
        fix=record["fix"],
        requires=tuple(record["requires"]),
        explains=tuple(record.get("explains") or record["requires"]),
        outcomes=outcomes,
        came_back=pattern,
    )


def diagnose(
    verdicts: list[Verdict], diagnoses: list[Diagnosis] | None = None
) -> tuple[list[Diagnosed], list[Verdict]]:
    """The diagnoses that apply, in fixing order, and the failures none of them explains."""
    diagnoses = load_diagnoses() if diagnoses is None else diagnoses
    unexplained = [verdict for verdict in verdicts if verdict.outcome in FAILING]
    found = []
    for diagnosis in diagnoses:
        evidence = [
            next((v for v in unexplained if diagnosis.reveals(v, glob)), None)
            for glob in diagnosis.requires
        ]
        if not all(evidence):
            continue
        required = [verdict for verdict in evidence if verdict is not None]
        also = [v for v in unexplained if diagnosis.matches(v, diagnosis.explains)]
        ordered = list({id(v): v for v in [*required, *also]}.values())
        claimed = {id(verdict) for verdict in ordered}
        unexplained = [verdict for verdict in unexplained if id(verdict) not in claimed]
        error = last_line(ordered[0].server_output)
        found.append(
            Diagnosed(
                diagnosis,
                title=diagnosis.title.replace("{exception}", error),
                why=diagnosis.why.replace("{exception}", error),
                explained=tuple(ordered),
            )
        )
    return found, unexplained


def last_line(output: str | None) -> str:
    """The last non-empty line of a server's output: usually the exception that ended it."""
    lines = [line.strip() for line in (output or "").splitlines() if line.strip()]
    return lines[-1] if len(lines) > 1 else "no error output was captured"
