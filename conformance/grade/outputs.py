"""What grading leaves behind: files a student acts on, and one page an instructor looks at.

Per submission, in `OUT/<name>/`: `results.json` in Gradescope's format (one test per scenario,
so the student sees on Gradescope what was sent, what came back and how to reproduce it),
`feedback.md` (the causes to fix first, then every failure in full) and `report.json` (the run's
JSON report, unchanged). For the class, in `OUT/`: `grades.csv` (one row per submission) and
`class.html`, self-contained like the run's HTML report, whose pieces it reuses. Its drill-down
shows each student's causes and every scenario they did not pass in full; passes are listed by
id only, since their transcripts would make a class's page tens of megabytes and teach nothing
(report.json keeps them).

Everything is written from the SandboxResult and the Score alone. Diagnoses need Verdicts, so the
report's records are turned back into Verdicts here (`rebuild_verdicts`).
"""

from __future__ import annotations

import csv
import functools
import io
import json
import re
import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from html import escape
from pathlib import Path
from typing import Any

from conformance.diagnoses import Diagnosed, Diagnosis, diagnose, load_diagnoses
from conformance.grade import SandboxResult
from conformance.grade.rubric import NOT_RUN, ScenarioScore, Score, StageScore
from conformance.properties.replay import script_name, write_script
from conformance.report.html import causes, page, scenario_details
from conformance.report.terminal import MAX_NOTES, clip_output, shorten
from conformance.reproduce import Reproducer
from conformance.scenarios import Scenario, load_catalogue
from conformance.verdicts import Outcome, Verdict, deciding_failures

RESULTS_NAME, FEEDBACK_NAME, REPORT_NAME = "results.json", "feedback.md", "report.json"
REPLAY_DIR = "replay"  # failed properties' standalone scripts, beside report.json
GRADES_NAME, CLASS_NAME = "grades.csv", "class.html"
# What a student is told first when their server could not be checked, by SandboxResult.status.
NOT_CHECKED = {
    "no-entry": "h1check found nothing to start in your submission",
    "did-not-start": "Your server did not start",
    "timed-out": "Checking your server did not finish in time",
    "crashed-harness": "h1check itself failed while checking your server: not your fault, "
    "your instructor will grade it again",
}
# A student's command as the course teaches it, for a reproduction the report does not carry.
LOCAL_SERVER = ["python", "server.py", "{port}"]
LOCAL_SERVER_NOTE = (
    "After `--` goes the command that starts your server; h1check replaces `{port}` with a free"
    " port. If your server always uses one port, drop `{port}` and add `--port N` before `--`."
)
HISTOGRAM_BUCKETS = 10
_TEXT_FIELDS = ("title", "category", "level", "rfc", "requires", "hint")


def write_submission(out_dir: Path, result: SandboxResult, score: Score) -> None:
    """Write results.json, feedback.md and report.json into `out_dir / result.name`."""
    folder = out_dir / result.name
    folder.mkdir(parents=True, exist_ok=True)
    if result.report is not None:
        _write_replays(folder, result.report)
    run = None if result.report is None else _Checked.of(result.report)
    results = _results_json(result, score, run)
    (folder / RESULTS_NAME).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    (folder / FEEDBACK_NAME).write_text(_feedback_md(result, score, run), encoding="utf-8")
    report = folder / REPORT_NAME
    if result.report is None:
        report.unlink(missing_ok=True)  # A report left by an earlier grading is not this one's.
    else:
        report.write_text(json.dumps(result.report, indent=2) + "\n", encoding="utf-8")


def _write_replays(folder: Path, report: dict[str, Any]) -> None:
    """A replay script beside report.json for each failed property, named in its record."""
    shutil.rmtree(folder / REPLAY_DIR, ignore_errors=True)  # An earlier grading's are stale.
    for record in report["scenarios"]:
        replay = record.get("replay")
        if not replay:
            continue
        script = Path(REPLAY_DIR) / script_name(record["id"])
        (folder / REPLAY_DIR).mkdir(exist_ok=True)
        write_script(folder / script, record["id"], record["message"], replay)
        record["replay_script"] = script.as_posix()


def rebuild_verdicts(report: dict[str, Any]) -> list[Verdict]:
    """The report's records as Verdicts, for diagnose() and the HTML report's pieces.

    Each scenario is the catalogue's, with the text fields the record holds (the record says what
    was run); a scenario the catalogue no longer has is rebuilt from its record, without steps.
    """
    known = _catalogue()
    verdicts = []
    for record in report["scenarios"]:
        text = {name: record[name] for name in _TEXT_FIELDS}
        scenario = known.get(record["id"])
        verdicts.append(
            Verdict(
                replace(scenario, **text) if scenario else Scenario(record["id"], steps=(), **text),
                Outcome(record["outcome"]),
                record["message"],
                expected=record["expected"],
                actual=record["actual"],
                duration_s=record["duration_s"],
                transcript=list(record["transcript"]),
                reproduction=record["reproduction"],
                choice=record["choice"],
                server_output=record["server_output"],
                notes=list(record["notes"]),
                charged_elsewhere=list(record["charged_elsewhere"]),
                replay=record.get("replay"),
                replay_script=record.get("replay_script"),
            )
        )
    return verdicts


@functools.cache
def _catalogue() -> dict[str, Scenario]:
    return {scenario.id: scenario for scenario in load_catalogue()}


@functools.cache
def _diagnoses() -> list[Diagnosis]:
    return load_diagnoses()


@dataclass(frozen=True)
class _Checked:
    """A checked run as the student's files read it: its verdicts by id, and their causes."""

    verdicts: dict[str, Verdict]
    causes: list[Diagnosed]

    @classmethod
    def of(cls, report: dict[str, Any]) -> _Checked:
        """Rebuild the verdicts of a report and diagnose them."""
        verdicts = rebuild_verdicts(report)
        return cls({v.scenario.id: v for v in verdicts}, diagnose(verdicts, _diagnoses())[0])


# --- Gradescope -------------------------------------------------------------------------------


def _results_json(result: SandboxResult, score: Score, run: _Checked | None) -> dict[str, Any]:
    """Gradescope's results.json: the score, one test per scenario, and what to fix first."""
    if run is None:
        tests = [s.test(f"not run: {result.message}") for s in score.scenarios]
        output = "\n".join(_not_checked(result))
    else:
        tests = [s.test(_test_output(s, run.verdicts.get(s.id))) for s in score.scenarios]
        output = "\n".join(
            [
                *_score_lines(score),
                *_causes_lines(run.causes),
                "",
                "Each test below is one scenario: what was sent, what came back, the RFC sentence,"
                " a hint and a command that reproduces it on your machine.",
            ]
        )
    return {
        "score": score.total,
        "execution_time": round(result.wall_s),
        "output": output,
        "output_format": "md",
        "visibility": "visible",
        "tests": tests,
    }


def _test_output(scored: ScenarioScore, verdict: Verdict | None) -> str:
    """A test's output: why it scored what it did, and for a failure the whole story."""
    if verdict is None or not _failed(verdict):
        return scored.note
    return "\n".join([scored.note, "", *_failure_body(verdict)])


def _failed(verdict: Verdict) -> bool:
    return verdict.outcome not in (Outcome.PASS, Outcome.SKIP)


# --- feedback.md ------------------------------------------------------------------------------


def _feedback_md(result: SandboxResult, score: Score, run: _Checked | None) -> str:
    """feedback.md: the score, the causes to fix first, then every failure in full."""
    lines = [f"# h1check feedback: {result.name}", ""]
    if run is None:
        return "\n".join([*lines, *_score_lines(score), "", *_not_checked(result), ""])
    by_id, found = run.verdicts, run.causes
    cause_of = {v.scenario.id: number for number, d in enumerate(found, 1) for v in d.explained}
    lines += [*_score_lines(score), *_causes_lines(found)]
    failures = [(s, by_id[s.id]) for s in score.scenarios if s.id in by_id and _failed(by_id[s.id])]
    if failures:
        lines += ["", "## What failed, stage by stage"]
    for scored, verdict in failures:
        scenario = verdict.scenario
        cause = f" See cause {cause_of[scenario.id]} above." if scenario.id in cause_of else ""
        lines += [
            "",
            f"### {verdict.outcome.upper()} `{scenario.id}` [{scenario.level} · {scenario.rfc}]"
            f" · {scored.points:g}/{scored.max_points:g} points",
            "",
            f"Stage {scored.stage.label}: {scenario.title}.{cause}",
            "",
            scored.note,
            "",
            *_failure_body(verdict),
        ]
    skipped = [s for s in score.scenarios if s.outcome == "skip"]
    if skipped:
        lines += ["", "## Not scored", ""]
        lines += ["These were not judged, so their points are left out of your maximum. Most name"]
        lines += [
            "the scenario charged with what stopped them: fix that one and they are judged.",
            "",
        ]
        lines += [f"- `{s.id}`: {s.note.removeprefix('not scored: ')}" for s in skipped]
    missing = [s for s in score.scenarios if s.outcome == NOT_RUN]
    if missing:
        lines += ["", "## Not run", ""]
        lines += [f"- `{s.id}`: {s.note}" for s in missing]
    passed = [s.id for s in score.scenarios if s.outcome == "pass"]
    lines += ["", f"## Passed ({len(passed)})", "", ", ".join(f"`{i}`" for i in passed) or "none"]
    return "\n".join(lines) + "\n"


def _score_lines(score: Score) -> list[str]:
    """The total and a table of the stages, in Markdown."""
    lines = [f"**Score: {score.total:g} / {score.max_total:g}**", ""]
    lines += ["| stage | points |", "|---|---|"]
    for stage in score.stages:
        locked = " (not counted: an earlier stage is incomplete)" if stage.locked else ""
        lines.append(f"| {stage.label} | {stage.points:g} / {stage.max:g}{locked} |")
    return lines


def _causes_lines(found: list[Diagnosed]) -> list[str]:
    """The diagnoses, in the order to fix them, in Markdown."""
    if not found:
        return []
    lines = ["", "## What to fix first"]
    for number, cause in enumerate(found, start=1):
        ids = ", ".join(f"`{verdict.scenario.id}`" for verdict in cause.explained)
        lines += [
            "",
            f"{number}. **{cause.title}**  ",
            f"   {cause.why}  ",
            f"   Fix: {cause.diagnosis.fix}  ",
            f"   Explains: {ids}",
        ]
    return lines


def _failure_body(verdict: Verdict) -> list[str]:
    """What a student needs to act on one failure: the exchange, the rule, a hint, a command."""
    scenario = verdict.scenario
    lines = []
    if verdict.outcome is Outcome.ERROR:
        lines += ["This is a problem in h1check itself, not in your server.", ""]
    if verdict.expected:
        lines.append(f"- Expected: {verdict.expected}")
    if verdict.actual and verdict.actual != verdict.message:
        lines.append(f"- Actual: {verdict.actual}")
    lines += [f"- Note: {note}" for note in verdict.notes[:MAX_NOTES]]
    if len(verdict.notes) > MAX_NOTES:
        lines.append(f"- Note: ... and {len(verdict.notes) - MAX_NOTES} more like these")
    if verdict.transcript:
        lines += ["", "What h1check sent (`>`) and what came back (`<`):", ""]
        lines += _fenced(shorten(verdict.transcript), "text")
    if verdict.server_output:
        lines += ["", "Your server's output:", "", *_fenced(clip_output(verdict.server_output))]
    lines += [
        "",
        f'> {scenario.rfc}: "{scenario.requires}"',
        "",
        f"**Hint:** {scenario.hint}",
        "",
        "Reproduce it on your machine:",
        "",
        *_fenced([verdict.reproduction or _local_reproduction(scenario)], "sh"),
    ]
    if not verdict.reproduction:
        lines += ["", LOCAL_SERVER_NOTE]
    if verdict.replay_script:
        lines += [
            "",
            "Or replay the exact bytes that failed, with your server running (plain Python):",
            "",
            *_fenced([f"python {verdict.replay_script} 127.0.0.1:PORT"], "sh"),
        ]
    return lines


def _local_reproduction(scenario: Scenario) -> str:
    """The command that checks one scenario against a server started the course's way."""
    return Reproducer(["h1check", "run"], LOCAL_SERVER)(scenario)


def _not_checked(result: SandboxResult) -> list[str]:
    """Why a server was never checked, and how to run it on your own machine."""
    lines = [f"## {NOT_CHECKED.get(result.status, 'Your server was not checked')}", ""]
    lines += [result.message, ""]
    if result.output_tail:
        lines += ["Its last output:", "", *_fenced(clip_output(result.output_tail)), ""]
    lines += [
        "## How to run it on your machine",
        "",
        "1. Start your server in a terminal, e.g. `python server.py 8080`, and read any traceback.",
        "2. In a second terminal, `curl -i http://127.0.0.1:8080/` should print a status line,"
        " headers and the page.",
        "3. Then let h1check start it and check everything:",
        "",
        *_fenced(["h1check run -- python server.py {port}"], "sh"),
        "",
        "   If your server always uses one port, say so: "
        "`h1check run --port 8080 -- python server.py`.",
    ]
    return lines


def _fenced(lines: Sequence[str], info: str = "") -> list[str]:
    """A Markdown code block whose fence is longer than any run of backticks inside it."""
    longest = max((len(run) for line in lines for run in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + info, *lines, fence]


# --- the class --------------------------------------------------------------------------------


def write_class(out_dir: Path, results: list[tuple[SandboxResult, Score]]) -> None:
    """Write grades.csv and class.html for the whole class into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / GRADES_NAME).write_text(grades_csv(results), encoding="utf-8", newline="")
    (out_dir / CLASS_NAME).write_text(class_page(results), encoding="utf-8")


def grades_csv(results: Sequence[tuple[SandboxResult, Score]]) -> str:
    """One row per submission: name, status, total, max, then the points of each stage."""
    stages = [stage.label for stage in results[0][1].stages] if results else []
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["name", "status", "total", "max", *stages])
    for result, score in results:
        points = [f"{stage.points:g}" for stage in score.stages]
        writer.writerow(
            [result.name, result.status, f"{score.total:g}", f"{score.max_total:g}", *points]
        )
    return buffer.getvalue()


def class_page(results: Sequence[tuple[SandboxResult, Score]]) -> str:
    """One self-contained page: overview, histogram, common causes, and each student's story."""
    runs = {r.name: _Checked.of(r.report) for r, _ in results if r.report is not None}
    verdicts = {name: list(run.verdicts.values()) for name, run in runs.items()}
    found = {name: run.causes for name, run in runs.items()}
    not_checked = Counter(result.status for result, _ in results if result.report is None)
    body = [
        f"<h1>h1check grades · {len(results)} submissions</h1>",
        f'<p class="muted">{_status_summary(len(results), not_checked)}</p>',
        "<h2>Overview</h2>",
        _overview(results),
        "<h2>Scores</h2>",
        _histogram([score for _, score in results]),
        _common_causes(found),
        _to_regrade(results, verdicts),
        "<h2>Each submission</h2>",
        *(
            _drill_down(index, result, score, verdicts.get(result.name))
            for index, (result, score) in enumerate(results)
        ),
    ]
    return page("h1check grades", body)


def _status_summary(total: int, not_checked: Counter[str]) -> str:
    checked = total - sum(not_checked.values())
    others = "".join(f" · {count} {status}" for status, count in sorted(not_checked.items()))
    return escape(f"{checked} checked{others}")


def _overview(results: Sequence[tuple[SandboxResult, Score]]) -> str:
    """A table: each submission's status, total (with a bar) and stages."""
    if not results:
        return "<p>No submissions.</p>"
    stages = results[0][1].stages
    head = "".join(f"<th>{escape(stage.label)}</th>" for stage in stages)
    rows = [f"<table><tr><th>name</th><th>status</th><th>total</th><th></th>{head}</tr>"]
    for index, (result, score) in enumerate(results):
        bar = (
            '<span style="display:inline-block;height:.7em;background:#4a7fc1;'
            f'width:{_share(score) * 8:.2f}em"></span>'
        )
        cells = "".join(_stage_cell(stage) for stage in score.stages)
        css = "pass" if result.status == "checked" else "fail"
        rows.append(
            f'<tr><td><a href="#s{index}">{escape(result.name)}</a></td>'
            f'<td class="{css}">{escape(result.status)}</td>'
            f"<td>{score.total:g} / {score.max_total:g}</td><td>{bar}</td>{cells}</tr>"
        )
    rows.append("</table>")
    return "\n".join(rows)


def _share(score: Score) -> float:
    """The part of its maximum a submission scored, from 0 to 1."""
    return score.total / score.max_total if score.max_total else 0.0


def _stage_cell(stage: StageScore) -> str:
    """One stage's points, coloured: full, partial, none, or not counted because of gating."""
    if stage.locked:
        css, title = "muted", f"not counted: earned {stage.earned:g} before gating"
    elif stage.points >= stage.max:
        css, title = "pass", "full marks"
    else:
        css, title = ("fail" if stage.points == 0 else "minor"), "points missing"
    return f'<td class="{css}" title="{escape(title)}">{stage.points:g}/{stage.max:g}</td>'


def _histogram(scores: Sequence[Score]) -> str:
    """An inline SVG bar chart of how many submissions scored in each tenth of their maximum."""
    counts = [0] * HISTOGRAM_BUCKETS
    for score in scores:
        counts[min(int(_share(score) * HISTOGRAM_BUCKETS), HISTOGRAM_BUCKETS - 1)] += 1
    tallest = max(counts, default=0) or 1
    width, height, base = 52, 120, 140
    bars = []
    for bucket, count in enumerate(counts):
        x, bar = bucket * width + 4, round(count / tallest * height)
        step = 100 // HISTOGRAM_BUCKETS
        upper = 100 if bucket == HISTOGRAM_BUCKETS - 1 else step * (bucket + 1) - 1
        bars.append(
            f'<rect x="{x}" y="{base - bar}" width="{width - 8}" height="{bar}" fill="#4a7fc1"/>'
            f'<text x="{x + (width - 8) / 2}" y="{base - bar - 4}" text-anchor="middle">'
            f"{count or ''}</text>"
            f'<text x="{x + (width - 8) / 2}" y="{base + 16}" text-anchor="middle">'
            f"{step * bucket}-{upper}%</text>"
        )
    return (
        f'<svg width="{width * HISTOGRAM_BUCKETS + 8}" height="{base + 24}" role="img"'
        ' aria-label="number of submissions by score, in tenths of their maximum"'
        ' font-size="12" font-family="system-ui, sans-serif">'
        f"{''.join(bars)}"
        f'<line x1="0" y1="{base}" x2="{width * HISTOGRAM_BUCKETS + 8}" y2="{base}"'
        ' stroke="#999"/></svg>'
    )


def _common_causes(found: dict[str, list[Diagnosed]]) -> str:
    """How many students each diagnosis applies to, most common first, with their names."""
    students: dict[str, list[str]] = {}
    titles: dict[str, str] = {}
    for name, diagnosed in found.items():
        for cause in diagnosed:
            students.setdefault(cause.diagnosis.id, []).append(name)
            # The title without the one student's error message some titles carry.
            titles[cause.diagnosis.id] = cause.diagnosis.title.replace(": {exception}", "")
    if not students:
        return ""
    rows = [
        "<h2>Most common causes</h2>",
        "<table><tr><th>students</th><th>cause</th><th>who</th></tr>",
    ]
    for ident, names in sorted(students.items(), key=lambda item: (-len(item[1]), item[0])):
        rows.append(
            f"<tr><td>{len(names)}</td><td>{escape(titles[ident])} <code>{escape(ident)}</code>"
            f'</td><td class="muted">{escape(", ".join(names))}</td></tr>'
        )
    rows.append("</table>")
    return "\n".join(rows)


def _to_regrade(
    results: Sequence[tuple[SandboxResult, Score]], verdicts: dict[str, list[Verdict]]
) -> str:
    """Submissions h1check itself could not grade fully: worth grading again."""
    items = []
    for result, _ in results:
        errors = [
            v.scenario.id for v in verdicts.get(result.name, []) if v.outcome is Outcome.ERROR
        ]
        if result.status == "crashed-harness":
            items.append(f"<li>{escape(result.name)}: {escape(result.message)}</li>")
        elif errors:
            listed = escape(", ".join(errors))
            items.append(f"<li>{escape(result.name)}: h1check could not judge {listed}</li>")
    if not items:
        return ""
    return (
        "<h2>To grade again</h2><p>h1check itself failed here, not the student's server; these "
        f"scenarios scored 0.</p><ul>{''.join(items)}</ul>"
    )


def _drill_down(
    index: int, result: SandboxResult, score: Score, verdicts: list[Verdict] | None
) -> str:
    """One submission: its stages, then its causes and every scenario it did not pass."""
    summary = (
        f"<summary><strong>{escape(result.name)}</strong> · {escape(result.status)}"
        f" · {score.total:g} / {score.max_total:g}</summary>"
    )
    stages = "".join(
        f"<tr><td>{escape(stage.label)}</td>{_stage_cell(stage)}</tr>" for stage in score.stages
    )
    parts = [f"<table>{stages}</table>"]
    if result.report is None or verdicts is None:
        parts.append(f'<p class="fail">{escape(result.message)}</p>')
        if result.output_tail:
            parts.append(f"<pre>{escape(result.output_tail)}</pre>")
        return f'<details id="s{index}">{summary}{"".join(parts)}</details>'
    strict = bool(result.report["summary"].get("strict", False))
    deciding = {v.scenario.id for v in deciding_failures(verdicts, strict)}
    parts.append(causes(verdicts, strict))
    parts += [
        scenario_details(v, v.scenario.id in deciding)
        for v in verdicts
        if v.outcome is not Outcome.PASS
    ]
    passed = [v.scenario.id for v in verdicts if v.outcome is Outcome.PASS]
    if passed:
        parts.append(f'<p class="muted">Passed ({len(passed)}): {escape(", ".join(passed))}</p>')
    return f'<details id="s{index}">{summary}{"".join(parts)}</details>'
