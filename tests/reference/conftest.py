"""Run the reference server as a real subprocess and talk to it over loopback sockets.

Every test here sees the server as a client would: it starts
``python -m reference`` on a free port, waits for the ``listening on`` line,
and speaks raw bytes (parsed back with h11 as a client) or ``requests``.
Fixtures hand out :class:`ServerProcess` and :class:`RawConnection` objects,
so test modules need nothing from this file but fixture names.

The shared ``server`` fixture starts one instance per backend for the whole
session; the parametrisation is session-scoped, so pytest runs every test of
one backend before starting the next, and test ids carry the backend name
(``-k epoll``). Tests that stop, signal or time out a server start their own
with ``start_server`` (stopped after the test) or ``launch_server`` (for
module fixtures that stop it themselves).
"""

from __future__ import annotations

import contextlib
import os
import random
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import h11
import pytest
import requests

from reference.backends import BACKENDS

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
IO_TIMEOUT = 5.0
CANARY_TEXT = b"h1check-canary: this file lies outside the document root"
BIG_FILE_SIZE = 8 * 1024 * 1024


@dataclass(frozen=True)
class DocRoot:
    """A copy of ``html/`` plus the files the tests need around it."""

    root: Path
    canary: Path

    def read(self, name: str) -> bytes:
        """The bytes of a file under the root."""
        return (self.root / name).read_bytes()


@dataclass
class RawResponse:
    """One response as h11 parsed it."""

    status: int
    http_version: bytes
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        """The value of the only field called ``name`` (case-insensitive), or None."""
        values = [value for field, value in self.headers if field == name.lower()]
        assert len(values) <= 1, f"{name} appears {len(values)} times: {values}"
        return values[0] if values else None


class RawConnection:
    """A client socket that sends exact bytes and reads responses with h11."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._parser = h11.Connection(h11.CLIENT)

    def __enter__(self) -> RawConnection:
        return self

    def __exit__(self, *_: object) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        """Write all of ``data``."""
        self.sock.sendall(data)

    def read_response(self, method: str = "GET", timeout: float = IO_TIMEOUT) -> RawResponse:
        """Read one complete response to a request made with ``method``."""
        self.sock.settimeout(timeout)
        if self._parser.states == {h11.CLIENT: h11.DONE, h11.SERVER: h11.DONE}:
            self._parser.start_next_cycle()
        # h11 frames a response by the request it answers, so tell it what we asked.
        self._parser.send(h11.Request(method=method, target="/", headers=[("Host", "x")]))
        self._parser.send(h11.EndOfMessage())
        head, body = None, bytearray()
        while True:
            event = self._parser.next_event()
            if event is h11.NEED_DATA:
                self._parser.receive_data(self.sock.recv(65536))
            elif isinstance(event, h11.Response):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
            else:
                raise AssertionError(f"unexpected event {event!r}")
        headers = [(name.decode(), value.decode("latin-1")) for name, value in head.headers]
        return RawResponse(head.status_code, head.http_version, headers, bytes(body))

    def exchange(self, request: bytes, method: str = "GET") -> RawResponse:
        """Send one request and read its response."""
        self.send(request)
        return self.read_response(method)

    def read_until_closed(self, timeout: float = IO_TIMEOUT) -> bytes:
        """Every byte the server sends before it closes; fails if it stays open."""
        leftover, closed = self._parser.trailing_data
        data = bytearray(leftover)
        deadline = time.monotonic() + timeout
        while not closed:
            self.sock.settimeout(max(deadline - time.monotonic(), 0.001))
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                raise AssertionError(f"server kept the connection open for {timeout}s") from None
            except ConnectionResetError:
                raise AssertionError("server reset the connection instead of closing") from None
            closed = not chunk
            data += chunk
        return bytes(data)

    def is_silent(self, seconds: float) -> bool:
        """True when nothing (not even end of stream) arrives within ``seconds``."""
        readable, _, _ = select.select([self.sock], [], [], seconds)
        return not readable

    def reset(self) -> None:
        """Abort the connection: SO_LINGER 0 makes close() send RST instead of FIN."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


class ServerProcess:
    """``python -m reference`` running in its own process group."""

    def __init__(self, backend: str, root: Path, arguments: list[str], log_path: Path) -> None:
        self.backend = backend
        self.log_path = log_path
        command = [sys.executable, "-m", "reference", "--backend", backend, "--port", "0"]
        command += ["--root", str(root), *arguments]
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,
            )
        try:
            self.port = self._await_listening()
        except BaseException:
            self.kill()
            raise

    @property
    def pid(self) -> int:
        """The server's process id (the parent, for forking backends)."""
        return self.process.pid

    def _await_listening(self) -> int:
        """Read stdout, with a deadline, until the ``listening on`` line names the port."""
        output = b""
        deadline = time.monotonic() + STARTUP_TIMEOUT
        stdout = self.process.stdout.fileno()
        while b"\n" not in output:
            left = deadline - time.monotonic()
            readable, _, _ = select.select([stdout], [], [], max(left, 0))
            chunk = os.read(stdout, 4096) if readable else b""
            if not chunk:
                raise RuntimeError(f"{self.backend} did not start: {output!r} {self.stderr()}")
            output += chunk
        line = output.split(b"\n")[0].decode()
        assert line.startswith("listening on http://127.0.0.1:"), line
        return int(line.rsplit(":", 1)[1])

    def stderr(self) -> str:
        """Everything the server has logged so far."""
        return self.log_path.read_text(errors="replace")

    def url(self, path: str) -> str:
        """The http URL of ``path`` on this server."""
        return f"http://127.0.0.1:{self.port}{path}"

    def connect(self, receive_buffer: int | None = None) -> RawConnection:
        """A fresh client connection; a small ``receive_buffer`` makes a slow reader."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer is not None:
            # Must be set before connect: the window scale is fixed by the handshake.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(IO_TIMEOUT)
        sock.connect(("127.0.0.1", self.port))
        return RawConnection(sock)

    def request(self, raw: bytes, method: str = "GET") -> RawResponse:
        """Send ``raw`` on a fresh connection and read one response."""
        with self.connect() as connection:
            return connection.exchange(raw, method)

    def fetch(
        self, path: str, method: str = "GET", headers: dict[str, str] | None = None
    ) -> requests.Response:
        """One request through ``requests``, on a connection of its own that then closes.

        ``Connection: close`` because requests keeps a finished keep-alive
        connection open for as long as the response object lives, and the
        serial backend would serve nobody else meanwhile. Keep-alive itself
        is tested with raw sockets.
        """
        with requests.Session() as session:
            session.trust_env = False  # a proxy from the environment must not intercept loopback
            return session.request(
                method,
                self.url(path),
                headers={"Connection": "close", **(headers or {})},
                timeout=IO_TIMEOUT,
                allow_redirects=False,
            )

    def send_signal(self, number: int) -> None:
        """Signal the server's main process only, as a supervisor would."""
        self.process.send_signal(number)

    def wait(self, timeout: float) -> int | None:
        """The exit status once the server exits within ``timeout``, else None."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL to the whole group if it lingers; the SIGTERM exit status."""
        if self.process.poll() is None:
            self.send_signal(signal.SIGTERM)
        status = self.wait(STOP_TIMEOUT)
        self.kill()
        return status

    def kill(self) -> None:
        """SIGKILL whatever is left of the process group, and reap the leader."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(STOP_TIMEOUT)
        self.process.stdout.close()

    def stop_cleanly(self) -> None:
        """Stop the server and fail unless it exited 0 without logging anything."""
        status = self.stop()
        assert status == 0, f"{self.backend} exited with {status}: {self.stderr()}"
        assert self.stderr() == "", f"{self.backend} logged:\n{self.stderr()}"


class Launcher:
    """Starts servers with their stderr logged to numbered files; the caller stops them."""

    def __init__(self, docroot: DocRoot, log_dir: Path) -> None:
        self._docroot = docroot
        self._log_dir = log_dir
        self._count = 0

    def __call__(self, backend: str, *arguments: str) -> ServerProcess:
        """A new server for ``backend`` with extra command-line ``arguments``."""
        self._count += 1
        log_path = self._log_dir / f"{backend}-{self._count}.log"
        return ServerProcess(backend, self._docroot.root, list(arguments), log_path)


def _write_docroot(base: Path) -> DocRoot:
    """Copy ``html/`` under ``base/root`` and add the traversal targets and a big file."""
    root = base / "root"
    shutil.copytree(REPO_ROOT / "html", root)
    canary = base / "canary.txt"
    canary.write_bytes(CANARY_TEXT)
    (root / "escape").symlink_to(base, target_is_directory=True)
    (root / "canary-link.txt").symlink_to(canary)
    (root / "inside-link.txt").symlink_to("utf8.txt")
    # Larger than any socket buffer, so a response to a slow reader stays in flight.
    (root / "big.bin").write_bytes(random.Random(2).randbytes(BIG_FILE_SIZE))
    return DocRoot(root, canary)


@pytest.fixture(scope="session")
def docroot(tmp_path_factory: pytest.TempPathFactory) -> DocRoot:
    """The document root every server in the session serves."""
    return _write_docroot(tmp_path_factory.mktemp("site"))


@pytest.fixture(scope="session", params=list(BACKENDS))
def backend(request: pytest.FixtureRequest) -> str:
    """Each registered backend name in turn."""
    return request.param


@pytest.fixture(scope="session")
def launch_server(docroot: DocRoot, tmp_path_factory: pytest.TempPathFactory) -> Launcher:
    """Start a server the caller owns (for module-scoped fixtures with their own teardown)."""
    return Launcher(docroot, tmp_path_factory.mktemp("server-logs"))


@pytest.fixture(scope="session")
def server(backend: str, launch_server: Launcher) -> Iterator[ServerProcess]:
    """One server per backend, shared by every test that leaves it running and healthy."""
    running = launch_server(backend)
    try:
        yield running
    finally:
        running.stop_cleanly()


@pytest.fixture
def start_server(launch_server: Launcher) -> Iterator[Callable[..., ServerProcess]]:
    """Start servers owned by one test: each is stopped, however the test ends."""
    started: list[ServerProcess] = []

    def start(backend: str, *arguments: str) -> ServerProcess:
        started.append(launch_server(backend, *arguments))
        return started[-1]

    try:
        yield start
    finally:
        for running in started:
            running.stop()
