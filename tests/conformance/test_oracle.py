"""The h11 oracle over canned byte streams: framing, HEAD, close-delimited bodies, judgements."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from conformance.oracle import (
    ClosedBeforeResponse,
    FramingError,
    ResponseReader,
    ResponseTimeout,
    describe_spec,
    judge_response,
)
from conformance.steps import ResponseSpec

FILES = {"index.html": b"<h1>hello</h1>\n", "empty.txt": b""}


@pytest.fixture
def wire() -> Iterator[tuple[socket.socket, ResponseReader]]:
    """A connected socket pair: write server bytes to the first, read them with the reader."""
    server, client = socket.socketpair()
    yield server, ResponseReader(client)
    server.close()
    client.close()


def soon(seconds: float = 1.0) -> float:
    return time.monotonic() + seconds


def test_reads_a_length_delimited_response(wire):
    server, reader = wire
    server.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\nX-A: 2\r\n\r\nhello")
    response = reader.read_response("GET", soon())
    assert (response.status, response.body, response.http_version) == (200, b"hello", "1.1")
    assert response.header("x-a") == "1, 2"
    assert response.header("Content-Length") == "5"
    assert not response.closed
    assert not response.announces_close


def test_a_framing_error_carries_h11s_message(wire):
    server, reader = wire
    server.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: five\r\n\r\nhello")
    with pytest.raises(FramingError, match="Content-Length"):
        reader.read_response("GET", soon())


def test_a_body_cut_short_by_close_is_a_framing_error(wire):
    server, reader = wire
    server.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello")
    server.shutdown(socket.SHUT_WR)
    with pytest.raises(FramingError, match="without sending complete message body") as raised:
        reader.read_response("GET", soon())
    assert raised.value.received.endswith(b"hello")


def test_a_head_response_has_no_body_and_leaves_stray_bytes_pending(wire):
    server, reader = wire
    server.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
    response = reader.read_response("HEAD", soon())
    assert response.body == b""
    assert reader.pending() == b"hello"


def test_a_body_after_head_breaks_the_next_response(wire):
    server, reader = wire
    server.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
    server.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    reader.read_response("HEAD", soon())
    with pytest.raises(FramingError):
        reader.read_response("GET", soon())


def test_a_close_delimited_body_ends_at_eof(wire):
    server, reader = wire
    server.sendall(b"HTTP/1.1 200 OK\r\n\r\nall of it")
    server.shutdown(socket.SHUT_WR)
    response = reader.read_response("GET", soon())
    assert response.body == b"all of it"
    assert response.closed


def test_pipelined_responses_are_read_in_turn(wire):
    server, reader = wire
    server.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na"
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 1\r\n\r\nb"
    )
    first = reader.read_response("GET", soon())
    second = reader.read_response("GET", soon())
    assert [(first.status, first.body), (second.status, second.body)] == [(200, b"a"), (404, b"b")]
    assert reader.responses_requested == 2


def test_closing_before_any_byte_is_not_a_framing_error(wire):
    server, reader = wire
    server.shutdown(socket.SHUT_WR)
    with pytest.raises(ClosedBeforeResponse) as raised:
        reader.read_response("GET", soon())
    assert not raised.value.reset


def test_a_response_after_an_announced_close_is_still_parsed(wire):
    server, reader = wire
    server.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\na")
    assert reader.read_response("GET", soon()).announces_close
    server.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb")
    assert reader.read_response("GET", soon()).body == b"b"


def test_a_timeout_with_nothing_received_is_told_apart(wire):
    _, reader = wire
    with pytest.raises(ResponseTimeout) as silent:
        reader.read_response("GET", soon(0.05))
    assert silent.value.received == b""


def test_a_timeout_mid_response_keeps_what_arrived(wire):
    server, reader = wire
    server.sendall(b"HTTP/1.1 200 OK\r\nContent-Len")
    with pytest.raises(ResponseTimeout) as partial:
        reader.read_response("GET", soon(0.05))
    assert partial.value.received == b"HTTP/1.1 200 OK\r\nContent-Len"


def test_http10_responses_announce_close_unless_keep_alive(wire):
    server, reader = wire
    server.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
    assert reader.read_response("GET", soon()).announces_close


def test_judge_lists_every_mismatch(wire):
    server, reader = wire
    server.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nServer: x\r\n\r\nabc")
    response = reader.read_response("GET", soon())
    spec = ResponseSpec(
        statuses=("200",),
        headers=("Date",),
        absent=("Server",),
        match=(("Content-Length", "^15$"),),
        body_file="index.html",
    )
    problems = judge_response(response, spec, FILES.__getitem__)
    assert problems == [
        "status 404, expected 200",
        "no Date header",
        "unexpected header Server: x",
        "Content-Length: '3' does not match /^15$/",
        "body is 3 bytes, expected 15 (the file index.html)",
    ]


def test_judge_checks_ranges_and_declared_lengths(wire):
    server, reader = wire
    server.sendall(b"HTTP/1.1 206 Partial\r\nContent-Length: 3\r\n\r\n<h2")
    response = reader.read_response("GET", soon())
    spec = ResponseSpec(
        statuses=("2xx",), body_file="index.html", body_range=(0, 2), content_length_of="index.html"
    )
    assert judge_response(response, spec, FILES.__getitem__) == [
        "Content-Length: 3, but index.html is 15 bytes",
        "body differs from bytes 0-2 of index.html at byte 2",
    ]


def test_describe_spec_reads_like_the_expected_line():
    spec = ResponseSpec(statuses=("405", "501"), headers=("Allow",), empty_body=True)
    assert describe_spec(spec, FILES.__getitem__) == "status 405 or 501, no body, the Allow header"
