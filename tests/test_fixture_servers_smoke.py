"""Every fixture server declares its expected failures in a known vocabulary, starts, and serves /.

The conformance run against these fixtures proves the suite judges right; this module only
proves the fixtures themselves are usable, so a broken fixture is not mistaken for a suite bug.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import h11
import pytest

from conformance.scenarios import CATEGORIES
from tests.fixture_servers import REPO, SERVERS, expected_failures

INDEX = (REPO / "html" / "index.html").read_bytes()
START_TIMEOUT = 5.0
RESPONSE_TIMEOUT = 5.0


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def is_listening(port: int) -> bool:
    """Whether /proc/net/tcp shows 127.0.0.1:port in LISTEN state, without touching the server."""
    local_address = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as table:
        rows = [line.split() for line in table.readlines()[1:]]
    return any(row[1] == local_address and row[3] == "0A" for row in rows)


@pytest.fixture
def start_server(tmp_path: Path):
    """Start a fixture in a directory holding ./html; yield its port; kill its process group."""
    shutil.copytree(REPO / "html", tmp_path / "html")
    (tmp_path / "canary.txt").write_text("canary: outside the document root\n")
    processes: list[subprocess.Popen] = []

    def start(script: Path) -> int:
        port = free_port()
        with open(tmp_path / "server.log", "wb") as log:
            process = subprocess.Popen(
                [sys.executable, str(script), str(port)],
                cwd=tmp_path,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        processes.append(process)
        deadline = time.monotonic() + START_TIMEOUT
        while not is_listening(port):
            output = (tmp_path / "server.log").read_text(errors="replace")
            assert process.poll() is None, f"{script.name} exited at startup:\n{output}"
            assert time.monotonic() < deadline, f"{script.name} never listened on {port}"
            time.sleep(0.02)
        return port

    yield start
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def get_root(port: int) -> tuple[int, bytes]:
    """Send one complete `GET /` with `Connection: close` and read the response through h11."""
    client = h11.Connection(h11.CLIENT)
    request = h11.Request(
        method="GET", target="/", headers=[("Host", "127.0.0.1"), ("Connection", "close")]
    )
    deadline = time.monotonic() + RESPONSE_TIMEOUT
    with socket.create_connection(("127.0.0.1", port), timeout=RESPONSE_TIMEOUT) as sock:
        sock.sendall(client.send(request) + client.send(h11.EndOfMessage()))
        status, body = 0, b""
        while True:
            event = client.next_event()
            if event is h11.NEED_DATA:
                assert time.monotonic() < deadline, "no complete response in time"
                client.receive_data(sock.recv(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                return status, body
            else:
                pytest.fail(f"connection ended before a complete response: {event!r}")


def test_there_are_enough_fixtures() -> None:
    broken = [script for script in SERVERS if expected_failures(script)]
    assert len(broken) >= 12
    assert expected_failures(REPO / "fixtures" / "servers" / "correct.py") == set()


@pytest.mark.parametrize("script", SERVERS, ids=lambda script: script.stem)
def test_declares_known_categories(script: Path) -> None:
    assert expected_failures(script) <= set(CATEGORIES)


@pytest.mark.parametrize("script", SERVERS, ids=lambda script: script.stem)
def test_starts_and_serves_the_index(script: Path, start_server) -> None:
    port = start_server(script)
    status, body = get_root(port)
    assert status == 200
    assert body == INDEX
