"""Grading a class: every student's server checked in a sandbox of its own, scored by a rubric.

The pieces, each its own module:

- `submissions` finds the submissions in a folder and the entry file of each.
- `sandbox` runs one submission's whole check (server and suite together) in a sandbox: its own
  directory, a scrubbed environment, resource limits, its own process session and, where the OS
  allows, its own network and PID namespaces, so submissions that hard-code one port are graded
  side by side. `worker` is what runs inside it.
- `rubric` turns a run's verdicts into points, stage by stage (`default_rubric.toml`).
- `outputs` writes what instructors and students read: grades.csv, Gradescope's results.json,
  feedback.md, the JSON report and the class report.
- `grader` ties them together for `h1check grade`.

The records below are what the modules hand each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Submission:
    """One student's folder and how to start the server in it (None: it cannot be started)."""

    name: str
    path: Path
    command: tuple[str, ...] | None
    problem: str | None = None  # Why there is no command: no entry file, several, unreadable.


@dataclass(frozen=True)
class SandboxResult:
    """What came out of checking one submission in its sandbox.

    `status` is "checked" when the suite ran (`report` then holds the JSON report document of
    conformance/report/json_report.py), else one of "no-entry", "did-not-start", "timed-out",
    "crashed-harness"; `message` says why in one line a student can act on. `layers` names
    the sandbox layers that were active (e.g. "netns", "pidns", "rlimits", "session").
    """

    name: str
    status: str
    message: str
    layers: tuple[str, ...] = ()
    wall_s: float = 0.0
    output_tail: str = ""
    report: dict[str, Any] | None = None
    details: dict[str, Any] = field(default_factory=dict)
