"""Reading responses off a raw socket through an h11 client: the suite's framing oracle.

Requests go out as raw bytes, often deliberately malformed, so h11 never sees them. It only needs
each request's method, because a response to HEAD has no body whatever its headers say; the
reader hands h11 a synthetic request with that method and discards the bytes h11 would send.
Everything the server sends then goes through h11, and an h11 protocol error is a framing
failure carrying h11's own message. Every wait is bounded by a deadline.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

import h11

from conformance.steps import ResponseSpec

RECV_SIZE = 65536


class ReadFailure(Exception):
    """No complete response could be read; `received` holds the bytes that did arrive."""

    def __init__(self, message: str, received: bytes) -> None:
        super().__init__(message)
        self.received = received


class FramingError(ReadFailure):
    """h11 rejected the bytes the server sent; the message is h11's own."""


class ClosedBeforeResponse(ReadFailure):
    """The server closed (or reset) the connection before a response began."""

    def __init__(self, message: str, received: bytes, reset: bool) -> None:
        super().__init__(message, received)
        self.reset = reset


class ResponseTimeout(ReadFailure):
    """The deadline passed before the response was complete (or, with no bytes, began)."""


class LateResponse(Exception):
    """The response was complete only after the deadline, within the grace allowed to find out
    how late it was; it is still a failure to answer in time."""

    def __init__(self, response: ReadResponse) -> None:
        super().__init__(f"the response took {response.elapsed:.2f} s")
        self.response = response


@dataclass(frozen=True)
class ReadResponse:
    """One complete response as h11 parsed it, plus what the connection did around it."""

    status: int
    reason: str
    http_version: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    raw: bytes
    closed: bool
    reset: bool
    elapsed: float
    informational: tuple[int, ...] = ()

    def header(self, name: str) -> str | None:
        """The field's value (repeated lines joined with ", "), or None when absent."""
        values = [value for key, value in self.headers if key == name.lower()]
        return ", ".join(values) if values else None

    @property
    def announces_close(self) -> bool:
        """Whether the response says the connection ends after it (RFC 9112 §9.3)."""
        options = {token.strip().lower() for token in (self.header("connection") or "").split(",")}
        if "close" in options:
            return True
        return self.http_version == "1.0" and "keep-alive" not in options

    @property
    def status_line(self) -> str:
        """The status line as the server sent it, without CRLF."""
        return f"HTTP/{self.http_version} {self.status} {self.reason}".rstrip()


class ResponseReader:
    """Reads the successive responses arriving on one client connection."""

    def __init__(
        self, sock: socket.socket, on_bytes: Callable[[bytes], None] | None = None
    ) -> None:
        """Read from `sock`; `on_bytes` sees every chunk received, and b"" at end of stream."""
        self.sock = sock
        self.eof = False
        self.reset = False
        self._on_bytes = on_bytes
        self._h11 = h11.Connection(h11.CLIENT)
        self.responses_requested = 0

    def pending(self) -> bytes:
        """Bytes received but not yet part of any parsed response."""
        return bytes(self._h11.trailing_data[0])

    def read_response(
        self, method: str, deadline: float, late_deadline: float | None = None
    ) -> ReadResponse:
        """Read the next complete response to a request made with `method`.

        With `late_deadline`, a response still missing at `deadline` is waited for until then, and
        if it completes it is raised as a LateResponse: a report can then say how late it was
        instead of "nothing" while the transcript shows it arriving.
        """
        self._prepare_cycle(method)
        started = time.monotonic()
        late = False
        received = bytearray(self.pending())
        informational: list[int] = []
        head: h11.Response | None = None
        body = bytearray()
        while True:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as error:
                if self.eof and not received:
                    raise self._closed_early(received) from None
                raise FramingError(str(error), bytes(received)) from None
            if event is h11.NEED_DATA:
                if self.eof:
                    raise self._closed_early(received)
                data = self.receive(deadline)
                if data is None and late_deadline is not None and not late:
                    deadline, late = late_deadline, True
                    continue
                if data is None:
                    raise ResponseTimeout("the response did not complete in time", bytes(received))
                received += data
            elif isinstance(event, h11.InformationalResponse):
                informational.append(event.status_code)
            elif isinstance(event, h11.Response):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
        assert head is not None  # h11 only ends a message it has started
        consumed = len(received) - len(self.pending())
        response = ReadResponse(
            status=head.status_code,
            reason=head.reason.decode("latin-1"),
            http_version=head.http_version.decode("ascii"),
            headers=tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in head.headers),
            body=bytes(body),
            raw=bytes(received[:consumed]),
            closed=self.eof,
            reset=self.reset,
            elapsed=time.monotonic() - started,
            informational=tuple(informational),
        )
        if late:
            raise LateResponse(response)
        return response

    def receive(self, deadline: float) -> bytes | None:
        """Receive once and feed h11: the bytes, b"" at end of stream, None when time runs out."""
        if self.eof:
            return b""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(RECV_SIZE)
        except TimeoutError:
            return None
        except ConnectionError:  # Reset, or aborted: either way the server ended it abruptly.
            self.reset, data = True, b""
        if not data:
            self.eof = True
        if self._on_bytes is not None:
            self._on_bytes(data)
        self._h11.receive_data(data)
        return data

    def _prepare_cycle(self, method: str) -> None:
        """Tell h11 a request with `method` was sent, after the previous response if any."""
        if self.responses_requested:
            if self._h11.states == {h11.CLIENT: h11.DONE, h11.SERVER: h11.DONE}:
                self._h11.start_next_cycle()
            else:
                # The previous response ended the connection's reuse (Connection: close or
                # HTTP/1.0); parse whatever follows with a fresh parser so it is still judged.
                leftover, closed = self._h11.trailing_data
                self._h11 = h11.Connection(h11.CLIENT)
                if leftover:
                    self._h11.receive_data(bytes(leftover))
                if closed:
                    self._h11.receive_data(b"")  # An empty chunk is how h11 learns of EOF.
        self.responses_requested += 1
        self._h11.send(h11.Request(method=method, target="/", headers=[("Host", "h1check")]))
        self._h11.send(h11.EndOfMessage())

    def _closed_early(self, received: bytearray) -> ReadFailure:
        how = "reset" if self.reset else "closed"
        if received:
            return FramingError(f"the server {how} the connection mid-response", bytes(received))
        return ClosedBeforeResponse(
            f"the server {how} the connection without responding", bytes(received), self.reset
        )


FileReader = Callable[[str], bytes]


def judge_response(response: ReadResponse, spec: ResponseSpec, read_file: FileReader) -> list[str]:
    """Say, in words, everything about `response` that does not fit `spec` (empty: it fits)."""
    problems = []
    if not spec.accepts_status(response.status):
        problems.append(f"status {response.status}, expected {spec.describe_status()}")
    for name in spec.headers:
        if response.header(name) is None:
            problems.append(f"no {name} header")
    for name in spec.absent:
        value = response.header(name)
        if value is not None:
            problems.append(f"unexpected header {name}: {value}")
    for name, pattern in spec.match:
        value = response.header(name)
        if value is None:
            problems.append(f"no {name} header")
        elif not re.search(pattern, value):
            problems.append(f"{name}: {value!r} does not match /{pattern}/")
    if spec.content_length_of is not None:
        problems.extend(_content_length_problems(response, spec.content_length_of, read_file))
    if spec.empty_body and response.body:
        problems.append(f"a {len(response.body)}-byte body where none belongs")
    if spec.body_file is not None:
        expected = expected_body(spec, read_file)
        if response.body != expected:
            problems.append(_body_difference(response.body, expected, _body_label(spec)))
    if spec.not_body_file is not None and read_file(spec.not_body_file) in response.body:
        problems.append(f"the body holds the bytes of {spec.not_body_file}")
    return list(dict.fromkeys(problems))


def expected_body(spec: ResponseSpec, read_file: FileReader) -> bytes:
    """The exact body `spec` asks for: a document root file, or a byte range of one."""
    assert spec.body_file is not None
    content = read_file(spec.body_file)
    if spec.body_range is None:
        return content
    first, last = spec.body_range
    return content[first : last + 1]


def describe_spec(spec: ResponseSpec, read_file: FileReader) -> str:
    """The response `spec` accepts, in words, for the Expected line of a report."""
    parts = [f"status {spec.describe_status()}"]
    if spec.body_file is not None:
        parts.append(
            f"a body of exactly {len(expected_body(spec, read_file))} bytes: {_body_label(spec)}"
        )
    if spec.empty_body:
        parts.append("no body")
    if spec.not_body_file is not None:
        parts.append(f"a body without the bytes of {spec.not_body_file}")
    parts.extend(f"the {name} header" for name in spec.headers)
    parts.extend(f"{name} matching /{pattern}/" for name, pattern in spec.match)
    if spec.content_length_of is not None:
        size = len(read_file(spec.content_length_of))
        parts.append(
            f"Content-Length, if sent, equal to {size} (the size of {spec.content_length_of})"
        )
    parts.extend(f"no {name} header" for name in spec.absent)
    return ", ".join(parts)


def describe_response(response: ReadResponse) -> str:
    """A one-line summary of a response for the Actual line of a report."""
    summary = f"{response.status_line}, {len(response.body)}-byte body"
    if response.closed:
        summary += (
            ", then the server " + ("reset" if response.reset else "closed") + " the connection"
        )
    return summary


def _content_length_problems(response: ReadResponse, name: str, read_file: FileReader) -> list[str]:
    size = len(read_file(name))
    value = response.header("content-length")
    if value is None:
        return []  # Presence is a separate rule (`headers`); a close-delimited body is legal.
    if value.strip() != str(size):
        return [f"Content-Length: {value}, but {name} is {size} bytes"]
    return []


def _body_label(spec: ResponseSpec) -> str:
    if spec.body_range is None:
        return f"the file {spec.body_file}"
    first, last = spec.body_range
    return f"bytes {first}-{last} of {spec.body_file}"


def _body_difference(got: bytes, expected: bytes, label: str) -> str:
    if len(got) != len(expected):
        return f"body is {len(got)} bytes, expected {len(expected)} ({label})"
    offset = next(i for i, (a, b) in enumerate(zip(got, expected, strict=True)) if a != b)
    return f"body differs from {label} at byte {offset}"
