"""A minimal WSGI app serving the files under $DOCROOT, so gunicorn can be benchmarked too.

gunicorn serves WSGI apps, not directories; this is the least an app can do to serve the same
files as the other servers: map the path into the root (refusing to leave it), answer with a
Content-Length and a guessed Content-Type, and hand the open file to the server's
`wsgi.file_wrapper`, which gunicorn turns into sendfile where its worker allows.
"""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

ROOT = os.path.realpath(os.environ.get("DOCROOT", "html"))
CHUNK_SIZE = 64 * 1024

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """Answer GET and HEAD with the file the path names under ROOT, or 404 / 405."""
    if environ["REQUEST_METHOD"] not in ("GET", "HEAD"):
        return _plain(start_response, "405 Method Not Allowed", b"method not allowed\n")
    path = resolve(ROOT, environ.get("PATH_INFO", "/"))
    if path is None:
        return _plain(start_response, "404 Not Found", b"not found\n")
    stream = open(path, "rb")  # noqa: SIM115 -- the server closes it through the wrapper
    content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    size = os.fstat(stream.fileno()).st_size
    start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(size))])
    wrapper = environ.get("wsgi.file_wrapper")
    return wrapper(stream, CHUNK_SIZE) if wrapper else _chunks(stream)


def resolve(root: str, path_info: str) -> str | None:
    """The regular file `path_info` names under `root` (index.html for a directory), or None."""
    # WSGI hands over the decoded path as latin-1 code points; file names here are UTF-8.
    relative = path_info.encode("latin-1").decode("utf-8", "replace").lstrip("/")
    candidate = os.path.realpath(os.path.join(root, relative))
    if os.path.isdir(candidate):
        candidate = os.path.join(candidate, "index.html")
    inside = candidate == root or candidate.startswith(root + os.sep)
    return candidate if inside and os.path.isfile(candidate) else None


def _plain(start_response: StartResponse, status: str, body: bytes) -> list[bytes]:
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def _chunks(stream: IO[bytes]) -> Iterator[bytes]:
    with stream:
        while chunk := stream.read(CHUNK_SIZE):
            yield chunk
