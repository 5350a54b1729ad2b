"""The seam between the connection core and an HTTP/1.1 request parser.

Requests are parsed by h11, one h11 connection per request: the core answers
with its own serializer and sendfile, so h11 never sees the response and
could not move on to the next request by itself. Starting a fresh h11
connection on the bytes left over from the previous request gives the same
effect with no state to fake.

h11 is lenient where a server must be strict, so :class:`RequestReader`
frames the head itself before handing it over:

* h11 enforces its head-size limit only while a head is incomplete, so a
  whole oversized head that arrives in one read would be accepted; we
  measure the request line (414) and head (431) ourselves.
* h11 accepts a bare LF as a line ending and obs-fold continuation lines;
  RFC 9112 §2.2 lets a server accept them, but each is a known vector for
  request smuggling between parsers that disagree, so we answer 400.
* h11 takes Transfer-Encoding over Content-Length when both are present;
  RFC 9112 §6.1 says such a message "ought to be handled as an error", and
  it is the classic smuggling shape, so we answer 400 and close.
* h11 does not check the Host value (RFC 9112 §3.2: 400 for an invalid one)
  nor a major version other than 1 (RFC 9110 §15.6.6: 505), and older h11
  releases let a second Host field through.

Another parser can replace h11 behind the small :class:`Reader` interface as
long as it produces the same :class:`RequestHead` and :class:`BadRequest` for
the same bytes: ``reference/fastparser.py`` does, and is the default; this one
stays selectable (``--parser h11``) as the reference it is tested against.
"""

from __future__ import annotations

import re
from typing import NamedTuple, Protocol

import h11

from reference.limits import Limits

_VERSION = re.compile(rb" HTTP/(\d)\.(\d)\r\n")
# RFC 9112 §3.2: Host = uri-host [ ":" port ], an IP literal or a registered name (RFC 3986
# §3.2.2); any other value MUST be answered 400.
HOST_VALUE = re.compile(
    rb"(?:\[[0-9A-Za-z:._~!$&'()*+,;=-]+\]|[0-9A-Za-z._~!$&'()*+,;=%-]*)(?::[0-9]*)?"
)
#: A line ending, or a CR or LF standing alone where only CRLF may end a line.
_LINE_END = re.compile(rb"\r\n|\r|\n")
#: The first byte that is not part of an empty line.
_REQUEST_START = re.compile(rb"[^\r\n]")


class BadRequest(Exception):
    """The client sent something we will not process; answer ``status`` and close."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class BodyTooLarge(Exception):
    """The request body is larger than we are willing to read and discard."""


class RequestHead(NamedTuple):
    """A request line and header fields that passed every check.

    A named tuple rather than a frozen dataclass: one is built per request, and a tuple is
    built in a fraction of the time a frozen dataclass's ``__init__`` takes.
    """

    method: bytes
    target: bytes
    http_version: bytes
    headers: tuple[tuple[bytes, bytes], ...]

    def get(self, name: bytes) -> bytes | None:
        """The value of the first field called ``name`` (lower-case), if any."""
        for field, value in self.headers:
            if field == name:
                return value
        return None

    @property
    def wants_close(self) -> bool:
        """True when the client asked (explicitly or by its version) for a single request."""
        if self.http_version != b"1.1":
            return True
        # Every Connection field counts: repeated field lines form one comma-separated list
        # (RFC 9110 §5.3), so a "close" in the second one is as binding as in the first.
        for name, value in self.headers:
            if name == b"connection" and b"close" in (
                token.strip() for token in value.lower().split(b",")
            ):
                return True
        return False


class Reader(Protocol):
    """What the connection core needs of a request parser (see :class:`RequestReader`)."""

    eof: bool

    def __init__(self, limits: Limits) -> None: ...

    @property
    def has_partial_request(self) -> bool: ...

    @property
    def holds_unread(self) -> bool: ...

    @property
    def refused_head_only(self) -> bool: ...

    @property
    def declared_body_length(self) -> int | None: ...

    def feed(self, data: bytes) -> None: ...

    def next_head(self) -> RequestHead | None: ...

    def discard_body(self) -> bool: ...


class RequestReader:
    """Frames one request at a time out of a connection's byte stream.

    A head may arrive a byte at a time, and waiting for it must cost what it
    costs in one piece (as in h11's receive buffer): the reader remembers how
    far it has checked the head so far and looks only at bytes that arrived
    since, so the limits, the bare CR/LF rule and the search for the blank line
    all apply as bytes arrive without rescanning what came before. The head is
    copied once, when it is complete.
    """

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self._buffer = bytearray()
        #: Bytes at the start of the buffer already checked; none of them ends the head.
        self._checked = 0
        #: Where the line now arriving starts.
        self._line_start = 0
        #: The request line's length, once its CRLF has arrived.
        self._request_line_length: int | None = None
        self._body: h11.Connection | None = None
        self._discarded = 0
        self._declared_length: int | None = None
        self.eof = False

    @property
    def has_partial_request(self) -> bool:
        """True when some bytes of a request that is not yet complete have arrived."""
        # A search, not lstrip(): it stops at the first byte instead of copying the buffer.
        return self._body is None and _REQUEST_START.search(self._buffer) is not None

    @property
    def holds_unread(self) -> bool:
        """True while received bytes wait to be parsed, or a request body is still to come."""
        return self._body is not None or bool(self._buffer)

    @property
    def refused_head_only(self) -> bool:
        """True when the request being refused is a HEAD: its error response has no content.

        A head can be refused before h11 has parsed its method, so this reads the request
        line's first word; RFC 9110 §9.3.2 forbids content in any response to HEAD.
        """
        return self._buffer.startswith(b"HEAD ")

    @property
    def declared_body_length(self) -> int | None:
        """The current request's Content-Length; None when chunked or there is no body."""
        return self._declared_length

    def feed(self, data: bytes) -> None:
        """Add received bytes; an empty ``data`` marks the end of input."""
        if not data:
            self.eof = True
        if self._body is not None:
            self._body.receive_data(data)
        else:
            self._buffer += data

    def next_head(self) -> RequestHead | None:
        """The next complete request head, or None until more bytes arrive.

        Raises :class:`BadRequest` when the head breaks a rule; the stream
        cannot be resynchronised after that, so the caller must close.
        """
        if self._checked == 0:
            # RFC 9112 §2.2: a server SHOULD ignore at least one empty line before
            # a request line (some clients send a stray CRLF after a POST body).
            while self._buffer.startswith(b"\r\n"):
                del self._buffer[:2]
        end = self._find_head_end()
        if end is None:
            return None
        head = bytes(self._buffer[:end])
        self._check_complete_head(head)
        request = self._parse(head)
        del self._buffer[:end]
        self._checked = self._line_start = 0
        self._request_line_length = None
        if self._body is not None:
            # From here until the body ends, h11 owns the stream.
            if self._buffer:
                self._body.receive_data(bytes(self._buffer))
            if self.eof:
                self._body.receive_data(b"")
            self._buffer.clear()
        return request

    def _find_head_end(self) -> int | None:
        """Check the bytes that arrived since the last call; the head's length once it is whole.

        Rejects, as early as the bytes allow, what h11 would accept or only
        catch late; each problem is reported where it first appears, so the
        answer does not depend on how the head was split into reads.
        """
        buffer = self._buffer
        # search() in a loop rather than finditer(): a live iterator pins the
        # bytearray, and it must be resizable again as soon as this returns.
        while line_end := _LINE_END.search(buffer, self._checked):
            start, end = line_end.span()
            self._check_sizes(start, end)
            if line_end.group() == b"\n":
                raise BadRequest(400, "bare LF in request head")
            if line_end.group() == b"\r":
                if end < len(buffer):
                    raise BadRequest(400, "bare CR in request head")
                # The last byte received may yet be followed by its LF: look at it again.
                self._checked = start
                return None
            if start == self._line_start:
                return end
            if self._request_line_length is None:
                self._request_line_length = start
            self._line_start = self._checked = end
        self._checked = len(buffer)
        self._check_sizes(len(buffer), len(buffer))
        return None

    def _check_sizes(self, request_line: int, head: int) -> None:
        """414 or 431 once the request line or the head, this many bytes so far, is too long."""
        if self._request_line_length is None and request_line > self._limits.max_request_line:
            raise BadRequest(414, "request line too long")
        # The four bytes over the limit are the CRLFCRLF that ends a head of exactly max_head.
        if head > self._limits.max_head + 4:
            raise BadRequest(431, "request head too large")

    def _check_complete_head(self, head: bytes) -> None:
        """Checks that need the whole head; it is looked at once, so this costs O(head)."""
        lines = head[:-4].split(b"\r\n")
        if len(lines) - 1 > self._limits.max_fields:
            raise BadRequest(431, "too many header fields")
        if any(line[:1] in (b" ", b"\t") for line in lines[1:]):
            raise BadRequest(400, "obsolete line folding in header fields")
        version = _VERSION.search(head, 0, len(lines[0]) + 2)
        if version and version.group(1) != b"1":
            raise BadRequest(505, "HTTP major version not supported")

    def _parse(self, head: bytes) -> RequestHead:
        """Parse a framed head with h11 and apply the checks h11 leaves to servers."""
        connection = h11.Connection(h11.SERVER)
        connection.receive_data(head)
        try:
            event = connection.next_event()
        except h11.RemoteProtocolError as error:
            raise BadRequest(error.error_status_hint, str(error)) from None
        assert isinstance(event, h11.Request), event
        fields = tuple((name, value) for name, value in event.headers)
        names = [name for name, _ in fields]
        if names.count(b"host") > 1:
            raise BadRequest(400, "more than one Host field")
        host = dict(fields).get(b"host")
        if host is not None and not HOST_VALUE.fullmatch(host):
            raise BadRequest(400, "invalid Host field value")
        if b"transfer-encoding" in names and b"content-length" in names:
            raise BadRequest(400, "both Content-Length and Transfer-Encoding")
        if b"transfer-encoding" in names or b"content-length" in names:
            self._body = connection
            self._discarded = 0
            length = dict(fields).get(b"content-length")
            self._declared_length = None if length is None else int(length)
        return RequestHead(event.method, event.target, event.http_version, fields)

    def discard_body(self) -> bool:
        """Read and drop the current request's body; True once all of it is gone.

        Raises :class:`BadRequest` for malformed chunked framing and
        :class:`BodyTooLarge` past the limit; either way the caller closes.
        """
        if self._body is None:
            return True
        while True:
            try:
                event = self._body.next_event()
            except h11.RemoteProtocolError as error:
                raise BadRequest(400, str(error)) from None
            if event is h11.NEED_DATA:
                return False
            if isinstance(event, h11.Data):
                self._discarded += len(event.data)
                if self._discarded > self._limits.max_discarded_body:
                    raise BodyTooLarge()
            elif isinstance(event, h11.EndOfMessage):
                leftover, _ = self._body.trailing_data
                self._buffer = bytearray(leftover)
                self._body = None
                self._declared_length = None
                return True
            else:
                raise BadRequest(400, "request body ended early")
