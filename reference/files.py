"""Map a request target to a file under the document root, and describe that file.

The one promise this module keeps is that no path outside the root is ever
returned. It keeps it twice over: the decoded path is normalised segment by
segment and refused if ``..`` would climb above the root, and the final path is
resolved through the filesystem (following symlinks) and refused unless it
still lies under the root's own resolved path. The first rule gives a clear
400 for hostile targets; the second catches what the first cannot see, such as
a symlink inside the root that points out of it.
"""

from __future__ import annotations

import functools
import os
import stat
from dataclasses import dataclass
from email.utils import formatdate
from urllib.parse import quote, unquote_to_bytes, urlsplit

#: Content types by file suffix. A fixed table, rather than the ``mimetypes``
#: module, because that one reads the host's /etc/mime.types and so would make
#: the server answer differently from one machine to the next.
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".xml": "application/xml",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".ico": "image/vnd.microsoft.icon",
    ".pdf": "application/pdf",
    ".wasm": "application/wasm",
    ".woff2": "font/woff2",
    ".zip": "application/zip",
}
DEFAULT_CONTENT_TYPE = "application/octet-stream"
#: Characters RFC 3986 §3.3 allows unencoded in a path segment, beyond letters, digits and -._~
_PATH_SAFE = "!$&'()*+,;=:@"


@dataclass(frozen=True)
class StaticFile:
    """A regular file found under the root, with the metadata its response needs."""

    path: str
    size: int
    mtime: float
    content_type: str
    etag: str
    #: (inode, size, mtime in ns): a different value means different bytes.
    identity: tuple[int, int, int] = (0, 0, 0)

    @functools.cached_property
    def last_modified(self) -> str:
        """The file's modification time as an IMF-fixdate."""
        return formatdate(int(self.mtime), usegmt=True)

    @functools.cached_property
    def fields(self) -> bytes:
        """The header fields of a 200 for this file, serialised once per version of it."""
        lines = (
            f"Content-Type: {self.content_type}\r\n"
            f"Last-Modified: {self.last_modified}\r\n"
            f"ETag: {self.etag}\r\n"
            "Accept-Ranges: bytes\r\n"
        )
        return lines.encode("latin-1")

    @functools.cached_property
    def ok_fields(self) -> bytes:
        """:attr:`fields` and the Content-Length of the whole file: all of a plain 200's fields."""
        return self.fields + b"Content-Length: %d\r\n" % self.size


@dataclass(frozen=True)
class Redirect:
    """A directory asked for without its trailing slash: send the client to the slash form."""

    location: str


@dataclass(frozen=True)
class NotFound:
    """Nothing servable at that path."""


@dataclass(frozen=True)
class BadTarget:
    """A target we refuse to interpret (NUL byte, invalid UTF-8, escaping the root)."""

    reason: str


Resolution = StaticFile | Redirect | NotFound | BadTarget


def content_type_for(name: str) -> str:
    """The Content-Type for a file name, by its suffix."""
    return CONTENT_TYPES.get(os.path.splitext(name)[1].lower(), DEFAULT_CONTENT_TYPE)


def split_target(target: bytes) -> tuple[bytes, bytes]:
    """Split a request target into its path and query (both still percent-encoded).

    Absolute-form targets (``http://host/path``) are accepted as RFC 9112 §3.2.2
    requires; only their path and query matter to a static server.
    """
    if target.startswith(b"/"):
        path, _, query = target.partition(b"?")
        return path.partition(b"#")[0], query.partition(b"#")[0]
    if b"://" in target[:16]:
        try:
            parts = urlsplit(target)
        except ValueError:  # e.g. "http://[/": an authority that is no host at all.
            return b"", b""
        return parts.path or b"/", parts.query
    return b"", b""


def normalise_path(path: bytes) -> list[str] | BadTarget:
    """Decode a percent-encoded path into its segments, resolving dot-segments.

    Segments are split *after* decoding, so ``%2f`` separates like ``/`` and
    ``..%2f`` is seen for what it is. Decoding happens exactly once: a
    double-encoded ``%252e%252e`` becomes the harmless literal name ``%2e%2e``.
    """
    if not path.startswith(b"/"):
        return BadTarget("the request target is not an absolute path")
    raw = unquote_to_bytes(path)
    if b"\x00" in raw:
        return BadTarget("the path contains a NUL byte")
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        return BadTarget("the path is not valid UTF-8")
    segments: list[str] = []
    for segment in decoded.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if not segments:
                return BadTarget("the path climbs above the document root")
            segments.pop()
        elif "\\" in segment:
            return BadTarget("the path contains a backslash")
        else:
            segments.append(segment)
    return segments


def _slash_form(segments: list[str], query: bytes) -> str:
    """The Location of a directory's slash form: a path with exactly one leading slash.

    It is rebuilt from the normalised segments, never copied from the target:
    a target such as ``//evil.example`` names a directory here, but echoed back
    as ``//evil.example/`` a browser reads it as a scheme-relative URL on
    another host. Each segment is percent-encoded again, so a decoded ``%2f``
    or ``?`` cannot change the path's shape.

    The query is kept, because it is part of what the client asked for and the
    page the redirect leads to may read it (``location.search``). It cannot
    reach another host: after the ``?``, even ``//`` is only query text.
    """
    path = "/" + "".join(quote(segment, safe=_PATH_SAFE) + "/" for segment in segments)
    return path + ("?" + query.decode("latin-1") if query else "")


def resolve(root: str, target: bytes) -> Resolution:
    """Find what a request target names under ``root`` (an absolute, resolved path)."""
    path, query = split_target(target)
    if not path:
        return BadTarget("the request target is not an absolute path")
    segments = normalise_path(path)
    if isinstance(segments, BadTarget):
        return segments
    found = _stat_inside(root, os.path.join(root, *segments))
    if found is not None and stat.S_ISDIR(found[1].st_mode):
        if not path.endswith(b"/"):
            return Redirect(_slash_form(segments, query))
        found = _stat_inside(root, os.path.join(found[0], "index.html"))
    if found is None or not stat.S_ISREG(found[1].st_mode):
        return NotFound()
    real, info = found
    return StaticFile(
        path=real,
        size=info.st_size,
        mtime=info.st_mtime,
        content_type=content_type_for(real),
        etag=f'"{info.st_mtime_ns:x}-{info.st_size:x}"',
        identity=(info.st_ino, info.st_size, info.st_mtime_ns),
    )


def read_exactly(path: str, offset: int, count: int) -> bytes:
    """Read a slice of a file, padding nothing: a short file would break framing."""
    with open(path, "rb") as stream:
        stream.seek(offset)
        data = stream.read(count)
    if len(data) != count:
        raise OSError(f"{path} changed size while being served")
    return data


def _stat_inside(root: str, candidate: str) -> tuple[str, os.stat_result] | None:
    """Resolve every symlink in ``candidate`` and stat it, if it still lies under ``root``."""
    real = os.path.realpath(candidate)
    if real != root and not real.startswith(root + os.sep):
        return None
    try:
        return real, os.stat(real)
    except (OSError, ValueError):
        return None
