"""Static-file semantics through an ordinary client: status codes, fields, validators, ranges.

These go through ``requests``, the way a browser-like client would use the
server, so they also prove that a mainstream client library accepts every
response as well-formed.
"""

from __future__ import annotations

import email.utils
import time

import pytest

FILES = [
    ("/index.html", "index.html", "text/html; charset=utf-8"),
    ("/style.css", "style.css", "text/css; charset=utf-8"),
    ("/logo.png", "logo.png", "image/png"),
    ("/utf8.txt", "utf8.txt", "text/plain; charset=utf-8"),
    ("/café.txt", "café.txt", "text/plain; charset=utf-8"),
    ("/with space.txt", "with space.txt", "text/plain; charset=utf-8"),
    ("/empty.txt", "empty.txt", "text/plain; charset=utf-8"),
    ("/large.bin", "large.bin", "application/octet-stream"),
    ("/nested/page.html", "nested/page.html", "text/html; charset=utf-8"),
]


@pytest.mark.parametrize(("path", "name", "content_type"), FILES, ids=[f[1] for f in FILES])
def test_get_serves_file_with_its_type(server, docroot, path, name, content_type):
    """GET returns the file's exact bytes with a Content-Type chosen from its name."""
    response = server.fetch(path)
    assert response.status_code == 200
    assert response.content == docroot.read(name)
    assert response.headers["Content-Type"] == content_type
    assert response.headers["Content-Length"] == str(len(docroot.read(name)))


def test_every_response_carries_date_server_and_validators(server):
    """Date, Server, a strong ETag and Last-Modified come with every file response."""
    response = server.fetch("/style.css")
    date = email.utils.parsedate_to_datetime(response.headers["Date"])
    assert abs(date.timestamp() - time.time()) < 60
    assert response.headers["Server"]
    etag = response.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"'), f"not a strong ETag: {etag}"
    email.utils.parsedate_to_datetime(response.headers["Last-Modified"])


@pytest.mark.parametrize(
    ("path", "index"), [("/", "index.html"), ("/nested/", "nested/index.html")]
)
def test_directory_serves_its_index(server, docroot, path, index):
    """A directory path with its trailing slash maps to the directory's index.html."""
    response = server.fetch(path)
    assert response.status_code == 200
    assert response.content == docroot.read(index)
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"


def test_directory_without_slash_redirects(server):
    """A directory named without its trailing slash gets a 301 to the slash form."""
    response = server.fetch("/nested")
    assert response.status_code == 301
    assert response.headers["Location"] == "/nested/"


def test_redirect_keeps_query(server):
    """The redirect to the slash form carries the query along."""
    response = server.fetch("/nested?page=2")
    assert response.headers["Location"] == "/nested/?page=2"


def test_missing_file_is_404_with_html(server):
    """A missing file gets 404 and a small HTML page saying so."""
    response = server.fetch("/no-such-file.html")
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert b"404" in response.content


@pytest.mark.parametrize("path", ["/style.css", "/large.bin", "/no-such-file", "/nested"])
def test_head_matches_get_without_body(server, path):
    """HEAD answers the same status and fields as GET (same Content-Length), with no body."""
    get, head = server.fetch(path), server.fetch(path, "HEAD")
    assert head.status_code == get.status_code
    assert head.content == b""
    for name in ("Content-Type", "Content-Length", "ETag", "Last-Modified", "Location"):
        assert head.headers.get(name) == get.headers.get(name), name


def test_query_and_percent_encoding(server, docroot):
    """The query is ignored and the path is percent-decoded before lookup."""
    assert server.fetch("/style.css?v=3").content == docroot.read("style.css")
    assert server.fetch("/%73tyle.css").content == docroot.read("style.css")
    assert server.fetch("/with%20space.txt").content == docroot.read("with space.txt")


def test_dot_segments_inside_root(server, docroot):
    """Dot-segments that stay inside the root resolve like a browser would resolve them."""
    assert server.fetch("/nested/%2e%2e/style.css").content == docroot.read("style.css")
    assert server.fetch("/./nested/./page.html").content == docroot.read("nested/page.html")


def test_symlink_inside_root_is_served(server, docroot):
    """A symlink that stays inside the root is an ordinary file."""
    assert server.fetch("/inside-link.txt").content == docroot.read("utf8.txt")


def test_if_none_match_gives_304(server):
    """If-None-Match with the current ETag gives 304 with the validators and no body."""
    etag = server.fetch("/style.css").headers["ETag"]
    response = server.fetch("/style.css", headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["ETag"] == etag
    stale = server.fetch("/style.css", headers={"If-None-Match": '"stale"'})
    assert stale.status_code == 200


def test_if_modified_since_gives_304(server):
    """If-Modified-Since at or after Last-Modified gives 304; an older date gives 200."""
    modified = server.fetch("/style.css").headers["Last-Modified"]
    response = server.fetch("/style.css", headers={"If-Modified-Since": modified})
    assert response.status_code == 304
    assert response.content == b""
    older = email.utils.formatdate(0, usegmt=True)
    assert server.fetch("/style.css", headers={"If-Modified-Since": older}).status_code == 200


def test_if_none_match_wins_over_if_modified_since(server):
    """RFC 9110 §13.2.2: a failing If-None-Match is not overridden by If-Modified-Since."""
    modified = server.fetch("/style.css").headers["Last-Modified"]
    headers = {"If-None-Match": '"stale"', "If-Modified-Since": modified}
    assert server.fetch("/style.css", headers=headers).status_code == 200


RANGES = [
    ("bytes=0-9", 0, 10),
    ("bytes=100-", 100, None),
    ("bytes=-7", -7, None),
    ("bytes=200000-299999", 200000, 300000),
]


@pytest.mark.parametrize(("spec", "start", "end"), RANGES, ids=[r[0] for r in RANGES])
def test_single_range_gives_206(server, docroot, spec, start, end):
    """A single satisfiable byte range gives 206, that slice, and a matching Content-Range."""
    whole = docroot.read("large.bin")
    response = server.fetch("/large.bin", headers={"Range": spec})
    assert response.status_code == 206
    expected = whole[start:end]
    assert response.content == expected
    first = start % len(whole)
    last = first + len(expected) - 1
    assert response.headers["Content-Range"] == f"bytes {first}-{last}/{len(whole)}"


def test_unsatisfiable_range_gives_416(server, docroot):
    """A range starting past the end gives 416 with Content-Range: bytes */size."""
    size = len(docroot.read("style.css"))
    response = server.fetch("/style.css", headers={"Range": f"bytes={size}-"})
    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{size}"


def test_stale_if_range_gives_whole_file(server, docroot):
    """A stale If-Range falls back to the whole file, as RFC 9110 §13.1.5 requires."""
    headers = {"Range": "bytes=0-9", "If-Range": '"stale"'}
    response = server.fetch("/style.css", headers=headers)
    assert response.status_code == 200
    assert response.content == docroot.read("style.css")
