"""Persistent connections, pipelining and requests that arrive in pieces.

A server reads a byte stream, not messages: a request may arrive one byte at
a time, or several may arrive in one read. These tests make both happen on
purpose and check that every response comes back whole and in order.
"""

from __future__ import annotations


def request_for(target: str, *fields: str, method: str = "GET", version: str = "1.1") -> bytes:
    """A request head for ``target`` with a Host field and any extra field lines."""
    lines = [f"{method} {target} HTTP/{version}", "Host: localhost", *fields, "", ""]
    return "\r\n".join(lines).encode("latin-1")


def test_connection_persists_by_default(server, docroot):
    """RFC 9112 §9.3: an HTTP/1.1 connection persists unless "close" is sent."""
    with server.connect() as connection:
        for name in ("style.css", "utf8.txt", "large.bin", "empty.txt"):
            response = connection.exchange(request_for(f"/{name}"))
            assert response.body == docroot.read(name)
            assert response.header("Connection") is None


def test_connection_close_is_honoured_and_announced(server):
    """RFC 9112 §9.6: the server "MUST initiate closure" after answering "close"."""
    with server.connect() as connection:
        response = connection.exchange(request_for("/style.css", "Connection: close"))
        assert response.status == 200
        assert response.header("Connection") == "close"
        assert connection.read_until_closed() == b""


def test_connection_close_among_other_options(server):
    """The "close" option is found inside a list of connection options, in any case."""
    with server.connect() as connection:
        response = connection.exchange(request_for("/style.css", "Connection: keep-alive, Close"))
        assert response.header("Connection") == "close"
        assert connection.read_until_closed() == b""


def test_http_10_closes_after_response(server, docroot):
    """An HTTP/1.0 request gets one response, announced as the last, then the server closes.

    The response still says HTTP/1.1. RFC 9110 §6.2: "A server SHOULD send a
    response version equal to the highest version to which the server is
    conformant that has a major version less than or equal to the one received
    in the request."
    """
    with server.connect() as connection:
        response = connection.exchange(request_for("/style.css", version="1.0"))
        assert response.http_version == b"1.1"
        assert response.body == docroot.read("style.css")
        assert response.header("Connection") == "close"
        assert connection.read_until_closed() == b""


def test_every_kind_of_response_keeps_the_connection_in_sync(server, docroot):
    """304, 206, 301 and 404 responses are framed exactly, so the next response parses."""
    css, large = docroot.read("style.css"), docroot.read("large.bin")
    with server.connect() as connection:
        etag = connection.exchange(request_for("/style.css")).header("ETag")
        not_modified = connection.exchange(request_for("/style.css", f"If-None-Match: {etag}"))
        assert (not_modified.status, not_modified.body) == (304, b"")
        first_bytes = connection.exchange(request_for("/style.css", "Range: bytes=0-9"))
        assert (first_bytes.status, first_bytes.body) == (206, css[:10])
        mid_range = connection.exchange(request_for("/large.bin", "Range: bytes=100000-199999"))
        assert (mid_range.status, mid_range.body) == (206, large[100000:200000])
        assert connection.exchange(request_for("/nested")).status == 301
        assert connection.exchange(request_for("/no-such-file")).status == 404
        assert connection.exchange(request_for("/style.css")).body == css


def test_pipelined_requests_answered_in_order(server, docroot):
    """Five requests in one write get five responses, in the order asked, HEAD without body."""
    requests = [
        ("GET", request_for("/style.css")),
        ("GET", request_for("/no-such-file")),
        ("HEAD", request_for("/index.html", method="HEAD")),
        ("GET", request_for("/large.bin")),
        ("GET", request_for("/utf8.txt", "Connection: close")),
    ]
    with server.connect() as connection:
        connection.send(b"".join(request for _, request in requests))
        responses = [connection.read_response(method) for method, _ in requests]
        assert connection.read_until_closed() == b""
    assert [response.status for response in responses] == [200, 404, 200, 200, 200]
    assert responses[0].body == docroot.read("style.css")
    assert responses[2].body == b""
    assert responses[2].header("Content-Length") == str(len(docroot.read("index.html")))
    assert responses[3].body == docroot.read("large.bin")
    assert responses[4].body == docroot.read("utf8.txt")


def test_pipelined_request_after_a_body(server, docroot):
    """A GET pipelined behind a POST body is answered, so the body was framed correctly."""
    post = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 14\r\n\r\nGET /evil HTTP"
    with server.connect() as connection:
        connection.send(post + request_for("/style.css"))
        assert connection.read_response().status == 405
        assert connection.read_response().body == docroot.read("style.css")


def test_pipelined_requests_after_close_are_ignored(server):
    """RFC 9112 §9.6: after "close" the server "MUST NOT process any further requests"."""
    with server.connect() as connection:
        connection.send(request_for("/style.css", "Connection: close") + request_for("/utf8.txt"))
        assert connection.read_response().status == 200
        assert connection.read_until_closed() == b""


def test_request_split_at_every_byte(server, docroot):
    """A request cut in two at any byte is answered once, after its last byte arrives."""
    request = request_for("/style.css")
    for split in range(1, len(request)):
        with server.connect() as connection:
            connection.send(request[:split])
            # Also gives the server time to read the first piece on its own.
            assert connection.is_silent(0.005), f"answered after only {request[:split]!r}"
            connection.send(request[split:])
            response = connection.read_response()
        assert response.body == docroot.read("style.css"), f"split at {split}"


def test_request_dribbled_one_byte_per_write(server, docroot):
    """A request written one byte per segment (TCP_NODELAY is on) is still one request."""
    with server.connect() as connection:
        for byte in request_for("/style.css"):
            connection.send(bytes([byte]))
        assert connection.read_response().body == docroot.read("style.css")


def test_empty_lines_before_request_are_ignored(server, docroot):
    """RFC 9112 §2.2: a server SHOULD ignore at least one empty line before a request-line."""
    with server.connect() as connection:
        response = connection.exchange(b"\r\n" + request_for("/style.css"))
        assert response.body == docroot.read("style.css")
