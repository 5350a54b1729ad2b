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
    """IMF-fixdate of the current second, formatted once per second, not once per response."""

    def __init__(self) -> None:
        self._second = -1
        self._value = ""

    def now(self) -> str:
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._value = formatdate(second, usegmt=True)
        return self._value


_dates = _DateCache()


def serialise_head(response: Response, *, close: bool) -> bytes:
    """The status line and header section of ``response``, ending with the blank line."""
    phrase = HTTPStatus(response.status).phrase
    lines = [
        f"HTTP/1.1 {response.status} {phrase}",
        f"Date: {_dates.now()}",
        f"Server: {SERVER_NAME}",
    ]
    lines += [f"{name}: {value}" for name, value in response.headers]
    # RFC 9110 §8.6: a 304 must not carry a Content-Length that differs from the 200's;
    # omitting it is the simplest way to be right.
    if response.status != 304:
        lines.append(f"Content-Length: {response.content_length}")
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
