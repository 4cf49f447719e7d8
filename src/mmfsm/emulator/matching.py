"""Price-time-priority matching of one binary market, both tokens in one book.

Theory of operation
-------------------
Polymarket matches the YES and NO books of a market against each other: buying NO at p
is selling YES at 1 - p (two buyers are matched by minting a pair, two sellers by
merging one). So one book per market holds every order in *YES terms*: a BUY of YES or
a SELL of NO is a YES bid; a SELL of YES or a BUY of NO is a YES ask. The NO book that
clients see is the mirror of this one (``levels``). Each order keeps its own token, side
and price; only the book works in YES terms.

Priority is price, then arrival (``seq``): a level is a FIFO queue. A match happens at
the resting (maker) order's price; the taker gets any price improvement. Sizes are
integer micro-shares and prices integer 0.0001 units (``mmfsm.core.ticks``), so there is
no rounding anywhere; a taker's limit is a ``Fraction`` because a market order's
maker/taker amounts need not divide into a grid price.

This module only moves size between orders. Accounts, balances, trades and messages
are ``exchange``'s job; it asks here what would match (``available``, ``crosses``) and
then makes it happen (``match``), so a FOK or post-only check and the match it guards
read the same book.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from fractions import Fraction

from attrs import define, frozen

from mmfsm.core.ticks import PRICE_SCALE, Side

__all__ = ["BookOrder", "Fill", "MarketBook"]


@define(slots=True, eq=False)
class BookOrder:
    """An order as the matcher sees it; ``price`` is in its own token's terms."""

    order_id: str
    account: str
    market: str
    token: str
    is_yes: bool
    side: Side
    price: int
    size: int
    seq: int
    limit: Fraction  # own-token limit in price units; equals price for resting orders
    matched: int = 0

    @property
    def remaining(self) -> int:
        return self.size - self.matched

    @property
    def yes_bid(self) -> bool:
        """True if this order is a bid in YES terms (BUY YES or SELL NO)."""
        return (self.side is Side.BUY) == self.is_yes

    @property
    def yes_price(self) -> int:
        return self.price if self.is_yes else PRICE_SCALE - self.price

    @property
    def yes_limit(self) -> Fraction:
        return self.limit if self.is_yes else PRICE_SCALE - self.limit

    def own_price(self, yes_price: int) -> int:
        """A YES-terms price in this order's token terms."""
        return yes_price if self.is_yes else PRICE_SCALE - yes_price


@frozen(kw_only=True)
class Fill:
    """``size`` micro-shares of ``taker`` matched against ``maker`` at ``yes_price``."""

    maker: BookOrder
    taker: BookOrder
    yes_price: int
    size: int


class MarketBook:
    """The resting orders of one market, by YES price level, FIFO within a level."""

    __slots__ = ("asks", "bids", "market")

    def __init__(self, market: str) -> None:
        self.market = market
        self.bids: dict[int, deque[BookOrder]] = {}
        self.asks: dict[int, deque[BookOrder]] = {}

    # ------------------------------------------------------------------ reading

    def best_bid(self) -> int | None:
        return max(self.bids) if self.bids else None

    def best_ask(self) -> int | None:
        return min(self.asks) if self.asks else None

    def _acceptable(self, taker: BookOrder) -> Iterator[BookOrder]:
        """Resting orders ``taker`` may trade with, best price first, then oldest."""
        if taker.yes_bid:
            limit = taker.yes_limit
            for price in sorted(self.asks):
                if price > limit:
                    return
                yield from list(self.asks[price])
        else:
            limit = taker.yes_limit
            for price in sorted(self.bids, reverse=True):
                if price < limit:
                    return
                yield from list(self.bids[price])

    def crosses(self, order: BookOrder) -> bool:
        """Would ``order`` trade on arrival? (A post-only order that does is refused.)"""
        return next(self._acceptable(order), None) is not None

    def available(self, taker: BookOrder) -> int:
        """Micro-shares ``taker`` could take right now within its limit."""
        return sum(o.remaining for o in self._acceptable(taker))

    def levels(self, token_is_yes: bool) -> tuple[dict[int, int], dict[int, int]]:
        """Aggregated (bids, asks) as ``{price: size}`` in the given token's terms."""
        bids = {p: sum(o.remaining for o in q) for p, q in self.bids.items()}
        asks = {p: sum(o.remaining for o in q) for p, q in self.asks.items()}
        if token_is_yes:
            return bids, asks
        return (
            {PRICE_SCALE - p: s for p, s in asks.items()},
            {PRICE_SCALE - p: s for p, s in bids.items()},
        )

    def orders(self) -> Iterator[BookOrder]:
        for side in (self.bids, self.asks):
            for queue in side.values():
                yield from queue

    # ------------------------------------------------------------------ changing

    def match(self, taker: BookOrder) -> list[Fill]:
        """Trade ``taker`` against the book as far as its limit and size allow."""
        fills: list[Fill] = []
        for maker in self._acceptable(taker):
            if taker.remaining <= 0:
                break
            size = min(taker.remaining, maker.remaining)
            maker.matched += size
            taker.matched += size
            fills.append(Fill(maker=maker, taker=taker, yes_price=maker.yes_price, size=size))
            if maker.remaining <= 0:
                self.remove(maker)
        return fills

    def add(self, order: BookOrder) -> None:
        side = self.bids if order.yes_bid else self.asks
        side.setdefault(order.yes_price, deque()).append(order)

    def remove(self, order: BookOrder) -> bool:
        side = self.bids if order.yes_bid else self.asks
        queue = side.get(order.yes_price)
        if queue is None:
            return False
        try:
            queue.remove(order)
        except ValueError:
            return False
        if not queue:
            del side[order.yes_price]
        return True
