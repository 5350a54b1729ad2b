"""The HTML report of one run: one self-contained page to look at rather than read.

It shows what the terminal report shows (the scorecard, then the causes to fix in order), and then
every scenario as a row that opens onto its whole story: what was sent and what came back, the
RFC sentence, the hint, the server's output and a command that reproduces it. No script, no
external file: the page can be mailed or attached to a grade. The pieces (`page`, `scorecard`,
`causes`, `scenario_details`) are separate so a page about a whole class can reuse them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

from conformance import __version__
from conformance.diagnoses import diagnose
from conformance.report import EXIT_GREEN, RunReport, by_category
from conformance.scenarios import LEVEL_MEANINGS
from conformance.verdicts import Outcome, Verdict, deciding_failures

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 2em; }
table { border-collapse: collapse; } td, th { padding: .2em .8em; text-align: left; }
tr:nth-child(even) { background: #f6f6f6; }
pre { background: #f4f4f4; padding: .6em; overflow-x: auto; font-size: 13px; }
details { margin: .3em 0; } summary { cursor: pointer; }
.pass { color: #17702f; } .fail, .crash, .hang, .blocked, .error { color: #b3261e; }
.skip { color: #777; } .minor { color: #8a6100; } .muted { color: #666; }
.cause { border-left: 4px solid #b3261e; padding-left: 1em; margin: 1em 0; }
.cause.minor { border-color: #d19a00; color: inherit; }
"""


def render(report: RunReport) -> str:
    """The whole page for one run."""
    verdicts = report.verdicts
    deciding = {v.scenario.id for v in deciding_failures(verdicts, report.strict)}
    green = report.exit_status == EXIT_GREEN
    result = "PASS" if green else "FAIL" if report.exit_status == 1 else "NOTHING DECIDED"
    body = [
        f"<h1>h1check {escape(__version__)} · {escape(report.target)}</h1>",
        f'<p class="{"pass" if green else "fail"}"><strong>{result}</strong>'
        f" · {len(verdicts)} scenarios in {report.duration_s:.2f} s"
        f" · started {escape(report.started.isoformat(timespec='seconds'))}</p>",
        "<h2>Scorecard</h2>",
        scorecard(verdicts),
        levels_legend(),
        causes(verdicts, report.strict),
        "<h2>Every scenario</h2>",
        *(scenario_details(v, v.scenario.id in deciding) for v in verdicts),
    ]
    return page(f"h1check: {report.target}", body)


def page(title: str, body: Iterable[str]) -> str:
    """A complete, self-contained HTML document."""
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>",
            *body,
            "</body></html>",
            "",
        ]
    )


def scorecard(verdicts: Sequence[Verdict]) -> str:
    """Passed/total per category, and what went wrong."""
    rows = ["<table><tr><th>category</th><th>passed</th><th>problems</th></tr>"]
    for category, group in by_category(verdicts):
        passed = sum(v.outcome is Outcome.PASS for v in group)
        problems = ", ".join(
            f"{count} {outcome}"
            for outcome in Outcome
            if outcome is not Outcome.PASS and (count := sum(v.outcome is outcome for v in group))
        )
        css = "pass" if passed == len(group) else "fail"
        rows.append(
            f'<tr><td>{category}</td><td class="{css}">{passed}/{len(group)}</td>'
            f"<td>{escape(problems)}</td></tr>"
        )
    rows.append("</table>")
    return "\n".join(rows)


def levels_legend() -> str:
    """What each level means."""
    items = "".join(
        f"<li><strong>{level}</strong>: {escape(meaning)}</li>"
        for level, meaning in LEVEL_MEANINGS.items()
    )
    return f'<ul class="muted">{items}</ul>'


def causes(verdicts: Sequence[Verdict], strict: bool) -> str:
    """The diagnoses, in the order to fix them, each with the scenarios it explains."""
    found, unexplained = diagnose(list(verdicts))
    if not found and not unexplained:
        return ""
    deciding = {v.scenario.id for v in deciding_failures(verdicts, strict)}
    parts = ["<h2>What to fix first</h2>"]
    for number, cause in enumerate(found, start=1):
        decides = any(v.scenario.id in deciding for v in cause.explained)
        ids = ", ".join(f"<code>{escape(v.scenario.id)}</code>" for v in cause.explained)
        parts.append(
            f'<div class="cause{"" if decides else " minor"}">'
            f"<h3>{number}. {escape(cause.title)}</h3><p>{escape(cause.why)}</p>"
            f"<p><strong>Fix:</strong> {escape(cause.diagnosis.fix)}</p>"
            f"<p>Scenarios: {ids}</p></div>"
        )
    if unexplained:
        items = "".join(
            f"<li><code>{escape(v.scenario.id)}</code>: {escape(v.message)}</li>"
            for v in unexplained
        )
        parts.append(f"<h3>Other failures</h3><ul>{items}</ul>")
    return "\n".join(parts)


def scenario_details(verdict: Verdict, deciding: bool) -> str:
    """One scenario as a row that opens onto everything the run knows about it."""
    scenario = verdict.scenario
    css = str(verdict.outcome) if deciding or verdict.outcome is Outcome.PASS else "minor"
    summary = (
        f'<summary><span class="{css}">{verdict.outcome.upper()}</span> '
        f"<code>{escape(scenario.id)}</code> [{scenario.level} · {escape(scenario.rfc)}] "
        f"{escape(scenario.title)}</summary>"
    )
    facts = [f"<p>{escape(verdict.message)}</p>"]
    for label, value in (("Expected", verdict.expected), ("Actual", verdict.actual)):
        if value:
            facts.append(f"<p><strong>{label}:</strong> {escape(value)}</p>")
    facts += [f'<p class="muted">Note: {escape(note)}</p>' for note in verdict.notes]
    if verdict.transcript:
        facts.append(f"<pre>{escape(chr(10).join(verdict.transcript))}</pre>")
    facts.append(f"<blockquote>{escape(scenario.rfc)}: {escape(scenario.requires)}</blockquote>")
    facts.append(f"<p><strong>Hint:</strong> {escape(scenario.hint)}</p>")
    if verdict.server_output:
        facts.append(f"<p>Server output:</p><pre>{escape(verdict.server_output)}</pre>")
    if verdict.reproduction:
        facts.append(f"<p>Reproduce: <code>{escape(verdict.reproduction)}</code></p>")
    if verdict.replay_script:
        script = escape(verdict.replay_script)
        facts.append(
            f'<p>Replay the exact bytes: <a href="{script}"><code>{script}</code></a>'
            f" (<code>python {script} HOST:PORT</code>)</p>"
        )
    return f"<details>{summary}{''.join(facts)}</details>"
