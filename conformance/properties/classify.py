"""What a correct server must do with a request: h11's reading, and the RFC's choices.

The oracle starts from what a fresh server-side h11 connection makes of the bytes: a whole request
it accepts must be answered like its canonical equivalent, one it rejects must be refused. h11 is
not the RFC, though. Where the RFC lets a server choose, h11 takes one side (it accepts a bare LF,
it rejects a doubled SP), and a server that takes the other is still correct; in a few places it
accepts what the RFC says a server must refuse. Each of those places is one record in
`DEPARTURES`, carrying the sentence of the RFC that justifies it, so every disagreement between
the oracle and h11 can be read, and tested, in one list.

Departures of the kind "h11 rejects what a lenient server may accept" are decided by asking the
oracle again about the bytes as that server would read them (the extra whitespace collapsed, the
NUL replaced): if those bytes would be refused anyway, the leniency changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import unquote_to_bytes, urlsplit

import h11

#: The longest request line every server must take: RFC 9112 §3 recommends supporting 8000 octets.
REQUEST_LINE_MINIMUM = 8000
#: The largest head, and the most field lines, every server must take. The RFC sets no number;
#: these are modest, and every server a course would accept handles more.
HEAD_MINIMUM = 8 * 1024
FIELDS_MINIMUM = 100


class Expectation(StrEnum):
    """What a correct server does with a request."""

    #: It answers as it answers the canonical equivalent request.
    ANSWER = "answer"
    #: It answers with a 4xx or 5xx status, or closes the connection.
    REFUSE = "refuse"
    #: The RFC lets it do either; only "no hang, no crash, a valid response" applies.
    EITHER = "either"


@dataclass(frozen=True)
class Classification:
    """The oracle's verdict on some bytes, with what h11 read in them.

    `method`, `path` and `version` are set when h11 accepted the request. `path` is the target's
    path, percent-decoded as UTF-8 (None if that fails), without its query, and taken out of
    an absolute-form target. `close` says whether the connection must close after the response:
    h11's keep-alive rule as amended by `DEPARTURES`, and always True for a refused request,
    since nothing after it can be trusted to be framed as the client meant.
    """

    expectation: Expectation
    reason: str
    method: str | None
    path: str | None
    version: str | None
    close: bool


def classify(data: bytes) -> Classification:
    """What a correct server must do with `data`: one request head, perhaps with a short body.

    Only the first request is judged; any bytes after it are not looked at.
    """
    reading = _read(data)
    applying = [departure for departure in DEPARTURES if departure.applies(reading)]
    request = reading.request
    expectation, reason = reading.expectation, reading.reason
    close = reading.closes if request is not None else True
    if applying:
        strongest = max(_STRENGTH[departure.expectation] for departure in applying)
        deciding = [d for d in applying if _STRENGTH[d.expectation] == strongest]
        expectation = deciding[0].expectation
        reason = "; ".join(f"{d.summary} ({d.rfc})" for d in deciding)
        overrides = [d.close for d in applying if d.close is not None]
        if overrides:
            # One departure may say an HTTP/1.0 connection can persist while another says this
            # request's framing forces a close: closing is the one answer both allow.
            close = any(overrides)
    if expectation is Expectation.REFUSE:
        close = True
    if request is None:
        return Classification(expectation, reason, None, None, None, close)
    return Classification(
        expectation,
        reason,
        request.method.decode("ascii"),
        _decoded_path(request.target),
        request.http_version.decode("ascii"),
        close,
    )


# What h11 reads ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Reading:
    """What h11 made of the bytes, and the raw lines the departures look at."""

    data: bytes
    #: Set when h11 read a whole request, head and body.
    request: h11.Request | None
    #: h11's verdict, and its words.
    expectation: Expectation
    reason: str
    #: h11's keep-alive rule for an accepted request: True when the connection must close.
    closes: bool
    #: The head up to the blank line that ends it (all of `data` if none does), as lines without
    #: their endings: the request line first. An obs-fold continuation is a line of its own.
    lines: tuple[bytes, ...]
    #: Where the field lines, with their line endings, start and end in `data`.
    fields_span: tuple[int, int]
    #: The length of the head, blank line included.
    head_length: int

    @property
    def accepted(self) -> bool:
        return self.request is not None

    @property
    def field_bytes(self) -> bytes:
        start, end = self.fields_span
        return self.data[start:end]

    def headers(self, name: bytes) -> list[bytes]:
        """The values of every field called `name` (lower case) in the accepted request."""
        assert self.request is not None
        return [value for field_name, value in self.request.headers if field_name == name]


_HEAD_END = re.compile(rb"\n\r?\n")


def _read(data: bytes) -> _Reading:
    """Feed `data` to a fresh h11 server connection, then the end of input if it wants more."""
    # h11 refuses a head over 16 KiB only while it is incomplete. How large a head a server must
    # take is the size departures' question, so h11's own limit is set out of the way.
    connection = h11.Connection(h11.SERVER, max_incomplete_event_size=len(data) + 1)
    connection.receive_data(data)
    end = _HEAD_END.search(data)
    head_length = end.end() if end else len(data)
    fields_end = end.start() + 1 if end else len(data)
    # The field lines start after the request line's LF; with no field lines, where they end.
    fields_start = min(data.find(b"\n") + 1 or len(data), fields_end)
    head = data[: end.start()] if end else data
    lines = tuple(line.removesuffix(b"\r") for line in head.split(b"\n"))

    def reading(
        expectation: Expectation, reason: str, request: h11.Request | None = None
    ) -> _Reading:
        closes = connection.their_state is h11.MUST_CLOSE
        span = (fields_start, fields_end)
        return _Reading(data, request, expectation, reason, closes, lines, span, head_length)

    request: h11.Request | None = None
    ended = False
    try:
        while True:
            event = connection.next_event()
            if isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.EndOfMessage):
                assert request is not None
                target = request.target.decode("ascii", "backslashreplace")
                words = f"{request.method.decode('ascii')} {target}"
                return reading(Expectation.ANSWER, f"h11 reads a whole request: {words}", request)
            elif event is h11.NEED_DATA:
                # The bytes stop short of a whole request; the end of input tells h11 so, and
                # after it h11 has to decide.
                assert not ended, "h11 asked for data after the end of input"
                connection.receive_data(b"")
                ended = True
            elif isinstance(event, h11.ConnectionClosed):
                return reading(Expectation.EITHER, "no request at all: the input ends first")
    except h11.RemoteProtocolError as error:
        if not ended:
            return reading(Expectation.REFUSE, f"h11: {error}")
        if request is not None:
            return reading(Expectation.REFUSE, f"the head is whole but not the body; h11: {error}")
        return reading(Expectation.REFUSE, f"the head never ends; h11: {error}")


_ABSOLUTE_FORM = re.compile(rb"[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")


def _decoded_path(target: bytes) -> str | None:
    """The path a target names, decoded; None for the asterisk and authority forms."""
    if absolute := _ABSOLUTE_FORM.match(target):
        target = target[absolute.end() :]
        # An empty path is "/" (RFC 9110 §4.2.3).
        target = target if target.startswith(b"/") else b"/" + target
    if not target.startswith(b"/"):
        return None
    try:
        return unquote_to_bytes(target.split(b"?", 1)[0]).decode("utf-8")
    except UnicodeDecodeError:
        return None


# Where the oracle departs from h11 --------------------------------------------------------------


@dataclass(frozen=True)
class Departure:
    """One place where the oracle says something other than h11, and the RFC sentence behind it."""

    name: str
    #: The section that holds `quote`, as "RFC 9112 §2.2".
    rfc: str
    #: The justifying sentence, verbatim from conformance/rfc/.
    quote: str
    #: What the oracle expects where this departure applies.
    expectation: Expectation
    #: What h11 does and what the RFC allows instead, in a few words, for a report.
    summary: str
    applies: Callable[[_Reading], bool] = field(repr=False, compare=False)
    #: Whether the connection must close instead of what h11 says; None leaves h11's word.
    close: bool | None = None


def _lenient(reading: _Reading, lenient_reading: bytes) -> bool:
    """True when a server that reads `reading.data` as `lenient_reading` has something to answer.

    Then a strict server's refusal and a lenient server's answer are both correct.
    """
    if lenient_reading == reading.data:
        return False
    return classify(lenient_reading).expectation is not Expectation.REFUSE


def _in_fields(reading: _Reading, pattern: bytes, replacement: bytes) -> bytes:
    """The bytes with `pattern` replaced in the field lines only."""
    start, end = reading.fields_span
    replaced = re.sub(pattern, replacement, reading.data[start:end])
    return reading.data[:start] + replaced + reading.data[end:]


def _connection_options(reading: _Reading) -> set[bytes]:
    values = reading.headers(b"connection")
    return {option.strip().lower() for value in values for option in value.split(b",")}


_BARE_LF = re.compile(rb"(?<!\r)\n")
_WHITESPACE_PRECEDED = re.compile(rb"\A([^\n]*\n)(?:[ \t][^\n]*\n)+")
_LEADING_EMPTY_LINES = re.compile(rb"\A(?:\r?\n)+")
#: What a lenient request-line parser may take for SP (RFC 9112 §3).
_REQUEST_LINE_WHITESPACE = re.compile(rb"[ \t\x0b\x0c\r]+")
#: uri-host [ ":" port ] (RFC 9110 §7.2, RFC 3986 §3.2.2): an IP literal or a registered name.
_HOST = re.compile(
    rb"(?:\[[0-9A-Za-z:._~!$&'()*+,;=-]+\]|[0-9A-Za-z._~!$&'()*+,;=%-]*)(?::[0-9]*)?"
)
#: CTLs other than NUL, CR, LF (their own rule) and HTAB (allowed in a value).
_OTHER_CONTROLS = rb"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]"


def _bare_lf(reading: _Reading) -> bool:
    return reading.accepted and _BARE_LF.search(reading.data, 0, reading.head_length) is not None


def _obs_fold(reading: _Reading) -> bool:
    return reading.accepted and any(line[:1] in (b" ", b"\t") for line in reading.lines[1:])


def _whitespace_before_first_field(reading: _Reading) -> bool:
    return not reading.accepted and _lenient(
        reading, _WHITESPACE_PRECEDED.sub(rb"\1", reading.data, count=1)
    )


def _leading_empty_lines(reading: _Reading) -> bool:
    return not reading.accepted and _lenient(
        reading, _LEADING_EMPTY_LINES.sub(b"", reading.data, count=1)
    )


def _request_line_whitespace(reading: _Reading) -> bool:
    line, newline, rest = reading.data.partition(b"\n")
    if reading.accepted or not newline:
        return False
    ending = b"\r\n" if line.endswith(b"\r") else b"\n"
    words = _REQUEST_LINE_WHITESPACE.split(line.removesuffix(b"\r"))
    return _lenient(reading, b" ".join(word for word in words if word) + ending + rest)


def _both_framings(reading: _Reading) -> bool:
    return (
        reading.accepted
        and bool(reading.headers(b"content-length"))
        and bool(reading.headers(b"transfer-encoding"))
    )


def _transfer_encoding_in_http_1_0(reading: _Reading) -> bool:
    return (
        reading.request is not None
        and reading.request.http_version == b"1.0"
        and bool(reading.headers(b"transfer-encoding"))
    )


def _long_request_line(reading: _Reading) -> bool:
    return reading.accepted and len(reading.lines[0]) > REQUEST_LINE_MINIMUM


def _large_head(reading: _Reading) -> bool:
    return reading.request is not None and (
        reading.head_length > HEAD_MINIMUM or len(reading.request.headers) > FIELDS_MINIMUM
    )


def _other_major_version(reading: _Reading) -> bool:
    return reading.request is not None and not reading.request.http_version.startswith(b"1.")


def _invalid_host(reading: _Reading) -> bool:
    return reading.accepted and any(
        _HOST.fullmatch(value) is None for value in reading.headers(b"host")
    )


def _invalid_absolute_target(reading: _Reading) -> bool:
    """An absolute-form target whose authority is no host (e.g. `http://[/`)."""
    if reading.request is None or b"://" not in reading.request.target[:16]:
        return False
    try:
        urlsplit(reading.request.target)
    except ValueError:
        return True
    return False


def _nul_or_cr_in_field_value(reading: _Reading) -> bool:
    return _lenient(reading, _in_fields(reading, rb"\x00|\r(?!\n)", b" "))


def _control_in_field_value(reading: _Reading) -> bool:
    if re.search(_OTHER_CONTROLS, reading.field_bytes) is None:
        return False
    if reading.accepted:
        return True
    # h11 keeps most CTLs in a value as opaque bytes, but rejects VT and FF as whitespace.
    # A server that retains them reads them as h11 reads any other CTL, such as SOH.
    return _lenient(reading, _in_fields(reading, rb"[\x0b\x0c]", b"\x01"))


def _keep_alive_in_http_1_0(reading: _Reading) -> bool:
    if reading.request is None or reading.request.http_version != b"1.0":
        return False
    options = _connection_options(reading)
    return b"keep-alive" in options and b"close" not in options


DEPARTURES: tuple[Departure, ...] = (
    Departure(
        "bare-lf",
        "RFC 9112 §2.2",
        "Although the line terminator for the start-line and fields is the sequence CRLF, a"
        " recipient MAY recognize a single LF as a line terminator and ignore any preceding CR.",
        Expectation.EITHER,
        "a bare LF ends a line: h11 accepts it, a server may also reject it",
        _bare_lf,
    ),
    Departure(
        "obs-fold",
        "RFC 9112 §5.2",
        'A server that receives an obs-fold in a request message that is not within a "message/http"'
        " container MUST either reject the message by sending a 400 (Bad Request), preferably with"
        " a representation explaining that obsolete line folding is unacceptable, or replace each"
        " received obs-fold with one or more SP octets prior to interpreting the field value or"
        " forwarding the message downstream.",
        Expectation.EITHER,
        "a field value is folded onto another line: h11 unfolds it, a server may also answer 400",
        _obs_fold,
    ),
    Departure(
        "whitespace-before-first-field",
        "RFC 9112 §2.2",
        "A recipient that receives whitespace between the start-line and the first header field"
        " MUST either reject the message as invalid or consume each whitespace-preceded line"
        " without further processing of it",
        Expectation.EITHER,
        "a line after the request line starts with whitespace: h11 rejects it,"
        " a server may also ignore that line",
        _whitespace_before_first_field,
    ),
    Departure(
        "leading-empty-line",
        "RFC 9112 §2.2",
        "In the interest of robustness, a server that is expecting to receive and parse a"
        " request-line SHOULD ignore at least one empty line (CRLF) received prior to the"
        " request-line.",
        Expectation.EITHER,
        "empty lines come before the request line: h11 rejects them, a server should ignore them",
        _leading_empty_lines,
    ),
    Departure(
        "request-line-whitespace",
        "RFC 9112 §3",
        "Although the request-line grammar rule requires that each of the component elements be"
        " separated by a single SP octet, recipients MAY instead parse on whitespace-delimited"
        " word boundaries and, aside from the CRLF terminator, treat any form of whitespace as"
        " the SP separator while ignoring preceding or trailing whitespace",
        Expectation.EITHER,
        "the request line's parts are not separated by single SPs: h11 rejects it,"
        " a server may also split it on any whitespace",
        _request_line_whitespace,
    ),
    Departure(
        "content-length-and-transfer-encoding",
        "RFC 9112 §6.1",
        "A server MAY reject a request that contains both Content-Length and Transfer-Encoding or"
        " process such a request in accordance with the Transfer-Encoding alone. Regardless, the"
        " server MUST close the connection after responding to such a request to avoid the"
        " potential attacks.",
        Expectation.EITHER,
        "both Content-Length and Transfer-Encoding: h11 frames by Transfer-Encoding,"
        " a server may also reject it, and must close either way",
        _both_framings,
        close=True,
    ),
    Departure(
        "transfer-encoding-in-http-1.0",
        "RFC 9112 §6.1",
        "A server or client that receives an HTTP/1.0 message containing a Transfer-Encoding"
        " header field MUST treat the message as if the framing is faulty, even if a"
        " Content-Length is present, and close the connection after processing the message.",
        Expectation.EITHER,
        "an HTTP/1.0 request with Transfer-Encoding: h11 decodes it, a server may also take its"
        " framing for faulty, and must close either way",
        _transfer_encoding_in_http_1_0,
        close=True,
    ),
    Departure(
        "long-request-line",
        "RFC 9112 §3",
        "A server that receives a request-target longer than any URI it wishes to parse MUST"
        " respond with a 414 (URI Too Long) status code",
        Expectation.EITHER,
        f"the request line is over {REQUEST_LINE_MINIMUM} bytes: h11 takes it,"
        " a server may also answer 414",
        _long_request_line,
    ),
    Departure(
        "large-head",
        "RFC 9110 §5.4",
        "A server that receives a request header field line, field value, or set of fields larger"
        " than it wishes to process MUST respond with an appropriate 4xx (Client Error) status"
        " code.",
        Expectation.EITHER,
        f"the head is over {HEAD_MINIMUM} bytes or {FIELDS_MINIMUM} fields: h11 takes it,"
        " a server may also answer 431",
        _large_head,
    ),
    Departure(
        "other-major-version",
        "RFC 9110 §6.2",
        "A server can send a 505 (HTTP Version Not Supported) response if it wishes, for any"
        " reason, to refuse service of the client's major protocol version.",
        Expectation.EITHER,
        "the major version is not 1: h11 reads the request, a server may also answer 505",
        _other_major_version,
    ),
    Departure(
        "invalid-host",
        "RFC 9112 §3.2",
        "A server MUST respond with a 400 (Bad Request) status code to any HTTP/1.1 request"
        " message that lacks a Host header field and to any request message that contains more"
        " than one Host header field line or a Host header field with an invalid field value.",
        Expectation.REFUSE,
        "the Host value is not a host and port: h11 does not check it, a server must answer 400",
        _invalid_host,
    ),
    Departure(
        "invalid-absolute-target",
        "RFC 9112 §3.2",
        "Recipients of an invalid request-line SHOULD respond with either a 400 (Bad Request)"
        " error or a 301 (Moved Permanently) redirect with the request-target properly encoded.",
        Expectation.EITHER,
        "an absolute-form target whose authority is not a host: h11 does not check it,"
        " a server should answer 400",
        _invalid_absolute_target,
    ),
    Departure(
        "nul-or-cr-in-field-value",
        "RFC 9110 §5.5",
        "a recipient of CR, LF, or NUL within a field value MUST either reject the message or"
        " replace each of those characters with SP before further processing or forwarding of"
        " that message.",
        Expectation.EITHER,
        "a NUL or bare CR in a field value: h11 rejects it, a server may also replace it with SP",
        _nul_or_cr_in_field_value,
    ),
    Departure(
        "control-in-field-value",
        "RFC 9110 §5.5",
        "Field values containing other CTL characters are also invalid; however, recipients MAY"
        " retain such characters for the sake of robustness when they appear within a safe"
        " context",
        Expectation.EITHER,
        "a control character in a field value: it is invalid, so a server may reject it,"
        " or retain it",
        _control_in_field_value,
    ),
    Departure(
        "keep-alive-in-http-1.0",
        "RFC 9112 §9.3",
        'If the received protocol is HTTP/1.0, the "keep-alive" connection option is present,'
        " either the recipient is not a proxy or the message is a response, and the recipient"
        ' wishes to honor the HTTP/1.0 "keep-alive" mechanism, the connection will persist after'
        " the current response",
        Expectation.ANSWER,
        "HTTP/1.0 with keep-alive: h11 always closes, a server may also keep the connection",
        _keep_alive_in_http_1_0,
        close=False,
    ),
)

_STRENGTH = {Expectation.ANSWER: 0, Expectation.EITHER: 1, Expectation.REFUSE: 2}


def http09_shaped(data: bytes) -> bool:
    """Whether the request line is two words, method and target: HTTP/0.9's request form.

    RFC 9112 App. C.1 leaves a server free to still speak HTTP/0.9 ("Any server that implements
    name-based virtual hosts ought to disable support for HTTP/0.9"), and RFC 9110 §6.2 has it
    answer in a version no higher than the request's: the body alone, then a close. Such a
    reply is accepted wherever the request may be refused, the one answer h11 cannot parse.
    """
    line = data.split(b"\n", 1)[0]
    return len(_REQUEST_LINE_WHITESPACE.split(line.strip())) == 2


def describe_departures() -> str:
    """Every departure from h11 as text for docs: its name, verdict, summary, RFC and sentence."""
    return "\n".join(
        f"- {departure.name} ({departure.expectation}): {departure.summary}.\n"
        f'  {departure.rfc}: "{departure.quote}"'
        for departure in DEPARTURES
    )
