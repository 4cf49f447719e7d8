"""The tick grid at every boundary: parsing, snapping, clamping, never crossing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mmfsm.core.ticks import (
    MONEY_SCALE,
    PRICE_SCALE,
    SIZE_SCALE,
    GridError,
    Side,
    TickSize,
    clamp_no_cross,
    clamp_to_range,
    format_money,
    format_price,
    format_size,
    is_on_grid,
    money_from_usd,
    notional,
    parse_price,
    parse_size,
    snap,
    snap_to_grid,
)

ALL_TICKS = list(TickSize)


@pytest.mark.parametrize(
    ("text", "tick"),
    [("0.1", TickSize.TENTH), ("0.01", TickSize.CENT), ("0.001", TickSize.MILLI),
     ("0.0001", TickSize.TENTH_MILLI), ("0.010", TickSize.CENT), (0.01, TickSize.CENT)],
)
def test_the_four_tick_sizes_parse(text: str | float, tick: TickSize) -> None:
    assert TickSize.parse(text) is tick


@pytest.mark.parametrize("text", ["0.005", "0.02", "1", "0", "abc", "0.00001"])
def test_other_tick_sizes_are_refused(text: str) -> None:
    with pytest.raises(GridError, match="tick size"):
        TickSize.parse(text)


def test_tick_sizes_print_as_the_exchange_writes_them() -> None:
    assert [str(t) for t in ALL_TICKS] == ["0.1", "0.01", "0.001", "0.0001"]


@pytest.mark.parametrize(
    ("text", "units"),
    [("0.5", 5000), ("0.485", 4850), ("0.4852", 4852), ("0.0001", 1), ("0.9999", 9999),
     ("1", 10_000), (0.53, 5300), ("0.530", 5300)],
)
def test_prices_parse_exactly(text: str | float, units: int) -> None:
    assert parse_price(text) == units


@pytest.mark.parametrize("text", ["0.48523", "abc", "NaN", "inf", "", "0.1e-9"])
def test_prices_finer_than_the_finest_grid_or_not_numbers_are_refused(text: str) -> None:
    with pytest.raises(GridError, match="price"):
        parse_price(text)


def test_sizes_and_money_parse_exactly() -> None:
    assert parse_size("100.5") == 100_500_000
    assert parse_size("0.000001") == 1
    with pytest.raises(GridError, match="size"):
        parse_size("0.0000001")
    assert money_from_usd("3") == 3 * MONEY_SCALE
    assert money_from_usd("0.0000000001") == 1
    assert notional(parse_price("0.53"), parse_size("10")) == 5_300_000 * PRICE_SCALE
    assert format_money(notional(5300, 10 * SIZE_SCALE)) == "5.30"


def test_formatting_round_trips() -> None:
    assert format_price(4850) == "0.485"
    assert format_price(parse_price("0.4852")) == "0.4852"
    assert format_size(parse_size("100.5")) == "100.5"


@pytest.mark.parametrize("tick", ALL_TICKS)
def test_bids_round_down_and_asks_round_up_on_every_grid(tick: TickSize) -> None:
    t = int(tick)
    inside = 5000 + t // 2 if t > 1 else 5000
    assert snap_to_grid(inside, Side.BUY, tick) == 5000
    assert snap_to_grid(inside, Side.SELL, tick) == (5000 + t if t > 1 else 5000)
    assert snap_to_grid(5000, Side.BUY, tick) == snap_to_grid(5000, Side.SELL, tick) == 5000


def test_snap_of_the_strategy_documents_example() -> None:
    # 0.48523 on a 0.001 grid: a bid becomes 0.485, an ask 0.486 (never round() both).
    assert snap(0.48523, Side.BUY, TickSize.MILLI) == 4850
    assert snap(0.48523, Side.SELL, TickSize.MILLI) == 4860
    assert snap(Decimal("0.48523"), Side.SELL, TickSize.CENT) == 4900


@pytest.mark.parametrize("tick", ALL_TICKS)
def test_clamping_into_tick_and_one_minus_tick(tick: TickSize) -> None:
    t = int(tick)
    assert clamp_to_range(0, tick) == t
    assert clamp_to_range(PRICE_SCALE, tick) == PRICE_SCALE - t
    assert snap(-3.0, Side.BUY, tick) == t
    assert snap(7.0, Side.SELL, tick) == PRICE_SCALE - t
    assert snap(0.0, Side.SELL, tick) == t


@pytest.mark.parametrize("tick", ALL_TICKS)
def test_never_cross_clamp_keeps_a_full_tick_off_the_opposite_best(tick: TickSize) -> None:
    t = int(tick)
    best_ask, best_bid = 5000, 4000
    assert clamp_no_cross(6000, Side.BUY, best_ask, tick) == best_ask - t
    assert clamp_no_cross(3000, Side.SELL, best_bid, tick) == best_bid + t
    assert clamp_no_cross(3000, Side.BUY, best_ask, tick) == 3000  # already passive
    assert clamp_no_cross(3000, Side.BUY, None, tick) == 3000


def test_no_price_exists_when_the_opposite_best_sits_at_the_edge() -> None:
    # Best ask at the lowest tick: no bid can be below it.
    assert snap(0.5, Side.BUY, TickSize.CENT, opposite_best=100) is None
    assert snap(0.5, Side.SELL, TickSize.CENT, opposite_best=9900) is None


def test_near_the_extremes_the_finer_grid_allows_prices_the_coarse_one_does_not() -> None:
    # Polymarket moves a market from 0.01 to 0.001 ticks below 0.04 / above 0.96.
    assert not is_on_grid(parse_price("0.965"), TickSize.CENT)
    assert is_on_grid(parse_price("0.965"), TickSize.MILLI)
    assert snap(0.0355, Side.BUY, TickSize.CENT) == 300
    assert snap(0.0355, Side.BUY, TickSize.MILLI) == 350
    assert snap(0.9655, Side.SELL, TickSize.CENT) == 9700
    assert snap(0.9655, Side.SELL, TickSize.MILLI) == 9660
    # And back to the coarse grid, with a best left over on the finer one.
    assert snap(0.99, Side.SELL, TickSize.CENT, opposite_best=9650) == 9900
    assert snap(0.97, Side.SELL, TickSize.CENT, opposite_best=9650) == 9800


def test_non_finite_model_prices_are_an_error_not_an_order() -> None:
    for bad in (float("nan"), float("inf"), float("-inf")):
        with pytest.raises(GridError, match="not finite"):
            snap(bad, Side.BUY, TickSize.CENT)


@given(
    value=st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6),
    side=st.sampled_from(Side),
    tick=st.sampled_from(ALL_TICKS),
    opposite=st.one_of(st.none(), st.integers(1, PRICE_SCALE - 1)),
)
def test_snapped_prices_are_on_grid_in_range_and_never_cross(
    value: float, side: Side, tick: TickSize, opposite: int | None
) -> None:
    price = snap(value, side, tick, opposite_best=opposite)
    t = int(tick)
    if price is None:
        # Only when no on-grid price a full tick off the opposite best is in range.
        assert opposite is not None
        if side is Side.BUY:
            assert snap_to_grid(opposite - t, Side.BUY, tick) < t
        else:
            assert snap_to_grid(opposite + t, Side.SELL, tick) > PRICE_SCALE - t
        return
    assert is_on_grid(price, tick)
    assert t <= price <= PRICE_SCALE - t
    if opposite is not None:
        assert price < opposite if side is Side.BUY else price > opposite
