"""Named scenarios: small generated worlds, each built to show one rule of the design working.

Theory of operation
-------------------
A scenario is a function returning a ``Scenario``: its markets (``MarketSpec`` with
``Phase``s), its venue conditions (latency, failed trades, outages), scripted operator
actions, and config overrides in TOML shape (human units) applied on top of the base
config (the default, or ``--config``; a scenario's overrides win). ``summary`` is the
one line ``mmfsm simulate --list`` prints; ``shows`` is what the scenario must show,
which its test in ``tests/sim`` asserts.

Every scenario sets ``strategy.horizon_s = 60`` (``QUOTE_CALIBRATION``). The default
Avellaneda-Stoikov horizon of 3600 s with the volatility the Engine measures on these
books (about 0.5 cents per sqrt(s)) puts the quotes several cents from the mid and skews
them by tens of cents per lot of inventory: ``calm`` with the default horizon fills 2
orders of 583 in 600 s (fill rate 0.3%), against 94 of 1078 (8.7%) with 60 s, so the
risk rules would have nothing to act on. The scenarios are about the risk machinery, so
they quote as a calibrated bot would; a replay runs the config it is given. Other
overrides are named and explained in each scenario's docstring.

Times are seconds from the start of the run; the run starts at a fixed simulated time
(``START_MS``, mid-day UTC) unless a scenario needs another (``midnight-reset``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from attrs import field, frozen

from mmfsm.core.config import Config, config_to_dict, default_config, parse_config
from mmfsm.sim.flow import MarketSpec, Phase
from mmfsm.sim.latency import LatencyModel
from mmfsm.sim.loop import OperatorAction, SimSetup
from mmfsm.sim.venue import Outage, VenueParams

__all__ = ["QUOTE_CALIBRATION", "SCENARIOS", "START_MS", "Scenario", "apply_overrides", "get"]

START_MS = 1_790_000_000_000  # 2026-09-21T14:13:20Z
MIDNIGHT_MS = 1_790_035_200_000  # 2026-09-22T00:00:00Z
QUOTE_CALIBRATION: Mapping[str, Mapping[str, object]] = {"strategy": {"horizon_s": 60}}


@frozen(kw_only=True)
class Scenario:
    name: str
    summary: str
    shows: str
    duration_s: int
    markets: tuple[MarketSpec, ...]
    overrides: Mapping[str, Mapping[str, Any]] = field(factory=dict)
    latency: LatencyModel = field(factory=LatencyModel)
    failed_rate: float = 0.0
    outages_s: tuple[tuple[int, int, float], ...] = ()  # (start, end, share of 5xx errors)
    operator: tuple[OperatorAction, ...] = ()
    step_ms: int = 1_000
    start_ms: int = START_MS

    def config(self, base: Config | None = None) -> Config:
        config = apply_overrides(base or default_config(), QUOTE_CALIBRATION)
        return apply_overrides(config, self.overrides)

    def setup(self, seed: int = 7, base: Config | None = None) -> SimSetup:
        venue = VenueParams(
            latency=self.latency,
            failed_rate=self.failed_rate,
            outages=tuple(
                Outage(
                    start_ms=self.start_ms + a * 1000,
                    end_ms=self.start_ms + b * 1000,
                    error_share=share,
                )
                for a, b, share in self.outages_s
            ),
        )
        return SimSetup(
            name=self.name,
            config=self.config(base),
            seed=seed,
            start_ms=self.start_ms,
            duration_ms=self.duration_s * 1000,
            venue=venue,
            markets=self.markets,
            step_ms=self.step_ms,
            operator=self.operator,
        )


def apply_overrides(config: Config, overrides: Mapping[str, Mapping[str, Any]]) -> Config:
    """Set TOML-shaped keys (human units) on a config; the result is validated anew."""
    data = config_to_dict(config)
    for section, values in overrides.items():
        data[section] = {**data[section], **values}
    return parse_config(data)


def calm() -> Scenario:
    """Two quiet markets with balanced taker flow."""
    return Scenario(
        name="calm",
        summary="two quiet markets, balanced flow: the bot quotes, fills and round-trips",
        shows="the bot keeps running, fills on both sides, completes round trips, keeps "
        "orders for queue priority, never enters force_exit, 0 invariant violations",
        duration_s=600,
        markets=(MarketSpec(name="calm-a", fair=0.45), MarketSpec(name="calm-b", fair=0.62)),
    )


def gap() -> Scenario:
    """News: the crowd pulls its quotes, the spread jumps from 2 to 80 cents for 30 s."""
    return Scenario(
        name="gap",
        summary="the spread jumps from 2 to 80 cents for 30 s: quotes must go in that step",
        shows="in the step the Engine sees the gap it cancels every quote; no Place and no "
        "live quote while the market's spread (ours excluded) is over the limit; quoting "
        "resumes after the spread holds under the limit for the recovery time",
        duration_s=180,
        markets=(
            MarketSpec(
                name="gap",
                fair=0.50,
                phases=(
                    Phase(vol_per_s=0.0005),
                    Phase(at_s=60, spread=0.80, takers_per_s=0.1, vol_per_s=0.0),
                    Phase(at_s=90, vol_per_s=0.0005),
                ),
            ),
        ),
    )


def news_jump() -> Scenario:
    """The fair price jumps 30 points (0.40 -> 0.70) in one step."""
    return Scenario(
        name="news-jump",
        summary="the price jumps 30 points in one step: stale quotes are picked off",
        shows="worst-case exposure (true and Engine) stays within its limit; the picked-off "
        "position leaves inventory_held for passive_unwind or force_exit; within 5 s the "
        "bot quotes around the new price and never again around the old one",
        duration_s=300,
        markets=(
            MarketSpec(
                name="news",
                fair=0.40,
                phases=(
                    Phase(),
                    Phase(at_s=90, jump_to=0.70),
                    Phase(at_s=91),
                ),
            ),
        ),
    )


def correlated_drawdown() -> Scenario:
    """Three markets: sellers fill the bot's bids for two minutes, then all three crash.

    Overrides: 25-share orders and $150 of exposure per market so that three positions
    can lose $50 together; the per-position stop ($60) and the adverse-move limit (70%)
    are widened so that the global breaker, not a per-position rule, is what stops it.
    """

    def falling(fair: float) -> tuple[Phase, ...]:
        return (
            Phase(),
            Phase(
                at_s=60,
                sell_share=1.0,
                takers_per_s=2.0,
                taker_shares=(30, 120),
                sweep_ticks=(0, 4),
                vol_per_s=0.0,
            ),
            Phase(at_s=180, jump_to=fair - 0.30),
        )

    return Scenario(
        name="correlated-drawdown",
        summary="three markets fall together until the global daily-loss breaker trips",
        shows="the breaker trips; that step emits CancelAll, no Place, and halts every "
        "market; no Place after it until an acknowledged resume (an empty one is refused); "
        "the bot stays halted until then",
        duration_s=540,
        markets=tuple(
            MarketSpec(name=f"dd-{i}", fair=f, phases=falling(f))
            for i, f in enumerate((0.55, 0.50, 0.60), start=1)
        ),
        overrides={
            "strategy": {"order_size_shares": 25, "max_market_exposure_usd": 150},
            "risk": {"max_position_loss_usd": 60, "max_adverse_move_pct": 70},
        },
        operator=(
            OperatorAction(at_s=300, resume=True, ack=""),
            OperatorAction(at_s=420, resume=True, ack="loss reviewed, markets recovered"),
        ),
    )


def stale_position() -> Scenario:
    """Only sellers: the bot's bid fills, nobody buys its inventory back for over an hour."""
    return Scenario(
        name="stale-position",
        summary="inventory nobody buys back: 1 h age limit, passive unwind, force exit 5 min on",
        shows="inventory_held -> passive_unwind (age_beyond_limit) one hour after the position "
        "opened; passive_unwind -> force_exit (unwind_expired) 5 minutes later; a FAK exit "
        "flattens the position and it closes",
        duration_s=4_200,
        markets=(
            MarketSpec(
                name="stale",
                fair=0.50,
                phases=(
                    Phase(
                        vol_per_s=0.0,
                        sell_share=1.0,
                        takers_per_s=0.2,
                        taker_shares=(5, 15),
                        informed=False,
                    ),
                ),
            ),
        ),
    )


def adverse_move() -> Scenario:
    """Sellers fill the bot's bid, then the price drifts 14 points down with no buyers.

    Overrides: 5-share orders and a $20 exposure limit, so the position stays small
    enough that the adverse-move rule (15%), not the $3 loss stop, is what fires.
    """
    return Scenario(
        name="adverse-move",
        summary="the price drifts 14 points against the position: passive unwind",
        shows="inventory_held -> passive_unwind with adverse_move_beyond_limit; while "
        "unwinding no order that adds to the position is placed; the position ends closed",
        duration_s=600,
        markets=(
            MarketSpec(
                name="adverse",
                fair=0.50,
                phases=(
                    Phase(
                        sell_share=1.0,
                        vol_per_s=0.0,
                        takers_per_s=1.5,
                        taker_shares=(20, 80),
                        informed=False,
                    ),
                    Phase(
                        at_s=60, drift_per_s=-0.001, sell_share=1.0, vol_per_s=0.0, informed=False
                    ),
                    Phase(at_s=200),
                ),
            ),
        ),
        overrides={"strategy": {"order_size_shares": 5, "max_market_exposure_usd": 20}},
    )


def post_only_storm() -> Scenario:
    """A fast, one-tick market and slow order entry: post-only orders cross on arrival.

    Override: a 1 s quote horizon, so the bot quotes at the touch, where a moving book
    crosses an order on its way to the venue.
    """
    return Scenario(
        name="post-only-storm",
        summary="a fast one-tick book and slow order entry: post-only rejects, retries, backoff",
        shows="the venue rejects post-only orders; each reject is logged; at most "
        "post_only_max_retries retries per side before it waits for the book to move; a "
        "retry is never sooner than its backoff; no post-only order ever trades as a taker",
        duration_s=240,
        step_ms=200,
        markets=(
            MarketSpec(
                name="storm",
                fair=0.50,
                phases=(Phase(spread=0.01, vol_per_s=0.01, takers_per_s=2.0),),
            ),
        ),
        latency=LatencyModel(place_ms=(250, 600)),
        overrides={"strategy": {"horizon_s": 1}},
    )


def tick_size_change() -> Scenario:
    """The price climbs past 0.96 (tick 0.01 -> 0.001) and comes back (-> 0.01).

    Override: the adverse-move limit is widened to 90%. Near 0.96 a short YES position
    (long NO at a few cents) moves 15% against itself in a one-cent drift, which would
    put the market into passive unwind and leave the finer grid unquoted; this scenario
    is about the grid, `adverse-move` is about that rule.
    """
    return Scenario(
        name="tick-size-change",
        summary="the price crosses 0.96 and back: the tick goes 0.01 -> 0.001 -> 0.01",
        shows="TickSizeChanged both ways; every Place is on the grid the Engine was last "
        "told; quotes use the 0.001 grid while it holds; a tick reject, if any, is "
        "followed by quoting again",
        duration_s=480,
        markets=(
            MarketSpec(
                name="tick",
                fair=0.90,
                phases=(
                    Phase(vol_per_s=0.0005),
                    Phase(at_s=30, drift_per_s=0.0008, vol_per_s=0.0005),
                    Phase(at_s=120, vol_per_s=0.0005),
                    Phase(at_s=240, drift_per_s=-0.0008, vol_per_s=0.0005),
                    Phase(at_s=330, vol_per_s=0.0005),
                ),
            ),
        ),
        overrides={"risk": {"max_adverse_move_pct": 90}},
    )


def midnight_reset() -> Scenario:
    """The breaker trips at 23:56 UTC; the day rolls over at midnight.

    Sellers fill the bot's bids from 23:53; at 23:56 the price drops 25 points.
    Overrides: a $2 global daily loss so the drop trips it; the per-position stop
    ($20) and adverse-move limit (90%) are widened so the breaker is what trips.
    """
    return Scenario(
        name="midnight-reset",
        summary="the breaker trips before midnight UTC: the daily reset never un-halts",
        shows="the breaker trips at 23:56; at the first event after 00:00 UTC 'Daily P&L "
        "reset' is logged once and realized-today restarts from 0; the bot stays halted "
        "and places nothing after the trip",
        duration_s=840,
        start_ms=MIDNIGHT_MS - 480_000,
        markets=(
            MarketSpec(
                name="midnight",
                fair=0.50,
                phases=(
                    Phase(),
                    Phase(
                        at_s=60, sell_share=1.0, takers_per_s=1.0, vol_per_s=0.0, sweep_ticks=(0, 4)
                    ),
                    Phase(at_s=240, jump_to=0.25),
                ),
            ),
        ),
        overrides={
            "risk": {
                "global_daily_loss_usd": 2,
                "max_position_loss_usd": 20,
                "max_adverse_move_pct": 90,
            },
        },
    )


def fill_lag() -> Scenario:
    """Fill reports arrive 3-6 s late while sellers keep hitting the bid.

    Override: a $30 exposure limit (30 shares, three orders) so the limit binds.
    """
    return Scenario(
        name="fill-lag",
        summary="fills reported 3-6 s late under one-sided flow: exposure must not double",
        shows="true worst-case exposure (fills the bot has not heard of included) never "
        "exceeds the limit; the Engine's never does either; once reports arrive its "
        "inventory equals the venue's",
        duration_s=240,
        markets=(
            MarketSpec(
                name="lag",
                fair=0.50,
                phases=(Phase(sell_share=0.9, takers_per_s=2.0, taker_shares=(10, 40)),),
            ),
        ),
        latency=LatencyModel(fill_ms=(3_000, 6_000)),
        overrides={"strategy": {"max_market_exposure_usd": 30}},
    )


def api_outage() -> Scenario:
    """The order API fails for a minute: half the calls error (HTTP 503), half time out."""
    return Scenario(
        name="api-outage",
        summary="the order API errors and times out for 60 s: VenueFault events",
        shows="every failed call reaches the Engine as a VenueFault; the step that receives "
        "one leaves no quote live in that market and places nothing; the bot never faults "
        "or halts; after the outage it quotes again and its orders match the venue's",
        duration_s=300,
        markets=(MarketSpec(name="outage", fair=0.50),),
        outages_s=((90, 150, 0.5),),
    )


def failed_trade() -> Scenario:
    """A third of the trades fail on chain after they matched."""
    return Scenario(
        name="failed-trade",
        summary="30% of matched trades FAIL on settlement: inventory is reversed",
        shows="each FAILED trade is logged 'Fill reversed (FAILED)' and reverses the "
        "Engine's inventory; once reports arrive the Engine's inventory equals the venue's",
        duration_s=300,
        markets=(MarketSpec(name="failing", fair=0.50, phases=(Phase(takers_per_s=1.0),)),),
        failed_rate=0.3,
    )


SCENARIOS: Mapping[str, Callable[[], Scenario]] = {
    f().name: f
    for f in (
        calm,
        gap,
        news_jump,
        correlated_drawdown,
        stale_position,
        adverse_move,
        post_only_storm,
        tick_size_change,
        midnight_reset,
        fill_lag,
        api_outage,
        failed_trade,
    )
}


def get(name: str) -> Scenario:
    try:
        return SCENARIOS[name]()
    except KeyError:
        raise KeyError(f"unknown scenario {name!r}; try: {', '.join(SCENARIOS)}") from None
