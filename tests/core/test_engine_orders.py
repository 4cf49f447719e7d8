"""Engine behaviour around our own orders and the data they are priced from.

Exposure accounting (every order counts from its Place until every fill of it is known),
queue-preserving updates, post-only retries, tick-size changes and missing or bad data.
Prices are in 0.0001 units, sizes in micro-shares (``SHARE`` is one share).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest

from mmfsm.core.commands import Alert, Cancel, Command, Log, Place, TimeInForce
from mmfsm.core.config import Config, parse_config
from mmfsm.core.events import (
    BookSnapshot,
    ClockTick,
    Event,
    MarketListed,
    OrderAcked,
    OrderCancelled,
    OrderExpired,
    OrderRejected,
    RejectReason,
    TickSizeChanged,
    Trade,
    TradeStatus,
    VenueFault,
)
from mmfsm.core.orders import OrderStatus
from mmfsm.core.ticks import PRICE_SCALE, SIZE_SCALE, Side, TickSize
from mmfsm.harness import Harness, levels

SHARE = SIZE_SCALE
QUIET = {"gamma": 1.0, "k": 100.0, "horizon_s": 1, "sigma_prior": 0.001}
"""A quote model that quotes one cent either side of the micro-price with a negligible
skew: on the harness's default book (0.48/0.52) it bids 0.49 and asks 0.51."""


def config(
    strategy: dict[str, object] | None = None, risk: dict[str, object] | None = None
) -> Config:
    return parse_config({"strategy": {**QUIET, **(strategy or {})}, "risk": risk or {}})


class Sim(Harness):
    """The shared harness; every step must leave the engine unfaulted and within limits."""

    def send(self, event: Event) -> list[Command]:
        out = super().send(event)
        assert not [c for c in out if isinstance(c, Alert) and "ENGINE FAULT" in c.message]
        for market in self.engine.markets:
            exposure = self.engine.exposure(market)
            assert exposure.worst <= exposure.limit, (market, exposure, event)
            assert abs(self.engine.markets[market].ledger.delta) <= exposure.limit
        return out


def places(cmds: Sequence[Command]) -> list[Place]:
    return [c for c in cmds if isinstance(c, Place)]


def cancels(cmds: Sequence[Command]) -> list[Cancel]:
    return [c for c in cmds if isinstance(c, Cancel)]


def messages(cmds: Sequence[Command]) -> list[str]:
    return [c.message for c in cmds if isinstance(c, Log | Alert)]


def is_bid(p: Place) -> bool:
    """True if a fill of ``p`` raises the YES net delta (buy YES or sell NO)."""
    return (p.side is Side.BUY) == p.token.endswith("-yes")


def yes_price(p: Place) -> int:
    return p.price if p.token.endswith("-yes") else PRICE_SCALE - p.price


def bids(cmds: Sequence[Command]) -> list[Place]:
    return [p for p in places(cmds) if is_bid(p)]


def asks(cmds: Sequence[Command]) -> list[Place]:
    return [p for p in places(cmds) if not is_bid(p)]


def quoting(cfg: Config | None = None) -> tuple[Sim, list[Command]]:
    """A market quoting on the default book, its first two orders acknowledged."""
    h = Sim(cfg or config())
    out = h.start()
    h.ack(out)
    return h, out


# --------------------------------------------------------------------------- exposure


def test_orders_count_toward_exposure_from_the_step_their_place_is_emitted() -> None:
    h = Sim(config())
    out = h.start()
    assert [yes_price(p) for p in bids(out)] == [4900]
    assert [yes_price(p) for p in asks(out)] == [5100]
    exposure = h.engine.exposure("m1")
    assert exposure.long == 10 * SHARE  # the bid, not yet acknowledged
    assert exposure.short == 10 * SHARE  # the ask (buy NO), not yet acknowledged
    assert exposure.limit == 100 * SHARE  # $100 at $1 a share


def test_matched_counts_at_once_and_fill_lines_are_logged() -> None:
    h, out = quoting()
    bid = bids(out)[0]
    got = h.fill(bid, SHARE, trade_id="a")
    assert h.engine.markets["m1"].ledger.delta == SHARE
    assert any(m.startswith("Fill detected: BUY 1 @ 0.49 [MATCHED]") for m in messages(got))
    assert "Inventory: YES 1 NO 0 net delta 1" in messages(got)
    # One share filled, nine still resting: worst case long unchanged.
    assert h.engine.exposure("m1").long == 10 * SHARE


def test_confirmed_finalizes_and_a_later_failed_is_ignored() -> None:
    h, out = quoting()
    bid = bids(out)[0]
    h.fill(bid, SHARE, trade_id="a")
    got = h.fill(bid, SHARE, status=TradeStatus.CONFIRMED, trade_id="a")
    assert not [m for m in messages(got) if "Fill" in m]
    h.fill(bid, SHARE, status=TradeStatus.FAILED, trade_id="a")
    assert h.engine.markets["m1"].ledger.delta == SHARE


def test_failed_reverses_a_matched_fill() -> None:
    h, out = quoting()
    bid = bids(out)[0]
    h.fill(bid, 2 * SHARE, trade_id="a")
    got = h.fill(bid, 2 * SHARE, status=TradeStatus.FAILED, trade_id="a")
    assert h.engine.markets["m1"].ledger.delta == 0
    assert any(m.startswith("Fill reversed (FAILED)") for m in messages(got))
    assert h.engine.exposure("m1").long == 10 * SHARE  # the bid may fill again in full


M, C, F = TradeStatus.MATCHED, TradeStatus.CONFIRMED, TradeStatus.FAILED


@pytest.mark.parametrize(
    ("reports", "delta"),
    [
        ((M, M), SHARE),
        ((M, C, C), SHARE),
        ((C, C), SHARE),
        ((C, M), SHARE),
        ((M, C, F), SHARE),
        ((F, M), 0),
        ((F, M, C), 0),
        ((M, F, F), 0),
        ((M, F, M), 0),
        ((M, F, C), 0),
    ],
)
def test_duplicate_and_out_of_order_trade_reports_are_idempotent(
    reports: tuple[TradeStatus, ...], delta: int
) -> None:
    h, out = quoting()
    bid = bids(out)[0]
    detected = 0
    for status in reports:
        got = h.fill(bid, SHARE, status=status, trade_id="a")
        detected += sum(m.startswith("Fill detected") for m in messages(got))
    assert h.engine.markets["m1"].ledger.delta == delta
    assert detected == (1 if delta else int(reports[0] is not F))
    assert h.engine.exposure("m1").long == 10 * SHARE


def _cancelled_fully_matched(h: Sim, cmds: Sequence[Command]) -> list[Command]:
    """The venue confirms each cancel, saying the whole order had matched already."""
    out: list[Command] = []
    for cancel in cancels(cmds):
        order = h.engine.orders.get(cancel.client_id)
        assert order is not None
        out += h.send(
            OrderCancelled(ts_ms=h.now_ms, client_id=cancel.client_id, size_matched=order.size)
        )
    return out


def test_late_fills_after_requotes_and_confirmed_cancels_stay_within_the_limit() -> None:
    # 40-share orders against a 100-share limit: the third requote has room for 20 only,
    # the fourth for nothing, because every cancelled bid may still have filled.
    h, first = quoting(config({"order_size_shares": 40}))
    sent = list(first)
    books = [("0.49", "0.53"), ("0.50", "0.54"), ("0.51", "0.55"), ("0.52", "0.56")]
    for bid_px, ask_px in books:
        h.now_ms += 100
        out = h.book(bids=((bid_px, "100"),), asks=((ask_px, "100"),))
        h.ack(out)
        sent += out
    assert [p.size for p in bids(sent)] == [40 * SHARE, 40 * SHARE, 20 * SHARE]
    # The venue confirms the cancels: all three bids had fully matched, no trade yet.
    after = _cancelled_fully_matched(h, sent)
    assert h.engine.exposure("m1").long == 100 * SHARE
    assert not bids(after)
    for bid_px, ask_px in [("0.50", "0.54"), ("0.49", "0.53")]:
        h.now_ms += 100
        assert not bids(h.book(bids=((bid_px, "100"),), asks=((ask_px, "100"),)))
    for bid in bids(sent):  # the trades, finally
        h.fill(bid)
    assert h.engine.markets["m1"].ledger.delta == 100 * SHARE
    assert h.engine.exposure("m1").long == 100 * SHARE


class _Venue:
    """A venue that fills our orders at random and reports it late, or at cancel time."""

    def __init__(self, h: Sim, rng: random.Random) -> None:
        self.h = h
        self.rng = rng
        self.orders: dict[str, Place] = {}
        self.matched: dict[str, int] = {}
        self.reported: dict[str, int] = {}
        self.unacked: list[str] = []
        self.to_cancel: list[str] = []
        self.gone: set[str] = set()
        self.trades = 0

    def absorb(self, cmds: Sequence[Command]) -> None:
        for cmd in cmds:
            if isinstance(cmd, Place):
                self.orders[cmd.client_id] = cmd
                self.matched[cmd.client_id] = self.reported[cmd.client_id] = 0
                self.unacked.append(cmd.client_id)
            elif isinstance(cmd, Cancel):
                self.to_cancel.append(cmd.client_id)

    def true_delta(self) -> int:
        return sum(m if is_bid(self.orders[c]) else -m for c, m in self.matched.items())

    def act(self) -> None:
        h, rng = self.h, self.rng
        choice = rng.randrange(6)
        resting = [c for c in self.orders if c not in self.gone and c not in self.unacked]
        if choice == 0:
            mid = rng.randrange(42, 59)
            bid, ask = f"0.{mid - 1:02d}", f"0.{mid + rng.choice((1, 2)):02d}"
            h.now_ms += rng.randrange(1, 400)
            self.absorb(h.book(bids=((bid, "100"),), asks=((ask, "100"),)))
        elif choice == 1 and self.unacked:
            cid = self.unacked.pop(0)
            place = self.orders[cid]
            if place.tif is TimeInForce.FAK:  # takes what it can at once, the rest dies
                self.matched[cid] = rng.choice((0, place.size // 2, place.size))
                self.gone.add(cid)
                event: Event = OrderExpired(
                    ts_ms=h.now_ms, client_id=cid, size_matched=self.matched[cid]
                )
            else:
                event = OrderAcked(ts_ms=h.now_ms, client_id=cid)
            self.absorb(h.send(event))
        elif choice == 2 and resting:
            cid = rng.choice(resting)
            room = self.orders[cid].size - self.matched[cid]
            self.matched[cid] += rng.randrange(0, room + 1)
        elif choice == 3 and self.to_cancel:
            cid = self.to_cancel.pop(0)
            if cid not in self.gone and cid not in self.unacked:
                self.gone.add(cid)
                self.absorb(
                    h.send(
                        OrderCancelled(
                            ts_ms=h.now_ms, client_id=cid, size_matched=self.matched[cid]
                        )
                    )
                )
            elif cid in self.unacked:
                self.to_cancel.append(cid)
        elif choice == 4:
            self.report(rng.random() < 0.5)
        else:
            h.now_ms += rng.randrange(1, 6_000)
            self.absorb(h.send(ClockTick(ts_ms=h.now_ms)))

    def report(self, one: bool) -> None:
        for cid, matched in list(self.matched.items()):
            late = matched - self.reported[cid]
            if late:
                self.trades += 1
                self.reported[cid] = matched
                self.absorb(self.h.fill(self.orders[cid], late, trade_id=f"v{self.trades}"))
                if one:
                    return


@pytest.mark.parametrize("seed", range(12))
def test_random_late_fill_reports_never_let_inventory_pass_the_limit(seed: int) -> None:
    cfg = config({"order_size_shares": 30})
    h = Sim(cfg)
    venue = _Venue(h, random.Random(seed))
    venue.absorb(h.start())
    limit = h.engine.exposure("m1").limit
    for _ in range(600):
        venue.act()
        # What the venue really matched, reported or not, is inside the worst case.
        truth = venue.true_delta()
        exposure = h.engine.exposure("m1")
        assert -exposure.short <= truth <= exposure.long
        assert abs(truth) <= limit
    venue.report(False)
    assert h.engine.markets["m1"].ledger.delta == venue.true_delta()


# --------------------------------------------------------------------------- queue priority


def test_an_unchanged_order_is_kept_with_no_cancel_or_place() -> None:
    h, _ = quoting()
    before = (h.engine.actions.places, h.engine.actions.cancels, h.engine.actions.kept)
    out = h.book()  # the same book again: the same quotes are wanted
    assert not places(out)
    assert not cancels(out)
    actions = h.engine.actions
    assert (actions.places, actions.cancels, actions.kept) == (before[0], before[1], before[2] + 2)


def test_a_kept_order_logs_preserving_queue_priority_when_the_book_moves_under_it() -> None:
    h, _ = quoting()
    out = h.book(bids=(("0.47", "100"),), asks=(("0.53", "100"),))  # same mid, same quotes
    assert not places(out)
    assert not cancels(out)
    assert [m for m in messages(out) if m.startswith("Preserving queue priority")] == [
        "Preserving queue priority: BUY 10 @ 0.49",  # bid: buy YES
        "Preserving queue priority: BUY 10 @ 0.49",  # ask 0.51: buy NO at 0.49
    ]


def test_a_partly_filled_order_within_the_size_tolerance_is_kept() -> None:
    h, out = quoting()
    bid = bids(out)[0]
    kept = h.engine.actions.kept
    got = h.fill(bid, SHARE)  # 9 of 10 left: 10% off, inside the 20% tolerance
    assert bid.client_id not in [c.client_id for c in cancels(got)]
    assert not bids(got)
    assert h.engine.actions.kept == kept + 2
    got = h.book(bids=(("0.47", "100"),), asks=(("0.53", "100"),))
    assert "Preserving queue priority: BUY 9 @ 0.49" in messages(got)


def test_a_partly_filled_order_beyond_the_size_tolerance_is_replaced() -> None:
    h, out = quoting()
    bid = bids(out)[0]
    got = h.fill(bid, 3 * SHARE)  # 7 of 10 left: 30% off
    assert bid.client_id in [c.client_id for c in cancels(got)]
    assert [(yes_price(p), p.size) for p in bids(got)] == [(4900, 10 * SHARE)]


def test_a_changed_price_is_cancel_and_place() -> None:
    h, out = quoting()
    before = (h.engine.actions.places, h.engine.actions.cancels)
    # The venue's book holds our own 10-share bid at 0.49 on top of the others' 100.
    got = h.book(bids=(("0.49", "110"),), asks=(("0.53", "100"),))
    assert sorted(c.client_id for c in cancels(got)) == sorted(p.client_id for p in places(out))
    assert [yes_price(p) for p in bids(got)] == [5000]
    assert [yes_price(p) for p in asks(got)] == [5200]
    assert (h.engine.actions.places, h.engine.actions.cancels) == (before[0] + 2, before[1] + 2)
    assert not [m for m in messages(got) if m.startswith("Preserving queue priority")]


# --------------------------------------------------------------------------- post-only


def _reject(h: Sim, place: Place) -> list[Command]:
    return h.send(
        OrderRejected(ts_ms=h.now_ms, client_id=place.client_id, reason=RejectReason.POST_ONLY)
    )


def test_post_only_rejects_back_off_in_event_time_one_tick_further_each_retry() -> None:
    h, out = quoting()
    bid = bids(out)[0]
    backoff = h.engine.config.risk.post_only_backoff_ms
    for attempt, price in ((1, 4800), (2, 4700), (3, 4600)):
        got = _reject(h, bid)
        assert any(
            m.startswith("post_only rejected") and f"(attempt {attempt}/3)" in m
            for m in messages(got)
        )
        assert not bids(got)
        rejected_at = h.now_ms
        due = rejected_at + backoff * 2 ** (attempt - 1)
        assert not bids(h.advance(due - 1 - rejected_at))  # not before the backoff
        retry = bids(h.advance(1))  # on the first event at or after it
        assert [yes_price(p) for p in retry] == [price]
        bid = retry[0]


def test_post_only_retry_fires_on_the_first_event_after_the_backoff_whatever_it_is() -> None:
    h, out = quoting()
    _reject(h, bids(out)[0])
    h.now_ms += 10_000  # long past the backoff; the next event is a book update
    assert [yes_price(p) for p in bids(h.book())] == [4800]


def test_ask_retries_move_up_away_from_the_bid() -> None:
    h, out = quoting()
    _reject(h, asks(out)[0])
    got = h.advance(h.engine.config.risk.post_only_backoff_ms)
    assert [yes_price(p) for p in asks(got)] == [5200]


def test_after_the_third_retry_is_rejected_the_side_rests_until_the_opposite_best_moves() -> None:
    h, out = quoting()
    bid = bids(out)[0]
    for _ in range(3):
        _reject(h, bid)
        h.now_ms += 10_000
        (bid,) = bids(h.book())
    got = _reject(h, bid)
    assert any("(attempt 4/3)" in m for m in messages(got))
    for _ in range(5):  # time passes and the book updates, its best ask unchanged
        h.now_ms += 20_000
        assert not bids(h.book(bids=(("0.47", "100"),), asks=(("0.52", "100"),)))
        assert not bids(h.advance(1_000))
        assert h.engine.markets["m1"].machine.state == "running"
    # The ask moves: the side tries again from the model's price.
    got = h.book(bids=(("0.48", "100"),), asks=(("0.53", "100"),))
    assert [yes_price(p) for p in bids(got)] == [4900]


# --------------------------------------------------------------------------- tick size


def test_places_after_a_tick_size_change_are_on_the_new_grid() -> None:
    h = Sim(config())
    h.list_market(tick=TickSize.MILLI)
    h.book(bids=(("0.483", "100"),), asks=(("0.519", "100"),))
    out = h.advance(h.engine.config.risk.gap_recovery_ms)
    # The micro-price is 0.501: on the 0.001 grid the quotes are 0.491 / 0.511.
    assert sorted(yes_price(p) for p in places(out)) == [4910, 5110]
    h.ack(out)
    got = h.send(TickSizeChanged(ts_ms=h.now_ms, market="m1", token="m1-yes", tick=TickSize.CENT))
    assert {p.client_id for p in places(out)} <= {c.client_id for c in cancels(got)}
    # The same book on the new grid: the bid rounds down to 0.49, the ask up to 0.52.
    assert sorted(yes_price(p) for p in places(got)) == [4900, 5200]
    h.ack(got)
    got = h.book(bids=(("0.47", "100"),), asks=(("0.52", "100"),))
    # The micro-price is 0.495: 0.485 / 0.505 on the old grid, 0.48 / 0.51 on the new one
    # (a book whose quotes land on whole cents either way could not tell them apart).
    assert sorted(yes_price(p) for p in places(got)) == [4800, 5100]


@pytest.mark.parametrize("relist", [False, True])
def test_a_tick_reject_stops_quoting_until_the_venue_sends_the_tick(relist: bool) -> None:
    h, out = quoting()
    got = h.send(
        OrderRejected(ts_ms=h.now_ms, client_id=bids(out)[0].client_id, reason=RejectReason.TICK)
    )
    assert [c.client_id for c in cancels(got)] == [asks(out)[0].client_id]
    assert h.engine.markets["m1"].machine.state == "gapped_skip"
    for _ in range(4):  # fresh books and time do not bring it back on a cached tick
        assert not places(h.book())
        assert not places(h.advance(10_000))
    if relist:
        h.list_market(tick=TickSize.MILLI)
    else:
        h.send(TickSizeChanged(ts_ms=h.now_ms, market="m1", token="m1-yes", tick=TickSize.MILLI))
    h.book(bids=(("0.483", "100"),), asks=(("0.519", "100"),))
    got = h.advance(h.engine.config.risk.gap_recovery_ms)
    assert sorted(yes_price(p) for p in places(got)) == [4910, 5110]


# --------------------------------------------------------------------------- missing data


def test_nothing_is_placed_before_the_market_is_listed_and_has_a_fresh_two_sided_book() -> None:
    h = Sim(config())
    got = h.book()  # a book for a market nobody listed
    assert not places(got)
    assert any("unknown market m1" in m for m in messages(got))
    assert not places(h.advance(60_000))
    assert not places(h.list_market())
    assert not places(h.advance(60_000))  # listed, but no book
    assert not places(h.book(asks=()))  # one-sided
    assert not places(h.advance(60_000))
    assert not places(h.book(bids=(("0.48", "100"),), asks=(("0.52", "100"),), token="m1-no"))
    assert not places(h.advance(60_000))  # the NO book alone is not a price
    h.book()
    h.advance(31_000)  # the only two-sided YES book is now stale
    assert h.engine.markets["m1"].machine.state == "gapped_skip"
    assert not [s for s in h.steps if places(s.commands)]
    h.book()
    assert places(h.advance(h.engine.config.risk.gap_recovery_ms))


BAD_SNAPSHOTS = {
    "crossed": (((5300, 100 * SHARE),), ((5200, 100 * SHARE),), "bids/asks"),
    "locked": (((5200, 100 * SHARE),), ((5200, 100 * SHARE),), "bids/asks"),
    "negative size": (((4800, -SHARE),), ((5200, 100 * SHARE),), "bids[0].size"),
    "off grid": (((4850, 100 * SHARE),), ((5200, 100 * SHARE),), "bids[0].price"),
    "ask off grid": (((4800, 100 * SHARE),), ((5201, 100 * SHARE),), "asks[0].price"),
}


@pytest.mark.parametrize("case", sorted(BAD_SNAPSHOTS))
def test_a_bad_snapshot_alerts_cancels_quotes_and_stops_quoting_until_a_good_one(
    case: str,
) -> None:
    bids_, asks_, field = BAD_SNAPSHOTS[case]
    h, out = quoting()
    got = h.send(BookSnapshot(ts_ms=h.now_ms, market="m1", token="m1-yes", bids=bids_, asks=asks_))
    alerts = [c for c in got if isinstance(c, Alert)]
    assert any("m1" in a.message and field in a.message for a in alerts), alerts
    assert sorted(c.client_id for c in cancels(got)) == sorted(p.client_id for p in places(out))
    assert not places(got)
    assert any(r.event == "data_lost" for r in h.steps[-1].transitions)
    for _ in range(3):
        assert not places(h.advance(10_000))
    h.book()  # a good snapshot: quoting comes back after the recovery time
    assert places(h.advance(h.engine.config.risk.gap_recovery_ms))


def test_a_message_for_an_unknown_token_of_a_known_market_alerts_and_stops_quoting() -> None:
    h, out = quoting()
    got = h.send(
        BookSnapshot(
            ts_ms=h.now_ms,
            market="m1",
            token="not-a-token-of-m1",
            bids=levels((("0.48", "100"),)),
            asks=levels((("0.52", "100"),)),
        )
    )
    assert any("m1" in c.message and "asset_id" in c.message for c in got if isinstance(c, Alert))
    assert sorted(c.client_id for c in cancels(got)) == sorted(p.client_id for p in places(out))
    assert not places(h.advance(10_000))
    h.book()
    assert places(h.advance(h.engine.config.risk.gap_recovery_ms))


def test_a_stale_book_cancels_quotes_after_exactly_book_stale() -> None:
    h, out = quoting()
    stale = h.engine.config.risk.book_stale_ms
    last_book = h.now_ms - h.engine.config.risk.gap_recovery_ms  # start() gave the book then
    h.now_ms = last_book
    h.book()
    assert not cancels(h.advance(stale))  # exactly book_stale old: still fresh
    got = h.advance(1)
    assert sorted(c.client_id for c in cancels(got)) == sorted(p.client_id for p in places(out))
    assert h.engine.markets["m1"].machine.state == "gapped_skip"
    assert not places(h.advance(10_000))


@pytest.mark.parametrize("market", ["m1", None])
def test_a_venue_fault_stops_quoting_and_forgets_no_order(market: str | None) -> None:
    h, out = quoting()
    before = h.engine.exposure("m1")
    got = h.send(VenueFault(ts_ms=h.now_ms, what="GET /orders failed: 503", market=market))
    assert any("GET /orders failed" in m for m in messages(got))
    assert sorted(c.client_id for c in cancels(got)) == sorted(p.client_id for p in places(out))
    # Not "no orders": both are still counted until the venue confirms their end.
    for place in places(out):
        order = h.engine.orders.get(place.client_id)
        assert order is not None
        assert order.status is OrderStatus.PENDING_CANCEL
    after = h.engine.exposure("m1")
    assert (after.long, after.short) == (before.long, before.short)
    for _ in range(3):
        assert not places(h.advance(10_000))
    h.book()
    assert places(h.advance(h.engine.config.risk.gap_recovery_ms))


def test_a_venue_fault_on_another_market_leaves_this_one_quoting() -> None:
    h, _ = quoting()
    h.start("m2")
    h.send(VenueFault(ts_ms=h.now_ms, what="timeout", market="m2"))
    assert h.engine.markets["m1"].machine.state == "running"
    assert h.engine.markets["m2"].machine.state == "gapped_skip"


def test_a_trade_for_an_order_this_run_never_sent_alerts_and_still_counts() -> None:
    h = Sim(config())
    h.send(
        MarketListed(
            ts_ms=h.now_ms, market="m1", yes_token="y", no_token="n", tick=TickSize.CENT, min_size=0
        )
    )
    got = h.send(
        Trade(
            ts_ms=h.now_ms,
            trade_id="x",
            client_id="never-sent",
            market="m1",
            token="y",
            side=Side.BUY,
            price=4900,
            size=SHARE,
            status=TradeStatus.MATCHED,
        )
    )
    assert any("did not place" in m for m in messages(got))
    assert h.engine.markets["m1"].ledger.delta == SHARE  # the venue says we hold it


def test_requoting_the_reducing_side_without_cancel_confirmations_stays_within_the_limit() -> None:
    # Short 30: bids reduce the position, but a bid and every cancelled bid may all fill,
    # so the replacements are cut like any other order (Sim checks after every step).
    h, out = quoting(config({"order_size_shares": 30}))
    h.fill(asks(out)[0])
    assert h.engine.markets["m1"].ledger.delta == -30 * SHARE
    sent: list[Command] = []
    for i in range(12):
        h.now_ms += 100
        mid = 50 + (i % 2)
        sent += h.book(bids=((f"0.{mid - 2}", "100"),), asks=((f"0.{mid + 2}", "100"),))
    assert sum(p.size for p in bids(sent)) <= 130 * SHARE
    assert h.engine.exposure("m1").long <= 100 * SHARE
