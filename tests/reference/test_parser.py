"""The parsing seam: what h11 accepts that a server must refuse, and body discarding.

Every test runs against each reader in PARSERS: they must behave alike.
"""

from __future__ import annotations

import re
import sys
from types import ModuleType

import pytest

from reference import fastparser, parser
from reference.fastparser import PARSERS
from reference.limits import Limits
from reference.parser import BadRequest, BodyTooLarge, Reader


@pytest.fixture(params=list(PARSERS.values()), ids=list(PARSERS))
def reader_class(request: pytest.FixtureRequest) -> type[Reader]:
    return request.param


def read_head(reader_class: type[Reader], data: bytes, limits: Limits | None = None):
    reader = reader_class(limits or Limits())
    reader.feed(data)
    return reader.next_head()


def status_for(reader_class: type[Reader], data: bytes, limits: Limits | None = None) -> int:
    with pytest.raises(BadRequest) as caught:
        read_head(reader_class, data, limits)
    return caught.value.status


def status_for_bytewise(
    reader_class: type[Reader], data: bytes, limits: Limits | None = None
) -> tuple[int, int]:
    """The status a head fed one byte at a time is refused with, and after how many bytes."""
    reader = reader_class(limits or Limits())
    for received in range(1, len(data) + 1):
        reader.feed(data[received - 1 : received])
        try:
            reader.next_head()
        except BadRequest as error:
            return error.status, received
    raise AssertionError(f"{data!r} was accepted")


def head_of_size(size: int) -> bytes:
    """A valid request head of exactly ``size`` bytes, in field lines of 200 bytes."""
    head = b"GET / HTTP/1.1\r\nHost: a\r\n"
    while len(head) + 200 + 12 <= size:
        head += b"X-Pad: " + b"p" * 191 + b"\r\n"
    head += b"X-Last: " + b"q" * (size - len(head) - 12) + b"\r\n\r\n"
    assert len(head) == size
    return head


MUST_REFUSE = [
    (b"GET / HTTP/1.1\r\n\r\n", 400),  # no Host
    (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
    (
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        400,
    ),
    (b"GET / HTTP/1.1\nHost: a\n\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n  folded\r\n\r\n", 400),
    (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    (b"GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505),
    (b"hello there\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
]


@pytest.mark.parametrize(("raw", "status"), MUST_REFUSE)
def test_rejects_what_a_server_must_refuse(reader_class: type[Reader], raw: bytes, status: int):
    assert status_for(reader_class, raw) == status


@pytest.mark.parametrize(("raw", "status"), MUST_REFUSE)
def test_the_verdict_does_not_depend_on_how_the_head_was_split(
    reader_class: type[Reader], raw: bytes, status: int
):
    assert status_for_bytewise(reader_class, raw)[0] == status


def test_measures_a_complete_oversized_head_that_h11_would_accept(reader_class: type[Reader]):
    limits = Limits(max_request_line=100, max_head=200, max_fields=3)
    long_line = b"GET /" + b"a" * 100 + b" HTTP/1.1\r\nHost: a\r\n\r\n"
    assert status_for(reader_class, long_line, limits) == 414
    long_field = b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"b" * 200 + b"\r\n\r\n"
    assert status_for(reader_class, long_field, limits) == 431
    fields = b"".join(b"X%d: y\r\n" % n for n in range(3))
    many_fields = b"GET / HTTP/1.1\r\nHost: a\r\n" + fields + b"\r\n"
    assert status_for(reader_class, many_fields, limits) == 431


def test_rejects_an_oversized_head_before_it_ends(reader_class: type[Reader]):
    limits = Limits(max_request_line=100, max_head=200)
    assert status_for(reader_class, b"GET /" + b"a" * 200, limits) == 414
    assert status_for(reader_class, b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"b" * 300, limits) == 431


def test_limits_apply_as_a_head_arrives_byte_by_byte(reader_class: type[Reader]):
    """Each verdict comes with the first byte that breaks the rule, not with the head's end."""
    limits = Limits(max_request_line=100, max_head=200)
    long_line = b"GET /" + b"a" * 200
    assert status_for_bytewise(reader_class, long_line, limits) == (414, 101)
    long_field = b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"b" * 300
    assert status_for_bytewise(reader_class, long_field, limits) == (431, 205)
    bare_lf = b"GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n"
    assert status_for_bytewise(reader_class, bare_lf) == (400, 24)
    bare_cr = b"GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n"
    assert status_for_bytewise(reader_class, bare_cr) == (400, 25)


class CountingPattern:
    """Stands in for a compiled pattern and adds up the bytes its searches examine.

    A search that finds a match has examined the bytes up to the match's end;
    one that finds nothing has examined everything from ``pos``.
    """

    def __init__(self, pattern: re.Pattern[bytes], counter: list[int]) -> None:
        self._pattern = pattern
        self._counter = counter

    def search(self, string: bytes, pos: int = 0, endpos: int = sys.maxsize) -> re.Match | None:
        match = self._pattern.search(string, pos, endpos)
        self._counter[0] += (match.end() if match else min(endpos, len(string))) - pos
        return match

    def fullmatch(self, string: bytes, pos: int = 0, endpos: int = sys.maxsize) -> re.Match | None:
        """A whole value (the Host field's) is examined once, whatever the outcome."""
        self._counter[0] += min(endpos, len(string)) - pos
        return self._pattern.fullmatch(string, pos, endpos)


def counting_buffer(counter: list[int]) -> type[bytearray]:
    """A bytearray whose searches, prefix tests and slices add up the bytes they examine."""

    class CountingBuffer(bytearray):
        def find(self, sub, start=None, end=None) -> int:  # type: ignore[override]
            start = 0 if start is None else start
            end = len(self) if end is None else min(end, len(self))
            found = super().find(sub, start, end)
            counter[0] += max(0, (found + len(sub) if found >= 0 else end) - start)
            return found

        def startswith(self, prefix, *args) -> bool:  # type: ignore[override]
            counter[0] += min(len(prefix), len(self))
            return super().startswith(prefix, *args)

        def __getitem__(self, index):  # type: ignore[override]
            item = super().__getitem__(index)
            counter[0] += len(item) if isinstance(index, slice) else 1
            return item

    return CountingBuffer


def test_a_head_arriving_byte_by_byte_costs_work_linear_in_its_size(
    reader_class: type[Reader], monkeypatch: pytest.MonkeyPatch
):
    """A 16 KiB head sent a byte per read is examined a few times over, not once per read.

    A reader looks at received bytes only through its compiled patterns and its
    buffer's own methods (find, startswith, slicing), so counting what those
    examine counts its work; once whole, a head is copied out and parsed once.
    The parser that rescanned the head from its start on every read examined
    about 16,000 times its size.
    """
    counter = [0]
    module: ModuleType = parser if reader_class is parser.RequestReader else fastparser
    for name, value in vars(module).items():
        if isinstance(value, re.Pattern):
            monkeypatch.setattr(module, name, CountingPattern(value, counter))
    monkeypatch.setattr(module, "bytearray", counting_buffer(counter), raising=False)
    head = head_of_size(16 * 1024)
    reader = reader_class(Limits())
    heads = []
    for offset in range(len(head)):
        reader.feed(head[offset : offset + 1])
        heads.append(reader.next_head())
        # The core asks this after every read, so it is part of the cost of a read.
        assert reader.has_partial_request is (offset < len(head) - 1)
    assert heads[-1] is not None and heads[:-1] == [None] * (len(head) - 1)
    # Below the head's size would mean bytes are examined by something not counted here.
    assert len(head) <= counter[0] < 4 * len(head)


def test_waits_for_the_rest_of_a_split_head_even_between_cr_and_lf(reader_class: type[Reader]):
    reader = reader_class(Limits())
    reader.feed(b"GET / HTTP/1.1\r\nHost: a\r")
    assert reader.next_head() is None
    assert reader.has_partial_request
    reader.feed(b"\n\r\n")
    head = reader.next_head()
    assert (head.method, head.target, head.get(b"host")) == (b"GET", b"/", b"a")


def test_ignores_empty_lines_before_a_request_line(reader_class: type[Reader]):
    head = read_head(reader_class, b"\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n")
    assert head.target == b"/x"


@pytest.mark.parametrize(
    ("raw", "close"),
    [
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", False),
        (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Close\r\n\r\n", True),
        (b"GET / HTTP/1.0\r\n\r\n", True),
        (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", True),
        (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", True),
    ],
)
def test_knows_when_the_client_wants_a_single_request(
    reader_class: type[Reader], raw: bytes, close: bool
):
    assert read_head(reader_class, raw).wants_close is close


def test_discards_a_chunked_body_and_keeps_the_next_request(reader_class: type[Reader]):
    reader = reader_class(Limits())
    reader.feed(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab")
    assert reader.next_head().method == b"POST"
    assert reader.declared_body_length is None
    assert reader.discard_body() is False
    reader.feed(b"c\r\n0\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n")
    assert reader.discard_body() is True
    assert reader.next_head().target == b"/next"


def test_refuses_to_discard_more_than_the_limit(reader_class: type[Reader]):
    reader = reader_class(Limits(max_discarded_body=10))
    reader.feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 20\r\n\r\n" + b"x" * 20)
    reader.next_head()
    assert reader.declared_body_length == 20
    with pytest.raises(BodyTooLarge):
        reader.discard_body()


def test_a_body_cut_short_by_end_of_input_is_an_error(reader_class: type[Reader]):
    reader = reader_class(Limits())
    reader.feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nab")
    reader.next_head()
    reader.feed(b"")
    with pytest.raises(BadRequest):
        reader.discard_body()
