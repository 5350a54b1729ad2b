"""The command line: bad input gets one line of explanation, good input serves.

A student's first contact with the server is ``python -m reference``; a
mistyped backend or a busy port must say what is wrong in one line, not in a
traceback.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
RUN_TIMEOUT = 30.0
# Makes ``import gevent`` fail as if gevent were not installed.
WITHOUT_GEVENT = (
    "import sys; sys.modules['gevent'] = None; "
    "from reference.__main__ import main; sys.exit(main(sys.argv[1:]))"
)


def run_server(
    arguments: list[str], program: list[str] | None = None
) -> subprocess.CompletedProcess:
    """Run the server command to completion (it should fail fast) and capture its output."""
    command = [sys.executable, *(program or ["-m", "reference"]), *arguments]
    return subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT
    )


def assert_one_line_error(result: subprocess.CompletedProcess, mentions: str) -> None:
    """A non-zero exit with a single ``error:`` line on stderr that names the problem."""
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:"), lines[0]
    assert mentions in lines[0], lines[0]
    assert "listening on" not in result.stdout


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port some other socket is listening on."""
    with socket.create_server(("127.0.0.1", 0)) as holder:
        yield holder.getsockname()[1]


def test_unknown_backend(docroot):
    """A backend name that is not registered lists the ones that are."""
    result = run_server(["--backend", "nosuch", "--port", "0", "--root", str(docroot.root)])
    assert_one_line_error(result, "epoll")


UNUSABLE_BACKENDS = {
    "missing-module": ("nosuch.module:Backend", "nosuch.module"),
    "not-a-backend": ("reference.files:StaticFile", "reference.files:StaticFile"),
    "module-without-class": ("reference.backends.epoll", "reference.backends.epoll"),
}


@pytest.mark.parametrize(("path", "mentions"), UNUSABLE_BACKENDS.values(), ids=UNUSABLE_BACKENDS)
def test_unusable_dotted_backend(docroot, path, mentions):
    """A module:Class path that cannot be imported, or is not a Backend, is refused."""
    result = run_server(["--backend", path, "--port", "0", "--root", str(docroot.root)])
    assert_one_line_error(result, mentions)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_port_in_use(docroot, busy_port, workers):
    """A port another program listens on is reported, with or without --workers."""
    arguments = ["--backend", "epoll", "--port", str(busy_port), "--workers", workers]
    result = run_server([*arguments, "--root", str(docroot.root)])
    assert_one_line_error(result, str(busy_port))


def test_missing_root(tmp_path):
    """A document root that does not exist is reported before anything starts."""
    result = run_server(["--port", "0", "--root", str(tmp_path / "missing")])
    assert_one_line_error(result, "missing")


def test_gevent_not_installed(docroot):
    """Choosing gevent without gevent installed says how to install it."""
    arguments = ["--backend", "gevent", "--port", "0", "--root", str(docroot.root)]
    result = run_server(arguments, program=["-c", WITHOUT_GEVENT])
    assert_one_line_error(result, "gevent")


def test_other_backends_do_not_import_gevent():
    """gevent is imported only when chosen: loading every other backend leaves it out."""
    probe = (
        "import sys; from reference.__main__ import main; "
        "from reference.backends import BACKENDS, load_backend; "
        "[load_backend(name) for name in BACKENDS if name != 'gevent']; "
        "print('gevent' in sys.modules)"
    )
    result = run_server([], program=["-c", probe])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_workers_refused_for_serial(docroot):
    """Prefork makes no sense for the one-connection-at-a-time server, so it is refused."""
    arguments = ["--backend", "serial", "--workers", "2", "--port", "0"]
    result = run_server([*arguments, "--root", str(docroot.root)])
    assert_one_line_error(result, "--workers")


def test_dotted_path_backend_serves(start_server, docroot):
    """A backend named module:Class is loaded without the registry and serves."""
    server = start_server("reference.backends.thread:ThreadBackend")
    assert server.fetch("/style.css").content == docroot.read("style.css")
    server.stop_cleanly()


def worker_pids(pid: int) -> list[str]:
    """The process ids of the direct children of ``pid``."""
    return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()


@pytest.mark.parametrize("backend", ["epoll", "asyncio", "gevent", "nonblocking"])
def test_prefork_workers_serve(start_server, docroot, backend):
    """--workers 2 runs two worker processes on one port; requests are served; SIGTERM ends all."""
    server = start_server(backend, "--workers", "2")
    assert len(worker_pids(server.pid)) == 2
    for _ in range(10):
        assert server.fetch("/style.css").content == docroot.read("style.css")
    server.stop_cleanly()
