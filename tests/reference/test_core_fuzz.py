"""Property tests: the core never raises, and every byte it sends parses as HTTP/1.1."""

from __future__ import annotations

import h11
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reference.corekit import feed, new_connection

REQUESTS = st.sampled_from(
    [
        (b"GET", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
        (b"HEAD", b"HEAD /style.css HTTP/1.1\r\nHost: a\r\n\r\n"),
        (b"GET", b"GET /missing HTTP/1.1\r\nHost: a\r\n\r\n"),
        (b"GET", b"GET /nested HTTP/1.1\r\nHost: a\r\n\r\n"),
        (b"GET", b"GET /large.bin HTTP/1.1\r\nHost: a\r\nRange: bytes=5-9\r\n\r\n"),
        (b"POST", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"),
        (
            b"PUT",
            b"PUT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n",
        ),
        (b"BREW", b"BREW / HTTP/1.1\r\nHost: a\r\n\r\n"),
        (b"GET", b"GET / HTTP/1.0\r\n\r\n"),
        (b"GET", b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"),
        (b"GET", b"GET /../canary HTTP/1.1\r\nHost: a\r\n\r\n"),
        (b"GET", b"GET / HTTP/1.1\r\n\r\n"),
    ]
)


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    """Split ``data`` at the given offsets."""
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    bounds = zip([0, *points], [*points, len(data)], strict=True)
    pieces = [data[start:end] for start, end in bounds]
    # An empty read means end of input to the core, so it is never a piece.
    return [piece for piece in pieces if piece]


def parse_responses(output: bytes, methods: list[bytes]) -> list[h11.Response]:
    """Parse ``output`` as h11 does for a client that sent ``methods``: one framed
    response per method and not a byte more; any framing error fails the test."""
    client = h11.Connection(h11.CLIENT)
    client.receive_data(output)
    client.receive_data(b"")
    responses = []
    for method in methods:
        client.send(h11.Request(method=method, target="/", headers=[("Host", "a")]))
        client.send(h11.EndOfMessage())
        while not isinstance(event := client.next_event(), h11.EndOfMessage):
            assert event is not h11.NEED_DATA, "response truncated"
            if isinstance(event, h11.Response):
                responses.append(event)
        if client.their_state is h11.DONE:
            client.start_next_cycle()
    assert client.trailing_data[0] == b"", "bytes after the last response"
    return responses


def announces_close(response: h11.Response) -> bool:
    """True when the response carries ``Connection: close``."""
    return (b"connection", b"close") in [(n.lower(), v.lower()) for n, v in response.headers]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300), st.lists(st.integers(min_value=0), max_size=8))
def test_arbitrary_bytes_never_raise_and_yield_parseable_output(data: bytes, cuts: list[int]):
    connection = new_connection()
    wire = feed(connection, chunked(data, cuts))
    assert connection.closed
    # Whatever the core sent, h11 as a client must read it as exactly that many responses.
    parse_responses(bytes(wire.output), [b"GET"] * connection.responses)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(REQUESTS, min_size=1, max_size=6), st.lists(st.integers(min_value=0), max_size=12))
def test_pipelined_requests_get_one_framed_response_each_in_order(requests, cuts):
    stream = b"".join(raw for _, raw in requests)
    connection = new_connection()
    wire = feed(connection, chunked(stream, cuts))
    methods = [method for method, _ in requests][: connection.responses]
    responses = parse_responses(bytes(wire.output), methods)
    assert responses, "no response at all"
    for response in responses:
        assert response.status_code != 500
    # Only a response that announced close may end the exchange before every request is answered.
    if len(responses) < len(requests):
        assert announces_close(responses[-1])
