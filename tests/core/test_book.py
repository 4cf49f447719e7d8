"""Tests for mmfsm.core.book: every refusal, the cached touch, ticks, staleness, real data."""

from __future__ import annotations

import gzip
import json
import pickle
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmfsm.core.book import Book, BookError, BookSet, Top, parse_levels
from mmfsm.core.ticks import PRICE_SCALE, SIZE_SCALE, Side, TickSize, parse_price

MARKET = "0xabc"
TOKEN = "123"
DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
BOOKS_FILE = DATA / "polymarket-btc-15m" / "books.jsonl.gz"

BUY, SELL = Side.BUY, Side.SELL


def c(cents: float) -> int:
    """Price units for a price written in cents: c(49) == 0.49."""
    return round(cents * 100)


def sh(shares: int) -> int:
    return shares * SIZE_SCALE


def good_book(tick: TickSize = TickSize.CENT) -> Book:
    book = Book(MARKET, TOKEN, tick)
    book.apply_snapshot(
        [(c(49), sh(10)), (c(48), sh(20)), (c(47), sh(30))],
        [(c(51), sh(11)), (c(52), sh(21)), (c(53), sh(31))],
        1_000,
    )
    return book


def state(book: Book) -> tuple[object, ...]:
    return (
        dict(book.bids),
        dict(book.asks),
        book.best_bid,
        book.best_ask,
        book.best_bid_size,
        book.best_ask_size,
        book.last_update_ms,
    )


def assert_refusal(exc: BookError, field: str) -> None:
    assert exc.market == MARKET
    assert exc.token == TOKEN
    assert exc.field == field
    assert f"market {MARKET}" in str(exc)
    assert f"token {TOKEN}" in str(exc)
    assert field in str(exc)


# -- parse_levels ---------------------------------------------------------------------


def parse(raw: object) -> tuple[tuple[int, int], ...]:
    return parse_levels(raw, market=MARKET, token=TOKEN, side_name="bids")


def test_parse_levels_pairs_and_objects_agree() -> None:
    pairs = parse([["0.49", "100.5"], ["0.485", "3"]])
    objects = parse([{"price": "0.49", "size": "100.5"}, {"price": "0.485", "size": "3"}])
    assert pairs == objects == ((4900, 100_500_000), (4850, 3_000_000))


def test_parse_levels_json_numbers_are_read_by_their_decimal_text() -> None:
    assert parse([[0.29, 1], [0.1, 0.000001]]) == ((2900, SIZE_SCALE), (1000, 1))


def test_parse_levels_leaves_range_and_grid_to_the_book() -> None:
    assert parse([["1.5", "-2"], ["0.4567", "0"]]) == ((15000, -2 * SIZE_SCALE), (4567, 0))


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"price": "0.5", "size": "1"}, "bids"),
        ("0.5,1", "bids"),
        (None, "bids"),
        ([["0.5", "1"], "0.5"], "bids[1]"),
        ([["0.5", "1", "2"]], "bids[0]"),
        ([None], "bids[0]"),
        ([{"size": "1"}], "bids[0].price"),
        ([{"price": "0.5"}], "bids[0].size"),
        ([["abc", "1"]], "bids[0].price"),
        ([["0.5", ""]], "bids[0].size"),
        ([["0.5", "NaN"]], "bids[0].size"),
        ([["nan", "1"]], "bids[0].price"),
        ([[float("nan"), "1"]], "bids[0].price"),
        ([["Infinity", "1"]], "bids[0].price"),
        ([[float("inf"), "1"]], "bids[0].price"),
        ([[True, "1"]], "bids[0].price"),
        ([["0.5", False]], "bids[0].size"),
        ([[None, "1"]], "bids[0].price"),
        ([[["0.5"], "1"]], "bids[0].price"),
        ([[" 0.5", "1"]], "bids[0].price"),
        ([["0.4_9", "1"]], "bids[0].price"),
        ([["0.5", "1.0000001"]], "bids[0].size"),
        ([["0.00005", "1"]], "bids[0].price"),
    ],
)
def test_parse_levels_refuses_malformed_input(raw: object, field: str) -> None:
    with pytest.raises(BookError) as info:
        parse(raw)
    assert_refusal(info.value, field)


# -- snapshot refusals ------------------------------------------------------------------

# The wrong-type rows hold in the compiled core too (setup.py): a value that is not an int
# is named like any other bad value, never a bare TypeError from a typed parameter.
SNAPSHOT_REFUSALS: list[tuple[str, list[Any], list[Any], str]] = [
    ("crossed", [(c(52), sh(1))], [(c(51), sh(1))], "bids/asks"),
    ("locked", [(c(51), sh(1))], [(c(51), sh(1))], "bids/asks"),
    ("negative size", [(c(49), -1)], [(c(51), sh(1))], "bids[0].size"),
    ("price 0", [(0, sh(1))], [(c(51), sh(1))], "bids[0].price"),
    ("negative price", [(-100, sh(1))], [(c(51), sh(1))], "bids[0].price"),
    ("price 1.0", [(c(49), sh(1))], [(c(51), sh(1)), (PRICE_SCALE, sh(1))], "asks[1].price"),
    ("price above 1", [(c(49), sh(1))], [(c(120), sh(1))], "asks[0].price"),
    ("duplicate", [(c(49), sh(1)), (c(48), 1), (c(49), 2)], [(c(51), 1)], "bids[2].price"),
    ("bool price", [(True, sh(1))], [(c(51), sh(1))], "bids[0].price"),
    ("off grid", [(c(49), sh(1))], [(4567, sh(1))], "asks[0].price"),
    ("float price", [(0.49, sh(1))], [(c(51), sh(1))], "bids[0].price"),
    ("str size", [(c(49), "1")], [(c(51), sh(1))], "bids[0].size"),
    ("not a pair", [(c(49), sh(1))], [(c(51), sh(1), 0)], "asks[0]"),
    ("a list, not a tuple", [[c(49), sh(1)]], [(c(51), sh(1))], "bids[0]"),
]


@pytest.mark.parametrize(
    ("bids", "asks", "field"),
    [row[1:] for row in SNAPSHOT_REFUSALS],
    ids=[row[0] for row in SNAPSHOT_REFUSALS],
)
def test_snapshot_refusal_names_field_keeps_levels_and_distrusts(
    bids: list[tuple[int, int]], asks: list[tuple[int, int]], field: str
) -> None:
    book = good_book()
    before = state(book)
    with pytest.raises(BookError) as info:
        book.apply_snapshot(bids, asks, 2_000)
    assert_refusal(info.value, field)
    assert state(book) == before
    assert not book.trusted
    assert book.untrusted_reason == str(info.value)
    assert not book.quotable(2_000, 10_000)

    book.apply_snapshot([(c(40), sh(1))], [(c(60), sh(2))], 3_000)
    assert book.trusted
    assert book.untrusted_reason is None
    assert book.top() == Top(bid=c(40), bid_size=sh(1), ask=c(60), ask_size=sh(2))


def test_locked_and_crossed_messages_differ() -> None:
    book = Book(MARKET, TOKEN, TickSize.CENT)
    with pytest.raises(BookError, match=re.escape("locked: best bid 0.51 >= best ask 0.51")):
        book.apply_snapshot([(c(51), 1)], [(c(51), 1)], 1)
    with pytest.raises(BookError, match=re.escape("crossed: best bid 0.52 >= best ask 0.51")):
        book.apply_snapshot([(c(52), 1)], [(c(51), 1)], 1)


def test_error_message_format_and_pickling() -> None:
    book = good_book()
    with pytest.raises(BookError) as info:
        book.apply_snapshot([(c(49), 1), (c(48), 1), (4567, 1)], [], 1)
    assert str(info.value) == (
        "book for market 0xabc token 123: bids[2].price 0.4567 is off the 0.01 grid"
    )
    again = pickle.loads(pickle.dumps(info.value))
    assert (again.market, again.token, again.field, str(again)) == (
        MARKET,
        TOKEN,
        "bids[2].price",
        str(info.value),
    )


OFF_GRID = [
    (TickSize.TENTH, c(15)),  # 0.15
    (TickSize.CENT, c(15.5)),  # 0.155
    (TickSize.MILLI, 1555),  # 0.1555
]


@pytest.mark.parametrize(("tick", "price"), OFF_GRID)
def test_off_grid_refused_for_each_coarse_tick(tick: TickSize, price: int) -> None:
    book = Book(MARKET, TOKEN, tick)
    with pytest.raises(BookError, match="off the") as info:
        book.apply_snapshot([(price, sh(1))], [], 1)
    assert_refusal(info.value, "bids[0].price")
    assert not book.trusted
    book.apply_snapshot([(price - price % tick, sh(1))], [], 2)
    assert book.trusted
    with pytest.raises(BookError) as info:
        book.apply_changes([(BUY, price, sh(2))], 3)
    assert_refusal(info.value, "changes[0].price")
    assert not book.trusted


def test_off_grid_for_finest_tick_is_refused_when_parsing() -> None:
    # Every int is on the 0.0001 grid; a finer price can only arrive as text.
    with pytest.raises(BookError) as info:
        parse_levels([["0.12345", "1"]], market=MARKET, token=TOKEN, side_name="asks")
    assert_refusal(info.value, "asks[0].price")


def test_zero_size_levels_in_snapshot_are_dropped() -> None:
    book = Book(MARKET, TOKEN, TickSize.CENT)
    book.apply_snapshot([(c(49), 0), (c(48), sh(1))], [(c(51), sh(1)), (c(50), 0)], 1)
    assert book.bids == {c(48): sh(1)}
    assert book.asks == {c(51): sh(1)}
    assert (book.best_bid, book.best_ask) == (c(48), c(51))


def test_new_book_is_untrusted_and_not_quotable() -> None:
    book = Book(MARKET, TOKEN, TickSize.CENT)
    assert not book.trusted
    assert book.untrusted_reason
    assert book.is_stale(0, 10**9)
    assert not book.quotable(0, 10**9)
    assert book.top() is None
    assert book.spread() is None


# -- change refusals ------------------------------------------------------------------

CHANGE_REFUSALS: list[tuple[str, list[tuple[Any, Any, Any]], str]] = [
    ("bid crosses", [(BUY, c(52), 1)], "bids/asks"),
    ("bid locks", [(BUY, c(51), 1)], "bids/asks"),
    ("ask crosses", [(SELL, c(48), 1)], "bids/asks"),
    ("ask locks", [(SELL, c(49), 1)], "bids/asks"),
    ("negative size", [(BUY, c(48), -5)], "changes[0].size"),
    ("price 0", [(SELL, 0, 1)], "changes[0].price"),
    ("price 1.0", [(SELL, PRICE_SCALE, 1)], "changes[0].price"),
    ("price above 1", [(SELL, c(130), 1)], "changes[0].price"),
    ("off grid", [(BUY, 4805, 1)], "changes[0].price"),
    ("off grid removal of an absent level", [(BUY, 4805, 0)], "changes[0].price"),
    ("not a side", [("BUY", c(48), 1)], "changes[0].side"),
    ("float price", [(BUY, 0.48, 1)], "changes[0].price"),
    ("batch: str size", [(BUY, c(45), 1), (SELL, c(54), "1")], "changes[1].size"),
    ("batch: second bad", [(BUY, c(45), 1), (SELL, c(54), -1)], "changes[1].size"),
    ("batch: result crossed", [(SELL, c(51), 0), (BUY, c(52), 1)], "bids/asks"),
    ("batch: bad side", [(BUY, c(45), 1), (None, c(45), 1)], "changes[1].side"),
    ("batch: off grid", [(BUY, c(45), 1), (SELL, 5555, 1)], "changes[1].price"),
]


@pytest.mark.parametrize(
    ("changes", "field"),
    [row[1:] for row in CHANGE_REFUSALS],
    ids=[row[0] for row in CHANGE_REFUSALS],
)
def test_change_refusal_names_field_keeps_levels_and_distrusts(
    changes: list[tuple[Side, int, int]], field: str
) -> None:
    book = good_book()
    before = state(book)
    with pytest.raises(BookError) as info:
        book.apply_changes(changes, 2_000)
    assert_refusal(info.value, field)
    assert state(book) == before
    assert not book.trusted
    assert book.untrusted_reason == str(info.value)

    # Valid changes still apply to an untrusted book, which stays untrusted.
    book.apply_changes([(BUY, c(49), 0)], 3_000)
    assert book.best_bid == c(48)
    assert book.last_update_ms == 3_000
    assert not book.trusted
    assert not book.quotable(3_000, 10_000)

    book.apply_snapshot([(c(30), 1)], [(c(70), 1)], 4_000)
    assert book.trusted
    assert book.quotable(4_000, 10_000)


def test_batch_is_judged_by_its_result() -> None:
    # The ask side moves up before the bid follows: crossed midway, fine at the end.
    book = good_book()
    book.apply_changes([(BUY, c(52), sh(5)), (SELL, c(51), 0), (SELL, c(52), 0)], 2_000)
    assert book.trusted
    assert (book.best_bid, book.best_ask) == (c(52), c(53))
    assert (book.best_bid_size, book.best_ask_size) == (sh(5), sh(31))


def test_batch_last_change_to_a_level_wins() -> None:
    book = good_book()
    book.apply_changes([(BUY, c(50), sh(1)), (BUY, c(50), 0), (BUY, c(47), sh(9))], 2)
    assert c(50) not in book.bids
    assert book.best_bid == c(49)
    assert book.bids[c(47)] == sh(9)


def test_empty_changes_change_nothing() -> None:
    book = good_book()
    before = state(book)
    book.apply_changes([], 5_000)
    assert state(book) == before
    assert book.trusted


def test_single_changes_update_touch_and_sizes() -> None:
    book = good_book()
    book.apply_changes([(BUY, c(48), sh(99))], 2)
    assert (book.best_bid, book.best_bid_size) == (c(49), sh(10))
    book.apply_changes([(BUY, c(49), sh(7))], 3)
    assert book.best_bid_size == sh(7)
    book.apply_changes([(BUY, c(50), sh(1))], 4)
    assert (book.best_bid, book.best_bid_size) == (c(50), sh(1))
    book.apply_changes([(SELL, c(51), 0)], 5)
    assert (book.best_ask, book.best_ask_size) == (c(52), sh(21))
    book.apply_changes([(SELL, c(60), 0)], 6)  # absent level: nothing to remove
    assert book.asks == {c(52): sh(21), c(53): sh(31)}
    for price in (c(52), c(53)):
        book.apply_changes([(SELL, price, 0)], 7)
    assert book.best_ask is None
    assert book.best_ask_size == 0
    assert book.top() is None
    assert not book.quotable(7, 10_000)  # trusted and fresh, but one-sided
    book.apply_changes([(SELL, c(99), sh(3))], 8)
    assert book.top() == Top(bid=c(50), bid_size=sh(1), ask=c(99), ask_size=sh(3))
    assert book.trusted


# -- the cached touch against a naive model ------------------------------------------

PRICES = st.sampled_from([c(p) for p in range(30, 71, 2)])
LEVEL = st.tuples(PRICES, st.integers(0, 5))
CHANGE = st.one_of(
    st.tuples(st.sampled_from([BUY, SELL]), PRICES, st.integers(0, 3)),
    # occasionally something the book must refuse
    st.tuples(
        st.sampled_from([BUY, SELL]),
        st.sampled_from([0, 4805, PRICE_SCALE, c(44)]),
        st.sampled_from([-1, 0, 1]),
    ),
)


def naive(
    bids: dict[int, int], asks: dict[int, int], changes: list[tuple[Side, int, int]]
) -> tuple[dict[int, int], dict[int, int]] | None:
    """The result of a batch by brute force, or None when the book must refuse it."""
    bids, asks = dict(bids), dict(asks)
    for side, price, size in changes:
        levels = bids if side is BUY else asks
        if size < 0 or not 0 < price < PRICE_SCALE:
            return None
        if price % TickSize.CENT and not (size == 0 and price in levels):
            return None
        if size:
            levels[price] = size
        else:
            levels.pop(price, None)
    if bids and asks and max(bids) >= min(asks):
        return None
    return bids, asks


@settings(max_examples=300, deadline=None)
@given(
    bids=st.lists(st.tuples(st.sampled_from([c(p) for p in range(30, 50, 2)]), st.integers(0, 5))),
    asks=st.lists(st.tuples(st.sampled_from([c(p) for p in range(52, 72, 2)]), st.integers(0, 5))),
    batches=st.lists(st.lists(CHANGE, min_size=1, max_size=4), max_size=40),
)
def test_touch_matches_naive_recomputation(
    bids: list[tuple[int, int]],
    asks: list[tuple[int, int]],
    batches: list[list[tuple[Side, int, int]]],
) -> None:
    book = Book(MARKET, TOKEN, TickSize.CENT)
    bid_levels = dict(bids)
    ask_levels = dict(asks)
    book.apply_snapshot(list(bid_levels.items()), list(ask_levels.items()), 0)
    trusted = True
    for ts, changes in enumerate(batches, start=1):
        expected = naive(book.bids, book.asks, changes)
        before = state(book)
        if expected is None:
            with pytest.raises(BookError):
                book.apply_changes(changes, ts)
            assert state(book) == before
            trusted = False
        else:
            book.apply_changes(changes, ts)
            assert (book.bids, book.asks) == expected
            assert book.last_update_ms == ts
        assert book.trusted is trusted
        assert book.best_bid == max(book.bids, default=None)
        assert book.best_ask == min(book.asks, default=None)
        assert book.best_bid_size == book.bids.get(book.best_bid or -1, 0)
        assert book.best_ask_size == book.asks.get(book.best_ask or -1, 0)
        assert 0 not in book.bids.values()
        assert 0 not in book.asks.values()
        if book.best_bid is not None and book.best_ask is not None:
            assert book.best_bid < book.best_ask


# -- ticks ------------------------------------------------------------------------------


def test_tick_change_moves_the_grid_for_new_levels_only() -> None:
    book = Book(MARKET, TOKEN, TickSize.CENT)
    book.apply_snapshot([(c(95), sh(1))], [(c(97), sh(1))], 1)
    with pytest.raises(BookError, match=re.escape("0.965 is off the 0.01 grid")):
        book.apply_changes([(SELL, 9650, sh(1))], 2)

    book.set_tick(TickSize.MILLI)
    book.apply_snapshot([(c(95), sh(1))], [(c(97), sh(1))], 3)
    book.apply_changes([(SELL, 9650, sh(2))], 4)
    assert book.best_ask == 9650
    assert book.trusted

    book.set_tick(TickSize.CENT)
    assert book.asks == {9650: sh(2), c(97): sh(1)}  # held levels survive the change
    assert book.trusted
    # While an order rests on the old, finer grid, its level may still change and be
    # reported in snapshots: going coarser keeps the finer grid until it is gone.
    book.apply_changes([(SELL, 9650, sh(5))], 5)
    assert book.size_at(SELL, 9650) == sh(5)
    book.apply_snapshot([(c(95), sh(1))], [(9650, sh(5)), (c(97), sh(1))], 6)
    assert book.trusted
    # A snapshot with nothing left on the old grid ends the grace.
    book.apply_snapshot([(c(95), sh(1))], [(c(97), sh(1))], 7)
    with pytest.raises(BookError, match=re.escape("0.965 is off the 0.01 grid")):
        book.apply_changes([(SELL, 9650, sh(5))], 8)
    assert not book.trusted
    with pytest.raises(BookError, match=re.escape("off the 0.01 grid")):
        book.apply_snapshot([(c(95), 1)], [(9650, 1)], 9)


def test_going_coarser_with_nothing_on_the_old_grid_applies_at_once() -> None:
    book = Book(MARKET, TOKEN, TickSize.MILLI)
    book.apply_snapshot([(c(95), sh(1))], [(c(97), sh(1))], 1)
    book.set_tick(TickSize.CENT)
    with pytest.raises(BookError, match=re.escape("0.965 is off the 0.01 grid")):
        book.apply_changes([(SELL, 9650, sh(1))], 2)


# -- staleness, reading -----------------------------------------------------------------


def test_staleness_and_quotable() -> None:
    book = good_book()  # last update at 1_000
    assert not book.is_stale(1_000, 500)
    assert not book.is_stale(1_500, 500)  # exactly max age is still fresh
    assert book.is_stale(1_501, 500)
    assert book.quotable(1_500, 500)
    assert not book.quotable(1_501, 500)
    book.apply_changes([(BUY, c(40), 1)], 2_000)
    assert book.quotable(2_400, 500)
    with pytest.raises(BookError):
        book.apply_changes([(BUY, c(99), 1)], 2_100)
    assert book.last_update_ms == 2_000  # a refused message does not freshen the book
    assert not book.quotable(2_100, 500)


def test_reading_helpers() -> None:
    book = good_book()
    assert book.spread() == c(2)
    assert book.size_at(BUY, c(48)) == sh(20)
    assert book.size_at(SELL, c(48)) == 0
    assert book.levels(BUY, 2) == [(c(49), sh(10)), (c(48), sh(20))]
    assert book.levels(SELL) == [(c(51), sh(11)), (c(52), sh(21)), (c(53), sh(31))]
    assert book.levels(SELL, 0) == []
    with pytest.raises(ValueError, match="depth"):
        book.levels(SELL, -1)
    assert book.top() == Top(bid=c(49), bid_size=sh(10), ask=c(51), ask_size=sh(11))


# -- BookSet -------------------------------------------------------------------------


def test_bookset_lookup_and_unknown_token() -> None:
    books = BookSet()
    yes = books.add(MARKET, TOKEN, TickSize.CENT)
    no = books.add(MARKET, "456", TickSize.CENT)
    other = books.add("0xdef", "789", TickSize.MILLI)
    assert TOKEN in books
    assert "999" not in books
    assert len(books) == 3
    assert list(books) == [yes, no, other]
    assert books.for_market(MARKET) == [yes, no]
    assert books.for_market("0xnone") == []
    assert books.get(TOKEN) is yes
    assert books.get(TOKEN, market=MARKET) is yes

    with pytest.raises(BookError) as info:
        books.get("999", market=MARKET)
    assert info.value.field == "asset_id"
    assert info.value.token == "999"
    assert "market 0xabc" in str(info.value)
    assert "999 is not a known token" in str(info.value)

    with pytest.raises(BookError) as info:
        books.get(TOKEN, market="0xdef")
    assert info.value.field == "market"
    assert "0xdef" in str(info.value)


def test_bookset_relisting_keeps_book_and_updates_tick() -> None:
    books = BookSet()
    book = books.add(MARKET, TOKEN, TickSize.CENT)
    book.apply_snapshot([(c(49), 1)], [(c(51), 1)], 1)
    assert books.add(MARKET, TOKEN, TickSize.MILLI) is book
    assert book.tick is TickSize.MILLI
    assert book.trusted
    with pytest.raises(BookError) as info:
        books.add("0xdef", TOKEN, TickSize.CENT)
    assert info.value.field == "asset_id"
    assert books.get(TOKEN).market == MARKET


# -- recorded data -------------------------------------------------------------------

needs_data = pytest.mark.skipif(
    not BOOKS_FILE.exists(), reason=f"recorded books not present at {BOOKS_FILE}"
)


def coarsest_tick(record: dict[str, Any]) -> TickSize:
    prices = [parse_price(p) for side in ("bids", "asks") for p, _ in record[side]]
    for tick in sorted(TickSize, reverse=True):
        if all(p % tick == 0 for p in prices):
            return tick
    raise AssertionError("unreachable: every price is on the 0.0001 grid")


def load(record: dict[str, Any]) -> Book:
    book = Book(record["market"], record["outcome"], coarsest_tick(record))
    bids = parse_levels(record["bids"], market=book.market, token=book.token, side_name="bids")
    asks = parse_levels(record["asks"], market=book.market, token=book.token, side_name="asks")
    book.apply_snapshot(bids, asks, record["ts_ms"])
    return book


@needs_data
def test_first_recorded_line_loads() -> None:
    with gzip.open(BOOKS_FILE, "rt") as fh:
        record = json.loads(fh.readline())
    book = load(record)
    assert book.tick is TickSize.CENT
    assert book.trusted
    assert book.best_bid == parse_price(record["bids"][0][0])
    assert book.best_ask == parse_price(record["asks"][0][0])
    assert book.best_bid_size == int(Decimal(record["bids"][0][1]) * SIZE_SCALE)
    assert book.best_ask_size == int(Decimal(record["asks"][0][1]) * SIZE_SCALE)
    assert len(book.bids) == len(record["bids"])
    assert book.quotable(record["ts_ms"], 5_000)


@needs_data
def test_recorded_lines_with_finer_prices_load_on_the_milli_grid() -> None:
    with gzip.open(BOOKS_FILE, "rt") as fh:
        for line in fh:
            record = json.loads(line)
            if coarsest_tick(record) is TickSize.MILLI and record["bids"] and record["asks"]:
                break
        else:
            pytest.skip("no recorded line needs the 0.001 grid")
    book = load(record)
    assert book.trusted
    assert book.best_bid == parse_price(record["bids"][0][0])
    assert book.best_ask == parse_price(record["asks"][0][0])
    with pytest.raises(BookError):
        Book(book.market, book.token, TickSize.CENT).apply_snapshot(
            tuple(book.bids.items()), tuple(book.asks.items()), 0
        )


@needs_data
def test_recorded_crossed_books_are_refused_and_the_rest_load() -> None:
    # The recording holds a few crossed and locked snapshots (feed glitches); each must be
    # refused as such, and a sample of the others must load with the recorded touch.
    checked = refused = 0
    with gzip.open(BOOKS_FILE, "rt") as fh:
        for n, line in enumerate(fh):
            record = json.loads(line)
            bids, asks = record["bids"], record["asks"]
            touching = bool(bids and asks) and Decimal(bids[0][0]) >= Decimal(asks[0][0])
            if not touching and n % 50:
                continue
            checked += 1
            if touching:
                with pytest.raises(BookError) as info:
                    load(record)
                assert info.value.field == "bids/asks"
                assert info.value.market == record["market"]
                refused += 1
            else:
                book = load(record)
                assert book.best_bid == (parse_price(bids[0][0]) if bids else None)
                assert book.best_ask == (parse_price(asks[0][0]) if asks else None)
    assert refused > 0
    assert checked > refused
