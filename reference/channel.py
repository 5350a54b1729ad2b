"""One non-blocking client socket driven by the core: the shared half of the nonblocking
and epoll backends.

A non-blocking send may take only part of what it is given, so actions the
core returns wait in an outbox and are written as far as the socket allows
each time it is writable; a file goes out with ``os.sendfile`` from where the
previous call stopped. While the outbox holds anything the channel does not
read, so a client that pipelines faster than it reads is slowed down by TCP
flow control instead of growing our buffers.

The event loop owns the socket's registration, so the channel never closes
the socket itself: it sets :attr:`Channel.finished`, and the loop retires it
from whatever it watches and then calls :meth:`Channel.close`.
"""

from __future__ import annotations

import enum
import logging
import os
import socket
from collections import deque

from reference.core import Action, Close, Send, SendFile, ShutdownWrite
from reference.limits import RECEIVE_SIZE
from reference.responses import ShortFile
from reference.site import Site

log = logging.getLogger("reference")


class Waiting(enum.Enum):
    """What a live channel waits for; never both, since it reads only with an empty outbox."""

    READ = "read"
    WRITE = "write"
    NOTHING = "nothing"


class Channel:
    """A client connection's socket, protocol state and pending output."""

    def __init__(self, sock: socket.socket, site: Site, now: float) -> None:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        self.connection = site.connection(now)
        self.finished = False
        self._outbox: deque[Action] = deque()
        self._pending = memoryview(b"")
        #: The file being sent, as a bare descriptor: a Python file object would cost an
        #: fstat, an ioctl and an lseek per response that sendfile never needs.
        self._file: int | None = None
        self._file_offset = 0
        self._file_left = 0
        self._wrote = False

    def fileno(self) -> int:
        """The socket's file descriptor (so a channel can be passed to select-like calls)."""
        return self.sock.fileno()

    @property
    def wants_read(self) -> bool:
        """True when the loop should wait for input on this channel."""
        return not self.finished and not self._outbox and self.connection.wants_read

    @property
    def wants_write(self) -> bool:
        """True when output is waiting for the socket to become writable."""
        return not self.finished and bool(self._outbox)

    @property
    def waiting_for(self) -> Waiting:
        """:attr:`wants_read` and :attr:`wants_write` in one answer (for a live channel)."""
        if self._outbox:
            return Waiting.WRITE
        return Waiting.READ if self.connection.wants_read else Waiting.NOTHING

    @property
    def deadline(self) -> float:
        """When :meth:`on_deadline` should be called if nothing else happens first."""
        return self.connection.deadline

    def on_readable(self, now: float) -> bool:
        """Read what arrived and act on it; False when nothing could be read yet."""
        try:
            data = self.sock.recv(RECEIVE_SIZE)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as error:
            return self._abort(error)
        self._queue(self.connection.data_received(data, now), now)
        return True

    def on_writable(self, now: float) -> bool:
        """Write as much pending output as the socket takes; True if anything was written."""
        return self._flush(now)

    def on_deadline(self, now: float) -> None:
        """The connection's deadline may have passed."""
        actions = self.connection.deadline_passed(now)
        if self.connection.closed:
            # The core gave up on a client that stopped reading: output it never
            # took must not stand in front of the Close.
            self._outbox.clear()
        self._queue(actions, now)

    def on_stop(self, now: float) -> None:
        """The server is stopping."""
        self._queue(self.connection.stop(now), now)

    def close(self) -> None:
        """Release the socket and any file being sent; the loop calls it once it retired the channel."""
        self.finished = True
        self._close_file()
        self.sock.close()

    def _queue(self, actions: list[Action], now: float) -> None:
        # Nearly always the core answers with one Send that the socket takes whole, and
        # then has nothing more to say until the next request: write it straight away,
        # without the outbox. Anything else, or a partial write, goes the general way.
        while len(actions) == 1 and not self._outbox and type(actions[0]) is Send:
            data = actions[0].data
            try:
                sent = self.sock.send(data)
            except BlockingIOError:
                break
            except OSError as error:
                self._abort(error)
                return
            if sent < len(data):
                self._pending = memoryview(data)[sent:]
                self.connection.output_progress(now)
                break
            actions = self.connection.output_drained(now)
        if actions or self._outbox:
            self._outbox.extend(actions)
            self._flush(now)

    def _flush(self, now: float) -> bool:
        self._wrote = False
        try:
            while self._outbox and not self.finished:
                if not self._advance(self._outbox[0]):
                    break
                self._outbox.popleft()
                if not self._outbox:
                    self._outbox.extend(self.connection.output_drained(now))
        except OSError as error:
            self._abort(error)
        if self._wrote:
            self.connection.output_progress(now)
        return self._wrote

    def _advance(self, action: Action) -> bool:
        """Carry the head of the outbox forward; True once it is complete."""
        if isinstance(action, Send):
            if not self._pending:
                self._pending = memoryview(action.data)
            self._pending = self._pending[self._send(self._pending) :]
            return not self._pending
        if isinstance(action, SendFile):
            return self._send_file_part(action)
        if isinstance(action, ShutdownWrite):
            self.sock.shutdown(socket.SHUT_WR)
        elif isinstance(action, Close):
            self.finished = True
        return True

    def _send(self, data: memoryview) -> int:
        try:
            sent = self.sock.send(data)
        except BlockingIOError:
            return 0
        self._wrote = True
        return sent

    def _send_file_part(self, action: SendFile) -> bool:
        if self._file is None:
            self._file = os.open(action.segment.path, os.O_RDONLY | os.O_CLOEXEC)
            self._file_offset = action.segment.offset
            self._file_left = action.segment.count
        while self._file_left:
            try:
                sent = os.sendfile(
                    self.sock.fileno(), self._file, self._file_offset, self._file_left
                )
            except BlockingIOError:
                return False
            if sent == 0:
                raise ShortFile(action.segment.path)
            self._wrote = True
            self._file_offset += sent
            self._file_left -= sent
        self._close_file()
        return True

    def _close_file(self) -> None:
        if self._file is not None:
            os.close(self._file)
            self._file = None

    def _abort(self, error: OSError) -> bool:
        log.debug("connection ended early: %s", error)
        self._outbox.clear()
        self.finished = True
        return False
