"""A single-thread event loop on ``select.epoll``: the course's last server.

One thread multiplexes every connection. Each is a :class:`Channel` whose
interest set follows its state: readable while the core wants input,
writable while output waits, and nothing while a response is blocked on a
client — so the loop never spins on a socket it cannot use. Deadlines are
checked once per loop turn; the wait never sleeps past the earliest one.
"""

from __future__ import annotations

import select
import time

from reference.backends.base import Backend
from reference.channel import Channel


class EpollBackend(Backend):
    """Level-triggered epoll over non-blocking sockets."""

    supports_workers = True

    def serve(self) -> None:
        self.listener.setblocking(False)
        self._epoll = select.epoll()
        self._channels: dict[int, Channel] = {}
        self._interest: dict[int, int] = {}
        stop = self.site.stop_signal.fileno
        self._epoll.register(self.listener.fileno(), select.EPOLLIN)
        self._epoll.register(stop, select.EPOLLIN)
        give_up = None
        try:
            while give_up is None or (self._channels and time.monotonic() < give_up):
                for fd, events in self._epoll.poll(self._timeout()):
                    if fd == stop:
                        give_up = self._begin_stop()
                    elif fd == self.listener.fileno():
                        self._accept()
                    elif fd in self._channels:
                        self._on_event(self._channels[fd], events)
                self._expire_deadlines()
        finally:
            for channel in list(self._channels.values()):
                self._discard(channel)
            self._epoll.close()

    def _begin_stop(self) -> float:
        self._epoll.unregister(self.site.stop_signal.fileno)
        self._epoll.unregister(self.listener.fileno())
        now = time.monotonic()
        for channel in list(self._channels.values()):
            channel.on_stop(now)
            self._update(channel)
        return now + self.site.limits.shutdown_grace

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            channel = Channel(client, self.site, time.monotonic())
            fd = channel.fileno()
            self._channels[fd] = channel
            self._interest[fd] = select.EPOLLIN
            self._epoll.register(fd, select.EPOLLIN)

    def _on_event(self, channel: Channel, events: int) -> None:
        now = time.monotonic()
        if events & (select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR) and channel.wants_read:
            channel.on_readable(now)
        if events & (select.EPOLLOUT | select.EPOLLHUP | select.EPOLLERR) and channel.wants_write:
            channel.on_writable(now)
        self._update(channel)

    def _expire_deadlines(self) -> None:
        now = time.monotonic()
        for channel in [c for c in self._channels.values() if c.deadline <= now]:
            channel.on_deadline(now)
            self._update(channel)

    def _update(self, channel: Channel) -> None:
        """Make the epoll interest match what the channel is waiting for, or retire it."""
        if channel.finished:
            self._discard(channel)
            return
        wanted = (select.EPOLLIN if channel.wants_read else 0) | (
            select.EPOLLOUT if channel.wants_write else 0
        )
        fd = channel.fileno()
        if self._interest[fd] != wanted:
            self._epoll.modify(fd, wanted)
            self._interest[fd] = wanted

    def _discard(self, channel: Channel) -> None:
        fd = channel.fileno()
        # Unregister before closing: a closed fd can no longer be named to epoll.
        self._epoll.unregister(fd)
        del self._channels[fd], self._interest[fd]
        channel.close()

    def _timeout(self) -> float:
        if not self._channels:
            return -1
        earliest = min(channel.deadline for channel in self._channels.values())
        return max(earliest - time.monotonic(), 0.0)
