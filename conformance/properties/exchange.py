"""One socket's conversation for the property layer: bytes written on a schedule, responses read
through h11, everything recorded with its time.

A property example is judged from what happened on its sockets, and a failure has to be replayed
on the reader's machine, so each write keeps the pause before it and each chunk received keeps
the moment it came. Every wait is bounded by the run's timeout, like a scenario's.

Each conversation ends with the server closing whenever that can be arranged: the requests ask
for it, or a closing `GET /` follows them. A course server that crashes when a client closes on
it is the closed-clients scenarios' concern; a property must not trip over it and be blamed.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from conformance.oracle import (
    ClosedBeforeResponse,
    FramingError,
    ReadResponse,
    ResponseReader,
    ResponseTimeout,
)
from conformance.settings import Settings
from conformance.transcript import Transcript

CLOSING_REQUEST = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"


class Ending(StrEnum):
    """How the conversation stopped, as far as the responses go."""

    ANSWERED = "answered"  # every response asked for arrived
    CLOSED = "closed"  # the server closed before a response began
    RESET = "reset"  # the server reset the connection before a response began
    TIMEOUT = "timeout"  # a response did not arrive (or complete) in time
    MALFORMED = "malformed"  # h11 could not parse what the server sent
    REFUSED = "refused"  # nothing accepted the connection


@dataclass(frozen=True)
class Write:
    """Bytes written in one call, after a pause."""

    data: bytes
    pause_s: float = 0.0


@dataclass(frozen=True)
class Turn:
    """Writes, then the responses they ask for (one method per request)."""

    writes: tuple[Write, ...]
    methods: tuple[str, ...]


@dataclass
class Exchange:
    """What one socket carried: the turns, the responses and how it ended."""

    turns: tuple[Turn, ...]
    responses: list[ReadResponse] = field(default_factory=list)
    ending: Ending = Ending.ANSWERED
    detail: str = ""
    closed_by_server: bool = False
    received: bytearray = field(default_factory=bytearray)
    events: list[tuple[float, str, bytes]] = field(default_factory=list)

    @property
    def announced_close(self) -> bool:
        """Whether the last response read says the connection ends after it."""
        return bool(self.responses) and self.responses[-1].announces_close

    @property
    def writes(self) -> tuple[Write, ...]:
        """Every write, in order."""
        return tuple(write for turn in self.turns for write in turn.writes)

    def transcript(self, name: str = "main") -> list[str]:
        """The conversation as report lines (`>` sent, `<` received, `*` events with times)."""
        record = Transcript()
        for moment, kind, data in self.events:
            if kind == ">":
                record.note(name, f"{moment * 1000:.0f} ms: sends {len(data)} bytes")
                record.sent(name, data)
            elif kind == "<":
                record.received(name, data)
            else:
                record.note(name, f"{moment * 1000:.0f} ms: {data.decode()}")
        return record.lines


Log = Callable[[str, bytes], None]


def converse(
    host: str,
    port: int,
    turns: tuple[Turn, ...],
    settings: Settings,
    *,
    await_close: bool,
    close_wait_s: float | None = None,
    may_close: bool = False,
) -> Exchange:
    """On a fresh connection, take each turn: write, then read one response per method.

    A response announcing that the connection ends stops the conversation there. With
    `await_close` the server must close once the last turn is answered (its last request asked
    it to); the exchange records whether it did within the timeout (or `close_wait_s`).
    """
    exchange = Exchange(turns)
    started = time.monotonic()

    def log(kind: str, data: bytes) -> None:
        exchange.events.append((time.monotonic() - started, kind, data))
        if kind == "<":
            exchange.received += data

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(settings.connect_timeout)
        try:
            sock.connect((host, port))
        except (ConnectionError, TimeoutError) as error:
            exchange.ending, exchange.detail = Ending.REFUSED, f"connecting failed: {error}"
            return exchange
        reader = ResponseReader(sock, on_bytes=lambda data: log("<", data) if data else None)
        for turn in turns:
            _write_all(sock, turn.writes, settings, log)
            _read_responses(reader, turn.methods, exchange, settings, log)
            if exchange.ending is not Ending.ANSWERED or reader.eof or exchange.announced_close:
                break
        if exchange.ending is Ending.ANSWERED and (await_close or exchange.announced_close):
            exchange.closed_by_server = _closes(reader, close_wait_s or settings.response_timeout)
            log("*", b"server closed" if exchange.closed_by_server else b"still open")
        if not reader.eof and exchange.ending is not Ending.TIMEOUT:
            # A server that closes after a response with no length of its own (a HEAD, a 304)
            # may be closing right now: see its FIN before closing, or the server is left in
            # TIME_WAIT and a course server without SO_REUSEADDR cannot bind again for a minute.
            # `may_close`: the last request let the server close (HTTP/1.0, a refusal).
            unframed = not exchange.responses or _unframed(exchange.responses[-1])
            wait = settings.quiet_period if may_close else settings.pause if unframed else 0.0
            _closes(reader, wait)
        exchange.closed_by_server = exchange.closed_by_server or reader.eof
        if reader.eof:
            # The server closed first: a reset now costs it nothing and leaves no TIME_WAIT.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    return exchange


def _readable(reader: ResponseReader) -> bool:
    readable, _, _ = select.select([reader.sock], [], [], 0)
    return bool(readable)


def _unframed(response: ReadResponse) -> bool:
    """Whether the response carried no framing field (its end was its head's, or the close)."""
    return (
        response.header("content-length") is None and response.header("transfer-encoding") is None
    )


def _write_all(
    sock: socket.socket, writes: tuple[Write, ...], settings: Settings, log: Log
) -> None:
    for write in writes:
        if write.pause_s:
            time.sleep(write.pause_s)  # The pause is the input: the server must see two reads.
        sock.settimeout(settings.response_timeout)
        try:
            sock.sendall(write.data)
        except (ConnectionError, TimeoutError) as error:
            # A server may close on a request it refuses before reading the rest: what it
            # answered still counts.
            log("*", f"sending stopped: {error}".encode())
            return
        log(">", write.data)


def _read_responses(
    reader: ResponseReader,
    methods: tuple[str, ...],
    exchange: Exchange,
    settings: Settings,
    log: Log,
) -> None:
    for method in methods:
        deadline = time.monotonic() + settings.response_timeout
        try:
            response = reader.read_response(method, deadline)
        except ClosedBeforeResponse as closed:
            exchange.ending = Ending.RESET if closed.reset else Ending.CLOSED
            exchange.detail = str(closed)
            log("*", b"server reset the connection" if closed.reset else b"server closed")
            return
        except ResponseTimeout as timeout:
            exchange.ending = Ending.TIMEOUT
            exchange.detail = (
                f"no response within {settings.response_timeout:g} s"
                if not timeout.received
                else f"the response was still incomplete after {settings.response_timeout:g} s"
            )
            log("*", f"stopped waiting after {settings.response_timeout:g} s".encode())
            return
        except FramingError as error:
            exchange.ending, exchange.detail = Ending.MALFORMED, f"malformed response: {error}"
            # Whether it then closes tells an HTTP/0.9 reply (the body, then a close) apart.
            exchange.closed_by_server = _closes(reader, settings.response_timeout)
            return
        exchange.responses.append(response)
        if response.announces_close:
            return  # Nothing may follow a response that says the connection ends.


def _closes(reader: ResponseReader, seconds: float) -> bool:
    """Whether the server closes within `seconds` (extra bytes are read and kept)."""
    deadline = time.monotonic() + seconds
    if seconds <= 0:
        # Only what has already arrived: one look without waiting.
        return reader.eof or (_readable(reader) and reader.receive(deadline + 1) == b"")
    while not reader.eof:
        if reader.receive(deadline) is None:
            return False
    return True
