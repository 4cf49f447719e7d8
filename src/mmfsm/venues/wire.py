"""Polymarket's JSON, read into Engine events and adapter records, with clear errors.

Theory of operation
-------------------
Everything the venue sends is parsed here and nowhere else, into exact integers
(``mmfsm.core.ticks``) and the Engine's events. A message that does not have the shape
Polymarket documents raises ``WireError`` naming the message kind, the field and the
value's type (never a whole message: a user-channel message carries our API key), so
a log line says what was wrong without leaking anything. The adapter drops such a
message with a warning; the book it concerns is resynchronised from REST.

What is read, per the fact sheet:

* market channel ``book`` -> ``BookSnapshot`` (levels sorted best first here, whatever
  order they arrived in); ``price_change`` -> one ``PriceChange`` per asset in its
  ``price_changes`` array (size is the new total at that level, ``"0"`` removes it);
  ``tick_size_change`` -> ``TickSizeChanged``; ``last_trade_price`` -> ``LastTrade``,
  read by paper trading only (a live bot's own fills come from the user channel);
* user channel ``trade`` and REST trades -> ``Fill`` records, one per order *of ours*
  in the trade: when we are the taker, the top-level fields are our fill and its id is
  the trade id; when we are a maker, our fill is our ``maker_orders`` entry (its own
  asset, side and price, which may differ from the top level) and its id is
  ``trade_id:order_id``, since one trade can fill several of our resting orders;
* user channel ``order`` and REST orders -> ``OrderState``.

A frame may be one JSON object or an array of them; ``PONG`` is not a message.

Ranges are checked here too, because nothing downstream sees them in time: a price must
lie strictly inside (0, 1) everywhere; a level size must be >= 0 (a ``price_change``
size of 0 removes the level), since ``NetBooks`` would otherwise turn a negative size
into a removed level and the Book's own check would never see it; a fill's size must
be > 0, since a zero or negative fill would reach the tracker and the ledger; an
order's ``original_size`` must be > 0 and its ``size_matched`` >= 0. A range error
names the message's trade or order id (an id, not content) as well as the field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from attrs import frozen

from mmfsm.core.book import BookError, parse_levels
from mmfsm.core.events import BookSnapshot, PriceChange, RejectReason, TickSizeChanged, TradeStatus
from mmfsm.core.ticks import PRICE_SCALE, GridError, Side, TickSize, parse_price, parse_size
from mmfsm.venues.base import MarketInfo

__all__ = [
    "Fill",
    "LastTrade",
    "OrderState",
    "TokenIndex",
    "WireError",
    "frames",
    "parse_book",
    "parse_fills",
    "parse_last_trade",
    "parse_order_state",
    "parse_price_change",
    "parse_tick_change",
    "reject_reason",
]


class WireError(ValueError):
    """A venue message we cannot read; says which message and field, never its content."""

    def __init__(self, kind: str, field: str, problem: str) -> None:
        super().__init__(f"{kind}: {field} {problem}")
        self.kind = kind
        self.field = field


@frozen(kw_only=True)
class Fill:
    """One fill of one of our orders at one status, from a trade message."""

    trade_id: str
    order_id: str
    condition_id: str
    token: str
    side: Side
    price: int
    size: int
    status: TradeStatus
    match_time: int


@frozen(kw_only=True)
class LastTrade:
    """A ``last_trade_price``: someone traded ``size`` of ``token`` at ``price``."""

    market: str
    token: str
    price: int
    size: int
    side: Side


@frozen(kw_only=True)
class OrderState:
    """The venue's view of one order (``order`` event or ``/data/order(s)`` object)."""

    order_id: str
    condition_id: str
    token: str
    status: str  # LIVE, MATCHED, CANCELED (upper case), or the event type's effect
    event: str  # PLACEMENT, UPDATE, CANCELLATION, or "" for REST objects
    original_size: int
    size_matched: int


class TokenIndex:
    """token id -> market, for the markets this bot trades."""

    def __init__(self, markets: list[MarketInfo]) -> None:
        self.by_token: dict[str, MarketInfo] = {}
        self.by_condition: dict[str, MarketInfo] = {}
        for m in markets:
            self.by_token[m.yes_token] = m
            self.by_token[m.no_token] = m
            self.by_condition[m.condition_id] = m

    def __contains__(self, token: object) -> bool:
        return token in self.by_token


def frames(raw: str) -> list[dict[str, Any]]:
    """The messages of one WebSocket frame (object or array); ``PONG`` gives none."""
    text = raw.strip()
    if not text or text == "PONG":
        return []
    try:
        data = json.loads(text)
    except ValueError:
        raise WireError("frame", "body", "is not JSON") from None
    except RecursionError:  # nested deeper than json can read: no venue message is
        raise WireError("frame", "body", "is nested too deeply") from None
    items = data if isinstance(data, list) else [data]
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise WireError("frame", f"[{i}]", f"is a {type(item).__name__}, not an object")
        out.append(item)
    return out


def _str(msg: Mapping[str, Any], key: str, kind: str) -> str:
    value = msg.get(key)
    if not isinstance(value, str) or not value:
        raise WireError(kind, key, f"is missing or not a string ({type(value).__name__})")
    return value


def _price(value: object, kind: str, field: str) -> int:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise WireError(kind, field, f"is not a number ({type(value).__name__})")
    try:
        return parse_price(str(value) if isinstance(value, int) else value)
    except GridError as exc:
        raise WireError(kind, field, f"is not an exact price: {exc}") from None


def _size(value: object, kind: str, field: str) -> int:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise WireError(kind, field, f"is not a number ({type(value).__name__})")
    try:
        return parse_size(str(value) if isinstance(value, int) else value)
    except GridError as exc:
        raise WireError(kind, field, f"is not an exact size: {exc}") from None


def _price_in_range(value: object, kind: str, field: str) -> int:
    """A price strictly inside (0, 1): 0 and 1 are not prices an order can rest at."""
    price = _price(value, kind, field)
    if not 0 < price < PRICE_SCALE:
        raise WireError(kind, field, f"{value!s:.20} is outside (0, 1)")
    return price


def _size_at_least(value: object, kind: str, field: str, low: int) -> int:
    """A size >= ``low`` (0: a level removed or nothing matched yet; 1: a real fill)."""
    size = _size(value, kind, field)
    if size < low:
        raise WireError(kind, field, f"{value!s:.20} must be {'> 0' if low else '>= 0'}")
    return size


def _check_levels(levels: tuple[tuple[int, int], ...], kind: str, side_name: str) -> None:
    """A book side's levels: prices inside (0, 1), sizes >= 0 (runs once per level)."""
    for i, (price, size) in enumerate(levels):
        if not 0 < price < PRICE_SCALE:
            raise WireError(kind, f"{side_name}[{i}].price", "is outside (0, 1)")
        if size < 0:
            raise WireError(kind, f"{side_name}[{i}].size", "is negative")


def parse_book(msg: Mapping[str, Any], index: TokenIndex, ts_ms: int) -> BookSnapshot | None:
    """A ``book`` message (or REST book) -> snapshot; None for a token we do not trade."""
    token = _str(msg, "asset_id", "book")
    market = index.by_token.get(token)
    if market is None:
        return None
    try:
        bids = parse_levels(msg.get("bids"), market=market.key, token=token, side_name="bids")
        asks = parse_levels(msg.get("asks"), market=market.key, token=token, side_name="asks")
    except BookError as exc:
        raise WireError("book", exc.field, exc.detail) from None
    _check_levels(bids, "book", "bids")
    _check_levels(asks, "book", "asks")
    return BookSnapshot(
        ts_ms=ts_ms,
        market=market.key,
        token=token,
        bids=tuple(sorted(bids, key=lambda lv: -lv[0])),
        asks=tuple(sorted(asks, key=lambda lv: lv[0])),
    )


def parse_price_change(msg: Mapping[str, Any], index: TokenIndex, ts_ms: int) -> list[PriceChange]:
    """A ``price_change`` message -> one ``PriceChange`` per traded asset, in order."""
    changes = msg.get("price_changes")
    if not isinstance(changes, list):
        raise WireError("price_change", "price_changes", "is missing or not a list")
    grouped: dict[str, list[tuple[Side, int, int]]] = {}
    for i, change in enumerate(changes):
        where = f"price_changes[{i}]"
        if not isinstance(change, dict):
            raise WireError("price_change", where, "is not an object")
        token = _str(change, "asset_id", "price_change")
        if token not in index:
            continue
        side_text = change.get("side")
        if side_text not in ("BUY", "SELL"):
            raise WireError("price_change", f"{where}.side", "is not BUY or SELL")
        grouped.setdefault(token, []).append(
            (
                Side(side_text),
                _price_in_range(change.get("price"), "price_change", f"{where}.price"),
                _size_at_least(change.get("size"), "price_change", f"{where}.size", 0),
            )
        )
    return [
        PriceChange(
            ts_ms=ts_ms, market=index.by_token[token].key, token=token, changes=tuple(items)
        )
        for token, items in grouped.items()
    ]


def parse_tick_change(
    msg: Mapping[str, Any], index: TokenIndex, ts_ms: int
) -> TickSizeChanged | None:
    token = _str(msg, "asset_id", "tick_size_change")
    market = index.by_token.get(token)
    if market is None:
        return None
    try:
        tick = TickSize.parse(_str(msg, "new_tick_size", "tick_size_change"))
    except GridError as exc:
        raise WireError("tick_size_change", "new_tick_size", str(exc)) from None
    return TickSizeChanged(ts_ms=ts_ms, market=market.key, token=token, tick=tick)


def parse_last_trade(msg: Mapping[str, Any], index: TokenIndex) -> LastTrade | None:
    """A ``last_trade_price`` message; None for a token we do not trade."""
    kind = "last_trade_price"
    token = _str(msg, "asset_id", kind)
    market = index.by_token.get(token)
    if market is None:
        return None
    return LastTrade(
        market=market.key,
        token=token,
        price=_price(msg.get("price"), kind, "price"),
        size=_size(msg.get("size"), kind, "size"),
        side=_side(msg.get("side"), kind, "side"),
    )


def _status(msg: Mapping[str, Any], kind: str) -> TradeStatus:
    text = msg.get("status")
    try:
        return TradeStatus(str(text).upper())
    except ValueError:
        raise WireError(kind, "status", f"{text!r} is not a trade status") from None


def _side(value: object, kind: str, field: str) -> Side:
    if value not in ("BUY", "SELL"):
        raise WireError(kind, field, "is not BUY or SELL")
    return Side(str(value))


def parse_fills(msg: Mapping[str, Any], api_key: str) -> list[Fill]:
    """Our fills in one trade object (user-channel ``trade`` or a ``/data/trades`` item)."""
    kind = "trade"
    trade_id = _str(msg, "id", kind)
    tkind = f"trade {trade_id:.80}"  # range errors name the trade
    condition_id = _str(msg, "market", kind)
    status = _status(msg, kind)
    try:
        match_time = int(str(msg.get("match_time") or msg.get("matchtime") or "0"))
    except ValueError:
        match_time = 0
    out: list[Fill] = []
    if msg.get("trader_side") == "TAKER" or msg.get("owner") == api_key:
        out.append(
            Fill(
                trade_id=trade_id,
                order_id=_str(msg, "taker_order_id", kind),
                condition_id=condition_id,
                token=_str(msg, "asset_id", kind),
                side=_side(msg.get("side"), kind, "side"),
                price=_price_in_range(msg.get("price"), tkind, "price"),
                size=_size_at_least(msg.get("size"), tkind, "size", 1),
                status=status,
                match_time=match_time,
            )
        )
    makers = msg.get("maker_orders") or []
    if not isinstance(makers, list):
        raise WireError(kind, "maker_orders", "is not a list")
    for i, m in enumerate(makers):
        where = f"maker_orders[{i}]"
        if not isinstance(m, dict):
            raise WireError(kind, where, "is not an object")
        if m.get("owner") != api_key:
            continue
        order_id = _str(m, "order_id", kind)
        out.append(
            Fill(
                trade_id=f"{trade_id}:{order_id}",
                order_id=order_id,
                condition_id=condition_id,
                token=_str(m, "asset_id", kind),
                side=_side(m.get("side"), kind, f"{where}.side"),
                price=_price_in_range(m.get("price"), tkind, f"{where}.price"),
                size=_size_at_least(m.get("matched_amount"), tkind, f"{where}.matched_amount", 1),
                status=status,
                match_time=match_time,
            )
        )
    return out


def parse_order_state(msg: Mapping[str, Any]) -> OrderState:
    """A user-channel ``order`` event or a REST order object."""
    kind = "order"
    event = str(msg.get("type") or "")
    status = str(msg.get("status") or "").upper()
    if event == "CANCELLATION" and status in ("", "LIVE"):
        status = "CANCELED"
    order_id = _str(msg, "id", kind)
    okind = f"order {order_id:.80}"  # range errors name the order
    return OrderState(
        order_id=order_id,
        condition_id=_str(msg, "market", kind),
        token=_str(msg, "asset_id", kind),
        status=status,
        event=event,
        original_size=_size_at_least(msg.get("original_size"), okind, "original_size", 1),
        size_matched=_size_at_least(msg.get("size_matched", "0"), okind, "size_matched", 0),
    )


def reject_reason(message: str) -> RejectReason:
    """The Engine's reason for a placement error text (the venue's or the client's)."""
    text = message.lower()
    if "post-only" in text and "crosses" in text:
        return RejectReason.POST_ONLY
    if "tick size" in text or "invalid price" in text:
        return RejectReason.TICK
    if "lower than the minimum" in text:
        return RejectReason.MIN_SIZE
    if "balance" in text or "allowance" in text:
        return RejectReason.BALANCE
    return RejectReason.OTHER
