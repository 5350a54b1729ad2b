"""Interpreter instructions per keep-alive request, counted by callgrind: a number that does not
depend on how busy the machine is.

Requests per second move by 10% from one run to the next on a shared machine, which hides the
effect of any one change to the hot path. Counting the instructions the interpreter executes per
request does not: it is the same on every run, so a change that saves 5% shows as 5%. Each stage
is run twice under ``valgrind --tool=callgrind``, with no requests and with N, and the difference
is divided by N, so start-up costs cancel out. Stages:

``core``
    ``Connection.data_received`` and ``output_drained`` for one GET, in memory: the parser, the
    static answer and serialisation.
``epoll``
    The epoll backend in a thread, serving one loopback connection that a client in the main
    thread drives request by request. The client's own instructions are included, and are small.
``close``
    The same with a new connection for each request, which asks to close: accepting, setting
    up and closing a connection included.

Kernel work (the system calls themselves) is not counted: callgrind sees user space only.
A benchmark, not a test: it prints numbers and asserts nothing about them. Needs valgrind
(``apt-get install valgrind``). Run from a checkout: ``python benchmarks/request_cost.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "html")
REQUEST = b"GET /index.html HTTP/1.1\r\nHost: localhost:7890\r\nUser-Agent: wrk\r\n\r\n"


def run_core(count: int) -> None:
    """The protocol core alone, in memory."""
    from reference.core import Connection
    from reference.limits import Limits

    connection = Connection(os.path.realpath(ROOT), Limits(), time.monotonic())
    for _ in range(count + 1):  # One more, so the first request's caching is never counted.
        now = time.monotonic()
        connection.data_received(REQUEST, now)
        connection.output_drained(now)


@contextlib.contextmanager
def epoll_server() -> Iterator[tuple[str, int]]:
    """The epoll backend serving html/ in a thread, on a free loopback port, until the end."""
    from reference.backends.epoll import EpollBackend
    from reference.site import Site

    site = Site(os.path.realpath(ROOT))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    server = threading.Thread(target=EpollBackend(listener, site).serve)
    server.start()
    try:
        yield listener.getsockname()
    finally:
        site.stop_signal.set()
        server.join(timeout=10)
        listener.close()


def run_epoll(count: int) -> None:
    """The epoll backend over loopback, one request at a time."""
    expected = os.path.getsize(os.path.join(ROOT, "index.html"))
    with epoll_server() as address, socket.create_connection(address, timeout=10) as client:
        for _ in range(count + 1):
            client.sendall(REQUEST)
            received = b""
            while b"\r\n\r\n" not in received or len(received.partition(b"\r\n\r\n")[2]) < expected:
                chunk = client.recv(65536)
                if not chunk:
                    raise ConnectionError("the server closed the connection")
                received += chunk


def run_epoll_close(count: int) -> None:
    """The epoll backend over loopback, a new connection per request (Connection: close)."""
    request = REQUEST.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")
    with epoll_server() as address:
        for _ in range(count + 1):
            # Not create_connection: its name lookup would cost more than the server's work.
            with socket.socket() as client:
                client.settimeout(10)
                client.connect(address)
                client.sendall(request)
                while client.recv(65536):
                    pass


STAGES = {"core": run_core, "epoll": run_epoll, "close": run_epoll_close}


def instructions(stage: str, count: int) -> int:
    """Instructions callgrind counts for a whole run of `stage` with `count` requests."""
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        __file__,
        "--stage",
        stage,
        "--count",
        str(count),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=True)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise RuntimeError(f"callgrind printed no total:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def main() -> int:
    """Print instructions per request for each stage; exit 2 without valgrind."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per measured run")
    parser.add_argument("--stage", choices=list(STAGES), help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.stage:  # One run, under valgrind.
        STAGES[arguments.stage](arguments.count)
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    print(f"interpreter instructions per request (callgrind, {arguments.requests} requests)")
    for stage in STAGES:
        empty = instructions(stage, 0)
        full = instructions(stage, arguments.requests)
        print(f"  {stage:<6} {(full - empty) / arguments.requests:>10,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
