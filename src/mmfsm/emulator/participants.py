"""The synthetic rest of the market: a market maker that moves the book, takers that fill.

Theory of operation
-------------------
A bot tested against an empty book learns nothing, so every market has two kinds of
other participant, both trading through the same book and matching as everyone else
(``Exchange.place_internal``):

* a **market maker** keeps a ladder of ``mm_levels`` GTC orders a side around a fair
  YES price that takes a Gaussian random-walk step every ``step_ms``. It re-quotes
  (cancel, then place) when the fair price moves to another tick or its ladder has been
  eaten, so the book moves and ``price_change`` messages flow;
* **takers** arrive at ``taker_rate`` per second and send FAK orders a few ticks
  through the touch, on a random side and a random token (buying NO is selling YES), so
  whoever rests at the touch, our bot included, gets filled in price-time order.

``gap`` is the news event of the strategy document: the market maker pulls back to
quotes 0.20 away from fair for a while and a taker sweeps one side, which leaves a
spread far over any sane limit. Tests use it to see the gap rule cancel resting
orders on the venue. ``flip_tick`` changes a market's tick between 0.01 and 0.001 and,
when the grid gets coarser, cancels resting orders off the new grid (so no book ever
shows a price the market no longer allows).

All randomness comes from one seeded ``random.Random``: the same seed gives the same
participant decisions (wall-clock timing still varies between runs).
"""

from __future__ import annotations

import math
import random

from mmfsm.core.ticks import PRICE_SCALE, SIZE_SCALE, Side
from mmfsm.emulator.config import ParticipantConfig
from mmfsm.emulator.exchange import Exchange, Market, OrderRecord

__all__ = ["Participants"]

_MM = "participant-mm"
_TAKER = "participant-taker"
_GAP_DISTANCE = 2_000  # 0.20 in price units


class Participants:
    def __init__(self, exchange: Exchange, config: ParticipantConfig, seed: int) -> None:
        self.exchange = exchange
        self.config = config
        self.rng = random.Random(seed * 7919 + 1)
        self.fair: dict[str, float] = {}
        self.center: dict[str, int] = {}
        self.ladder: dict[str, list[OrderRecord]] = {}
        self.gap_until: dict[str, float] = {}
        self.taker_orders = 0
        for cid in exchange.markets:
            self.fair[cid] = self.rng.uniform(0.35, 0.65)

    def _market(self, cid: str) -> Market:
        return self.exchange.markets[cid]

    # ------------------------------------------------------------------ market maker

    def _pull(self, cid: str) -> None:
        ids = [r.book.order_id for r in self.ladder.get(cid, []) if r.status == "LIVE"]
        if ids:
            self.exchange.cancel(None, _MM, ids)
        self.ladder[cid] = []

    def _quote(self, cid: str, now: float) -> None:
        market = self._market(cid)
        tick = market.tick
        fair = int(self.fair[cid] * PRICE_SCALE)
        center = round(fair / tick) * tick
        gapped = self.gap_until.get(cid, 0.0) > now
        half = _GAP_DISTANCE if gapped else self.config.mm_half_spread_ticks * tick
        self._pull(cid)
        self.center[cid] = center if not gapped else -1
        orders: list[OrderRecord] = []
        for i in range(self.config.mm_levels):
            # The same size both sides: an untouched book's micro-price is its mid.
            size = self.rng.randint(self.config.mm_min_size, self.config.mm_max_size) * SIZE_SCALE
            bid = center - half - i * tick
            ask = center + half + i * tick
            if tick <= bid <= PRICE_SCALE - tick:
                rec = self.exchange.place_internal(_MM, market.yes_token, Side.BUY, bid, size)
                if rec is not None and rec.status == "LIVE":
                    orders.append(rec)
            if tick <= ask <= PRICE_SCALE - tick:
                rec = self.exchange.place_internal(_MM, market.yes_token, Side.SELL, ask, size)
                if rec is not None and rec.status == "LIVE":
                    orders.append(rec)
        self.ladder[cid] = orders

    def _needs_quote(self, cid: str, now: float) -> bool:
        market = self._market(cid)
        fair = int(self.fair[cid] * PRICE_SCALE)
        center = round(fair / market.tick) * market.tick
        gapped = self.gap_until.get(cid, 0.0) > now
        if gapped != (self.center.get(cid) == -1):
            return True
        if not gapped and center != self.center.get(cid):
            return True
        live = [r for r in self.ladder.get(cid, []) if r.status == "LIVE"]
        return len(live) < self.config.mm_levels  # half the ladder eaten

    # ------------------------------------------------------------------ takers

    def _take(self, cid: str) -> None:
        market = self._market(cid)
        book = market.book
        tick = market.tick
        yes_buy = self.rng.random() < 0.5
        touch = book.best_ask() if yes_buy else book.best_bid()
        if touch is None:
            return
        reach = self.config.taker_reach_ticks * tick
        yes_limit = touch + reach if yes_buy else touch - reach
        yes_limit = min(max(yes_limit, tick), PRICE_SCALE - tick)
        size = self.rng.randint(self.config.taker_min_size, self.config.taker_max_size) * SIZE_SCALE
        if self.rng.random() < 0.5:
            side = Side.BUY if yes_buy else Side.SELL
            self.exchange.place_internal(_TAKER, market.yes_token, side, yes_limit, size, "FAK")
        else:
            side = Side.SELL if yes_buy else Side.BUY
            self.exchange.place_internal(
                _TAKER, market.no_token, side, PRICE_SCALE - yes_limit, size, "FAK"
            )
        self.taker_orders += 1

    # ------------------------------------------------------------------ driving

    def start(self, now: float) -> None:
        """Put the market maker's first ladders on every book."""
        for cid in self.exchange.markets:
            with self.exchange.batch():
                self._quote(cid, now)

    def step(self, now: float, dt_s: float) -> None:
        """One participant step of ``dt_s`` seconds for every market."""
        cfg = self.config
        for cid in self.exchange.markets:
            step = self.rng.gauss(0.0, cfg.fair_vol * math.sqrt(max(dt_s, 0.0)))
            self.fair[cid] = min(0.9, max(0.1, self.fair[cid] + step))
            if self._needs_quote(cid, now):
                with self.exchange.batch():
                    self._quote(cid, now)
            if self.rng.random() < 1 - math.exp(-cfg.taker_rate * dt_s):
                self._take(cid)

    def gap(self, cid: str, seconds: float, now: float, *, sweep: Side | None = Side.SELL) -> None:
        """A news gap: quotes pulled 0.20 away for ``seconds``; one side swept."""
        self.gap_until[cid] = now + seconds
        with self.exchange.batch():
            self._pull(cid)
        market = self._market(cid)
        if sweep is not None:
            fair = int(self.fair[cid] * PRICE_SCALE)
            tick = market.tick
            limit = fair - _GAP_DISTANCE // 2 if sweep is Side.SELL else fair + _GAP_DISTANCE // 2
            limit = min(max(round(limit / tick) * tick, tick), PRICE_SCALE - tick)
            self.exchange.place_internal(
                _TAKER, market.yes_token, sweep, limit, 1_000_000 * SIZE_SCALE, "FAK"
            )
        with self.exchange.batch():
            self._quote(cid, now)

    def flip_tick(self, cid: str) -> int:
        """Toggle the market's tick between 0.01 and 0.001; return the new tick."""
        market = self._market(cid)
        new = 10 if market.tick == 100 else 100
        if new > market.tick:
            off_grid = [
                o
                for o in market.book.orders()
                if o.price % new and self.exchange.orders.get(o.order_id)
            ]
            by_account: dict[str, list[str]] = {}
            for o in off_grid:
                by_account.setdefault(o.account, []).append(o.order_id)
            for account, ids in by_account.items():
                self.exchange.cancel(None, account, ids)
        self.exchange.set_tick(cid, new)
        self.center.pop(cid, None)
        return new
