"""What runs inside a submission's sandbox: start the server, run the whole catalogue, report.

`python -m conformance.grade.worker JOB` reads the job the grader wrote (grade/sandbox.py),
checks one student server and writes two files to the job's out_dir: `report.json` (the JSON
report of `h1check run --json`) when the suite ran, and `worker-status.json`, a few lines saying
how it went. Then it exits, and with it everything the server left behind:

- In a PID namespace the worker is started as PID 1. It forks at once and stays behind as a
  minimal init that reaps orphans, while its child does the check; when the check ends, init
  exits and the kernel kills every process left in the namespace, setsid'd or double-forked.
- Without one, the same parent marks itself a child subreaper, so orphans stay in its tree
  rather than escaping to the system's init, and kills its whole tree before it exits.

While the suite runs, a guard thread counts the sandbox's processes and kills them all when
they reach the limit (a fork bomb), since RLIMIT_NPROC does not bind root and a pids cgroup
only refuses forks: a bomb held at the cgroup's limit keeps every core busy and answers nothing.
The engine restarts a killed server for the next scenario and charges the crash to it.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import shlex
import signal
import socket
import struct
import sys
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from conformance.engine import run
from conformance.report import RunReport
from conformance.report.json_report import build_report
from conformance.reproduce import Reproducer
from conformance.scenarios import load_catalogue
from conformance.settings import Settings
from conformance.target import LOG_NAME, LaunchedTarget, TargetError, output_tail

REPORT_NAME = "report.json"
STATUS_NAME = "worker-status.json"
GUARD_POLL_S = 0.05
MESSAGE_LIMIT = 300
SWEEP_S = 5.0
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
IFREQ = "16sh22x"  # struct ifreq: the interface name, then its flags in the union.
PR_SET_CHILD_SUBREAPER = 36


@dataclass(frozen=True)
class Job:
    """What the grader asks the worker to do; written as JSON by grade/sandbox.py."""

    command: list[str]
    wrapper: list[str]
    port: int | None
    workdir: str
    env: dict[str, str]
    out_dir: str
    timeout: float
    start_timeout: float
    max_processes: int
    file_size: int
    netns: bool

    @classmethod
    def load(cls, path: Path) -> Job:
        """Read a job file."""
        return cls(**json.loads(path.read_text(encoding="utf-8")))


@dataclass
class Status:
    """How the check went: the worker's half of a SandboxResult."""

    status: str
    message: str
    output_tail: str = ""
    layers: list[str] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


def main(argv: list[str] | None = None) -> int:
    """Run the job named on the command line; the exit status is 0 when a status was written."""
    arguments = sys.argv[1:] if argv is None else argv
    job = Job.load(Path(arguments[0]))
    if os.getpid() == 1:
        keeper = "pidns"
    elif set_child_subreaper():
        keeper = "subreaper"
    else:
        return check(job, keeper=None)
    child = os.fork()
    if child == 0:
        code = 1
        try:
            code = check(job, keeper)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    code = reap_until(child)
    if keeper == "subreaper":
        kill_tree(os.getpid(), spare_root=True)
        reap_children()
    return code


def set_child_subreaper() -> bool:
    """Make orphaned descendants reparent to this process rather than the system's init."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0


def reap_until(child: int) -> int:
    """Reap every child that exits (orphans included) until `child` does; return its status."""
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 1
        if pid == child:
            return os.waitstatus_to_exitcode(status)


def check(job: Job, keeper: str | None) -> int:
    """Check the server in this sandbox and write the status (and report) to out_dir."""
    out_dir = Path(job.out_dir)
    try:
        status, report = run_check(job, keeper)
    except Exception as error:
        traceback.print_exc()
        status, report = (
            Status("crashed-harness", f"h1check failed inside the sandbox: {error!r}"),
            None,
        )
    if report is not None:
        write_json(out_dir / REPORT_NAME, report)
    write_json(out_dir / STATUS_NAME, asdict(status))
    return 0


def run_check(job: Job, keeper: str | None) -> tuple[Status, dict[str, Any] | None]:
    """Bring up loopback, launch the server under the limits and the guard, judge it."""
    layers, missing = keeper_layers(keeper)
    if job.netns:
        try:
            bring_loopback_up()
        except OSError as error:
            return Status("crashed-harness", f"cannot bring up loopback: {error}"), None
        layers.append("netns")
    os.chdir(job.workdir)
    # LaunchedTarget hands the server our environment: from here on it is the scrubbed one.
    os.environ.clear()
    os.environ.update(job.env)
    guard = ProcessGuard(job.max_processes, keeper)
    target = GuardedTarget(
        [*job.wrapper, *job.command],
        job.port,
        Path(job.workdir),
        start_timeout=job.start_timeout,
        guard=guard,
    )
    guard.start()
    layers.append("nproc-guard")
    try:
        status, report = judge(target, job)
    finally:
        target.stop()
        guard.stop()
        # Nothing of the server may outlive the check, nor touch out_dir while it is written.
        guard.kill_all()
    status.layers, status.missing = layers, missing
    status.details.update(guard.details())
    status.message = shorten(status.message)
    # The grader adds its own notes and puts them all in the message.
    status.details["notes"] = guard.notes() + output_notes(Path(job.workdir), job.file_size)
    return status, report


def judge(target: LaunchedTarget, job: Job) -> tuple[Status, dict[str, Any] | None]:
    """Start the server and run the whole catalogue against it: the status and the report."""
    started, clock = datetime.now(UTC), time.monotonic()
    try:
        target.start()
    except TargetError as error:
        return Status("did-not-start", str(error), output_tail(target.log_path)), None
    verdicts = run(load_catalogue(), target, Settings(response_timeout=job.timeout))
    # The student's own words, with the port filled in: what they can run themselves.
    as_run = shlex.join(target.substitute(argument) for argument in job.command)
    reproduce = student_reproducer(job)
    for verdict in verdicts:
        verdict.reproduction = reproduce(verdict.scenario)
    run_report = RunReport(
        verdicts=tuple(verdicts),
        target=as_run,
        started=started,
        duration_s=time.monotonic() - clock,
        strict=False,
    )
    report = build_report(run_report)
    return Status("checked", summary_line(report), output_tail(target.log_path)), report


def student_reproducer(job: Job) -> Reproducer:
    """How the student re-runs one scenario on their own machine: their command, not ours."""
    command = ["python" if word == sys.executable else word for word in job.command]
    options = ["h1check", "run", *(["--port", str(job.port)] if job.port else [])]
    return Reproducer(options, command)


def keeper_layers(keeper: str | None) -> tuple[list[str], dict[str, str]]:
    """The layers that keep processes from escaping, as active names and missing reasons."""
    if keeper == "pidns":
        return ["pidns"], {}
    missing = {"pidns": "not started in a PID namespace"}
    if keeper == "subreaper":
        return ["subreaper"], missing
    missing["subreaper"] = "prctl(PR_SET_CHILD_SUBREAPER) is not available"
    return [], missing


def bring_loopback_up() -> None:
    """Set IFF_UP on `lo`: a fresh network namespace starts with it down."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as control:
        name, flags = struct.unpack(
            IFREQ, fcntl.ioctl(control, SIOCGIFFLAGS, struct.pack(IFREQ, b"lo", 0))
        )
        fcntl.ioctl(control, SIOCSIFFLAGS, struct.pack(IFREQ, name, flags | IFF_UP))


def summary_line(report: dict[str, Any]) -> str:
    """One line about a finished run: how many scenarios passed, and whether it is green."""
    summary = report["summary"]
    passed = summary["outcomes"].get("pass", 0)
    line = f"{passed} of {summary['total']} scenarios passed"
    failures = len(summary["deciding_failures"])
    return f"{line}; {failures} MUST/POLICY scenarios did not" if failures else line


def shorten(message: str, limit: int = MESSAGE_LIMIT) -> str:
    """Cut a message quoting the server's last line, which may be megabytes of one print."""
    return message if len(message) <= limit else message[: limit - 3] + "..."


def output_notes(workdir: Path, file_size: int) -> list[str]:
    """Say so when the server's output was cut off at the file size limit."""
    try:
        size = (workdir / LOG_NAME).stat().st_size
    except OSError:
        return []
    if size < file_size:
        return []
    return [f"its output reached the {file_size // (1 << 20)} MiB limit and was cut off there"]


class ProcessGuard:
    """Counts the sandbox's processes and kills them all whenever they reach the limit."""

    def __init__(self, limit: int, keeper: str | None) -> None:
        self.limit, self.keeper = limit, keeper
        self.kills = 0
        self.peak = 0
        self.stopping = threading.Event()
        self.killing = threading.Lock()
        self.thread = threading.Thread(target=self.watch, name="process-guard", daemon=True)

    def start(self) -> None:
        """Start watching in the background."""
        self.thread.start()

    def stop(self) -> None:
        """Stop watching."""
        self.stopping.set()
        self.thread.join()

    def watch(self) -> None:
        """Poll the count; a fork bomb is stopped within about one poll."""
        while not self.stopping.wait(GUARD_POLL_S):
            count = len(self.processes())
            self.peak = max(self.peak, count)
            # At the limit, not over it: a pids cgroup of the same size never lets it get over.
            if count >= self.limit:
                self.kills += 1
                self.kill_all()

    def processes(self) -> list[int]:
        """Every live process of the sandbox but the worker and its init (zombies are dead)."""
        ours = {os.getpid(), os.getppid()}
        if self.keeper == "pidns":
            # Everything in the namespace is the sandbox's; /proc lists it without psutil's cost.
            found = (int(entry) for entry in os.listdir("/proc") if entry.isdigit())
            return [pid for pid in found if pid not in ours and alive(pid)]
        try:
            root = psutil.Process(os.getppid() if self.keeper == "subreaper" else os.getpid())
            children = root.children(recursive=True)
        except psutil.Error:
            return []
        return [child.pid for child in children if child.pid not in ours and alive(child.pid)]

    def kill_all(self) -> None:
        """Kill every process of the sandbox but the worker and its init."""
        deadline = time.monotonic() + SWEEP_S
        with self.killing:
            while self.processes() and time.monotonic() < deadline:
                if self.keeper == "pidns":
                    # From inside the namespace, -1 means every process in it but init and us.
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(-1, signal.SIGKILL)
                else:
                    kill_processes(self.processes())
                time.sleep(0.01)

    def wait_until_quiet(self) -> None:
        """Return once no kill is under way, so that a server started next is not caught in it."""
        with self.killing:
            pass

    def details(self) -> dict[str, Any]:
        """What the guard saw, for the sandbox record."""
        return {"process_limit": self.limit, "process_peak": self.peak, "guard_kills": self.kills}

    def notes(self) -> list[str]:
        """A line for the message when the guard had to act."""
        if not self.kills:
            return []
        times = "once" if self.kills == 1 else f"{self.kills} times"
        return [f"the sandbox killed all its processes {times} when they reached {self.limit}"]


class GuardedTarget(LaunchedTarget):
    """A launched server the engine never restarts while the guard is still killing."""

    def __init__(
        self,
        command: list[str],
        port: int | None,
        workdir: Path,
        *,
        start_timeout: float,
        guard: ProcessGuard,
    ) -> None:
        super().__init__(command, port, workdir, start_timeout=start_timeout)
        self.guard = guard

    def launch(self) -> None:
        """Launch once the guard's kill (if any) is over."""
        self.guard.wait_until_quiet()
        super().launch()


def alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie waiting for its parent."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def kill_processes(pids: list[int]) -> None:
    """SIGSTOP, then SIGKILL, processes that may already be gone: stopped, none can fork on."""
    for signum in (signal.SIGSTOP, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signum)


def kill_tree(pid: int, *, spare_root: bool = False) -> None:
    """Kill a process and every descendant, freezing them first so none escapes by forking."""
    try:
        root = psutil.Process(pid)
    except psutil.Error:
        return
    frozen: set[int] = set()
    deadline = time.monotonic() + SWEEP_S
    while time.monotonic() < deadline:
        try:
            members = {child.pid for child in root.children(recursive=True)}
        except psutil.Error:
            members = set()
        if not spare_root and root.is_running():
            members.add(pid)
        fresh = members - frozen
        if not fresh:
            break
        for member in fresh:
            with contextlib.suppress(psutil.Error):
                psutil.Process(member).suspend()
        frozen |= fresh
    kill_processes(sorted(frozen))


def reap_children() -> None:
    """Collect our exited children so they do not linger as zombies."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def write_json(path: Path, document: dict[str, Any]) -> None:
    """Write a JSON file whole or not at all."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(document, indent=1, ensure_ascii=False), encoding="utf-8")
    temporary.replace(path)


if __name__ == "__main__":
    sys.exit(main())
