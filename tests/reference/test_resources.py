"""Nothing accumulates: no file descriptor per connection, no zombie per forked child.

A leak of one descriptor per aborted connection goes unnoticed in a quick
manual test and takes a server down after a few thousand clients, so these
tests make a few hundred connections of every kind and compare the server's
/proc entries before and after. Each test has a server of its own, since any
other client would change the counts.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from reference.backends.process import MAX_SPARE

SETTLE_TIMEOUT = 5.0
POLL_INTERVAL = 0.05


def normal(server) -> None:
    """A keep-alive request, then the client closes."""
    with server.connect() as connection:
        connection.exchange(b"GET /style.css HTTP/1.1\r\nHost: a\r\n\r\n")


def closing(server) -> None:
    """A request with Connection: close, read to the server's close."""
    with server.connect() as connection:
        connection.exchange(b"GET /index.html HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        connection.read_until_closed()


def reset_mid_body(server) -> None:
    """A reset while large.bin is being sent."""
    connection = server.connect(receive_buffer=4096)
    connection.send(b"GET /large.bin HTTP/1.1\r\nHost: a\r\n\r\n")
    connection.sock.recv(1024)
    connection.reset()


def half_request(server) -> None:
    """Half a request head, then the client closes."""
    with server.connect() as connection:
        connection.send(b"GET /index.html HTTP/1.1\r\nHo")


def silent(server) -> None:
    """Connect and close without a byte."""
    server.connect().sock.close()


KINDS = [normal, closing, reset_mid_body, half_request, silent]


def make_connections(server, count: int) -> None:
    """``count`` connections cycling through every kind, then one complete exchange.

    The final exchange is what makes the counts meaningful: a client that
    closes at once may return before the server has even accepted it, but
    connections are accepted in order, so once the last one is answered every
    earlier one has been accepted (and, for ``process``, forked).
    """
    for number in range(count):
        KINDS[number % len(KINDS)](server)
    closing(server)


def open_fds(pid: int) -> int:
    """How many file descriptors the process holds."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def settled_fd_count(pid: int, expected: int | None = None) -> int:
    """The descriptor count once three readings in a row agree (on ``expected``, if given).

    Agreement over several readings matters: a backend may still be finishing
    connections it has accepted, and the count can pass through the baseline.
    """
    readings = [open_fds(pid)]
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while time.monotonic() < deadline:
        last = readings[-3:]
        if len(last) == 3 and len(set(last)) == 1 and expected in (None, last[0]):
            break
        time.sleep(POLL_INTERVAL)
        readings.append(open_fds(pid))
    return readings[-1]


def test_no_descriptor_leak(start_server, backend):
    """Two hundred mixed connections later, the server holds as many descriptors as before."""
    server = start_server(backend)
    make_connections(server, len(KINDS))  # lets lazily created descriptors appear first
    before = settled_fd_count(server.pid)
    make_connections(server, 200)
    after = settled_fd_count(server.pid, expected=before)
    assert after == before, sorted(os.listdir(f"/proc/{server.pid}/fd"))
    server.stop_cleanly()


def child_states(pid: int) -> dict[int, str]:
    """Process id -> state letter (R, S, Z...) of every child of ``pid``."""
    states = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # the process ended while we looked
        # The command name may contain spaces and parentheses; fields follow the last ")".
        state, parent = text.rsplit(")", 1)[1].split()[:2]
        if int(parent) == pid:
            states[int(stat.parent.name)] = state
    return states


def test_process_backend_leaves_no_zombies(start_server):
    """Every child that ends is reaped, and the pool shrinks back to its spares once idle."""
    server = start_server("process")
    make_connections(server, 50)

    def settled() -> bool:
        states = child_states(server.pid)
        return "Z" not in states.values() and len(states) <= MAX_SPARE

    deadline = time.monotonic() + SETTLE_TIMEOUT
    while not settled() and time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL)
    assert settled(), f"children left behind (Z = zombie): {child_states(server.pid)}"
    server.stop_cleanly()
