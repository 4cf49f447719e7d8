"""The other participants' book of one market, in YES terms, as exact integer levels.

Theory of operation
-------------------
Polymarket matches the YES and NO books of a market against each other: buying NO at
``p`` is selling YES at ``1 - p``, and the two books it publishes are mirror images.
The simulator therefore keeps one book per market, in YES terms, for everybody but us
(the "crowd"); our orders live beside it in the venue with their queue positions, and
the published books are the crowd plus our resting orders, mirrored for the NO token.

Levels are ``dict[price, size]`` in core units (0.0001, micro-shares). Nothing here
validates: generated books are built valid and recorded ones are checked by the
replay, which keeps crossed records away from the matching (the Engine still gets them).
"""

from __future__ import annotations

from collections.abc import Iterable

from mmfsm.core.ticks import PRICE_SCALE

__all__ = ["CrowdBook", "Levels", "mirror", "sorted_levels"]

Levels = tuple[tuple[int, int], ...]


def sorted_levels(levels: dict[int, int], *, bids: bool) -> Levels:
    """Best first: bids high to low, asks low to high; empty levels dropped."""
    return tuple((p, levels[p]) for p in sorted(levels, reverse=bids) if levels[p] > 0)


def mirror(levels: Iterable[tuple[int, int]]) -> dict[int, int]:
    """YES levels as the NO token's opposite side (price 1 - p), or back."""
    return {PRICE_SCALE - p: s for p, s in levels}


class CrowdBook:
    """Everyone else's resting size, YES terms."""

    __slots__ = ("asks", "bids")

    def __init__(self, bids: dict[int, int] | None = None, asks: dict[int, int] | None = None):
        self.bids: dict[int, int] = dict(bids or {})
        self.asks: dict[int, int] = dict(asks or {})

    @property
    def best_bid(self) -> int | None:
        return max(self.bids, default=None)

    @property
    def best_ask(self) -> int | None:
        return min(self.asks, default=None)

    def spread(self) -> int | None:
        bid, ask = self.best_bid, self.best_ask
        return None if bid is None or ask is None else ask - bid

    def mid(self) -> int | None:
        bid, ask = self.best_bid, self.best_ask
        return None if bid is None or ask is None else (bid + ask) // 2

    def side(self, is_bid: bool) -> dict[int, int]:
        return self.bids if is_bid else self.asks

    def size_at(self, is_bid: bool, price: int) -> int:
        return self.side(is_bid).get(price, 0)

    def crossed(self) -> bool:
        bid, ask = self.best_bid, self.best_ask
        return bid is not None and ask is not None and bid >= ask
