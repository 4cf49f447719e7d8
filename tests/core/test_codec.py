"""Everything the Engine reads or writes survives a trip through JSON unchanged."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mmfsm.core import codec
from mmfsm.core.commands import Alert, Cancel, CancelAll, Log, Place, Severity, TimeInForce
from mmfsm.core.config import default_config, parse_config
from mmfsm.core.events import (
    BookSnapshot,
    ClockTick,
    ConfigReload,
    MarketListed,
    OperatorHalt,
    OperatorResume,
    OrderAcked,
    OrderCancelled,
    OrderExpired,
    OrderRejected,
    PriceChange,
    RejectReason,
    TickSizeChanged,
    Trade,
    TradeStatus,
    VenueFault,
)
from mmfsm.core.machines import TransitionRecord
from mmfsm.core.ticks import Side, TickSize

SAMPLES = [
    MarketListed(ts_ms=1, market="m", yes_token="y", no_token="n", tick=TickSize.CENT, min_size=5),
    BookSnapshot(ts_ms=2, market="m", token="y", bids=((4800, 10),), asks=((5200, 3),)),
    PriceChange(ts_ms=3, market="m", token="y", changes=((Side.BUY, 4700, 0),)),
    TickSizeChanged(ts_ms=4, market="m", token="y", tick=TickSize.MILLI),
    OrderAcked(ts_ms=5, client_id="c", venue_id="v"),
    OrderRejected(ts_ms=6, client_id="c", reason=RejectReason.POST_ONLY, message="crosses"),
    OrderCancelled(ts_ms=7, client_id="c", size_matched=3),
    OrderExpired(ts_ms=8, client_id="c", size_matched=0),
    Trade(
        ts_ms=9,
        trade_id="t",
        client_id="c",
        market="m",
        token="n",
        side=Side.SELL,
        price=5000,
        size=3,
        status=TradeStatus.RETRYING,
    ),
    ClockTick(ts_ms=10),
    OperatorHalt(ts_ms=11, reason="r", market="m"),
    OperatorResume(ts_ms=12, ack="checked the books"),
    ConfigReload(ts_ms=13, config=parse_config({"risk": {"max_spread": 0.05}})),
    VenueFault(ts_ms=14, what="open orders fetch failed: timeout"),
    Place(
        client_id="c",
        market="m",
        token="y",
        side=Side.BUY,
        price=4800,
        size=1,
        tif=TimeInForce.GTD,
        post_only=True,
        expires_ms=99,
    ),
    Cancel(client_id="c", market="m", reason="requote"),
    CancelAll(reason="breaker"),
    Alert(severity=Severity.CRITICAL, message="GLOBAL DAILY LOSS LIMIT EXCEEDED"),
    Log(severity=Severity.INFO, message="Inventory: YES 1", market="m"),
    TransitionRecord(
        ts_ms=1,
        machine="bot",
        id="bot",
        source="running",
        target="halted",
        event="breaker_trip",
        inputs=(("daily_pnl", "-50.01"),),
        config_hash="h",
    ),
]


@pytest.mark.parametrize("obj", SAMPLES, ids=lambda o: type(o).__name__)
def test_round_trip(obj: object) -> None:
    assert codec.loads(codec.dumps(obj)) == obj


def test_canonical_text_is_stable() -> None:
    event = ClockTick(ts_ms=10)
    assert codec.dumps(event) == '{"ts_ms":10,"type":"ClockTick"}'


def test_config_reload_keeps_every_value() -> None:
    reload = ConfigReload(ts_ms=1, config=default_config())
    assert codec.loads(codec.dumps(reload)).config == default_config()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"type": "Nope"}', "unknown record type"),
        ("[1, 2]", "must be a JSON object"),
        ('{"type": "Trade", "ts_ms": 1, "trade_id": "t", "client_id": "c", "market": "m",'
         ' "token": "y", "side": "BUY", "price": 0, "size": 1, "status": "MATCHED"}',
         "outside"),
        ('{"type": "ClockTick", "ts_ms": -1}', "ts_ms"),
    ],
)
def test_bad_records_are_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(codec.CodecError, match=message):
        codec.loads(text)


@given(
    st.integers(0, 2**53),
    st.lists(st.tuples(st.integers(1, 9999), st.integers(0, 10**12)), max_size=5),
)
def test_book_snapshots_round_trip(ts: int, bids: list[tuple[int, int]]) -> None:
    event = BookSnapshot(ts_ms=ts, market="m", token="y", bids=tuple(bids), asks=())
    assert codec.loads(codec.dumps(event)) == event
