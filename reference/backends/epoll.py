"""A single-thread event loop on ``select.epoll``: the course's last server.

One thread multiplexes every connection. Each is a :class:`Channel` whose
interest set follows its state: readable while the core wants input,
writable while output waits, and nothing while a response is blocked on a
client — so the loop never spins on a socket it cannot use. Deadlines live in
a lazy heap (timers.py), so a turn costs the same with ten thousand idle
connections as with none; the wait never sleeps past the earliest one.
"""

from __future__ import annotations

import logging
import select
import time

from reference.backends.base import Backend
from reference.channel import Channel, Waiting
from reference.timers import Deadlines

log = logging.getLogger("reference")

#: Seconds accepting pauses after the process runs out of descriptors.
ACCEPT_PAUSE = 0.1
_READ_OR_ERROR = select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR
_WRITE_OR_ERROR = select.EPOLLOUT | select.EPOLLHUP | select.EPOLLERR
#: The epoll events for each of Channel.waiting_for's answers.
_INTEREST = {Waiting.READ: select.EPOLLIN, Waiting.WRITE: select.EPOLLOUT, Waiting.NOTHING: 0}


class EpollBackend(Backend):
    """Level-triggered epoll over non-blocking sockets."""

    supports_workers = True

    def serve(self) -> None:
        self.listener.setblocking(False)
        self._epoll = select.epoll()
        self._channels: dict[int, Channel] = {}
        self._interest: dict[int, int] = {}
        self._deadlines = Deadlines(self._deadline_of)
        #: While accepting is paused (out of descriptors), when to try again.
        self._resume_accepting: float | None = None
        self._accept_failing = False
        stop = self.site.stop_signal.fileno
        listener = self.listener.fileno()
        self._epoll.register(listener, select.EPOLLIN)
        self._epoll.register(stop, select.EPOLLIN)
        give_up = None
        try:
            while give_up is None or (self._channels and time.monotonic() < give_up):
                for fd, events in self._epoll.poll(self._timeout()):
                    channel = self._channels.get(fd)
                    if channel is not None:
                        self._on_event(fd, channel, events)
                    elif fd == stop:
                        give_up = self._begin_stop()
                    elif fd == listener:
                        self._accept()
                self._expire_deadlines()
                if self._resume_accepting is not None and give_up is None:
                    self._maybe_resume_accepting()
        finally:
            for channel in list(self._channels.values()):
                self._discard(channel)
            self._epoll.close()

    def _begin_stop(self) -> float:
        self._epoll.unregister(self.site.stop_signal.fileno)
        if self._resume_accepting is None:
            self._epoll.unregister(self.listener.fileno())
        now = time.monotonic()
        for channel in list(self._channels.values()):
            channel.on_stop(now)
            self._update(channel.fileno(), channel)
        return now + self.site.limits.shutdown_grace

    def _accept(self) -> None:
        # Everything waiting, not one per event: with many clients connecting at once, one
        # per loop turn leaves them queueing in the backlog behind every other event.
        while True:
            try:
                client, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as error:
                # Out of descriptors or memory. The listener stays readable, so waiting on it
                # would spin: stop watching it for a moment. The connection waits in the backlog.
                if not self._accept_failing:  # Said once per episode, not every pause.
                    log.warning("accept failed: %s; pausing accepts until it succeeds", error)
                self._accept_failing = True
                self._epoll.unregister(self.listener.fileno())
                self._resume_accepting = time.monotonic() + ACCEPT_PAUSE
                return
            self._accept_failing = False
            channel = Channel(client, self.site, time.monotonic())
            fd = channel.fileno()
            self._channels[fd] = channel
            self._interest[fd] = select.EPOLLIN
            self._epoll.register(fd, select.EPOLLIN)
            self._deadlines.update(fd, channel.deadline)

    def _maybe_resume_accepting(self) -> None:
        assert self._resume_accepting is not None
        if time.monotonic() >= self._resume_accepting:
            self._resume_accepting = None
            self._epoll.register(self.listener.fileno(), select.EPOLLIN)

    def _on_event(self, fd: int, channel: Channel, events: int) -> None:
        # What the channel waits for is what it is registered for: every call that can
        # change it is followed by _update.
        interest = self._interest[fd]
        if events & _READ_OR_ERROR and interest & select.EPOLLIN:
            channel.on_readable(time.monotonic())
        elif events & _WRITE_OR_ERROR and interest & select.EPOLLOUT:
            channel.on_writable(time.monotonic())
        self._update(fd, channel)

    def _expire_deadlines(self) -> None:
        now = time.monotonic()
        bound = self._deadlines.lower_bound()
        if bound is None or bound > now:
            return
        for fd in self._deadlines.due(now):
            channel = self._channels[fd]
            channel.on_deadline(now)
            self._update(fd, channel)

    def _deadline_of(self, fd: int) -> float | None:
        channel = self._channels.get(fd)
        return None if channel is None else channel.deadline

    def _update(self, fd: int, channel: Channel) -> None:
        """Make the epoll interest match what the channel is waiting for, or retire it."""
        if channel.finished:
            self._discard(channel)
            return
        self._deadlines.update(fd, channel.deadline)
        wanted = _INTEREST[channel.waiting_for]
        if self._interest[fd] != wanted:
            self._epoll.modify(fd, wanted)
            self._interest[fd] = wanted

    def _discard(self, channel: Channel) -> None:
        fd = channel.fileno()
        # No unregister: closing the socket's only descriptor takes it out of the epoll set,
        # and saves a system call per connection. (Unregistering after closing would be the
        # classic EBADF; nothing here duplicates a client's descriptor.)
        del self._channels[fd], self._interest[fd]
        self._deadlines.remove(fd)
        channel.close()

    def _timeout(self) -> float:
        bound = self._deadlines.lower_bound()
        resume = self._resume_accepting
        if resume is not None and (bound is None or resume < bound):
            bound = resume
        if bound is None:
            return -1
        return max(bound - time.monotonic(), 0.0)
