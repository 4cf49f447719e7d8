"""``PaperVenue`` alone, on a scripted market (no network): how paper orders fill.

The market data comes from a fake public reader and hand-written market-channel frames,
so each test states the exact book and trade that should (or should not) fill a paper
order, and checks the events the Engine would receive.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from mmfsm.core.commands import Cancel, Place, TimeInForce
from mmfsm.core.events import (
    BookSnapshot,
    Event,
    MarketListed,
    OrderAcked,
    OrderCancelled,
    OrderRejected,
    RejectReason,
    TickSizeChanged,
    Trade,
    TradeStatus,
    VenueFault,
)
from mmfsm.core.ledger import MarketLedger
from mmfsm.core.ticks import SIZE_SCALE, Side, TickSize, parse_price
from mmfsm.sim.latency import LatencyModel
from mmfsm.venues.base import StartupRefused, VenueError
from mmfsm.venues.clob import ClobRest
from mmfsm.venues.paper import PaperConfig, PaperVenue
from mmfsm.venues.public import PublicData

CID, YES, NO = "0xc1", "y1", "n1"
SHARES = SIZE_SCALE
# 20 ms to the venue, 20 ms back, fills 30 ms, settlement 50 ms: quick and checkable.
LATENCY = LatencyModel(
    place_ms=(20, 20),
    cancel_ms=(20, 20),
    response_ms=(20, 20),
    fill_ms=(30, 30),
    market_ms=(0, 0),
    confirm_ms=(50, 50),
)


def _levels(levels: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"price": p, "size": s} for p, s in levels]


class FakeData:
    """A public reader with a settable book; ``fail`` makes every read fail."""

    def __init__(self) -> None:
        self.fail = False
        self.yes_bids = [("0.48", "100")]
        self.yes_asks = [("0.52", "100")]
        self.timestamp: str | None = None

    async def markets(self) -> list[dict[str, Any]]:
        if self.fail:
            raise VenueError(503, "down")
        return [
            {
                "condition_id": CID,
                "active": True,
                "tokens": [{"outcome": "Yes", "token_id": YES}, {"outcome": "No", "token_id": NO}],
            }
        ]

    async def book(self, token: str) -> dict[str, Any]:
        if self.fail:
            raise VenueError(503, "down")
        mirror = (
            [(f"{1 - float(p):.2f}", s) for p, s in self.yes_asks],
            [(f"{1 - float(p):.2f}", s) for p, s in self.yes_bids],
        )
        bids, asks = (self.yes_bids, self.yes_asks) if token == YES else mirror
        stamp = {} if self.timestamp is None else {"timestamp": self.timestamp}
        return {
            **stamp,
            "market": CID,
            "asset_id": token,
            "bids": _levels(bids),
            "asks": _levels(asks),
            "tick_size": "0.01",
            "min_order_size": "5",
            "neg_risk": False,
        }

    async def close(self) -> None:
        pass


class Harness:
    def __init__(self, venue: PaperVenue) -> None:
        self.venue = venue
        self.events: list[Event] = []

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    async def until(self, pred: Callable[[], bool], what: str, timeout: float = 2.0) -> None:
        end = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > end:
                raise AssertionError(f"timed out waiting for {what}; events: {self.events}")
            await asyncio.sleep(0.01)

    def frame(self, msg: dict[str, Any]) -> None:
        self.venue.on_market_text(json.dumps(msg))

    def place(
        self, cid: str, price: str, size: int = 10, *, side: Side = Side.BUY, token: str = YES,
        post_only: bool = True,
    ) -> int:  # fmt: skip
        sent = int(time.time() * 1000)
        self.venue.submit(
            [
                Place(
                    client_id=cid,
                    market="m1",
                    token=token,
                    side=side,
                    price=parse_price(price),
                    size=size * SHARES,
                    tif=TimeInForce.GTC,
                    post_only=post_only,
                )
            ]
        )
        return sent

    def trades(self, cid: str, status: TradeStatus = TradeStatus.MATCHED) -> list[Trade]:
        return [t for t in self.of(Trade) if t.client_id == cid and t.status is status]


def run(body: Callable[[Harness, FakeData], Any], **config: Any) -> None:
    async def main() -> None:
        data = FakeData()
        venue = PaperVenue(
            PaperConfig(
                host="http://fake",
                ws_url="ws://fake",
                latency=LATENCY,
                use_market_ws=False,
                **{"resync_s": 3600.0, **config},
            ),
            data,  # type: ignore[arg-type]
        )
        h = Harness(venue)
        await venue.start(h.events.append)
        try:
            await body(h, data)
        finally:
            await venue.abort()

    asyncio.run(main())


def test_start_lists_the_market_and_its_books_in_exact_units() -> None:
    async def body(h: Harness, data: FakeData) -> None:
        (listed,) = h.of(MarketListed)
        assert (listed.market, listed.yes_token, listed.no_token) == ("m1", YES, NO)
        assert listed.tick is TickSize.CENT
        assert listed.min_size == 5 * SHARES
        books = {b.token: b for b in h.of(BookSnapshot)}
        assert books[YES].bids == ((4800, 100 * SHARES),)
        assert books[YES].asks == ((5200, 100 * SHARES),)
        assert books[NO].bids == ((4800, 100 * SHARES),)

    run(body)


def test_ack_after_the_latency_then_a_trade_through_our_price_fills_us_first() -> None:
    async def body(h: Harness, data: FakeData) -> None:
        sent = h.place("b1", "0.50")
        await h.until(lambda: h.of(OrderAcked), "the ack")
        (ack,) = h.of(OrderAcked)
        assert ack.client_id == "b1"
        assert ack.ts_ms - sent >= 40  # to the venue and back
        # Someone sells 20 at 0.48: our bid at 0.50 was better, so it fills first.
        h.frame(
            {
                "event_type": "last_trade_price",
                "asset_id": YES,
                "market": CID,
                "price": "0.48",
                "size": "20",
                "side": "SELL",
            }
        )
        await h.until(lambda: h.trades("b1"), "the fill")
        (fill,) = h.trades("b1")
        assert (fill.side, fill.price, fill.size) == (Side.BUY, 5000, 10 * SHARES)
        assert fill.trade_id.startswith(f"{h.venue.run_id}-")  # unique across paper runs
        assert ack.venue_id.startswith(f"{h.venue.run_id}-")
        await h.until(lambda: h.trades("b1", TradeStatus.CONFIRMED), "the settlement")
        assert h.venue.model.markets["m1"].ledger.yes_held == 10 * SHARES
        assert h.venue.status().open_orders == 0

    run(body)


def test_a_no_token_buy_is_a_yes_sell_and_hits_our_yes_bid() -> None:
    async def body(h: Harness, data: FakeData) -> None:
        h.place("b1", "0.50")
        await h.until(lambda: h.of(OrderAcked), "the ack")
        h.frame(
            {
                "event_type": "last_trade_price",
                "asset_id": NO,
                "market": CID,
                "price": "0.52",  # buying NO at 0.52 is selling YES at 0.48
                "size": "5",
                "side": "BUY",
            }
        )
        await h.until(lambda: h.trades("b1"), "the fill")
        assert [t.size for t in h.trades("b1")] == [5 * SHARES]

    run(body)


def test_inside_the_spread_the_takers_side_decides() -> None:
    async def body(h: Harness, data: FakeData) -> None:
        h.place("b1", "0.50")
        h.place("a1", "0.49", side=Side.BUY, token=NO)  # as a YES ask: 0.51
        await h.until(lambda: len(h.of(OrderAcked)) == 2, "the acks")
        # A taker sold YES at 0.50, inside the 0.48/0.52 book: it hit a bid at 0.50.
        h.frame(
            {
                "event_type": "last_trade_price",
                "asset_id": YES,
                "market": CID,
                "price": "0.50",
                "size": "4",
                "side": "SELL",
            }
        )
        await h.until(lambda: h.trades("b1"), "the fill")
        assert [t.size for t in h.trades("b1")] == [4 * SHARES]
        await asyncio.sleep(0.1)
        assert not h.trades("a1")

    run(body)


def test_a_trade_away_from_our_side_does_not_fill_us() -> None:
    async def body(h: Harness, data: FakeData) -> None:
        h.place("b1", "0.50")
        await h.until(lambda: h.of(OrderAcked), "the ack")
        h.frame(
            {
                "event_type": "last_trade_price",
                "asset_id": YES,
                "market": CID,
                "price": "0.52",
                "size": "50",
                "side": "BUY",
            }
        )
        await asyncio.sleep(0.2)
        assert not h.trades("b1")

    run(body)


def test_joining_a_level_waits_behind_the_size_ahead() -> None:
    async def body(h: Harness, data: FakeData) -> None:
        h.place("b1", "0.48")  # behind 100 shares of others
        await h.until(lambda: h.of(OrderAcked), "the ack")
        sell = {
            "event_type": "last_trade_price",
            "asset_id": YES,
            "market": CID,
            "price": "0.48",
            "side": "SELL",
        }
        h.frame({**sell, "size": "60"})
        await asyncio.sleep(0.15)
        assert not h.trades("b1")  # 40 still ahead
        h.frame({**sell, "size": "45"})
        await h.until(lambda: h.trades("b1"), "the fill")
        assert [t.size for t in h.trades("b1")] == [5 * SHARES]  # 45 - 40 ahead

    run(body)


def test_a_book_that_trades_through_our_bid_fills_it() -> None:
    async def body(h: Harness, data: FakeData) -> None:
        h.place("b1", "0.50")
        await h.until(lambda: h.of(OrderAcked), "the ack")
        # A delta: the 0.52 asks go, sellers now stand at 0.50.
        h.frame(
            {
                "event_type": "price_change",
                "market": CID,
                "price_changes": [
                    {"asset_id": YES, "price": "0.52", "size": "0", "side": "SELL"},
                    {"asset_id": YES, "price": "0.50", "size": "30", "side": "SELL"},
                ],
            }
        )
        await h.until(lambda: h.trades("b1"), "the fill")
        assert [(t.price, t.size) for t in h.trades("b1")] == [(5000, 10 * SHARES)]
        last = [b for b in h.of(BookSnapshot) if b.token == YES][-1]
        assert last.asks == ((5000, 30 * SHARES),)
        assert last.bids == ((4800, 100 * SHARES),)  # our filled bid is gone from it

    run(body)


def test_the_books_the_engine_sees_show_our_resting_orders() -> None:
    async def body(h: Harness, data: FakeData) -> None:
        h.place("b1", "0.50")
        await h.until(lambda: h.of(OrderAcked), "the ack")
        await h.until(
            lambda: any(b.bids[0] == (5000, 10 * SHARES) for b in h.of(BookSnapshot)),
            "our bid in the YES book",
        )
        no_books = [b for b in h.of(BookSnapshot) if b.token == NO]
        assert no_books[-1].asks[0] == (5000, 10 * SHARES)  # and as a NO ask at 0.50

    run(body)


@pytest.mark.parametrize(
    ("price", "size", "side", "reason"),
    [
        ("0.52", 10, Side.BUY, RejectReason.POST_ONLY),  # would cross the ask
        ("0.50", 1, Side.BUY, RejectReason.MIN_SIZE),  # minimum is 5
        ("0.505", 10, Side.BUY, RejectReason.TICK),  # off the 0.01 grid
        ("0.55", 10, Side.SELL, RejectReason.BALANCE),  # no YES held
    ],
)
def test_rejects_as_the_venue_would(
    price: str, size: int, side: Side, reason: RejectReason
) -> None:
    async def body(h: Harness, data: FakeData) -> None:
        h.place("x1", price, size, side=side)
        await h.until(lambda: h.of(OrderRejected), "the reject")
        (rej,) = h.of(OrderRejected)
        assert (rej.client_id, rej.reason) == ("x1", reason)
        assert not h.of(OrderAcked)

    run(body)


def test_a_tick_change_reaches_the_engine_and_the_old_grid_is_rejected() -> None:
    async def body(h: Harness, data: FakeData) -> None:
        h.frame(
            {
                "event_type": "tick_size_change",
                "asset_id": YES,
                "market": CID,
                "old_tick_size": "0.01",
                "new_tick_size": "0.001",
            }
        )
        await h.until(lambda: h.of(TickSizeChanged), "the tick change")
        assert h.of(TickSizeChanged)[0].tick is TickSize.MILLI
        h.place("b1", "0.505")  # on the new grid
        await h.until(lambda: h.of(OrderAcked), "the ack")
        h.frame(
            {
                "event_type": "tick_size_change",
                "asset_id": YES,
                "market": CID,
                "old_tick_size": "0.001",
                "new_tick_size": "0.01",
            }
        )
        h.place("b2", "0.495")
        await h.until(lambda: h.of(OrderRejected), "the reject")
        assert [(r.client_id, r.reason) for r in h.of(OrderRejected)] == [("b2", RejectReason.TICK)]

    run(body)


def test_cancel_is_confirmed_with_the_matched_size() -> None:
    async def body(h: Harness, data: FakeData) -> None:
        h.place("b1", "0.50")
        await h.until(lambda: h.of(OrderAcked), "the ack")
        h.venue.submit([Cancel(client_id="b1", market="m1", reason="test")])
        await h.until(lambda: h.of(OrderCancelled), "the cancel")
        (done,) = h.of(OrderCancelled)
        assert (done.client_id, done.size_matched) == ("b1", 0)
        assert h.venue.status().open_orders == 0

    run(body)


def test_a_failed_read_is_a_fault_that_holds_the_market_until_a_fresh_read() -> None:
    async def body(h: Harness, data: FakeData) -> None:
        h.place("b1", "0.50")
        await h.until(lambda: h.of(OrderAcked), "the ack")
        data.fail = True
        await h.until(lambda: h.of(VenueFault), "the fault")
        (fault,) = h.of(VenueFault)
        assert fault.market == "m1"
        books = len(h.of(BookSnapshot))
        # While held, a book that trades through our bid neither reaches the Engine
        # nor fills us: stale or not, it is not trusted until a read succeeds.
        h.frame(
            {
                "event_type": "book",
                "asset_id": YES,
                "market": CID,
                "bids": _levels([("0.40", "10")]),
                "asks": _levels([("0.45", "10")]),
            }
        )
        await asyncio.sleep(0.2)
        assert len(h.of(BookSnapshot)) == books
        assert not h.trades("b1")
        data.fail = False
        await h.until(lambda: len(h.of(BookSnapshot)) > books, "a fresh book")
        assert h.of(BookSnapshot)[-1].market == "m1"
        assert not h.venue.holds["m1"]

    run(body, resync_s=0.05)


@pytest.mark.parametrize(("rest_stamp", "fills"), [("1000", False), ("3000", True)])
def test_a_rest_book_older_than_the_stream_does_not_replace_it(
    rest_stamp: str, fills: bool
) -> None:
    async def body(h: Harness, data: FakeData) -> None:
        h.place("b1", "0.50")
        await h.until(lambda: h.of(OrderAcked), "the ack")
        h.frame(
            {
                "event_type": "book",
                "asset_id": YES,
                "market": CID,
                "timestamp": "2000",
                "bids": _levels([("0.48", "100")]),
                "asks": _levels([("0.55", "100")]),
            }
        )
        data.yes_asks = [("0.49", "100")]  # through our bid: real only if it is newer
        data.timestamp = rest_stamp
        await asyncio.sleep(0.3)
        assert bool(h.trades("b1")) is fills

    run(body, resync_s=0.05)


def test_recovered_holdings_can_be_sold() -> None:
    async def main() -> None:
        ledger = MarketLedger(market="m1", yes_token=YES, no_token=NO)
        ledger.apply(
            Trade(
                ts_ms=1, trade_id="old", client_id="c0", market="m1", token=YES, side=Side.BUY,
                price=4000, size=10 * SHARES, status=TradeStatus.CONFIRMED,
            )
        )  # fmt: skip
        venue = PaperVenue(
            PaperConfig(
                host="http://fake", ws_url="ws://fake", latency=LATENCY, use_market_ws=False
            ),
            FakeData(),  # type: ignore[arg-type]
            holdings={"m1": ledger},
        )
        h = Harness(venue)
        await venue.start(h.events.append)
        try:
            h.place("s1", "0.55", side=Side.SELL)
            await h.until(lambda: h.of(OrderAcked) or h.of(OrderRejected), "an answer")
            assert [a.client_id for a in h.of(OrderAcked)] == ["s1"]
            assert venue.model.markets["m1"].ledger is not ledger  # a copy
        finally:
            await venue.abort()

    asyncio.run(main())


def test_a_failed_read_at_start_refuses_the_start() -> None:
    async def main() -> None:
        data = FakeData()
        data.fail = True
        venue = PaperVenue(PaperConfig(host="http://fake", ws_url="ws://fake"), data)  # type: ignore[arg-type]
        with pytest.raises(StartupRefused, match="cannot read"):
            await venue.start(lambda _e: None)

    asyncio.run(main())


def test_shutdown_cancels_every_paper_order_and_reports_it() -> None:
    async def body(h: Harness, data: FakeData) -> None:
        h.place("b1", "0.50")
        h.place("b2", "0.49")
        report = await h.venue.shutdown()  # both still on their way to the venue
        assert (report.cancelled, report.still_open) == (2, 0)
        assert {e.client_id for e in h.of(OrderCancelled)} == {"b1", "b2"}
        assert len(h.of(OrderAcked)) == 2

    run(body)


def test_the_paper_venue_has_no_way_to_send_an_order() -> None:
    venue = PaperVenue(PaperConfig(host="http://x", ws_url="ws://x"), PublicData("http://x"))
    other = PaperVenue(PaperConfig(host="http://x", ws_url="ws://x"), PublicData("http://x"))
    assert venue.run_id != other.run_id
    assert not any(isinstance(v, ClobRest) for v in vars(venue).values())
    writes = ("post_order", "cancel", "cancel_all", "heartbeat", "ensure_creds")
    assert not [name for name in writes if hasattr(venue.data, name)]
