"""Each named scenario shows what its description says it must show."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mmfsm.core.commands import Alert, CancelAll, Log, Place, TimeInForce
from mmfsm.core.events import (
    BookSnapshot,
    OperatorResume,
    OrderRejected,
    RejectReason,
    TickSizeChanged,
    Trade,
    TradeStatus,
    VenueFault,
)
from mmfsm.core.orders import OrderStatus
from mmfsm.core.ticks import PRICE_SCALE, Side, TickSize
from mmfsm.sim.loop import TraceStep
from mmfsm.sim.scenarios import MIDNIGHT_MS, SCENARIOS, get

Run = Callable[..., Any]  # the conftest's scenario runner, returning an Observed


def _secs(obs: object, step: TraceStep) -> float:
    return (step.t - obs.run.setup.start_ms) / 1000  # type: ignore[attr-defined]


def _places(step: TraceStep) -> list[Place]:
    return [c for c in step.step.commands if isinstance(c, Place)]


def _lines(step: TraceStep) -> Iterator[str]:
    for c in step.step.commands:
        if isinstance(c, (Log, Alert)):
            yield c.message


def _yes_price(place: Place) -> int:
    return place.price if place.token.endswith("-yes") else PRICE_SCALE - place.price


def _adds_long(place: Place) -> bool:
    return (place.side is Side.BUY) == place.token.endswith("-yes")


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_every_scenario_runs_and_is_described(name: str, scenario: Run) -> None:
    s = get(name)
    assert s.summary
    assert s.shows
    assert len(s.summary) < 100
    obs = scenario(name)
    assert obs.run.metrics["events"] > 0
    assert "ENGINE FAULT" not in "".join(m for t in obs.run.trace for m in _lines(t))


@pytest.mark.parametrize("name", [n for n in SCENARIOS if n != "gap"])
def test_scenarios_keep_every_invariant(name: str, scenario: Run) -> None:
    inv = scenario(name).run.invariants
    assert inv.total == 0, inv.examples


# --------------------------------------------------------------------------- calm


def test_calm_trades_both_sides_and_round_trips(scenario: Run) -> None:
    run = scenario("calm").run
    m = run.metrics
    for market in ("calm-a", "calm-b"):
        fills = [f for f in run.venue.fills if f.market == market]
        assert any(f.delta > 0 for f in fills)
        assert any(f.delta < 0 for f in fills)
    assert m["round_trips"] >= 4
    assert m["orders_kept"] > 0
    assert m["queue_priority_preserved"] > 0
    assert m["force_exit_entries"] == 0
    assert set(m["time_in_state_s"]["bot"]["bot"]) == {"running"}


def test_calm_sends_no_order_the_venue_rejects_for_balance(scenario: Run) -> None:
    assert scenario("calm").run.venue.rejects.get("balance", 0) == 0


# --------------------------------------------------------------------------- gap


def _gap_checks(obs: object) -> None:
    """No Place while the market's own spread is over the limit, quotes gone in the step
    that delivers the gapped book, and quoting again after the recovery."""
    run = obs.run  # type: ignore[attr-defined]
    limit = run.setup.config.risk.max_spread
    gapped = False
    seen_gap_at: float | None = None
    for i, step in enumerate(run.trace):
        if step.crowd_spread is not None:
            gapped = step.crowd_spread > limit
            if gapped:
                assert obs.live[i]["gap"] == 0, f"quotes live at {_secs(obs, step)}s"  # type: ignore[attr-defined]
                seen_gap_at = seen_gap_at or _secs(obs, step)
        if gapped:
            assert not _places(step), f"Place at {_secs(obs, step)}s while gapped"
    assert seen_gap_at is not None
    assert 60 <= seen_gap_at < 61
    assert any(_places(t) for t in run.trace if _secs(obs, t) > 95), "never quoted again"


def test_gap_cancels_in_the_same_step_when_the_book_shows_only_others(scenario: Run) -> None:
    obs = scenario("gap", show_own_orders=False)
    _gap_checks(obs)
    run = obs.run
    assert run.invariants.total == 0, run.invariants.examples
    step = next(t for t in run.trace if t.crowd_spread is not None and t.crowd_spread > 800)
    assert any(r.target == "gapped_skip" for r in step.step.transitions)
    # Venue side: every order resting when the gap appeared was gone within the market-data
    # plus cancel latency (at most 80 + 100 ms), or was filled before.
    gap_ms = run.setup.start_ms + 60_000
    for o in run.venue.orders.values():
        if o.placed_ms < gap_ms and (o.gone_ms is None or o.gone_ms > gap_ms):
            assert o.gone_ms is not None
            assert o.gone_ms - gap_ms <= 180 + 50


def test_gap_quotes_are_gone_in_the_step_the_gap_is_published(scenario: Run) -> None:
    obs = scenario("gap")
    _gap_checks(obs)
    assert obs.run.invariants.counts["INV-GAP"] == 0


# --------------------------------------------------------------------------- news-jump


def test_news_jump_is_bounded_and_the_bot_requotes_around_the_new_price(scenario: Run) -> None:
    obs = scenario("news-jump")
    run = obs.run
    size = run.setup.config.strategy.order_size
    jump_ms = run.setup.start_ms + 90_000
    picked = sum(abs(f.delta) for f in run.venue.fills if jump_ms <= f.ts_ms < jump_ms + 2_000)
    assert 0 < picked <= size  # at most the one stale order was picked off
    assert run.metrics["invariant_violations"]["INV-EXPOSURE"] == 0
    left = [
        r
        for t in run.trace
        for r in t.step.transitions
        if r.machine == "position" and r.source == "inventory_held" and r.ts_ms >= jump_ms
    ]
    assert left
    assert left[0].target in ("passive_unwind", "force_exit")
    saw_jump = next(
        i
        for i, t in enumerate(run.trace)
        if isinstance(t.event, BookSnapshot)
        and t.event.token == "news-yes"
        and t.event.asks
        and t.event.asks[0][0] > 6_500
    )
    for t in run.trace[saw_jump:]:
        for p in _places(t):
            if not _adds_long(p):  # an offer: never again at the old price
                assert _yes_price(p) > 6_000, f"offer {p} after the jump"


# --------------------------------------------------------------------------- correlated drawdown


def test_correlated_drawdown_trips_the_breaker_and_stays_halted(scenario: Run) -> None:
    obs = scenario("correlated-drawdown")
    run = obs.run
    trips = [
        (i, t)
        for i, t in enumerate(run.trace)
        if any(r.event == "breaker_trip" for r in t.step.transitions)
    ]
    assert len(trips) == 1
    i_trip, trip = trips[0]
    assert any(isinstance(c, CancelAll) for c in trip.step.commands)
    assert not _places(trip)
    halted = {r.id for r in trip.step.transitions if r.machine == "market" and r.target == "halted"}
    assert halted == {"dd-1", "dd-2", "dd-3"}
    assert any("GLOBAL DAILY LOSS LIMIT EXCEEDED" in m for m in _lines(trip))
    resumes = [
        i
        for i, t in enumerate(run.trace)
        if isinstance(t.event, OperatorResume) and t.event.ack.strip()
    ]
    refused = [
        i
        for i, t in enumerate(run.trace)
        if isinstance(t.event, OperatorResume) and not t.event.ack.strip()
    ]
    assert len(resumes) == 1
    assert len(refused) == 1
    assert i_trip < refused[0] < resumes[0]
    for i in range(i_trip, resumes[0]):
        assert not _places(run.trace[i]), f"Place at {_secs(obs, run.trace[i])}s while halted"
        assert all(s[0] == "halted" and s[1] == "halted" for s in obs.states[i].values())
    assert any("Resume refused" in m for m in _lines(run.trace[refused[0]]))
    assert obs.states[resumes[0]]["dd-1"][0] == "running"
    assert any(_places(t) for t in run.trace[resumes[0] :])


# --------------------------------------------------------------------------- stale position


def test_stale_position_unwinds_at_one_hour_and_is_forced_out_five_minutes_later(
    scenario: Run,
) -> None:
    obs = scenario("stale-position")
    run = obs.run
    records = [r for t in run.trace for r in t.step.transitions if r.id == "stale#1"]
    opened = next(r.ts_ms for r in records if r.event == "opened")
    unwind = next(r for r in records if r.target == "passive_unwind")
    forced = next(r for r in records if r.target == "force_exit")
    closed = next(r for r in records if r.target == "closed")
    assert 3_600_000 < unwind.ts_ms - opened <= 3_601_000
    assert 300_000 < forced.ts_ms - unwind.ts_ms <= 301_000
    assert forced.event == "unwind_timeout"
    assert closed.source == "force_exit"
    lines = [m for t in run.trace for m in _lines(t)]
    assert "Passive unwinding: age_beyond_limit" in lines
    assert any(m.startswith("Passive unwinding timeout") for m in lines)
    assert any(m.startswith("FORCE EXIT: unwind_expired") for m in lines)
    exits = [p for t in run.trace for p in _places(t) if p.tif is TimeInForce.FAK]
    assert exits
    assert all(not _adds_long(p) for p in exits)
    # Nothing that adds to the long position while it is being unwound.
    for t in run.trace:
        if unwind.ts_ms <= t.t < closed.ts_ms:
            assert all(not _adds_long(p) for p in _places(t))


# --------------------------------------------------------------------------- adverse move


def test_adverse_move_unwinds_passively_and_never_adds(scenario: Run) -> None:
    obs = scenario("adverse-move")
    run = obs.run
    lines = [m for t in run.trace for m in _lines(t)]
    assert "Passive unwinding: adverse_move_beyond_limit" in lines
    unwinding = False
    for i, t in enumerate(run.trace):
        state = obs.states[i].get("adverse")
        was = unwinding
        unwinding = state is not None and state[2] in ("passive_unwind", "force_exit")
        if was or unwinding:
            for p in _places(t):
                if unwinding:
                    assert not _adds_long(p), f"{p} adds while unwinding a long position"
    episode = next(
        r.id for t in run.trace for r in t.step.transitions if r.target == "passive_unwind"
    )
    assert any(
        r.id == episode and r.target == "closed" for t in run.trace for r in t.step.transitions
    )


# --------------------------------------------------------------------------- post-only storm


_ATTEMPT = re.compile(r"post_only rejected: .* \(attempt (\d+)/(\d+)\)")


def test_post_only_storm_rejects_retries_with_backoff_and_gives_up(scenario: Run) -> None:
    """Backoff is per side and holds while the opposite best stays where it was when the
    order was rejected; a move of it starts the count again (the Engine's documented rule)."""
    obs = scenario("post-only-storm")
    run = obs.run
    risk = run.setup.config.risk
    rejects = run.metrics["post_only_rejects"]
    assert rejects >= 5
    assert run.metrics["post_only_retries"] >= 1
    assert run.metrics["log_lines"]["post_only rejected"] == rejects
    direction: dict[str, bool] = {}
    top: tuple[int | None, int | None] = (None, None)
    pending: dict[bool, tuple[int, int, int | None]] = {}  # side -> (time, attempt, opposite)
    early_after_move = 0
    for t in run.trace:
        ev = t.event
        if isinstance(ev, BookSnapshot) and ev.token == "storm-yes":
            bid = ev.bids[0][0] if ev.bids else None
            ask = ev.asks[0][0] if ev.asks else None
            if bid is None or ask is None or bid < ask:
                top = (bid, ask)
        for p in _places(t):
            side = _adds_long(p)
            direction[p.client_id] = side
            if side in pending and p.post_only:
                at, attempt, ref = pending.pop(side)
                opposite = top[1] if side else top[0]
                if t.t - at < risk.post_only_backoff_ms * 2 ** (attempt - 1):
                    assert opposite != ref, f"{p} retried inside its backoff"
                    early_after_move += 1
                assert attempt <= risk.post_only_max_retries or opposite != ref
        if isinstance(ev, OrderRejected) and ev.reason is RejectReason.POST_ONLY:
            m = next(_ATTEMPT.match(x) for x in _lines(t) if _ATTEMPT.match(x))
            assert m is not None
            attempt, limit = int(m.group(1)), int(m.group(2))
            assert limit == risk.post_only_max_retries
            assert attempt <= limit + 1
            side = direction[ev.client_id]
            pending[side] = (t.t, attempt, top[1] if side else top[0])
    # A post-only order never traded as a taker: every fill of one is at its own price.
    for f in run.venue.fills:
        o = run.venue.orders[f.client_id]
        if o.place.post_only:
            assert f.yes_price == o.yes_price


# --------------------------------------------------------------------------- tick size


def test_tick_size_change_both_ways_and_quotes_on_the_grid(scenario: Run) -> None:
    obs = scenario("tick-size-change")
    run = obs.run
    ticks = [t.event.tick for t in run.trace if isinstance(t.event, TickSizeChanged)]
    assert ticks[:2] == [TickSize.MILLI, TickSize.CENT]
    assert run.invariants.counts["INV-GRID"] == 0
    tick = TickSize.CENT
    fine = 0
    for t in run.trace:
        if isinstance(t.event, TickSizeChanged):
            tick = t.event.tick
        for p in _places(t):
            assert p.price % int(tick) == 0
            fine += tick is TickSize.MILLI and p.price % 100 != 0
    assert fine > 0, "never used the 0.001 grid"
    for i, t in enumerate(run.trace):
        if isinstance(t.event, OrderRejected) and t.event.reason is RejectReason.TICK:
            assert any(_places(u) for u in run.trace[i + 1 :] if u.t - t.t <= 30_000)


# --------------------------------------------------------------------------- midnight


def test_midnight_reset_resets_realized_but_never_unhalts(scenario: Run) -> None:
    obs = scenario("midnight-reset")
    run = obs.run
    trip = next(t for t in run.trace if any(r.event == "breaker_trip" for r in t.step.transitions))
    assert trip.t < MIDNIGHT_MS
    resets = [t for t in run.trace if any(m.startswith("Daily P&L reset") for m in _lines(t))]
    assert len(resets) == 1
    first_after = next(t for t in run.trace if t.t >= MIDNIGHT_MS)
    assert resets[0] is first_after
    assert any("bot halted" in m for m in _lines(resets[0]))
    assert all(not _places(t) for t in run.trace if t.t >= trip.t)
    assert run.engine is not None
    assert run.engine.bot.state == "halted"
    assert run.engine.realized_today == 0
    assert run.metrics["time_in_state_s"]["bot"]["bot"]["halted"] > 480


# --------------------------------------------------------------------------- fill lag


def test_fill_lag_never_doubles_exposure(scenario: Run) -> None:
    run = scenario("fill-lag").run
    limit = run.setup.config.strategy.max_market_exposure // PRICE_SCALE
    assert run.invariants.max_true_exposure <= limit
    assert run.invariants.max_engine_exposure <= limit
    assert run.invariants.max_true_exposure >= limit * 2 // 3  # the limit did bind
    lags = []
    matched = {f.trade_id: f.ts_ms for f in run.venue.fills}
    for t in run.trace:
        if isinstance(t.event, Trade) and t.event.status is TradeStatus.MATCHED:
            lags.append(t.t - matched[t.event.trade_id])
    assert lags
    assert min(lags) >= 3_000
    assert run.engine is not None
    assert run.engine.markets["lag"].ledger.delta == run.venue.markets["lag"].ledger.delta


# --------------------------------------------------------------------------- api outage


def test_api_outage_becomes_venue_faults_and_the_bot_recovers(scenario: Run) -> None:
    obs = scenario("api-outage")
    run = obs.run
    faults = [(i, t) for i, t in enumerate(run.trace) if isinstance(t.event, VenueFault)]
    whats = {t.event.what.split(":")[0].split(" ")[1] for _, t in faults}  # type: ignore[union-attr]
    assert faults
    assert whats == {"failed", "timed"}
    for i, t in faults:
        assert not _places(t)
        assert obs.live[i]["outage"] == 0
        assert 90_000 <= t.t - run.setup.start_ms <= 155_000
    assert not any(r.machine == "bot" for t in run.trace for r in t.step.transitions)
    fills_after = [f for f in run.venue.fills if f.ts_ms > run.setup.start_ms + 160_000]
    assert any(_places(t) for t in run.trace if t.t > run.setup.start_ms + 160_000)
    assert fills_after
    assert run.engine is not None
    engine_live = {
        o.client_id
        for o in run.engine.orders
        if o.status in (OrderStatus.WORKING, OrderStatus.PENDING_NEW)
    }
    venue_live = {cid for vm in run.venue.markets.values() for cid in vm.orders}
    assert engine_live == venue_live


# --------------------------------------------------------------------------- failed trades


def test_failed_trades_are_reversed(scenario: Run) -> None:
    run = scenario("failed-trade").run
    failed = run.metrics["failed_trades"]
    assert failed >= 5
    assert run.metrics["log_lines"]["Fill reversed (FAILED)"] == failed
    assert run.engine is not None
    engine, venue = run.engine.markets["failing"].ledger, run.venue.markets["failing"].ledger
    assert (engine.delta, engine.realized, engine.yes_held, engine.no_held) == (
        venue.delta,
        venue.realized,
        venue.yes_held,
        venue.no_held,
    )
