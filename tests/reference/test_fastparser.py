"""FastRequestReader against RequestReader and h11: the same decisions on the same bytes, however cut.

The proof is differential. Both readers are driven the way the core drives them (feed a read, take
heads and drop bodies as far as the bytes allow, then the end of input) and everything the core
can learn is written down in order: each head and its declared body length, each step of
discarding a body, the status and the point of a refusal, and after every read whether a request
is partly there. The two transcripts must be equal for valid requests, pipelines and the property
layer's mutations, for heads built field by field from awkward bytes and then mangled byte by
byte, for bodies, for arbitrary bytes and for every regression input; whole, cut at every byte
and cut at random. Since RequestReader is h11 plus stricter checks, equal transcripts make the
fast reader agree with h11 on all h11 accepts and refuse all it refuses; a test against h11
itself checks that directly.

The normal run is short; `H1CHECK_FUZZ=deep` searches for minutes instead of seconds.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from pathlib import Path

import h11
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.properties.requests import Mutation, RequestCase, mutations, pipelines, requests
from reference.fastparser import PARSERS, FastRequestReader
from reference.limits import Limits
from reference.parser import BadRequest, BodyTooLarge, Reader, RequestHead, RequestReader

DEEP = os.environ.get("H1CHECK_FUZZ") == "deep"
REGRESSIONS = Path(__file__).resolve().parents[2] / "fixtures" / "regressions"
DEFAULT = Limits()
#: Tight limits make 414, 431, too many fields and too large a body reachable with small inputs.
TIGHT = Limits(max_request_line=40, max_head=160, max_fields=4, max_discarded_body=24)
LIMITS = st.sampled_from([DEFAULT, TIGHT])
#: Inputs up to this long are also cut at every byte; longer ones only at random places.
EVERY_CUT_MAX = 400


def examples(normal: int, deep: int) -> settings:
    """Hypothesis settings running `normal` examples, or `deep` under H1CHECK_FUZZ=deep."""
    return settings(
        max_examples=deep if DEEP else normal,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# Driving a reader as the core does ---------------------------------------------------------------


def transcript(reader_class: type[Reader], chunks: Sequence[bytes], limits: Limits) -> list[tuple]:
    """What the core could learn from a reader fed `chunks` and then the end of input.

    Heads are taken and bodies dropped as far as each read allows, in the core's order; the
    transcript stops at the first refusal, as the core closes then.
    """
    reader = reader_class(limits)
    seen: list[tuple] = []
    in_body = False
    for chunk in [*chunks, b""]:
        reader.feed(chunk)
        try:
            while True:
                if in_body:
                    done = reader.discard_body()
                    seen.append(("discarded", done, reader.has_partial_request))
                    if not done:
                        break
                    in_body = False
                head = reader.next_head()
                if head is None:
                    break
                seen.append(("head", head, reader.declared_body_length, reader.has_partial_request))
                in_body = True
        except BadRequest as error:
            seen.append(("refused", error.status, reader.refused_head_only, in_body))
            return seen
        except BodyTooLarge:
            seen.append(("too large",))
            return seen
        seen.append(("read", reader.has_partial_request, reader.declared_body_length))
    return seen


def cut(data: bytes, points: Sequence[int]) -> list[bytes]:
    """`data` as reads cut at `points`; never an empty read, which would mean end of input."""
    bounds = [0, *sorted(set(points)), len(data)]
    return [data[start:end] for start, end in itertools.pairwise(bounds) if end > start]


def assert_same(chunks: Sequence[bytes], limits: Limits = DEFAULT) -> list[tuple]:
    """Both readers give the same transcript for these reads; returns it."""
    expected = transcript(RequestReader, chunks, limits)
    actual = transcript(FastRequestReader, chunks, limits)
    assert actual == expected, f"reads {[bytes(chunk) for chunk in chunks]!r}"
    return expected


def assert_same_however_cut(data: bytes, limits: Limits, points: Sequence[int] = ()) -> None:
    """The same transcripts whole, at the given cut points, and at every cut if `data` is short."""
    assert_same([data], limits)
    if points:
        assert_same(cut(data, points), limits)
    if len(data) <= EVERY_CUT_MAX:
        for at in range(1, len(data)):
            assert_same([data[:at], data[at:]], limits)


def cut_points(data: bytes, max_cuts: int) -> st.SearchStrategy[list[int]]:
    """Up to `max_cuts` places to cut `data`, each inside it."""
    if len(data) < 2:
        return st.just([])
    return st.lists(st.integers(1, len(data) - 1), max_size=max_cuts, unique=True)


# Heads built from awkward parts ------------------------------------------------------------------

_METHODS = [b"GET", b"HEAD", b"POST", b"OPTIONS", b"get", b"G@T", b"", b"GET\x00", b"M-SEARCH"]
_TARGETS = [b"/", b"/a?b=c", b"*", b"http://localhost:80/x", b"/a b", b"/\x7f", b"/\x80", b""]
_VERSIONS = [
    *[b"HTTP/1.1"] * 4,
    b"HTTP/1.0",
    b"HTTP/2.0",
    b"HTTP/1.2",
    b"HTTP/0.9",
    b"http/1.1",
    b"HTTP/1.1 ",
    b"HTTP/1",
    b"HTTP/\xd9\xa1.1",
]
_NAMES = [
    b"Host",
    b"HOST",
    b"Content-Length",
    b"content-length",
    b"Transfer-Encoding",
    b"Connection",
    b"X-A",
    b"Accept",
    b"",
    b"Bad Name",
    b"Bad\x00",
    b" Host",
    b"Host ",
    b"X\x7f",
    b"\xc3\xa9",
]
_VALUES: dict[bytes, list[bytes]] = {
    b"host": [b"localhost", b"localhost:7890", b"[::1]:80", b"a b", b"", b"a:b:c", b"%41", b"\x01"],
    b"content-length": [b"0", b"3", b"5", b"007", b"3, 3", b"3,4", b"", b"-1", b"x", b"1" * 21],
    b"transfer-encoding": [b"chunked", b"Chunked", b"gzip", b"chunked, chunked", b"identity"],
    b"connection": [b"close", b"keep-alive", b"Keep-Alive, Close", b"upgrade", b""],
}
_VALUE_BYTES = st.binary(max_size=12) | st.text(
    alphabet=' \t:,;="abcXYZ019\x00\x01\x0b\x0c\x7f\x80\xff', max_size=12
).map(lambda text: text.encode("latin-1"))
_LINE_ENDS = st.sampled_from([b"\r\n"] * 12 + [b"\n", b"\r", b"\r\r\n", b"\n\r"])
_OWS = st.sampled_from([b"", b" ", b"  ", b"\t", b" \t "])


@st.composite
def field_lines(draw: st.DrawFn) -> bytes:
    """One field line, usually well-formed, with a value that suits its name or is random."""
    name = draw(st.sampled_from(_NAMES))
    values = _VALUES.get(name.lower(), [])
    value = draw(st.sampled_from(values) | _VALUE_BYTES if values else _VALUE_BYTES)
    colon = draw(st.sampled_from([b":"] * 8 + [b"", b" :", b"::"]))
    return name + colon + draw(_OWS) + value + draw(_OWS) + draw(_LINE_ENDS)


@st.composite
def chunked_bodies(draw: st.DrawFn) -> bytes:
    """A chunked body, usually well-formed, with extensions, odd sizes, trailers and glitches."""
    body = b""
    for _ in range(draw(st.integers(0, 3))):
        data = draw(st.binary(max_size=12))
        size = draw(
            st.sampled_from([b"%x", b"%X", b"0%x", b"%x;ext=1", b"%x ", b"%x;a\r", b"%x\t"])
        )
        end = draw(st.sampled_from([b"\r\n"] * 6 + [b"\n", b"", b"\r\nX"]))
        body += size % len(data) + b"\r\n" + data + end
    body += draw(st.sampled_from([b"0\r\n", b"00\r\n", b"0;last\r\n", b"0\n", b"x\r\n"]))
    trailers = draw(
        st.lists(
            st.sampled_from(
                [
                    b"X-Trailer: 1\r\n",
                    b"X-Trailer: 1\n",
                    b" folded\r\n",
                    b"Content-Length: x\r\n",
                    b"Transfer-Encoding: gzip\r\n",
                    b"Bad Trailer\r\n",
                    b"X:\x00\r\n",
                    b"X: a\rb\r\n",
                ]
            ),
            max_size=3,
        )
    )
    return body + b"".join(trailers) + draw(st.sampled_from([b"\r\n"] * 4 + [b"\n", b""]))


@st.composite
def built_requests(draw: st.DrawFn) -> bytes:
    """A request assembled from the parts above, with a body that may match its framing."""
    leading = draw(st.sampled_from([b""] * 6 + [b"\r\n", b"\r\n\r\n", b"\n"]))
    line = b" ".join(
        [
            draw(st.sampled_from(_METHODS)),
            draw(st.sampled_from(_TARGETS)),
            draw(st.sampled_from(_VERSIONS)),
        ]
    )
    fields = draw(st.lists(field_lines(), max_size=6))
    if draw(st.booleans()):
        fields.insert(0, b"Host: localhost\r\n")
    head = leading + line + draw(_LINE_ENDS) + b"".join(fields) + draw(_LINE_ENDS)
    body = draw(st.sampled_from([b"", b"abc", b"abcde" * 8]) | chunked_bodies())
    follow = draw(st.sampled_from([b"", b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n", b"\r\n"]))
    return head + body + follow


@st.composite
def requests_with_bodies(draw: st.DrawFn) -> bytes:
    """A valid head framing a body by length or chunks; the body may fall short or run over."""
    method = draw(st.sampled_from([b"POST", b"PUT", b"GET"]))
    if draw(st.booleans()):
        body = draw(st.binary(max_size=40))
        declared = max(0, len(body) + draw(st.sampled_from([0, 0, 0, -2, -1, 1, 2])))
        framing = b"Content-Length: %d" % declared
    else:
        body = draw(chunked_bodies())
        framing = b"Transfer-Encoding: chunked"
    head = method + b" /upload HTTP/1.1\r\nHost: a\r\n" + framing + b"\r\n\r\n"
    follow = draw(st.sampled_from([b"", b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n", b"\r\n"]))
    return head + body + follow


#: Bytes that matter to a parser, for edits that break a valid request in one place.
_EDIT_BYTES = st.sampled_from([*b"\r\n\x00\t :;,/\x0b\x0c\x7f\x80H1"])


@st.composite
def edited(draw: st.DrawFn, data: bytes) -> bytes:
    """`data` with one to three bytes inserted, deleted or replaced."""
    edited = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(edited)))
        kind = draw(st.sampled_from(["insert", "delete", "replace"]))
        if kind == "insert" or at == len(edited):
            edited[at:at] = bytes([draw(_EDIT_BYTES)])
        elif kind == "delete":
            del edited[at]
        else:
            edited[at] = draw(_EDIT_BYTES)
    return bytes(edited)


# Generated requests ------------------------------------------------------------------------------


@examples(normal=25, deep=2000)
@given(requests(), LIMITS)
def test_a_valid_request_reads_the_same_whole_and_cut_at_every_byte(
    case: RequestCase, limits: Limits
):
    assert_same_however_cut(case.data, limits)
    # Byte by byte, the way a slow client sends it.
    assert_same([case.data[at : at + 1] for at in range(len(case.data))], limits)


@examples(normal=25, deep=1500)
@given(pipelines(1, 8), LIMITS, st.data())
def test_pipelined_requests_read_the_same_however_cut(
    cases: list[RequestCase], limits: Limits, data: st.DataObject
):
    stream = b"".join(case.data for case in cases)
    points = data.draw(cut_points(stream, max_cuts=16), label="cut points")
    assert_same([stream], limits)
    assert_same(cut(stream, points), limits)


@examples(normal=60, deep=3000)
@given(mutations(), LIMITS, st.data())
def test_a_mutated_request_gets_the_same_verdict_at_the_same_read(
    mutation: Mutation, limits: Limits, data: st.DataObject
):
    points = data.draw(cut_points(mutation.data, max_cuts=8), label="cut points")
    assert_same_however_cut(mutation.data, limits, points)


@examples(normal=120, deep=6000)
@given(built_requests(), LIMITS, st.data())
def test_a_request_built_from_awkward_parts_reads_the_same(
    request: bytes, limits: Limits, data: st.DataObject
):
    points = data.draw(cut_points(request, max_cuts=8), label="cut points")
    assert_same_however_cut(request, limits, points)


@examples(normal=80, deep=4000)
@given(requests_with_bodies(), LIMITS, st.data())
def test_a_body_is_discarded_the_same_way_however_it_is_cut(
    request: bytes, limits: Limits, data: st.DataObject
):
    points = data.draw(cut_points(request, max_cuts=8), label="cut points")
    assert_same_however_cut(request, limits, points)


@examples(normal=80, deep=4000)
@given(st.data(), LIMITS)
def test_a_request_edited_byte_by_byte_reads_the_same(data: st.DataObject, limits: Limits):
    bases = [requests().map(lambda case: case.data), built_requests(), requests_with_bodies()]
    base = data.draw(st.sampled_from(bases))
    request = data.draw(edited(data.draw(base, label="request")), label="edited")
    points = data.draw(cut_points(request, max_cuts=8), label="cut points")
    assert_same_however_cut(request, limits, points)


@examples(normal=60, deep=3000)
@given(st.binary(max_size=300), LIMITS, st.data())
def test_arbitrary_bytes_read_the_same(raw: bytes, limits: Limits, data: st.DataObject):
    points = data.draw(cut_points(raw, max_cuts=6), label="cut points")
    assert_same([raw], limits)
    assert_same(cut(raw, points), limits)


@pytest.mark.parametrize("path", sorted(REGRESSIONS.glob("*.http")), ids=lambda path: path.stem)
@pytest.mark.parametrize("limits", [Limits(), TIGHT], ids=["default-limits", "tight-limits"])
def test_a_regression_input_reads_the_same_whole_and_cut_anywhere(path: Path, limits: Limits):
    data = path.read_bytes()
    assert_same([data], limits)
    for at in range(1, len(data)):
        assert_same([data[:at], data[at:]], limits)
    assert_same([data[at : at + 1] for at in range(len(data))], limits)


# Against h11 itself ------------------------------------------------------------------------------


def h11_reading(data: bytes) -> tuple[h11.Request | None, bool | None]:
    """The request a fresh h11 server reads in `data`, or None if it refuses or waits; and
    whether it would close after it, when it read the whole message."""
    connection = h11.Connection(h11.SERVER, max_incomplete_event_size=len(data) + 1)
    connection.receive_data(data)
    try:
        request = connection.next_event()
        if not isinstance(request, h11.Request):
            return None, None
        while not isinstance(event := connection.next_event(), h11.EndOfMessage):
            if event is h11.NEED_DATA:
                return request, None
    except h11.RemoteProtocolError:
        return None, None
    return request, connection.their_state is h11.MUST_CLOSE


def assert_agrees_with_h11(data: bytes) -> None:
    """What the fast reader accepts, h11 reads the same; what h11 refuses, the fast reader does."""
    reader = FastRequestReader(Limits(max_head=64 * 1024, max_request_line=64 * 1024))
    reader.feed(data)
    try:
        head = reader.next_head()
    except BadRequest:
        return
    # RFC 9112 §2.2: the reader skips empty lines before a request line; h11 does not.
    request, closes = h11_reading(data.lstrip(b"\r\n") if head else data)
    if head is None:
        return
    assert request is not None, f"h11 refuses what the fast reader accepts: {data!r}"
    assert head == RequestHead(
        request.method, request.target, request.http_version, tuple(request.headers)
    )
    if closes is not None and head.http_version in (b"1.0", b"1.1"):
        assert head.wants_close is closes, "a different decision about the connection"
    if closes:
        assert head.wants_close


@examples(normal=150, deep=6000)
@given(
    st.one_of(
        requests().map(lambda case: case.data),
        mutations().map(lambda mutation: mutation.data),
        built_requests(),
        built_requests().flatmap(edited),
    )
)
def test_what_the_fast_reader_accepts_h11_reads_the_same_and_what_h11_refuses_it_refuses(
    data: bytes,
):
    assert_agrees_with_h11(data)


# Explicit cases ----------------------------------------------------------------------------------

#: Heads h11 accepts or only catches late, that a server must refuse, with the status.
STRICTER_THAN_H11 = [
    (b"GET / HTTP/1.1\nHost: a\n\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n  folded\r\n\r\n", 400),
    (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    (b"GET  HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
]
#: Heads h11 refuses, with the status both readers answer.
REFUSED_LIKE_H11 = [
    (b"GET / HTTP/1.1\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x0bb\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x0c\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\n: empty name\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nX-No-Colon\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nX\x7f: y\r\n\r\n", 400),
    (b"GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    (b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400),
    (b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 2\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 01\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: " + b"1" * 21 + b"\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 501),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    (
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n",
        501,
    ),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
]


@pytest.mark.parametrize("reader_class", PARSERS.values(), ids=PARSERS.keys())
@pytest.mark.parametrize(("raw", "status"), STRICTER_THAN_H11 + REFUSED_LIKE_H11)
def test_refuses_with_the_status_of_the_first_rule_broken(
    reader_class: type[Reader], raw: bytes, status: int
):
    reader = reader_class(Limits())
    reader.feed(raw)
    with pytest.raises(BadRequest) as caught:
        reader.next_head()
    assert caught.value.status == status
    assert_same_however_cut(raw, Limits())


@pytest.mark.parametrize(
    "raw",
    [
        b"GET / HTTP/1.0\r\n\r\n",
        b"GET / HTTP/1.2\r\nX: \x01\x7f\x80\xff\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\nContent-Length: 3\r\n\r\nabc",
        b"GET / HTTP/1.1\r\nHost:[::1]:80\r\nX:\r\nY: \t \r\nZ:\ta  b\t\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n0\r\n\r\n",
    ],
)
def test_accepts_what_h11_accepts_and_reads_it_as_h11_does(raw: bytes):
    assert_agrees_with_h11(raw)
    assert transcript(FastRequestReader, [raw], Limits())[0][0] == "head"
    assert_same_however_cut(raw, Limits())


@pytest.mark.parametrize(
    "body",
    [
        b"5\r\nhello\r\n0\r\n\r\n",
        b"5;name=value\r\nhello\r\n0\r\nX-Trailer: 1\r\n folded\r\n\r\n",
        b"5 \t\r\nhello\r\n0\n",
        b"5\r\nhello\r\n0\r\nX: 1\nY: 2\n\n",
        b"5\r\nhello\r\n0\r\n\n",
        b"5\r\nhello\r\n0\r\nBad Trailer\r\n\r\n",
        b"5\r\nhello\r\n0\r\nX: a\rb\r\n\r\n",
        b"5\r\nhelloXY0\r\n\r\n",
        b"5\r\nhello\r\n0\r\n folded first\r\n\r\n",
        b"5\r\nhello\r\n0\r\nContent-Length: 1, 2\r\n\r\n",
        b"5\nhello\r\n0\r\n\r\n",
        b"1" * 21 + b"\r\n",
        b"5;" + b"e" * 17000,
        b"0\r\nX: " + b"t" * 17000,
        b"30\r\n" + b"d" * 48 + b"\r\n0\r\n\r\n",
    ],
)
def test_discards_a_chunked_body_as_h11_reads_it(body: bytes):
    head = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    data = head + body + b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n"
    assert_same([data], TIGHT)
    assert_same([data], Limits())
    assert_same(cut(data, range(len(head), len(data), 7)), Limits())
    if len(data) <= EVERY_CUT_MAX:
        assert_same_however_cut(data, Limits())


@pytest.mark.parametrize("reader_class", PARSERS.values(), ids=PARSERS.keys())
def test_a_chunk_size_line_that_never_ends_is_refused_past_16_kib(reader_class: type[Reader]):
    """h11 buffers at most 16 KiB of an incomplete line, and the fast reader the same."""
    reader = reader_class(Limits())
    reader.feed(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;")
    assert reader.next_head() is not None
    for size in (1024,) * 15 + (1022,):
        reader.feed(b"e" * size)
        assert reader.discard_body() is False
    reader.feed(b"e")
    with pytest.raises(BadRequest):
        reader.discard_body()


def head_with(request_line: int, fields: int, size: int) -> bytes:
    """A valid head with a request line, a number of fields and a size as given (if it can be)."""
    line = b"GET /" + b"a" * (request_line - len(b"GET / HTTP/1.1")) + b" HTTP/1.1\r\n"
    lines = [b"Host: a\r\n"] + [b"X%d: y\r\n" % number for number in range(fields - 1)]
    head = line + b"".join(lines) + b"\r\n"
    padding = size - len(head)
    if padding > 0:
        lines[-1] = lines[-1][:-2] + b"p" * padding + b"\r\n"
    return line + b"".join(lines) + b"\r\n"


@pytest.mark.parametrize("delta", [-1, 0, 1, 2, 5])
@pytest.mark.parametrize("limit", ["request line", "fields", "head"])
def test_limits_are_met_at_the_same_byte_at_their_edges(limit: str, delta: int):
    request_line, fields, size = 20, 2, 60
    if limit == "request line":
        request_line = TIGHT.max_request_line + delta
    elif limit == "fields":
        fields = TIGHT.max_fields + delta
    else:
        size = TIGHT.max_head + delta
    data = head_with(request_line, fields, size)
    assert_same_however_cut(data, TIGHT)
    assert_same([data[at : at + 1] for at in range(len(data))], TIGHT)
    assert_same([data + b"\r\n" + data], TIGHT)


def test_a_content_length_body_is_counted_against_the_limit_as_it_arrives():
    data = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 40\r\n\r\n" + b"x" * 40
    for step in (1, 5, 24, 25, 40):
        assert_same(cut(data, range(49, len(data), step)), TIGHT)
    assert transcript(FastRequestReader, [data], TIGHT)[-1] == ("too large",)


def test_a_second_connection_field_asking_to_close_is_honoured():
    """RFC 9110 §5.3: repeated fields are one list, so "close" in the second one counts."""
    raw = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n"
    for reader_class in PARSERS.values():
        reader = reader_class(Limits())
        reader.feed(raw)
        head = reader.next_head()
        assert head is not None and head.wants_close
    assert_agrees_with_h11(raw)


def test_the_fast_reader_does_not_use_h11(monkeypatch: pytest.MonkeyPatch):
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("h11 was used")

    monkeypatch.setattr(h11, "Connection", refuse)
    data = (
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n"
    )
    kinds = [entry[0] for entry in transcript(FastRequestReader, [data[:30], data[30:]], DEFAULT)]
    assert kinds == ["read", "head", "discarded", "head", "discarded", "read", "read"]


@pytest.mark.parametrize("reader_class", PARSERS.values(), ids=PARSERS.keys())
def test_no_head_is_read_out_of_a_body_not_yet_discarded(reader_class: type[Reader]):
    reader = reader_class(DEFAULT)
    reader.feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 30\r\n\r\n")
    assert reader.next_head() is not None
    reader.feed(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert reader.next_head() is None
