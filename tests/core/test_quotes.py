"""Tests for the quote model: known values, skew direction, YES/NO netting, snapping."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mmfsm.core.quotes import (
    QuoteParams,
    StoikovMicroPrice,
    VolatilityEstimator,
    avellaneda_stoikov,
    compute_quotes,
    glft,
    glft_prices,
    inventory_lots,
    mark_units,
    net_delta,
    weighted_mid,
)
from mmfsm.core.ticks import PRICE_SCALE, SIZE_SCALE, Side, TickSize, is_on_grid, snap

LOT = 10 * SIZE_SCALE  # an order size of 10 shares, in size units

# --------------------------------------------------------------------------- fair price


def test_weighted_mid_known_values() -> None:
    # (4900*100 + 5000*300) / 400 = 1_990_000 / 400 = 4975 units = 0.4975: the heavy
    # bid pulls the price towards the ask.
    assert weighted_mid(4900, 300, 5000, 100) == pytest.approx(0.4975, abs=1e-15)
    assert weighted_mid(4900, 100, 5000, 300) == pytest.approx(0.4925, abs=1e-15)
    assert weighted_mid(4900, 7, 5000, 7) == pytest.approx(0.495, abs=1e-15)
    assert weighted_mid(4900, 0, 5000, 0) == pytest.approx(0.495, abs=1e-15)


def test_mark_units_floors() -> None:
    # (4900*1 + 4901*2) / 3 = 14702 / 3 = 4900.67: floor 4900, where rounding says 4901.
    assert mark_units(4900, 2, 4901, 1) == 4900
    assert mark_units(4900, 300, 5000, 100) == 4975
    assert mark_units(4900, 0, 4901, 0) == 4900  # plain mid 4900.5, floored


def test_negative_size_is_refused() -> None:
    with pytest.raises(ValueError, match="sizes"):
        weighted_mid(4900, -1, 5000, 1)
    with pytest.raises(ValueError, match="sizes"):
        mark_units(4900, 1, 5000, -1)


@given(
    bid=st.integers(1, PRICE_SCALE - 2),
    width=st.integers(1, PRICE_SCALE),
    bid_size=st.integers(0, 10**12),
    ask_size=st.integers(0, 10**12),
)
def test_mark_units_is_exact_floor_of_vwmp(
    bid: int, width: int, bid_size: int, ask_size: int
) -> None:
    ask = min(bid + width, PRICE_SCALE - 1)
    total = bid_size + ask_size
    exact = Fraction(bid * ask_size + ask * bid_size, total) if total else Fraction(bid + ask, 2)
    assert mark_units(bid, bid_size, ask, ask_size) == math.floor(exact)
    assert weighted_mid(bid, bid_size, ask, ask_size) == pytest.approx(
        float(exact / PRICE_SCALE), rel=1e-15
    )
    assert bid <= mark_units(bid, bid_size, ask, ask_size) <= ask


# --------------------------------------------------------------------------- models


def test_avellaneda_stoikov_textbook_example() -> None:
    # s=0.5, q=2, gamma=0.1, sigma=0.02, k=1.5, T-t=3600, by hand:
    # gamma sigma^2 (T-t) = 0.1 * 0.0004 * 3600 = 0.144; r = 0.5 - 2 * 0.144 = 0.212.
    # ln(1 + 0.1/1.5) = ln(16/15) = 0.0645385211375711 (series x - x^2/2 + x^3/3 ..,
    # x = 1/15); half = 0.144/2 + ln(16/15)/0.1 = 0.072 + 0.645385211375711.
    quote = avellaneda_stoikov(0.5, 2.0, 0.1, 0.02, 1.5, 3600.0)
    assert quote.reservation == pytest.approx(0.212, rel=1e-12)
    assert quote.half_spread == pytest.approx(0.717385211375711, rel=1e-12)
    assert quote.bid == pytest.approx(-0.505385211375711, rel=1e-12)
    assert quote.ask == pytest.approx(0.929385211375711, rel=1e-12)


def test_avellaneda_stoikov_polymarket_scale_example() -> None:
    # s=0.5, q=-3, gamma=5, sigma=0.0005 $/sqrt(s), k=150 /$, T-t=3600:
    # gamma sigma^2 (T-t) = 5 * 2.5e-7 * 3600 = 0.0045; r = 0.5 + 3 * 0.0045 = 0.5135.
    # ln(31/30) = 0.0327898228229908; half = 0.00225 + 0.0327898228229908/5
    # = 0.00225 + 0.00655796456459816 = 0.00880796456459816.
    quote = avellaneda_stoikov(0.5, -3.0, 5.0, 0.0005, 150.0, 3600.0)
    assert quote.reservation == pytest.approx(0.5135, rel=1e-12)
    assert quote.half_spread == pytest.approx(0.00880796456459816, rel=1e-12)
    assert quote.bid == pytest.approx(0.50469203543540184, rel=1e-12)
    assert quote.ask == pytest.approx(0.52230796456459816, rel=1e-12)


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("gamma", (0.5, 0.0, 0.0, 0.01, 1.0, 1.0)),
        ("gamma", (0.5, 0.0, math.nan, 0.01, 1.0, 1.0)),
        ("sigma", (0.5, 0.0, 0.1, -0.01, 1.0, 1.0)),
        ("k", (0.5, 0.0, 0.1, 0.01, -1.0, 1.0)),
        ("time_left_s", (0.5, 0.0, 0.1, 0.01, 1.0, -1.0)),
    ],
)
def test_avellaneda_stoikov_validates(name: str, args: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match=name):
        avellaneda_stoikov(*args)


GLFT_EXAMPLE = {"A": 2.986162360812285, "k": 0.04235741115084049, "gamma": 0.05}


def test_glft_textbook_example() -> None:
    # hftbacktest's GLFT tutorial numbers: half spread 20.4721 and skew 9.7633 ticks.
    quote = glft(**GLFT_EXAMPLE, sigma=10.69, tick=1.0, q=0.0)
    assert round(quote.half_spread, 4) == 20.4721
    assert round(quote.skew, 4) == 9.7633
    assert quote.bid_depth == quote.ask_depth == quote.half_spread


def test_glft_depths_and_tick_conversion() -> None:
    long2 = glft(**GLFT_EXAMPLE, sigma=10.69, tick=1.0, q=2.0)
    assert long2.bid_depth == pytest.approx(20.4721 + 2 * 9.7633, abs=2e-4)
    assert long2.ask_depth == pytest.approx(20.4721 - 2 * 9.7633, abs=2e-4)
    # The same volatility quoted in dollars on a 0.01 grid is 10.69 ticks.
    in_dollars = glft(**GLFT_EXAMPLE, sigma=0.1069, tick=0.01, q=2.0)
    assert in_dollars.half_spread == pytest.approx(long2.half_spread, rel=1e-12)
    bid, ask = glft_prices(in_dollars, 0.5, 0.01)
    assert bid == pytest.approx(0.5 - (20.4721 + 2 * 9.7633) * 0.01, abs=2e-6)
    assert ask == pytest.approx(0.5 + (20.4721 - 2 * 9.7633) * 0.01, abs=2e-6)


@pytest.mark.parametrize("name", ["A", "k", "gamma", "sigma", "tick", "xi"])
def test_glft_validates(name: str) -> None:
    args: dict[str, float] = {**GLFT_EXAMPLE, "sigma": 1.0, "tick": 1.0, "q": 0.0, "xi": 0.1}
    args[name] = -1.0
    with pytest.raises(ValueError, match=name):
        glft(**args)


# --------------------------------------------------------------------------- skew, netting

AS_PARAMS = QuoteParams(model="avellaneda-stoikov", gamma=5.0, k=150.0, horizon_s=3600.0)
GLFT_PARAMS = QuoteParams(model="glft", gamma=0.05, glft_a=1.0, glft_k=0.5)
BOTH = pytest.mark.parametrize("params", [AS_PARAMS, GLFT_PARAMS], ids=["as", "glft"])


def _quotes(params: QuoteParams, q: float) -> tuple[float, float, float]:
    quotes = compute_quotes(params, 0.5, 0.0005, q, None, 0.01)
    return quotes.bid, quotes.ask, quotes.reservation


@BOTH
def test_skew_direction(params: QuoteParams) -> None:
    flat_bid, flat_ask, flat_r = _quotes(params, 0.0)
    assert flat_r == 0.5
    assert flat_ask - 0.5 == pytest.approx(0.5 - flat_bid, rel=1e-12)
    long_bid, long_ask, long_r = _quotes(params, 3.0)
    assert long_r < 0.5
    assert long_bid < flat_bid
    assert long_ask < flat_ask
    short_bid, short_ask, short_r = _quotes(params, -3.0)
    assert short_r > 0.5
    assert short_bid > flat_bid
    assert short_ask > flat_ask


def test_net_delta_nets_no_against_yes() -> None:
    assert net_delta(10 * LOT, 10 * LOT) == 0
    assert net_delta(0, 10 * LOT) == -10 * LOT
    assert inventory_lots(0, 10 * LOT, LOT) == -10.0
    with pytest.raises(ValueError, match="order_size_units"):
        inventory_lots(1, 0, 0)


@BOTH
def test_hedged_yes_no_quotes_like_flat(params: QuoteParams) -> None:
    hedged = inventory_lots(10 * LOT, 10 * LOT, LOT)
    assert _quotes(params, hedged) == _quotes(params, 0.0)
    only_no = inventory_lots(0, 10 * LOT, LOT)
    assert _quotes(params, only_no) == _quotes(params, -10.0)
    assert _quotes(params, only_no)[2] > 0.5  # short YES: reservation moves up


def test_horizon_is_capped_by_time_left_and_half_spread_floored() -> None:
    rolling = compute_quotes(AS_PARAMS, 0.5, 0.0005, 3.0, None, 0.01)
    late = compute_quotes(AS_PARAMS, 0.5, 0.0005, 3.0, 60.0, 0.01)
    far = compute_quotes(AS_PARAMS, 0.5, 0.0005, 3.0, 1e9, 0.01)
    assert far == rolling
    assert rolling.reservation < late.reservation < 0.5
    wide = QuoteParams(min_half_spread=0.05)
    assert compute_quotes(wide, 0.5, 0.0005, 0.0, None, 0.01).half_spread == 0.05


# --------------------------------------------------------------------------- snapping


def _grid_prices(tick: TickSize, lo: int = 1) -> st.SearchStrategy[int]:
    n = PRICE_SCALE // int(tick)
    return st.integers(lo, n - 1).map(lambda i: i * int(tick))


def _valid_exists(side: Side, tick: TickSize, opposite_best: int | None) -> bool:
    t = int(tick)
    grid = range(t, PRICE_SCALE - t + 1, t)
    if opposite_best is None:
        return True
    if side is Side.BUY:
        return any(p < opposite_best for p in grid)
    return any(p > opposite_best for p in grid)


def _assert_sendable(price: int, side: Side, tick: TickSize, opposite_best: int | None) -> None:
    t = int(tick)
    assert is_on_grid(price, tick)
    assert t <= price <= PRICE_SCALE - t
    if opposite_best is not None:
        assert price < opposite_best if side is Side.BUY else price > opposite_best


ANY_FLOAT = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(
    [0.0, -0.0, 5e-324, -5e-324, 1e-9, 1.0, 1e308, -1e308, 0.99995, 0.00005]
)


@given(value=ANY_FLOAT, side=st.sampled_from(Side), tick=st.sampled_from(TickSize), data=st.data())
def test_snap_any_float_any_grid(
    value: float, side: Side, tick: TickSize, data: st.DataObject
) -> None:
    # The opposite best of a real book is on the grid; 0 and 1 cover a one-sided book
    # stuck at the edge, where no price exists for us.
    opposite = data.draw(st.none() | _grid_prices(tick, lo=0) | st.just(PRICE_SCALE))
    price = snap(value, side, tick, opposite_best=opposite)
    if price is None:
        assert not _valid_exists(side, tick, opposite)
    else:
        _assert_sendable(price, side, tick, opposite)


@given(value=ANY_FLOAT, side=st.sampled_from(Side), tick=st.sampled_from(TickSize), data=st.data())
def test_snap_never_crosses_off_grid_best(
    value: float, side: Side, tick: TickSize, data: st.DataObject
) -> None:
    # Right after a tick size change the book may still hold levels of the old grid.
    opposite = data.draw(st.integers(0, PRICE_SCALE))
    t = int(tick)
    price = snap(value, side, tick, opposite_best=opposite)
    if price is None:  # snap keeps a full tick away from an off-grid best
        assert opposite - t < t if side is Side.BUY else opposite + t > PRICE_SCALE - t
    else:
        assert t <= price <= PRICE_SCALE - t
        assert price < opposite if side is Side.BUY else price > opposite


def test_snap_stays_on_grid_with_off_grid_best() -> None:
    # Best ask 0.025 on a 0.01 grid (left over from 0.001 ticks): a bid must be on the
    # grid and a full tick below the best ask, so 0.01 (0.015 was the old bug).
    bid = snap(0.5, Side.BUY, TickSize.CENT, opposite_best=250)
    assert bid == 100
    ask = snap(0.01, Side.SELL, TickSize.CENT, opposite_best=250)
    assert ask == 400


QUOTE_PARAMS = st.builds(
    QuoteParams,
    model=st.sampled_from(["avellaneda-stoikov", "glft"]),
    gamma=st.floats(0.01, 50),
    k=st.floats(1, 1000),
    horizon_s=st.floats(1, 86_400),
    glft_a=st.floats(0.1, 10),
    glft_k=st.floats(0.01, 5),
    min_half_spread=st.floats(1e-4, 0.05),
)


@given(
    params=QUOTE_PARAMS,
    mid=st.floats(0.01, 0.99),
    sigma=st.floats(0, 0.01),
    q=st.floats(-50, 50),
    time_left=st.none() | st.floats(-10, 1e7),
    tick=st.sampled_from(TickSize),
    data=st.data(),
)
def test_model_quotes_snap_to_sendable_uncrossed_prices(
    params: QuoteParams,
    mid: float,
    sigma: float,
    q: float,
    time_left: float | None,
    tick: TickSize,
    data: st.DataObject,
) -> None:
    quotes = compute_quotes(params, mid, sigma, q, time_left, int(tick) / PRICE_SCALE)
    assert quotes.bid < quotes.ask
    assert quotes.half_spread >= params.min_half_spread
    best_bid, best_ask = sorted(data.draw(st.sets(_grid_prices(tick), min_size=2, max_size=2)))
    bid = snap(quotes.bid, Side.BUY, tick, opposite_best=best_ask)
    ask = snap(quotes.ask, Side.SELL, tick, opposite_best=best_bid)
    assert (bid is None) == (not _valid_exists(Side.BUY, tick, best_ask))
    assert (ask is None) == (not _valid_exists(Side.SELL, tick, best_bid))
    if bid is not None:
        _assert_sendable(bid, Side.BUY, tick, best_ask)
    if ask is not None:
        _assert_sendable(ask, Side.SELL, tick, best_bid)
    if bid is not None and ask is not None:
        assert bid < ask


# --------------------------------------------------------------------------- volatility


def test_volatility_prior_then_floor_on_constant_price() -> None:
    est = VolatilityEstimator(half_life_s=60.0, floor=1e-5, prior=3e-3, min_samples=5)
    est.update(0, 0.5)
    for i in range(1, 5):
        est.update(i * 1000, 0.5)
        assert est.sigma == 3e-3  # not enough samples: the prior
    for i in range(5, 200):
        est.update(i * 1000, 0.5)
    assert est.sigma == 1e-5


def test_volatility_fixed_step_walk_is_exact() -> None:
    # +-0.01 every 2 s: variance rate 0.0001 / 2, sigma 0.01 / sqrt(2) = 0.00707107.
    rng = random.Random(1)
    est = VolatilityEstimator(half_life_s=30.0, floor=1e-6, min_samples=10)
    price = 0.5
    for i in range(500):
        est.update(i * 2000, price)
        price += rng.choice([-0.01, 0.01])
    assert est.sigma == pytest.approx(0.00707107, rel=1e-5)


def test_volatility_gaussian_walk_irregular_intervals() -> None:
    # Brownian motion with sigma 0.002 $/sqrt(s) sampled at random gaps of 0.1-5 s.
    rng = random.Random(2)
    est = VolatilityEstimator(half_life_s=600.0, floor=1e-6, min_samples=10)
    ts, price = 0, 0.5
    for _ in range(5000):
        est.update(ts, price)
        gap_ms = rng.randint(100, 5000)
        ts += gap_ms
        price += rng.gauss(0.0, 0.002 * math.sqrt(gap_ms / 1000))
    assert est.sigma == pytest.approx(0.002, rel=0.15)


def test_volatility_ignores_out_of_order_and_non_finite() -> None:
    clean = VolatilityEstimator(min_samples=1)
    noisy = VolatilityEstimator(min_samples=1)
    for est in (clean, noisy):
        est.update(1000, 0.50)
        est.update(2000, 0.51)
    noisy.update(1500, 0.90)  # older than the last update
    noisy.update(2000, 0.90)  # same timestamp
    noisy.update(3000, math.nan)
    for est in (clean, noisy):
        est.update(3000, 0.52)
    assert noisy.samples == clean.samples == 2
    assert noisy.sigma == clean.sigma == pytest.approx(0.01, rel=1e-9)


@given(
    st.lists(
        st.tuples(st.integers(-(10**6), 10**9), st.floats(allow_nan=True, allow_infinity=True)),
        max_size=50,
    )
)
def test_volatility_sigma_never_negative_or_nan(updates: list[tuple[int, float]]) -> None:
    est = VolatilityEstimator(floor=1e-5, min_samples=2)
    for ts, price in updates:
        est.update(ts, price)
        assert math.isfinite(est.sigma)
        assert est.sigma >= 1e-5


# --------------------------------------------------------------------------- Stoikov

HIGH, LOW, FLAT = (900, 100), (100, 900), (500, 500)
TICK = 10  # 0.001


def _stream(seed: int, steps: int) -> Iterator[tuple[int, int, int, int, int]]:
    """High bid imbalance is always followed by an up-tick of the mid, low by a down-tick,
    balanced by either; the spread stays 4 ticks. Several updates per mid, as a book does."""
    rng = random.Random(seed)
    bid, ask = 5000 - 2 * TICK, 5000 + 2 * TICK
    for _ in range(steps):
        sizes = rng.choice([HIGH, LOW, FLAT])
        for _ in range(rng.randint(1, 3)):
            yield bid, sizes[0], ask, sizes[1], TICK
        move = {HIGH: 1, LOW: -1, FLAT: rng.choice([-1, 1])}[sizes]
        bid, ask = bid + move * TICK, ask + move * TICK


def test_stoikov_learns_that_bid_imbalance_predicts_up_ticks() -> None:
    est = StoikovMicroPrice(imbalance_buckets=5, max_spread_ticks=4, horizon_changes=3)
    for top in _stream(3, 3000):
        est.update(*top)
    mid = 0.5
    high = est.price(4980, 900, 5020, 100, TICK)
    low = est.price(4980, 100, 5020, 900, TICK)
    flat = est.price(4980, 500, 5020, 500, TICK)
    assert high > mid > low
    # The first change is +1 tick for sure, the next two are mean zero.
    assert high - mid == pytest.approx(0.001, abs=0.0003)
    assert abs(flat - mid) < 0.0003
    assert low >= 0.498  # never outside the spread
    assert high <= 0.502


def test_stoikov_one_change_horizon_is_exact_and_symmetric() -> None:
    est = StoikovMicroPrice(imbalance_buckets=5, max_spread_ticks=4, horizon_changes=1)
    for top in _stream(4, 500):
        est.update(*top)
    assert est.adjustment_ticks(4, 4) == 1.0  # 900/1000 -> bucket 4, always +1
    assert est.adjustment_ticks(0, 4) == -1.0
    assert est.adjustment_ticks(3, 4) is None  # never seen


def test_stoikov_falls_back_to_vwmp_until_enough_samples() -> None:
    est = StoikovMicroPrice(min_samples=1000)
    for top in _stream(5, 100):
        est.update(*top)
    assert est.price(4980, 900, 5020, 100, TICK) == weighted_mid(4980, 900, 5020, 100)
    # A crossed top is neither learned from nor trusted.
    assert est.price(5020, 900, 4980, 100, TICK) == weighted_mid(5020, 900, 4980, 100)


def test_stoikov_is_deterministic() -> None:
    a, b = StoikovMicroPrice(min_samples=5), StoikovMicroPrice(min_samples=5)
    for top in _stream(6, 400):
        a.update(*top)
        b.update(*top)
    tops = [(4980, s[0], 5020, s[1], TICK) for s in (HIGH, LOW, FLAT)]
    assert [a.price(*t) for t in tops] == [b.price(*t) for t in tops]


def _see_saw(cycles: int, spread: int) -> Iterator[tuple[int, int, int, int, int]]:
    """High imbalance at m, the mid ticks up, a balanced book there, the mid ticks back."""
    bid = 5000 - spread * TICK
    for _ in range(cycles):
        yield bid, HIGH[0], bid + spread * TICK, HIGH[1], TICK
        yield bid + TICK, FLAT[0], bid + (spread + 1) * TICK, FLAT[1], TICK


@pytest.mark.parametrize(("horizon", "expected"), [(1, 1.0), (2, 0.0), (3, 1.0)])
def test_stoikov_horizon_sums_the_next_changes(horizon: int, expected: float) -> None:
    # After high imbalance the mid goes +1 then -1 then +1 ...: G_h is their sum.
    est = StoikovMicroPrice(max_spread_ticks=4, horizon_changes=horizon, min_samples=10)
    for top in _see_saw(50, 2):
        est.update(*top)
    assert est.adjustment_ticks(4, 2) == pytest.approx(expected, abs=1e-12)


def test_stoikov_price_stays_inside_the_spread() -> None:
    # One-tick spread: G = +1 tick would put the price above the ask; it is clamped.
    est = StoikovMicroPrice(max_spread_ticks=4, horizon_changes=1, min_samples=10)
    for top in _see_saw(50, 1):
        est.update(*top)
    assert est.adjustment_ticks(4, 1) == 1.0
    assert est.price(4990, HIGH[0], 5000, HIGH[1], TICK) == 0.5
