"""Every bound the server enforces, in one place, so that each backend enforces the same ones."""

from __future__ import annotations

from dataclasses import dataclass

#: Bytes asked of the kernel per read; a whole typical request head fits in one.
RECEIVE_SIZE = 64 * 1024


@dataclass(frozen=True)
class Limits:
    """Sizes and timeouts that keep one client from exhausting the server."""

    #: Longest request line (method, target, version) before answering 414.
    max_request_line: int = 8 * 1024
    #: Longest head (request line plus header fields) before answering 431.
    max_head: int = 16 * 1024
    #: Most header fields in one request before answering 431.
    max_fields: int = 100
    #: Largest request body we read and throw away to keep a connection alive;
    #: anything larger is answered and then the connection is closed instead.
    max_discarded_body: int = 1024 * 1024
    #: Seconds a keep-alive connection may sit idle between requests.
    idle_timeout: float = 5.0
    #: Seconds a client has to deliver a whole request head (slowloris bound).
    head_timeout: float = 10.0
    #: Seconds a response may make no progress towards a client that stopped reading.
    send_timeout: float = 10.0
    #: Seconds we keep reading (and discarding) after half-closing, so the
    #: peer reads our final response before the kernel answers its data with RST.
    linger_timeout: float = 2.0
    #: Seconds in-flight responses get to finish when the server is told to stop.
    shutdown_grace: float = 5.0
    #: Files up to this size are read into the same write as their head;
    #: larger ones go out with sendfile after it.
    inline_body_max: int = 64 * 1024
    #: Seconds a target's resolution (and a small file's bytes) may be reused before the
    #: filesystem is asked again: the bound on serving a file that just changed (filecache.py).
    file_check_interval: float = 1.0
