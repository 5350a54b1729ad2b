"""The machine-readable report of one run (its schema is documented in docs/REPORT-SCHEMA.md)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from conformance import __version__
from conformance.report import EXIT_GREEN, exit_status
from conformance.scenarios import LEVEL_MEANINGS
from conformance.verdicts import Verdict, deciding_failures, summarize

TOOL = "h1check"


def build_report(
    verdicts: Sequence[Verdict],
    *,
    target: str,
    started: datetime,
    duration_s: float,
    strict: bool,
) -> dict[str, Any]:
    """The report document: run metadata, one record per scenario, and the summary."""
    summary = summarize(verdicts)
    summary["level_meanings"] = dict(LEVEL_MEANINGS)
    summary["strict"] = strict
    summary["deciding_failures"] = [v.scenario.id for v in deciding_failures(verdicts, strict)]
    summary["exit_status"] = exit_status(verdicts, strict)
    summary["green"] = summary["exit_status"] == EXIT_GREEN
    return {
        "tool": TOOL,
        "version": __version__,
        "target": target,
        "started": started.isoformat(timespec="seconds"),
        "duration_s": round(duration_s, 3),
        "scenarios": [verdict.to_json() for verdict in verdicts],
        "summary": summary,
    }


def write_report(path: Path, report: dict[str, Any]) -> None:
    """Write the report as indented UTF-8 JSON."""
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
