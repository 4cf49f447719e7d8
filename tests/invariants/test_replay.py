"""The event serializer round-trips every event type; a saved run replays identically."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from inv_checks import InvariantViolation
from replay import event_from_json, event_to_json, load_events, replay, save_events
from test_engine_stateful import CONFIGS

from mmfsm.core import events as ev
from mmfsm.core.ticks import SIZE_SCALE, Side, TickSize
from mmfsm.harness import T0

SHARE = SIZE_SCALE

ONE_OF_EACH: list[ev.Event] = [
    ev.MarketListed(ts_ms=T0, market="m1", yes_token="m1-yes", no_token="m1-no",
                    tick=TickSize.CENT, min_size=5 * SHARE, end_ms=T0 + 86_400_000),
    ev.BookSnapshot(ts_ms=T0, market="m1", token="m1-yes", bids=((4800, 100 * SHARE),),
                    asks=((5200, 100 * SHARE), (5300, SHARE))),
    ev.PriceChange(ts_ms=T0 + 1, market="m1", token="m1-yes",
                   changes=((Side.BUY, 4900, SHARE), (Side.SELL, 5300, 0))),
    ev.TickSizeChanged(ts_ms=T0 + 2, market="m1", token="m1-yes", tick=TickSize.MILLI),
    ev.ClockTick(ts_ms=T0 + 5_000),
    ev.OrderAcked(ts_ms=T0 + 5_001, client_id="mm-1", venue_id="0xabc"),
    ev.OrderRejected(ts_ms=T0 + 5_002, client_id="mm-2", reason=ev.RejectReason.POST_ONLY,
                     message="would cross"),
    ev.OrderCancelled(ts_ms=T0 + 5_003, client_id="mm-3", size_matched=SHARE),
    ev.OrderExpired(ts_ms=T0 + 5_004, client_id="mm-4", size_matched=0),
    ev.Trade(ts_ms=T0 + 5_005, trade_id="t1", client_id="mm-3", market="m1", token="m1-no",
             side=Side.SELL, price=5100, size=SHARE, status=ev.TradeStatus.FAILED),
    ev.OperatorHalt(ts_ms=T0 + 6_000, reason="other", market=None),
    ev.OperatorResume(ts_ms=T0 + 7_000, ack="checked", market="m1"),
    ev.ConfigReload(ts_ms=T0 + 8_000, config=CONFIGS["tight"]),
    ev.VenueFault(ts_ms=T0 + 9_000, what="GET /book 502", market="m1"),
]


def test_one_of_each_covers_every_event_class() -> None:
    assert {type(e).__name__ for e in ONE_OF_EACH} == {
        n for n in ev.__all__ if n not in ("Event", "RejectReason", "TradeStatus")
    }


@pytest.mark.parametrize("event", ONE_OF_EACH, ids=lambda e: type(e).__name__)
def test_round_trip_through_json(event: ev.Event) -> None:
    text = json.dumps(event_to_json(event))
    assert event_from_json(json.loads(text)) == event


def test_saved_run_replays_to_the_same_commands(tmp_path: Path) -> None:
    events = [
        *ONE_OF_EACH[:5],
        ev.OperatorHalt(ts_ms=T0 + 6_000, reason="x"),
        ev.OperatorResume(ts_ms=T0 + 6_001, ack=""),
    ]
    path = tmp_path / "run.json"
    save_events(path, CONFIGS["base"], events)
    config, loaded = load_events(path)
    assert config == CONFIGS["base"]
    assert loaded == events
    first = [r.step for r in replay(config, loaded)]
    second = [r.step for r in replay(config, loaded)]
    assert first == second  # the Engine is deterministic
    assert any(r.transitions for r in first)


@pytest.mark.interpreted_core  # patches an Engine method
def test_replay_raises_by_invariant_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """A replay through a broken Engine (quoting while halted) names INV-HALT."""
    from test_mutants import quoting_while_halted

    events = [
        ONE_OF_EACH[0], ONE_OF_EACH[1], ev.ClockTick(ts_ms=T0 + 5_000),
        ev.OperatorHalt(ts_ms=T0 + 5_000, reason="x"),
        ev.ClockTick(ts_ms=T0 + 6_000),
    ]
    replay(CONFIGS["default"], events)  # the real Engine: nothing to report
    quoting_while_halted(monkeypatch)
    with pytest.raises(InvariantViolation) as caught:
        replay(CONFIGS["default"], events)
    assert caught.value.name == "inv_halt"
