"""The Engine's fast paths decide exactly what the plain paths decide.

Each shortcut of the hot path (a quiet market skipped until something changes or a time
rule is due, snapshot sides checked in one loop, integer log formatting, the quote model
without its result objects) is run against the plain computation on generated inputs,
and the two must agree field for field: a shortcut that changed one decision would be a
different strategy, not a faster one.
"""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mmfsm.core import ticks
from mmfsm.core.book import Book, BookError
from mmfsm.core.commands import Cancel, Command, Place
from mmfsm.core.config import default_config, parse_config
from mmfsm.core.engine import Engine, Step
from mmfsm.core.events import (
    BookSnapshot,
    ClockTick,
    Event,
    MarketListed,
    OperatorHalt,
    OperatorResume,
    OrderAcked,
    OrderCancelled,
    OrderRejected,
    PriceChange,
    RejectReason,
    TickSizeChanged,
    Trade,
    TradeStatus,
)
from mmfsm.core.market_state import MarketState
from mmfsm.core.quotes import QuoteParams, compute_quotes, quote_bid_ask
from mmfsm.core.ticks import SIZE_SCALE, Side, TickSize

# ------------------------------------------------------------------ formatting


def _money_reference(money: int) -> str:
    value = Decimal(money) / ticks.MONEY_SCALE
    cents = value.quantize(Decimal("0.01"))
    if cents == value:
        return f"{cents}"
    return format(value.normalize(), "f")


_UNITS = st.one_of(
    st.integers(-(10**21), 10**21),
    st.integers(-(10**12), 10**12).map(lambda v: v * 10**8),
    st.sampled_from([0, 1, -1, 10**20 - 1, -(10**20) + 1, 10**20, 100, 4900]),
)


@given(_UNITS)
def test_integer_formatting_is_the_decimal_formatting(units: int) -> None:
    assert ticks.format_price(units) == ticks._decimal_format(units, ticks.PRICE_SCALE)
    assert ticks.format_size(units) == ticks._decimal_format(units, ticks.SIZE_SCALE)
    assert ticks.format_money(units) == _money_reference(units)


# ------------------------------------------------------------------ quote model


@given(
    mid=st.floats(-2, 2),
    sigma=st.floats(0, 0.1),
    q=st.floats(-20, 20),
    time_left=st.one_of(st.none(), st.floats(-100, 10_000)),
    tick=st.sampled_from([0.1, 0.01, 0.001, 0.0001]),
    gamma=st.floats(0.01, 50),
    k=st.floats(0.1, 1000),
)
def test_quote_bid_ask_is_compute_quotes(
    mid: float, sigma: float, q: float, time_left: float | None, tick: float, gamma: float,
    k: float,
) -> None:
    params = QuoteParams(gamma=gamma, k=k, horizon_s=60.0, min_half_spread=0.005)
    full = compute_quotes(params, mid, sigma, q, time_left, tick)
    assert quote_bid_ask(params, mid, sigma, q, time_left, tick) == (full.bid, full.ask)


def test_quote_bid_ask_refuses_what_compute_quotes_refuses() -> None:
    params = QuoteParams()
    for args in ((float("nan"), 0.01, 0.0, None, 0.01), (0.5, -1.0, 0.0, None, 0.01),
                 (0.5, 0.01, 0.0, float("inf"), 0.01)):
        with pytest.raises(ValueError, match="must be") as plain:
            compute_quotes(params, *args)
        with pytest.raises(ValueError, match="must be") as fast:
            quote_bid_ask(params, *args)
        assert str(fast.value) == str(plain.value)


# ------------------------------------------------------------------ snapshot check


_LEVEL_VALUE = st.one_of(
    st.integers(-5, 10_005),
    st.sampled_from([True, 0.5, 4900.0, "0.49", None]),
)


@given(
    levels=st.lists(st.tuples(_LEVEL_VALUE, _LEVEL_VALUE), max_size=6),
    tick=st.sampled_from(list(TickSize)),
)
def test_snapshot_fast_check_accepts_and_refuses_as_the_full_check(
    levels: list[tuple[object, object]], tick: TickSize
) -> None:
    fast, plain = Book("m", "t", tick), Book("m", "t", tick)
    asks = ((9_999, 10),)
    outcome = []
    for book in (fast, plain):
        try:
            if book is fast:
                book.apply_snapshot(tuple(levels), asks, 1)  # type: ignore[arg-type]
            else:
                side = book._validated_side("bids", levels)  # type: ignore[arg-type]
                book.apply_snapshot(tuple(side.items()), asks, 1)
            outcome.append(("ok", book.bids, book.best_bid, book.best_bid_size))
        except (BookError, ValueError, TypeError) as exc:
            outcome.append(("refused", type(exc).__name__, str(exc)))
    assert outcome[0] == outcome[1]


# ------------------------------------------------------------------ quiet markets


class _ReferenceEngine(Engine):
    """An Engine that never finds a market quiet: every market judged and quoted.

    A subclass, not a patched instance, so the compiled core runs it too.
    """

    def _quiet_until(self, ms: MarketState) -> int:
        return 0


def _reference_engine(config: object) -> Engine:
    return _ReferenceEngine(config)  # type: ignore[arg-type]


class _World:
    """Random events for two markets, and a venue that answers the reference's orders."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.ts = 1_790_000_000_000
        self.trade_seq = 0
        self.open: dict[str, Place] = {}
        self.mid = {"m0": 5000, "m1": 3000}

    def listing(self) -> list[Event]:
        return [
            MarketListed(ts_ms=self.ts, market=m, yes_token=f"{m}-y", no_token=f"{m}-n",
                         tick=TickSize.CENT, min_size=5 * SIZE_SCALE,
                         end_ms=self.ts + 900_000 if m == "m1" else None)
            for m in ("m0", "m1")
        ]

    def answers(self, commands: tuple[Command, ...]) -> list[Event]:
        out: list[Event] = []
        for cmd in commands:
            if isinstance(cmd, Place):
                self.open[cmd.client_id] = cmd
                roll = self.rng.random()
                if roll < 0.05:
                    out.append(OrderRejected(ts_ms=self.ts, client_id=cmd.client_id,
                                             reason=RejectReason.POST_ONLY))
                elif roll < 0.9:
                    out.append(OrderAcked(ts_ms=self.ts, client_id=cmd.client_id))
            elif isinstance(cmd, Cancel) and self.rng.random() < 0.8:
                self.open.pop(cmd.client_id, None)
                out.append(OrderCancelled(ts_ms=self.ts, client_id=cmd.client_id,
                                          size_matched=0))
        return out

    def next_event(self) -> Event:
        rng = self.rng
        self.ts += rng.choice((1, 5, 50, 400, 1_000, 3_000, 20_000, 400_000))
        m = rng.choice(("m0", "m1"))
        roll = rng.random()
        if roll < 0.25:
            return ClockTick(ts_ms=self.ts)
        if roll < 0.3 and self.open:
            cid = rng.choice(sorted(self.open))
            place = self.open[cid]
            self.trade_seq += 1
            return Trade(ts_ms=self.ts, trade_id=f"t{self.trade_seq}", client_id=cid,
                         market=place.market, token=place.token, side=place.side,
                         price=place.price, size=min(place.size, 5 * SIZE_SCALE),
                         status=rng.choice((TradeStatus.MATCHED, TradeStatus.FAILED)))
        if roll < 0.31:
            return TickSizeChanged(ts_ms=self.ts, market=m, token=f"{m}-y",
                                   tick=rng.choice((TickSize.CENT, TickSize.MILLI)))
        if roll < 0.32:
            return OperatorHalt(ts_ms=self.ts, reason="test", market=rng.choice((None, m)))
        if roll < 0.34:
            return OperatorResume(ts_ms=self.ts, ack="ok", market=rng.choice((None, m)))
        self.mid[m] = min(9_000, max(1_000, self.mid[m] + rng.choice((-200, -100, 0, 100, 200))))
        mid = self.mid[m]
        half = rng.choice((100, 100, 200, 500))
        token = f"{m}-y" if rng.random() < 0.9 else f"{m}-n"
        if roll < 0.5:
            side = rng.choice((Side.BUY, Side.SELL))
            price = mid - half if side is Side.BUY else mid + half
            return PriceChange(ts_ms=self.ts, market=m, token=token,
                               changes=((side, price, rng.choice((0, 50, 200)) * SIZE_SCALE),))
        bids = tuple((mid - half - 100 * i, rng.choice((50, 200)) * SIZE_SCALE) for i in range(4))
        asks = tuple((mid + half + 100 * i, rng.choice((50, 200)) * SIZE_SCALE) for i in range(4))
        return BookSnapshot(ts_ms=self.ts, market=m, token=token, bids=bids, asks=asks)


_CONFIGS = (
    default_config(),
    parse_config({"risk": {"max_position_age_s": 30, "unwind_timeout_s": 20,
                           "max_position_loss_usd": 1, "book_stale_s": 5}}),
    # Less capital than the two markets' limits: the capital cuts quotes (INV-CAPITAL),
    # and a market's room moves with the other market's orders.
    parse_config({"strategy": {"capital_usd": 30, "max_market_exposure_usd": 20}}),
)


@given(seed=st.integers(0, 2**32), which=st.sampled_from(range(len(_CONFIGS))))
def test_quiet_markets_are_skipped_without_changing_a_decision(seed: int, which: int) -> None:
    config = _CONFIGS[which]
    fast, plain = Engine(config), _reference_engine(config)
    world = _World(seed)
    pending: list[Event] = world.listing()
    for _ in range(400):
        event = pending.pop(0) if pending else world.next_event()
        a: Step = fast.step(event)
        b: Step = plain.step(event)
        assert a == b, event
        assert fast._deadlines == plain._deadlines, event
        pending.extend(world.answers(b.commands))
    assert fast.actions == plain.actions
    assert fast.daily_pnl() == plain.daily_pnl()


# ------------------------------------------------------------------ snap


def _snap_reference(value: float, side: Side, tick: TickSize, opposite: int | None) -> int | None:
    """``ticks.snap`` as the composition of the grid functions it writes out."""
    t = int(tick)
    scaled = value * ticks.PRICE_SCALE
    if abs(scaled) > 1e12:
        scaled = 1e12 if scaled > 0 else -1e12
    nearest = round(scaled)
    if abs(scaled - nearest) <= 1e-6:
        units = nearest
    else:
        units = int(scaled // 1) if side is Side.BUY else -int((-scaled) // 1)
    price = ticks.clamp_to_range(ticks.snap_to_grid(units, side, tick), tick)
    price = ticks.clamp_no_cross(price, side, opposite, tick)
    return None if price < t or price > ticks.PRICE_SCALE - t else price


@given(
    value=st.floats(-2, 2),
    side=st.sampled_from(list(Side)),
    tick=st.sampled_from(list(TickSize)),
    opposite=st.one_of(st.none(), st.integers(-50, 10_050)),
)
def test_snap_is_the_composition_of_the_grid_functions(
    value: float, side: Side, tick: TickSize, opposite: int | None
) -> None:
    assert ticks.snap(value, side, tick, opposite_best=opposite) == _snap_reference(
        value, side, tick, opposite
    )


_NEAR_UNITS = [
    units / ticks.PRICE_SCALE + offset
    for units in (0, 1, 99, 100, 4849, 4850, 5000, 9900, 9999, 10_000)
    for offset in (0.0, 1e-11, -1e-11, 0.99e-10, -0.99e-10, 1.01e-10, -1.01e-10, 0.5e-4)
] + [0.485, 0.1 + 0.2, -1e-17, -0.3, -1.5, 1e9, -1e9, 2e8 + 0.5e-4]


@pytest.mark.parametrize("value", _NEAR_UNITS)
@pytest.mark.parametrize("side", list(Side))
@pytest.mark.parametrize("tick", list(TickSize))
def test_snap_agrees_with_the_grid_functions_at_the_edges_of_a_unit(
    value: float, side: Side, tick: TickSize
) -> None:
    """``snap`` finds the nearest unit from the floor and the fraction, not ``round``:
    values a hair inside and outside 1e-6 of a unit, ties, negatives and the 1e12 clamp
    must come out as the rounding composition gives them."""
    for opposite in (None, 5_000, 100):
        assert ticks.snap(value, side, tick, opposite_best=opposite) == _snap_reference(
            value, side, tick, opposite
        )
