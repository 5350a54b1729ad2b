"""Every fixture server declares its expected failures in a known vocabulary, starts, and serves /.

The conformance run against these fixtures proves the suite judges right; this module only
proves the fixtures themselves are usable, so a broken fixture is not mistaken for a suite bug.
"""

import socket
import sys
import time
from pathlib import Path

import h11
import pytest

from conformance.scenarios import CATEGORIES
from conformance.target import LaunchedTarget
from tests.fixture_servers import REPO, SERVERS, expected_failures

INDEX = (REPO / "html" / "index.html").read_bytes()
RESPONSE_TIMEOUT = 5.0


@pytest.fixture
def start_server():
    """Launch a fixture as the suite does (fresh dir with ./html, LISTEN seen); stop it after."""
    targets: list[LaunchedTarget] = []

    def start(script: Path) -> int:
        target = LaunchedTarget([sys.executable, str(script), "{port}"], start_timeout=5.0)
        targets.append(target)
        target.start()
        return target.port

    yield start
    for target in targets:
        target.stop()


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
    assert len(SERVING) >= len(SERVERS) - 1  # Only a server that cannot answer GET / is spared.
    assert expected_failures(REPO / "fixtures" / "servers" / "correct.py") == set()


@pytest.mark.parametrize("script", SERVERS, ids=lambda script: script.stem)
def test_declares_known_categories(script: Path) -> None:
    assert expected_failures(script) <= set(CATEGORIES)


SERVING = [script for script in SERVERS if "basic" not in expected_failures(script)]


@pytest.mark.parametrize("script", SERVING, ids=lambda script: script.stem)
def test_starts_and_serves_the_index(script: Path, start_server) -> None:
    port = start_server(script)
    status, body = get_root(port)
    assert status == 200
    assert body == INDEX
