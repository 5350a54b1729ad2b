"""The per-connection HTTP/1.1 state machine, free of any I/O.

A :class:`Connection` is fed what happened on a socket — bytes arrived, the
peer finished sending, everything we asked to send has been written, a
deadline passed — and answers with the ordered :data:`Action` list the driver
must carry out. It never touches a socket, so every backend shares one
implementation of the protocol and the whole of it can be tested, and fuzzed,
without a network.

The theory: a connection is always in one of five phases.

``READING``
    Waiting for a complete request head. Nothing has been promised to the
    client, so the deadline is the idle timeout until the first byte of a
    request arrives, then the head timeout (a bound on slowloris clients).
``SENDING``
    A response has been handed to the driver and we wait to hear that it was
    written. Exactly one response is outstanding at a time: pipelined
    requests wait in the reader's buffer, and no new input is read, so a
    client that sends faster than it reads is held back by TCP itself rather
    than by our memory. The deadline bounds a client that stopped reading.
``DISCARDING``
    The response went out but the request carried a body we have not read
    yet. It must be consumed before the next request can be found.
``LINGERING``
    We have decided to close and half-closed our side. Closing outright
    could make the kernel answer late client bytes with RST, and a reset
    destroys data the client has received but not yet read — our last
    response. So we read and drop input until the client closes or the
    linger deadline passes. Not when the client itself asked to close and
    everything it sent has been read: RFC 9112 §9.6 forbids it to send
    another request, so no late byte can come to cause a reset, and closing
    at once spares a wait for its FIN (nginx makes the same call).
``CLOSED``
    The driver has been told to close the socket.

Driver contract: while not :attr:`Connection.closed`, wait for input when
:attr:`Connection.wants_read` (never past :attr:`Connection.deadline`), pass
what happened to the matching method, carry out the returned actions in
order, and once all of them are written call :meth:`Connection.output_drained`
and carry out what it returns, until it returns nothing.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from reference import filecache, static
from reference.fastparser import PARSERS
from reference.limits import Limits
from reference.parser import BadRequest, BodyTooLarge, RequestHead
from reference.responses import (
    FileSegment,
    Response,
    error_response,
    serialise_head,
    serialise_ok,
)


@dataclass(frozen=True)
class Send:
    """Write these bytes."""

    data: bytes


@dataclass(frozen=True)
class SendFile:
    """Write this file segment, ideally with sendfile(2). If the file turns out shorter, close."""

    segment: FileSegment


@dataclass(frozen=True)
class ShutdownWrite:
    """Half-close (``shutdown(SHUT_WR)``) once everything before it is written."""


@dataclass(frozen=True)
class Close:
    """Close the socket; nothing more will be sent or read."""


Action = Send | SendFile | ShutdownWrite | Close


class Phase(enum.Enum):
    READING = "reading"
    SENDING = "sending"
    DISCARDING = "discarding"
    LINGERING = "lingering"
    CLOSED = "closed"


class Connection:
    """One client connection's protocol state."""

    def __init__(self, root: str, limits: Limits, now: float, parser: str = "fast") -> None:
        self._root = root
        self._limits = limits
        #: The request parser, by its name in PARSERS: each makes the same decisions.
        self._reader = PARSERS[parser](limits)
        self._files = filecache.for_root(root, limits.file_check_interval)
        self._close_after_response = False
        #: Whether the request being answered asked for the connection to close.
        self._client_closes = False
        self._stopping = False
        self._head_deadline_set = False
        self.phase = Phase.READING
        self.deadline: float = now + limits.idle_timeout
        #: Number of responses started on this connection (for logs and tests).
        self.responses = 0

    @property
    def wants_read(self) -> bool:
        """True when the driver should read from the socket."""
        return self.phase in (Phase.READING, Phase.DISCARDING, Phase.LINGERING)

    @property
    def closed(self) -> bool:
        """True once the driver has been told to close."""
        return self.phase is Phase.CLOSED

    @property
    def idle(self) -> bool:
        """True between requests, when closing loses nothing the client is owed."""
        return self.phase is Phase.READING and not self._reader.has_partial_request

    def data_received(self, data: bytes, now: float) -> list[Action]:
        """Bytes arrived from the client; ``b""`` means it will send no more."""
        if self.phase is Phase.LINGERING:
            return self._close() if not data else []
        if self.phase is Phase.CLOSED:
            return []
        self._reader.feed(data)
        return self._advance(now)

    def output_drained(self, now: float) -> list[Action]:
        """Everything returned so far has been written."""
        if self.phase is not Phase.SENDING:
            return []
        if self._close_after_response:
            return self._linger(now)
        if not self._reader.holds_unread and not self._reader.eof:
            # Between keep-alive requests, nearly always: no body to drop, nothing buffered.
            self._start_next_request(now)
            return []
        self.phase = Phase.DISCARDING
        self.deadline = now + self._limits.idle_timeout
        return self._advance(now)

    def output_progress(self, now: float) -> None:
        """Some bytes of a response were written: the client is still reading."""
        if self.phase is Phase.SENDING:
            self.deadline = now + self._limits.send_timeout

    def deadline_passed(self, now: float) -> list[Action]:
        """Called when :attr:`deadline` is reached; may do nothing if it moved meanwhile."""
        if now < self.deadline or self.phase is Phase.CLOSED:
            return []
        if self.phase is Phase.READING and self._reader.has_partial_request:
            timeout = error_response(408, "The request head took too long.")
            return self._respond_and_close(timeout, now)
        return self._close()

    def stop(self, now: float) -> list[Action]:
        """The server is shutting down: close if idle, else finish the current exchange."""
        self._stopping = True
        if self.idle:
            return self._close()
        if self.phase is Phase.DISCARDING:
            # The response is out but unread body bytes may follow it: closing now
            # could reset the response before the client reads it.
            return self._linger(now)
        if self.phase is Phase.SENDING:
            # Its head is already out without "Connection: close", but nothing will
            # tell the driver again to stop once it is sent: close after it.
            self._close_after_response = True
        return []

    def _advance(self, now: float) -> list[Action]:
        """Make as much progress as the buffered input allows."""
        if self.phase is Phase.DISCARDING:
            try:
                done = self._reader.discard_body()
            except (BadRequest, BodyTooLarge):
                return self._linger(now)
            if not done:
                return self._close() if self._reader.eof else []
            self._start_next_request(now)
        if self.phase is not Phase.READING:
            return []
        try:
            head = self._reader.next_head()
        except BadRequest as error:
            refusal = error_response(error.status, error.reason)
            refusal.send_body = not self._reader.refused_head_only
            return self._respond_and_close(refusal, now)
        if head is None:
            if self._reader.eof:
                return self._close()
            if self._reader.has_partial_request and not self._head_deadline_set:
                self._head_deadline_set = True
                self.deadline = now + self._limits.head_timeout
            return []
        try:
            ready = static.ready_answer(head, self._files, self._limits)
            if ready is not None:
                close = self._decide_close(head, 200)
                self._start_response(close, now)
                return [Send(serialise_ok(ready.fields, ready.body, close=close))]
            response = static.respond(head, self._root, self._limits)
        except OSError:
            return self._respond_and_close(error_response(500, "The file could not be read."), now)
        return self._respond(response, self._decide_close(head, response.status), now)

    def _decide_close(self, head: RequestHead, status: int) -> bool:
        """Whether the connection ends with the response to ``head``; notes who asked for it."""
        self._client_closes = head.wants_close
        declared = self._reader.declared_body_length
        return (
            self._client_closes
            or self._stopping
            or status == 400
            or (declared is not None and declared > self._limits.max_discarded_body)
            or (self._reader.eof and not self._reader.has_partial_request)
        )

    def _start_next_request(self, now: float) -> None:
        self.phase = Phase.READING
        self._head_deadline_set = False
        self.deadline = now + self._limits.idle_timeout

    def _start_response(self, close: bool, now: float) -> None:
        self.phase = Phase.SENDING
        self.deadline = now + self._limits.send_timeout
        self._close_after_response = close
        self.responses += 1

    def _respond(self, response: Response, close: bool, now: float) -> list[Action]:
        self._start_response(close, now)
        head = serialise_head(response, close=close)
        if not response.send_body:
            return [Send(head)]
        if response.file is not None:
            return [Send(head), SendFile(response.file)]
        return [Send(head + response.body)]

    def _respond_and_close(self, response: Response, now: float) -> list[Action]:
        return self._respond(response, True, now)

    def _linger(self, now: float) -> list[Action]:
        if self._reader.eof or (self._client_closes and not self._reader.holds_unread):
            return self._close()
        self.phase = Phase.LINGERING
        self.deadline = now + self._limits.linger_timeout
        return [ShutdownWrite()]

    def _close(self) -> list[Action]:
        self.phase = Phase.CLOSED
        return [Close()]
