"""One greenlet per connection, on gevent's own cooperative sockets.

The code is the thread backend's, with greenlets for threads: the blocking
driver is unchanged, and gevent's ``select`` and sockets make each wait
yield to the hub instead of blocking the process. Nothing is monkey-patched;
this module alone imports gevent, and only when the backend is chosen, so
gevent is an optional extra: ``pip install 'h1check[gevent]'``.

``socket.sendfile`` on a gevent socket falls back to copying through user
space, so files go out with ``os.sendfile`` driven here, yielding whenever
the socket is full.
"""

from __future__ import annotations

import os
import signal
import socket

import gevent
import gevent.pool
import gevent.select
import gevent.socket

from reference.backends.base import Backend, accept_until_stopped
from reference.blocking import BlockingIO, select_by_poll, serve_connection
from reference.responses import FileSegment, ShortFile


def _sendfile_cooperatively(sock: socket.socket, segment: FileSegment) -> None:
    """os.sendfile on a non-blocking fd, yielding to the hub while the socket is full."""
    with open(segment.path, "rb") as stream:
        offset, left = segment.offset, segment.count
        while left:
            try:
                sent = os.sendfile(sock.fileno(), stream.fileno(), offset, left)
            except BlockingIOError:
                gevent.socket.wait_write(sock.fileno(), timeout=sock.gettimeout())
                continue
            if sent == 0:
                raise ShortFile(segment.path)
            offset += sent
            left -= sent


# gevent.select.select calls the real select() first, which fails on descriptors >= 1024.
GEVENT_WAIT = select_by_poll(gevent.select.poll)
GEVENT_IO = BlockingIO(make_poller=gevent.select.poll, sendfile=_sendfile_cooperatively)


class GeventBackend(Backend):
    """Accept in one greenlet; serve each connection in a greenlet of its own."""

    supports_workers = True

    def serve(self) -> None:
        self.listener = gevent.socket.socket(fileno=self.listener.detach())
        # gevent runs Python signal handlers only when the hub gets round to it;
        # its own handlers run as soon as the signal arrives.
        for number in (signal.SIGINT, signal.SIGTERM):
            gevent.signal_handler(number, self.site.stop_signal.set)
        greenlets = gevent.pool.Group()
        for client in accept_until_stopped(self, GEVENT_WAIT):
            greenlets.spawn(serve_connection, client, self.site, GEVENT_IO)
        greenlets.join(timeout=self.site.limits.shutdown_grace)
        greenlets.kill(block=False)
