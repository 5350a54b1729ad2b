"""Malformed and unsupported requests get the status RFC 9110/9112 asks for, delivered intact.

Every request here is written byte for byte over a raw socket, because no
client library would send them, and every response is parsed with h11 as a
client, so a reply that is itself malformed fails the test too.
"""

from __future__ import annotations

import pytest

LONG_LINE = 8 * 1024


def request_head(*lines: str) -> bytes:
    """A request head from its lines, each ended with CRLF, plus the empty line."""
    return "".join(line + "\r\n" for line in (*lines, "")).encode("latin-1")


# name: (request bytes, expected status). The server must close after each.
REJECTED = {
    # RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status code to any
    # HTTP/1.1 request message that lacks a Host header field and to any request message
    # that contains more than one Host header field line".
    "missing-host": (request_head("GET / HTTP/1.1"), 400),
    "two-hosts": (request_head("GET / HTTP/1.1", "Host: a", "Host: b"), 400),
    # RFC 9112 §5.1: "A server MUST reject, with a response status code of 400 (Bad
    # Request), any received request message that contains whitespace between a header
    # field name and colon."
    "space-before-colon": (request_head("GET / HTTP/1.1", "Host : localhost"), 400),
    # RFC 9112 §6.1: a message with both "ought to be handled as an error".
    "content-length-and-chunked": (
        request_head(
            "POST / HTTP/1.1", "Host: a", "Content-Length: 5", "Transfer-Encoding: chunked"
        )
        + b"0\r\n\r\n",
        400,
    ),
    # RFC 9112 §6.3: an invalid Content-Length is "an unrecoverable error".
    "content-length-not-a-number": (
        request_head("POST / HTTP/1.1", "Host: a", "Content-Length: abc"),
        400,
    ),
    "content-length-negative": (
        request_head("POST / HTTP/1.1", "Host: a", "Content-Length: -1"),
        400,
    ),
    "content-length-conflicting": (
        request_head("POST / HTTP/1.1", "Host: a", "Content-Length: 3", "Content-Length: 4")
        + b"abcd",
        400,
    ),
    "bare-lf": (b"GET / HTTP/1.1\nHost: localhost\n\n", 400),
    # RFC 9112 §2.2: a recipient of a bare CR "MUST consider that element to be invalid".
    "bare-cr": (request_head("GET / HTTP/1.1", "Host: localhost", "X-Note: a\rb"), 400),
    # RFC 9112 §5.2 lets a server reject obs-fold with 400; we do.
    "obs-fold": (request_head("GET / HTTP/1.1", "Host: localhost", "X-Note: a", " b"), 400),
    "whitespace-before-first-field": (request_head("GET / HTTP/1.1", " Host: localhost"), 400),
    "no-version": (request_head("GET /"), 400),
    "double-space": (request_head("GET  / HTTP/1.1", "Host: localhost"), 400),
    "bad-field-name": (request_head("GET / HTTP/1.1", "Host: localhost", "X(Note): a"), 400),
    "http-2": (request_head("GET / HTTP/2.0", "Host: localhost"), 505),
    "request-line-too-long": (request_head(f"GET /{'a' * LONG_LINE} HTTP/1.1", "Host: a"), 414),
    "one-huge-field": (request_head("GET / HTTP/1.1", "Host: a", f"X-Big: {'b' * 17000}"), 431),
    "head-too-large": (
        request_head("GET / HTTP/1.1", "Host: a", *[f"X-F{n}: {'c' * 200}" for n in range(90)]),
        431,
    ),
    "too-many-fields": (
        request_head("GET / HTTP/1.1", "Host: a", *[f"X-F{n}: c" for n in range(100)]),
        431,
    ),
}


@pytest.mark.parametrize(("request_bytes", "status"), REJECTED.values(), ids=REJECTED.keys())
def test_malformed_request_is_answered_then_closed(server, request_bytes, status):
    """The error status comes back whole, says Connection: close, and the server closes."""
    with server.connect() as connection:
        connection.send(request_bytes)
        response = connection.read_response()
        assert response.status == status
        assert response.header("Connection") == "close"
        assert response.header("Content-Length") == str(len(response.body))
        assert connection.read_until_closed() == b""


def test_error_response_survives_unread_input(server):
    """After an error the server drains what the client still sends, so no RST eats the reply.

    Closing a socket whose receive buffer holds unread bytes makes the kernel
    send RST, and a reset discards data the client has not read yet: the
    error response itself.
    """
    garbage = b"x" * (256 * 1024)
    with server.connect() as connection:
        connection.send(request_head("GET / HTTP/1.1", "Host : localhost") + garbage)
        assert connection.read_response().status == 400
        assert connection.read_until_closed() == b""


def test_unknown_method_is_501_and_connection_stays_usable(server, docroot):
    """RFC 9110 §9.1: an unrecognized method SHOULD get 501; the next request still works."""
    with server.connect() as connection:
        assert connection.exchange(request_head("BREW /pot HTTP/1.1", "Host: a")).status == 501
        response = connection.exchange(request_head("GET /style.css HTTP/1.1", "Host: a"))
        assert response.body == docroot.read("style.css")


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_known_unsupported_method_is_405_with_allow(server, method):
    """RFC 9110 §15.5.6: "The origin server MUST generate an Allow header field in a 405"."""
    response = server.request(request_head(f"{method} /index.html HTTP/1.1", "Host: a"))
    assert response.status == 405
    assert response.header("Allow") == "GET, HEAD"


BODIES = {
    "content-length": (b"Content-Length: 11", b"hello world"),
    "chunked": (b"Transfer-Encoding: chunked", b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
}


@pytest.mark.parametrize(("framing", "body"), BODIES.values(), ids=BODIES.keys())
def test_post_body_is_discarded_and_connection_stays_in_sync(server, docroot, framing, body):
    """A refused POST's body is read and dropped, so it is never parsed as the next request."""
    post = b"POST /index.html HTTP/1.1\r\nHost: a\r\n" + framing + b"\r\n\r\n" + body
    with server.connect() as connection:
        response = connection.exchange(post)
        assert response.status == 405
        assert response.header("Connection") is None
        following = connection.exchange(request_head("GET /style.css HTTP/1.1", "Host: a"))
        assert following.status == 200
        assert following.body == docroot.read("style.css")


def test_huge_declared_body_is_refused_then_closed(server):
    """A body too large to read and drop is not waited for: the server answers and closes."""
    post = request_head("POST / HTTP/1.1", "Host: a", f"Content-Length: {100 * 1024 * 1024}")
    with server.connect() as connection:
        response = connection.exchange(post)
        assert response.status == 405
        assert response.header("Connection") == "close"
        assert connection.read_until_closed() == b""


def test_limits_are_inclusive(server):
    """A request line of exactly 8 KiB and exactly 100 fields are still within the limits."""
    padding = "a" * (LONG_LINE - len("GET / HTTP/1.1"))
    assert server.request(request_head(f"GET /{padding} HTTP/1.1", "Host: a")).status == 404
    fields = [f"X-F{n}: c" for n in range(99)]
    assert server.request(request_head("GET / HTTP/1.1", "Host: a", *fields)).status == 200


def test_http_10_without_host_is_served(server, docroot):
    """Host is mandatory only in HTTP/1.1; an HTTP/1.0 request without it is fine."""
    response = server.request(request_head("GET /style.css HTTP/1.0"))
    assert response.status == 200
    assert response.body == docroot.read("style.css")
