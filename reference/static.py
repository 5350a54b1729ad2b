"""What a static-file server answers to one well-formed request (RFC 9110 semantics).

This module knows nothing of connections: the core hands it a parsed head and
sends whatever :class:`~reference.responses.Response` comes back.
"""

from __future__ import annotations

import re
from email.utils import parsedate_to_datetime
from operator import itemgetter
from typing import NamedTuple

from reference import filecache, files
from reference.limits import Limits
from reference.parser import RequestHead
from reference.responses import FileSegment, Response, error_response

#: Methods RFC 9110 §9.3 defines (plus PATCH). A static server supports only
#: GET and HEAD; the others get 405 because they are real methods the
#: resource does not allow, while anything else is unknown and gets 501.
KNOWN_METHODS = frozenset(
    {b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"CONNECT", b"OPTIONS", b"TRACE", b"PATCH"}
)
ALLOWED = "GET, HEAD"
_SERVED = (b"GET", b"HEAD")
_BYTE_RANGE = re.compile(rb"bytes=(\d*)-(\d*)")
#: Fields that can make the answer to a GET anything but the whole file with a 200.
_VARYING_FIELDS = frozenset({b"if-none-match", b"if-modified-since", b"range"})
_field_name = itemgetter(0)


class Ready(NamedTuple):
    """A 200 settled without building a Response: its fields and the content to send."""

    #: The header fields after Server, Content-Length included, serialised (StaticFile.ok_fields).
    fields: bytes
    body: bytes


def ready_answer(head: RequestHead, cache: filecache.FileCache, limits: Limits) -> Ready | None:
    """The most common answer, straight from the file cache, or None to ask :func:`respond`.

    A GET or HEAD without validators or Range, for a file small enough to send from memory
    (any size for HEAD), is nearly every request a static server sees, and its answer differs
    from one request to the next only in the Date line: so it skips :class:`Response` and
    serialisation field by field. :func:`respond` gives the same answer to the same request;
    a test holds the two to the same bytes.
    """
    if head.method not in _SERVED or not _VARYING_FIELDS.isdisjoint(map(_field_name, head.headers)):
        return None
    found = cache.resolve(head.target)
    if type(found) is not files.StaticFile:
        return None
    if head.method == b"HEAD":
        return Ready(found.ok_fields, b"")
    if found.size > limits.inline_body_max:
        return None
    return Ready(found.ok_fields, cache.contents(found))


def respond(head: RequestHead, root: str, limits: Limits) -> Response:
    """The response to ``head`` for a server whose document root is ``root``."""
    if head.method not in KNOWN_METHODS:
        return error_response(501, "This server does not implement that method.")
    if head.method not in _SERVED:
        response = error_response(405, f"Only {ALLOWED} are allowed here.")
        response.headers.append(("Allow", ALLOWED))
        return response
    cache = filecache.for_root(root, limits.file_check_interval)
    found = cache.resolve(head.target)
    if isinstance(found, files.BadTarget):
        response = error_response(400, found.reason)
    elif isinstance(found, files.NotFound):
        response = error_response(404, "The requested file was not found on this server.")
    elif isinstance(found, files.Redirect):
        response = error_response(301, "The resource is a directory; see its slash form.")
        response.headers.append(("Location", found.location))
    else:
        response = _file_response(head, found, limits, cache)
    response.send_body = head.method != b"HEAD"
    return response


def _file_response(
    head: RequestHead, found: files.StaticFile, limits: Limits, cache: filecache.FileCache
) -> Response:
    """200, 206, 304 or 416 for an existing file, honouring validators and Range."""
    plain = not _conditional(head) and (head.get(b"range") is None or head.method != b"GET")
    if plain:
        # The common case: the fields serialised once per version of the file, and a small
        # file's bytes from memory, so the whole response is one write.
        if head.method == b"HEAD":
            # RFC 9110 §9.3.2: the fields GET would send, without opening the file.
            return Response(200, fields=found.fields, content_length=found.size)
        if found.size > limits.inline_body_max:
            segment = FileSegment(found.path, 0, found.size)
            return Response(200, fields=found.fields, file=segment)
        return Response(200, fields=found.fields, body=cache.contents(found))
    validators = [
        ("Last-Modified", found.last_modified),
        ("ETag", found.etag),
    ]
    if _not_modified(head, found):
        return Response(304, validators)
    headers = [("Content-Type", found.content_type), *validators, ("Accept-Ranges", "bytes")]
    start, end = 0, found.size
    status = 200
    wanted = _requested_range(head, found)
    if isinstance(wanted, str):  # "unsatisfiable"
        response = error_response(416, "The requested range is outside the file.")
        response.headers.append(("Content-Range", f"bytes */{found.size}"))
        return response
    if wanted is not None:
        start, end = wanted
        status = 206
        headers.append(("Content-Range", f"bytes {start}-{end - 1}/{found.size}"))
    count = end - start
    if head.method == b"HEAD":
        # RFC 9110 §9.3.2: the fields GET would send, all of which stat() gave us;
        # reading the body only to throw it away would cost a disk read per HEAD.
        return Response(status, headers, content_length=count)
    if count <= limits.inline_body_max:
        if found.size <= limits.inline_body_max:
            return Response(status, headers, body=cache.contents(found)[start:end])
        return Response(status, headers, body=files.read_exactly(found.path, start, count))
    return Response(status, headers, file=FileSegment(found.path, start, count))


def _conditional(head: RequestHead) -> bool:
    return head.get(b"if-none-match") is not None or head.get(b"if-modified-since") is not None


def _not_modified(head: RequestHead, found: files.StaticFile) -> bool:
    """RFC 9110 §13.2.2: If-None-Match wins over If-Modified-Since when both are sent."""
    if_none_match = head.get(b"if-none-match")
    if if_none_match is not None:
        tags = [tag.strip() for tag in if_none_match.decode("latin-1").split(",")]
        # Weak comparison (§13.1.2): W/"x" matches "x".
        return "*" in tags or found.etag in (tag.removeprefix("W/") for tag in tags)
    if_modified_since = head.get(b"if-modified-since")
    if if_modified_since is None:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since.decode("latin-1")).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return False  # An unreadable date is ignored, as RFC 9110 §13.1.3 says.
    return int(found.mtime) <= since


def _requested_range(head: RequestHead, found: files.StaticFile) -> tuple[int, int] | str | None:
    """The single byte range asked for as (start, end-exclusive), "unsatisfiable", or None.

    Several ranges, a malformed one, or a stale If-Range all fall back to the
    whole file (None), which RFC 9110 §14.2 allows a server to do.
    """
    header = head.get(b"range")
    if header is None or head.method != b"GET":
        return None
    if_range = head.get(b"if-range")
    if if_range is not None and if_range.decode("latin-1").strip() != found.etag:
        return None
    match = _BYTE_RANGE.fullmatch(header.replace(b" ", b""))
    if match is None or match.group(1) == match.group(2) == b"":
        return None
    first, last = match.group(1), match.group(2)
    if first:
        start = int(first)
        end = min(int(last) + 1, found.size) if last else found.size
        if last and int(last) < start:
            return None
    else:
        start, end = max(found.size - int(last), 0), found.size
        if int(last) == 0:
            return "unsatisfiable"
    if start >= found.size:
        return "unsatisfiable"
    return start, end
