"""Generated markets: a fair price, a crowd of makers around it, and takers trading with both.

Theory of operation
-------------------
A scenario describes each market as a ``MarketSpec``: a starting fair YES price and a
list of ``Phase``s, each starting at a second of the run and setting the drift and
volatility of the fair price, the crowd's spread, the taker flow, and optionally a jump
(news). Every ``step_ms`` a ``GeneratedMarket`` does, in this order:

1. The fair price moves: the phase's jump if the phase just began, then drift plus a
   Gaussian step scaled to the step length, clamped into [0.005, 0.995].
2. The tick follows Polymarket's rule (``tick_rule``): 0.001 once the fair price is
   above 0.96 or below 0.04, back to 0.01 inside [0.05, 0.95] (a hysteresis band so
   the tick does not flicker). The venue announces a change with ``TickSizeChanged``.
3. Informed takers (``informed``) pick off every resting order, the crowd's or ours, at
   least ``informed_edge`` on the wrong side of the new fair price: asks that far below
   it are lifted, bids that far above it are hit. This is the adverse selection a maker
   pays for being slow.
4. Noise takers arrive as a Poisson process (``takers_per_s``); each buys or sells
   (``sell_share``) a uniform size in shares and sweeps the book from the touch up to
   a few ticks deep, through the venue's price-time priority.
5. The crowd requotes around the fair price: its best bid and ask are the fair price
   minus/plus half its spread, rounded away from it onto the grid, ``levels`` deep.
   A level the crowd already had keeps its size, changed by a random churn (cancels
   and additions; ``churn``); new levels get a fresh random size; levels outside the
   new ladder are cancelled. Our queue positions then move (``Venue.requeue``).

All randomness is a ``random.Random`` seeded from the run seed and the market's name,
and every float it produces is turned into integer price or size units before it
becomes a book level or a trade.
"""

from __future__ import annotations

import math
import random

from attrs import frozen

from mmfsm.core.ticks import PRICE_SCALE, SIZE_SCALE, TickSize
from mmfsm.sim.venue import Venue

__all__ = ["GeneratedMarket", "MarketSpec", "Phase"]


@frozen(kw_only=True)
class Phase:
    """How a market behaves from second ``at_s`` of the run until the next phase."""

    at_s: int = 0
    jump_to: float | None = None  # the fair price jumps here when the phase begins
    drift_per_s: float = 0.0
    vol_per_s: float = 0.001
    spread: float = 0.02  # the crowd's spread, dollars
    takers_per_s: float = 0.5
    sell_share: float = 0.5
    taker_shares: tuple[int, int] = (5, 40)
    sweep_ticks: tuple[int, int] = (0, 2)
    informed: bool = True
    informed_edge: float = 0.005  # dollars: the least mispricing an informed taker acts on


@frozen(kw_only=True)
class MarketSpec:
    name: str
    fair: float
    phases: tuple[Phase, ...] = (Phase(),)
    tick: TickSize = TickSize.CENT
    tick_rule: bool = True
    min_size_shares: int = 5
    depth_shares: tuple[int, int] = (50, 400)
    levels: int = 6
    churn: float = 0.1


class GeneratedMarket:
    __slots__ = ("_phase_index", "fair", "market", "rng", "spec", "start_ms", "tick")

    def __init__(self, spec: MarketSpec, seed: int, start_ms: int) -> None:
        self.spec = spec
        self.market = spec.name
        self.rng = random.Random(f"market-{seed}-{spec.name}")
        self.fair = spec.fair
        self.tick = spec.tick
        self.start_ms = start_ms
        self._phase_index = -1

    def phase(self, now: int) -> Phase:
        elapsed = (now - self.start_ms) // 1000
        index = 0
        for i, phase in enumerate(self.spec.phases):
            if phase.at_s <= elapsed:
                index = i
        if index != self._phase_index:
            self._phase_index = index
            jump = self.spec.phases[index].jump_to
            if jump is not None:
                self.fair = jump
        return self.spec.phases[index]

    def step(self, now: int, step_ms: int, venue: Venue) -> None:
        phase = self.phase(now)
        dt = step_ms / 1000.0
        move = phase.drift_per_s * dt + self.rng.gauss(0.0, phase.vol_per_s * math.sqrt(dt))
        self.fair = min(0.995, max(0.005, self.fair + move))
        if self.spec.tick_rule:
            if self.fair > 0.96 or self.fair < 0.04:
                self.tick = TickSize.MILLI
            elif 0.05 <= self.fair <= 0.95:
                self.tick = TickSize.CENT
            venue.set_tick(now, self.market, self.tick)
        fair_units = self.fair * PRICE_SCALE
        t = int(self.tick)
        if phase.informed:
            edge = phase.informed_edge * PRICE_SCALE
            below = math.floor((fair_units - edge) / t) * t  # asks at or under: lifted
            above = math.ceil((fair_units + edge) / t) * t  # bids at or over: hit
            venue.take(now, self.market, buys=True, size=10**15, limit=below)
            venue.take(now, self.market, buys=False, size=10**15, limit=above)
        for _ in range(self._poisson(phase.takers_per_s * dt)):
            self._taker(now, phase, venue)
        self._requote(phase, venue)
        venue.requeue(now, self.market)

    def _poisson(self, lam: float) -> int:
        """Knuth's method: fine for the small rates used here."""
        limit, k, p = math.exp(-lam), 0, 1.0
        while True:
            p *= self.rng.random()
            if p <= limit:
                return k
            k += 1

    def _taker(self, now: int, phase: Phase, venue: Venue) -> None:
        sells = self.rng.random() < phase.sell_share
        size = self.rng.randint(*phase.taker_shares) * SIZE_SCALE
        depth = self.rng.randint(*phase.sweep_ticks) * int(self.tick)
        vm = venue.markets[self.market]
        own = [o.yes_price for o in vm.orders.values() if o.is_bid == sells]
        if sells:
            best = max([*vm.crowd.bids, *own], default=None)
            if best is not None:
                venue.take(now, self.market, buys=False, size=size, limit=best - depth)
        else:
            best = min([*vm.crowd.asks, *own], default=None)
            if best is not None:
                venue.take(now, self.market, buys=True, size=size, limit=best + depth)

    def _requote(self, phase: Phase, venue: Venue) -> None:
        t = int(self.tick)
        half = phase.spread / 2 * PRICE_SCALE
        fair = self.fair * PRICE_SCALE
        bid = math.floor((fair - half) / t) * t
        ask = math.ceil((fair + half) / t) * t
        if ask - bid < t:
            ask = bid + t
        crowd = venue.markets[self.market].crowd
        crowd.bids = self._ladder(crowd.bids, bid, -t)
        crowd.asks = self._ladder(crowd.asks, ask, t)

    def _ladder(self, old: dict[int, int], best: int, step: int) -> dict[int, int]:
        out: dict[int, int] = {}
        lo, hi = self.spec.depth_shares
        for i in range(self.spec.levels):
            price = best + i * step
            if not 0 < price < PRICE_SCALE:
                break
            size = old.get(price)
            if size is None:
                size = self.rng.randint(lo, hi) * SIZE_SCALE
            elif self.rng.random() < self.spec.churn:
                factor = 1.0 + self.rng.gauss(0.0, 0.25)
                size = max(SIZE_SCALE, int(size * factor) // SIZE_SCALE * SIZE_SCALE)
            out[price] = size
        return out
