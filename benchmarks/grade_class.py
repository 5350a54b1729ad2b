"""Wall time to grade the fake class in fixtures/submissions, one at a time and side by side.

A benchmark, not a test: it prints numbers for the README's "Instructors" section and asserts
nothing about them. Run from a checkout: `python benchmarks/grade_class.py [--jobs N]`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from conformance.grade.grader import GradeOptions, grade_class

CLASS = Path(__file__).resolve().parents[1] / "fixtures" / "submissions"


def main() -> int:
    """Grade the class with --jobs 1 and --jobs N; print the wall times and the slowest student."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--port", type=int, default=7890)
    options = parser.parse_args()
    for jobs in (1, options.jobs):
        with tempfile.TemporaryDirectory() as out:
            started = time.monotonic()
            grading = GradeOptions(out=Path(out), jobs=jobs, port=options.port)
            results = grade_class(CLASS, grading)
            elapsed = time.monotonic() - started
        slowest = max(results, key=lambda pair: pair[0].wall_s)[0]
        print(
            f"jobs={jobs}: {len(results)} submissions in {elapsed:.1f} s;"
            f" slowest {slowest.name} {slowest.wall_s:.1f} s ({slowest.status})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
