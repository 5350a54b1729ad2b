"""A request reader without h11: RequestReader's decisions, reached with find and split.

:class:`FastRequestReader` has :class:`~reference.parser.RequestReader`'s interface and makes the
same decision on the same bytes, cut into the same reads: the same :class:`RequestHead`, or the
same :class:`BadRequest` status after the same read, and the same body discarding. The h11-backed
reader stays as the reference it is tested against (``--parser h11``); this one is the default.

The theory, in the order the bytes meet it:

Framing
    A head ends at its first empty line. Until it has arrived, each read is checked where it
    lands, never from the start: a walk from the last line end seen finds the next LF with
    ``find``, then looks for a CR before it, so every byte is looked at a constant number of times
    however the head was cut. The rules are RequestReader's, checked at the same places, so a
    verdict comes with the same read: 414 once the request line, 431 once the head, is longer than
    its limit; 400 for an LF without its CR or a CR without its LF (RFC 9112 §2.2 lets a server
    accept a bare LF; we refuse it as a smuggling vector). When a whole head is there at the first
    look, as it nearly always is, a single ``find`` of CRLFCRLF and a single ``translate`` that
    counts line-ending bytes prove the walk would stop at the same place without complaint, and it
    is skipped.

The head
    Split on CRLF, a head is a request line matched whole by h11's own grammar (method token, one
    SP, a target of visible characters, one SP, ``HTTP/`` digit ``.`` digit) and field lines. h11
    accepts a field line when its name is a token followed by a colon and the rest holds no NUL,
    CR, LF, VT or FF; its value is that rest without the SP and HTAB around it. So one
    ``partition`` per line, a ``translate`` of the name against the token characters and one
    ``translate`` of the whole head against those five bytes decide what h11's per-line pattern
    decides, in linear time (that pattern backtracks quadratically on a long run of whitespace).
    A head that fails any check is handed to :meth:`FastRequestReader._refusal`, which finds the
    status RequestReader reports first: 431 for too many fields, then 400 for obs-fold, then 505,
    then 400. The common head, a GET or HEAD with no framing fields, stops there.

What h11 decides after that, in the same order
    Content-Length values are split on commas, stripped and must agree and be 1-20 digits, and a
    repeat of the first is dropped; one Transfer-Encoding whose value is ``chunked`` in any case,
    lower-cased, else 501. An HTTP/1.1 request needs one Host and any request at most one. Then
    what RequestReader adds: a Host value must be a uri-host with an optional port, and a request
    with both framings is refused. A request with neither has no body.

Bodies
    Read from the same buffer the heads are, as h11 reads them: a Content-Length body is counted
    off; a chunked one is chunk-size lines (1-20 hex digits, any extension, trailing SP/HTAB,
    CRLF), data, CRLF, then a trailer section h11 parses like a head (it takes a bare LF there, and
    obs-fold). h11 gives up once 16 KiB of a chunk-size line or trailer section is buffered without
    its end, and so do we. Dropped bytes count against ``max_discarded_body`` in stream order.
"""

from __future__ import annotations

import re
from typing import Final

from reference.limits import Limits
from reference.parser import (
    HOST_VALUE,
    BadRequest,
    BodyTooLarge,
    Reader,
    RequestHead,
    RequestReader,
)

#: The bytes a token (a method, a field name) is made of (RFC 9110 §5.6.2).
_TCHARS: Final = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
#: Bytes h11 accepts nowhere in a field line but as its end (its field-vchar is ``[^\x00\s]``).
_NOT_IN_FIELD: Final = b"\x00\r\n\x0b\x0c"
#: The same less CR and LF: once a head is framed, those can only be its line endings.
_NOT_IN_HEAD: Final = b"\x00\x0b\x0c"
#: The major version RequestReader accepts, as the byte ``_REQUEST_LINE``'s version starts with.
_ONE: Final = ord("1")
#: h11's request-line grammar (``h11._abnf.request_line``).
_REQUEST_LINE = re.compile(rb"([-!#$%&'*+.^_`|~0-9A-Za-z]+) ([\x21-\x7e]+) HTTP/([0-9]\.[0-9])")
#: The end of a request line that names a version, whatever precedes it: RequestReader answers
#: 505 for a major version other than 1 before it asks h11 about the rest of the line.
_VERSION_AT_END = re.compile(rb" HTTP/([0-9])\.[0-9]")
#: h11's chunk-size line (``h11._abnf.chunk_header``): the extension is anything but LF.
_CHUNK_SIZE_LINE = re.compile(rb"([0-9A-Fa-f]{1,20})(?:;.*)?[ \t]*\r\n")
#: Where h11 finds the end of a trailer section: a bare LF ends lines there.
_BLANK_LINE = re.compile(rb"\n\r?\n")
#: The first byte that is not part of an empty line.
_REQUEST_START = re.compile(rb"[^\r\n]")
#: h11's default max_incomplete_event_size: the longest chunk-size line or trailer section it
#: buffers while waiting for its end.
_MAX_BODY_LINES: Final = 16 * 1024


class FastRequestReader:
    """Frames and parses one request at a time out of a connection's byte stream, without h11."""

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self._buffer = bytearray()
        #: Bytes at the start of the buffer already checked; none of them ends the head.
        self._checked = 0
        #: Where the line now arriving starts.
        self._line_start = 0
        #: The request line's length, once its CRLF has arrived.
        self._request_line_length: int | None = None
        self._body: _CountedBody | _ChunkedBody | None = None
        self._discarded = 0
        self._declared_length: int | None = None
        self.eof = False

    @property
    def has_partial_request(self) -> bool:
        """True when some bytes of a request that is not yet complete have arrived."""
        if self._body is not None or not self._buffer:
            return False
        # Checked bytes start with the request line: a CR or LF first would have been stripped
        # or refused. Only a buffer not looked at yet needs a search.
        return self._checked > 0 or _REQUEST_START.search(self._buffer) is not None

    @property
    def holds_unread(self) -> bool:
        """True while received bytes wait to be parsed, or a request body is still to come."""
        return self._body is not None or bool(self._buffer)

    @property
    def refused_head_only(self) -> bool:
        """True when the request being refused is a HEAD: its error response has no content."""
        return self._body is None and self._buffer.startswith(b"HEAD ")

    @property
    def declared_body_length(self) -> int | None:
        """The current request's Content-Length; None when chunked or there is no body."""
        return self._declared_length

    def feed(self, data: bytes) -> None:
        """Add received bytes; an empty ``data`` marks the end of input."""
        if data:
            self._buffer += data
        else:
            self.eof = True

    def next_head(self) -> RequestHead | None:
        """The next complete request head, or None until more bytes arrive.

        Raises :class:`BadRequest` when the head breaks a rule; the stream
        cannot be resynchronised after that, so the caller must close.
        """
        buffer = self._buffer
        if self._body is not None or not buffer:
            return None
        head: bytes | None = None
        if self._checked == 0:
            # RFC 9112 §2.2: a server SHOULD ignore at least one empty line before
            # a request line (some clients send a stray CRLF after a POST body).
            while buffer.startswith(b"\r\n"):
                del buffer[:2]
            head = self._whole_head()
        if head is None:
            end = self._find_head_end()
            if end is None:
                return None
            head = bytes(buffer[:end])
            if len(head.translate(None, _NOT_IN_HEAD)) != len(head):
                raise self._refusal(head)
        request = self._parse(head)
        del buffer[: len(head)]
        self._checked = self._line_start = 0
        self._request_line_length = None
        return request

    def _whole_head(self) -> bytes | None:
        """The head, when all of it is in a buffer not looked at yet and framing it needs no walk.

        None sends the buffer through :meth:`_find_head_end`: the head is not whole yet, or
        something in it is wrong and the walk must find which rule breaks first.
        """
        buffer = self._buffer
        end = buffer.find(b"\r\n\r\n") + 4
        if end < 4 or end > self._limits.max_head + 4:
            return None
        head = bytes(buffer) if end == len(buffer) else bytes(buffer[:end])
        # Every CR and LF in a head framed by the walk is half of a CRLF, and the head holds
        # count(CRLF) of them. The same translate finds a byte no field line may hold.
        crlfs = head.count(b"\r\n")
        if len(head) - len(head.translate(None, _NOT_IN_FIELD)) != 2 * crlfs:
            return None
        if head.find(b"\r\n") > self._limits.max_request_line:
            return None
        return head

    def _find_head_end(self) -> int | None:
        """Check the bytes that arrived since the last call; the head's length once it is whole.

        RequestReader's walk over line endings, with ``find`` for its pattern: each problem
        is reported where it first appears, so the answer does not depend on how the head
        was split into reads.
        """
        buffer = self._buffer
        position = self._checked
        while True:
            lf = buffer.find(b"\n", position)
            cr = buffer.find(b"\r", position, len(buffer) if lf < 0 else lf)
            if cr >= 0 and cr + 1 != lf:
                self._check_sizes(cr, cr + 1)
                if cr + 1 < len(buffer):
                    raise BadRequest(400, "bare CR in request head")
                # The last byte received may yet be followed by its LF: look at it again.
                self._checked = cr
                return None
            if lf < 0:
                self._checked = len(buffer)
                self._check_sizes(len(buffer), len(buffer))
                return None
            if cr < 0:
                self._check_sizes(lf, lf + 1)
                raise BadRequest(400, "bare LF in request head")
            self._check_sizes(cr, lf + 1)
            if cr == self._line_start:
                return lf + 1
            if self._request_line_length is None:
                self._request_line_length = cr
            self._line_start = self._checked = position = lf + 1

    def _check_sizes(self, request_line: int, head: int) -> None:
        """414 or 431 once the request line or the head, this many bytes so far, is too long."""
        if self._request_line_length is None and request_line > self._limits.max_request_line:
            raise BadRequest(414, "request line too long")
        # The four bytes over the limit are the CRLFCRLF that ends a head of exactly max_head.
        if head > self._limits.max_head + 4:
            raise BadRequest(431, "request head too large")

    def _parse(self, head: bytes) -> RequestHead:
        """The request in a framed head free of NUL, VT and FF, or the BadRequest it earns."""
        lines = head.split(b"\r\n")
        del lines[-2:]
        request = _REQUEST_LINE.fullmatch(lines[0])
        if request is None or request[3][0] != _ONE or len(lines) - 1 > self._limits.max_fields:
            raise self._refusal(head)
        fields = []
        names = []
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon or not name or name.translate(None, _TCHARS):
                raise self._refusal(head)
            name = name.lower()
            names.append(name)
            fields.append((name, value.strip(b" \t")))
        method, target, version = request.groups()
        return self._accept(method, target, version, fields, names)

    def _refusal(self, head: bytes) -> BadRequest:
        """The status RequestReader reports for a head that breaks one of h11's line rules.

        It checks, in this order, the number of fields, obs-fold and the major version on
        the framed head, and only then lets h11 find a malformed line; the head breaks at
        least one of these rules, so the first that applies is the one reported.
        """
        lines = head[:-4].split(b"\r\n")
        if len(lines) - 1 > self._limits.max_fields:
            return BadRequest(431, "too many header fields")
        if any(line[:1] in (b" ", b"\t") for line in lines[1:]):
            return BadRequest(400, "obsolete line folding in header fields")
        version = _VERSION_AT_END.fullmatch(lines[0][-9:])
        if version and version[1] != b"1":
            return BadRequest(505, "HTTP major version not supported")
        if _REQUEST_LINE.fullmatch(lines[0]) is None:
            return BadRequest(400, "malformed request line")
        return BadRequest(400, "malformed header field line")

    def _accept(
        self,
        method: bytes,
        target: bytes,
        version: bytes,
        fields: list[tuple[bytes, bytes]],
        names: list[bytes],
    ) -> RequestHead:
        """h11's rules on the fields of well-formed lines, then RequestReader's own checks."""
        length: bytes | None = None
        chunked = False
        if b"content-length" in names or b"transfer-encoding" in names:
            fields, length, chunked = _normalise_framing(fields)
            names = [name for name, _ in fields]
        hosts = names.count(b"host")
        if hosts > 1 or (hosts == 0 and version == b"1.1"):
            raise BadRequest(400, "a request needs exactly one Host field")
        if hosts and not HOST_VALUE.fullmatch(fields[names.index(b"host")][1]):
            raise BadRequest(400, "invalid Host field value")
        if chunked and length is not None:
            raise BadRequest(400, "both Content-Length and Transfer-Encoding")
        if chunked:
            self._body = _ChunkedBody()
        elif length is not None:
            self._declared_length = int(length)
            self._body = _CountedBody(self._declared_length)
        self._discarded = 0
        return RequestHead(method, target, version, tuple(fields))

    def discard_body(self) -> bool:
        """Read and drop the current request's body; True once all of it is gone.

        Raises :class:`BadRequest` for malformed chunked framing and
        :class:`BodyTooLarge` past the limit; either way the caller closes.
        """
        body = self._body
        if body is None:
            return True
        while True:
            dropped = body.drop(self._buffer)
            if dropped is None:
                # As h11 does: no more bytes will finish the body, or too many were needed.
                if self.eof:
                    raise BadRequest(400, "request body ended early")
                if len(self._buffer) > _MAX_BODY_LINES:
                    raise BadRequest(400, "chunk-size line or trailer section too long")
                return False
            if dropped == 0:
                self._body = None
                self._declared_length = None
                return True
            self._discarded += dropped
            if self._discarded > self._limits.max_discarded_body:
                raise BodyTooLarge()


def _normalise_framing(
    fields: list[tuple[bytes, bytes]],
) -> tuple[list[tuple[bytes, bytes]], bytes | None, bool]:
    """h11's Content-Length and Transfer-Encoding rules, applied field by field in order.

    Returns the fields as h11 gives them, the Content-Length and whether the body is chunked.
    The first field that breaks a rule decides the status: 400, or 501 for a coding h11 lacks.
    """
    kept: list[tuple[bytes, bytes]] = []
    length: bytes | None = None
    chunked = False
    for name, value in fields:
        if name == b"content-length":
            lengths = {part.strip() for part in value.split(b",")}
            if len(lengths) != 1:
                raise BadRequest(400, "conflicting Content-Length fields")
            value = lengths.pop()
            if not value.isdigit() or len(value) > 20:
                raise BadRequest(400, "malformed Content-Length")
            if length is not None:
                if value != length:
                    raise BadRequest(400, "conflicting Content-Length fields")
                continue
            length = value
        elif name == b"transfer-encoding":
            if chunked:
                raise BadRequest(501, "more than one Transfer-Encoding field")
            value = value.lower()
            if value != b"chunked":
                raise BadRequest(501, "only Transfer-Encoding: chunked is supported")
            chunked = True
        kept.append((name, value))
    return kept, length, chunked


class _CountedBody:
    """A Content-Length body: the bytes left to drop."""

    def __init__(self, length: int) -> None:
        self._left = length

    def drop(self, buffer: bytearray) -> int | None:
        """Drop body bytes from the front of ``buffer``: how many, 0 at the end, None to wait."""
        if self._left == 0:
            return 0
        if not buffer:
            return None
        dropped = min(len(buffer), self._left)
        del buffer[:dropped]
        self._left -= dropped
        return dropped


class _ChunkedBody:
    """A chunked body, read as h11's ChunkedReader reads it, one step per call.

    The buffer's front is always the next unread byte: a chunk-size line or a trailer section
    is removed only once whole, so what waits in the buffer is the part that has not ended.
    """

    def __init__(self) -> None:
        #: Data bytes of the current chunk still to drop.
        self._left = 0
        #: The part of the CRLF after a chunk's data still to come.
        self._footer = b""
        self._in_trailer = False
        #: How far the buffer was searched for a line end without finding one.
        self._searched = 0

    def drop(self, buffer: bytearray) -> int | None:
        """Drop body bytes from the front of ``buffer``: how many, 0 at the end, None to wait."""
        if self._in_trailer:
            return self._drop_trailer(buffer)
        if self._footer:
            if not buffer:
                return None
            got = bytes(buffer[: len(self._footer)])
            if not self._footer.startswith(got):
                raise BadRequest(400, "chunk data not followed by CRLF")
            del buffer[: len(got)]
            self._footer = self._footer[len(got) :]
            if self._footer:
                return None
        if self._left == 0:
            end = buffer.find(b"\r\n", max(0, self._searched - 1))
            if end < 0:
                self._searched = len(buffer)
                return None
            size = _CHUNK_SIZE_LINE.fullmatch(buffer, 0, end + 2)
            if size is None:
                raise BadRequest(400, "malformed chunk-size line")
            # Read before the delete: a match's groups are slices of the live bytearray.
            self._left = int(size[1], 16)
            del buffer[: end + 2]
            self._searched = 0
            if self._left == 0:
                self._in_trailer = True
                return self._drop_trailer(buffer)
        if not buffer:
            return None
        dropped = min(len(buffer), self._left)
        del buffer[:dropped]
        self._left -= dropped
        if self._left == 0:
            self._footer = b"\r\n"
        return dropped

    def _drop_trailer(self, buffer: bytearray) -> int | None:
        """0 once the trailer section is whole and valid; h11 parses it as it parses a head."""
        if buffer[:1] == b"\n":
            del buffer[:1]
            return 0
        if buffer[:2] == b"\r\n":
            del buffer[:2]
            return 0
        blank = _BLANK_LINE.search(buffer, self._searched)
        if blank is None:
            self._searched = max(0, len(buffer) - 2)
            return None
        section = bytes(buffer[: blank.end()])
        del buffer[: blank.end()]
        lines = [line.removesuffix(b"\r") for line in section.split(b"\n")[:-2]]
        fields = []
        for line in _unfolded(lines):
            name, colon, value = line.partition(b":")
            if (
                not colon
                or not name
                or name.translate(None, _TCHARS)
                or len(value.translate(None, _NOT_IN_FIELD)) != len(value)
            ):
                raise BadRequest(400, "malformed trailer field line")
            fields.append((name.lower(), value.strip(b" \t")))
        try:
            _normalise_framing(fields)
        except BadRequest as error:
            raise BadRequest(400, error.reason) from None
        return 0


def _unfolded(lines: list[bytes]) -> list[bytes]:
    """Trailer lines with obs-fold continuations joined to the line before, as h11 does."""
    # Each field as a list of its parts, joined once: appending to bytes would copy the field
    # for every continuation, and a single read can hold thousands of them.
    fields: list[list[bytes]] = []
    for line in lines:
        content = line.lstrip(b" \t")
        if len(content) == len(line):
            fields.append([line])
        elif not fields:
            raise BadRequest(400, "continuation line at the start of the trailer section")
        else:
            fields[-1].append(content)
    return [b" ".join(parts) for parts in fields]


#: The request readers the core can use, by the name ``--parser`` takes.
PARSERS: dict[str, type[Reader]] = {"fast": FastRequestReader, "h11": RequestReader}
