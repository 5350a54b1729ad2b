"""The machine-readable report of one run (its schema is documented in docs/REPORT-SCHEMA.md)."""

from __future__ import annotations

import json
from typing import Any

from conformance import __version__
from conformance.report import EXIT_GREEN, RunReport
from conformance.scenarios import LEVEL_MEANINGS
from conformance.verdicts import deciding_failures, summarize

TOOL = "h1check"


def build_report(report: RunReport) -> dict[str, Any]:
    """The report document: run metadata, one record per scenario, and the summary."""
    verdicts = report.verdicts
    summary = summarize(verdicts)
    summary["level_meanings"] = dict(LEVEL_MEANINGS)
    summary["strict"] = report.strict
    failures = deciding_failures(verdicts, report.strict)
    summary["deciding_failures"] = [verdict.scenario.id for verdict in failures]
    summary["exit_status"] = report.exit_status
    summary["green"] = report.exit_status == EXIT_GREEN
    return {
        "tool": TOOL,
        "version": __version__,
        "target": report.target,
        "started": report.started.isoformat(timespec="seconds"),
        "duration_s": round(report.duration_s, 3),
        "scenarios": [verdict.to_json() for verdict in verdicts],
        "summary": summary,
    }


def render(report: RunReport) -> str:
    """The report as indented JSON text."""
    return json.dumps(build_report(report), indent=2, ensure_ascii=False) + "\n"
