"""Progress while a class is graded: submission n of N, which are running, elapsed time and ETA.

Drawn with rich, and only for a person at a terminal: piped or in CI, the grader prints one line
per graded submission instead, so logs stay readable.
"""

from __future__ import annotations

import sys
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from conformance.grade import SandboxResult, Submission


class GradingProgress:
    """A grade_class listener that shows how far the class is."""

    def __init__(self, total: int) -> None:
        self.running: list[str] = []
        self.live = sys.stdout.isatty()
        self.console = Console()
        self.progress = Progress(
            TextColumn("grading"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.description}"),
            console=self.console,
            disable=not self.live,
        )
        self.task = self.progress.add_task("", total=total)

    def __enter__(self) -> GradingProgress:
        self.progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.progress.stop()

    def __call__(self, event: str, submission: Submission, result: SandboxResult | None) -> None:
        """Take one event of grade_class: started, done, or resumed from an earlier run."""
        if event == "started":
            self.running.append(submission.name)
        else:
            if submission.name in self.running:
                self.running.remove(submission.name)
            self.progress.advance(self.task)
            if not self.live and result is not None:
                print(
                    f"{event:<8} {submission.name}: {result.status} ({result.message})", flush=True
                )
        description = "running: " + ", ".join(self.running) if self.running else ""
        self.progress.update(self.task, description=description)
