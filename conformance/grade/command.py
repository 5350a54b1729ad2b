"""The `h1check grade` command line: options, and the run with its progress and closing line."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from conformance.grade.grader import GradeOptions, grade_class
from conformance.grade.progress import GradingProgress
from conformance.grade.submissions import DEFAULT_COMMAND, find_submissions

GRADE_EPILOG = """examples:
  h1check grade submissions/ --out grades/               each subfolder is one student
  h1check grade submissions/ --port 7890                 servers hard-code the course's port
  h1check grade submissions/ --cmd 'python {entry} {port}' --rubric course.toml

outputs in --out: grades.csv, class.html, and per student results.json (Gradescope's format),
feedback.md, report.json and sandbox.json
"""


def add_grade_parser(commands: argparse._SubParsersAction[Any]) -> None:
    """Register `h1check grade` and its options."""
    grade = commands.add_parser(
        "grade",
        help="grade a folder of submissions, each in a sandbox",
        epilog=GRADE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    grade.add_argument("submissions", type=Path, metavar="SUBMISSIONS_DIR")
    grade.add_argument("--out", type=Path, default=Path("grades"), help="where results go")
    grade.add_argument("--rubric", type=Path, metavar="FILE", help="override the default rubric")
    grade.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 2, metavar="N", help="submissions at once"
    )
    grade.add_argument("--port", type=int, metavar="N", help="the port every submission uses")
    grade.add_argument(
        "--cmd",
        default=DEFAULT_COMMAND,
        metavar="TEMPLATE",
        help="start command; {entry}, {port}, {root} are filled in (default: python {entry})",
    )
    grade.add_argument(
        "--timeout", type=float, default=2.0, metavar="S", help="seconds to wait per response"
    )
    grade.add_argument(
        "--wall", type=float, default=300.0, metavar="S", help="wall-clock limit per submission"
    )
    grade.add_argument("--resume", action="store_true", help="grade only what is not graded yet")


def grade_command(options: argparse.Namespace) -> int:
    """Grade the class and print one closing line; 0 once every submission has a result."""
    grading = GradeOptions(
        out=options.out,
        rubric=options.rubric,
        jobs=options.jobs,
        port=options.port,
        command=options.cmd,
        timeout=options.timeout,
        wall_limit=options.wall,
        resume=options.resume,
    )
    started = time.monotonic()
    total = len(find_submissions(options.submissions, options.cmd))
    with GradingProgress(total) as progress:
        results = grade_class(options.submissions, grading, on_event=progress)
    checked = sum(result.status == "checked" for result, _ in results)
    elapsed = time.monotonic() - started
    print(
        f"graded {len(results)} submissions ({checked} started and checked) in {elapsed:.1f} s;"
        f" see {options.out / 'grades.csv'} and {options.out / 'class.html'}"
    )
    return 0
