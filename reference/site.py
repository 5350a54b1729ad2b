"""What every connection of one server shares: the document root, the limits, a stop signal."""

from __future__ import annotations

import contextlib
import os
import select
from dataclasses import dataclass, field

from reference.core import Connection
from reference.limits import Limits


class StopSignal:
    """A pipe that becomes readable, and stays readable, once the server is told to stop.

    A pipe rather than a flag because every wait in every backend can include
    its read end: a blocked ``select``, ``epoll`` or greenlet wakes at once,
    and forked children inherit it, so one ``set()`` reaches the whole tree.
    """

    def __init__(self) -> None:
        self.fileno, self._write_end = os.pipe()
        os.set_blocking(self._write_end, False)

    def set(self) -> None:
        """Wake every waiter; safe to call from a signal handler, and more than once."""
        # A full pipe is already readable, which is all a waiter needs.
        with contextlib.suppress(BlockingIOError):
            os.write(self._write_end, b"x")

    def is_set(self) -> bool:
        """True once :meth:`set` has been called in this process or its parent."""
        readable, _, _ = select.select([self.fileno], [], [], 0)
        return bool(readable)


@dataclass
class Site:
    """A document root served under a set of limits."""

    root: str
    limits: Limits = field(default_factory=Limits)
    stop_signal: StopSignal = field(default_factory=StopSignal)
    #: Which request parser reads the requests, by its name in reference.fastparser.PARSERS.
    parser: str = "fast"

    def connection(self, now: float) -> Connection:
        """A fresh protocol state for a newly accepted connection."""
        return Connection(self.root, self.limits, now, parser=self.parser)
