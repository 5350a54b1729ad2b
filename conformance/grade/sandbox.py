"""One submission's whole check, server and suite together, in a sandbox of its own.

A student server can do anything: fork without end, allocate without end, loop before it binds,
bind another port, print megabytes, delete the files around it, or not parse at all. Each of
these must end in a verdict the student can act on, and none may take the grader down or leave
a process behind. So the check runs in layers, each recorded in `SandboxResult.layers`; a layer
the OS refuses is left out and named, with the reason, in `details["missing"]`:

1. `workdir`: a fresh directory holding a copy of the submission, the suite's `./html` and the
   canary. The original is never touched.
2. `env`: the server sees PATH, HOME (in the sandbox), LANG, PYTHONDONTWRITEBYTECODE, PORT and
   DOCROOT, and nothing else of the grader's environment.
3. `rlimits`: CPU seconds, address space, open files, file size and processes, set by
   `limits.py` on the server alone. Root is exempt from the process limit, so `cgroup-pids`
   (a pids cgroup with pids.max) and `nproc-guard` (the worker kills every process of the
   sandbox when they reach the limit) bound a fork bomb too.
4. `netns` and `pidns`: the worker (worker.py) and so the server run in network, PID and mount
   namespaces of their own (`unshare`): every submission may listen on the same hard-coded
   port while others are checked, and nothing leaves loopback. `readonly-fs`: the server sees
   every mount read-only but its own directory and HOME.
5. `session`: the worker runs in a session of its own and is killed as a whole at the end: as
   PID 1 of its namespace, its exit kills every descendant; without a PID namespace it is a
   `subreaper`, so even double-forked processes stay in the tree that is swept.
6. `wall-limit`: a check that takes longer than `wall_limit` seconds is killed: "timed-out".
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

from conformance.docroot import CANARY_NAME
from conformance.grade import SandboxResult, Submission
from conformance.grade import limits as limits_module
from conformance.grade.worker import REPORT_NAME, STATUS_NAME, kill_tree
from conformance.target import LOG_NAME, START_TIMEOUT_S, output_tail

MiB = 1 << 20
SYSTEM_PATH = ("/usr/local/bin", "/usr/bin", "/bin")
PROBE_TIMEOUT_S = 10.0
CGROUP_SWEEP_S = 5.0
# Files of the submission the sandbox provides itself: the suite's documents, never the student's.
RESERVED_NAMES = frozenset({"html", CANARY_NAME, LOG_NAME})


@dataclass(frozen=True)
class Limits:
    """What one student server may use; `start_s` is how long it may take to listen."""

    cpu_s: int = 60
    address_space: int = 1024 * MiB
    open_files: int = 256
    file_size: int = 64 * MiB
    processes: int = 64
    start_s: float = START_TIMEOUT_S

    def wrapper_options(self) -> list[str]:
        """The limits as options of `python -m conformance.grade.limits`."""
        # One word each: LaunchedTarget makes an argument naming a local file absolute.
        return [
            f"--cpu={self.cpu_s}",
            f"--as={self.address_space}",
            f"--nofile={self.open_files}",
            f"--fsize={self.file_size}",
            f"--nproc={self.processes}",
        ]


class Layers:
    """The sandbox layers in force, and why each missing one is missing."""

    def __init__(self) -> None:
        self.active: list[str] = []
        self.missing: dict[str, str] = {}

    def add(self, name: str, reason: str | None = None) -> bool:
        """Record `name` as active, or as missing for `reason`; return whether it is active."""
        if reason:
            self.missing[name] = reason
            return False
        if name not in self.active:
            self.active.append(name)
        return True


def run_sandboxed(
    submission: Submission,
    *,
    out_dir: Path,
    port: int | None,
    timeout: float,
    wall_limit: float,
    limits: Limits,
) -> SandboxResult:
    """Check one submission in a fresh sandbox; every way it can go wrong becomes a status."""
    if submission.command is None:
        message = submission.problem or "no entry file to start"
        return SandboxResult(submission.name, "no-entry", message)
    clock = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="h1check-sandbox-"))
    try:
        result = Sandbox(submission, scratch, out_dir, limits).run(port, timeout, wall_limit)
    except Exception as error:  # A bug of ours must cost one submission, not the whole class.
        result = SandboxResult(submission.name, "crashed-harness", f"the sandbox failed: {error!r}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return SandboxResult(**{**asdict(result), "wall_s": round(time.monotonic() - clock, 3)})


class Sandbox:
    """One submission's scratch directory, cgroup and worker, and their cleanup."""

    def __init__(
        self, submission: Submission, scratch: Path, out_dir: Path, limits: Limits
    ) -> None:
        self.submission = submission
        self.scratch = scratch
        self.out_dir = out_dir
        self.limits = limits
        # What the server may write: its directory (the copy) and its HOME, nothing else; not
        # even the directory above its own, where a careless `rm ../something` would land.
        self.app = scratch / "app"
        self.home = scratch / "home"
        self.layers = Layers()
        self.details: dict[str, Any] = {}

    def run(self, port: int | None, timeout: float, wall_limit: float) -> SandboxResult:
        """Prepare the sandbox, run the worker in it, and turn what it wrote into a result."""
        name = self.submission.name
        try:
            copy_submission(self.submission.path, self.app)
        except shutil.Error as error:
            failures = error.args[0]
            first = failures[0][2] if failures else "unknown error"
            message = f"cannot copy {len(failures)} files of the submission, first: {first}"
            return SandboxResult(name, "did-not-start", message)
        except OSError as error:
            return SandboxResult(name, "did-not-start", f"cannot copy the submission: {error}")
        self.home.mkdir()
        self.layers.add("workdir")
        self.layers.add("env")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for stale in (REPORT_NAME, STATUS_NAME):
            (self.out_dir / stale).unlink(missing_ok=True)
        prefix, why_not = namespace_prefix()
        self.layers.add("netns", why_not)
        self.layers.add("pidns", why_not)
        made = PidsCgroup.create(self.limits.processes)
        cgroup = made if isinstance(made, PidsCgroup) else None
        self.layers.add("cgroup-pids", made if isinstance(made, str) else None)
        try:
            job = self.write_job(port, timeout, prefix, cgroup)
            self.layers.add("rlimits")
            # Without a network namespace of their own, two servers cannot share a port.
            with port_lock(None if prefix else port):
                timed_out = self.run_worker(prefix, job, wall_limit)
        finally:
            if cgroup is not None:
                self.details["forks_refused"] = cgroup.forks_refused()
                cgroup.destroy()
        self.layers.add("session")
        self.layers.add("wall-limit")
        if timed_out:
            message = f"the check took longer than {wall_limit:g} s and was stopped"
            return self.result("timed-out", message, self.server_output())
        return self.read_status()

    def write_job(
        self, port: int | None, timeout: float, prefix: tuple[str, ...], cgroup: PidsCgroup | None
    ) -> Path:
        """Write the worker's job file; return its path."""
        assert self.submission.command is not None
        wrapper = [sys.executable, "-I", limits_module.__file__, *self.limits.wrapper_options()]
        if cgroup is not None:
            wrapper.append(f"--cgroup={cgroup.path}")
        read_only = read_only_refused(prefix)
        if self.layers.add("readonly-fs", read_only):
            wrapper += [f"--writable={self.app}", f"--writable={self.home}"]
        job = {
            "command": list(self.submission.command),
            "wrapper": [*wrapper, "--"],
            "port": port,
            "workdir": str(self.app),
            "env": server_environment(self.home),
            "out_dir": str(self.out_dir.resolve()),
            "timeout": timeout,
            "start_timeout": self.limits.start_s,
            "max_processes": self.limits.processes,
            "file_size": self.limits.file_size,
            "netns": bool(prefix),
        }
        path = self.scratch / "job.json"
        path.write_text(json.dumps(job, indent=1), encoding="utf-8")
        return path

    def run_worker(self, prefix: tuple[str, ...], job: Path, wall_limit: float) -> bool:
        """Run the worker until it exits or the wall limit passes; return whether it timed out."""
        command = [*prefix, sys.executable, "-m", "conformance.grade.worker", str(job)]
        with (self.scratch / "worker.log").open("wb") as log:
            worker = subprocess.Popen(
                command,
                cwd=self.scratch,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            worker.wait(timeout=wall_limit)
        except subprocess.TimeoutExpired:
            # Swept before it is reaped, so its pid cannot have passed to another process.
            sweep(worker.pid)
            worker.kill()
            worker.wait()
            return True
        # A worker that exited has taken its tree with it: its PID namespace died with it, or,
        # as a subreaper, it killed its tree itself. The cgroup catches anything else.
        self.details["worker_exit"] = worker.returncode
        return False

    def read_status(self) -> SandboxResult:
        """The result the worker wrote, or a harness crash naming what the worker said last."""
        try:
            status = json.loads((self.out_dir / STATUS_NAME).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            said = output_tail(self.scratch / "worker.log", lines=1) or "no output"
            return self.result("crashed-harness", f"the sandbox's worker wrote no status: {said}")
        for name in status.get("layers", []):
            self.layers.add(name)
        for name, reason in status.get("missing", {}).items():
            # The grader's reason (say, unshare refused) says more than the worker's finding.
            self.layers.active = [layer for layer in self.layers.active if layer != name]
            self.layers.missing.setdefault(name, reason)
        self.details.update(status.get("details", {}))
        report = None
        if status["status"] == "checked":
            report = json.loads((self.out_dir / REPORT_NAME).read_text(encoding="utf-8"))
        tail = status.get("output_tail", "")
        return self.result(status["status"], status["message"], tail, report)

    def result(
        self, status: str, message: str, tail: str = "", report: dict[str, Any] | None = None
    ) -> SandboxResult:
        """A SandboxResult carrying this sandbox's layers and details."""
        details = {**self.details, "missing": dict(self.layers.missing)}
        notes = list(details.get("notes", []))
        if refused := details.get("forks_refused", 0):
            limit = self.limits.processes
            # Said outright: a server that never reaps its children may have few live ones.
            notes.append(
                f"{refused} forks were refused at the limit of {limit} processes,"
                " counting threads and children never waited for"
            )
        if notes:
            message += f" ({'; '.join(notes)})"
            details["notes"] = notes
        return SandboxResult(
            self.submission.name,
            status,
            message,
            layers=tuple(self.layers.active),
            output_tail=tail,
            report=report,
            details=details,
        )

    def server_output(self) -> str:
        """The tail of what the server printed, when the worker could not hand it over."""
        return output_tail(self.app / LOG_NAME)


def copy_submission(source: Path, destination: Path) -> None:
    """Copy a submission's files, leaving out what the sandbox provides itself.

    Symbolic links are copied as links, never followed: a link to /etc/shadow in a submission
    must not become a copy of it. Pipes, sockets and devices are left out.
    """

    def reserved(directory: str, names: list[str]) -> list[str]:
        return (
            [name for name in names if name in RESERVED_NAMES] if directory == str(source) else []
        )

    def copy_regular(origin: str, target: str) -> None:
        if stat.S_ISREG(os.lstat(origin).st_mode):
            shutil.copy2(origin, target)

    shutil.copytree(source, destination, symlinks=True, ignore=reserved, copy_function=copy_regular)


def server_environment(home: Path) -> dict[str, str]:
    """The whole environment a student server sees (LaunchedTarget adds PORT and DOCROOT)."""
    # `python` in a run.sh means the interpreter running h1check, as for a .py entry.
    path = [str(Path(sys.executable).parent), *SYSTEM_PATH]
    return {
        "PATH": os.pathsep.join(dict.fromkeys(path)),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


@functools.cache
def namespace_prefix() -> tuple[tuple[str, ...], str]:
    """The unshare command giving a worker its own network, PID and mount namespaces (as PID 1),
    or no command and the reason why; tried once per grader."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return (), "unshare(1) is not installed"
    plain = (unshare, "--net", "--pid", "--fork", "--kill-child", "--mount-proc")
    # Unprivileged, namespaces come with a user namespace mapping us to its root.
    attempts = [plain] if os.geteuid() == 0 else [(unshare, "--map-root-user", *plain[1:]), plain]
    reason = ""
    for prefix in attempts:
        said = probe([*prefix, sys.executable, "-c", "pass"])
        if said is None:
            return prefix, ""
        reason = said
    return (), f"unshare was refused: {reason}"


@functools.cache
def read_only_refused(prefix: tuple[str, ...]) -> str:
    """Why limits.py cannot make the file system read-only inside `prefix` ('' when it can)."""
    with tempfile.TemporaryDirectory(prefix="h1check-probe-") as writable:
        wrapper = [sys.executable, "-I", limits_module.__file__, *Limits().wrapper_options()]
        said = probe([*prefix, *wrapper, f"--writable={writable}", "--", sys.executable, "-c", ""])
    return "" if said is None else said


def probe(command: list[str]) -> str | None:
    """Run a quick capability test: None when it succeeds, else its last line of output."""
    try:
        done = subprocess.run(command, capture_output=True, timeout=PROBE_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return str(error)
    if done.returncode == 0:
        return None
    lines = done.stderr.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else f"exit status {done.returncode}"


_port_locks: dict[int, threading.Lock] = {}
_port_locks_guard = threading.Lock()


@contextlib.contextmanager
def port_lock(port: int | None) -> Iterator[None]:
    """Hold `port` for one check at a time in this grader (None: nothing to hold)."""
    if port is None:
        yield
        return
    with _port_locks_guard:
        lock = _port_locks.setdefault(port, threading.Lock())
    with lock:
        yield


def sweep(pid: int) -> None:
    """Kill a worker, everything below it, and everything in the sessions they were in."""
    try:
        tree = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return
    sessions = set()
    for process in tree:
        with contextlib.suppress(OSError):
            sessions.add(os.getsid(process.pid))
    kill_tree(pid)
    # A setsid'd process the tree no longer shows still carries its session's id, unless it
    # started a session of its own after the snapshot; the subreaper and PID 1 catch those.
    sessions -= {0, os.getsid(0)}
    for process in psutil.process_iter():
        with contextlib.suppress(OSError, psutil.Error):
            if os.getsid(process.pid) in sessions:
                process.kill()


class PidsCgroup:
    """A pids cgroup of its own for one submission's server: pids.max caps what it forks."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(cls, limit: int) -> PidsCgroup | str:
        """A new pids cgroup allowing `limit` tasks, or why none could be made."""
        hierarchy = pids_hierarchy()
        if isinstance(hierarchy, str):
            return hierarchy
        path = hierarchy / f"h1check-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        try:
            path.mkdir()
            (path / "pids.max").write_text(f"{limit}\n")
        except OSError as error:
            with contextlib.suppress(OSError):
                path.rmdir()
            return f"cannot create a pids cgroup in {hierarchy}: {error.strerror}"
        return cls(path)

    def forks_refused(self) -> int:
        """How many forks pids.max refused."""
        with contextlib.suppress(OSError, ValueError):
            for line in (self.path / "pids.events").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "max":
                    return int(value)
        return 0

    def destroy(self) -> None:
        """Kill whatever is still in the cgroup, then remove it."""
        deadline = time.monotonic() + CGROUP_SWEEP_S
        while time.monotonic() < deadline:
            try:
                pids = [int(pid) for pid in (self.path / "cgroup.procs").read_text().split()]
            except (OSError, ValueError):
                break
            if not pids:
                with contextlib.suppress(OSError):
                    self.path.rmdir()
                    return
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.02)
        with contextlib.suppress(OSError):
            self.path.rmdir()


def pids_hierarchy() -> Path | str:
    """Where a pids cgroup can be created (cgroup v2 or v1), or why nowhere."""
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return "no /proc/self/mounts: cgroups are Linux only"
    for line in mounts:
        fields = line.split()
        if len(fields) < 4:
            continue
        mountpoint, kind, options = Path(fields[1]), fields[2], fields[3].split(",")
        if kind == "cgroup2" and v2_offers_pids(mountpoint):
            return mountpoint
        if kind == "cgroup" and "pids" in options and os.access(mountpoint, os.W_OK):
            return mountpoint
    return "no writable cgroup hierarchy with the pids controller"


def v2_offers_pids(root: Path) -> bool:
    """Whether children of a cgroup v2 root can be given pids.max (enabling it if needed)."""
    try:
        if "pids" not in (root / "cgroup.controllers").read_text().split():
            return False
        if "pids" not in (root / "cgroup.subtree_control").read_text().split():
            (root / "cgroup.subtree_control").write_text("+pids\n")
    except OSError:
        return False
    return True
