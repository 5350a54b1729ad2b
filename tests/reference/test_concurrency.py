"""One client must not hold up another: the point of every backend after the first.

Each test opens "blocking" clients — idle, half-way through a request, or
not reading a large response — then asks for a small file on another
connection and expects it within a second. The server here has 30-second
timeouts, so only real concurrency can meet that bound.

``serial`` serves one connection at a time by design (the course's first
server), so for it the same tests assert the documented limitation: nothing
arrives until the blocking client goes away, and then the request is served.
"""

from __future__ import annotations

import contextlib

import pytest

PATIENCE = "30"
DELAY_BOUND = 1.0
SMALL_REQUEST = b"GET /style.css HTTP/1.1\r\nHost: a\r\n\r\n"


@pytest.fixture(scope="module")
def patient_server(backend, launch_server):
    """A server whose timeouts are far longer than any bound the tests wait for."""
    running = launch_server(
        backend,
        f"--idle-timeout={PATIENCE}",
        f"--head-timeout={PATIENCE}",
        f"--send-timeout={PATIENCE}",
    )
    try:
        yield running
    finally:
        running.stop_cleanly()


def idle(server):
    """A connection that never sends anything."""
    return [server.connect()]


def many_idle(server):
    """Twenty connections that never send anything."""
    return [server.connect() for _ in range(20)]


def half_sent(server):
    """A connection that stops in the middle of its request head."""
    connection = server.connect()
    connection.send(b"GET /index.html HTTP/1.1\r\nHo")
    return [connection]


def not_reading(server):
    """A connection whose response the server has started but the client does not read."""
    connection = server.connect(receive_buffer=4096)
    connection.send(b"GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n")
    assert not connection.is_silent(DELAY_BOUND), "the big response never started"
    return [connection]


BLOCKERS = {
    "idle": idle,
    "many-idle": many_idle,
    "half-sent": half_sent,
    "not-reading": not_reading,
}


@pytest.mark.parametrize("open_blockers", BLOCKERS.values(), ids=BLOCKERS.keys())
def test_blocked_client_does_not_delay_another(patient_server, docroot, backend, open_blockers):
    """A second client's request is answered within a second while the first one blocks."""
    with contextlib.ExitStack() as stack:
        blockers = [stack.enter_context(c) for c in open_blockers(patient_server)]
        other = stack.enter_context(patient_server.connect())
        other.send(SMALL_REQUEST)
        if backend == "serial":
            assert other.is_silent(DELAY_BOUND), "serial answered while another client was open"
            for blocker in blockers:
                blocker.reset()
            response = other.read_response()
        else:
            response = other.read_response(timeout=DELAY_BOUND)
        assert response.body == docroot.read("style.css")


def test_interleaved_clients_are_all_served(patient_server, docroot, backend):
    """Ten clients that each ask before any reads all get their own, complete file."""
    if backend == "serial":
        pytest.skip("serial holds each keep-alive connection until it closes, by design")
    names = ["large.bin", "style.css", "utf8.txt", "index.html", "logo.png"] * 2
    with contextlib.ExitStack() as stack:
        clients = [stack.enter_context(patient_server.connect()) for _ in names]
        for client, name in zip(clients, names, strict=True):
            client.send(f"GET /{name} HTTP/1.1\r\nHost: a\r\n\r\n".encode())
        for client, name in reversed(list(zip(clients, names, strict=True))):
            assert client.read_response().body == docroot.read(name)
