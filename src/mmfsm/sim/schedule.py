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

A recording's rows, known before the run starts, are preloaded as one sorted stream
(``preload``) and merged with the heap as they come due, in the same order.

Items are never cancelled; an item that turns out to be moot (a report for an order
that no longer matters) is simply handled as the venue or strategy would handle it.
"""

from __future__ import annotations

import enum
import heapq
import itertools
import operator
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


_Entry = tuple[int, int, Kind, Any]  # (time_ms, seq, kind, payload)
_TIME = operator.itemgetter(0)


class Scheduler:
    """A heap of ``(time_ms, seq, kind, payload)``; ``seq`` breaks ties in scheduling order.

    ``preload`` takes a whole stream known in advance (a recording's rows): its items get
    their ``seq`` numbers at once, as if pushed one by one, but wait in a sorted list
    beside the heap instead of in it, and ``pop`` takes whichever of the two heads is
    first by ``(time_ms, seq)``. The order is exactly the one pushing them would give,
    without 20,000 heap entries to sift through on every push and pop.
    """

    __slots__ = ("_heap", "_next", "_seq", "_stream", "now_ms")

    def __init__(self, start_ms: int) -> None:
        self._heap: list[_Entry] = []
        self._stream: list[_Entry] = []
        self._next = 0  # index of the stream's head
        self._seq = 0
        self.now_ms = start_ms

    def push(self, time_ms: int, kind: Kind, payload: Any) -> None:
        if time_ms < self.now_ms:
            raise ValueError(f"cannot schedule at {time_ms}, before now {self.now_ms}")
        self._seq += 1
        heapq.heappush(self._heap, (time_ms, self._seq, kind, payload))

    def preload(self, items: list[tuple[int, Kind, Any]]) -> None:
        """Schedule ``items`` as successive ``push`` calls would (see the class docstring)."""
        for time_ms, _, _ in items:
            if time_ms < self.now_ms:
                raise ValueError(f"cannot schedule at {time_ms}, before now {self.now_ms}")
        seq = self._seq
        entries = [(t, seq + i, k, p) for i, (t, k, p) in enumerate(items, start=1)]
        self._seq += len(items)
        rest = self._stream[self._next :]
        if rest or any(a[0] > b[0] for a, b in itertools.pairwise(entries)):
            # By time alone, stably: ``rest`` is in (time, seq) order and every new entry
            # comes after it in seq order, so among equal times the input is in seq order
            # already, and the result is the (time, seq) order, without a key tuple each.
            entries = sorted(rest + entries, key=_TIME)
        self._stream = entries
        self._next = 0

    def pop_entry(self) -> _Entry:
        """The next ``(time_ms, seq, kind, payload)``; the loop's allocation-free ``pop``."""
        heap, stream, i = self._heap, self._stream, self._next
        if i < len(stream) and (not heap or stream[i] < heap[0]):
            entry = stream[i]
            self._next = i + 1
        else:
            entry = heapq.heappop(heap)
        self.now_ms = entry[0]
        return entry

    def pop_due(self, horizon: int) -> _Entry | None:
        """The next entry if there is one due at or before ``horizon`` (None otherwise, and
        nothing is taken): ``peek_time`` and ``pop_entry`` in one call, for the loop."""
        heap, stream, i = self._heap, self._stream, self._next
        if i < len(stream):
            entry = stream[i]
            if not heap or entry < heap[0]:
                if entry[0] > horizon:
                    return None
                self._next = i + 1
                self.now_ms = entry[0]
                return entry
        elif not heap:
            return None
        if heap[0][0] > horizon:
            return None
        entry = heapq.heappop(heap)
        self.now_ms = entry[0]
        return entry

    def pop(self) -> Item:
        time_ms, _, kind, payload = self.pop_entry()
        return Item(time_ms, kind, payload)

    def peek_time(self) -> int | None:
        heap, stream, i = self._heap, self._stream, self._next
        if i < len(stream):
            t = stream[i][0]
            return min(t, heap[0][0]) if heap else t
        return heap[0][0] if heap else None

    def __len__(self) -> int:
        return len(self._heap) + len(self._stream) - self._next
