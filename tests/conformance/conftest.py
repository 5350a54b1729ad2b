"""Small servers and targets for testing the engine: in-process threads, or a script subprocess.

The in-process server speaks just enough HTTP/1.1 to serve the suite's document root, with
switches that each introduce one defect a course server has, so a test can show the engine
turns that defect into the right verdict. The script target runs a server in its own process
so crashes are real exits with a status and output.
"""

from __future__ import annotations

import contextlib
import email.utils
import mimetypes
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conformance.docroot import write_docroot
from conformance.ports import listeners, pick_free_port
from conformance.scenarios import Scenario
from conformance.steps import parse_steps

Handler = Callable[[socket.socket, Path], None]


@dataclass
class Flaws:
    """One switch per defect; all off is a careful server."""

    no_length: bool = False
    close_unannounced: bool = False
    body_for_head: bool = False
    never_answer: bool = False
    unsafe_paths: bool = False


def read_head(conn: socket.socket, buffer: bytes) -> tuple[bytes, bytes] | None:
    """Read until a blank line; return (head, rest) or None when the client went away."""
    while b"\r\n\r\n" not in buffer:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    return head, rest


def respond(head: bytes, docroot: Path, flaws: Flaws) -> tuple[bytes, bool]:
    """Build the response to one request head; return (bytes, close afterwards)."""
    request_line, *lines = head.decode("latin-1").split("\r\n")
    method, target, version = request_line.split(" ")
    pairs = (line.partition(":") for line in lines)
    fields = {name.strip().lower(): value.strip() for name, _, value in pairs}
    close = fields.get("connection", "").lower() == "close" or version == "HTTP/1.0"
    path = urllib.parse.unquote(urllib.parse.urlsplit(target).path)
    file = docroot / path.lstrip("/").replace("\0", "?")
    if file.is_dir():
        file = file / "index.html"
    inside = flaws.unsafe_paths or file.resolve().is_relative_to(docroot.resolve())
    status, body, content_type, etag = "404 Not Found", b"not found\n", "text/plain", None
    if inside and file.is_file():
        status, body = "200 OK", file.read_bytes()
        content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        etag = f'"{len(body)}-{file.stat().st_mtime_ns}"'
    if etag is not None and fields.get("if-none-match") == etag:
        status, body = "304 Not Modified", b""
    close = close or flaws.close_unannounced
    head_lines = [f"HTTP/1.1 {status}", f"Date: {email.utils.formatdate(usegmt=True)}"]
    head_lines.append(f"Content-Type: {content_type}")
    if etag is not None:
        head_lines.append(f"ETag: {etag}")
    if not flaws.no_length and not status.startswith("304"):
        head_lines.append(f"Content-Length: {len(body)}")
    if close and not flaws.close_unannounced:
        head_lines.append("Connection: close")
    send_body = method != "HEAD" or flaws.body_for_head
    return ("\r\n".join(head_lines) + "\r\n\r\n").encode() + (body if send_body else b""), close


def http_handler(flaws: Flaws) -> Handler:
    """A per-connection HTTP/1.1 loop with the given flaws."""

    def handle(conn: socket.socket, docroot: Path) -> None:
        buffer = b""
        while True:
            parts = read_head(conn, buffer)
            if parts is None:
                return
            if flaws.never_answer:
                while conn.recv(65536):
                    pass  # Hold the connection open, answering nothing, until the client leaves.
                return
            head, buffer = parts
            data, close = respond(head, docroot, flaws)
            conn.sendall(data)
            if close:
                return

    return handle


class ThreadServer:
    """Serves connections on 127.0.0.1 with a thread each, until stopped."""

    def __init__(self, handler: Handler, docroot: Path) -> None:
        self.handler, self.docroot = handler, docroot
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.stopping = threading.Event()
        self.connections: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    def _accept_loop(self) -> None:
        while not self.stopping.is_set():
            ready, _, _ = select.select([self.listener], [], [], 0.05)
            if ready:
                conn, _ = self.listener.accept()
                self.connections.append(conn)
                threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            self.handler(conn, self.docroot)
        except OSError:
            pass  # A client of the suite went away; only this connection ends.
        finally:
            conn.close()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=2)
        self.listener.close()
        for conn in self.connections:
            conn.close()


class ThreadTarget:
    """A Target over a ThreadServer: always 'running', since it lives in this process, and like a
    server h1check did not start, it cannot be restarted."""

    restartable = False

    def __init__(self, server: ThreadServer, docroot: Path, canary: Path) -> None:
        self.host, self.port, self.description = "127.0.0.1", server.port, "in-process server"
        self.docroot, self.canary = docroot, canary

    def is_running(self) -> bool:
        return True

    def restart(self) -> None:
        raise AssertionError("an in-process server cannot be restarted")

    def crash_details(self) -> str:
        return "in-process server: no exit status"


class ScriptTarget:
    """A Target running a Python server script in its own process group."""

    restartable = True

    def __init__(self, script: str, workdir: Path, docroot: Path) -> None:
        self.path = workdir / "server.py"
        self.path.write_text(script)
        self.workdir, self.docroot, self.canary = workdir, docroot, None
        self.host, self.description = "127.0.0.1", "script server"
        self.port = pick_free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = workdir / "server.log"
        self.restarts = 0

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(self.path), str(self.port)],
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for_listen(self.port, self.process)

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def restart(self) -> None:
        self.restarts += 1
        self.stop()
        self.start()

    def stop(self) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)

    def crash_details(self) -> str:
        status = self.process.poll() if self.process else None
        return f"exit status {status}\n{self.log.read_text()[-400:]}"


def wait_for_listen(port: int, process: subprocess.Popen[bytes]) -> None:
    """Wait until the port listens (never connect: that is a client of its own)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and process.poll() is None:
        if listeners(port):
            return
        time.sleep(0.01)
    raise RuntimeError(f"test server on port {port} did not start")


def build_scenario(
    steps: list[dict], *, category: str = "basic", check: str | None = None
) -> Scenario:
    """A scenario built in a test, with placeholder metadata."""
    return Scenario(
        id=f"{category}.test",
        title="test scenario",
        category=category,
        level="MUST",
        rfc="RFC 9110 §9.3.1",
        requires="(test)",
        hint="(test)",
        steps=parse_steps(steps),
        check=check,
    )


@pytest.fixture
def make_scenario() -> Callable[..., Scenario]:
    """Build a scenario from step tables: make_scenario([{"send": ...}, ...], category=...)."""
    return build_scenario


@pytest.fixture
def docroot_dir(tmp_path: Path) -> tuple[Path, Path]:
    """A fresh copy of the suite's document root and its canary: (root, canary)."""
    return write_docroot(tmp_path)


@pytest.fixture
def thread_target(docroot_dir: tuple[Path, Path]) -> Iterator[Callable[..., ThreadTarget]]:
    """Start in-process servers, e.g. thread_target(no_length=True) or thread_target(handler=f);
    all are stopped afterwards."""
    servers: list[ThreadServer] = []
    root, canary = docroot_dir

    def start(handler: Handler | None = None, **flaws: bool) -> ThreadTarget:
        server = ThreadServer(handler or http_handler(Flaws(**flaws)), root)
        servers.append(server)
        return ThreadTarget(server, root, canary)

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def script_target(docroot_dir: tuple[Path, Path]) -> Iterator[Callable[[str], ScriptTarget]]:
    """Start script servers in their own process groups; all are killed afterwards."""
    targets: list[ScriptTarget] = []
    root, _ = docroot_dir

    def start(script: str) -> ScriptTarget:
        target = ScriptTarget(script, root.parent, root)
        targets.append(target)
        target.start()
        return target

    yield start
    for target in targets:
        target.stop()
