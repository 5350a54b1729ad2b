"""The generated and hand-written documents stay true to the code."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conformance.report import RunReport
from conformance.report.catalogue import REGENERATE, markdown
from conformance.report.json_report import build_report
from conformance.scenarios import load_catalogue
from conformance.verdicts import Outcome, Verdict

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_scenarios_document_matches_the_catalogue() -> None:
    committed = (DOCS / "SCENARIOS.md").read_text(encoding="utf-8")
    if committed != markdown(load_catalogue()):
        pytest.fail(f"docs/SCENARIOS.md is stale: regenerate it with `{REGENERATE}`", False)


def documented_fields(heading: str) -> list[str]:
    """The field names listed in the table under `## heading` of docs/REPORT-SCHEMA.md."""
    text = (DOCS / "REPORT-SCHEMA.md").read_text(encoding="utf-8")
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([a-z_]+)` \|", section, re.MULTILINE)


def test_report_schema_documents_exactly_the_fields_a_report_has() -> None:
    scenario = load_catalogue()[0]
    verdicts = [Verdict(scenario, Outcome.FAIL, "wrong status")]
    started = datetime.now(UTC)
    run = RunReport(tuple(verdicts), target="t", started=started, duration_s=1.0, strict=False)
    report = build_report(run)
    assert documented_fields("Top level") == list(report)
    assert documented_fields("`scenarios[]`") == list(report["scenarios"][0])
    assert documented_fields("`summary`") == list(report["summary"])
