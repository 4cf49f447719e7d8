"""The emulated exchange: markets, accounts, orders, trades and their life cycles.

Theory of operation
-------------------
This is the venue without its transport: HTTP (``server``) and WebSocket (``ws``) only
translate requests into calls here and publish what it says. Everything is synchronous
and runs on the server's event loop, so a request sees the exchange between two
complete operations, never in the middle of one.

An order goes: checks (duplicate, type, expiration, tick, minimum size, balance) ->
post-only check -> FOK check -> match (``matching``) -> trades -> rest or finish. Each
check raises ``OrderError`` with the live service's message before anything changed
(check, then mutate). A match moves collateral and tokens at once (at MATCHED, which
is when the live CLOB's balance view moves too) and creates one trade per maker order
filled, each carrying a transaction hash from the start, so the official client's
post-order polling resolves at once.

Trades then live on a timer (``advance``): MATCHED -> MINED -> CONFIRMED after
``mined_ms`` / ``confirmed_ms`` (plus ``trade_delay_ms`` when that fault is on), or,
with probability ``trade_fail``, MATCHED -> RETRYING -> FAILED, which undoes the
transfer (the orders keep their matched size, as live). ``advance`` also expires GTD
orders and runs the heartbeat dead-man switch: once a key has sent a heartbeat, going
``heartbeat_timeout_s`` without a valid one cancels every open order of its account.

Every change is published through a ``Publisher``: market-channel messages (``book``
after a trade, ``price_change`` with the changed levels after a place or cancel,
``last_trade_price``, ``tick_size_change``) by asset id, and user-channel messages
(``order`` PLACEMENT/UPDATE/CANCELLATION, ``trade`` at each status) by API key.

Participants (``participants``) trade through ``place_internal``: the same book and
the same matching, without signatures or balance checks.
"""

from __future__ import annotations

import contextlib
import math
import random
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from fractions import Fraction
from typing import Any, Protocol

from attrs import define, field

from mmfsm.core.ticks import MONEY_SCALE, PRICE_SCALE, Side, format_price, format_size
from mmfsm.emulator.config import EmulatorConfig, FaultConfig
from mmfsm.emulator.matching import BookOrder, Fill, MarketBook
from mmfsm.emulator.orders import OrderError, SignedOrder
from mmfsm.emulator.views import book_json, order_json, price_change_json, trade_json

__all__ = [
    "Account",
    "Exchange",
    "HeartbeatError",
    "Market",
    "OrderRecord",
    "Publisher",
    "TradeRecord",
]


class Publisher(Protocol):
    def market(self, assets: Sequence[str], payload: dict[str, Any]) -> None: ...

    def user(self, api_key: str, market: str, payload: dict[str, Any]) -> None: ...


class _NoPublisher:
    def market(self, assets: Sequence[str], payload: dict[str, Any]) -> None:
        return None

    def user(self, api_key: str, market: str, payload: dict[str, Any]) -> None:
        return None


class HeartbeatError(Exception):
    """A heartbeat with a stale or unknown id; carries the id the caller must send."""

    def __init__(self, expected: str) -> None:
        super().__init__("Invalid Heartbeat ID")
        self.expected = expected


@define(slots=True, eq=False)
class Market:
    condition_id: str
    yes_token: str
    no_token: str
    tick: int
    min_size: int
    neg_risk: bool
    question: str
    book: MarketBook
    last_trade_price: int | None = None

    def is_yes(self, token: str) -> bool:
        return token == self.yes_token

    def outcome(self, token: str) -> str:
        return "Yes" if token == self.yes_token else "No"


@define(slots=True, eq=False)
class Account:
    """A wallet: pUSD in money units, tokens in micro-shares. ``internal`` skips checks."""

    address: str
    internal: bool = False
    collateral: int = 0
    tokens: dict[str, int] = field(factory=dict)


@define(slots=True, eq=False)
class OrderRecord:
    book: BookOrder
    owner: str  # API key (or participant name)
    account: Account
    order_type: str
    expiration: int
    created_at: int
    outcome: str
    status: str = "LIVE"  # LIVE, MATCHED, CANCELED
    trades: list[str] = field(factory=list)


@define(slots=True, eq=False)
class TradeRecord:
    id: str
    market: Market
    taker: OrderRecord
    maker: OrderRecord
    yes_price: int
    size: int
    match_time: int
    matched_mono: float
    transaction_hash: str
    status: str = "MATCHED"
    last_update: int = 0
    fails: bool = False
    due_s: float = 0.0


class Exchange:
    """The whole venue state; every public method is one atomic operation."""

    def __init__(
        self,
        config: EmulatorConfig,
        *,
        clock: Callable[[], float],
        monotonic: Callable[[], float],
        publisher: Publisher | None = None,
    ) -> None:
        self.config = config
        self.faults: FaultConfig = config.faults
        self.clock = clock
        self.monotonic = monotonic
        self.publisher: Publisher = publisher or _NoPublisher()
        self.rng = random.Random(config.seed)
        self.markets: dict[str, Market] = {}
        self.by_token: dict[str, Market] = {}
        self.accounts: dict[str, Account] = {}
        self.orders: dict[str, OrderRecord] = {}
        self.live: dict[str, OrderRecord] = {}  # resting orders only: the per-tick work
        self.trades: dict[str, TradeRecord] = {}
        self.trade_log: list[TradeRecord] = []
        self.heartbeats: dict[str, tuple[str, float]] = {}  # api key -> (id, last seen)
        self.heartbeat_cancels = 0
        self._seq = 0
        self._live_trades: list[TradeRecord] = []
        self._batch: dict[str, tuple[tuple[dict[int, int], dict[int, int]], bool]] | None = None

    # ------------------------------------------------------------------ setup

    def _hex(self, nbytes: int) -> str:
        return "0x" + self.rng.getrandbits(nbytes * 8).to_bytes(nbytes, "big").hex()

    def _token_id(self) -> str:
        return str(self.rng.getrandbits(250))

    def add_market(
        self, question: str, *, tick: int, min_size: int, neg_risk: bool = False
    ) -> Market:
        market = Market(
            condition_id=self._hex(32),
            yes_token=self._token_id(),
            no_token=self._token_id(),
            tick=tick,
            min_size=min_size,
            neg_risk=neg_risk,
            question=question,
            book=MarketBook(""),
        )
        market.book.market = market.condition_id
        self.markets[market.condition_id] = market
        self.by_token[market.yes_token] = market
        self.by_token[market.no_token] = market
        return market

    def account(self, address: str, *, internal: bool = False) -> Account:
        """The account of ``address``, opened with the configured pUSD on first use."""
        key = address.lower()
        acct = self.accounts.get(key)
        if acct is None:
            acct = Account(
                address=address,
                internal=internal,
                collateral=self.config.user_collateral_usd * MONEY_SCALE,
            )
            self.accounts[key] = acct
        return acct

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    # ------------------------------------------------------------------ balances

    def reserved(self, acct: Account) -> tuple[int, dict[str, int]]:
        """Collateral (money units) and tokens held by the account's open orders."""
        money = 0
        tokens: dict[str, int] = {}
        for rec in self.live.values():
            if rec.account is not acct:
                continue
            o = rec.book
            if o.side is Side.BUY:
                money += o.remaining * o.price
            else:
                tokens[o.token] = tokens.get(o.token, 0) + o.remaining
        return money, tokens

    def _check_balance(self, acct: Account, order: BookOrder) -> None:
        if acct.internal:
            return
        money, tokens = self.reserved(acct)
        if order.side is Side.BUY:
            need = math.ceil(order.size * order.limit)
            if acct.collateral - money < need:
                raise OrderError("not enough balance / allowance")
        else:
            have = acct.tokens.get(order.token, 0) - tokens.get(order.token, 0)
            if have < order.size:
                raise OrderError("not enough balance / allowance")

    def _transfer(self, rec: OrderRecord, own_price: int, size: int, sign: int) -> None:
        acct = rec.account
        token = rec.book.token
        money = own_price * size * sign
        if rec.book.side is Side.BUY:
            acct.collateral -= money
            acct.tokens[token] = acct.tokens.get(token, 0) + size * sign
        else:
            acct.collateral += money
            acct.tokens[token] = acct.tokens.get(token, 0) - size * sign

    # ------------------------------------------------------------------ placing

    def place(
        self, order: SignedOrder, order_id: str, api_key: str, address: str
    ) -> dict[str, Any]:
        """Place a verified signed order for ``api_key``; return the POST /order body."""
        market = self.by_token.get(order.token_id)
        if market is None:
            raise OrderError("Invalid token id")
        if order_id in self.orders:
            raise OrderError(f"order {order_id} is invalid. Duplicated.")
        now = self.clock()
        if order.post_only and order.order_type in ("FOK", "FAK"):
            raise OrderError("invalid post-only order: only GTC and GTD order types are allowed")
        if order.order_type == "GTD":
            if order.expiration <= now + 60:
                raise OrderError("invalid expiration")
        elif order.expiration != 0:
            raise OrderError("invalid expiration")
        limit = order.limit
        resting = order.order_type in ("GTC", "GTD")
        if resting:
            if (
                limit.denominator != 1
                or int(limit) % market.tick
                or not (market.tick <= limit <= PRICE_SCALE - market.tick)
            ):
                raise OrderError(
                    f"order {order_id} is invalid. Price ({_price_text(limit)}) breaks minimum "
                    f"tick size rule: {format_price(market.tick)}"
                )
            price = int(limit)
        else:
            if not 0 < limit < PRICE_SCALE:
                raise OrderError(
                    f"order {order_id} is invalid. Price ({_price_text(limit)}) breaks minimum "
                    f"tick size rule: {format_price(market.tick)}"
                )
            price = round(limit / market.tick) * market.tick
        if order.size < market.min_size:
            raise OrderError(
                f"order {order_id} is invalid. Size ({format_size(order.size)}) lower than the "
                f"minimum: {format_size(market.min_size)}"
            )
        acct = self.account(address)
        book = self._book_order(
            order_id, acct, market, order.token_id, order.side, price, order.size, limit
        )
        self._check_balance(acct, book)
        rec = OrderRecord(
            book=book,
            owner=api_key,
            account=acct,
            order_type=order.order_type,
            expiration=order.expiration,
            created_at=int(now),
            outcome=market.outcome(order.token_id),
        )
        return self._execute(market, rec, post_only=order.post_only)

    def place_internal(
        self,
        participant: str,
        token: str,
        side: Side,
        price: int,
        size: int,
        order_type: str = "GTC",
    ) -> OrderRecord | None:
        """A participant's order: same book and matching, no signature, no balance check."""
        market = self.by_token[token]
        acct = self.account(participant, internal=True)
        self._seq += 1
        order_id = self._hex(32)
        book = self._book_order(order_id, acct, market, token, side, price, size, Fraction(price))
        rec = OrderRecord(
            book=book,
            owner=participant,
            account=acct,
            order_type=order_type,
            expiration=0,
            created_at=int(self.clock()),
            outcome=market.outcome(token),
        )
        try:
            self._execute(market, rec, post_only=False)
        except OrderError:
            return None
        return rec

    def _book_order(
        self,
        order_id: str,
        acct: Account,
        market: Market,
        token: str,
        side: Side,
        price: int,
        size: int,
        limit: Fraction,
    ) -> BookOrder:
        self._seq += 1
        return BookOrder(
            order_id=order_id,
            account=acct.address,
            market=market.condition_id,
            token=token,
            is_yes=market.is_yes(token),
            side=side,
            price=price,
            size=size,
            seq=self._seq,
            limit=limit,
        )

    def _execute(self, market: Market, rec: OrderRecord, *, post_only: bool) -> dict[str, Any]:
        order = rec.book
        book = market.book
        if post_only and book.crosses(order):
            raise OrderError("invalid post-only order: order crosses book")
        if rec.order_type == "FOK" and book.available(order) < order.size:
            raise OrderError(
                "order couldn't be fully filled. FOK orders are fully filled or killed."
            )
        if rec.order_type == "FAK" and not book.crosses(order):
            raise OrderError(
                "no orders found to match with FAK order. FAK orders are partially filled "
                "or killed if no match is found."
            )
        before = book.levels(True)
        fills = book.match(order)
        self.orders[order.order_id] = rec
        trades = [self._trade(market, f) for f in fills]
        if order.remaining > 0 and rec.order_type in ("GTC", "GTD"):
            book.add(order)
            rec.status = "LIVE"
            self.live[order.order_id] = rec
        elif order.matched > 0:
            rec.status = "MATCHED"
        else:
            rec.status = "CANCELED"
        self._publish_order(rec, "PLACEMENT")
        for trade in trades:
            self._publish_order(trade.maker, "UPDATE")
            self._publish_trade(trade)
        if fills:
            last = trades[-1]
            market.last_trade_price = last.yes_price
            self._publish_last_trade(last)
        self._changed(market, before, traded=bool(fills))
        return self._place_response(rec, trades)

    def _trade(self, market: Market, fill: Fill) -> TradeRecord:
        taker = self.orders[fill.taker.order_id]
        maker = self.orders[fill.maker.order_id]
        now = self.clock()
        trade = TradeRecord(
            id=str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            market=market,
            taker=taker,
            maker=maker,
            yes_price=fill.yes_price,
            size=fill.size,
            match_time=int(now),
            matched_mono=self.monotonic(),
            transaction_hash=self._hex(32),
            last_update=int(now),
            fails=self.rng.random() < self.faults.trade_fail,
            due_s=now + (self.config.mined_ms + self.faults.trade_delay_ms) / 1000,
        )
        self._transfer(taker, fill.taker.own_price(fill.yes_price), fill.size, +1)
        self._transfer(maker, fill.maker.own_price(fill.yes_price), fill.size, +1)
        if maker.book.remaining <= 0:
            maker.status = "MATCHED"
            self.live.pop(maker.book.order_id, None)
        taker.trades.append(trade.id)
        maker.trades.append(trade.id)
        self.trades[trade.id] = trade
        self.trade_log.append(trade)
        self._live_trades.append(trade)
        return trade

    def _place_response(self, rec: OrderRecord, trades: list[TradeRecord]) -> dict[str, Any]:
        o = rec.book
        usd = sum(o.own_price(t.yes_price) * t.size for t in trades)
        money_text = _usd_text(usd) if trades else ""
        share_text = format_size(sum(t.size for t in trades)) if trades else ""
        making_text, taking_text = (
            (money_text, share_text) if o.side is Side.BUY else (share_text, money_text)
        )
        return {
            "success": True,
            "errorMsg": "",
            "orderID": o.order_id,
            # Lower case on insert, as live: "matched" once anything traded on entry.
            "status": "matched" if trades else "live",
            "makingAmount": making_text,
            "takingAmount": taking_text,
            "transactionsHashes": [t.transaction_hash for t in trades],
            "tradeIDs": [t.id for t in trades],
        }

    # ------------------------------------------------------------------ cancelling

    def cancel(self, api_key: str | None, address: str, order_ids: Iterable[str]) -> dict[str, Any]:
        canceled: list[str] = []
        not_canceled: dict[str, str] = {}
        touched: dict[str, tuple[dict[int, int], dict[int, int]]] = {}
        for oid in order_ids:
            rec = self.orders.get(oid)
            if rec is None or rec.account.address.lower() != address.lower():
                not_canceled[oid] = "order not found"
                continue
            if rec.status == "MATCHED":
                not_canceled[oid] = "order already matched"
                continue
            if rec.status == "CANCELED":
                not_canceled[oid] = "order already canceled"
                continue
            market = self.markets[rec.book.market]
            touched.setdefault(market.condition_id, market.book.levels(True))
            self._remove(rec)
            canceled.append(oid)
        for cid, before in touched.items():
            self._changed(self.markets[cid], before, traded=False)
        return {"canceled": canceled, "not_canceled": not_canceled}

    def _remove(self, rec: OrderRecord) -> None:
        self.markets[rec.book.market].book.remove(rec.book)
        rec.status = "CANCELED"
        self.live.pop(rec.book.order_id, None)
        self._publish_order(rec, "CANCELLATION")

    def open_orders(
        self,
        address: str,
        *,
        market: str | None = None,
        asset_id: str | None = None,
        order_id: str | None = None,
    ) -> list[OrderRecord]:
        out = []
        for rec in self.live.values():
            if rec.account.address.lower() != address.lower():
                continue
            if market and rec.book.market != market:
                continue
            if asset_id and rec.book.token != asset_id:
                continue
            if order_id and rec.book.order_id != order_id:
                continue
            out.append(rec)
        return out

    def cancel_all(self, address: str) -> dict[str, Any]:
        return self.cancel(None, address, [r.book.order_id for r in self.open_orders(address)])

    # ------------------------------------------------------------------ time

    def heartbeat(self, api_key: str, heartbeat_id: str) -> str:
        """Accept a heartbeat and return the next id, or raise with the expected one."""
        now = self.clock()
        current = self.heartbeats.get(api_key)
        if current is not None and heartbeat_id != current[0]:
            raise HeartbeatError(current[0])
        if current is None and heartbeat_id:
            raise HeartbeatError("")
        new_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        self.heartbeats[api_key] = (new_id, now)
        return new_id

    def advance(self) -> None:
        """Move trades along, expire GTD orders, enforce heartbeats."""
        now = self.clock()
        still: list[TradeRecord] = []
        for trade in self._live_trades:
            if trade.due_s <= now:
                self._next_status(trade, now)
            if trade.status not in ("CONFIRMED", "FAILED"):
                still.append(trade)
        self._live_trades = still
        for rec in list(self.live.values()):
            if rec.expiration and rec.expiration - 60 <= now:
                before = self.markets[rec.book.market].book.levels(True)
                self._remove(rec)
                self._changed(self.markets[rec.book.market], before, traded=False)
        timeout = self.config.heartbeat_timeout_s
        for api_key, (_, seen) in list(self.heartbeats.items()):
            if now - seen > timeout:
                del self.heartbeats[api_key]
                owners = {r.account.address for r in self.live.values() if r.owner == api_key}
                for address in owners:
                    result = self.cancel(
                        None, address, [r.book.order_id for r in self.open_orders(address)]
                    )
                    self.heartbeat_cancels += len(result["canceled"])

    def _next_status(self, trade: TradeRecord, now: float) -> None:
        step = self.config.confirmed_ms / 1000
        if trade.status == "MATCHED":
            trade.status = "RETRYING" if trade.fails else "MINED"
            trade.due_s = now + step
        elif trade.status == "RETRYING":
            trade.status = "FAILED"
            taker_price = trade.taker.book.own_price(trade.yes_price)
            maker_price = trade.maker.book.own_price(trade.yes_price)
            self._transfer(trade.taker, taker_price, trade.size, -1)
            self._transfer(trade.maker, maker_price, trade.size, -1)
        elif trade.status == "MINED":
            trade.status = "CONFIRMED"
        trade.last_update = int(now)
        self._publish_trade(trade)

    def set_tick(self, condition_id: str, tick: int) -> None:
        market = self.markets[condition_id]
        old, market.tick = market.tick, tick
        for token in (market.yes_token, market.no_token):
            self.publisher.market(
                [token],
                {
                    "event_type": "tick_size_change",
                    "asset_id": token,
                    "market": condition_id,
                    "old_tick_size": format_price(old),
                    "new_tick_size": format_price(tick),
                    "timestamp": str(self.now_ms()),
                },
            )

    # ------------------------------------------------------------------ publishing

    def book_json(self, market: Market, token: str) -> dict[str, Any]:
        return book_json(market, token, self.now_ms())

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Publish the book changes of several operations as one message per market.

        A participant's re-quote is many cancels and places; published one by one, a
        reader would see the book empty out and refill, a state that never existed for
        anyone trading. Live, one re-quote is one ``price_change``; so here.
        """
        outer = self._batch is None
        if outer:
            self._batch = {}
        try:
            yield
        finally:
            if outer:
                pending, self._batch = self._batch or {}, None
                for cid, (before, traded) in pending.items():
                    self._changed(self.markets[cid], before, traded=traded)

    def _changed(
        self, market: Market, before: tuple[dict[int, int], dict[int, int]], *, traded: bool
    ) -> None:
        if self._batch is not None:
            first, was_traded = self._batch.get(market.condition_id, (before, False))
            self._batch[market.condition_id] = (first, was_traded or traded)
            return
        if traded:
            self._publish_books(market)
        else:
            self._publish_changes(market, before)

    def _publish_books(self, market: Market) -> None:
        for token in (market.yes_token, market.no_token):
            payload = self.book_json(market, token)
            payload["event_type"] = "book"
            self.publisher.market([token], payload)

    def _publish_changes(
        self, market: Market, before: tuple[dict[int, int], dict[int, int]]
    ) -> None:
        after = market.book.levels(True)
        if after == before:
            return
        self.publisher.market(
            [market.yes_token, market.no_token],
            price_change_json(market, before, after, self.now_ms()),
        )

    def _publish_last_trade(self, trade: TradeRecord) -> None:
        taker = trade.taker.book
        self.publisher.market(
            [taker.token],
            {
                "event_type": "last_trade_price",
                "asset_id": taker.token,
                "market": trade.market.condition_id,
                "price": format_price(taker.own_price(trade.yes_price)),
                "size": format_size(trade.size),
                "side": taker.side.value,
                "fee_rate_bps": "0",
                "timestamp": str(self.now_ms()),
                "transaction_hash": trade.transaction_hash,
            },
        )

    def _publish_order(self, rec: OrderRecord, kind: str) -> None:
        if rec.account.internal:
            return
        payload = order_json(rec)
        payload.update(event_type="order", type=kind, timestamp=str(self.now_ms()))
        payload["order_owner"] = rec.owner
        self.publisher.user(rec.owner, rec.book.market, payload)

    def _publish_trade(self, trade: TradeRecord) -> None:
        for rec, side in ((trade.taker, "TAKER"), (trade.maker, "MAKER")):
            if rec.account.internal:
                continue
            payload = trade_json(trade, side)
            payload.update(event_type="trade", type="TRADE", timestamp=str(self.now_ms()))
            self.publisher.user(rec.owner, trade.market.condition_id, payload)

    # ------------------------------------------------------------------ reading

    def trades_of(self, address: str) -> list[tuple[TradeRecord, str]]:
        """Trades the account took part in, with its side of each (TAKER or MAKER)."""
        out = []
        low = address.lower()
        for trade in self.trade_log:
            if trade.taker.account.address.lower() == low:
                out.append((trade, "TAKER"))
            elif trade.maker.account.address.lower() == low:
                out.append((trade, "MAKER"))
        return out


def _price_text(limit: Fraction) -> str:
    """A price in 0.0001 units, possibly off the grid, as a decimal string."""
    if limit.denominator == 1:
        return format_price(int(limit))
    return f"{float(limit) / PRICE_SCALE:.6f}".rstrip("0").rstrip(".")


def _usd_text(money: int) -> str:
    """Money units as pUSD with at most 6 decimals (the token's base unit)."""
    base = money // (MONEY_SCALE // 1_000_000)
    return format_size(base)
