"""The invariant suite: a hypothesis state machine drives the real Engine adversarially.

The rules play an exchange that misbehaves in every way the real one can (and a few
more), plus the operator and the clock: books that are crossed, locked, empty,
one-sided, gapped, near 0.04/0.96 with tick-size changes; acks, post-only and tick
rejects, cancels confirmed with their matched size, partial fills reported late, twice,
out of order, MATCHED then FAILED or CONFIRMED; clocks that jump by seconds or hours,
cross midnight UTC or arrive late; halts, resumes with and without acknowledgement,
config reloads, venue faults, and two or three markets moving together. Every rule
feeds the Engine one event (a correlated move one per market, a post-only storm a
reject and a back-off tick per round, checking all invariants between them), and after
every step each ``@invariant()`` below checks one invariant of
DESIGN.md (``inv_halt`` is INV-HALT; ``specs/invariants.toml`` lists them) against the
commands of that step and the Engine's state.

Counterexamples: hypothesis shrinks a failure to a short rule sequence and prints it;
the failing example's events are also written as JSON (``replay.py``; path in the
failure message, ``MMFSM_COUNTEREXAMPLE`` to choose it) for a test to replay.

Budget: derandomized, 300 examples x 50 steps by default (``MMFSM_EXAMPLES`` to change
the count); ``MMFSM_LONG=1`` runs 2000 x 100. The examples, rule steps and Engine steps
actually run, what they exercised, and any spec transition never taken are printed at
the end of the session. Known Engine bugs are stepped around narrowly
(``inv_checks.TOLERATED``), each reproduced by a strict xfail in ``test_found_bugs.py``.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from inv_checks import CHECKS, RUN_STATS, Checker, InvariantViolation, StepRecord
from inv_venue import Venue, VenueOrder
from replay import save_events

from mmfsm.core.commands import Place
from mmfsm.core.config import Config, parse_config
from mmfsm.core.engine import Engine
from mmfsm.core.events import (
    BookSnapshot,
    ClockTick,
    ConfigReload,
    Event,
    MarketListed,
    OperatorHalt,
    OperatorResume,
    OrderAcked,
    OrderCancelled,
    OrderExpired,
    OrderRejected,
    PriceChange,
    RejectReason,
    TickSizeChanged,
    Trade,
    TradeStatus,
    VenueFault,
)
from mmfsm.core.risk import MS_PER_DAY
from mmfsm.core.ticks import PRICE_SCALE, SIZE_SCALE, Side, TickSize
from mmfsm.harness import T0

SHARE = SIZE_SCALE
MARKETS = ("m1", "m2", "m3")
LONG = os.environ.get("MMFSM_LONG") == "1"

_BASE: dict[str, Any] = {
    "strategy": {"max_market_exposure_usd": 30, "order_size_shares": 10},
    "risk": {
        "global_daily_loss_usd": 5,
        "max_position_loss_usd": 3,
        "max_position_age_s": 600,
        "unwind_timeout_s": 60,
        # Books stay fresh across the short clock steps (the real feed updates them
        # many times a second); staleness still comes with the long clock jumps.
        "book_stale_s": 120,
    },
}


def _with(**sections: dict[str, Any]) -> dict[str, Any]:
    out = {k: dict(v) for k, v in _BASE.items()}
    for name, values in sections.items():
        out.setdefault(name, {}).update(values)
    return out


CONFIGS: dict[str, Config] = {
    "base": parse_config(_BASE),
    "default": parse_config({}),
    "small_limit": parse_config(_with(strategy={"max_market_exposure_usd": 10})),
    # Less capital than two markets' limits: INV-CAPITAL binds across markets.
    "small_capital": parse_config(_with(strategy={"capital_usd": 40})),
    "big_orders": parse_config(
        _with(strategy={"order_size_shares": 25, "max_market_exposure_usd": 40})
    ),
    "tight": parse_config(
        _with(
            risk={
                "max_spread": 0.04,
                "post_only_max_retries": 1,
                "unwind_timeout_s": 20,
                "global_daily_loss_usd": 2,
                "max_adverse_move_pct": 5,
            }
        )
    ),
}

IDX = st.integers(min_value=0, max_value=1_000)
MARKET = st.integers(min_value=0, max_value=2)
TARGET = st.one_of(st.none(), MARKET)
# Event time relative to the latest seen: most on time, some ahead, some late.
DT = st.sampled_from([0, 0, 0, 200, 1_500, 45_000, -1_000, -120_000])
# YES mid prices in price units, including the 0.04 / 0.96 regions of tick changes.
CENTERS = st.sampled_from([200, 400, 500, 1500, 3000, 4800, 5000, 5200, 7000, 9500, 9600, 9800])
SPREAD_TICKS = st.sampled_from([1, 1, 2, 3, 5, 7])
SIZES = st.sampled_from([1 * SHARE, 10 * SHARE, 100 * SHARE, 1_000 * SHARE, 5_000 * SHARE])
TICKS = st.sampled_from([TickSize.CENT, TickSize.CENT, TickSize.MILLI, TickSize.TENTH_MILLI])
BOOK_KINDS = st.sampled_from(
    ["normal"] * 5
    + ["gapped"] * 3
    + ["crossed", "locked", "empty", "bid_only", "ask_only", "no_token", "off_grid"]
)
STATUSES = st.sampled_from(list(TradeStatus))
ACKS = st.sampled_from(["", "   ", "reviewed the loss: resume", "ok"])


def _pick(items: list[VenueOrder], i: int) -> VenueOrder:
    return items[i % len(items)]


class EngineMachine(RuleBasedStateMachine):
    """The Engine, an adversarial venue around it, and the invariant checks."""

    run_label = "stateful"

    def __init__(self) -> None:
        super().__init__()
        self.stats = RUN_STATS.setdefault(self.run_label, Counter())
        self.stats["examples"] += 1
        self.now = T0
        self.markets: list[str] = []
        self.tick: dict[str, TickSize] = {}
        self.events: list[Event] = []
        self.config = CONFIGS["base"]
        self.venue = Venue(yes_tokens={m: f"{m}-yes" for m in MARKETS})
        self.checker = Checker(Engine(self.config), truth=self._truth)

    # ------------------------------------------------------------ plumbing

    @property
    def engine(self) -> Engine:
        return self.checker.engine

    def _truth(self, step: Any) -> dict[str, tuple[int, int]]:
        self.venue.absorb(step.commands)
        return {m: self.venue.truth(m) for m in self.engine.markets}

    def _ts(self, dt: int = 0) -> int:
        ts = max(0, self.now + dt)
        self.now = max(self.now, ts)
        return ts

    def _send(self, event: Event) -> StepRecord:
        self.events.append(event)
        self.stats["engine_steps"] += 1
        rec = self.checker.feed(event)
        for cmd in rec.step.commands:
            if isinstance(cmd, Place):
                self.stats["places" if cmd.post_only else "exit_places"] += 1
        if sum(1 for p in rec.places if not p.post_only) > 1:
            self.stats["exit_pairs"] += 1  # a delta below the minimum, sold as two
        for record in rec.step.transitions:
            self.stats[f"{record.machine}:{record.event}->{record.target}"] += 1
        limit = self.engine.config.strategy.max_market_exposure // PRICE_SCALE
        capital = self.engine.config.strategy.capital // PRICE_SCALE
        for view, values in rec.views_after.items():
            if any(max(v) > limit for v in values.values()):
                self.stats[f"over_limit_{view}"] += 1  # excused: FAILED or smaller limit
            total = sum(max(*v, 0) for v in values.values())
            if total > capital:
                self.stats[f"over_capital_{view}"] += 1  # excused: FAILED or a reload
            elif total > capital - limit:
                self.stats["capital_binding"] += 1  # the capital may cut a quote
        return rec

    def _check(self, name: str) -> None:
        rec = self.checker.last
        if rec is None:
            return
        try:
            CHECKS[name](rec)
        except InvariantViolation as exc:
            path = Path(
                os.environ.get("MMFSM_COUNTEREXAMPLE")
                or Path(tempfile.gettempdir()) / "mmfsm-counterexample.json"
            )
            save_events(path, self.config, self.events, failure=str(exc))
            raise InvariantViolation(name, f"{exc.detail}\n  events saved to {path}") from None

    def _check_all(self) -> None:
        for name in CHECKS:
            self._check(name)

    def _market(self, i: int) -> str:
        return self.markets[i % len(self.markets)]

    def _book(self, market: str, kind: str, center: int, spread_ticks: int,
              bid_size: int, ask_size: int, dt: int) -> BookSnapshot:
        t = int(self.tick[market])
        if kind == "gapped":
            spread_ticks = self.engine.config.risk.max_spread // t + 1 + spread_ticks % 3
        width = spread_ticks * t
        bid = (center - width // 2) // t * t
        bid = max(t, min(bid, PRICE_SCALE - t - width))
        ask = bid + width
        if ask > PRICE_SCALE - t:  # wider than the whole range: one-sided
            ask = PRICE_SCALE - t
        bids = [(bid, bid_size)] + ([(bid - t, 50 * SHARE)] if bid - t >= t else [])
        asks = [(ask, ask_size)] + ([(ask + t, 50 * SHARE)] if ask + t <= PRICE_SCALE - t else [])
        if kind == "crossed":
            bids = [(ask + t, bid_size)] if ask + t < PRICE_SCALE else [(ask, bid_size)]
        elif kind == "locked":
            bids = [(ask, bid_size)]
        elif kind == "empty":
            bids, asks = [], []
        elif kind == "bid_only":
            asks = []
        elif kind == "ask_only":
            bids = []
        elif kind == "off_grid" and t > 1:
            bids = [(bid + 1, bid_size)]
        token = f"{market}-no" if kind == "no_token" else f"{market}-yes"
        return BookSnapshot(
            ts_ms=self._ts(dt), market=market, token=token, bids=tuple(bids), asks=tuple(asks)
        )

    # ------------------------------------------------------------ setup

    @initialize(
        n=st.integers(min_value=2, max_value=3),
        config=st.sampled_from(["base", "base", "default", "small_limit", "small_capital"]),
        ticks=st.lists(TICKS, min_size=3, max_size=3),
        center=st.sampled_from([3000, 5000, 9500]),
        spreads=st.lists(SPREAD_TICKS, min_size=3, max_size=3),
    )
    def setup(self, n: int, config: str, ticks: list[TickSize], center: int,
              spreads: list[int]) -> None:
        self.config = CONFIGS[config]
        self.checker = Checker(Engine(self.config), truth=self._truth)
        self.markets = list(MARKETS[:n])
        for i, market in enumerate(self.markets):
            self.tick[market] = ticks[i]
            self._send(
                MarketListed(
                    ts_ms=self.now, market=market, yes_token=f"{market}-yes",
                    no_token=f"{market}-no", tick=ticks[i], min_size=5 * SHARE,
                )
            )
            self._check_all()
            self._send(self._book(market, "normal", center + 100 * i, spreads[i],
                                  100 * SHARE, 100 * SHARE, 0))
            self._check_all()
        self._send(ClockTick(ts_ms=self._ts(self.config.risk.gap_recovery_ms)))

    # ------------------------------------------------------------ books

    @rule(m=MARKET, kind=BOOK_KINDS, center=CENTERS, off=st.integers(-3, 3),
          spread=SPREAD_TICKS, bid_size=SIZES, ask_size=SIZES, dt=DT)
    def book(self, m: int, kind: str, center: int, off: int, spread: int, bid_size: int,
             ask_size: int, dt: int) -> None:
        market = self._market(m)
        self._send(self._book(market, kind, center + off * int(self.tick[market]), spread,
                              bid_size, ask_size, dt))
        self.stats["books"] += 1

    @rule(m=MARKET, move=st.integers(-3, 3), spread=st.sampled_from([1, 1, 2, 3]),
          bid_size=SIZES, ask_size=SIZES, gapped=st.sampled_from([False, False, True]),
          dt=st.sampled_from([0, 0, 100, 1_000]))
    def book_tick(self, m: int, move: int, spread: int, bid_size: int, ask_size: int,
                  gapped: bool, dt: int) -> None:
        """The everyday book: a fresh snapshot a few ticks from where the mid was."""
        market = self._market(m)
        top = self.engine.markets[market].yes_book.top()
        mid = (top.bid + top.ask) // 2 if top is not None else 5000
        self._send(self._book(market, "gapped" if gapped else "normal",
                              mid + move * int(self.tick[market]), spread, bid_size,
                              ask_size, dt))

    @rule(m=MARKET, buy=st.booleans(), off=st.integers(-2, 2),
          size=st.sampled_from([0, 0, SHARE, 100 * SHARE]), dt=DT)
    def price_change(self, m: int, buy: bool, off: int, size: int, dt: int) -> None:
        market = self._market(m)
        book = self.engine.markets[market].yes_book
        t = int(self.tick[market])
        best = book.best_bid if buy else book.best_ask
        price = (best if best is not None else 5000) // t * t + off * t
        price = min(max(price, t), PRICE_SCALE - t)
        self._send(PriceChange(ts_ms=self._ts(dt), market=market, token=f"{market}-yes",
                               changes=((Side.BUY if buy else Side.SELL, price, size),)))

    @rule(shift=st.sampled_from([-1500, -500, -100, 100, 500, 1500]), spread=SPREAD_TICKS)
    def correlated_move(self, shift: int, spread: int) -> None:
        """News moves every market the same way: one snapshot per market."""
        for i, market in enumerate(self.markets):
            top = self.engine.markets[market].yes_book.top()
            mid = (top.bid + top.ask) // 2 if top is not None else 5000
            center = min(max(mid + shift, 100), PRICE_SCALE - 100)
            self._send(self._book(market, "normal", center, spread, 100 * SHARE,
                                  100 * SHARE, 0))
            if i < len(self.markets) - 1:
                self._check_all()  # the last step is checked by the @invariant()s

    @rule(m=MARKET, tick=st.sampled_from(list(TickSize)), relist=st.booleans())
    def tick_change(self, m: int, tick: TickSize, relist: bool) -> None:
        market = self._market(m)
        self.tick[market] = tick
        if relist:
            self._send(MarketListed(ts_ms=self._ts(), market=market, yes_token=f"{market}-yes",
                                    no_token=f"{market}-no", tick=tick, min_size=5 * SHARE))
        else:
            self._send(TickSizeChanged(ts_ms=self._ts(), market=market,
                                       token=f"{market}-yes", tick=tick))

    # ------------------------------------------------------------ the clock

    @rule(ms=st.sampled_from([250, 1_000, 2_500, 5_000, 10_000, 20_000]))
    def clock(self, ms: int) -> None:
        self._send(ClockTick(ts_ms=self._ts(ms)))

    @rule(ms=st.sampled_from([31_000, 61_000, 301_000, 601_000, 3_601_000, 4 * 3_600_000]))
    def clock_jump(self, ms: int) -> None:
        self._send(ClockTick(ts_ms=self._ts(ms)))

    @rule(after=st.sampled_from([0, 1, 5_000]))
    def clock_midnight(self, after: int) -> None:
        self._send(ClockTick(ts_ms=self._ts((self.now // MS_PER_DAY + 1) * MS_PER_DAY
                                            + after - self.now)))

    @rule(back=st.sampled_from([1, 1_000, 600_000]))
    def clock_late(self, back: int) -> None:
        self._send(ClockTick(ts_ms=self._ts(-back)))

    # ------------------------------------------------------------ our orders at the venue

    def _ackable(self) -> list[VenueOrder]:
        return [o for o in self.venue.newest() if not o.acked and not o.rejected]

    def _rejectable(self) -> list[VenueOrder]:
        return [
            o for o in self.venue.newest()
            if not o.acked and not o.rejected and not o.matched
            and (not o.dead or not 0 < o.place.price < PRICE_SCALE)
        ]

    def _resting(self) -> list[VenueOrder]:
        return [o for o in self.venue.newest() if not o.dead]

    @precondition(lambda self: bool(self._ackable()))
    @rule(i=IDX, dt=DT)
    def ack(self, i: int, dt: int) -> None:
        order = _pick(self._ackable(), i)
        order.acked = True
        self._send(OrderAcked(ts_ms=self._ts(dt), client_id=order.cid, venue_id=f"v{order.cid}"))

    def _reject(self, order: VenueOrder, reason: RejectReason, dt: int) -> None:
        order.dead = order.rejected = True
        self._send(OrderRejected(ts_ms=self._ts(dt), client_id=order.cid, reason=reason))
        self.stats["rejects"] += 1

    @precondition(lambda self: bool(self._rejectable()))
    @rule(i=IDX, reason=st.sampled_from([RejectReason.POST_ONLY] * 3 + list(RejectReason)),
          dt=DT)
    def reject(self, i: int, reason: RejectReason, dt: int) -> None:
        self._reject(_pick(self._rejectable(), i), reason, dt)

    @precondition(lambda self: bool(self._rejectable()))
    @rule(m=MARKET, bid=st.booleans())
    def reject_side(self, m: int, bid: bool) -> None:
        """Post-only reject the newest order of one side of one market (retry storms)."""
        market = self._market(m)
        for order in self._rejectable():
            if order.place.market == market and order.place.post_only and (order.sign > 0) == bid:
                self._reject(order, RejectReason.POST_ONLY, 0)
                return

    @precondition(lambda self: bool(self._rejectable()))
    @rule(m=MARKET, bid=st.booleans(), rounds=st.integers(3, 8))
    def post_only_storm(self, m: int, bid: bool, rounds: int) -> None:
        """The book keeps crossing one side's retries: reject, wait the back-off, repeat."""
        market = self._market(m)
        for k in range(rounds):
            order = next((o for o in self._rejectable() if o.place.market == market
                          and o.place.post_only and (o.sign > 0) == bid), None)
            if order is None:
                return
            if k:
                self._check_all()
            self._reject(order, RejectReason.POST_ONLY, 0)
            self._check_all()
            backoff = self.engine.config.risk.post_only_backoff_ms
            self._send(ClockTick(ts_ms=self._ts(backoff * 2**k + 1)))

    @precondition(lambda self: bool(self._resting()))
    @rule(i=IDX, part=st.integers(1, 4), report=st.sampled_from(
        [None, TradeStatus.MATCHED, TradeStatus.MATCHED, TradeStatus.CONFIRMED]), dt=DT)
    def fill(self, i: int, part: int, report: TradeStatus | None, dt: int) -> None:
        order = _pick(self._resting(), i)
        size = max(1, order.remaining * part // 4)
        trade = self.venue.match(order, size)
        self.stats["fills"] += 1
        if report is not None:
            self._report(trade.trade_id, report, dt)

    def _report(self, trade_id: str, status: TradeStatus, dt: int) -> None:
        trade = next(t for t in self.venue.trades if t.trade_id == trade_id)
        if status is TradeStatus.FAILED:
            self.venue.fail(trade)
        elif status is TradeStatus.CONFIRMED and not trade.failed:
            trade.confirmed = True
        place = trade.order.place
        self._send(Trade(ts_ms=self._ts(dt), trade_id=trade.trade_id, client_id=place.client_id,
                         market=place.market, token=place.token, side=place.side,
                         price=place.price, size=trade.size, status=status))

    @precondition(lambda self: bool(self.venue.trades))
    @rule(i=IDX, status=STATUSES, dt=DT, junk=st.sampled_from([False] * 15 + [True]))
    def report(self, i: int, status: TradeStatus, dt: int, junk: bool) -> None:
        """A trade report, possibly late, again, out of order, or FAILED after MATCHED.

        Rarely, junk: a trade naming a token of another market (an exchange anomaly).
        """
        trades = list(reversed(self.venue.trades))
        trade = trades[i % len(trades)]
        if junk:
            self._junk_trade(trade.order)
        else:
            self._report(trade.trade_id, status, dt)

    @precondition(lambda self: bool(self._resting()))
    @rule(i=IDX, solicited=st.booleans(), dt=DT)
    def cancel_confirmed(self, i: int, solicited: bool, dt: int) -> None:
        candidates = [o for o in self._resting() if o.cancel_requested] if solicited else []
        order = _pick(candidates or self._resting(), i)
        order.dead = True
        self._send(OrderCancelled(ts_ms=self._ts(dt), client_id=order.cid,
                                  size_matched=order.matched))

    @precondition(lambda self: bool(self._resting()))
    @rule(i=IDX, dt=DT)
    def expire(self, i: int, dt: int) -> None:
        order = _pick(self._resting(), i)
        order.dead = True
        self._send(OrderExpired(ts_ms=self._ts(dt), client_id=order.cid,
                                size_matched=order.matched))

    def _junk_trade(self, order: VenueOrder) -> None:
        market = next(x for x in self.markets if x != order.place.market)
        self._send(Trade(ts_ms=self._ts(), trade_id=f"junk{len(self.events)}",
                         client_id=order.cid, market=order.place.market,
                         token=f"{market}-yes", side=Side.BUY, price=5000, size=SHARE,
                         status=TradeStatus.MATCHED))

    # ------------------------------------------------------------ the operator

    @rule(where=TARGET)
    def operator_halt(self, where: int | None) -> None:
        market = None if where is None else self._market(where)
        self._send(OperatorHalt(ts_ms=self._ts(), reason="operator test", market=market))

    @rule(where=TARGET, ack=ACKS)
    def operator_resume(self, where: int | None, ack: str) -> None:
        market = None if where is None else self._market(where)
        self._send(OperatorResume(ts_ms=self._ts(), ack=ack, market=market))

    @rule(name=st.sampled_from(sorted(CONFIGS)))
    def config_reload(self, name: str) -> None:
        self._send(ConfigReload(ts_ms=self._ts(), config=CONFIGS[name]))

    @rule(where=TARGET)
    def venue_fault(self, where: int | None) -> None:
        market = None if where is None else self._market(where)
        self._send(VenueFault(ts_ms=self._ts(), what="GET /orders timed out", market=market))

    # ------------------------------------------------------------ the invariants

    @invariant()
    def count_steps(self) -> None:
        """Not an invariant: counts the rule steps run, for the session summary."""
        self.stats["rule_steps"] += 1

    @invariant()
    def inv_halt(self) -> None:
        self._check("inv_halt")

    @invariant()
    def inv_grid(self) -> None:
        self._check("inv_grid")

    @invariant()
    def inv_exposure(self) -> None:
        self._check("inv_exposure")

    @invariant()
    def inv_capital(self) -> None:
        self._check("inv_capital")

    @invariant()
    def inv_gap(self) -> None:
        self._check("inv_gap")

    @invariant()
    def inv_latch(self) -> None:
        self._check("inv_latch")

    @invariant()
    def inv_lifecycle(self) -> None:
        self._check("inv_lifecycle")

    @invariant()
    def inv_wal(self) -> None:
        self._check("inv_wal")

    @invariant()
    def inv_binary(self) -> None:
        self._check("inv_binary")

    @invariant()
    def inv_retry(self) -> None:
        self._check("inv_retry")

    def teardown(self) -> None:
        engine = self.engine
        if engine.halted:
            self.stats["ended_halted"] += 1
        for ms in engine.markets.values():
            self.stats[f"market_{ms.machine.state}"] += 1
            if ms.position.id != f"{ms.market}#1" or ms.position.state != "quoting":
                self.stats["positions_touched"] += 1


def stateful_settings(*, max_examples: int, steps: int, **extra: Any) -> settings:
    return settings(
        max_examples=max_examples,
        stateful_step_count=steps,
        derandomize=True,
        database=None,
        deadline=None,
        print_blob=False,
        suppress_health_check=list(HealthCheck),
        **extra,
    )


TestEngineStateful = EngineMachine.TestCase
TestEngineStateful.settings = (
    stateful_settings(max_examples=2_000, steps=100)
    if LONG
    else stateful_settings(max_examples=int(os.environ.get("MMFSM_EXAMPLES", "300")),
                           steps=50)
)
