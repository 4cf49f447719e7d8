"""The adversarial exchange's ground truth: every order we sent and every fill it made.

The venue may report anything late, twice or out of order, but what it *does* stays
consistent, because an invariant about our exposure is only meaningful against an
exchange that does not invent fills: an order matches at most its size, a cancel or
expiry report carries the size really matched, a post-only or tick reject only hits an
order that never traded, a FAILED trade reverses its fill (and a fully matched order
stays ended), a CONFIRMED trade never fails afterwards.

``truth(market)`` is the real worst case: the net delta of every fill that has not
failed, reported or not, plus everything still resting that could fill. It does not
depend on anything the Engine computes, so a broken exposure count cannot hide from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mmfsm.core.commands import Cancel, CancelAll, Command, Place
from mmfsm.core.orders import delta_sign
from mmfsm.core.ticks import PRICE_SCALE

__all__ = ["Venue", "VenueOrder", "VenueTrade"]


@dataclass
class VenueOrder:
    place: Place
    sign: int
    acked: bool = False
    dead: bool = False
    rejected: bool = False
    cancel_requested: bool = False
    matched: int = 0

    @property
    def cid(self) -> str:
        return self.place.client_id

    @property
    def remaining(self) -> int:
        return self.place.size - self.matched


@dataclass
class VenueTrade:
    trade_id: str
    order: VenueOrder
    size: int
    failed: bool = False
    confirmed: bool = False


@dataclass
class Venue:
    yes_tokens: dict[str, str]
    orders: dict[str, VenueOrder] = field(default_factory=dict)
    trades: list[VenueTrade] = field(default_factory=list)

    def absorb(self, commands: tuple[Command, ...]) -> None:
        for cmd in commands:
            if isinstance(cmd, Place):
                is_yes = cmd.token == self.yes_tokens[cmd.market]
                order = VenueOrder(place=cmd, sign=delta_sign(is_yes, cmd.side))
                # A price the exchange cannot take never rests (it is only rejected).
                order.dead = not 0 < cmd.price < PRICE_SCALE
                self.orders[cmd.client_id] = order
            elif isinstance(cmd, Cancel):
                order = self.orders.get(cmd.client_id)
                if order is not None:
                    order.cancel_requested = True
            elif isinstance(cmd, CancelAll):
                for order in self.orders.values():
                    order.cancel_requested = True

    def newest(self) -> list[VenueOrder]:
        return list(reversed(self.orders.values()))

    def match(self, order: VenueOrder, size: int) -> VenueTrade:
        assert 0 < size <= order.remaining
        assert not order.dead
        order.matched += size
        if order.matched == order.place.size:
            order.dead = True  # fully filled: nothing rests any more
        trade = VenueTrade(trade_id=f"t{len(self.trades) + 1}", order=order, size=size)
        self.trades.append(trade)
        return trade

    def fail(self, trade: VenueTrade) -> None:
        if trade.failed or trade.confirmed:
            return  # a report only: nothing changes at the venue
        trade.failed = True
        trade.order.matched -= trade.size

    def truth(self, market: str) -> tuple[int, int]:
        delta = sum(
            t.order.sign * t.size
            for t in self.trades
            if not t.failed and t.order.place.market == market
        )
        long = delta
        short = -delta
        for order in self.orders.values():
            if order.dead or order.place.market != market:
                continue
            if order.sign > 0:
                long += order.remaining
            else:
                short += order.remaining
        return long, short
