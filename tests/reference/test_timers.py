"""The event loop's deadline heap: always the real earliest deadline, whatever moved."""

from __future__ import annotations

import random

from reference.timers import Deadlines


class Clock:
    """Real deadlines by key, as the loop's channels hold them."""

    def __init__(self) -> None:
        self.deadlines: dict[int, float] = {}
        self.heap = Deadlines(self.deadlines.get)

    def set(self, key: int, deadline: float) -> None:
        self.deadlines[key] = deadline
        self.heap.update(key, deadline)

    def drop(self, key: int) -> None:
        del self.deadlines[key]
        self.heap.remove(key)


def test_the_earliest_and_the_due_ones_follow_deadlines_that_move_either_way():
    clock = Clock()
    clock.set(3, 30.0)
    clock.set(4, 10.0)
    clock.set(5, 20.0)
    assert clock.heap.earliest() == 10.0
    clock.set(4, 40.0)  # Later: the old entry stays, and is corrected when it surfaces.
    assert clock.heap.earliest() == 20.0
    clock.set(3, 5.0)  # Earlier: a new entry.
    assert clock.heap.earliest() == 5.0
    assert clock.heap.due(25.0) == [3, 5]
    assert clock.heap.earliest() == 40.0
    assert clock.heap.due(25.0) == []


def test_a_removed_key_is_never_due_and_a_reused_one_has_its_new_deadline():
    clock = Clock()
    clock.set(7, 1.0)
    clock.drop(7)
    assert clock.heap.earliest() is None and clock.heap.due(100.0) == []
    clock.set(7, 50.0)  # The same file descriptor, a new connection.
    assert clock.heap.due(10.0) == [] and clock.heap.earliest() == 50.0


def test_it_agrees_with_a_full_scan_through_random_moves():
    rng = random.Random(9)
    clock = Clock()
    now = 0.0
    for _ in range(5000):
        key = rng.randrange(50)
        action = rng.random()
        if action < 0.6:
            clock.set(key, now + rng.uniform(0, 10))
        elif action < 0.7 and key in clock.deadlines:
            clock.drop(key)
        else:
            now += rng.uniform(0, 1)
            expected = sorted(k for k, d in clock.deadlines.items() if d <= now)
            assert sorted(clock.heap.due(now)) == expected
            for k in expected:
                del clock.deadlines[k]  # Due keys are handled: the loop closes or re-arms them.
        scan = min(clock.deadlines.values(), default=None)
        bound = clock.heap.lower_bound()
        assert scan is None or (bound is not None and bound <= scan)
        assert clock.heap.earliest() == scan
        assert len(clock.heap) == len(clock.deadlines)
