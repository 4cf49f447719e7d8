"""The simulator's parts: scheduler, wire, queue model, venue rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mmfsm.core.commands import Cancel, CancelAll, Place, TimeInForce
from mmfsm.core.events import (
    ClockTick,
    OrderAcked,
    OrderCancelled,
    OrderExpired,
    OrderRejected,
    RejectReason,
    Trade,
    TradeStatus,
    VenueFault,
)
from mmfsm.core.ticks import SIZE_SCALE, Side, TickSize
from mmfsm.sim.latency import Delivery, LatencyModel, Wire
from mmfsm.sim.queue import ahead_after_decrease, ahead_after_trade
from mmfsm.sim.schedule import Kind, Scheduler
from mmfsm.sim.venue import Outage, Venue, VenueParams

T0 = 1_790_000_000_000
S = SIZE_SCALE

# --------------------------------------------------------------------------- scheduler


def test_scheduler_orders_by_time_then_by_scheduling_order() -> None:
    s = Scheduler(0)
    s.push(5, Kind.CALL, "b")
    s.push(3, Kind.CALL, "a")
    s.push(5, Kind.CALL, "c")
    assert [s.pop().payload for _ in range(3)] == ["a", "b", "c"]
    assert s.now_ms == 5
    with pytest.raises(ValueError, match="before now"):
        s.push(4, Kind.CALL, "late")


def test_wire_keeps_each_channel_in_order_and_stamps_arrival_time() -> None:
    sched = Scheduler(T0)
    wire = Wire(sched, LatencyModel(response_ms=(0, 500)), seed=1)
    times = [wire.to_strategy(T0, "responses", ClockTick(ts_ms=T0)) for _ in range(50)]
    assert times == sorted(times)
    items = [sched.pop() for _ in range(50)]
    assert all(
        isinstance(i.payload, Delivery) and i.payload.event.ts_ms == i.time_ms for i in items
    )


def test_wire_is_deterministic_for_a_seed() -> None:
    def draws(seed: int) -> list[int]:
        wire = Wire(Scheduler(T0), LatencyModel(), seed=seed)
        return [wire.to_strategy(T0, "fills", ClockTick(ts_ms=T0)) for _ in range(20)]

    assert draws(3) == draws(3) != draws(4)


def test_latency_ranges_are_validated() -> None:
    with pytest.raises(ValueError, match="place_ms"):
        LatencyModel(place_ms=(10, 5))


# --------------------------------------------------------------------------- queue model


@given(st.integers(0, 10**9), st.integers(0, 10**9), st.integers(0, 10**9))
def test_queue_ahead_never_grows_never_negative_never_above_the_level(
    ahead: int, before: int, after: int
) -> None:
    ahead = min(ahead, before)
    new = ahead_after_decrease(ahead, before, after)
    assert 0 <= new <= min(ahead, after)


def test_queue_decrease_is_split_by_where_the_size_is() -> None:
    assert ahead_after_decrease(0, 100, 50) == 0  # at the front: nothing ahead to lose
    assert ahead_after_decrease(100, 100, 50) == 50  # at the back: all of it was ahead
    assert ahead_after_decrease(50, 100, 80) == 40  # equal halves: half of 20 from the front
    assert ahead_after_decrease(10, 100, 90) == 10  # 10 ahead, 90 behind: almost surely behind
    assert ahead_after_decrease(30, 100, 150) == 30  # additions join behind us
    assert ahead_after_trade(30, 50) == 0
    assert ahead_after_trade(30, 10) == 20


# --------------------------------------------------------------------------- venue


def _venue(**params: object) -> tuple[Venue, Scheduler]:
    sched = Scheduler(T0)
    vp = VenueParams(
        latency=LatencyModel(
            place_ms=(0, 0),
            cancel_ms=(0, 0),
            response_ms=(0, 0),
            fill_ms=(0, 0),
            market_ms=(0, 0),
            confirm_ms=(1000, 1000),
        ),
        **params,
    )  # type: ignore[arg-type]
    venue = Venue(vp, Wire(sched, vp.latency, seed=1), sched, seed=1)
    vm = venue.list_market(T0, "m", "m-yes", "m-no", TickSize.CENT, 5 * S)
    vm.crowd.bids = {4900: 100 * S, 4800: 200 * S}
    vm.crowd.asks = {5100: 100 * S, 5200: 200 * S}
    return venue, sched


def _place(
    cid: str,
    token: str,
    side: Side,
    price: int,
    size: int = 10,
    tif: TimeInForce = TimeInForce.GTC,
    post_only: bool = True,
) -> Place:
    return Place(
        client_id=cid,
        market="m",
        token=token,
        side=side,
        price=price,
        size=size * S,
        tif=tif,
        post_only=post_only,
    )


def _drain(sched: Scheduler, venue: Venue | None = None) -> list[object]:
    out = []
    while len(sched):
        item = sched.pop()
        if item.kind is Kind.DELIVER:
            out.append(item.payload.event)
        elif item.kind is Kind.CALL:
            item.payload(item.time_ms)
        elif venue is not None:
            venue.arrive(item.time_ms, item.payload)
    return out


def test_post_only_that_would_cross_is_rejected_and_min_size_and_tick_checked() -> None:
    venue, sched = _venue()
    _drain(sched)
    venue.arrive(T0, _place("a", "m-yes", Side.BUY, 5100))  # at the best ask
    venue.arrive(T0, _place("b", "m-no", Side.BUY, 5100))  # YES ask 0.49 = best bid
    venue.arrive(T0, _place("c", "m-yes", Side.BUY, 4900, size=4))
    venue.arrive(T0, _place("d", "m-yes", Side.BUY, 4950))
    venue.arrive(T0, _place("e", "m-yes", Side.SELL, 5300))  # holds no YES
    reasons = [e.reason for e in _drain(sched) if isinstance(e, OrderRejected)]
    assert reasons == [
        RejectReason.POST_ONLY,
        RejectReason.POST_ONLY,
        RejectReason.MIN_SIZE,
        RejectReason.TICK,
        RejectReason.BALANCE,
    ]


def test_price_time_priority_the_queue_ahead_trades_first() -> None:
    venue, sched = _venue()
    venue.arrive(T0, _place("bid", "m-yes", Side.BUY, 4900))
    assert venue.orders["bid"].ahead == 100 * S
    venue.take(T0, "m", buys=False, size=60 * S, limit=4900)
    assert venue.orders["bid"].matched == 0
    assert venue.orders["bid"].ahead == 40 * S
    venue.take(T0, "m", buys=False, size=45 * S, limit=4900)
    assert venue.orders["bid"].matched == 5 * S  # 40 ahead, then 5 of ours
    assert 4900 not in venue.markets["m"].crowd.bids  # the level was used up
    trades = [e for e in _drain(sched) if isinstance(e, Trade)]
    assert [(t.status, t.size, t.price) for t in trades] == [
        (TradeStatus.MATCHED, 5 * S, 4900),
        (TradeStatus.CONFIRMED, 5 * S, 4900),
    ]


def test_an_improving_order_is_first_and_a_crossing_crowd_fills_it() -> None:
    venue, _sched = _venue()
    venue.arrive(T0, _place("bid", "m-yes", Side.BUY, 5000))
    assert venue.orders["bid"].ahead == 0
    venue.markets["m"].crowd.asks = {5000: 50 * S}
    venue.requeue(T0, "m")
    assert venue.orders["bid"].matched == 10 * S


def test_fak_takes_the_crowd_up_to_its_limit_and_the_rest_expires() -> None:
    venue, sched = _venue()
    venue.arrive(
        T0, _place("x", "m-no", Side.BUY, 5200, size=150, tif=TimeInForce.FAK, post_only=False)
    )  # = sell YES down to 0.48
    events = _drain(sched)
    fills = [e for e in events if isinstance(e, Trade) and e.status is TradeStatus.MATCHED]
    assert [(f.price, f.size) for f in fills] == [(5100, 100 * S), (5200, 50 * S)]
    expired = [e for e in events if isinstance(e, OrderExpired)]
    assert expired[0].size_matched == 150 * S
    assert venue.markets["m"].ledger.delta == -150 * S


def test_cancel_reports_matched_size_and_cancel_all_ends_everything() -> None:
    venue, sched = _venue()
    venue.arrive(T0, _place("a", "m-yes", Side.BUY, 4900))
    venue.arrive(T0, _place("b", "m-no", Side.BUY, 4800))
    venue.markets["m"].orders["a"].ahead = 0
    venue.take(T0, "m", buys=False, size=4 * S, limit=4900)
    venue.arrive(T0, Cancel(client_id="a", market="m"))
    venue.arrive(T0, Cancel(client_id="a", market="m"))  # twice: reported once
    venue.arrive(T0, CancelAll(reason="x"))
    cancels = [e for e in _drain(sched) if isinstance(e, OrderCancelled)]
    assert [(c.client_id, c.size_matched) for c in cancels] == [("a", 4 * S), ("b", 0)]


def test_failed_trades_are_reversed_in_the_truth_ledger() -> None:
    venue, sched = _venue(failed_rate=1.0)
    venue.arrive(T0, _place("a", "m-yes", Side.BUY, 4900))
    venue.markets["m"].orders["a"].ahead = 0
    venue.take(T0, "m", buys=False, size=10 * S, limit=4900)
    assert venue.markets["m"].ledger.delta == 10 * S
    events = _drain(sched)
    assert [e.status for e in events if isinstance(e, Trade)] == [
        TradeStatus.MATCHED,
        TradeStatus.FAILED,
    ]
    assert venue.markets["m"].ledger.delta == 0
    assert venue.fills[0].failed


def test_outage_errors_reject_places_and_timeouts_execute_late() -> None:
    venue, sched = _venue(outages=(Outage(start_ms=T0, end_ms=T0 + 5000, error_share=0.5),))
    _drain(sched)
    for i in range(20):
        venue.arrive(T0, _place(f"p{i}", "m-yes", Side.BUY, 4700))
    events = _drain(sched, venue)
    faults = [e for e in events if isinstance(e, VenueFault)]
    rejected = {e.client_id for e in events if isinstance(e, OrderRejected)}
    acked = {e.client_id for e in events if isinstance(e, OrderAcked)}
    assert len(faults) == 20
    assert rejected
    assert acked
    assert not rejected & acked
    assert len(rejected) + len(acked) == 20
    assert all(e.ts_ms >= T0 + 5000 for e in events if isinstance(e, OrderAcked))
