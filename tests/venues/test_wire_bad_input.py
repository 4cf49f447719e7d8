"""Out-of-range venue input is refused at the wire, naming the field and the id.

A fill of size 0 or -3, a price of 0, 1 or 2, a negative order size, a negative book
level: each must raise ``WireError`` (which the adapter catches per message), never a
bare ``ValueError`` from deeper code or a silently wrong tracker or book.
"""

from __future__ import annotations

import asyncio
import json
import logging
from types import SimpleNamespace
from typing import Any

import attrs
import pytest

import mmfsm.venues.wire as wire
from mmfsm.core.commands import TimeInForce
from mmfsm.core.events import Event, PriceChange, Trade
from mmfsm.core.ticks import SIZE_SCALE, Side, TickSize
from mmfsm.venues.adapter import AdapterConfig, ClobVenue
from mmfsm.venues.base import MarketInfo
from mmfsm.venues.netbook import NetBooks
from mmfsm.venues.tracking import Tracked
from mmfsm.venues.wire import (
    TokenIndex,
    WireError,
    frames,
    parse_book,
    parse_fills,
    parse_order_state,
    parse_price_change,
)

M = MarketInfo(
    key="m1", condition_id="0xc", yes_token="111", no_token="222", tick=TickSize.CENT, min_size=5
)
INDEX = TokenIndex([M])
ME = "my-api-key"


def _taker(**over: Any) -> dict[str, Any]:
    trade = {
        "event_type": "trade",
        "id": "t1",
        "taker_order_id": "0xtaker",
        "market": "0xc",
        "asset_id": "111",
        "side": "BUY",
        "size": "10",
        "price": "0.55",
        "status": "MATCHED",
        "match_time": "1700000000",
        "owner": ME,
        "trader_side": "TAKER",
    }
    trade.update(over)
    return trade


def _maker(**entry: Any) -> dict[str, Any]:
    maker = {"order_id": "0xa", "owner": ME, "asset_id": "222", "side": "BUY"}
    maker.update(price="0.45", matched_amount="4")
    maker.update(entry)
    return _taker(owner="other", trader_side="MAKER", maker_orders=[maker])


@pytest.mark.parametrize("size", ["0", "-3", 0, "-0.000001"])
def test_a_fill_of_size_zero_or_less_names_the_trade_and_the_field(size: object) -> None:
    with pytest.raises(WireError, match=r"^trade t1: size .* must be > 0"):
        parse_fills(_taker(size=size), ME)
    with pytest.raises(WireError, match=r"^trade t1: maker_orders\[0\]\.matched_amount"):
        parse_fills(_maker(matched_amount=size), ME)


@pytest.mark.parametrize("price", ["0", "1", "2", "-0.5", 1])
def test_a_fill_price_outside_zero_one_names_the_trade_and_the_field(price: object) -> None:
    with pytest.raises(WireError, match=r"^trade t1: price .* outside \(0, 1\)"):
        parse_fills(_taker(price=price), ME)
    with pytest.raises(WireError, match=r"^trade t1: maker_orders\[0\]\.price .* outside"):
        parse_fills(_maker(price=price), ME)


def test_a_frame_nested_too_deeply_is_a_wire_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # json raises RecursionError past the recursion limit (1000 by default; the test
    # process may run with a higher one, past which deep nesting crashes the C stack,
    # so the error is injected rather than provoked).
    def too_deep(_text: str) -> object:
        raise RecursionError("maximum recursion depth exceeded while decoding a JSON array")

    monkeypatch.setattr(wire.json, "loads", too_deep)
    with pytest.raises(WireError, match=r"^frame: body is nested too deeply"):
        frames("[[[[]]]]")  # RecursionError escaped the handler before


def test_in_range_fills_still_parse() -> None:
    (fill,) = parse_fills(_taker(price="0.0001", size="0.000001"), ME)
    assert (fill.price, fill.size) == (1, 1)
    (fill,) = parse_fills(_maker(price="0.9999"), ME)
    assert fill.price == 9999


def _order(**over: Any) -> dict[str, Any]:
    msg = {"id": "0xa", "market": "0xc", "asset_id": "111", "type": "UPDATE"}
    msg.update(original_size="10", size_matched="3")
    msg.update(over)
    return msg


def test_order_sizes_are_checked_and_the_error_names_the_order() -> None:
    assert parse_order_state(_order(size_matched="0")).size_matched == 0
    with pytest.raises(WireError, match=r"^order 0xa: original_size -3 must be > 0"):
        parse_order_state(_order(original_size="-3"))
    with pytest.raises(WireError, match=r"^order 0xa: original_size 0 must be > 0"):
        parse_order_state(_order(original_size="0"))
    with pytest.raises(WireError, match=r"^order 0xa: size_matched -1 must be >= 0"):
        parse_order_state(_order(size_matched="-1"))
    missing = _order()
    del missing["original_size"]
    with pytest.raises(WireError, match="original_size"):
        parse_order_state(missing)


def _book(bids: list[dict[str, str]], asks: list[dict[str, str]]) -> dict[str, Any]:
    return {"event_type": "book", "asset_id": "111", "market": "0xc", "bids": bids, "asks": asks}


def test_a_negative_book_level_is_refused_not_silently_dropped() -> None:
    bad = _book([{"price": "0.48", "size": "5"}, {"price": "0.47", "size": "-5"}], [])
    with pytest.raises(WireError, match=r"^book: bids\[1\]\.size is negative"):
        parse_book(bad, INDEX, 1)
    for price in ("0", "1", "1.5"):
        with pytest.raises(WireError, match=r"^book: asks\[0\]\.price is outside \(0, 1\)"):
            parse_book(_book([], [{"price": price, "size": "5"}]), INDEX, 1)
    # Without the check NetBooks would show the book minus that level, and no one
    # would know: the snapshot would look valid.
    ok = parse_book(_book([{"price": "0.48", "size": "5"}], []), INDEX, 1)
    assert ok is not None
    assert NetBooks(INDEX).snapshot(ok).bids == ((4800, 5 * SIZE_SCALE),)


def _change(price: str, size: str) -> dict[str, Any]:
    return {
        "event_type": "price_change",
        "market": "0xc",
        "price_changes": [
            {"asset_id": "111", "side": "BUY", "price": "0.40", "size": "7"},
            {"asset_id": "111", "side": "BUY", "price": price, "size": size},
        ],
    }


@pytest.mark.parametrize(
    ("price", "size", "problem"),
    [
        ("0.5", "-5", r"price_changes\[1\]\.size -5 must be >= 0"),
        ("1.5", "5", r"price_changes\[1\]\.price 1.5 is outside \(0, 1\)"),
        ("-0.5", "5", r"price_changes\[1\]\.price -0.5 is outside \(0, 1\)"),
        ("0", "5", r"price_changes\[1\]\.price 0 is outside \(0, 1\)"),
    ],
)
def test_a_bad_price_change_refuses_the_whole_message(price: str, size: str, problem: str) -> None:
    with pytest.raises(WireError, match=rf"^price_change: {problem}"):
        parse_price_change(_change(price, size), INDEX, 2)
    assert parse_price_change(_change("0.5", "0"), INDEX, 2)[0].changes[1] == (Side.BUY, 5000, 0)


# ---------------------------------------------------------------- through the adapter


GOOD_BOOK = {
    "asset_id": "111",
    "market": "0xc",
    "bids": [{"price": "0.47", "size": "5"}],
    "asks": [],
}


def _venue() -> tuple[ClobVenue, list[Event], Tracked]:
    """A ClobVenue on one market with one acked order, its REST a stub (books only)."""
    books: list[str] = []

    async def book(token: str) -> dict[str, Any]:
        books.append(token)
        return {**GOOD_BOOK, "asset_id": token}

    rest = SimpleNamespace(creds=SimpleNamespace(api_key=ME), book=book, books=books)
    config = AdapterConfig(host="http://127.0.0.1:1", ws_url="ws://127.0.0.1:1", chain_id=137)
    venue = ClobVenue(config, rest)  # type: ignore[arg-type]
    venue.markets = [M]
    venue.index = TokenIndex([M])
    venue.net = NetBooks(venue.index)
    events: list[Event] = []
    venue._emit = events.append
    tracked = Tracked(
        client_id="c1",
        market=M,
        token="111",
        side=Side.BUY,
        price=5500,
        size=10 * SIZE_SCALE,
        tif=TimeInForce.GTC,
        engine_size=10 * SIZE_SCALE,
    )
    venue.tracker.add(tracked)
    venue.tracker.acked(tracked, "0xtaker")
    return venue, events, tracked


@pytest.mark.parametrize("size", ["0", "-3"])
def test_one_bad_trade_in_a_frame_is_dropped_and_the_good_one_after_it_arrives(
    size: str, caplog: pytest.LogCaptureFixture
) -> None:
    venue, events, tracked = _venue()
    frame = json.dumps([_taker(id="evil-1", size=size), _taker(id="good-1", size="1")])

    async def body() -> None:
        venue._on_user_text(frame)  # raised ValueError (size 0) before the fix
        await asyncio.sleep(0)

    with caplog.at_level(logging.WARNING, logger="mmfsm.venue"):
        asyncio.run(body())
    assert [(e.trade_id, e.size) for e in events if isinstance(e, Trade)] == [
        ("good-1", SIZE_SCALE)
    ]
    assert tracked.filled == SIZE_SCALE  # -3 made it negative before the fix
    assert "evil-1" not in venue.tracker.seen
    assert f"user channel message dropped: trade evil-1: size {size} must be > 0" in caplog.text


def test_a_negative_level_from_the_market_channel_is_refused_with_a_clear_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    venue, events, _ = _venue()

    async def body() -> None:
        venue._on_market_text(json.dumps(_book([{"price": "0.47", "size": "5"}], [])))
        assert len(events) == 1
        venue._on_market_text(json.dumps(_change("0.47", "-5")))
        await asyncio.sleep(0.05)  # a resync of the book, if the adapter starts one

    with caplog.at_level(logging.WARNING, logger="mmfsm.venue"):
        asyncio.run(body())
    # Before the fix NetBooks turned the -5 into "level removed" and emitted it.
    assert not [e for e in events if isinstance(e, PriceChange)]
    assert (
        "market channel message dropped: price_change: price_changes[1].size -5 must be >= 0"
        in caplog.text
    )


def test_a_refused_book_message_resyncs_that_book_from_rest() -> None:
    venue, events, _ = _venue()

    async def body() -> None:
        venue._on_market_text(json.dumps(_change("0.47", "-5")))
        await asyncio.sleep(0.05)

    asyncio.run(body())
    assert venue.rest.books == ["111", "222"]  # type: ignore[attr-defined]
    assert [type(e).__name__ for e in events] == ["BookSnapshot", "BookSnapshot"]


def test_a_fill_the_trade_refuses_changes_nothing(caplog: pytest.LogCaptureFixture) -> None:
    venue, events, tracked = _venue()
    (fill,) = parse_fills(_taker(id="t0"), ME)
    bad = attrs.evolve(fill, size=0)  # past the wire's checks, by a bug of ours

    async def body() -> None:
        venue._forward(bad, "ws")  # raised ValueError after counting it, before the fix
        venue._forward(fill, "ws")

    with caplog.at_level(logging.WARNING, logger="mmfsm.venue"):
        asyncio.run(body())
    assert "ws fill dropped: trade t0: size 0 must be > 0" in caplog.text
    assert tracked.filled == fill.size
    assert [e.size for e in events if isinstance(e, Trade)] == [fill.size]
