"""The naive baseline: what the strategy document calls "retail-grade" market making.

Theory of operation
-------------------
To measure what mmfsm's machinery buys, the same simulator runs a maker without it, on
the same seed and data. ``NaiveMaker``:

* prices off the plain mid ``(best bid + best ask) / 2`` of the YES book it is sent
  (no micro-price, no volatility, no inventory skew);
* quotes symmetrically ``min_half_spread`` (the config's) either side, rounded to the
  nearest tick (not side-aware, not clamped against the opposite side), post-only,
  ``order_size`` shares each side;
* cancels every live order and places new ones on every YES book update (blind
  cancel-replace: every update costs four API actions and the queue position);
* has no risk machines: no exposure limit, no gap check, no stop, no breaker; it stops
  quoting a market only when the shell halts it (the replay's market resolution);
* sells a token only when it holds enough of it, else buys the other token, because the
  venue rejects a sell beyond the balance (the one rule it cannot ignore).

It emits no log lines and its ``Step`` has no transitions, so the simulator measures it
with the same venue-side metrics as mmfsm (fills, P&L, actions, exposure); the Engine's
own metrics (time in state, kept orders) do not apply to it.
"""

from __future__ import annotations

from attrs import define, field

from mmfsm.core.commands import Cancel, Command, Place, TimeInForce
from mmfsm.core.config import Config
from mmfsm.core.engine import Step
from mmfsm.core.events import (
    BookSnapshot,
    Event,
    MarketListed,
    OperatorHalt,
    OrderCancelled,
    OrderExpired,
    OrderRejected,
    TickSizeChanged,
    Trade,
    TradeStatus,
)
from mmfsm.core.ticks import PRICE_SCALE, Side, TickSize

__all__ = ["NaiveMaker"]


@define(slots=True)
class _Market:
    yes: str
    no: str
    tick: TickSize
    min_size: int
    halted: bool = False
    yes_held: int = 0
    no_held: int = 0


@define(slots=True)
class _Live:
    place: Place
    filled: int = 0
    cancelling: bool = False


@define
class NaiveMaker:
    order_size: int
    half_spread: int
    markets: dict[str, _Market] = field(factory=dict)
    live: dict[str, _Live] = field(factory=dict)
    trades: dict[str, Trade] = field(factory=dict)
    seq: int = 0

    @classmethod
    def from_config(cls, config: Config) -> NaiveMaker:
        return cls(
            order_size=config.strategy.order_size, half_spread=config.strategy.min_half_spread
        )

    name = "baseline"

    def live_quotes(self, market: str) -> int:
        """Orders it still means to rest (a cancel sent ends that intent)."""
        return sum(1 for o in self.live.values() if o.place.market == market and not o.cancelling)

    def step(self, event: Event) -> Step:
        out: list[Command] = []
        if isinstance(event, MarketListed):
            self.markets[event.market] = _Market(
                event.yes_token, event.no_token, event.tick, event.min_size
            )
        elif isinstance(event, TickSizeChanged):
            if event.market in self.markets:
                self.markets[event.market].tick = event.tick
        elif isinstance(event, BookSnapshot):
            m = self.markets.get(event.market)
            if m is not None and event.token == m.yes and not m.halted:
                out += self._cancel_all(event.market)
                out += self._quote(event, m)
        elif isinstance(event, (OrderRejected, OrderCancelled, OrderExpired)):
            self.live.pop(event.client_id, None)
        elif isinstance(event, Trade):
            self._on_trade(event)
        elif isinstance(event, OperatorHalt):
            for name, m in self.markets.items():
                if event.market in (None, name):
                    m.halted = True
                    out += self._cancel_all(name)
        return Step(commands=tuple(out), transitions=())

    def _cancel_all(self, market: str) -> list[Command]:
        out: list[Command] = []
        for cid, o in self.live.items():
            if o.place.market == market and not o.cancelling:
                o.cancelling = True
                out.append(Cancel(client_id=cid, market=market, reason="replace"))
        return out

    def _quote(self, book: BookSnapshot, m: _Market) -> list[Command]:
        if not book.bids or not book.asks:
            return []
        t = int(m.tick)
        twice_mid = book.bids[0][0] + book.asks[0][0]
        out: list[Command] = []
        for bid in (True, False):
            target = twice_mid - 2 * self.half_spread if bid else twice_mid + 2 * self.half_spread
            price = (target + t) // (2 * t) * t  # nearest tick, halves up
            if not t <= price <= PRICE_SCALE - t or self.order_size < m.min_size:
                continue
            out.append(self._place(book, m, bid, price, book.ts_ms))
        return out

    def _place(self, book: BookSnapshot, m: _Market, bid: bool, yes_price: int, now: int) -> Place:
        size = self.order_size
        if bid:
            token, side, price = (
                (m.no, Side.SELL, PRICE_SCALE - yes_price)
                if (m.no_held >= size)
                else (m.yes, Side.BUY, yes_price)
            )
        else:
            token, side, price = (
                (m.yes, Side.SELL, yes_price)
                if (m.yes_held >= size)
                else (m.no, Side.BUY, PRICE_SCALE - yes_price)
            )
        self.seq += 1
        place = Place(
            client_id=f"nv-{now}-{self.seq}",
            market=book.market,
            token=token,
            side=side,
            price=price,
            size=size,
            tif=TimeInForce.GTC,
            post_only=True,
        )
        self.live[place.client_id] = _Live(place)
        return place

    def _on_trade(self, trade: Trade) -> None:
        m = self.markets.get(trade.market)
        known = self.trades.get(trade.trade_id)
        if m is None:
            return
        sign = 0
        if known is None and trade.status is not TradeStatus.FAILED:
            sign = 1
        elif known is not None and trade.status is TradeStatus.FAILED:
            sign = -1
        self.trades[trade.trade_id] = trade
        if sign == 0:
            return
        change = sign * (trade.size if trade.side is Side.BUY else -trade.size)
        if trade.token == m.yes:
            m.yes_held += change
        else:
            m.no_held += change
        live = self.live.get(trade.client_id)
        if live is not None:
            live.filled += sign * trade.size
            if live.filled >= live.place.size:
                del self.live[trade.client_id]
