"""Idle-connection capacity: how many idle keep-alive connections a server holds while still
answering a fresh request in under 100 ms, and the memory each one costs it.

Each idle connection first completes one GET, so it is one the server accepted and answered,
not one waiting in the kernel's backlog; then it says nothing. Connections are opened up to
each level in turn (1k, then 10k), a moment is left for the server to drop what it will not
keep, and then three things are read: how many are still open, how long a fresh connection
takes to get a small file (the median of a few), and what the server's process tree uses now
against before. A level is held when every connection is still open and the fresh request
took under 100 ms; the next level is tried only if this one was held.

Every wait is bounded, and opening stops early when connections keep failing or the machine
runs short of memory (a process per connection reaches 10k processes), so a server that cannot
hold a level fails it in seconds rather than taking the machine down.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import socket
import statistics
import struct
import time
from dataclasses import dataclass, field

import psutil

from bench.servers import RunningServer

#: The levels tried, in order.
IDLE_LEVELS = (1_000, 10_000)
#: A fresh request answered slower than this means the level is not held.
FRESH_LIMIT_MS = 100.0
FRESH_PROBES = 5
#: Handshakes and first requests in flight at once while opening.
OPENING_AT_ONCE = 20
#: Seconds one idle connection's first request may take, and one fresh request.
REQUEST_TIMEOUT_S = 5.0
#: Seconds given to the server to close what it will not keep, before counting.
SETTLE_S = 1.0
#: Seconds opening the connections of one level may take.
OPENING_BOUND_S = 60.0
#: Opening stops when the machine has less memory than this left.
MEMORY_RESERVE = 3 * 2**30
#: Descriptors beyond the largest level: the harness's own files, wrk, the fresh probes.
DESCRIPTOR_MARGIN = 1_000


@dataclass(frozen=True)
class LevelResult:
    """What one level of idle connections showed."""

    level: int
    #: Connections still open after the settle time.
    held: int
    #: Median time for a fresh request, in ms (None when none was answered).
    fresh_ms: float | None
    #: Bytes of server memory per held connection (None when none was held).
    memory_per_connection: float | None
    #: Why opening stopped short of the level ('' when it did not).
    stopped: str = ""

    @property
    def passed(self) -> bool:
        """Every connection held and a fresh request answered in time."""
        return (
            self.held >= self.level
            and self.fresh_ms is not None
            and (self.fresh_ms < FRESH_LIMIT_MS)
        )


@dataclass(frozen=True)
class IdleResult:
    """Every level tried against one server, in order."""

    levels: list[LevelResult] = field(default_factory=list)

    @property
    def capacity(self) -> int:
        """The highest level held (0 when none was)."""
        return max((result.level for result in self.levels if result.passed), default=0)

    @property
    def last(self) -> LevelResult | None:
        """The highest level tried."""
        return self.levels[-1] if self.levels else None


def raise_descriptor_limit(wanted: int) -> int:
    """Raise RLIMIT_NOFILE towards `wanted` (servers started later inherit it); the new soft
    limit. The hard limit is raised too where the process may (as root)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
            return wanted
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


def measure_idle(
    server: RunningServer, levels: tuple[int, ...] = IDLE_LEVELS, path: str = "/index.html"
) -> IdleResult:
    """Try each level in turn against `server` (stopping after the first not held)."""
    return asyncio.run(_IdleRun(server, path).run(levels))


class _IdleRun:
    def __init__(self, server: RunningServer, path: str) -> None:
        self.server = server
        self.request = f"GET {path} HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n\r\n".encode()
        self.open: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.failures = 0

    async def run(self, levels: tuple[int, ...]) -> IdleResult:
        results: list[LevelResult] = []
        try:
            self.fresh_request()
            baseline = self.server.memory()
            for level in levels:
                stopped = await self.open_up_to(level)
                await asyncio.sleep(SETTLE_S)
                self.open = [pair for pair in self.open if _still_open(*pair)]
                fresh = [self.fresh_request() for _ in range(FRESH_PROBES)]
                answered = [ms for ms in fresh if ms is not None]
                held = len(self.open)
                growth = self.server.memory() - baseline
                results.append(
                    LevelResult(
                        level=level,
                        held=held,
                        fresh_ms=statistics.median(answered) if answered else None,
                        memory_per_connection=growth / held if held else None,
                        stopped=stopped,
                    )
                )
                if not results[-1].passed:
                    break
        finally:
            for _, writer in self.open:
                _close_abortively(writer)
            self.open.clear()
            await asyncio.sleep(0)
        return IdleResult(results)

    def fresh_request(self) -> float | None:
        """Time one request on a new connection (blocking: the idle ones need no service)."""
        return fresh_request(self.server.host, self.server.port, self.request)

    async def open_up_to(self, level: int) -> str:
        """Open connections until `level` are open; why it stopped short ('' if it did not).

        OPENING_AT_ONCE are in flight at any moment, so one slow handshake (a SYN dropped by a
        short listen backlog is retried a second later) holds up only itself.
        """
        give_up = time.monotonic() + OPENING_BOUND_S
        allowed_failures = max(10, level // 100)
        opening: set[asyncio.Task[tuple[asyncio.StreamReader, asyncio.StreamWriter] | None]] = set()
        stopped = ""
        while True:
            stopped = stopped or self.reason_to_stop(give_up, allowed_failures)
            wanted = 0 if stopped else level - len(self.open) - len(opening)
            for _ in range(min(wanted, OPENING_AT_ONCE - len(opening))):
                opening.add(asyncio.create_task(self.open_one()))
            if not opening:
                return stopped
            done, opening = await asyncio.wait(opening, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if (pair := task.result()) is None:
                    self.failures += 1
                else:
                    self.open.append(pair)

    def reason_to_stop(self, give_up: float, allowed_failures: int) -> str:
        """Why opening must stop now ('' while it may go on)."""
        if time.monotonic() > give_up:
            return f"opening took over {OPENING_BOUND_S:g} s"
        if self.failures > allowed_failures:
            return f"{self.failures} connections failed"
        if psutil.virtual_memory().available < MEMORY_RESERVE:
            return "the machine ran short of memory"
        return ""

    async def open_one(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """A connection that completed one GET and is now idle, or None if that failed."""
        writer = None
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                reader, writer = await asyncio.open_connection(self.server.host, self.server.port)
                writer.write(self.request)
                head = await reader.readuntil(b"\r\n\r\n")
                await reader.readexactly(_content_length(head))
        except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError):
            if writer is not None:
                _close_abortively(writer)
            return None
        return reader, writer


def fresh_request(host: str, port: int, request: bytes) -> float | None:
    """Milliseconds from connecting to having a whole response, or None if none came in time."""
    started = time.perf_counter()
    try:
        with socket.create_connection((host, port), timeout=REQUEST_TIMEOUT_S) as sock:
            sock.sendall(request)
            received = b""
            while (end := received.find(b"\r\n\r\n")) < 0:
                received += _recv_some(sock)
            left = _content_length(received[: end + 4]) - (len(received) - end - 4)
            while left > 0:
                left -= len(_recv_some(sock))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except (OSError, ValueError):
        return None
    return (time.perf_counter() - started) * 1000


def _recv_some(sock: socket.socket) -> bytes:
    data = sock.recv(65536)
    if not data:
        raise ConnectionError("closed before the response was complete")
    return data


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    raise ValueError("response without Content-Length")


def _still_open(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    return not (reader.at_eof() or reader.exception() or writer.is_closing())


def _close_abortively(writer: asyncio.StreamWriter) -> None:
    # A reset rather than a FIN: tens of thousands of TIME_WAIT sockets would outlive the run.
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
