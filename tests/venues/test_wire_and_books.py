"""Parsing Polymarket JSON into events, netting our orders out of books, reconciling."""

from __future__ import annotations

import pytest

from mmfsm.core.commands import TimeInForce
from mmfsm.core.events import BookSnapshot, PriceChange, RejectReason, TradeStatus
from mmfsm.core.ticks import SIZE_SCALE, Side, TickSize
from mmfsm.venues.base import MarketInfo
from mmfsm.venues.netbook import NetBooks
from mmfsm.venues.reconcile import explain_holdings, holdings, split_open_orders
from mmfsm.venues.tracking import Tracked, Tracker, should_forward
from mmfsm.venues.wire import (
    TokenIndex,
    WireError,
    frames,
    parse_book,
    parse_fills,
    parse_order_state,
    parse_price_change,
    parse_tick_change,
    reject_reason,
)

M = MarketInfo(
    key="m1", condition_id="0xc", yes_token="111", no_token="222", tick=TickSize.CENT, min_size=5
)
INDEX = TokenIndex([M])
ME = "my-api-key"


def test_book_levels_are_sorted_best_first_whatever_the_wire_order() -> None:
    msg = {
        "event_type": "book",
        "asset_id": "111",
        "market": "0xc",
        "bids": [{"price": "0.47", "size": "10"}, {"price": "0.48", "size": "5"}],
        "asks": [{"price": "0.53", "size": "7"}, {"price": "0.52", "size": "3"}],
    }
    snap = parse_book(msg, INDEX, 1)
    assert snap is not None
    assert snap.bids == ((4800, 5 * SIZE_SCALE), (4700, 10 * SIZE_SCALE))
    assert snap.asks == ((5200, 3 * SIZE_SCALE), (5300, 7 * SIZE_SCALE))
    assert parse_book({**msg, "asset_id": "999"}, INDEX, 1) is None  # not ours


def test_price_change_groups_by_asset_and_errors_name_the_field() -> None:
    msg = {
        "event_type": "price_change",
        "market": "0xc",
        "price_changes": [
            {"asset_id": "111", "price": "0.5", "size": "0", "side": "BUY"},
            {"asset_id": "222", "price": "0.5", "size": "12.5", "side": "SELL"},
            {"asset_id": "999", "price": "0.5", "size": "1", "side": "SELL"},
        ],
    }
    changes = parse_price_change(msg, INDEX, 2)
    assert [(c.token, c.changes) for c in changes] == [
        ("111", ((Side.BUY, 5000, 0),)),
        ("222", ((Side.SELL, 5000, 12_500_000),)),
    ]
    bad = {"price_changes": [{"asset_id": "111", "price": "0.5", "size": "1", "side": "UP"}]}
    with pytest.raises(WireError, match=r"price_changes\[0\]\.side"):
        parse_price_change(bad, INDEX, 2)
    tick = parse_tick_change({"asset_id": "222", "new_tick_size": "0.001"}, INDEX, 3)
    assert tick is not None
    assert tick.tick is TickSize.MILLI
    assert tick.market == "m1"
    assert frames("PONG") == []
    assert len(frames('[{"a": 1}, {"b": 2}]')) == 2


def test_fills_for_taker_and_maker_sides() -> None:
    trade = {
        "id": "t1",
        "taker_order_id": "0xtaker",
        "market": "0xc",
        "asset_id": "111",
        "side": "BUY",
        "size": "10",
        "price": "0.55",
        "status": "MINED",
        "match_time": "1700000000",
        "owner": "someone-else",
        "trader_side": "MAKER",
        "maker_orders": [
            {
                "order_id": "0xa",
                "owner": ME,
                "asset_id": "222",
                "side": "BUY",
                "price": "0.45",
                "matched_amount": "4",
            },
            {
                "order_id": "0xb",
                "owner": "other",
                "asset_id": "111",
                "side": "SELL",
                "price": "0.55",
                "matched_amount": "6",
            },
        ],
    }
    (fill,) = parse_fills(trade, ME)
    assert (fill.trade_id, fill.order_id, fill.token, fill.side, fill.price, fill.size) == (
        "t1:0xa",
        "0xa",
        "222",
        Side.BUY,
        4500,
        4 * SIZE_SCALE,
    )
    assert fill.status is TradeStatus.MINED
    taker = parse_fills({**trade, "trader_side": "TAKER", "owner": ME, "maker_orders": []}, ME)
    assert [(f.trade_id, f.order_id, f.price) for f in taker] == [("t1", "0xtaker", 5500)]
    with pytest.raises(WireError, match="status"):
        parse_fills({**trade, "status": "SETTLED"}, ME)


def test_order_states_and_reject_reasons() -> None:
    state = parse_order_state(
        {
            "id": "0xa",
            "market": "0xc",
            "asset_id": "111",
            "type": "CANCELLATION",
            "original_size": "10",
            "size_matched": "3",
        }
    )
    assert state.status == "CANCELED"
    assert state.size_matched == 3 * SIZE_SCALE
    assert reject_reason("invalid post-only order: order crosses book") is RejectReason.POST_ONLY
    assert (
        reject_reason("order 0x1 is invalid. Price (0.405) breaks minimum tick size rule: 0.01")
        is RejectReason.TICK
    )
    assert (
        reject_reason("order 0x1 is invalid. Size (1) lower than the minimum: 5")
        is RejectReason.MIN_SIZE
    )
    assert reject_reason("not enough balance / allowance") is RejectReason.BALANCE
    assert reject_reason("could not insert order") is RejectReason.OTHER


def test_net_books_hide_our_own_orders_on_both_tokens() -> None:
    net = NetBooks(INDEX, subtract_own=True)
    yes = net.snapshot(
        BookSnapshot(ts_ms=1, market="m1", token="111", bids=((4800, 100),), asks=((5200, 100),))
    )
    assert yes.bids == ((4800, 100),)
    net.snapshot(
        BookSnapshot(ts_ms=1, market="m1", token="222", bids=((4800, 100),), asks=((5200, 100),))
    )
    # We post a YES bid at 0.49 for 10: the venue will show it; our Engine must not see it.
    assert net.own("111", Side.BUY, 4900, 10, 2) == []  # no level there yet: nothing to hide
    shown = net.change(
        PriceChange(ts_ms=3, market="m1", token="111", changes=((Side.BUY, 4900, 10),))
    )
    assert shown is None  # only our order at that level
    mirrored = net.change(
        PriceChange(ts_ms=3, market="m1", token="222", changes=((Side.SELL, 5100, 10),))
    )
    assert mirrored is None  # the NO book's mirror of it too
    # Someone joins our level: the Engine sees their size only.
    joined = net.change(
        PriceChange(ts_ms=4, market="m1", token="111", changes=((Side.BUY, 4900, 25),))
    )
    assert joined is not None
    assert joined.changes == ((Side.BUY, 4900, 15),)
    # Our order ends: the level shows in full.
    out = net.own("111", Side.BUY, 4900, -10, 5)
    assert [(c.token, c.changes) for c in out] == [
        ("111", ((Side.BUY, 4900, 25),)),
        ("222", ((Side.SELL, 5100, 10),)),
    ]


def test_forwarding_rules_and_holdings() -> None:
    assert should_forward(None, TradeStatus.MATCHED)
    assert not should_forward(TradeStatus.MATCHED, TradeStatus.MATCHED)
    assert should_forward(TradeStatus.MATCHED, TradeStatus.CONFIRMED)
    assert not should_forward(TradeStatus.CONFIRMED, TradeStatus.MINED)  # a stale poll
    assert not should_forward(TradeStatus.FAILED, TradeStatus.MATCHED)
    from mmfsm.venues.wire import Fill

    def fill(tid: str, side: Side, size: int, status: TradeStatus) -> Fill:
        return Fill(
            trade_id=tid,
            order_id="o",
            condition_id="0xc",
            token="111",
            side=side,
            price=5000,
            size=size,
            status=status,
            match_time=0,
        )

    h = holdings(
        [
            fill("a", Side.BUY, 10, TradeStatus.CONFIRMED),
            fill("b", Side.SELL, 4, TradeStatus.MATCHED),
            fill("c", Side.BUY, 3, TradeStatus.FAILED),
        ]
    )
    assert (h["111"].confirmed, h["111"].low, h["111"].high) == (10, 6, 10)
    assert explain_holdings(h, {"111": 8}, {}) == []
    assert explain_holdings(h, {"111": 11}, {"111": "m1 YES"})[0].startswith(
        "m1 YES: the venue holds"
    )
    assert split_open_orders(
        [{"id": "x", "asset_id": "111"}, {"id": "y", "asset_id": "9"}], ["111"]
    ) == (["x"], ["y"])


def test_net_books_pass_the_venue_book_through_by_default() -> None:
    """The Engine nets its own orders; the adapter must not net them a second time."""
    net = NetBooks(INDEX)
    assert net.own("111", Side.BUY, 4900, 10, 3) == []
    assert net.subtract_own is False


def _tracked(client_id: str, token: str) -> Tracked:
    return Tracked(
        client_id=client_id,
        market=M,
        token=token,
        side=Side.BUY,
        price=4000,
        size=10,
        tif=TimeInForce.GTC,
    )


def test_tracker_owns_every_id_it_sent_and_counts_only_orders_not_done() -> None:
    tracker = Tracker()
    t = _tracked("c1", "111")
    tracker.add(t)
    tracker.expect(t, "0xabc")  # signed; the answer is pending or lost
    assert tracker.owner("0xabc") == ("c1", M, t)  # its fills reach the ledger
    assert tracker.working("0xabc")  # and the resync sweep leaves it alone
    t.done = True  # concluded "not placed" (or taken for ended) ...
    assert tracker.owner("0xabc") == ("c1", M, t)  # ... its fills still count ...
    assert not tracker.working("0xabc")  # ... but if it rests after all, it is cancelled
    u = _tracked("c2", "222")
    tracker.add(u)
    tracker.expect(u, "0xdef")
    tracker.acked(u, "0xdef")
    assert tracker.working("0xdef")
    assert "0xdef" not in tracker.expected
    u.done = True
    assert not tracker.working("0xdef")
    tracker.restored["0xold"] = ("restored-0xold", M)
    assert tracker.owner("0xold") == ("restored-0xold", M, None)
    assert not tracker.working("0xold")  # an earlier run's order must not rest
    assert tracker.owner("0xnone") is None
    assert not tracker.working("0xnone")
