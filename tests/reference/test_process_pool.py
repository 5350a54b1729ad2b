"""The process backend's pool: forked ahead of time, grown on demand, trimmed, cleaned up.

Each test starts a process server of its own and looks at its children with
psutil: which child holds a connection, how many are idle, whether any
outlives the parent. The timeouts are long, so a connection is only ever
closed by the test or by a shutdown, and every wait is bounded by a deadline.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Callable

import psutil
import pytest

from reference.backends.process import MAX_SPARE, MIN_SPARE, TRIM_INTERVAL

PATIENCE = ("--idle-timeout=30", "--head-timeout=30", "--send-timeout=30")
HALF_REQUEST = b"GET /style.css HTTP/1.1\r\nHost: a\r\n"
SMALL_REQUEST = HALF_REQUEST + b"\r\n"
DEADLINE = 10.0
POLL_INTERVAL = 0.02


@pytest.fixture
def pool(start_server):
    """A process server with timeouts far longer than any test, stopped after the test."""
    return start_server("process", *PATIENCE)


def eventually(condition: Callable[[], object], what: str, timeout: float = DEADLINE):
    """Poll ``condition`` until it is true, and return its value; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        time.sleep(POLL_INTERVAL)
    return value


def children(server) -> list[psutil.Process]:
    """The server's child processes, zombies included."""
    return psutil.Process(server.pid).children()


def holders(server) -> dict[int, int]:
    """Client port -> pid of the child holding the server's end, for every accepted connection."""
    held = {}
    for child in children(server):
        with contextlib.suppress(psutil.NoSuchProcess):
            for connection in child.net_connections(kind="tcp"):
                if connection.raddr:
                    held[connection.raddr.port] = child.pid
    return held


def port(connection) -> int:
    """The client's end of ``connection``: how the server's side of it is found."""
    return connection.sock.getsockname()[1]


def test_more_slow_clients_than_spares_do_not_block_the_next(pool, docroot):
    """Three times as many half-sent requests as the most spares kept: a new client is served."""
    with contextlib.ExitStack() as stack:
        slow = [stack.enter_context(pool.connect()) for _ in range(3 * MAX_SPARE)]
        for connection in slow:
            connection.send(HALF_REQUEST)
        # The backlog is first in, first out: this one is accepted after every slow one.
        fresh = stack.enter_context(pool.connect())
        fresh.send(SMALL_REQUEST)
        assert fresh.read_response(timeout=DEADLINE).body == docroot.read("style.css")
        held = holders(pool)
        serving = {held.get(port(connection)) for connection in slow}
        assert None not in serving and len(serving) == len(slow), "not a process per connection"
        for connection in slow:
            connection.send(b"\r\n")
            assert connection.read_response().body == docroot.read("style.css")
    pool.stop_cleanly()


def test_children_serve_many_connections_each(pool, docroot):
    """Fifty Connection: close requests in a row are served by a handful of forked children."""
    servers = set()
    for _ in range(50):
        with pool.connect() as connection:
            connection.send(HALF_REQUEST)
            servers.add(eventually(lambda c=connection: holders(pool).get(port(c)), "accepted"))
            connection.send(b"Connection: close\r\n\r\n")
            assert connection.read_response().body == docroot.read("style.css")
            assert connection.read_until_closed() == b""
    assert pool.pid not in servers, "the parent served a connection itself"
    assert len(servers) <= MAX_SPARE, f"{len(servers)} children for 50 sequential connections"
    pool.stop_cleanly()


def test_idle_children_beyond_the_maximum_leave(pool):
    """After a burst, idle children are sent away until at most MAX_SPARE remain, never zombies."""
    burst = MAX_SPARE + 4
    with contextlib.ExitStack() as stack:
        held = [stack.enter_context(pool.connect()) for _ in range(burst)]
        for connection in held:
            connection.send(HALF_REQUEST)
        eventually(lambda: len(children(pool)) >= burst + MIN_SPARE, "spares beside the burst")
    trimming = (burst + MIN_SPARE - MAX_SPARE) * TRIM_INTERVAL
    eventually(lambda: len(children(pool)) <= MAX_SPARE, "trimmed", timeout=trimming + DEADLINE)
    states = [child.status() for child in children(pool)]
    assert psutil.STATUS_ZOMBIE not in states
    pool.stop_cleanly()


def test_killed_children_are_reaped_and_replaced(pool, docroot):
    """Every child killed at once: the parent reaps them and forks new ones that serve."""
    killed = eventually(lambda: len(children(pool)) >= MIN_SPARE and children(pool), "forked")
    for child in killed:
        child.send_signal(signal.SIGKILL)
    eventually(lambda: not {c.pid for c in killed} & {c.pid for c in children(pool)}, "reaped")
    assert pool.fetch("/style.css").content == docroot.read("style.css")
    pool.stop_cleanly()


def test_no_child_outlives_a_stopped_server(pool, docroot):
    """SIGTERM with an idle keep-alive connection and a stalled one: no child is left at exit.

    The stalled request keeps its child busy past the five-second grace, so the parent must
    kill that one as well as let the others leave.
    """
    with pool.connect() as busy, pool.connect() as idle:
        busy.send(HALF_REQUEST)
        assert idle.exchange(SMALL_REQUEST).body == docroot.read("style.css")
        forked = eventually(lambda: children(pool), "children forked")
        # The parent alone: a group kill by the fixture would hide a child it left behind.
        pool.send_signal(signal.SIGTERM)
        assert pool.wait(DEADLINE) == 0, pool.stderr()
    assert [child.pid for child in forked if child.is_running()] == []
    assert pool.stderr() == ""


def test_children_leave_when_the_parent_is_killed(pool):
    """A parent killed outright cannot reap or stop its children; idle ones leave by themselves."""
    forked = eventually(lambda: len(children(pool)) >= MIN_SPARE and children(pool), "forked")
    pool.send_signal(signal.SIGKILL)
    pool.wait(DEADLINE)

    def gone(child: psutil.Process) -> bool:
        try:
            return child.status() == psutil.STATUS_ZOMBIE  # exited, its new parent yet to reap
        except psutil.NoSuchProcess:
            return True

    eventually(lambda: all(map(gone, forked)), "orphaned children exited")
