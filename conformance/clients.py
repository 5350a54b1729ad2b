"""The named client sockets of one scenario: opening, sending, and closing without side effects.

Closing follows one rule so that no run leaves TIME_WAIT on the server's side (a server without
SO_REUSEADDR could then not bind its port again for about a minute): once the server has closed,
the client closes abortively (SO_LINGER 0, so the server's socket goes straight to CLOSED);
otherwise it closes gracefully, after reading what is pending, because closing with unread
bytes would make the kernel send a reset. A reset to a live server is a scenario of its own.
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import struct
import time
from dataclasses import dataclass, field

from conformance.docroot import CANARY_TEXT
from conformance.oracle import ResponseReader
from conformance.settings import Settings
from conformance.steps import DEFAULT_CONNECTION, Send
from conformance.transcript import Transcript
from conformance.verdicts import HarnessError, Outcome, ScenarioFailed

CANARY_MARK = CANARY_TEXT.strip().encode()
REFUSED = "refused"
# Holding data back for the FIN that follows is a Linux flag; elsewhere they go out separately.
MSG_MORE = getattr(socket, "MSG_MORE", 0)
REQUEST_LINE = re.compile(rb"^[A-Za-z]+ \S+ HTTP/\d\.\d\r?$", re.MULTILINE)


@dataclass
class ClientConnection:
    """One client socket, its response reader, and what we know about its state."""

    name: str
    sock: socket.socket
    reader: ResponseReader = field(init=False)
    open: bool = True
    expect_server_close: bool = False
    finished: bool = False
    canary_window: bytes = b""
    canary_seen: bool = False
    request_lines: list[str] = field(default_factory=list)

    def request_answered(self, ordinal: int) -> str:
        """Name the request that the `ordinal`-th response (from 1) on this connection answers."""
        if ordinal <= len(self.request_lines):
            return f"`{self.request_lines[ordinal - 1]}`"
        return f"request {ordinal} on this connection"


class Clients:
    """Opens, feeds and closes the client connections of one scenario, recording a transcript."""

    def __init__(self, host: str, port: int, settings: Settings, transcript: Transcript) -> None:
        self.host, self.port, self.settings, self.transcript = host, port, settings, transcript
        self.connections: dict[str, ClientConnection] = {}
        self.client_initiated_closes = 0
        self.opened = 0

    def open(
        self, name: str, recv_buffer: int | None = None, note: bool = True
    ) -> ClientConnection:
        """Connect a new client socket under `name`; refusal is a crash, silence a hang."""
        self.close_finished()
        previous = self.connections.get(name)
        if previous is not None:
            self.close(previous)
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if recv_buffer:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, recv_buffer)
        sock.settimeout(self.settings.connect_timeout)
        try:
            sock.connect((self.host, self.port))
        except ConnectionError:
            # Refused, or reset while waiting in a dying server's accept queue: nobody accepts.
            sock.close()
            raise ScenarioFailed(
                Outcome.CRASH, "the server refused the connection", "a connection", REFUSED
            ) from None
        except TimeoutError:
            sock.close()
            seconds = self.settings.connect_timeout
            raise ScenarioFailed(
                Outcome.HANG, f"no connection accepted within {seconds:g} s", "a connection", "none"
            ) from None
        self.opened += 1
        conn = ClientConnection(name, sock)
        conn.reader = ResponseReader(sock, on_bytes=lambda data: self._on_received(conn, data))
        self.connections[name] = conn
        if note:
            self.transcript.note(name, "connected")
        return conn

    def get(self, name: str) -> ClientConnection:
        """The open connection called `name`."""
        conn = self.connections.get(name)
        if conn is None or not conn.open:
            raise HarnessError(f"connection {name!r} is not open")
        return conn

    @property
    def canary_leaked(self) -> bool:
        """Whether the canary's content arrived on any connection."""
        return any(conn.canary_seen for conn in self.connections.values())

    def send(self, step: Send) -> None:
        """Carry out a Send step: fragments with pauses, or byte by byte; open the connection first
        if it is new."""
        self.close_finished(but=step.on)
        known = self.connections.get(step.on)
        conn = (
            known
            if known and known.open
            else self.open(step.on, note=step.on != DEFAULT_CONNECTION)
        )
        conn.expect_server_close = conn.expect_server_close or _asks_to_close(step.data)
        conn.request_lines += [
            line.rstrip(b"\r").decode("latin-1") for line in REQUEST_LINE.findall(step.data)
        ]
        if step.bytewise:
            self.transcript.sent(conn.name, step.data)
            self.transcript.note(conn.name, "(sent one byte at a time)")
            chunks, pause = [bytes([byte]) for byte in step.data], self.settings.byte_pause
        else:
            chunks = list(step.fragments)
            pause = self.settings.pause if step.pause is None else step.pause
        for position, chunk in enumerate(chunks):
            if position:
                if not step.bytewise:
                    self.transcript.note(conn.name, f"pause {pause * 1000:g} ms")
                time.sleep(pause)
            if not step.bytewise:
                self.transcript.sent(conn.name, chunk)
            last = position == len(chunks) - 1
            if not self.send_bytes(conn, chunk, more=last and step.and_half_close):
                return
        if step.and_half_close:
            self.shutdown_write(conn)

    def send_bytes(self, conn: ClientConnection, data: bytes, more: bool = False) -> bool:
        """Send all of `data` (held back for a coming FIN when `more`); False if that failed.

        A failure is the server's doing (it closed, or stopped reading), so it is only noted:
        the next expectation judges what the server did.
        """
        conn.sock.settimeout(self.settings.response_timeout)
        try:
            conn.sock.sendall(data, MSG_MORE if more else 0)
        except ConnectionError:
            self.transcript.note(conn.name, "sending failed: the server had closed the connection")
            return False
        except TimeoutError:
            seconds = self.settings.response_timeout
            self.transcript.note(
                conn.name, f"sending stalled for {seconds:g} s: server not reading"
            )
            return False
        return True

    def shutdown_write(self, conn: ClientConnection) -> None:
        """Half-close: no more bytes from the client, but keep reading."""
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError as error:
            self.transcript.note(conn.name, f"half-close failed: {error.strerror}")
            return
        conn.expect_server_close = True
        self.transcript.note(conn.name, "client half-closed (SHUT_WR)")

    def reset(self, conn: ClientConnection) -> None:
        """Abort the connection: the server receives a TCP reset."""
        conn.open = False
        if not conn.reader.eof:
            self.client_initiated_closes += 1
        _set_abortive(conn.sock)
        conn.sock.close()
        self.transcript.note(conn.name, "client reset the connection (RST)")

    def close(self, conn: ClientConnection, note: str | None = None, wait: bool = True) -> None:
        """Close by the TIME_WAIT rule; `wait` lets a pending response or announced close arrive."""
        if not conn.open:
            return
        conn.open = False
        try:
            self._drain(conn, wait)
        except OSError:
            conn.reader.eof = True
        if conn.reader.eof:
            _set_abortive(conn.sock)
        else:
            self.client_initiated_closes += 1
        conn.sock.close()
        if note:
            self.transcript.note(conn.name, note)

    def close_finished(self, but: str | None = None) -> None:
        """Close connections whose last response announced Connection: close.

        A client must close such a connection after reading that response (RFC 9112 §9.6), and a
        server that lingers until the client closes would otherwise stall the next connection.
        This happens when the scenario moves on to another connection, so steps that still
        observe the closing one (silence, the server's close) come first.
        """
        for conn in self.connections.values():
            if conn.finished and conn.open and conn.name != but:
                self.close(conn)

    def close_all(self) -> None:
        """Close every connection still open."""
        for conn in self.connections.values():
            self.close(conn)

    def _on_received(self, conn: ClientConnection, data: bytes) -> None:
        if not data:
            how = "reset" if conn.reader.reset else "closed"
            self.transcript.note(conn.name, f"server {how} the connection")
            return
        self.transcript.received(conn.name, data)
        # Keep a short tail so the canary is found even when split across two reads.
        window = conn.canary_window + data
        conn.canary_seen = conn.canary_seen or CANARY_MARK in window
        conn.canary_window = window[-len(CANARY_MARK) :]

    def _drain(self, conn: ClientConnection, wait: bool) -> None:
        """Read what the server already sent, so the close is not turned into a reset.

        With `wait`, keep reading while bytes keep coming and give a close the server announced
        (or was asked for) time to arrive, bounded by the response timeout; without it, take
        only what is already there.
        """
        deadline = time.monotonic() + self.settings.response_timeout
        idle = 0.0
        if wait and conn.finished:
            idle = self.settings.response_timeout
        elif wait and conn.expect_server_close:
            idle = self.settings.pause  # A server that closes unannounced does so at once.
        while not conn.reader.eof and time.monotonic() < deadline:
            readable, _, _ = select.select([conn.sock], [], [], idle)
            if not readable or conn.reader.receive(deadline) is None:
                return
            if wait:
                idle = max(idle, self.settings.pause)


def _set_abortive(sock: socket.socket) -> None:
    """Make close() send a reset, so no TIME_WAIT is left on either side."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def _asks_to_close(data: bytes) -> bool:
    """Whether the request bytes ask the server to close after responding."""
    lowered = data.lower()
    return b"connection: close" in lowered or b" http/1.0\r\n" in lowered
