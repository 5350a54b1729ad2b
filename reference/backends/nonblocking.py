"""A single thread polling non-blocking sockets round-robin, without select or epoll.

This is the course's step between threads and epoll: put every socket in
non-blocking mode and keep asking each one in turn whether it has something
— a new connection on the listener, bytes from a client, room to write.
Asking costs a system call per socket per turn whether or not anything
happened, which is why epoll exists. To keep an idle server from spinning a
core at 100%, a turn in which nothing happened is followed by a short pause
that doubles up to a few milliseconds, and drops back to nothing as soon as
there is work.
"""

from __future__ import annotations

import logging
import time

from reference.backends.base import Backend
from reference.channel import Channel

log = logging.getLogger("reference")

MIN_PAUSE = 0.0001
MAX_PAUSE = 0.005


class NonBlockingBackend(Backend):
    """Round-robin polling with an idle back-off."""

    supports_workers = True

    def serve(self) -> None:
        self.listener.setblocking(False)
        self._accept_failing = False
        channels: list[Channel] = []
        pause = MIN_PAUSE
        give_up = None
        while give_up is None or (channels and time.monotonic() < give_up):
            busy = False
            if give_up is None:
                if self.site.stop_signal.is_set():
                    give_up = time.monotonic() + self.site.limits.shutdown_grace
                    for channel in channels:
                        channel.on_stop(time.monotonic())
                else:
                    busy = self._accept(channels)
            for channel in channels:
                busy = self._poll(channel) or busy
            for channel in [c for c in channels if c.finished]:
                channels.remove(channel)
                channel.close()
            pause = MIN_PAUSE if busy else min(pause * 2, MAX_PAUSE)
            if not busy:
                time.sleep(pause)
        for channel in channels:
            channel.close()

    def _accept(self, channels: list[Channel]) -> bool:
        try:
            client, _ = self.listener.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return False
        except OSError as error:
            # Out of descriptors or memory: the connection waits in the backlog, and the
            # idle back-off keeps the next attempts from spinning. Said once per episode.
            if not self._accept_failing:
                log.warning("accept failed: %s; retrying", error)
            self._accept_failing = True
            return False
        self._accept_failing = False
        channels.append(Channel(client, self.site, time.monotonic()))
        return True

    @staticmethod
    def _poll(channel: Channel) -> bool:
        """Try every operation the channel may want; True if any made progress."""
        now = time.monotonic()
        busy = False
        if channel.wants_write:
            busy = channel.on_writable(now)
        if channel.wants_read:
            busy = channel.on_readable(now) or busy
        if not channel.finished and channel.deadline <= now:
            channel.on_deadline(now)
            busy = True
        return busy
