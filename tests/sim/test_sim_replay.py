"""Replay of the recorded BTC 15-minute books (resolvedkit sample data, (c) Resolved Markets,
CC BY 4.0): loading, fill inference, and whole runs with their invariants."""

from __future__ import annotations

from pathlib import Path

from mmfsm.core.commands import Alert, Place, TimeInForce
from mmfsm.core.config import default_config
from mmfsm.core.events import BookSnapshot, OperatorHalt, TickSizeChanged
from mmfsm.core.ticks import SIZE_SCALE, Side, TickSize
from mmfsm.sim.latency import LatencyModel, Wire
from mmfsm.sim.loop import SimSetup, simulate
from mmfsm.sim.replay import ATTRIBUTION, RecordedBook, load_recording, row_tick
from mmfsm.sim.schedule import Scheduler
from mmfsm.sim.summary import render_table
from mmfsm.sim.venue import Venue, VenueParams

T0 = 1_790_000_000_000
S = SIZE_SCALE


def _setup(recording_path: Path, max_markets: int | None) -> SimSetup:
    rec = load_recording(recording_path, max_markets=max_markets)
    return SimSetup(
        name="replay",
        config=default_config(),
        seed=7,
        start_ms=rec.start_ms,
        duration_ms=rec.end_ms - rec.start_ms + 1_000,
        recording=rec,
    )


def test_the_recording_loads_exactly(recording: Path) -> None:
    rec = load_recording(recording)
    assert len(rec.markets) == 9
    assert len(rec.books) == 19_138
    crossed = sum(1 for b in rec.books if b.bids and b.asks and b.bids[0][0] >= b.asks[0][0])
    empty = sum(1 for b in rec.books if not b.bids or not b.asks)
    assert (crossed, empty) == (18, 1_691)
    assert rec.books[0].bids[0] == (5_000, 205 * S)
    assert {m.payout_up + m.payout_down for m in rec.markets} == {10_000}
    assert "CC BY 4.0" in ATTRIBUTION
    assert "resolvedkit" in ATTRIBUTION


def test_row_tick_is_the_coarsest_grid_that_fits() -> None:
    def row(*prices: int) -> RecordedBook:
        return RecordedBook(
            ts_ms=0, market="m", up=True, bids=tuple((p, S) for p in prices), asks=()
        )

    assert row_tick(row(4_900, 4_800)) is TickSize.CENT
    assert row_tick(row(9_900, 9_860)) is TickSize.MILLI
    assert row_tick(row(9_999)) is TickSize.TENTH_MILLI


def _venue() -> Venue:
    sched = Scheduler(T0)
    vp = VenueParams(latency=LatencyModel(place_ms=(0, 0), response_ms=(0, 0)))
    venue = Venue(vp, Wire(sched, vp.latency, seed=1), sched, seed=1)
    venue.list_market(T0, "m", "m-yes", "m-no", TickSize.CENT, 5 * S)
    venue.replay_book(T0, "m", "m-yes", ((4_900, 300 * S),), ((5_100, 300 * S),))
    venue.arrive(
        T0,
        Place(
            client_id="bid",
            market="m",
            token="m-yes",
            side=Side.BUY,
            price=4_900,
            size=10 * S,
            tif=TimeInForce.GTC,
            post_only=True,
        ),
    )
    return venue


def test_fill_inference_queue_moves_on_decreases_and_fills_on_trade_through() -> None:
    venue = _venue()
    order = venue.orders["bid"]
    assert order.ahead == 300 * S
    venue.replay_book(T0 + 1, "m", "m-yes", ((4_900, 100 * S),), ((5_000, 300 * S),))
    assert order.matched == 0
    assert 0 < order.ahead < 300 * S
    # A crossed record is never matched against.
    assert not venue.replay_book(T0 + 2, "m", "m-yes", ((5_000, S),), ((4_900, S),))
    assert order.matched == 0
    # The asks come down to our price: the level is gone, sellers stand at 0.49.
    venue.replay_book(T0 + 3, "m", "m-yes", ((4_800, 100 * S),), ((4_900, 50 * S),))
    assert order.matched == 10 * S
    assert venue.fills[0].yes_price == 4_900


def test_a_slice_with_crossed_and_one_sided_books_keeps_every_invariant(recording: Path) -> None:
    run = simulate(_setup(recording, 3))
    assert run.invariants.total == 0, run.invariants.examples
    assert run.feed is not None
    assert run.feed.skipped >= 1
    alerts = [c.message for t in run.trace for c in t.step.commands if isinstance(c, Alert)]
    assert any(m.startswith("Book message rejected") and "crossed" in m for m in alerts)
    assert not any("ENGINE FAULT" in m for m in alerts)
    ticks = [t.event for t in run.trace if isinstance(t.event, TickSizeChanged)]
    assert ticks
    assert all(e.tick is TickSize.MILLI for e in ticks)
    halts = [t.event for t in run.trace if isinstance(t.event, OperatorHalt)]
    assert len(halts) == 3
    assert all("market resolved" in h.reason for h in halts)
    assert run.engine is not None
    assert all(ms.machine.state == "halted" for ms in run.engine.markets.values())
    assert all(vm.payout is not None and not vm.orders for vm in run.venue.markets.values())
    one_sided = [
        t
        for t in run.trace
        if isinstance(t.event, BookSnapshot) and (not t.event.bids or not t.event.asks)
    ]
    assert one_sided


def test_full_replay_mmfsm_vs_baseline(recording: Path) -> None:
    setup = _setup(recording, None)
    mm = simulate(setup)
    base = simulate(setup, baseline=True)
    assert mm.invariants.total == 0, mm.invariants.examples
    assert mm.metrics["events"] > 40_000
    assert mm.metrics["api_actions"] < base.metrics["api_actions"]
    table = render_table(mm.metrics, base.metrics)
    for label in ("fill rate", "API actions", "spread captured", "total P&L"):
        assert label in table
    print(table)
