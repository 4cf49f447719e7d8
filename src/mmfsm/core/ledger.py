"""Inventory and P&L per market, from trade reports that arrive late, twice or reversed.

Theory of operation
-------------------
A market's YES and NO tokens are one risk: holding a YES and a NO share is worth $1
whatever happens, and buying NO at p is selling YES at 1 - p. So every fill is turned
into a change of one number, the binary net delta (YES-equivalent shares, signed), at a
YES-equivalent price, and P&L uses average cost on that one position (INV-BINARY). The
raw YES and NO holdings are kept too, because the exchange only lets us sell tokens we
hold.

Trades are keyed by ``trade_id`` and applied once, when first seen with any status but
FAILED: MATCHED counts at once (the fill happened; waiting for CONFIRMED would hide it),
MINED and CONFIRMED only advance its status, duplicates change nothing. FAILED reverses
a counted trade, and a trade first seen as FAILED is remembered so a late MATCHED for it
is ignored. Reversal rebuilds the market's position from its remaining fills in order,
which is exact and rare. CONFIRMED and FAILED are terminal.

Money is exact: money units are price units x size units. Average cost is held as the
total cost of the open delta; closing part of it removes a floor-divided share of that
cost, so the split between realized and open cost can differ from a rational split by
less than one money unit (1e-10 USD), while the totals stay exact.
"""

from __future__ import annotations

from attrs import define, field

from mmfsm.core.events import (
    CONFIRMED,
    FAILED,
    Trade,
    TradeStatus,
)
from mmfsm.core.orders import delta_sign
from mmfsm.core.ticks import (
    BUY,
    PRICE_SCALE,
)

__all__ = ["Fill", "MarketLedger", "TradeOutcome"]


@define(slots=True, frozen=True)
class Fill:
    trade_id: str
    client_id: str
    delta: int  # signed YES-equivalent size units
    yes_price: int  # YES-equivalent price units
    is_yes: bool
    token_change: int  # change of the traded token's holding (+ bought, - sold)


@define(slots=True)
class TradeOutcome:
    """What one trade report did: ``applied`` +1 counted, -1 reversed, 0 nothing."""

    applied: int
    fill: Fill | None
    note: str = ""


@define(slots=True)
class MarketLedger:
    market: str
    yes_token: str
    no_token: str
    delta: int = 0  # binary net delta, YES-equivalent size units
    cost: int = 0  # cost of the open delta: sum(yes_price * size), signed like delta
    realized: int = 0  # money units, all time
    yes_held: int = 0
    no_held: int = 0
    fills: dict[str, Fill] = field(factory=dict)
    status: dict[str, TradeStatus] = field(factory=dict)
    fill_count: int = 0

    def apply(self, trade: Trade) -> TradeOutcome:
        known = self.status.get(trade.trade_id)
        if known in (CONFIRMED, FAILED):
            return TradeOutcome(0, None, f"{trade.status.value} after {known.value} ignored")
        if trade.status is FAILED:
            self.status[trade.trade_id] = FAILED
            fill = self.fills.pop(trade.trade_id, None)
            if fill is None:
                return TradeOutcome(0, None, "failed before it was seen")
            self._rebuild()
            return TradeOutcome(-1, fill, "reversed")
        self.status[trade.trade_id] = trade.status
        if known is not None:
            return TradeOutcome(0, None, "duplicate")
        is_yes = trade.token == self.yes_token
        if not is_yes and trade.token != self.no_token:
            raise ValueError(
                f"trade {trade.trade_id}: token {trade.token} is not in market {self.market}"
            )
        sign = delta_sign(is_yes, trade.side)
        fill = Fill(
            trade_id=trade.trade_id,
            client_id=trade.client_id,
            delta=sign * trade.size,
            yes_price=trade.price if is_yes else PRICE_SCALE - trade.price,
            is_yes=is_yes,
            token_change=trade.size if trade.side is BUY else -trade.size,
        )
        self.fills[trade.trade_id] = fill
        self._apply_fill(fill)
        self.fill_count += 1
        return TradeOutcome(1, fill)

    def _apply_fill(self, fill: Fill) -> None:
        if fill.is_yes:
            self.yes_held += fill.token_change
        else:
            self.no_held += fill.token_change
        d = fill.delta
        if self.delta == 0 or (self.delta > 0) == (d > 0):
            self.delta += d
            self.cost += fill.yes_price * d
            return
        closing = min(abs(d), abs(self.delta))
        cost_removed = self.cost * closing // abs(self.delta) if self.delta > 0 else -(
            (-self.cost) * closing // abs(self.delta)
        )
        direction = 1 if self.delta > 0 else -1
        self.realized += direction * (fill.yes_price * closing) - cost_removed
        self.cost -= cost_removed
        self.delta += d
        if self.delta == 0:
            self.cost = 0
        elif (self.delta > 0) == (d > 0):
            # The fill flipped the position: the rest opens at the fill's price.
            self.cost = fill.yes_price * self.delta

    def _rebuild(self) -> None:
        fills = list(self.fills.values())
        self.delta = self.cost = self.realized = self.yes_held = self.no_held = 0
        for fill in fills:
            self._apply_fill(fill)

    @property
    def avg_entry(self) -> int | None:
        """Average YES-equivalent entry price of the open delta, floored; None if flat."""
        if self.delta == 0:
            return None
        return self.cost // self.delta

    def unrealized(self, mark: int) -> int:
        """Open P&L at a YES mark price (price units), in money units."""
        return mark * self.delta - self.cost
