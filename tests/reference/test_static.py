"""Static-file semantics: methods, validators and ranges, without any connection."""

from __future__ import annotations

import builtins
import os
from email.utils import formatdate

import pytest

from reference import filecache
from reference.limits import Limits
from reference.parser import RequestReader
from reference.responses import serialise_head, serialise_ok
from reference.static import ready_answer, respond
from tests.reference.corekit import ROOT

LARGE = os.path.join(ROOT, "large.bin")


def answer(request_line: str, *fields: str, limits: Limits | None = None):
    raw = "\r\n".join([request_line, "Host: a", *fields, "", ""]).encode()
    reader = RequestReader(Limits())
    reader.feed(raw)
    return respond(reader.next_head(), ROOT, limits or Limits())


def header(response, name: str) -> str | None:
    """A field of the response as it goes on the wire (some are serialised ahead of time)."""
    lines = serialise_head(response, close=False).decode("latin-1").split("\r\n")[1:]
    fields = dict(line.split(": ", 1) for line in lines if line)
    return fields.get(name)


def test_get_serves_small_files_inline_with_their_metadata():
    response = answer("GET /style.css HTTP/1.1")
    with open(os.path.join(ROOT, "style.css"), "rb") as stream:
        assert response.body == stream.read()
    assert header(response, "Content-Type") == "text/css; charset=utf-8"
    assert header(response, "ETag").startswith('"')
    assert header(response, "Last-Modified").endswith("GMT")


def test_large_files_go_out_as_a_file_segment():
    response = answer("GET /large.bin HTTP/1.1")
    assert response.file.count == os.path.getsize(LARGE) == response.content_length
    assert response.body == b""


def test_head_has_the_length_of_get_but_no_body_to_send():
    get, head = answer("GET /utf8.txt HTTP/1.1"), answer("HEAD /utf8.txt HTTP/1.1")
    assert head.content_length == get.content_length == len(get.body)
    assert head.send_body is False and get.send_body is True


@pytest.fixture
def opened(monkeypatch) -> list:
    """Every file opened, through open() or os.open(), while the test runs."""
    paths = []
    real_open, real_os_open = builtins.open, os.open

    def recording_open(file, *args, **kwargs):
        paths.append(file)
        return real_open(file, *args, **kwargs)

    def recording_os_open(path, *args, **kwargs):
        paths.append(path)
        return real_os_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", recording_open)
    monkeypatch.setattr(os, "open", recording_os_open)
    return paths


@pytest.mark.parametrize("name", ["utf8.txt", "large.bin"])
def test_head_takes_the_fields_of_get_from_stat_without_opening_the_file(opened, name: str):
    get = answer(f"GET /{name} HTTP/1.1")
    opened.clear()
    head = answer(f"HEAD /{name} HTTP/1.1")
    assert opened == []
    assert (head.status, head.headers) == (get.status, get.headers)
    assert head.content_length == get.content_length == os.path.getsize(os.path.join(ROOT, name))
    assert head.body == b"" and head.file is None


def test_the_open_recorder_sees_get_read_a_small_file(opened):
    answer("GET /utf8.txt HTTP/1.1", limits=Limits(file_check_interval=0))  # No cache.
    assert os.path.join(ROOT, "utf8.txt") in opened


@pytest.mark.parametrize(("method", "status"), [("POST", 405), ("DELETE", 405), ("BREW", 501)])
def test_methods_other_than_get_and_head(method: str, status: int):
    response = answer(f"{method} / HTTP/1.1")
    assert response.status == status
    assert (header(response, "Allow") == "GET, HEAD") is (status == 405)


def test_if_none_match_with_the_etag_is_not_modified():
    etag = header(answer("GET / HTTP/1.1"), "ETag")
    assert answer("GET / HTTP/1.1", f"If-None-Match: W/{etag}").status == 304
    assert answer("GET / HTTP/1.1", 'If-None-Match: "other"').status == 200
    assert answer("GET / HTTP/1.1", "If-None-Match: *").status == 304


def test_if_modified_since_compares_whole_seconds():
    mtime = os.path.getmtime(os.path.join(ROOT, "index.html"))
    since = formatdate(int(mtime), usegmt=True)
    earlier = formatdate(int(mtime) - 10, usegmt=True)
    assert answer("GET / HTTP/1.1", f"If-Modified-Since: {since}").status == 304
    assert answer("GET / HTTP/1.1", f"If-Modified-Since: {earlier}").status == 200
    assert answer("GET / HTTP/1.1", "If-Modified-Since: yesterday").status == 200


def test_if_none_match_wins_over_if_modified_since():
    since = formatdate(os.path.getmtime(os.path.join(ROOT, "index.html")) + 60, usegmt=True)
    both = answer("GET / HTTP/1.1", 'If-None-Match: "other"', f"If-Modified-Since: {since}")
    assert both.status == 200


@pytest.mark.parametrize(
    ("spec", "start", "end"),
    [("bytes=0-9", 0, 10), ("bytes=10-", 10, None), ("bytes=-5", -5, None), ("bytes=5-5", 5, 6)],
)
def test_a_single_byte_range_is_partial_content(spec: str, start: int, end: int | None):
    response = answer("GET /utf8.txt HTTP/1.1", f"Range: {spec}")
    with open(os.path.join(ROOT, "utf8.txt"), "rb") as stream:
        whole = stream.read()
    assert response.status == 206
    assert response.body == whole[start:end]
    first = start % len(whole)
    assert header(response, "Content-Range") == (
        f"bytes {first}-{first + len(response.body) - 1}/{len(whole)}"
    )


def test_ranges_past_the_end_are_unsatisfiable():
    response = answer("GET /utf8.txt HTTP/1.1", "Range: bytes=999999-")
    assert response.status == 416
    size = os.path.getsize(os.path.join(ROOT, "utf8.txt"))
    assert header(response, "Content-Range") == f"bytes */{size}"


@pytest.mark.parametrize(
    "fields",
    [("Range: bytes=0-1,5-6",), ("Range: lines=1-2",), ("Range: bytes=0-1", 'If-Range: "x"')],
)
def test_ranges_we_do_not_honour_get_the_whole_file(fields):
    assert answer("GET /utf8.txt HTTP/1.1", *fields).status == 200


def test_range_is_ignored_for_head():
    assert answer("HEAD /utf8.txt HTTP/1.1", "Range: bytes=0-1").status == 200


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize(
    "target",
    [
        "/",
        "/index.html",
        "/style.css",
        "/empty.txt",
        "/large.bin",
        "/caf%C3%A9.txt",
        "/nested/",
        "/nested/page.html?x=1",
        "/missing.txt",
        "/nested",
        "/../etc/passwd",
    ],
)
@pytest.mark.parametrize("close", [False, True])
def test_the_ready_answer_is_byte_for_byte_what_respond_gives(method, target, close):
    """The shortcut for plain GET and HEAD must not change a byte of any answer it gives."""
    raw = f"{method} {target} HTTP/1.1\r\nHost: a\r\n\r\n".encode()
    reader = RequestReader(Limits())
    reader.feed(raw)
    head = reader.next_head()
    limits = Limits()
    ready = ready_answer(head, filecache.for_root(ROOT, limits.file_check_interval), limits)
    response = respond(head, ROOT, limits)
    if ready is None:
        # Only what the shortcut cannot settle from memory is left to respond().
        assert response.status != 200 or (method == "GET" and response.file is not None)
        return
    expected = serialise_head(response, close=close)
    if response.send_body:
        expected += response.body
    assert serialise_ok(ready.fields, ready.body, close=close) == expected


@pytest.mark.parametrize(
    "field",
    ["If-None-Match: *", "If-Modified-Since: Tue, 01 Dec 2099 00:00:00 GMT", "Range: bytes=0-1"],
)
def test_validators_and_ranges_are_never_given_the_ready_answer(field):
    raw = f"GET /style.css HTTP/1.1\r\nHost: a\r\n{field}\r\n\r\n".encode()
    reader = RequestReader(Limits())
    reader.feed(raw)
    limits = Limits()
    cache = filecache.for_root(ROOT, limits.file_check_interval)
    assert ready_answer(reader.next_head(), cache, limits) is None
