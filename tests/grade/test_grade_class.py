"""`h1check grade` on the fake class: every output, the expected grades whatever the parallelism,
nothing left running, and an interrupted run that keeps and then finishes its work."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from conformance.grade.grader import RECORD, GradeOptions, grade_class

REPO = Path(__file__).resolve().parents[2]
CLASS = REPO / "fixtures" / "submissions"
EXPECTED = CLASS / "expected-grades.csv"


def grades(out: Path) -> list[dict[str, str]]:
    with (out / "grades.csv").open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def survivors(marker: Path) -> list[str]:
    """Live processes whose command line or working directory mentions `marker`."""
    found = []
    for process in psutil.process_iter(["cmdline", "cwd", "status"]):
        info = process.info
        if info["status"] == psutil.STATUS_ZOMBIE:
            continue
        words = " ".join(info["cmdline"] or []) + " " + (info["cwd"] or "")
        if str(marker) in words:
            found.append(f"{process.pid}: {words}")
    return found


@pytest.mark.slow
def test_the_fake_class_gets_its_expected_grades_with_one_job_or_four(tmp_path: Path) -> None:
    expected = list(csv.DictReader(EXPECTED.open(newline="", encoding="utf-8")))
    for jobs in (4, 1):
        out = tmp_path / f"jobs-{jobs}"
        grade_class(CLASS, GradeOptions(out=out, jobs=jobs, port=7890, wall_limit=120))
        assert grades(out) == expected, f"--jobs {jobs}"
        assert (out / "class.html").read_text().startswith("<!DOCTYPE html>")
        for row in expected:
            student = out / row["name"]
            for name in ("results.json", "feedback.md", RECORD):
                assert (student / name).is_file(), f"{row['name']}: {name}"
            assert (student / "report.json").is_file() == (row["status"] == "checked")
        assert survivors(CLASS) == []


def small_class(folder: Path, names: list[str], renamed: dict[str, str] | None = None) -> Path:
    """A class of copies of some fake students (some renamed, which sets the grading order)."""
    for name in names:
        shutil.copytree(CLASS / name, folder / (renamed or {}).get(name, name))
    return folder


def test_resume_grades_only_what_an_earlier_run_did_not_finish(tmp_path: Path) -> None:
    folder = small_class(tmp_path / "class", ["emma", "lena", "nadia"])
    out = tmp_path / "out"
    options = GradeOptions(out=out, jobs=2, port=7890)
    first = grade_class(folder, options)
    (out / "lena" / RECORD).unlink()  # As if the run had been interrupted before lena finished.
    started: list[str] = []
    again = grade_class(
        folder,
        GradeOptions(out=out, jobs=2, port=7890, resume=True),
        on_event=lambda event, submission, result: (
            started.append(submission.name) if event == "started" else None
        ),
    )
    assert started == ["lena"]
    assert [(r.name, s.total) for r, s in again] == [(r.name, s.total) for r, s in first]


def _interruptible() -> None:
    """Give the grader SIGINT as a terminal user's Ctrl-C finds it: handled, not blocked.

    A child inherits an ignored SIGINT (a shell running the tests in the background) and a
    blocked one (a library in the test process that took signals over with a signal mask).
    """
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_stops_every_sandbox_and_keeps_what_was_graded(tmp_path: Path) -> None:
    # Graded in name order, one at a time: the one without code first, then farid (~20 s).
    folder = small_class(tmp_path / "class", ["nadia", "farid"], {"nadia": "a-nadia"})
    out = tmp_path / "out"
    command = [sys.executable, "-m", "conformance", "grade", str(folder), "--out", str(out)]
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    grader = subprocess.Popen(
        [*command, "--jobs", "1", "--port", "7890"],
        stdout=subprocess.PIPE,
        text=True,
        env=environment,
        preexec_fn=_interruptible,
    )
    assert grader.stdout is not None
    lines = iter(grader.stdout.readline, "")
    assert any(line.startswith("done") and "a-nadia" in line for line in lines)
    grader.send_signal(signal.SIGINT)  # farid, graded next, is running now.
    assert grader.wait(timeout=30) == 130
    assert (out / "a-nadia" / RECORD).is_file()
    assert not (out / "farid" / RECORD).exists()
    assert survivors(folder) == []
