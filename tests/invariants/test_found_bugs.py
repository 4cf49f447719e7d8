"""Engine bugs the invariant suite found, each as a minimal deterministic reproduction.

Each test feeds a short, fixed event sequence to a fresh Engine and checks every
invariant strictly (nothing tolerated). They were strict xfails until the Engine was
fixed; they stay as regression tests. A new finding goes here as a strict xfail with a
matching entry in ``inv_checks.TOLERATED`` until it is fixed.
"""

from __future__ import annotations

from typing import Any

import pytest
from inv_checks import TOLERATED, Checker, InvariantViolation, StepRecord

from mmfsm.core.commands import Place
from mmfsm.core.config import Config, parse_config
from mmfsm.core.engine import Engine
from mmfsm.core.events import (
    BookSnapshot,
    ClockTick,
    Event,
    MarketListed,
    OperatorHalt,
    OperatorResume,
    OrderCancelled,
    TickSizeChanged,
    Trade,
    TradeStatus,
)
from mmfsm.core.ticks import SIZE_SCALE, TickSize
from mmfsm.harness import T0

SHARE = SIZE_SCALE


class Drive:
    """A fresh Engine, checked strictly after every event."""

    def __init__(self, config: Config | None = None, *, tolerate: frozenset[str] = frozenset()):
        self.checker = Checker(Engine(config or parse_config({})), tolerate=tolerate)
        self.now = T0
        self.places: list[Place] = []

    def send(self, event: Event) -> StepRecord:
        rec = self.checker.feed(event)
        self.places += rec.places
        self.checker.check_all(rec)
        return rec

    def listed(self, market: str, tick: TickSize = TickSize.CENT) -> None:
        self.send(MarketListed(ts_ms=self.now, market=market, yes_token=f"{market}-yes",
                               no_token=f"{market}-no", tick=tick, min_size=5 * SHARE))

    def book(self, market: str, bid: int, ask: int, *, ts: int | None = None) -> StepRecord:
        return self.send(BookSnapshot(ts_ms=self.now if ts is None else ts, market=market,
                                      token=f"{market}-yes", bids=((bid, 100 * SHARE),),
                                      asks=((ask, 100 * SHARE),)))

    def clock(self, ms: int) -> StepRecord:
        self.now += ms
        return self.send(ClockTick(ts_ms=self.now))

    def fill(self, place: Place, trade_id: str) -> StepRecord:
        return self.send(Trade(ts_ms=self.now, trade_id=trade_id, client_id=place.client_id,
                               market=place.market, token=place.token, side=place.side,
                               price=place.price, size=place.size, status=TradeStatus.MATCHED))

    def confirm_cancels(self) -> None:
        """The venue confirms every cancel asked so far (nothing had matched)."""
        for order in list(self.checker.engine.orders):
            if order.status.value == "pending_cancel":
                self.send(OrderCancelled(ts_ms=self.now, client_id=order.client_id,
                                         size_matched=0))

    def bid_of(self, market: str) -> Place:
        """The newest quote that buys YES (adds long delta) in ``market``."""
        return next(p for p in reversed(self.places)
                    if p.market == market and p.token == f"{market}-yes" and p.side.value == "BUY")


def _expect(name: str, run: Any) -> None:
    with pytest.raises(InvariantViolation) as caught:
        run()
    assert caught.value.name == name, str(caught.value)


def test_an_acknowledged_resume_may_quote_in_its_own_step() -> None:
    """INV-HALT by definition: the bot is running when the resume step ends."""
    d = Drive()
    d.listed("m1")
    d.book("m1", 4800, 5200)
    d.clock(5_000)
    d.send(OperatorHalt(ts_ms=d.now, reason="test"))
    assert d.send(OperatorResume(ts_ms=d.now, ack="reviewed")).places


def test_unwind_timeout_holds_whatever_event_moves_time() -> None:
    """INV-LIFECYCLE: force exit starts no later than the unwind timeout.

    m1 enters passive_unwind (adverse move) at T0+5s; a book for m2 stamped 70 s later
    is the next event. Expected: m1 in force_exit after that step (now - unwind start
    > 60 s). Actual: m1 still in passive_unwind; only the next ClockTick moves it.
    """
    config = parse_config({"risk": {"unwind_timeout_s": 60}})
    d = Drive(config)
    d.listed("m1")
    d.listed("m2")
    d.book("m1", 4800, 5200)
    d.book("m2", 4800, 5200)
    d.clock(5_000)
    d.fill(d.bid_of("m1"), "t1")  # long 10 YES near 0.49
    d.book("m1", 3800, 4000)  # mark -20%: adverse move -> passive_unwind
    assert d.checker.engine.markets["m1"].position.state == "passive_unwind"
    d.book("m2", 4800, 5200, ts=d.now + 70_000)


def test_force_exit_price_inside_range_after_coarser_tick() -> None:
    """INV-GRID: every Place price inside [tick, 1 - tick].

    Long 10 YES on a 0.96/0.97 book, then the tick becomes 0.1; the position ages into
    passive_unwind, times out into force_exit. Expected: the FAK sell's worst price on
    the 0.1 grid inside [0.1, 0.9]. Actual: max(tick, 0.96 - 0.05) = 0.91 rounded up to
    1.0 (quoting.exit_intent rounds toward the best without clamping to 1 - tick).
    """
    config = parse_config({"risk": {"max_position_age_s": 1, "unwind_timeout_s": 1}})
    d = Drive(config)
    d.listed("m1")
    d.book("m1", 9600, 9700)
    d.clock(5_000)
    d.fill(d.bid_of("m1"), "t1")
    d.send(TickSizeChanged(ts_ms=d.now, market="m1", token="m1-yes", tick=TickSize.TENTH))
    d.clock(2_000)  # age > 1 s: passive_unwind
    d.confirm_cancels()  # our quotes are gone: nothing but the exit will reduce
    d.clock(2_000)  # unwind > 1 s: force_exit, exit order placed
    assert any(not p.post_only for p in d.places)


def test_unwind_price_on_grid_after_coarser_tick() -> None:
    """INV-GRID: every Place price on the market's current tick grid.

    Long 10 YES bought at 0.29; the book drops to 0.16/0.17 (adverse move: passive
    unwind); the tick becomes 0.1 and the quotes' cancels are confirmed. Expected: the
    unwind ask on the 0.1 grid (0.3, say). Actual: SELL 10 @ 0.26, from
    quoting.unwind_intents' max(best ask - tick, best bid + tick) = 0.16 + 0.1.
    """
    d = Drive()
    d.listed("m1")
    d.book("m1", 2900, 3100)
    d.clock(5_000)
    d.fill(d.bid_of("m1"), "t1")
    d.book("m1", 1600, 1700)  # -45%: passive_unwind
    assert d.checker.engine.markets["m1"].position.state == "passive_unwind"
    d.confirm_cancels()
    d.send(TickSizeChanged(ts_ms=d.now, market="m1", token="m1-yes", tick=TickSize.TENTH))
    d.confirm_cancels()  # the unwind order is re-placed on the new grid
    assert d.places[-1].price % int(TickSize.TENTH) == 0


def test_trade_with_a_foreign_token_is_an_alert_not_a_fault() -> None:
    """Engine docstring: exchange anomalies become alerts, never exceptions.

    A Trade for market m1 naming m2's token. Expected: an alert, the trade ignored, the
    bot running. Actual: MarketLedger.apply raises ValueError, the Engine faults, the bot
    halts with CancelAll (safe, but one bad exchange message stops all trading).
    """
    d = Drive()
    d.listed("m1")
    d.listed("m2")
    d.book("m1", 4800, 5200)
    d.clock(5_000)
    bid = d.bid_of("m1")
    d.send(Trade(ts_ms=d.now, trade_id="junk", client_id=bid.client_id, market="m1",
                 token="m2-yes", side=bid.side, price=bid.price, size=bid.size,
                 status=TradeStatus.MATCHED))
    assert d.checker.engine.bot.state == "running"


def test_nothing_is_tolerated_any_more() -> None:
    assert frozenset() == TOLERATED
