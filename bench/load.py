"""Load: wrk when it is installed, and a load generator of our own when it is not.

Both report a Measurement that includes how much of one core the client itself burned. That
is the honest part: a server can only be measured up to the speed of the client, and a client
near 100% of its core is the bottleneck, not the server. The report marks such numbers as lower
bounds. wrk (C, epoll) rarely gets there against a Python server; the Python generator below
does, at a few thousand requests per second per core, so with it the faster servers' numbers
are the generator's ceiling and their ratios say little.
"""

from __future__ import annotations

import asyncio
import re
import resource
import shutil
import subprocess
import time
from dataclasses import dataclass

#: A client above this share of one core is taken to be what limited the measurement.
CLIENT_BOUND_CPU = 0.9
#: wrk's own bound on one response; slower ones count as errors.
RESPONSE_TIMEOUT_S = 2.0
#: Seconds a load run may overrun its duration before it is killed.
OVERRUN_S = 15.0


class LoadError(Exception):
    """The load generator could not produce a measurement; the message is one line."""


@dataclass(frozen=True)
class Measurement:
    """What one load run saw."""

    requests: int
    seconds: float
    bytes_read: int
    #: Socket errors, timeouts and non-2xx/3xx responses.
    errors: int
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    #: Share of one core the client used: near 1.0, the client was the bottleneck.
    client_cpu: float
    tool: str
    #: CPU seconds (user + system) the server's process tree used during the run (bench.cpu);
    #: None where unknown: a server that died mid-run, or a run saved before this was recorded.
    server_cpu_s: float | None = None

    @property
    def requests_per_s(self) -> float:
        """Completed requests per second."""
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def mib_per_s(self) -> float:
        """MiB of responses (heads and bodies) read per second."""
        return self.bytes_read / self.seconds / 2**20 if self.seconds > 0 else 0.0

    @property
    def client_bound(self) -> bool:
        """Whether the client, not the server, probably set the pace."""
        return self.client_cpu >= CLIENT_BOUND_CPU


@dataclass(frozen=True)
class LoadSpec:
    """One load run: where, how many connections, for how long, with or without keep-alive."""

    host: str
    port: int
    path: str
    connections: int
    duration: float
    close: bool = False

    @property
    def url(self) -> str:
        """The URL wrk is given."""
        return f"http://{self.host}:{self.port}{self.path}"


def wrk_available() -> bool:
    """Whether wrk is on PATH."""
    return shutil.which("wrk") is not None


def run_wrk(spec: LoadSpec) -> Measurement:
    """Run wrk with one thread (the other core is the server's) and parse what it prints."""
    command = ["wrk", "-t1", f"-c{spec.connections}", f"-d{spec.duration:g}s", "--latency"]
    command += [f"--timeout={RESPONSE_TIMEOUT_S:g}s"]
    if spec.close:
        command += ["-H", "Connection: close"]
    command.append(spec.url)
    # wrk is the only child reaped while it runs, so the change in the children's rusage is its.
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=spec.duration + OVERRUN_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise LoadError(
            f"wrk ran past {spec.duration + OVERRUN_S:g} s: {' '.join(command)}"
        ) from None
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        reason = (done.stderr or done.stdout).strip().splitlines()
        raise LoadError(f"wrk exited with {done.returncode}: {reason[-1] if reason else ''}")
    return parse_wrk_output(done.stdout, client_cpu=cpu / wall if wall > 0 else 0.0)


_TIME_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_SIZE_UNITS = {"B": 1, "KB": 2**10, "MB": 2**20, "GB": 2**30, "TB": 2**40}
_TOTALS = re.compile(
    r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h), ([\d.]+)(B|KB|MB|GB|TB) read", re.MULTILINE
)
_SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_NON_SUCCESS = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_PERCENTILE = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)


def parse_wrk_output(output: str, *, client_cpu: float = 0.0) -> Measurement:
    """The Measurement in wrk's `--latency` report (LoadError if it has no totals line)."""
    totals = _TOTALS.search(output)
    if totals is None:
        raise LoadError(f"wrk printed no totals: {output.strip()[-200:]!r}")
    requests, seconds, seconds_unit, size, size_unit = totals.groups()
    socket_errors = _SOCKET_ERRORS.search(output)
    errors = sum(map(int, socket_errors.groups())) if socket_errors else 0
    if non_success := _NON_SUCCESS.search(output):
        errors += int(non_success.group(1))
    percentiles = {
        int(percent): float(value) * _TIME_UNITS[unit] * 1000
        for percent, value, unit in _PERCENTILE.findall(output)
    }
    return Measurement(
        requests=int(requests),
        seconds=float(seconds) * _TIME_UNITS[seconds_unit],
        bytes_read=round(float(size) * _SIZE_UNITS[size_unit]),
        errors=errors,
        latency_p50_ms=percentiles.get(50),
        latency_p99_ms=percentiles.get(99),
        client_cpu=client_cpu,
        tool="wrk",
    )


def run_python_load(spec: LoadSpec, *, requests: int | None = None) -> Measurement:
    """Drive `spec` with the built-in generator: for its duration, or until `requests` are done.

    With `requests`, the duration is only the bound on how long that may take.
    """
    started_cpu = time.process_time()
    started = time.perf_counter()
    run = _PythonLoad(spec, requests)
    try:
        asyncio.run(asyncio.wait_for(run.drive(), spec.duration + OVERRUN_S))
    except TimeoutError:
        raise LoadError(f"load generator ran past {spec.duration + OVERRUN_S:g} s") from None
    wall = time.perf_counter() - started
    latencies = sorted(run.latencies)
    return Measurement(
        requests=run.completed,
        seconds=run.finished - started if run.finished else wall,
        bytes_read=run.bytes_read,
        errors=run.errors,
        latency_p50_ms=_percentile(latencies, 0.50),
        latency_p99_ms=_percentile(latencies, 0.99),
        client_cpu=(time.process_time() - started_cpu) / wall if wall > 0 else 0.0,
        tool="python",
    )


def _percentile(ordered: list[float], share: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000


class _PythonLoad:
    """`spec.connections` clients, each sending one request at a time, as wrk does."""

    def __init__(self, spec: LoadSpec, limit: int | None) -> None:
        self.spec = spec
        self.limit = limit
        close = "Connection: close\r\n" if spec.close else ""
        head = f"GET {spec.path} HTTP/1.1\r\nHost: {spec.host}:{spec.port}\r\n{close}\r\n"
        self.request = head.encode("ascii")
        self.deadline = 0.0
        self.issued = 0
        self.completed = 0
        self.errors = 0
        self.bytes_read = 0
        self.latencies: list[float] = []
        self.finished = 0.0
        self.connections: set[_ResponseCounter] = set()

    def may_issue(self) -> bool:
        """Whether another request may start (the duration or the count is not yet spent)."""
        if self.limit is not None:
            return self.issued < self.limit and time.perf_counter() < self.deadline
        return time.perf_counter() < self.deadline

    async def drive(self) -> None:
        """Run every client until none may issue another request.

        Responses still outstanding a response timeout after that are abandoned, as wrk
        abandons them, so a stalled server cannot stretch the run.
        """
        timeout = self.spec.duration + (OVERRUN_S if self.limit is not None else 0)
        self.deadline = time.perf_counter() + timeout
        clients = [asyncio.create_task(self.client()) for _ in range(self.spec.connections)]
        _, stalled = await asyncio.wait(clients, timeout=timeout + RESPONSE_TIMEOUT_S)
        self.finished = time.perf_counter()
        self.errors += len(stalled)
        for connection in list(self.connections):
            connection.abandon()
        for client in stalled:
            client.cancel()
        await asyncio.gather(*stalled, return_exceptions=True)

    async def client(self) -> None:
        """One connection after another, sending requests while any may be issued."""
        loop = asyncio.get_running_loop()
        while self.may_issue():
            try:
                _, protocol = await loop.create_connection(
                    lambda: _ResponseCounter(self), self.spec.host, self.spec.port
                )
            except OSError:
                self.errors += 1
                await asyncio.sleep(0.01)
                continue
            await protocol.closed


class _ResponseCounter(asyncio.Protocol):
    """One connection: send a request, count its response's bytes, repeat; no copies kept."""

    def __init__(self, load: _PythonLoad) -> None:
        self.load = load
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.head = b""
        self.body_left: int | None = None
        self.sent_at = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.load.connections.add(self)
        self.send_next()

    def send_next(self) -> None:
        """Send one more request, or close when none may be issued."""
        assert self.transport is not None
        if not self.load.may_issue():
            self.transport.close()
            return
        self.load.issued += 1
        self.head, self.body_left = b"", None
        self.sent_at = time.perf_counter()
        self.transport.write(self.load.request)

    def data_received(self, data: bytes) -> None:
        self.load.bytes_read += len(data)
        if self.body_left is None:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            length = _content_length(self.head[:end])
            if length is None or not self.head.startswith((b"HTTP/1.1 2", b"HTTP/1.0 2")):
                self.fail()
                return
            data = self.head[end + 4 :]
            self.body_left = length
        self.body_left -= len(data)
        if self.body_left <= 0:
            self.response_complete()

    def response_complete(self) -> None:
        """Count the response, then go on on this connection or end it as asked."""
        self.load.completed += 1
        self.load.latencies.append(time.perf_counter() - self.sent_at)
        self.head, self.body_left = b"", None
        if self.load.spec.close:
            assert self.transport is not None
            self.transport.close()
        else:
            self.send_next()

    def fail(self) -> None:
        """Count an error and drop the connection; the client opens another."""
        self.load.errors += 1
        self.head, self.body_left = b"", None
        assert self.transport is not None
        self.transport.abort()

    def abandon(self) -> None:
        """Drop the connection without counting its outstanding response (the run is over)."""
        self.head, self.body_left = b"", None
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        # A connection ending mid-response is an error; between responses it is the server's
        # right (a keep-alive limit), and the client simply reconnects.
        if self.body_left is not None or self.head:
            self.load.errors += 1
        self.load.connections.discard(self)
        if not self.closed.done():
            self.closed.set_result(None)


def _content_length(head: bytes) -> int | None:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            try:
                return int(value.strip())
            except ValueError:
                return None
    return None
