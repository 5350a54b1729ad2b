"""No request target ever reaches a file outside the document root.

The session's document root sits next to ``canary.txt``, and holds a
directory symlink (``escape``) and a file symlink (``canary-link.txt``) that
point out of it. Every target below would reach the canary under a naive
"join the path to the root" server. They go out over raw sockets because
``requests`` (like any browser) resolves dot-segments before sending.
"""

from __future__ import annotations

import pytest

ESCAPES = {
    "dot-dot": b"/../canary.txt",
    "dot-dot-twice": b"/../../canary.txt",
    "nested-dot-dot": b"/nested/../../canary.txt",
    "encoded-dots": b"/%2e%2e/canary.txt",
    "encoded-dots-upper": b"/%2E%2E/canary.txt",
    "encoded-slash": b"/..%2fcanary.txt",
    "encoded-dots-and-slash": b"/%2e%2e%2fcanary.txt",
    "nested-encoded-slash": b"/nested/..%2f..%2fcanary.txt",
    "double-encoded": b"/%252e%252e/canary.txt",
    "backslash": b"/..\\canary.txt",
    "encoded-backslash": b"/..%5ccanary.txt",
    "double-slash": b"//../canary.txt",
    "absolute-form": b"http://localhost/../canary.txt",
    "absolute-form-encoded": b"http://localhost/%2e%2e/canary.txt",
    "relative": b"../canary.txt",
    "encoded-nul": b"/%00/../../canary.txt",
    "nul-suffix": b"/../canary.txt%00.html",
    "symlinked-directory": b"/escape/canary.txt",
    "symlinked-file": b"/canary-link.txt",
    "symlinked-directory-listing": b"/escape/",
}


@pytest.mark.parametrize("target", ESCAPES.values(), ids=ESCAPES.keys())
def test_target_outside_root_is_refused(server, docroot, target):
    """The response is a 4xx and no byte of it comes from the canary file."""
    request = b"GET " + target + b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    with server.connect() as connection:
        connection.send(request)
        response = connection.read_response()
        rest = connection.read_until_closed()
    assert 400 <= response.status < 500, f"GET {target!r} answered {response.status}"
    assert docroot.canary.read_bytes() not in response.body + rest


def test_raw_nul_byte_in_target_is_refused(server):
    """A literal NUL in the request line is malformed: 400, never a file lookup."""
    response = server.request(b"GET /style.css\x00.png HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert response.status == 400


def test_absolute_form_inside_root_is_served(server, docroot):
    """RFC 9112 §3.2.2: a server MUST accept the absolute form; only its path matters."""
    response = server.request(b"GET http://localhost/style.css HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert response.status == 200
    assert response.body == docroot.read("style.css")


def test_fragment_is_ignored(server, docroot):
    """A fragment a client should not have sent does not change which file is served."""
    response = server.request(b"GET /style.css#top HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert response.body == docroot.read("style.css")


@pytest.mark.parametrize(
    "target",
    [b"//nested", b"///nested", b"//nested?x=1", b"/%2F%2Fnested", b"http://localhost//nested"],
)
def test_a_redirect_never_leads_to_another_host(server, target):
    """Location ``//nested/`` is scheme-relative: a browser would ask the host "nested"."""
    response = server.request(b"GET " + target + b" HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert response.status == 301
    location = response.header("Location")
    assert location.startswith("/nested/") and not location.startswith("//"), location
