"""The JUnit XML report of one run, for CI systems that show test results (as h2spec writes one).

One testcase per scenario, its class the category. A scenario that decides the run and did not
pass is a <failure> (a harness error an <error>); a failure that does not decide it, and a
scenario that was not judged, are <skipped> with the reason, so a CI page stays red exactly when
`h1check run` exits non-zero.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

from conformance.report import RunReport
from conformance.verdicts import Outcome, Verdict, deciding_failures


def render(report: RunReport) -> str:
    """The report as JUnit XML text."""
    deciding = {
        verdict.scenario.id for verdict in deciding_failures(report.verdicts, report.strict)
    }
    suite = ElementTree.Element(
        "testsuite", name=f"h1check: {report.target}", time=f"{report.duration_s:.3f}"
    )
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for verdict in report.verdicts:
        counts["tests"] += 1
        kind = _result(verdict, verdict.scenario.id in deciding)
        case = ElementTree.SubElement(
            suite,
            "testcase",
            classname=f"h1check.{verdict.scenario.category}",
            name=verdict.scenario.id,
            time=f"{verdict.duration_s:.3f}",
        )
        if kind is not None:
            counts[{"failure": "failures", "error": "errors", "skipped": "skipped"}[kind]] += 1
            detail = ElementTree.SubElement(case, kind, message=_message(verdict))
            detail.set("type", str(verdict.outcome))
            detail.text = _details(verdict)
    for name, count in counts.items():
        suite.set(name, str(count))
    root = ElementTree.Element("testsuites", name="h1check")
    root.append(suite)
    ElementTree.indent(root)
    return ElementTree.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _result(verdict: Verdict, deciding: bool) -> str | None:
    if verdict.outcome is Outcome.PASS:
        return None
    if verdict.outcome is Outcome.ERROR:
        return "error"
    return "failure" if deciding else "skipped"


def _message(verdict: Verdict) -> str:
    level = verdict.scenario.level
    return f"[{level} · {verdict.scenario.rfc}] {verdict.outcome}: {verdict.message}"


def _details(verdict: Verdict) -> str:
    scenario = verdict.scenario
    lines = [verdict.message]
    if verdict.expected:
        lines.append(f"Expected: {verdict.expected}")
    if verdict.actual:
        lines.append(f"Actual:   {verdict.actual}")
    lines += verdict.transcript
    lines += [f"Note: {note}" for note in verdict.notes]
    lines.append(f'{scenario.rfc}: "{scenario.requires}"')
    lines.append(f"Hint: {scenario.hint}")
    if verdict.server_output:
        lines += ["Server output:", verdict.server_output]
    if verdict.reproduction:
        lines.append(f"Reproduce: {verdict.reproduction}")
    return "\n".join(lines)
