"""Price-time priority, both tokens in one book."""

from __future__ import annotations

from fractions import Fraction

from mmfsm.core.ticks import Side
from mmfsm.emulator.matching import BookOrder, MarketBook

_seq = 0


def _order(oid: str, side: Side, price: int, size: int, *, yes: bool = True) -> BookOrder:
    global _seq
    _seq += 1
    return BookOrder(
        order_id=oid,
        account="a",
        market="m",
        token="Y" if yes else "N",
        is_yes=yes,
        side=side,
        price=price,
        size=size,
        seq=_seq,
        limit=Fraction(price),
    )


def test_price_then_time_priority_and_maker_price() -> None:
    book = MarketBook("m")
    first = _order("first", Side.SELL, 5200, 10)
    second = _order("second", Side.SELL, 5200, 10)
    better = _order("better", Side.SELL, 5100, 5)
    for o in (first, second, better):
        book.add(o)
    taker = _order("taker", Side.BUY, 5200, 12)
    fills = book.match(taker)
    assert [(f.maker.order_id, f.yes_price, f.size) for f in fills] == [
        ("better", 5100, 5),
        ("first", 5200, 7),
    ]
    assert book.levels(True)[1] == {5200: 13}


def test_buying_no_is_selling_yes() -> None:
    book = MarketBook("m")
    book.add(_order("yes-bid", Side.BUY, 4800, 10))
    no_buyer = _order("no-buy", Side.BUY, 5200, 4, yes=False)  # a YES ask at 0.48
    assert book.crosses(no_buyer)
    fills = book.match(no_buyer)
    assert fills[0].yes_price == 4800
    assert fills[0].size == 4
    assert no_buyer.own_price(fills[0].yes_price) == 5200
    bids, asks = book.levels(False)  # the NO book mirrors the YES one
    assert asks == {5200: 6}
    assert bids == {}


def test_available_stops_at_the_limit() -> None:
    book = MarketBook("m")
    book.add(_order("a", Side.SELL, 5000, 10))
    book.add(_order("b", Side.SELL, 5300, 10))
    assert book.available(_order("t", Side.BUY, 5200, 50)) == 10
    assert not book.crosses(_order("p", Side.BUY, 4900, 1))
