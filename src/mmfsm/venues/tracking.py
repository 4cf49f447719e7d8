"""Our orders between the Engine's client ids and the venue's order ids, and fill dedup.

Theory of operation
-------------------
The Engine names an order by its client id from the step that places it; the venue
names it by an id we learn from the ``POST /order`` answer, or before it (the id is the
signed order's EIP-712 digest, registered as *expected* the moment the order is
signed). Fills and order events arrive by venue id, from two paths (user WebSocket and
the REST poll), in any order, possibly twice, possibly before the placement answer. So:

* ``Tracked`` holds one order's mapping and whether the Engine has been told it is
  final (``done``): each order gets exactly one final event (rejected, cancelled or
  expired), whichever path learns it first;
* every id the bot sent is ours for good: ``owner`` answers for acknowledged ids and
  for *expected* ones (signed, answer pending, lost, or concluded not placed), so a fill
  on an order we sent reaches the ledger whatever we believe about the order. A fill
  whose id we never sent is parked (``park``) and released if a placement answer names
  it; parked fills older than a minute are dropped, because the REST poll will bring
  them again once the id is known;
* ``working`` is the other question: is this venue order one the bot counts as resting?
  Only an order not ``done`` is. The resync cancels any open venue order for which it
  is not, so an order the bot took for gone, rejected or ended cannot rest uncounted;
* ``should_forward`` passes a (fill, status) pair once: a status is forwarded only if
  it is new for that fill and not a step back (a poll snapshot older than a WebSocket
  message must not turn CONFIRMED back into MINED), and nothing after a terminal one;
* orders from an earlier run, found at start-up, keep a ``restored`` client id so late
  status updates of their fills still reach the ledger.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

from attrs import define, field

from mmfsm.core.commands import TimeInForce
from mmfsm.core.events import TradeStatus
from mmfsm.core.ticks import Side
from mmfsm.venues.base import MarketInfo
from mmfsm.venues.wire import Fill

__all__ = ["Tracked", "Tracker", "should_forward"]

_RANK = {
    TradeStatus.MATCHED: 0,
    TradeStatus.MINED: 1,
    TradeStatus.RETRYING: 1,
    TradeStatus.CONFIRMED: 2,
    TradeStatus.FAILED: 2,
}
_PARK_S = 60.0


def should_forward(last: TradeStatus | None, new: TradeStatus) -> bool:
    if last is None:
        return True
    if _RANK[last] == 2 or new is last:
        return False
    return _RANK[new] >= _RANK[last]


@define(slots=True, eq=False)
class Tracked:
    client_id: str
    market: MarketInfo
    token: str
    side: Side
    price: int
    size: int
    tif: TimeInForce
    engine_size: int = 0  # the Engine's size; ``size`` is that cut to the 0.01-share grid
    venue_id: str | None = None
    expected_id: str | None = None
    placed: asyncio.Event = field(factory=asyncio.Event)
    done: bool = False
    cancel_requested: bool = False
    unresolved: bool = False  # a placement whose outcome the venue has not told us yet
    absent: int = 0  # resyncs in a row whose open orders and lookup showed no such order
    filled: int = 0
    resting: int = 0  # our size the venue's books show for this order (see netbook)


class Tracker:
    def __init__(self) -> None:
        self.by_client: dict[str, Tracked] = {}
        self.by_venue: dict[str, Tracked] = {}
        self.expected: dict[str, Tracked] = {}
        self.restored: dict[str, tuple[str, MarketInfo]] = {}  # venue id -> (client id, market)
        self.seen: dict[str, TradeStatus] = {}
        self.unsettled: dict[str, int] = {}  # fill key -> match time (s), until terminal
        self.parked: dict[str, list[tuple[float, Fill, str]]] = {}

    def add(self, tracked: Tracked) -> None:
        self.by_client[tracked.client_id] = tracked

    def expect(self, tracked: Tracked, order_id: str) -> None:
        tracked.expected_id = order_id
        self.expected[order_id] = tracked

    def acked(self, tracked: Tracked, venue_id: str) -> None:
        tracked.venue_id = venue_id
        self.by_venue[venue_id] = tracked
        if tracked.expected_id is not None:
            self.expected.pop(tracked.expected_id, None)

    def owner(self, order_id: str) -> tuple[str, MarketInfo, Tracked | None] | None:
        """(client id, market, tracked) of a venue order id, if it is ours.

        Expected ids count: the order may rest (and fill) before its answer arrives, or
        when the answer was lost, whatever the adapter concluded about it since.
        """
        tracked = self.by_venue.get(order_id) or self.expected.get(order_id)
        if tracked is not None:
            return tracked.client_id, tracked.market, tracked
        restored = self.restored.get(order_id)
        if restored is not None:
            return restored[0], restored[1], None
        return None

    def working(self, order_id: str) -> bool:
        """True if the venue order is one the bot still counts as resting (not done).

        Not the same as ours (``owner``): an order we took for rejected or ended, or one
        of an earlier run, is ours but must not rest, so the resync sweep cancels it.
        """
        tracked = self.by_venue.get(order_id) or self.expected.get(order_id)
        return tracked is not None and not tracked.done

    def live(self) -> Iterator[Tracked]:
        return (t for t in list(self.by_client.values()) if not t.done)

    def park(self, fill: Fill, source: str) -> None:
        now = time.monotonic()
        self.parked.setdefault(fill.order_id, []).append((now, fill, source))
        for oid in [o for o, items in self.parked.items() if now - items[0][0] > _PARK_S]:
            del self.parked[oid]

    def unpark(self, order_id: str) -> list[tuple[Fill, str]]:
        return [(f, s) for _, f, s in self.parked.pop(order_id, [])]

    def note(self, key: str, fill: Fill) -> bool:
        """Record a (fill, status); True if it is news to forward."""
        if not should_forward(self.seen.get(key), fill.status):
            return False
        self.seen[key] = fill.status
        if _RANK[fill.status] == 2:
            self.unsettled.pop(key, None)
        else:
            self.unsettled.setdefault(key, fill.match_time)
        return True

    def oldest_unsettled(self) -> int | None:
        return min(self.unsettled.values(), default=None)
