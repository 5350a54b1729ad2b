"""What grading writes: Gradescope's results.json, feedback.md, report.json, grades.csv, class.html."""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from conformance.cli import Reproducer
from conformance.diagnoses import diagnose
from conformance.engine import Settings, run
from conformance.grade import SandboxResult
from conformance.grade.outputs import rebuild_verdicts, write_class, write_submission
from conformance.grade.rubric import load_rubric
from conformance.report import RunReport
from conformance.report.json_report import build_report
from conformance.scenarios import load_catalogue
from conformance.target import LaunchedTarget
from conformance.verdicts import Outcome, Verdict

SEED = Path(__file__).resolve().parents[2] / "fixtures" / "servers" / "seed_style.py"
RUBRIC = load_rubric(None)
NEVER_STARTED = SandboxResult(
    name="bruno",
    status="did-not-start",
    message="server.py exited with status 1 before it listened on port 7890",
    output_tail="Traceback (most recent call last):\nNameError: name 'sock' is not defined",
)


@pytest.fixture(scope="module")
def seed_report() -> dict[str, Any]:
    """The report of a real run against a seed-style server, reproductions as `h1check run` has them."""
    started = datetime.now(UTC)
    with LaunchedTarget([sys.executable, str(SEED), "{port}"]) as target:
        verdicts = run(load_catalogue(), target, Settings())
    reproduce = Reproducer(["h1check", "run"], ["python", "server.py", "{port}"])
    for verdict in verdicts:
        verdict.reproduction = reproduce(verdict.scenario)
    return build_report(RunReport(tuple(verdicts), "python server.py", started, 1.0, strict=False))


def small_report(**outcomes: str) -> dict[str, Any]:
    """A report of the whole catalogue where every scenario passes but those given (id=outcome)."""
    verdicts = [
        Verdict(s, Outcome(outcomes.get(s.id, "pass")), f"{outcomes.get(s.id, 'pass')} message")
        for s in load_catalogue()
    ]
    return build_report(RunReport(tuple(verdicts), "t", datetime.now(UTC), 1.0, strict=False))


def checked(name: str, report: dict[str, Any]) -> SandboxResult:
    """The sandbox result of a submission whose server was checked."""
    return SandboxResult(name=name, status="checked", message="checked", report=report, wall_s=4.2)


def written(tmp_path: Path, result: SandboxResult) -> Path:
    """Write a submission's outputs and return its folder."""
    write_submission(tmp_path, result, RUBRIC.score(result.report))
    return tmp_path / result.name


def test_results_json_is_gradescopes_format(tmp_path: Path, seed_report: dict[str, Any]) -> None:
    results = json.loads(
        (written(tmp_path, checked("ada", seed_report)) / "results.json").read_text()
    )
    assert {"score", "tests", "output", "visibility"} <= set(results)
    assert results["visibility"] == "visible"
    tests = results["tests"]
    assert len(tests) == len(seed_report["scenarios"])
    for test in tests:
        assert {"name", "score", "max_score", "status", "output", "visibility"} <= set(test)
        assert test["status"] in ("passed", "failed") and 0 <= test["score"] <= test["max_score"]
        assert re.fullmatch(
            r"\d [a-zA-Z /.0-9-]+ · [a-z-]+\.[a-z0-9-]+ \[(MUST|POLICY|SHOULD|MAY)\]", test["name"]
        )
    assert results["score"] == sum(test["score"] for test in tests)
    by_name = {test["name"]: test for test in tests}
    close = by_name["3 speaks HTTP/1.1 · framing.close-announced [MUST]"]
    assert (close["score"], close["max_score"], close["status"]) == (0, 2, "failed")
    assert (
        "```text" in close["output"]
        and "h1check run --id framing.close-announced" in close["output"]
    )
    skipped = by_name["3 speaks HTTP/1.1 · pipelining.two-in-one-write [MUST]"]
    assert (skipped["score"], skipped["max_score"]) == (0, 0)
    assert "framing.close-announced" in skipped["output"]


def test_feedback_names_the_cause_first_then_each_failure_in_full(
    tmp_path: Path, seed_report: dict[str, Any]
) -> None:
    folder = written(tmp_path, checked("ada", seed_report))
    text = (folder / "feedback.md").read_text()
    first_cause = diagnose(rebuild_verdicts(seed_report))[0][0]
    assert text.index("## What to fix first") < text.index(first_cause.title)
    assert text.index(first_cause.title) < text.index("## What failed")
    failure = text[text.index("### FAIL `framing.close-announced`") :]
    failure = failure[: failure.index("\n### ")]
    assert "```text\n> GET / HTTP/1.1\\r\\n" in failure
    assert "< HTTP/1.1 200 OK\\r\\n" in failure
    assert '> RFC 9112 §9.3: "' in failure and "**Hint:**" in failure
    assert (
        "```sh\nh1check run --id framing.close-announced -- python server.py '{port}'\n```"
        in failure
    )
    assert "`pipelining.two-in-one-write`" in text[text.index("## Not scored") :]
    assert json.loads((folder / "report.json").read_text()) == seed_report


def test_rebuilt_verdicts_carry_everything_the_report_holds(seed_report: dict[str, Any]) -> None:
    assert [v.to_json() for v in rebuild_verdicts(seed_report)] == seed_report["scenarios"]


def test_a_report_without_reproductions_gives_a_command_for_the_students_machine(
    tmp_path: Path,
) -> None:
    report = small_report(**{"keep-alive.client-close": "fail"})
    text = (written(tmp_path, checked("chen", report)) / "feedback.md").read_text()
    assert "h1check run --id keep-alive.client-close -- python server.py '{port}'" in text
    assert "After `--` goes the command that starts your server" in text


def test_a_server_that_never_started_still_gets_every_file_a_student_needs(tmp_path: Path) -> None:
    stale = tmp_path / "bruno" / "report.json"
    stale.parent.mkdir()
    stale.write_text("{}")
    folder = written(tmp_path, NEVER_STARTED)
    results = json.loads((folder / "results.json").read_text())
    assert results["score"] == 0
    assert sum(test["max_score"] for test in results["tests"]) == RUBRIC.score(None).max_total > 0
    assert all(test["status"] == "failed" for test in results["tests"])
    assert {test["output"] for test in results["tests"]} == {f"not run: {NEVER_STARTED.message}"}
    text = (folder / "feedback.md").read_text()
    assert NEVER_STARTED.message in text and "NameError: name 'sock'" in text
    assert "h1check run -- python server.py {port}" in text
    assert not stale.exists()


def test_grades_csv_has_a_row_per_submission_and_a_column_per_stage(
    tmp_path: Path, seed_report: dict[str, Any]
) -> None:
    graded = [(r, RUBRIC.score(r.report)) for r in (checked("ada", seed_report), NEVER_STARTED)]
    write_class(tmp_path, graded)
    rows = list(csv.reader(io.StringIO((tmp_path / "grades.csv").read_text())))
    stages = [stage.label for stage in RUBRIC.stages]
    assert rows[0] == ["name", "status", "total", "max", *stages]
    ada, bruno = rows[1:]
    score = graded[0][1]
    assert ada == [
        "ada",
        "checked",
        f"{score.total:g}",
        f"{score.max_total:g}",
        *(f"{s.points:g}" for s in score.stages),
    ]
    assert bruno[:4] == ["bruno", "did-not-start", "0", f"{RUBRIC.score(None).max_total:g}"]


def test_class_html_is_one_self_contained_page_to_look_at(
    tmp_path: Path, seed_report: dict[str, Any]
) -> None:
    broken = small_report(**{"errors.missing-host": "error"})
    results = [
        checked("ada", seed_report),
        checked("dana", seed_report),
        checked("eve", broken),
        NEVER_STARTED,
    ]
    write_class(tmp_path, [(r, RUBRIC.score(r.report)) for r in results])
    html = (tmp_path / "class.html").read_text()
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html)
    assert not re.search(r"url\(|@import", html)
    assert html.count("<svg") == 1 and "<rect" in html
    cause = diagnose(rebuild_verdicts(seed_report))[0][0].diagnosis
    assert re.search(
        rf"<tr><td>2</td><td>[^<]*<code>{cause.id}</code></td><td[^>]*>ada, dana</td>", html
    )
    assert all(f'<details id="s{index}">' in html for index in range(len(results)))
    assert "framing.close-announced" in html and "&lt; HTTP/1.1 200 OK" in html
    regrade = html[html.index("<h2>To grade again</h2>") :]
    assert "eve: h1check could not judge errors.missing-host" in regrade
    assert NEVER_STARTED.message in html
