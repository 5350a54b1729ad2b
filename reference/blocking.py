"""Drive one connection with blocking calls: the driver of the serial, process, thread and
gevent backends.

Blocking here means "this call returns when it is done", which is what a
thread, a forked child or a greenlet wants. The only waits are a ``poll``
on the client socket and the stop signal (so a stopping server wakes idle
connections at once) and sends bounded by the socket's timeout (so a client
that stops reading is dropped after ``send_timeout`` without progress).
gevent passes its own cooperative ``poll`` and sendfile in
:class:`BlockingIO`; everything else is shared.
"""

from __future__ import annotations

import logging
import select
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from reference.core import Action, Close, Send, SendFile, ShutdownWrite
from reference.limits import RECEIVE_SIZE
from reference.responses import FileSegment, ShortFile
from reference.site import Site

log = logging.getLogger("reference")


def sendfile_blocking(sock: socket.socket, segment: FileSegment) -> None:
    """Send a file segment with the kernel's sendfile, bounded by the socket's timeout."""
    with open(segment.path, "rb") as stream:
        sent = sock.sendfile(stream, segment.offset, segment.count)
    if sent != segment.count:
        raise ShortFile(segment.path)


Select = Callable[..., tuple[list, list, list]]


def select_by_poll(make_poller: Callable[[], Any]) -> Select:
    """A ``select``-shaped wait for readability built on ``poll``.

    ``select()`` cannot watch a descriptor numbered 1024 or more, so a server holding a thousand
    connections would stop answering anyone; ``poll`` has no such limit. Only readability is
    ever waited for here, so only the first list is used.
    """

    def wait(readers: list, _writers: list, _errors: list, timeout: float | None = None):
        poller = make_poller()
        by_fd = {}
        for item in readers:
            fd = item if isinstance(item, int) else item.fileno()
            by_fd[fd] = item
            poller.register(fd, select.POLLIN)
        events = poller.poll(None if timeout is None else timeout * 1000)
        return [by_fd[fd] for fd, _ in events], [], []

    return wait


wait_readable = select_by_poll(select.poll)


@dataclass(frozen=True)
class BlockingIO:
    """The two waits a blocking driver makes, replaceable by a cooperative library's own."""

    #: Makes the ``poll`` object a connection waits on for input (or the stop signal).
    make_poller: Callable[[], Any] = select.poll
    sendfile: Callable[[socket.socket, FileSegment], None] = sendfile_blocking


def serve_connection(sock: socket.socket, site: Site, io: BlockingIO | None = None) -> None:
    """Serve one accepted connection until it closes; never raises for client behaviour."""
    io = io or BlockingIO()
    sock.settimeout(site.limits.send_timeout)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _drive(sock, site, io)
    except OSError as error:
        # Resets, broken pipes and stalled readers end one connection, never the server.
        log.debug("connection ended early: %s", error)
    finally:
        sock.close()


def _drive(sock: socket.socket, site: Site, io: BlockingIO) -> None:
    connection = site.connection(time.monotonic())
    # One poller for the connection's life, not one per wait: registering costs more
    # than the wait itself when the next request is already on its way.
    poller = io.make_poller()
    poller.register(sock.fileno(), select.POLLIN)
    poller.register(site.stop_signal.fileno, select.POLLIN)
    actions: list[Action] = []
    while True:
        _perform(sock, actions, io)
        actions = connection.output_drained(time.monotonic())
        if actions:
            continue
        if connection.closed:
            return
        timeout = max(connection.deadline - time.monotonic(), 0.0)
        ready = {fd for fd, _ in poller.poll(timeout * 1000)}
        now = time.monotonic()
        if sock.fileno() in ready:
            actions = connection.data_received(_receive(sock), now)
        elif ready:
            # Only the stop signal: it stays readable, so stop watching it.
            poller.unregister(site.stop_signal.fileno)
            actions = connection.stop(now)
        else:
            actions = connection.deadline_passed(now)


def _receive(sock: socket.socket) -> bytes:
    try:
        return sock.recv(RECEIVE_SIZE)
    except ConnectionResetError:
        return b""


def _perform(sock: socket.socket, actions: Iterable[Action], io: BlockingIO) -> None:
    for action in actions:
        if isinstance(action, Send):
            sock.sendall(action.data)
        elif isinstance(action, SendFile):
            io.sendfile(sock, action.segment)
        elif isinstance(action, ShutdownWrite):
            sock.shutdown(socket.SHUT_WR)
        elif isinstance(action, Close):
            return
