"""Servers under test: one the suite launches, one already running, or the bundled reference.

A launched server is judged ready when the operating system reports a socket of its process
group in LISTEN state on the port (see conformance.ports) — never by connecting, because a bare
connect-and-close is itself a "closed client" scenario and course servers often die on it (an
IndexError on an empty request, an EBADF from epoll.unregister). Only a server someone else
started is probed with one complete GET /.

The command runs in a process group of its own, which the suite watches for the listening socket
and signals as a whole to stop the server: a shell wrapper or pre-forked workers are the server
as much as the process the suite started.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType

import conformance
from conformance.docroot import CANARY_NAME, CANARY_TEXT, source_docroot, write_docroot
from conformance.oracle import ClosedBeforeResponse, FramingError, ResponseReader, ResponseTimeout
from conformance.ports import (
    Listener,
    group_listeners,
    held_only_by_time_wait,
    listeners,
    pick_free_port,
    port_holder,
)

START_TIMEOUT_S = 10.0
STOP_GRACE_S = 2.0
PROBE_TIMEOUT_S = 2.0
OUTPUT_TAIL_LINES = 20
LOG_NAME = "server-output.log"
POLL_INTERVAL_S = 0.02
# Costly checks run once per this many polls (about twice a second).
POLLS_PER_SYSTEM_SCAN = 25

ADDRESS_IN_USE_MARKERS = ("address already in use", "eaddrinuse", "errno 98")


class TargetError(Exception):
    """The server under test could not be started or reached; the message is one line."""


class Target(ABC):
    """A server the suite talks to over loopback sockets."""

    host: str
    port: int
    description: str
    docroot: Path
    canary: Path | None
    restartable: bool = True

    @abstractmethod
    def start(self) -> None:
        """Make the server ready to accept requests, or raise TargetError."""

    @abstractmethod
    def is_running(self) -> bool:
        """Whether the server process is alive (always True for a server we did not start)."""

    @abstractmethod
    def restart(self) -> None:
        """Bring a dead server back for the next scenario, or raise TargetError."""

    @abstractmethod
    def stop(self) -> None:
        """Stop the server and release everything start() acquired."""

    @abstractmethod
    def crash_details(self) -> str:
        """Exit status and the tail of the server's output, for a crash report."""

    def __enter__(self) -> Target:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def output_tail(path: Path, lines: int = OUTPUT_TAIL_LINES) -> str:
    """The last `lines` lines of a server's output file ('' when there is none)."""
    try:
        with path.open("rb") as output:
            output.seek(0, os.SEEK_END)
            output.seek(max(0, output.tell() - 8192))
            text = output.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def exit_description(returncode: int) -> str:
    """Explain a process's exit status in words, naming the signal that killed it."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"killed by {name}"
    return f"exited with status {returncode}"


class LaunchedTarget(Target):
    """A server command the suite starts in a fresh directory and kills when done.

    The command runs with cwd holding `./html` (the suite's document root) and `./canary.txt`
    beside it; `{port}` and `{root}` in its arguments are substituted and PORT / DOCROOT set.
    Arguments naming a file in the caller's directory (`server.py`) are made absolute first.
    """

    def __init__(
        self,
        command: list[str],
        port: int | None = None,
        workdir: Path | None = None,
        *,
        env: dict[str, str] | None = None,
        start_timeout: float = START_TIMEOUT_S,
    ) -> None:
        if not command:
            raise TargetError("no server command given")
        self.command = [absolute_if_local_file(argument) for argument in command]
        self.host = "127.0.0.1"
        self.port = port if port is not None else 0
        self.description = " ".join(command)
        self.extra_env = dict(env or {})
        self.start_timeout = start_timeout
        self.requested_workdir = workdir
        self.workdir: Path | None = None
        self.owns_workdir = False
        self.docroot = Path()
        self.canary: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        """Where the server's stdout and stderr go."""
        assert self.workdir is not None, "start() creates the working directory"
        return self.workdir / LOG_NAME

    def start(self) -> None:
        """Prepare the working directory, check the port is free, launch, and wait for LISTEN."""
        if self.workdir is None:
            self.prepare_workdir()
        if self.port == 0:
            self.port = pick_free_port()
        try:
            self.launch()
        except TargetError:
            self.stop()
            raise

    def prepare_workdir(self) -> None:
        """Create the server's cwd holding ./html and the canary outside it."""
        if self.requested_workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="h1check-"))
            self.owns_workdir = True
        else:
            self.workdir = self.requested_workdir
            self.workdir.mkdir(parents=True, exist_ok=True)
        self.docroot, self.canary = write_docroot(self.workdir)

    def launch(self) -> None:
        """Start the command (the port must be free) and wait until it listens."""
        holder = port_holder(self.port)
        if holder is not None:
            raise TargetError(f"port {self.port} is already in use by {holder}")
        arguments = [self.substitute(argument) for argument in self.command]
        environment = {
            **os.environ,
            **self.extra_env,
            "PORT": str(self.port),
            "DOCROOT": str(self.docroot),
        }
        with self.log_path.open("wb") as log:
            try:
                self.process = subprocess.Popen(
                    arguments,
                    cwd=self.workdir,
                    env=environment,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except FileNotFoundError:
                raise TargetError(f"command not found: {arguments[0]}") from None
            except PermissionError:
                raise TargetError(f"command is not executable: {arguments[0]}") from None
        self.wait_until_listening()

    def substitute(self, argument: str) -> str:
        """Replace {port} and {root} in one argument."""
        return argument.replace("{port}", str(self.port)).replace("{root}", str(self.docroot))

    def wait_until_listening(self) -> None:
        """Poll the server's process group until it listens on the port, failing fast on exit."""
        assert self.process is not None
        deadline = time.monotonic() + self.start_timeout
        polls = 0
        while time.monotonic() < deadline:
            group_sockets = group_listeners(self.process.pid)
            if ready := [entry for entry in group_sockets if entry.port == self.port]:
                self.host = loopback_host(ready)
                return
            if self.process.poll() is not None:
                raise TargetError(self.early_exit_message())
            polls += 1
            if polls % POLLS_PER_SYSTEM_SCAN == 0:
                # A command such as `docker run` hands the port to a process outside its group.
                if ready := listeners(self.port):
                    self.host = loopback_host(ready)
                    return
                # Waiting a moment lets a server open an admin port before its own; one that
                # listens only elsewhere by then was given a hard-coded port.
                if group_sockets:
                    elsewhere = sorted({entry.port for entry in group_sockets})
                    raise TargetError(wrong_port_message(self.port, elsewhere))
            time.sleep(POLL_INTERVAL_S)
        raise TargetError(
            f"server did not listen on port {self.port} within {self.start_timeout:g} s"
        )

    def early_exit_message(self) -> str:
        """One line explaining why the server exited before it listened."""
        assert self.process is not None and self.process.returncode is not None
        tail = output_tail(self.log_path)
        if any(marker in tail.lower() for marker in ADDRESS_IN_USE_MARKERS):
            reason = address_in_use_reason(self.host, self.port)
            return f"server could not bind port {self.port}: EADDRINUSE ({reason})"
        last_line = tail.splitlines()[-1].strip() if tail else "no output"
        status = exit_description(self.process.returncode)
        return f"server {status} before listening on port {self.port}: {last_line}"

    def is_running(self) -> bool:
        """Whether the launched process is still alive."""
        return self.process is not None and self.process.poll() is None

    def restart(self) -> None:
        """Kill what is left of the server and launch it again on the same port."""
        assert self.process is not None, "only a started server is restarted"
        self.kill_process_group()
        # A killed child's listening socket closes a moment after the leader has been reaped.
        deadline = time.monotonic() + STOP_GRACE_S
        while time.monotonic() < deadline and any(
            entry.port == self.port for entry in group_listeners(self.process.pid)
        ):
            time.sleep(POLL_INTERVAL_S)
        try:
            self.launch()
        except TargetError:
            self.kill_process_group()
            raise

    def stop(self) -> None:
        """Kill the server's process group and remove the directory we created."""
        self.kill_process_group()
        if self.owns_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
            self.owns_workdir = False

    def kill_process_group(self) -> None:
        """SIGTERM the whole group, then SIGKILL whatever is left after a grace period."""
        if self.process is None:
            return
        group = self.process.pid
        signal_group(group, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=STOP_GRACE_S)
        # Children the server forked may outlive it, so the group dies even if its leader exited.
        signal_group(group, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=STOP_GRACE_S)

    def crash_details(self) -> str:
        """Exit status (or 'still running') followed by the tail of the server's output."""
        if self.process is None:
            return "server was never started"
        returncode = self.process.poll()
        status = "still running" if returncode is None else exit_description(returncode)
        tail = output_tail(self.log_path) if self.workdir is not None else ""
        return f"server {status}\n{tail}" if tail else f"server {status} (no output)"


def loopback_host(listening: list[Listener]) -> str:
    """The loopback address reaching `listening` sockets: IPv4 if any is IPv4, else IPv6."""
    return "127.0.0.1" if any(entry.family == socket.AF_INET for entry in listening) else "::1"


def address_in_use_reason(host: str, port: int) -> str:
    """Why a server could not bind `port`: who listens on it, or connections closing there."""
    holder = port_holder(port)
    if holder is not None:
        return f"{holder} listens on it"
    if held_only_by_time_wait(host, port):
        return "connections in TIME_WAIT hold it and the server does not set SO_REUSEADDR"
    return "another socket holds it"


def wrong_port_message(expected: int, elsewhere: list[int]) -> str:
    """One line telling the user the server listens on other ports than the one expected."""
    ports = ", ".join(map(str, elsewhere))
    return (
        f"server listens on port {ports}, not on {expected}:"
        f" pass --port {elsewhere[0]} or make it use {{port}} / $PORT"
    )


def absolute_if_local_file(argument: str) -> str:
    """Make an argument naming a file here absolute: `server.py` must still be found from the
    fresh directory the server runs in."""
    path = Path(argument)
    return str(path.resolve()) if not path.is_absolute() and path.is_file() else argument


def signal_group(group: int, signum: signal.Signals) -> None:
    """Send a signal to a process group that may already be gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signum)


class RunningTarget(Target):
    """A server someone else started; checked once with a complete GET / request."""

    restartable = False

    def __init__(
        self,
        host: str,
        port: int,
        docroot: Path | None = None,
        *,
        probe_timeout: float = PROBE_TIMEOUT_S,
    ) -> None:
        self.host = host
        self.port = port
        self.description = f"{host}:{port}"
        self.docroot = docroot if docroot is not None else source_docroot()
        planted = self.docroot.parent / CANARY_NAME
        self.canary = planted if planted_canary(planted) else None
        self.probe_timeout = probe_timeout

    def start(self) -> None:
        """Send one complete GET / and require the start of an answer."""
        try:
            probe = socket.create_connection((self.host, self.port), self.probe_timeout)
        except OSError as error:
            reason = error.strerror or str(error)
            raise TargetError(f"cannot connect to {self.description}: {reason}") from None
        with probe:
            reader = ResponseReader(probe)
            request = f"GET / HTTP/1.1\r\nHost: {self.description}\r\nConnection: close\r\n\r\n"
            try:
                probe.sendall(request.encode())
                reader.read_response("GET", time.monotonic() + self.probe_timeout)
            except (FramingError, ResponseTimeout) as failure:
                # Any answer at all shows the server is up; judging it is the scenarios' job.
                if not failure.received:
                    raise TargetError(
                        f"{self.description} did not answer GET / within {self.probe_timeout:g} s"
                    ) from None
            except ClosedBeforeResponse:
                raise TargetError(
                    f"{self.description} closed the connection without answering GET /"
                ) from None
            except OSError as error:
                reason = error.strerror or str(error)
                raise TargetError(f"{self.description} failed on GET /: {reason}") from None
            if reader.eof:
                # Closing abortively after the server's FIN spares its side the TIME_WAIT state.
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def is_running(self) -> bool:
        """Always True: the suite cannot see another process's life."""
        return True

    def restart(self) -> None:
        """Nothing to do: only whoever started the server can restart it."""

    def stop(self) -> None:
        """Nothing to do: the server belongs to whoever started it."""

    def crash_details(self) -> str:
        """No exit status or output is visible for a server the suite did not start."""
        return "external server: no exit status or output available"


def planted_canary(path: Path) -> bool:
    """Whether `path` is a canary file with the suite's known content."""
    try:
        return CANARY_TEXT in path.read_text(errors="replace")
    except OSError:
        return False


class ReferenceTarget(LaunchedTarget):
    """The bundled reference server running one concurrency backend."""

    def __init__(self, backend: str, port: int | None = None) -> None:
        command = [sys.executable, "-m", "reference", "--backend", backend]
        command += ["--port", "{port}", "--root", "{root}"]
        super().__init__(command, port, env=reference_env())
        self.backend = backend
        self.description = f"reference server ({backend} backend)"


def reference_env() -> dict[str, str]:
    """Environment that lets `python -m reference` import from a source checkout too."""
    checkout = Path(conformance.__file__).resolve().parent.parent
    if not (checkout / "reference").is_dir():
        return {}
    inherited = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(checkout), inherited]))}
