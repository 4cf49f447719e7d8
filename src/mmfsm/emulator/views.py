"""The emulator's JSON: books, markets, orders and trades as Polymarket spells them.

Theory of operation
-------------------
One function per object, so REST answers and WebSocket messages cannot drift apart: a
``trade`` on the user channel is ``trade_json`` plus the channel's envelope fields, the
same object ``GET /data/trades`` returns. Prices and sizes are decimal strings made by
``mmfsm.core.ticks`` (exact, no float), ids are strings, times are Unix seconds for
orders and trades and milliseconds for book messages, as live.

Books list bids ascending and asks descending, best level *last*: the official client
walks ``reversed(asks)`` when it prices a market order, so that is the order it expects.
The ``hash`` of a book is the one the client recomputes (SHA-1 of compact JSON in a
fixed key order with ``hash`` empty), so ``get_order_book_hash`` verifies.

A trade is always described from the taker's side at the top level (``asset_id``,
``side``, ``price``, ``size``); a maker finds its own fill in ``maker_orders``, whose
``side``, ``asset_id`` and ``price`` may differ from the top level. ``trader_side``
says which one the reader was.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from mmfsm.core.ticks import PRICE_SCALE, format_price, format_size

if TYPE_CHECKING:
    from mmfsm.emulator.exchange import Market, OrderRecord, TradeRecord

__all__ = [
    "book_json",
    "clob_market_json",
    "market_json",
    "order_json",
    "price_change_json",
    "trade_json",
]


def _levels(levels: dict[int, int], *, ascending: bool) -> list[dict[str, str]]:
    return [
        {"price": format_price(p), "size": format_size(s)}
        for p, s in sorted(levels.items(), reverse=not ascending)
        if s > 0
    ]


def book_json(market: Market, token: str, now_ms: int) -> dict[str, Any]:
    bids, asks = market.book.levels(market.is_yes(token))
    last = market.last_trade_price
    if last is not None and not market.is_yes(token):
        last = PRICE_SCALE - last
    book: dict[str, Any] = {
        "market": market.condition_id,
        "asset_id": token,
        "timestamp": str(now_ms),
        "hash": "",
        "bids": _levels(bids, ascending=True),
        "asks": _levels(asks, ascending=False),
        "min_order_size": format_size(market.min_size),
        "tick_size": format_price(market.tick),
        "neg_risk": market.neg_risk,
        "last_trade_price": format_price(last) if last is not None else "",
    }
    serialized = json.dumps(book, separators=(",", ":"), ensure_ascii=False)
    book["hash"] = hashlib.sha1(serialized.encode("utf-8")).hexdigest()
    return book


def _best(levels: dict[int, int], *, bid: bool) -> str:
    live = [p for p, s in levels.items() if s > 0]
    if not live:
        return ""
    return format_price(max(live) if bid else min(live))


def price_change_json(
    market: Market,
    before: tuple[dict[int, int], dict[int, int]],
    after: tuple[dict[int, int], dict[int, int]],
    now_ms: int,
) -> dict[str, Any]:
    """One ``price_change`` covering both tokens: new total size of each changed level."""
    changes: list[dict[str, str]] = []
    for token in (market.yes_token, market.no_token):
        yes = market.is_yes(token)
        book_hash = book_json(market, token, now_ms)["hash"]
        after_bids, after_asks = _in_terms(after, yes)
        before_bids, before_asks = _in_terms(before, yes)
        for side, old, new in (("BUY", before_bids, after_bids), ("SELL", before_asks, after_asks)):
            for price in sorted(set(old) | set(new)):
                if old.get(price, 0) == new.get(price, 0):
                    continue
                changes.append(
                    {
                        "asset_id": token,
                        "price": format_price(price),
                        "size": format_size(new.get(price, 0)),
                        "side": side,
                        "hash": book_hash,
                        "best_bid": _best(after_bids, bid=True),
                        "best_ask": _best(after_asks, bid=False),
                    }
                )
    return {
        "event_type": "price_change",
        "market": market.condition_id,
        "timestamp": str(now_ms),
        "price_changes": changes,
    }


def _in_terms(
    levels: tuple[dict[int, int], dict[int, int]], yes: bool
) -> tuple[dict[int, int], dict[int, int]]:
    bids, asks = levels
    if yes:
        return bids, asks
    return (
        {PRICE_SCALE - p: s for p, s in asks.items()},
        {PRICE_SCALE - p: s for p, s in bids.items()},
    )


def market_json(market: Market) -> dict[str, Any]:
    """The CLOB ``/markets`` object (the fields a trading client reads)."""
    return {
        "condition_id": market.condition_id,
        "question": market.question,
        "tokens": [
            {"token_id": market.yes_token, "outcome": "Yes"},
            {"token_id": market.no_token, "outcome": "No"},
        ],
        "minimum_order_size": float(format_size(market.min_size)),
        "minimum_tick_size": float(format_price(market.tick)),
        "neg_risk": market.neg_risk,
        "active": True,
        "closed": False,
        "accepting_orders": True,
        "end_date_iso": None,
    }


def clob_market_json(market: Market) -> dict[str, Any]:
    """``GET /clob-markets/{cid}``: the compact form the V2 client caches from."""
    out: dict[str, Any] = {
        "c": market.condition_id,
        "t": [{"t": market.yes_token, "o": "Yes"}, {"t": market.no_token, "o": "No"}],
        "mts": float(format_price(market.tick)),
        "mos": float(format_size(market.min_size)),
        "fd": {"r": 0.0, "e": 1.0, "to": True},
    }
    if market.neg_risk:
        out["nr"] = True
    return out


def order_json(rec: OrderRecord) -> dict[str, Any]:
    o = rec.book
    return {
        "id": o.order_id,
        "status": rec.status,
        "owner": rec.owner,
        "maker_address": rec.account.address,
        "market": o.market,
        "asset_id": o.token,
        "side": o.side.value,
        "original_size": format_size(o.size),
        "size_matched": format_size(o.matched),
        "price": format_price(o.price),
        "associate_trades": list(rec.trades),
        "outcome": rec.outcome,
        "created_at": rec.created_at,
        "expiration": str(rec.expiration),
        "order_type": rec.order_type,
    }


def trade_json(trade: TradeRecord, trader_side: str) -> dict[str, Any]:
    taker = trade.taker.book
    maker = trade.maker.book
    return {
        "id": trade.id,
        "taker_order_id": taker.order_id,
        "market": trade.market.condition_id,
        "asset_id": taker.token,
        "side": taker.side.value,
        "size": format_size(trade.size),
        "fee_rate_bps": "0",
        "price": format_price(taker.own_price(trade.yes_price)),
        "status": trade.status,
        "match_time": str(trade.match_time),
        "last_update": str(trade.last_update),
        "outcome": trade.taker.outcome,
        "bucket_index": 0,
        "owner": trade.taker.owner,
        "maker_address": trade.taker.account.address,
        "transaction_hash": trade.transaction_hash,
        "trader_side": trader_side,
        "maker_orders": [
            {
                "order_id": maker.order_id,
                "owner": trade.maker.owner,
                "maker_address": trade.maker.account.address,
                "matched_amount": format_size(trade.size),
                "price": format_price(maker.own_price(trade.yes_price)),
                "fee_rate_bps": "0",
                "asset_id": maker.token,
                "outcome": trade.maker.outcome,
                "side": maker.side.value,
            }
        ],
    }
