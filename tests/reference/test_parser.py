"""The parsing seam: what h11 accepts that a server must refuse, and body discarding."""

from __future__ import annotations

import pytest

from reference.limits import Limits
from reference.parser import BadRequest, BodyTooLarge, RequestReader


def read_head(data: bytes, limits: Limits | None = None):
    reader = RequestReader(limits or Limits())
    reader.feed(data)
    return reader.next_head()


def status_for(data: bytes, limits: Limits | None = None) -> int:
    with pytest.raises(BadRequest) as caught:
        read_head(data, limits)
    return caught.value.status


@pytest.mark.parametrize(
    ("raw", "status"),
    [
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
    ],
)
def test_rejects_what_a_server_must_refuse(raw: bytes, status: int):
    assert status_for(raw) == status


def test_measures_a_complete_oversized_head_that_h11_would_accept():
    limits = Limits(max_request_line=100, max_head=200, max_fields=3)
    assert status_for(b"GET /" + b"a" * 100 + b" HTTP/1.1\r\nHost: a\r\n\r\n", limits) == 414
    assert status_for(b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"b" * 200 + b"\r\n\r\n", limits) == 431
    fields = b"".join(b"X%d: y\r\n" % n for n in range(3))
    assert status_for(b"GET / HTTP/1.1\r\nHost: a\r\n" + fields + b"\r\n", limits) == 431


def test_rejects_an_oversized_head_before_it_ends():
    limits = Limits(max_request_line=100, max_head=200)
    assert status_for(b"GET /" + b"a" * 200, limits) == 414
    assert status_for(b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"b" * 300, limits) == 431


def test_waits_for_the_rest_of_a_split_head_even_between_cr_and_lf():
    reader = RequestReader(Limits())
    reader.feed(b"GET / HTTP/1.1\r\nHost: a\r")
    assert reader.next_head() is None
    assert reader.has_partial_request
    reader.feed(b"\n\r\n")
    head = reader.next_head()
    assert (head.method, head.target, head.get(b"host")) == (b"GET", b"/", b"a")


def test_ignores_empty_lines_before_a_request_line():
    head = read_head(b"\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n")
    assert head.target == b"/x"


@pytest.mark.parametrize(
    ("raw", "close"),
    [
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", False),
        (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Close\r\n\r\n", True),
        (b"GET / HTTP/1.0\r\n\r\n", True),
        (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", True),
    ],
)
def test_knows_when_the_client_wants_a_single_request(raw: bytes, close: bool):
    assert read_head(raw).wants_close is close


def test_discards_a_chunked_body_and_keeps_the_next_request():
    reader = RequestReader(Limits())
    reader.feed(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab")
    assert reader.next_head().method == b"POST"
    assert reader.declared_body_length is None
    assert reader.discard_body() is False
    reader.feed(b"c\r\n0\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n")
    assert reader.discard_body() is True
    assert reader.next_head().target == b"/next"


def test_refuses_to_discard_more_than_the_limit():
    reader = RequestReader(Limits(max_discarded_body=10))
    reader.feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 20\r\n\r\n" + b"x" * 20)
    reader.next_head()
    assert reader.declared_body_length == 20
    with pytest.raises(BodyTooLarge):
        reader.discard_body()


def test_a_body_cut_short_by_end_of_input_is_an_error():
    reader = RequestReader(Limits())
    reader.feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nab")
    reader.next_head()
    reader.feed(b"")
    with pytest.raises(BadRequest):
        reader.discard_body()
