"""`h1check grade`: every submission of a class checked in its own sandbox, scored, reported.

Submissions run side by side (`jobs` at a time): each sandbox has its own network namespace
where the OS allows one, so servers that all hard-code the course's port do not collide, and
grades never depend on how many ran at once. A submission's results are written as soon as it
is graded, the sandbox record last, so an interrupted run keeps what it finished and `--resume`
grades only the rest. Ctrl-C stops every process the grader started, sandboxes included.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import psutil

from conformance.grade import SandboxResult, Submission
from conformance.grade.outputs import write_class, write_submission
from conformance.grade.rubric import Score, load_rubric
from conformance.grade.sandbox import Limits, run_sandboxed
from conformance.grade.submissions import DEFAULT_COMMAND, find_submissions

RECORD = "sandbox.json"


@dataclass(frozen=True)
class GradeOptions:
    """How to grade a class: where results go, the rubric, and the sandbox's limits."""

    out: Path
    rubric: Path | None = None
    jobs: int = os.cpu_count() or 2
    port: int | None = None
    command: str = DEFAULT_COMMAND
    timeout: float = 2.0
    wall_limit: float = 300.0
    resume: bool = False
    limits: Limits = dataclasses.field(default_factory=Limits)


Listener = Callable[[str, Submission, SandboxResult | None], None]


def grade_class(
    folder: Path, options: GradeOptions, on_event: Listener | None = None
) -> list[tuple[SandboxResult, Score]]:
    """Grade every submission in `folder`; write each one's outputs, then the class's."""
    submissions = find_submissions(folder, options.command)
    rubric = load_rubric(options.rubric)
    options.out.mkdir(parents=True, exist_ok=True)
    notify = on_event or (lambda event, submission, result: None)
    graded: dict[str, tuple[SandboxResult, Score]] = {}
    for submission in submissions:
        earlier = load_record(options.out, submission.name) if options.resume else None
        if earlier is not None:
            graded[submission.name] = (earlier, rubric.score(earlier.report))
            notify("resumed", submission, earlier)
    pending = [s for s in submissions if s.name not in graded]
    for submission, result in _run_all(pending, options, notify):
        graded[submission.name] = (result, rubric.score(result.report))
        record(options.out, *graded[submission.name])
        notify("done", submission, result)
    in_order = [graded[submission.name] for submission in submissions]
    write_class(options.out, in_order)
    return in_order


def _run_all(
    pending: list[Submission], options: GradeOptions, notify: Listener
) -> Iterator[tuple[Submission, SandboxResult]]:
    # The kill comes before the pool's exit, which waits for every running sandbox to end.
    with (
        ThreadPoolExecutor(max_workers=max(1, options.jobs)) as pool,
        _stop_everything_on_interrupt(),
    ):
        running: dict[Future[SandboxResult], Submission] = {}
        queue = list(pending)
        while queue or running:
            while queue and len(running) < max(1, options.jobs):
                submission = queue.pop(0)
                notify("started", submission, None)
                running[pool.submit(_grade_one, submission, options)] = submission
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                yield running.pop(future), future.result()


def _grade_one(submission: Submission, options: GradeOptions) -> SandboxResult:
    out_dir = options.out / submission.name
    out_dir.mkdir(parents=True, exist_ok=True)
    return run_sandboxed(
        submission,
        out_dir=out_dir,
        port=options.port,
        timeout=options.timeout,
        wall_limit=options.wall_limit,
        limits=options.limits,
    )


def record(out: Path, result: SandboxResult, score: Score) -> None:
    """Write one submission's outputs, and last the record that marks it graded."""
    write_submission(out, result, score)
    path = out / result.name / RECORD
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(dataclasses.asdict(result), indent=1), encoding="utf-8")
    temporary.replace(path)  # Atomic: a record is either whole or absent.


def load_record(out: Path, name: str) -> SandboxResult | None:
    """The sandbox record of a submission graded by an earlier run, if it finished."""
    try:
        data = json.loads((out / name / RECORD).read_text(encoding="utf-8"))
        data["layers"] = tuple(data.get("layers", ()))
        return SandboxResult(**data)
    except (OSError, ValueError, TypeError):
        return None


@contextlib.contextmanager
def _stop_everything_on_interrupt() -> Iterator[None]:
    """On Ctrl-C, kill every process this grader started before letting the interrupt go on.

    Sandboxes run in sessions of their own, so the terminal's SIGINT does not reach them.
    """
    try:
        yield
    except KeyboardInterrupt:
        children = psutil.Process().children(recursive=True)
        for child in children:
            with contextlib.suppress(psutil.Error):
                child.kill()
        psutil.wait_procs(children, timeout=5)
        raise
