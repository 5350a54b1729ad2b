"""Clients that misbehave: disconnecting at any point, half-closing, stalling, dribbling.

None of them may crash the server, leak its socket, or make it log above
debug level (the shared server's teardown checks the exit status and that
stderr stayed empty). After each, an ordinary request must still succeed,
which on the serial backend also proves the server let go of the bad client.
The timeout tests use a server of their own with timeouts of a second or less.
"""

from __future__ import annotations

import os
import resource
import socket
import time
from pathlib import Path

import h11
import pytest
import requests

IDLE_TIMEOUT = 0.3
HEAD_TIMEOUT = 0.6
SEND_TIMEOUT = 0.6
SLACK = 3.0
ESTABLISHED = "01"
PARTIAL_HEAD = b"GET /style.css HTTP/1.1\r\nHost: local"


def assert_still_serving(server, docroot) -> None:
    """An ordinary request on a new connection gets the right file."""
    assert server.fetch("/style.css").content == docroot.read("style.css")


def test_connect_and_close_without_sending(server, docroot):
    """A client that connects and leaves at once costs nothing."""
    server.connect().sock.close()
    assert_still_serving(server, docroot)


def test_close_mid_request(server, docroot):
    """A client that closes halfway through a request head gets no response and no crash."""
    with server.connect() as connection:
        connection.send(PARTIAL_HEAD)
        connection.sock.shutdown(socket.SHUT_WR)
        assert connection.read_until_closed() == b""
    assert_still_serving(server, docroot)


def test_reset_mid_request(server, docroot):
    """A reset during the request head is survived."""
    connection = server.connect()
    connection.send(PARTIAL_HEAD)
    connection.reset()
    assert_still_serving(server, docroot)


@pytest.mark.parametrize("name", ["large.bin", "big.bin"])
def test_reset_mid_response_body(server, docroot, name):
    """A client that resets while a file is being sent (sendfile in flight) is dropped cleanly."""
    connection = server.connect(receive_buffer=4096)
    connection.send(f"GET /{name} HTTP/1.1\r\nHost: a\r\n\r\n".encode())
    assert connection.sock.recv(4096)
    connection.reset()
    assert_still_serving(server, docroot)


def test_half_close_after_request_still_gets_response(server, docroot):
    """SHUT_WR after a complete request means "no more requests", not "no response"."""
    with server.connect() as connection:
        connection.send(b"GET /style.css HTTP/1.1\r\nHost: a\r\n\r\n")
        connection.sock.shutdown(socket.SHUT_WR)
        assert connection.read_response().body == docroot.read("style.css")
        assert connection.read_until_closed() == b""


@pytest.fixture(scope="module")
def impatient_server(backend, launch_server):
    """A server with timeouts short enough to wait for."""
    running = launch_server(
        backend,
        f"--idle-timeout={IDLE_TIMEOUT}",
        f"--head-timeout={HEAD_TIMEOUT}",
        f"--send-timeout={SEND_TIMEOUT}",
    )
    try:
        yield running
    finally:
        running.stop_cleanly()


def test_idle_keep_alive_connection_is_closed(impatient_server):
    """After a response, a connection with no next request is closed after the idle timeout."""
    with impatient_server.connect() as connection:
        assert connection.exchange(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").status == 200
        started = time.monotonic()
        assert connection.read_until_closed(IDLE_TIMEOUT + SLACK) == b""
    assert time.monotonic() - started >= IDLE_TIMEOUT * 0.8, "closed before the idle timeout"


def test_silent_connection_is_closed(impatient_server):
    """A client that connects and never sends is closed after the idle timeout."""
    with impatient_server.connect() as connection:
        assert connection.read_until_closed(IDLE_TIMEOUT + SLACK) == b""


def read_timeout_verdict(connection, timeout: float) -> int | None:
    """The status the server answered a stalled request with, or None if it just closed."""
    try:
        response = connection.read_response(timeout=timeout)
    except h11.RemoteProtocolError:
        return None
    assert response.header("Connection") == "close"
    return response.status


def test_incomplete_head_times_out(impatient_server):
    """A head that stops arriving gets 408 (or a close) after the head timeout."""
    with impatient_server.connect() as connection:
        connection.send(PARTIAL_HEAD)
        assert read_timeout_verdict(connection, HEAD_TIMEOUT + SLACK) in (408, None)
        assert connection.read_until_closed() == b""


def test_slowloris_dribble_is_cut_off(impatient_server):
    """A head trickling in a byte at a time cannot hold the connection past the head timeout."""
    endless_head = b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X-Slow: " + b"z" * 10_000
    deadline = time.monotonic() + HEAD_TIMEOUT + SLACK
    with impatient_server.connect() as connection:
        for byte in endless_head:
            assert time.monotonic() < deadline, "server still reading the trickle"
            connection.send(bytes([byte]))
            # The wait paces the trickle and ends early once the server answers.
            if not connection.is_silent(0.05):
                break
        assert read_timeout_verdict(connection, SLACK) in (408, None)


def server_side_state(server_port: int, client_port: int) -> str | None:
    """The kernel's TCP state (hex, as in /proc/net/tcp) of the server's end of a connection."""
    local, remote = f":{server_port:04X}", f":{client_port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(local) and fields[2].endswith(remote):
            return fields[3]
    return None


def test_client_that_stops_reading_is_dropped(impatient_server):
    """A response nobody reads is abandoned after the send timeout, freeing the server."""
    connection = impatient_server.connect(receive_buffer=4096)
    with connection:
        connection.send(b"GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n")
        client_port = connection.sock.getsockname()[1]
        deadline = time.monotonic() + SEND_TIMEOUT + SLACK
        # The server's socket leaves ESTABLISHED once the server closes it, even
        # while unsent data keeps it alive in the kernel.
        while server_side_state(impatient_server.port, client_port) == ESTABLISHED:
            assert time.monotonic() < deadline, "server still holds a client that stopped reading"
            time.sleep(0.05)


def descriptors_open(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_running_out_of_descriptors_never_stops_the_server(backend, start_server, docroot):
    """A flood of idle clients can exhaust the server's descriptors; once they leave, it serves.

    accept() then fails with EMFILE over and over while the connection waits in the backlog:
    a server must neither die of it nor spin on it, and must take connections again once
    descriptors are free.
    """
    server = start_server(backend)
    assert_still_serving(server, docroot)  # Caches warm: serving needs no new descriptor.
    limit = descriptors_open(server.pid) + 1
    resource.prlimit(server.pid, resource.RLIMIT_NOFILE, (limit, limit))
    held = [server.connect() for _ in range(5)]
    if backend != "process":  # Its parent never accepts; its children were forked earlier.
        deadline = time.monotonic() + SLACK
        while descriptors_open(server.pid) < limit and time.monotonic() < deadline:
            time.sleep(0.01)
        assert descriptors_open(server.pid) >= limit, "the server never took a connection"
    for connection in held:
        connection.sock.close()
    deadline = time.monotonic() + SLACK
    while True:
        try:
            assert_still_serving(server, docroot)
            break
        except (OSError, requests.RequestException):
            if time.monotonic() > deadline:
                raise
    assert server.process.poll() is None
