"""Responses as data, and their serialisation to bytes on the wire."""

from __future__ import annotations

import html
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus

from reference import __version__

SERVER_NAME = f"h1check-reference/{__version__}"


class ShortFile(OSError):
    """The file shrank after its Content-Length was sent; the framing can no longer be kept."""

    def __init__(self, path: str) -> None:
        super().__init__(f"{path} is shorter than its Content-Length")


@dataclass(frozen=True)
class FileSegment:
    """``count`` bytes of the file at ``path`` starting at ``offset``, to be sent with sendfile."""

    path: str
    offset: int
    count: int


@dataclass
class Response:
    """What the server answers: status, fields and a body held in memory or on disk.

    ``content_length`` is the length of the representation even when no body
    is sent (HEAD), because RFC 9110 §9.3.2 asks HEAD to carry the same fields
    as GET would.
    """

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    #: Header fields already serialised (each line ending in CRLF), sent before `headers`.
    fields: bytes = b""
    body: bytes = b""
    file: FileSegment | None = None
    send_body: bool = True
    content_length: int | None = None

    def __post_init__(self) -> None:
        if self.content_length is None:
            self.content_length = self.file.count if self.file else len(self.body)


def error_response(status: int, detail: str = "") -> Response:
    """A small HTML page explaining an error status."""
    phrase = HTTPStatus(status).phrase
    text = html.escape(detail or HTTPStatus(status).description)
    page = (
        f"<!DOCTYPE html>\n<html><head><title>{status} {phrase}</title></head>\n"
        f"<body><h1>{status} {phrase}</h1>\n<p>{text}</p></body></html>\n"
    ).encode()
    return Response(status, [("Content-Type", "text/html; charset=utf-8")], body=page)


class _DateCache:
    """The Date field of the current second, formatted once per second, not once per response."""

    def __init__(self) -> None:
        self._second = -1
        self._line = b""

    def line(self) -> bytes:
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._line = f"Date: {formatdate(second, usegmt=True)}\r\n".encode("latin-1")
        return self._line


_dates = _DateCache()
_SERVER_LINE = f"Server: {SERVER_NAME}\r\n".encode("latin-1")
_status_lines: dict[int, bytes] = {}


def _status_line(status: int) -> bytes:
    line = _status_lines.get(status)
    if line is None:
        line = _status_lines[status] = f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n".encode()
    return line


_OK_LINE = _status_line(200)


def serialise_ok(fields: bytes, body: bytes, *, close: bool) -> bytes:
    """A whole 200 whose fields are serialised already (Content-Length included), and its body.

    The same bytes :func:`serialise_head` and the body would give, in one join.
    """
    ending = b"Connection: close\r\n\r\n" if close else b"\r\n"
    return b"".join((_OK_LINE, _dates.line(), _SERVER_LINE, fields, ending, body))


def serialise_head(response: Response, *, close: bool) -> bytes:
    """The status line and header section of ``response``, ending with the blank line."""
    parts = [_status_line(response.status), _dates.line(), _SERVER_LINE, response.fields]
    parts += [f"{name}: {value}\r\n".encode("latin-1") for name, value in response.headers]
    # RFC 9110 §8.6: a 304 must not carry a Content-Length that differs from the 200's;
    # omitting it is the simplest way to be right.
    if response.status != 304:
        parts.append(b"Content-Length: %d\r\n" % (response.content_length or 0))
    if close:
        parts.append(b"Connection: close\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)
