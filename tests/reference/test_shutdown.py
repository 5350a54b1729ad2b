"""SIGTERM and SIGINT: finish what is in flight, close idle connections, exit 0, promptly.

The grace for in-flight responses is five seconds; the bounds below are
shorter on purpose, so that a server which merely waits the grace out — instead
of closing idle connections at once and closing a connection as soon as its
last response is sent — fails.
"""

from __future__ import annotations

import os
import signal

import pytest

EXIT_BOUND = 3.0


def send_stop(server, number: int) -> None:
    """SIGTERM to the server alone, as a supervisor sends it; SIGINT to its group, as Ctrl-C."""
    if number == signal.SIGINT:
        os.killpg(server.pid, signal.SIGINT)
    else:
        server.send_signal(number)


def assert_exited_cleanly(server) -> None:
    """The server exits 0 within the bound and logged nothing."""
    status = server.wait(EXIT_BOUND)
    assert status == 0, f"exit status {status} (None: still running) {server.stderr()}"
    assert server.stderr() == ""


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_idle_keep_alive_connection_does_not_delay_exit(start_server, backend, number):
    """An idle keep-alive connection is closed at once and the server exits 0."""
    server = start_server(backend)
    with server.connect() as connection:
        assert connection.exchange(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").status == 200
        send_stop(server, number)
        assert connection.read_until_closed(EXIT_BOUND) == b""
    assert_exited_cleanly(server)


def start_slow_download(server):
    """A connection receiving big.bin, started but far from finished."""
    connection = server.connect(receive_buffer=65536)
    connection.send(b"GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n")
    assert not connection.is_silent(EXIT_BOUND), "the response never started"
    return connection


def test_in_flight_response_completes(start_server, docroot, backend):
    """A response being sent when SIGTERM arrives is finished, then the server exits 0."""
    server = start_server(backend)
    with start_slow_download(server) as connection:
        server.send_signal(signal.SIGTERM)
        response = connection.read_response()
        assert response.body == docroot.read("big.bin")
        assert connection.read_until_closed(EXIT_BOUND) == b"", "kept open after shutdown"
    assert_exited_cleanly(server)
