"""Our own orders, from the moment we ask for them until every fill of theirs is known.

Theory of operation
-------------------
Exposure that "never doubles inside a fill-sync window" needs the Engine to count every
share that *could* become inventory, not only what has been reported filled. An order
therefore counts for its whole unfilled size from the step the ``Place`` is emitted
(before the venue has even seen it), through ``working``, through ``pending_cancel``
(a cancel we sent is not a cancel done: the order can still fill), until the venue says
it is gone. Even then it keeps counting the part the venue says was matched but whose
trades we have not seen yet (``size_matched`` on the cancel report minus reported
fills): fills reported seconds after the cancel are already inside the limit.

Every size is in binary net-delta terms: buying YES or selling NO adds long delta,
buying NO or selling YES adds short delta (buying NO at p is selling YES at 1 - p).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator

from attrs import define
from mypy_extensions import mypyc_attr

from mmfsm.core.ticks import BUY, Side

__all__ = ["OrderStatus", "OurOrder", "OurOrders", "Purpose", "delta_sign"]


class OrderStatus(enum.Enum):
    PENDING_NEW = "pending_new"  # Place emitted, no ack yet
    WORKING = "working"  # acknowledged and resting
    PENDING_CANCEL = "pending_cancel"  # Cancel emitted, no confirmation yet
    DONE = "done"  # venue says it no longer rests; may still owe fill reports

    # Members are singletons compared by identity; the identity hash is C-level, where
    # Enum's own hashes the name in Python, and the Engine looks these up every pass.
    __hash__ = object.__hash__


class Purpose(enum.Enum):
    BID = "bid"  # adds long YES delta (BUY YES, or SELL NO)
    ASK = "ask"  # adds short YES delta (SELL YES, or BUY NO)
    EXIT = "exit"  # force-exit FAK

    __hash__ = object.__hash__  # as OrderStatus


# Bound to module names for the hot path, as ``ticks.BUY`` (why there).
DONE = OrderStatus.DONE
PENDING_CANCEL = OrderStatus.PENDING_CANCEL
PENDING_NEW = OrderStatus.PENDING_NEW
WORKING = OrderStatus.WORKING
ASK = Purpose.ASK
BID = Purpose.BID
EXIT = Purpose.EXIT


def delta_sign(is_yes: bool, side: Side) -> int:
    """+1 if a fill of this order raises the binary net delta, -1 if it lowers it."""
    buying = side is BUY
    return 1 if buying == is_yes else -1


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
@define(slots=True)
class OurOrder:
    client_id: str
    market: str
    token: str
    is_yes: bool
    side: Side
    price: int
    size: int
    purpose: Purpose
    placed_ms: int
    status: OrderStatus = PENDING_NEW
    filled: int = 0  # reported fills (any status but FAILED)
    venue_matched: int | None = None  # what the venue said was matched when it ended
    kept_at: tuple[int, int] | None = None  # top of book when last logged as kept

    @property
    def sign(self) -> int:
        return delta_sign(self.is_yes, self.side)

    @property
    def live(self) -> bool:
        """Resting or about to: a candidate to keep for queue priority."""
        return self.status in (PENDING_NEW, WORKING)

    @property
    def potential(self) -> int:
        """Shares this order may still add to inventory beyond what was reported."""
        # Comparisons rather than ``max(0, ...)``: read for every order on every pass.
        if self.status is DONE:
            matched = self.venue_matched if self.venue_matched is not None else self.filled
            left = matched - self.filled
        else:
            left = self.size - self.filled
        return left if left > 0 else 0

    @property
    def remaining(self) -> int:
        left = self.size - self.filled
        return left if left > 0 else 0


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
class OurOrders:
    """Every order of ours the Engine still has to account for, by client id."""

    def __init__(self) -> None:
        self._by_id: dict[str, OurOrder] = {}
        self._by_market: dict[str, dict[str, OurOrder]] = {}
        self._seq = 0

    def next_id(self, market: str, ts_ms: int) -> str:
        """Deterministic client order ids: the same inputs give the same ids."""
        self._seq += 1
        return f"mm-{ts_ms}-{self._seq}"

    def add(self, order: OurOrder) -> None:
        if order.client_id in self._by_id:
            raise ValueError(f"duplicate client order id {order.client_id}")
        self._by_id[order.client_id] = order
        self._by_market.setdefault(order.market, {})[order.client_id] = order

    def get(self, client_id: str) -> OurOrder | None:
        return self._by_id.get(client_id)

    def in_market(self, market: str) -> Iterator[OurOrder]:
        return iter(list(self._by_market.get(market, {}).values()))

    def iter_market(self, market: str) -> Iterator[OurOrder]:
        """Without a copy: for readers that add or drop no order while iterating."""
        return iter(self._by_market.get(market, {}).values())

    def __iter__(self) -> Iterator[OurOrder]:
        return iter(list(self._by_id.values()))

    def __len__(self) -> int:
        return len(self._by_id)

    def forget_if_settled(self, order: OurOrder) -> None:
        """Drop a finished order once nothing more can come of it."""
        if order.status is DONE and order.potential == 0:
            del self._by_id[order.client_id]
            del self._by_market[order.market][order.client_id]

    def live_quotes(self, market: str) -> int:
        """How many bid/ask quotes of this market are resting or about to."""
        # ``live`` written out, and a plain loop rather than ``sum`` over a generator: the
        # step that skips a book update below the top of the book calls this.
        count = 0
        for o in self._by_market.get(market, {}).values():
            status = o.status
            if (status is PENDING_NEW or status is WORKING) and o.purpose is not EXIT:
                count += 1
        return count

    def pending_delta(self, market: str) -> tuple[int, int]:
        """(long, short) net delta that this market's orders could still add."""
        long = short = 0
        for order in self._by_market.get(market, {}).values():
            potential = order.potential
            if potential:
                if order.sign > 0:
                    long += potential
                else:
                    short += potential
        return long, short

    @property
    def seq(self) -> int:
        return self._seq

    @seq.setter
    def seq(self, value: int) -> None:
        self._seq = value
