"""Simulated time: one priority queue of everything that will happen, keyed by (time, seq).

Theory of operation
-------------------
The simulator has no clock and no threads. Everything that is going to happen (a market
step, a command reaching the venue, a report reaching the strategy, a trade settling,
an operator's keystroke) is an item in one heap, ordered by its simulated time in
milliseconds and then by ``seq``, the order in which it was scheduled. ``seq`` makes the
order total: two items due at the same millisecond run in the order they were
scheduled, never in an order that depends on hashing or on comparing payloads. That,
with seeded random generators, is what makes a run the same byte for byte.

Items are never cancelled; an item that turns out to be moot (a report for an order
that no longer matters) is simply handled as the venue or strategy would handle it.
"""

from __future__ import annotations

import enum
import heapq
from typing import Any

from attrs import frozen

__all__ = ["Item", "Kind", "Scheduler"]


class Kind(enum.Enum):
    DELIVER = "deliver"  # an event reaches the strategy (payload: Delivery)
    VENUE = "venue"  # a command reaches the venue (payload: the command)
    CALL = "call"  # something inside the simulated world happens (payload: Callable[[int], None])


@frozen
class Item:
    time_ms: int
    kind: Kind
    payload: Any


class Scheduler:
    """A heap of ``(time_ms, seq, Item)``; ``seq`` breaks ties in scheduling order."""

    __slots__ = ("_heap", "_seq", "now_ms")

    def __init__(self, start_ms: int) -> None:
        self._heap: list[tuple[int, int, Item]] = []
        self._seq = 0
        self.now_ms = start_ms

    def push(self, time_ms: int, kind: Kind, payload: Any) -> None:
        if time_ms < self.now_ms:
            raise ValueError(f"cannot schedule at {time_ms}, before now {self.now_ms}")
        self._seq += 1
        heapq.heappush(self._heap, (time_ms, self._seq, Item(time_ms, kind, payload)))

    def pop(self) -> Item:
        time_ms, _, item = heapq.heappop(self._heap)
        self.now_ms = time_ms
        return item

    def peek_time(self) -> int | None:
        return self._heap[0][0] if self._heap else None

    def __len__(self) -> int:
        return len(self._heap)
