"""The design's invariants, checked after every step of the simulation loop.

Theory of operation
-------------------
The CI invariant suite proves the invariants on the Engine in isolation; the simulator
checks them again where they matter, against a venue with latency, queues and a market
that moves. After every step (one event in, its commands out and sent) ``Invariants``
checks, and counts each breach with a short description of the first few:

* INV-HALT (Engine only): no ``Place`` in a step that leaves the bot or the order's
  market halted; a step in which the bot halts emits ``CancelAll``; a step in which a
  market halts leaves none of its orders live (new or working).
* INV-GRID: every ``Place`` is on the grid of the tick the strategy was last told, inside
  [tick, 1 - tick], and a post-only order does not cross the YES book the strategy holds
  (the Engine's own book; for the baseline, the last YES snapshot it was sent). Prices
  are compared in YES terms: buying NO at p is selling YES at 1 - p.
* INV-EXPOSURE: the Engine's worst-case exposure of each market in scope stays within
  its limit; and so does the *true* one, from the venue: net delta including fills not
  yet reported, plus every resting order and every order still on the wire that would
  add to it. The true figure is the one that must never double, however late fills are
  reported.
* INV-GAP: no quote is live in a market whose spread is over the limit. Judged twice:
  on the Engine's own book, and on the market truth carried by the YES snapshot just
  delivered (the other participants' spread, our own resting orders excluded: a bot
  whose own quotes are the only thing left inside a gapped book must still see the gap).

The baseline is checked by the market-truth rules too, for comparison; its breaches are
reported but are not a failure of anything (it has no limits by design).
"""

from __future__ import annotations

from attrs import define, field

from mmfsm.core.commands import CancelAll, Place
from mmfsm.core.config import Config
from mmfsm.core.engine import Engine, Step
from mmfsm.core.events import BookSnapshot, Event, MarketListed, TickSizeChanged
from mmfsm.core.orders import OrderStatus
from mmfsm.core.ticks import PRICE_SCALE, Side, TickSize, format_price, format_size
from mmfsm.sim.latency import Delivery
from mmfsm.sim.strategy import Strategy
from mmfsm.sim.venue import Venue

__all__ = ["INVARIANTS", "Invariants"]

INVARIANTS = ("INV-HALT", "INV-GRID", "INV-EXPOSURE", "INV-GAP")
_EXAMPLES = 20


@define
class Invariants:
    config: Config
    venue: Venue
    counts: dict[str, int] = field(factory=lambda: dict.fromkeys(INVARIANTS, 0))
    examples: list[str] = field(factory=list)
    inflight: dict[str, list[int]] = field(factory=dict)  # market -> [long, short] on the wire
    max_true_exposure: int = 0
    max_engine_exposure: int = 0
    _tick: dict[str, TickSize] = field(factory=dict)
    _top: dict[str, tuple[int | None, int | None]] = field(factory=dict)
    _yes: dict[str, str] = field(factory=dict)
    _limit: int = 0

    def __attrs_post_init__(self) -> None:
        self._limit = self.limit  # the config is frozen: read it once, not on every check

    @property
    def limit(self) -> int:
        return self.config.strategy.max_market_exposure // PRICE_SCALE

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def _breach(self, name: str, now: int, message: str) -> None:
        self.counts[name] += 1
        if len(self.examples) < _EXAMPLES:
            self.examples.append(f"{now} {name}: {message}")

    # ------------------------------------------------------------------ the wire

    def adds_long(self, place: Place) -> bool:
        return (place.side is Side.BUY) == (place.token == self._yes.get(place.market))

    def sent(self, place: Place) -> None:
        slot = self.inflight.setdefault(place.market, [0, 0])
        slot[0 if self.adds_long(place) else 1] += place.size

    def arrived(self, place: Place) -> None:
        slot = self.inflight.setdefault(place.market, [0, 0])
        slot[0 if self.adds_long(place) else 1] -= place.size

    # ------------------------------------------------------------------ after a step

    def observe(self, event: Event) -> None:
        """What the strategy was told, before its step's commands are judged."""
        if isinstance(event, MarketListed):
            self._tick[event.market] = event.tick
            self._yes[event.market] = event.yes_token
        elif isinstance(event, TickSizeChanged):
            self._tick[event.market] = event.tick
        elif isinstance(event, BookSnapshot) and event.token == self._yes.get(event.market):
            bid = event.bids[0][0] if event.bids else None
            ask = event.asks[0][0] if event.asks else None
            if bid is None or ask is None or bid < ask:
                self._top[event.market] = (bid, ask)

    def check(
        self, now: int, delivery: Delivery, step: Step, strategy: Strategy, engine: Engine | None
    ) -> None:
        event = delivery.event
        market = getattr(event, "market", None)
        markets = self.venue.markets
        commands = step.commands
        if isinstance(market, str) and not commands:
            scope = [market] if market in markets else []  # one market: nothing to sort
        else:
            wide = {market} if isinstance(market, str) else set(markets)
            wide |= {c.market for c in commands if isinstance(c, Place)}
            wide &= set(markets)
            scope = sorted(wide)
        if engine is not None:
            self._halt(now, step, engine)
        for command in commands:
            if isinstance(command, Place):
                self._grid(now, command, engine)
        for m in scope:
            self._exposure(now, m, engine)
            self._gap(now, m, delivery, strategy, engine)

    def _halt(self, now: int, step: Step, engine: Engine) -> None:
        bot_halted = engine.bot.state == "halted"
        for command in step.commands:
            if isinstance(command, Place):
                ms = engine.markets.get(command.market)
                if bot_halted or (ms is not None and ms.machine.state == "halted"):
                    self._breach("INV-HALT", now, f"Place {command.client_id} while halted")
        for record in step.transitions:
            if record.machine == "bot" and record.target == "halted":
                if not any(isinstance(c, CancelAll) for c in step.commands):
                    self._breach("INV-HALT", now, "bot halted without CancelAll in the step")
            elif record.machine == "market" and record.target == "halted":
                live = [
                    o.client_id
                    for o in engine.orders.in_market(record.id)
                    if o.status in (OrderStatus.PENDING_NEW, OrderStatus.WORKING)
                ]
                if live:
                    self._breach("INV-HALT", now, f"market {record.id} halted with live {live}")

    def _grid(self, now: int, place: Place, engine: Engine | None) -> None:
        if engine is not None and place.market in engine.markets:
            ms = engine.markets[place.market]
            tick: TickSize | None = ms.tick
            top = (ms.yes_book.best_bid, ms.yes_book.best_ask)
        else:
            tick = self._tick.get(place.market)
            top = self._top.get(place.market, (None, None))
        t = int(tick) if tick is not None else 1
        if place.price % t or not t <= place.price <= PRICE_SCALE - t:
            self._breach("INV-GRID", now, f"{place} is off the {tick} grid or range")
        if not place.post_only:
            return
        yes_price = (
            place.price
            if place.token == self._yes.get(place.market)
            else (PRICE_SCALE - place.price)
        )
        bid, ask = top
        if self.adds_long(place):
            if ask is not None and yes_price >= ask:
                self._breach(
                    "INV-GRID",
                    now,
                    f"{place}: YES bid {format_price(yes_price)} "
                    f"crosses best ask {format_price(ask)}",
                )
        elif bid is not None and yes_price <= bid:
            self._breach(
                "INV-GRID",
                now,
                f"{place}: YES ask {format_price(yes_price)} crosses best bid {format_price(bid)}",
            )

    def _exposure(self, now: int, market: str, engine: Engine | None) -> None:
        limit = self._limit
        if engine is not None and market in engine.markets:
            worst = engine.exposure(market).worst
            self.max_engine_exposure = max(self.max_engine_exposure, worst)
            if worst > limit:
                self._breach(
                    "INV-EXPOSURE",
                    now,
                    f"{market}: Engine worst-case "
                    f"{format_size(worst)} > limit {format_size(limit)}",
                )
        vm = self.venue.markets[market]
        resting_long, resting_short = vm.resting_delta() if vm.orders else (0, 0)
        wire_long, wire_short = self.inflight.get(market, (0, 0))
        delta = vm.ledger.delta
        true_worst = max(delta + resting_long + wire_long, -delta + resting_short + wire_short)
        self.max_true_exposure = max(self.max_true_exposure, true_worst)
        if true_worst > limit:
            self._breach(
                "INV-EXPOSURE",
                now,
                f"{market}: true worst-case {format_size(true_worst)} > limit {format_size(limit)}",
            )

    def _gap(
        self, now: int, market: str, delivery: Delivery, strategy: Strategy, engine: Engine | None
    ) -> None:
        max_spread = self.config.risk.max_spread
        if engine is not None and market in engine.markets:
            spread = engine.markets[market].yes_book.spread()
            if spread is not None and spread > max_spread and strategy.live_quotes(market):
                self._breach(
                    "INV-GAP", now, f"{market}: quotes live at Engine spread {format_price(spread)}"
                )
        crowd = delivery.crowd_spread
        if (
            crowd is not None
            and crowd > max_spread
            and getattr(delivery.event, "market", None) == market
            and strategy.live_quotes(market)
        ):
            self._breach(
                "INV-GAP",
                now,
                f"{market}: quotes live while the market's own spread "
                f"(ours excluded) is {format_price(crowd)}",
            )
