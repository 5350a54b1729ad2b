"""Connection deadlines for the event-loop backends: the earliest one in O(log n).

An event loop must know, on every turn, how long it may sleep (until the earliest deadline)
and which connections are past theirs. Scanning every connection for that costs O(n) a turn,
which with thousands of idle keep-alive connections is most of the loop's time. A heap keeps
the earliest at the top instead.

Deadlines move on nearly every event (each request pushes the idle deadline forward), so the
heap is lazy: each connection has at most one live entry, at or before its real deadline. A
deadline that moves later leaves the entry alone; when the entry reaches the top, the real
deadline is read and, if it is still ahead, the entry is pushed back with it. Only a deadline
that moves earlier pushes a new entry, and the old one is skipped when it surfaces. So an event
costs a dict lookup, not a heap operation.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

#: How a key's real deadline is read back (None: the key is gone).
DeadlineOf = Callable[[int], float | None]


class Deadlines:
    """The deadlines of keyed connections (file descriptors), earliest first."""

    def __init__(self, deadline_of: DeadlineOf) -> None:
        self._deadline_of = deadline_of
        self._heap: list[tuple[float, int]] = []
        self._scheduled: dict[int, float] = {}

    def update(self, key: int, deadline: float) -> None:
        """Note `key`'s current deadline (cheap when it only moved later)."""
        scheduled = self._scheduled.get(key)
        if scheduled is None or deadline < scheduled:
            self._scheduled[key] = deadline
            heapq.heappush(self._heap, (deadline, key))

    def remove(self, key: int) -> None:
        """Forget `key`; its entry in the heap is skipped when it surfaces."""
        self._scheduled.pop(key, None)

    def lower_bound(self) -> float | None:
        """A time no live deadline is before (None: there is none), without settling the heap.

        The top entry is at or before its key's real deadline, so a loop that sleeps until
        it, and looks for due keys only once it has passed, misses nothing; at worst it wakes
        once early for an entry that moved on. That spares settling the heap on every turn.
        """
        return self._heap[0][0] if self._heap else None

    def earliest(self) -> float | None:
        """The earliest real deadline, or None when there is none."""
        self._settle_top()
        return self._heap[0][0] if self._heap else None

    def due(self, now: float) -> list[int]:
        """The keys whose real deadline is at or before `now`; each is forgotten until updated."""
        keys: list[int] = []
        while True:
            self._settle_top()
            if not self._heap or self._heap[0][0] > now:
                return keys
            _, key = heapq.heappop(self._heap)
            del self._scheduled[key]
            keys.append(key)

    def _settle_top(self) -> None:
        """Make the top entry a live one holding its key's real deadline."""
        while self._heap:
            when, key = self._heap[0]
            if self._scheduled.get(key) != when:
                heapq.heappop(self._heap)  # Stale: removed, or superseded by an earlier one.
                continue
            actual = self._deadline_of(key)
            if actual is None:
                heapq.heappop(self._heap)
                del self._scheduled[key]
                continue
            if actual == when:
                return
            heapq.heapreplace(self._heap, (actual, key))
            self._scheduled[key] = actual

    def __len__(self) -> int:
        return len(self._scheduled)
