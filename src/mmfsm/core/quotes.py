"""The quote model: where a price is, how far to quote around it, how much to skew.

Theory of operation
-------------------
This module is pure arithmetic: no I/O, no clock, no randomness; stdlib ``math`` and
``attrs`` only. Everything in it is a float in dollars (or in ticks, where a name says so)
except the inputs taken straight from the book, which are the core's exact integers
(prices in ``1 / PRICE_SCALE``, sizes in micro-shares). Its outputs never go to the
exchange as they are: ``ticks.snap`` rounds a bid down and an ask up onto the market's
grid, clamps into ``[tick, 1 - tick]`` and keeps each side off the opposite best. A wild
model output can therefore make us quote badly, but never off the grid or across the book.

The pieces, from the book to a pair of quotes:

1. *Fair price.* ``weighted_mid`` is the strategy document's volume-weighted micro-price:
   the mid weighted by the opposite side's size, so a heavy bid pulls the price towards
   the ask (the side about to be consumed). ``mark_units`` is the same number floored in
   integer price units, for exact P&L marking. ``StoikovMicroPrice`` optionally replaces
   it with a learned adjustment (Stoikov, "The micro-price", 2018; details on the class).
2. *Volatility.* ``VolatilityEstimator`` measures sigma of that price in dollars per
   sqrt(second), in event time, with a floor so a quiet book never reads as riskless.
3. *Spread and skew.* ``avellaneda_stoikov`` (finite horizon) or ``glft`` (the
   Gueant-Lehalle-Fernandez-Tapia infinite-horizon closed form) turn fair price, sigma
   and inventory into a reservation price and a half spread.
4. *Inventory.* The inventory ``q`` the models skew on is the market's *binary net
   delta*: YES shares minus NO shares (``net_delta``), in order-size lots. Buying NO at p
   is selling YES at 1 - p, so 10 YES and 10 NO is flat (it pays exactly 10 whatever
   happens) and 10 NO alone is short 10 YES. Skewing YES and NO separately would
   double-count a hedged book.

``compute_quotes`` wires 3 and 4 together under a ``QuoteParams`` config.
"""

from __future__ import annotations

import math
from collections import deque

from attrs import frozen
from mypy_extensions import mypyc_attr

# QuoteParams lives in its own, interpreted module: its validated attrs fields are not
# something the compiled core can hold (see setup.py). Re-exported here, where it was
# first defined, so Engine snapshots pickled before the move still load.
from mmfsm.core.quote_params import QuoteModel, QuoteParams
from mmfsm.core.ticks import PRICE_SCALE

__all__ = [
    "ASQuote",
    "GLFTQuote",
    "QuoteModel",
    "QuoteParams",
    "Quotes",
    "StoikovMicroPrice",
    "VolatilityEstimator",
    "avellaneda_stoikov",
    "compute_quotes",
    "glft",
    "glft_prices",
    "inventory_lots",
    "mark_units",
    "net_delta",
    "quote_bid_ask",
    "weighted_mid",
]


def _positive(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")


def _non_negative(name: str, value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be finite and >= 0, got {value!r}")


def _finite(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")


# --------------------------------------------------------------------------- fair price


def _check_sizes(bid_size: int, ask_size: int) -> None:
    if bid_size < 0 or ask_size < 0:
        raise ValueError(f"sizes must be >= 0, got bid {bid_size}, ask {ask_size}")


def weighted_mid(bid: int, bid_size: int, ask: int, ask_size: int) -> float:
    """The VWMP in dollars: (bid * ask_size + ask * bid_size) / (bid_size + ask_size).

    Weighting by the *opposite* size is deliberate: a thick bid and a thin ask mean the
    ask is the level likely to trade through next, so the fair price sits near it. With
    both sizes zero there is no information beyond the plain mid, which is returned. The
    numerator is an exact int, so the only rounding is the final division.
    """
    if bid_size < 0 or ask_size < 0:  # ``_check_sizes``, without the call: every pass
        _check_sizes(bid_size, ask_size)
    total = bid_size + ask_size
    if total == 0:
        return (bid + ask) / (2 * PRICE_SCALE)
    return (bid * ask_size + ask * bid_size) / (total * PRICE_SCALE)


def mark_units(bid: int, bid_size: int, ask: int, ask_size: int) -> int:
    """``weighted_mid`` in price units, floored with integer arithmetic only.

    P&L marks must be reproducible bit for bit across machines and replays; a float
    detour could land a hair either side of an integer and flip the floor.
    """
    if bid_size < 0 or ask_size < 0:  # as in ``weighted_mid``
        _check_sizes(bid_size, ask_size)
    total = bid_size + ask_size
    if total == 0:
        return (bid + ask) // 2
    return (bid * ask_size + ask * bid_size) // total


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
class _Mean:
    """A running mean that turns into an exponential average after ``cap`` samples.

    Exact sample mean while young; afterwards each new sample weighs 1/cap, so an old
    regime fades instead of anchoring the estimate for ever.
    """

    def __init__(self) -> None:
        self.mean = 0.0
        self.n = 0

    def add(self, value: float, count: int, cap: int) -> None:
        n_new = min(self.n + count, cap)
        weight = min(1.0, count / n_new)
        self.mean += (value - self.mean) * weight
        self.n = n_new


_State = tuple[int, int]  # (imbalance bucket, spread in ticks)
_Pending = tuple[int, int, int, int]  # (bucket, spread ticks, tick units, sign)


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
class _Window:
    """Observations taken while the mid stood at one value, waiting for their outcome."""

    def __init__(self, mid2: int) -> None:
        self.mid2 = mid2
        self.age = 0
        self.counts: dict[_Pending, int] = {}


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
class StoikovMicroPrice:
    """An online estimate of Stoikov's micro-price, mid + G(imbalance, spread).

    After Stoikov, "The micro-price: a high-frequency estimator of future prices", 2018.
    The paper defines the state X = (imbalance I, spread S in ticks), the k-th order
    adjustment g_k(x) = E[M_{tau_k} - M_{tau_(k-1)} | X = x] (tau_k the k-th change of the
    mid after now) and the micro-price M + G*(x), G* = sum_k g_k, computed as the fixed
    point of the Markov transition matrices estimated from data.

    What this class does instead, a practical online approximation:

    * I = bid_size / (bid_size + ask_size) goes into ``imbalance_buckets`` equal buckets;
      S = ceil(spread / tick) is clipped to ``[1, max_spread_ticks]``.
    * Every valid top (ask > bid, some size) is one observation of its state. It waits
      until the mid has changed ``horizon_changes`` times, then the total mid change over
      those changes, in ticks of the grid at observation time, is added to the state's
      running average. That is a direct Monte Carlo estimate of G_h = g_1 + ... + g_h,
      the paper's series truncated at h: no matrices, no fixed-point iteration; h = 1 is
      exactly the paper's first-order g_1. The truncation is the approximation.
    * As in the paper, the data are symmetrised: each observation also counts, with the
      sizes swapped and the outcome negated, for the mirrored state, so G(1 - I) = -G(I)
      and a trending sample does not teach a drift.
    * Running averages become exponential after ``max_weight`` samples (see ``_Mean``).
    * ``price`` returns mid + G once the state has ``min_samples`` outcomes, else the
      VWMP; the result is clamped into [bid, ask], which the theory guarantees anyway and
      which a noisy bucket must not be allowed to break.

    Observations are per book update (event time), not per fixed clock interval as in
    the paper, so a state the book lingers in weighs more. Memory is bounded: at most
    buckets x spreads averages and ``horizon_changes`` windows of pending counts.
    """

    def __init__(
        self,
        *,
        imbalance_buckets: int = 5,
        max_spread_ticks: int = 3,
        horizon_changes: int = 3,
        min_samples: int = 50,
        max_weight: int = 10_000,
    ) -> None:
        for name, value in (
            ("imbalance_buckets", imbalance_buckets),
            ("max_spread_ticks", max_spread_ticks),
            ("horizon_changes", horizon_changes),
            ("min_samples", min_samples),
        ):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if max_weight < min_samples:
            raise ValueError(f"max_weight must be >= min_samples, got {max_weight}")
        self._buckets = imbalance_buckets
        self._max_spread = max_spread_ticks
        self._horizon = horizon_changes
        self._min_samples = min_samples
        self._max_weight = max_weight
        self._stats: dict[_State, _Mean] = {}
        self._windows: deque[_Window] = deque()

    def _bucket(self, bid_size: int, ask_size: int) -> int:
        return min(bid_size * self._buckets // (bid_size + ask_size), self._buckets - 1)

    def _state(self, bid: int, bid_size: int, ask: int, ask_size: int, tick: int) -> _State:
        spread = -((bid - ask) // tick)
        return self._bucket(bid_size, ask_size), min(max(spread, 1), self._max_spread)

    @staticmethod
    def _valid(bid: int, bid_size: int, ask: int, ask_size: int, tick: int) -> bool:
        return (
            ask > bid and bid_size >= 0 and ask_size >= 0 and bid_size + ask_size > 0 and tick > 0
        )

    def update(
        self, top_bid: int, bid_size: int, top_ask: int, ask_size: int, tick_units: int
    ) -> None:
        """Feed one top of book; invalid or crossed tops are ignored, not learned from."""
        if not self._valid(top_bid, bid_size, top_ask, ask_size, tick_units):
            return
        mid2 = top_bid + top_ask
        if not self._windows or self._windows[-1].mid2 != mid2:
            if self._windows:
                self._on_mid_change(mid2)
            self._windows.append(_Window(mid2))
        bucket, spread = self._state(top_bid, bid_size, top_ask, ask_size, tick_units)
        counts = self._windows[-1].counts
        for key in (
            (bucket, spread, tick_units, 1),
            (self._bucket(ask_size, bid_size), spread, tick_units, -1),
        ):
            counts[key] = counts.get(key, 0) + 1

    def _on_mid_change(self, mid2: int) -> None:
        for window in self._windows:
            window.age += 1
        while self._windows and self._windows[0].age >= self._horizon:
            window = self._windows.popleft()
            change_units = (mid2 - window.mid2) / 2
            for (bucket, spread, tick, sign), count in window.counts.items():
                stat = self._stats.setdefault((bucket, spread), _Mean())
                stat.add(sign * change_units / tick, count, self._max_weight)

    def adjustment_ticks(self, bucket: int, spread_ticks: int) -> float | None:
        """G for a state in ticks, or None while it has fewer than ``min_samples``."""
        stat = self._stats.get((bucket, spread_ticks))
        if stat is None or stat.n < self._min_samples:
            return None
        return stat.mean

    def price(
        self, top_bid: int, bid_size: int, top_ask: int, ask_size: int, tick_units: int
    ) -> float:
        """Mid + G in dollars, or the VWMP while the state is under-sampled."""
        if not self._valid(top_bid, bid_size, top_ask, ask_size, tick_units):
            return weighted_mid(top_bid, max(bid_size, 0), top_ask, max(ask_size, 0))
        g = self.adjustment_ticks(*self._state(top_bid, bid_size, top_ask, ask_size, tick_units))
        if g is None:
            return weighted_mid(top_bid, bid_size, top_ask, ask_size)
        value = (top_bid + top_ask) / 2 + g * tick_units
        return min(max(value, top_bid), top_ask) / PRICE_SCALE


# --------------------------------------------------------------------------- volatility


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
class VolatilityEstimator:
    """Sigma of the fair price in dollars per sqrt(second), in event time.

    The variance rate is sum(w * dP^2) / sum(w * dt): an exponentially weighted sum of
    squared price changes divided by the same weighting of elapsed seconds, the weights
    halving every ``half_life_s`` seconds of event time. Dividing the sums rather than
    averaging each dP^2 / dt keeps two updates a millisecond apart from exploding the
    estimate; for a random walk both are unbiased. Updates whose ``ts_ms`` does not
    advance, or whose price is not finite or so wild that its squared change overflows,
    are ignored (a replayed or reordered feed must not produce a zero or negative dt).
    Until ``min_samples`` changes have been seen the estimate is ``prior``; it is never
    below ``floor``, so a quiet book never reads as riskless and the quote models never
    see sigma = 0 by accident.
    """

    def __init__(
        self,
        *,
        half_life_s: float = 300.0,
        floor: float = 1e-5,
        prior: float = 5e-4,
        min_samples: int = 20,
    ) -> None:
        _positive("half_life_s", half_life_s)
        _non_negative("floor", floor)
        _non_negative("prior", prior)
        if min_samples < 1:
            raise ValueError(f"min_samples must be >= 1, got {min_samples}")
        self._half_life_s = half_life_s
        self._floor = floor
        self._prior = prior
        self._min_samples = min_samples
        self._last: tuple[int, float] | None = None
        self._sum_sq = 0.0
        self._sum_dt = 0.0
        self._n = 0

    def update(self, ts_ms: int, price: float) -> None:
        if not math.isfinite(price):
            return
        if self._last is None:
            self._last = (ts_ms, price)
            return
        last_ts, last_price = self._last
        if ts_ms <= last_ts:
            return
        dt = (ts_ms - last_ts) / 1000.0
        change = price - last_price
        decay = 0.5 ** (dt / self._half_life_s)
        sum_sq = self._sum_sq * decay + change * change
        if not math.isfinite(sum_sq):
            return  # an absurd price would poison the sum for ever: drop it
        self._sum_sq = sum_sq
        self._sum_dt = self._sum_dt * decay + dt
        self._n += 1
        self._last = (ts_ms, price)

    @property
    def samples(self) -> int:
        return self._n

    @property
    def sigma(self) -> float:
        if self._n < self._min_samples or not self._sum_dt > 0:
            return max(self._prior, self._floor)
        value = math.sqrt(self._sum_sq / self._sum_dt)
        if not math.isfinite(value):
            return max(self._prior, self._floor)
        return max(value, self._floor)


# --------------------------------------------------------------------------- models


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
@frozen(kw_only=True)
class ASQuote:
    """Avellaneda-Stoikov output, dollars."""

    reservation: float
    half_spread: float
    bid: float
    ask: float


def _as_terms(
    mid: float, q: float, gamma: float, sigma: float, k: float, time_left_s: float
) -> tuple[float, float]:
    """Reservation price and half spread of ``avellaneda_stoikov``, unchecked: its one
    formula, shared with the hot path's ``quote_bid_ask`` so the two cannot drift."""
    risk = gamma * sigma * sigma * time_left_s
    return mid - q * risk, risk / 2 + math.log1p(gamma / k) / gamma


def avellaneda_stoikov(
    mid: float, q: float, gamma: float, sigma: float, k: float, time_left_s: float
) -> ASQuote:
    """Avellaneda & Stoikov (2008), "High-frequency trading in a limit order book".

    r = s - q gamma sigma^2 (T - t); total spread gamma sigma^2 (T - t) + (2/gamma)
    ln(1 + gamma/k). Units: s and sigma in dollars (sigma per sqrt(second)), T - t in
    seconds, k in 1/dollars (fill intensity decay with distance), gamma in 1/(dollar lot).
    """
    _finite("mid", mid)
    _finite("q", q)
    _positive("gamma", gamma)
    _non_negative("sigma", sigma)
    _positive("k", k)
    _non_negative("time_left_s", time_left_s)
    reservation, half = _as_terms(mid, q, gamma, sigma, k, time_left_s)
    return ASQuote(
        reservation=reservation, half_spread=half, bid=reservation - half, ask=reservation + half
    )


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
@frozen(kw_only=True)
class GLFTQuote:
    """GLFT output, in ticks: depths are distances from the mid."""

    half_spread: float
    skew: float
    bid_depth: float
    ask_depth: float


def glft(
    A: float,  # noqa: N803 - the literature's name for the arrival intensity
    k: float,
    gamma: float,
    sigma: float,
    tick: float,
    q: float,
    xi: float | None = None,
) -> GLFTQuote:
    """Gueant-Lehalle-Fernandez-Tapia infinite-horizon quotes, in ticks.

    As in Gueant, "Optimal market making" (2017) and hftbacktest's GLFT tutorial:
    c1 = ln(1 + xi delta / k) / (xi delta), c2 = sqrt(gamma / (2 A delta k) *
    (1 + xi delta / k)^(k / (xi delta) + 1)), half spread c1 + delta/2 sigma c2,
    skew sigma c2, bid depth half + skew q, ask depth half - skew q, with delta = 1
    (one order lot) and xi = gamma unless given. ``sigma`` is in the price unit of
    ``tick`` and becomes ticks as sigma / tick; A (fills per unit time) and k (per tick
    of depth) must be calibrated on depths measured in ticks, and sigma's time unit must
    be A's. The power is evaluated as exp(.. * log1p(..)) for accuracy when xi << k.
    """
    _positive("A", A)
    _positive("k", k)
    _positive("gamma", gamma)
    _non_negative("sigma", sigma)
    _positive("tick", tick)
    _finite("q", q)
    xi_ = gamma if xi is None else xi
    _positive("xi", xi_)
    delta = 1.0
    x = xi_ * delta / k
    c1 = math.log1p(x) / (xi_ * delta)
    c2 = math.sqrt(gamma / (2 * A * delta * k) * math.exp((1 / x + 1) * math.log1p(x)))
    sigma_ticks = sigma / tick
    half = c1 + delta / 2 * sigma_ticks * c2
    skew = sigma_ticks * c2
    return GLFTQuote(
        half_spread=half, skew=skew, bid_depth=half + skew * q, ask_depth=half - skew * q
    )


def glft_prices(quote: GLFTQuote, mid: float, tick_dollars: float) -> tuple[float, float]:
    """(bid, ask) in dollars: the GLFT depths in ticks laid around ``mid``."""
    _positive("tick_dollars", tick_dollars)
    return mid - quote.bid_depth * tick_dollars, mid + quote.ask_depth * tick_dollars


# --------------------------------------------------------------------------- inventory


def net_delta(yes_units: int, no_units: int) -> int:
    """Binary net delta: YES minus NO, because NO is a short YES position."""
    return yes_units - no_units


def inventory_lots(yes_units: int, no_units: int, order_size_units: int) -> float:
    """The models' q: net delta in order-size lots."""
    if order_size_units <= 0:
        raise ValueError(f"order_size_units must be > 0, got {order_size_units}")
    return net_delta(yes_units, no_units) / order_size_units


# --------------------------------------------------------------------------- wiring

@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
@frozen(kw_only=True)
class Quotes:
    """Model quotes in dollars, before snapping."""

    bid: float
    ask: float
    reservation: float
    half_spread: float


def quote_bid_ask(
    params: QuoteParams,
    mid: float,
    sigma: float,
    q_lots: float,
    time_left_s: float | None,
    tick_dollars: float,
) -> tuple[float, float]:
    """``compute_quotes``' bid and ask, bit for bit, without its result objects.

    The quote pass runs on every book update; for Avellaneda-Stoikov with healthy
    inputs this is the same arithmetic in the same order. Anything else (GLFT, an input
    ``compute_quotes`` would refuse) goes through ``compute_quotes`` itself, so errors
    stay exactly what they were.
    """
    if (
        params.model != "avellaneda-stoikov"
        or not (tick_dollars > 0 and math.isfinite(tick_dollars))
        or not (math.isfinite(mid) and math.isfinite(q_lots) and math.isfinite(sigma))
        or not sigma >= 0
        or (time_left_s is not None and not math.isfinite(time_left_s))
    ):
        quotes = compute_quotes(params, mid, sigma, q_lots, time_left_s, tick_dollars)
        return quotes.bid, quotes.ask
    horizon = params.horizon_s
    if time_left_s is not None:
        horizon = min(horizon, max(time_left_s, 0.0))
    reservation, half = _as_terms(mid, q_lots, params.gamma, sigma, params.k, horizon)
    half = max(half, params.min_half_spread)
    return reservation - half, reservation + half


def compute_quotes(
    params: QuoteParams,
    mid: float,
    sigma: float,
    q_lots: float,
    time_left_s: float | None,
    tick_dollars: float,
) -> Quotes:
    """Reservation price and floored half spread for the configured model.

    ``q_lots`` is the binary net delta in lots (``inventory_lots``). ``time_left_s`` is
    the time to market end or None when unknown; negative (a clock a hair past the end)
    counts as zero. The result still has to go through ``ticks.snap``.
    """
    _positive("tick_dollars", tick_dollars)
    if params.model == "glft":
        g = glft(params.glft_a, params.glft_k, params.gamma, sigma, tick_dollars, q_lots)
        reservation = mid - g.skew * q_lots * tick_dollars
        half = g.half_spread * tick_dollars
    else:
        horizon = params.horizon_s
        if time_left_s is not None:
            _finite("time_left_s", time_left_s)
            horizon = min(horizon, max(time_left_s, 0.0))
        a = avellaneda_stoikov(mid, q_lots, params.gamma, sigma, params.k, horizon)
        reservation, half = a.reservation, a.half_spread
    half = max(half, params.min_half_spread)
    return Quotes(
        bid=reservation - half, ask=reservation + half, reservation=reservation, half_spread=half
    )
