"""The embedded CLOB V2 emulator: a real HTTP + WebSocket server on 127.0.0.1.

Theory of operation
-------------------
``Emulator`` owns an ``Exchange`` (the venue state), a WebSocket ``Hub``, the synthetic
``Participants`` and an aiohttp server, all on the caller's event loop. Its REST routes
are the paths, parameters, auth levels and response shapes of Polymarket's CLOB that
the unmodified official ``py-clob-client-v2`` uses (the fact sheet's endpoint table);
``README``-level coverage is listed in ``mmfsm.emulator``'s docstring.

A request goes: fault middleware (429 / 5xx before anything is done) -> auth (L1 or
L2, ``auth``) -> body checks -> one synchronous ``Exchange`` call -> JSON. Every
success is HTTP 200 exactly (the client treats anything else as an error) and every
failure a 4xx/5xx with ``{"error": message}`` in the live service's words; a batch
``POST /orders`` answers 200 with per-order results, as live.

Three background tasks keep time: ``advance`` (trade statuses, GTD expiry, heartbeat
dead-man switch) every 50 ms, the participants every ``step_ms``, and the scheduled
faults (WebSocket disconnects, tick-size flips). ``stop`` cancels them and closes every
socket, so a test leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from mmfsm.core.ticks import MONEY_SCALE, Side, TickSize, format_price, format_size, parse_size
from mmfsm.emulator.auth import ApiKey, ApiKeys, AuthError, recover_l1
from mmfsm.emulator.config import EmulatorConfig, FaultConfig
from mmfsm.emulator.exchange import Exchange, HeartbeatError, Market
from mmfsm.emulator.orders import EXCHANGE_V2, NEG_RISK_EXCHANGE_V2, OrderError, parse_order, verify
from mmfsm.emulator.participants import Participants
from mmfsm.emulator.views import book_json, clob_market_json, market_json, order_json, trade_json
from mmfsm.emulator.ws import Hub

__all__ = ["Emulator"]

log = logging.getLogger("mmfsm.emulator")

_END_CURSOR = "LTE="
_PAGE = 100
_MAX_BATCH = 15
_ALLOWANCE = str(2**128)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
L2Handler = Callable[[web.Request, ApiKey, str], Awaitable[web.StreamResponse]]


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(
        data, status=status, dumps=lambda d: json.dumps(d, separators=(",", ":"))
    )


def _error(status: int, message: str, **extra: Any) -> web.Response:
    return _json({"error": message, **extra}, status=status)


def _page(items: list[Any], cursor: str | None) -> dict[str, Any]:
    """Polymarket pagination: base64 offsets, ``LTE=`` after the last page."""
    try:
        offset = int(base64.b64decode(cursor or "MA==").decode()) if cursor else 0
    except (ValueError, UnicodeDecodeError):
        offset = 0
    offset = max(offset, 0)
    chunk = items[offset : offset + _PAGE]
    end = offset + _PAGE
    nxt = base64.b64encode(str(end).encode()).decode() if end < len(items) else _END_CURSOR
    return {"data": chunk, "next_cursor": nxt, "limit": _PAGE, "count": len(chunk)}


class Emulator:
    """A CLOB V2 venue on loopback. ``await start()``, trade, ``await stop()``."""

    def __init__(
        self, config: EmulatorConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.config = config or EmulatorConfig()
        self.host = host
        self.port = port
        self.keys = ApiKeys(seed=f"mmfsm-emulator-{self.config.seed}")
        self.exchange = Exchange(self.config, clock=time.time, monotonic=time.monotonic)
        self.hub = Hub(
            keys=self.keys,
            books=self._book_of,
            faults=lambda: self.exchange.faults,
            seed=self.config.seed,
        )
        self.exchange.publisher = self.hub
        tick = int(TickSize.parse(self.config.tick))
        min_size = parse_size(self.config.min_order_size)
        for i in range(self.config.markets):
            self.exchange.add_market(f"Emulated market {i + 1}", tick=tick, min_size=min_size)
        self.participants = Participants(self.exchange, self.config.participants, self.config.seed)
        self.requests: Counter[str] = Counter()
        self._rng = random.Random(self.config.seed ^ 0xFA17)
        self._placed_mono: dict[str, float] = {}  # order id -> placement (read_lag_ms only)
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------------ lifecycle

    @property
    def faults(self) -> FaultConfig:
        return self.exchange.faults

    @faults.setter
    def faults(self, faults: FaultConfig) -> None:
        self.exchange.faults = faults

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws"

    @property
    def markets(self) -> list[Market]:
        return list(self.exchange.markets.values())

    async def start(self) -> None:
        app = web.Application(middlewares=[self._fault_middleware])
        self._routes(app)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]
        if self.config.participants.enabled:
            self.participants.start(time.time())
        self._tasks = [
            asyncio.create_task(self._every(0.05, lambda _dt: self.exchange.advance())),
            asyncio.create_task(self._fault_schedule()),
        ]
        if self.config.participants.enabled:
            step = self.config.participants.step_ms / 1000
            self._tasks.append(
                asyncio.create_task(
                    self._every(step, lambda dt: self.participants.step(time.time(), dt))
                )
            )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        await self.hub.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _every(self, period: float, body: Callable[[float], None]) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            try:
                body(now - last)
            except Exception:
                log.exception("emulator background step failed")
            last = now

    async def _fault_schedule(self) -> None:
        last_disconnect = last_flip = time.monotonic()
        while True:
            await asyncio.sleep(0.1)
            now = time.monotonic()
            f = self.exchange.faults
            if f.ws_disconnect_s and now - last_disconnect >= f.ws_disconnect_s:
                last_disconnect = now
                await self.hub.close_all()
            if f.tick_change_s and now - last_flip >= f.tick_change_s:
                last_flip = now
                for cid in list(self.exchange.markets):
                    self.participants.flip_tick(cid)
            if not f.ws_disconnect_s:
                last_disconnect = now
            if not f.tick_change_s:
                last_flip = now

    # ------------------------------------------------------------------ test helpers

    def gap(self, condition_id: str, seconds: float, *, sweep: Side | None = Side.SELL) -> None:
        """Open a news gap in one market (see ``Participants.gap``)."""
        self.participants.gap(condition_id, seconds, time.time(), sweep=sweep)

    def flip_tick(self, condition_id: str) -> int:
        return self.participants.flip_tick(condition_id)

    def open_orders(self, address: str) -> list[dict[str, Any]]:
        return [order_json(r) for r in self.exchange.open_orders(address)]

    def balance(self, address: str, token: str | None = None) -> int:
        """pUSD in money units (``token`` None) or a token holding in micro-shares."""
        acct = self.exchange.account(address)
        return acct.collateral if token is None else acct.tokens.get(token, 0)

    def _book_of(self, token: str) -> dict[str, Any] | None:
        market = self.exchange.by_token.get(token)
        return None if market is None else book_json(market, token, self.exchange.now_ms())

    # ------------------------------------------------------------------ plumbing

    @web.middleware
    async def _fault_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/ws/"):
            return await handler(request)
        f = self.exchange.faults
        if f.http_429 and self._rng.random() < f.http_429:
            self.requests[f"{request.method} {request.path} -> 429"] += 1
            resp = _error(429, "Too Many Requests")
            resp.headers["Retry-After"] = "1"
            return resp
        if request.path in f.fail_paths:
            self.requests[f"{request.method} {request.path} -> 503"] += 1
            return _error(503, "service unavailable (injected outage of this path)")
        if f.http_5xx and self._rng.random() < f.http_5xx:
            self.requests[f"{request.method} {request.path} -> 503"] += 1
            return _error(503, "service unavailable (injected fault)")
        response = await handler(request)
        self.requests[f"{request.method} {request.path} -> {response.status}"] += 1
        return response

    def _l2(self, handler: L2Handler) -> Handler:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            body = await request.text()
            try:
                key = self.keys.verify_l2(
                    request.headers,
                    method=request.method,
                    path=request.path,
                    body=body,
                    now_s=time.time(),
                    window_s=self.config.signature_window_s,
                )
            except AuthError as err:
                log.debug("L2 refused %s %s: %s", request.method, request.path, err.detail)
                return _error(err.status, err.message)
            return await handler(request, key, body)

        return wrapped

    def _l1(self, request: web.Request) -> tuple[str, int]:
        return recover_l1(
            request.headers, self.config.chain_id, time.time(), self.config.signature_window_s
        )

    def _routes(self, app: web.Application) -> None:
        r = app.router
        for path, handler in (
            ("/ok", self._ok),
            ("/time", self._time),
            ("/version", self._version),
            ("/book", self._book),
            ("/tick-size", self._tick_size),
            ("/tick-size/{token_id}", self._tick_size),
            ("/neg-risk", self._neg_risk),
            ("/fee-rate", self._fee_rate),
            ("/clob-markets/{cid}", self._clob_market),
            ("/markets-by-token/{token_id}", self._market_by_token),
            ("/markets", self._markets),
            ("/markets/{cid}", self._market),
            ("/midpoint", self._midpoint),
            ("/price", self._price),
            ("/spread", self._spread),
            ("/last-trade-price", self._last_trade_price),
            ("/auth/derive-api-key", self._derive_key),
        ):
            r.add_get(path, handler)
        r.add_post("/books", self._books)
        r.add_post("/auth/api-key", self._create_key)
        l2_routes: list[tuple[str, str, L2Handler]] = [
            ("GET", "/auth/api-keys", self._api_keys),
            ("DELETE", "/auth/api-key", self._delete_key),
            ("GET", "/auth/ban-status/closed-only", self._closed_only),
            ("POST", "/order", self._post_order),
            ("POST", "/orders", self._post_orders),
            ("DELETE", "/order", self._cancel_order),
            ("DELETE", "/orders", self._cancel_orders),
            ("DELETE", "/cancel-all", self._cancel_all),
            ("DELETE", "/cancel-market-orders", self._cancel_market),
            ("GET", "/data/order/{order_id}", self._get_order),
            ("GET", "/data/orders", self._get_orders),
            ("GET", "/data/trades", self._get_trades),
            ("POST", "/v1/heartbeats", self._heartbeat),
            ("POST", "/heartbeats", self._heartbeat),
            ("GET", "/balance-allowance", self._balance),
            ("GET", "/balance-allowance/update", self._balance),
            ("GET", "/order-scoring", self._order_scoring),
            ("POST", "/orders-scoring", self._orders_scoring),
            ("GET", "/notifications", self._notifications),
        ]
        for method, path, l2_handler in l2_routes:
            r.add_route(method, path, self._l2(l2_handler))
        r.add_get("/ws/market", self.hub.handle_market)
        r.add_get("/ws/user", self.hub.handle_user)

    # ------------------------------------------------------------------ public data

    async def _ok(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text="OK")

    async def _time(self, request: web.Request) -> web.StreamResponse:
        return _json(int(time.time()))

    async def _version(self, request: web.Request) -> web.StreamResponse:
        return _json({"version": 2})

    def _token_market(self, request: web.Request) -> tuple[str, Market | None]:
        token = request.match_info.get("token_id") or request.query.get("token_id", "")
        return token, self.exchange.by_token.get(token)

    async def _book(self, request: web.Request) -> web.StreamResponse:
        token, market = self._token_market(request)
        if not token:
            return _error(400, "Invalid token id")
        if market is None:
            return _error(404, "No orderbook exists for the requested token id")
        return _json(book_json(market, token, self.exchange.now_ms()))

    async def _books(self, request: web.Request) -> web.StreamResponse:
        try:
            items = await request.json()
        except ValueError:
            return _error(400, "Invalid payload")
        if not isinstance(items, list):
            return _error(400, "Invalid payload")
        if len(items) > 500:
            return _error(400, "Payload exceeds the limit")
        out = []
        for item in items:
            token = str(item.get("token_id", "")) if isinstance(item, dict) else ""
            market = self.exchange.by_token.get(token)
            if market is not None:
                out.append(book_json(market, token, self.exchange.now_ms()))
        return _json(out)

    async def _tick_size(self, request: web.Request) -> web.StreamResponse:
        token, market = self._token_market(request)
        if market is None:
            return _error(404, "market not found" if token else "Invalid token id")
        return _json({"minimum_tick_size": float(format_price(market.tick))})

    async def _neg_risk(self, request: web.Request) -> web.StreamResponse:
        _, market = self._token_market(request)
        if market is None:
            return _error(404, "market not found")
        return _json({"neg_risk": market.neg_risk})

    async def _fee_rate(self, request: web.Request) -> web.StreamResponse:
        _, market = self._token_market(request)
        if market is None:
            return _error(404, "market not found")
        return _json({"base_fee": 0})

    async def _clob_market(self, request: web.Request) -> web.StreamResponse:
        market = self.exchange.markets.get(request.match_info["cid"])
        if market is None:
            return _error(404, "market not found")
        return _json(clob_market_json(market))

    async def _market_by_token(self, request: web.Request) -> web.StreamResponse:
        _token, market = self._token_market(request)
        if market is None:
            return _error(404, "market not found")
        return _json({"condition_id": market.condition_id, "primary_token_id": market.yes_token})

    async def _markets(self, request: web.Request) -> web.StreamResponse:
        items = [market_json(m) for m in self.exchange.markets.values()]
        return _json(_page(items, request.query.get("next_cursor")))

    async def _market(self, request: web.Request) -> web.StreamResponse:
        market = self.exchange.markets.get(request.match_info["cid"])
        if market is None:
            return _error(404, "market not found")
        return _json(market_json(market))

    def _top(self, request: web.Request) -> tuple[Market | None, int | None, int | None]:
        token, market = self._token_market(request)
        if market is None:
            return None, None, None
        bids, asks = market.book.levels(market.is_yes(token))
        return market, max(bids, default=None), min(asks, default=None)

    async def _midpoint(self, request: web.Request) -> web.StreamResponse:
        market, bid, ask = self._top(request)
        if market is None:
            return _error(404, "No orderbook exists for the requested token id")
        if bid is None or ask is None:
            return _error(404, "No orderbook exists for the requested token id")
        return _json({"mid": format(((bid + ask) / 2) / 10_000, "g")})

    async def _price(self, request: web.Request) -> web.StreamResponse:
        market, bid, ask = self._top(request)
        side = request.query.get("side", "")
        if side not in ("BUY", "SELL"):
            return _error(400, "Invalid side")
        if market is None:
            return _error(404, "No orderbook exists for the requested token id")
        price = bid if side == "BUY" else ask
        return _json({"price": format_price(price) if price is not None else ""})

    async def _spread(self, request: web.Request) -> web.StreamResponse:
        market, bid, ask = self._top(request)
        if market is None or bid is None or ask is None:
            return _error(404, "No orderbook exists for the requested token id")
        return _json({"spread": format_price(ask - bid)})

    async def _last_trade_price(self, request: web.Request) -> web.StreamResponse:
        token, market = self._token_market(request)
        if market is None:
            return _error(404, "No orderbook exists for the requested token id")
        last = market.last_trade_price
        if last is not None and not market.is_yes(token):
            last = 10_000 - last
        return _json({"price": format_price(last) if last is not None else "", "side": ""})

    # ------------------------------------------------------------------ API keys

    async def _create_key(self, request: web.Request) -> web.StreamResponse:
        try:
            address, nonce = self._l1(request)
            key = self.keys.create(address, nonce)
        except AuthError as err:
            return _error(err.status, err.message)
        self.exchange.account(address)
        return _json(key.as_json())

    async def _derive_key(self, request: web.Request) -> web.StreamResponse:
        try:
            address, nonce = self._l1(request)
            key = self.keys.derive(address, nonce)
        except AuthError as err:
            return _error(err.status, err.message)
        return _json(key.as_json())

    async def _api_keys(self, request: web.Request, key: ApiKey, body: str) -> web.StreamResponse:
        return _json({"apiKeys": [k.api_key for k in self.keys.of_address(key.address)]})

    async def _delete_key(self, request: web.Request, key: ApiKey, body: str) -> web.StreamResponse:
        self.keys.delete(key)
        return _json("OK")

    async def _closed_only(
        self, request: web.Request, key: ApiKey, body: str
    ) -> web.StreamResponse:
        return _json({"closed_only": False})

    # ------------------------------------------------------------------ orders

    def _place_one(self, item: object, key: ApiKey) -> dict[str, Any]:
        order = parse_order(item)
        market = self.exchange.by_token.get(order.token_id)
        if market is None:
            raise OrderError("Invalid token id")
        order_id = verify(
            order,
            api_key=key.api_key,
            key_address=key.address,
            chain_id=self.config.chain_id,
            neg_risk=market.neg_risk,
        )
        result = self.exchange.place(order, order_id, key.api_key, order.maker)
        self._note_placed(order_id)
        return result

    def _note_placed(self, order_id: str) -> None:
        """Remember when an order was placed while reads lag (``read_lag_ms``)."""
        lag_s = self.exchange.faults.read_lag_ms / 1000
        if not lag_s:
            return
        now = time.monotonic()
        self._placed_mono = {o: t for o, t in self._placed_mono.items() if now - t < lag_s}
        self._placed_mono[order_id] = now

    def _unreadable(self, order_id: str) -> bool:
        """True while the ``read_lag_ms`` fault hides this freshly placed order."""
        placed = self._placed_mono.get(order_id)
        lag_s = self.exchange.faults.read_lag_ms / 1000
        return placed is not None and time.monotonic() - placed < lag_s

    async def _post_order(self, request: web.Request, key: ApiKey, body: str) -> web.StreamResponse:
        try:
            item = json.loads(body)
            result = self._place_one(item, key)
        except ValueError:
            return _error(400, "Invalid order payload")
        except OrderError as err:
            return _error(err.status, err.message)
        f = self.exchange.faults
        if f.slow_ack_ms:
            await asyncio.sleep(f.slow_ack_ms / 1000)
        if f.lost_ack and self._rng.random() < f.lost_ack:
            return _error(500, "could not run the execution")
        return _json(result)

    async def _post_orders(
        self, request: web.Request, key: ApiKey, body: str
    ) -> web.StreamResponse:
        try:
            items = json.loads(body)
        except ValueError:
            return _error(400, "Invalid order payload")
        if not isinstance(items, list):
            return _error(400, "Invalid order payload")
        if len(items) > _MAX_BATCH:
            return _error(
                400, f"Too many orders in payload: {len(items)}, max allowed: {_MAX_BATCH}"
            )
        out: list[dict[str, Any]] = []
        for item in items:
            try:
                out.append(self._place_one(item, key))
            except OrderError as err:
                out.append(
                    {
                        "success": False,
                        "errorMsg": err.message,
                        "orderID": "",
                        "status": "",
                        "makingAmount": "",
                        "takingAmount": "",
                        "transactionsHashes": [],
                        "tradeIDs": [],
                    }
                )
        return _json(out)

    async def _cancel_order(
        self, request: web.Request, key: ApiKey, body: str
    ) -> web.StreamResponse:
        try:
            data = json.loads(body or "{}")
        except ValueError:
            return _error(400, "Invalid order payload")
        order_id = data.get("orderID") if isinstance(data, dict) else None
        if not isinstance(order_id, str) or not order_id:
            return _error(400, "Invalid orderID")
        return _json(self.exchange.cancel(key.api_key, key.address, [order_id]))

    async def _cancel_orders(
        self, request: web.Request, key: ApiKey, body: str
    ) -> web.StreamResponse:
        try:
            ids = json.loads(body or "[]")
        except ValueError:
            return _error(400, "Invalid order payload")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            return _error(400, "Invalid order payload")
        if len(ids) > 3000:
            return _error(400, "Too many orders in payload, max allowed: 3000")
        return _json(self.exchange.cancel(key.api_key, key.address, ids))

    async def _cancel_all(self, request: web.Request, key: ApiKey, body: str) -> web.StreamResponse:
        return _json(self.exchange.cancel_all(key.address))

    async def _cancel_market(
        self, request: web.Request, key: ApiKey, body: str
    ) -> web.StreamResponse:
        try:
            data = json.loads(body or "{}")
        except ValueError:
            return _error(400, "Invalid order payload")
        if not isinstance(data, dict):
            return _error(400, "Invalid order payload")
        orders = self.exchange.open_orders(
            key.address, market=data.get("market") or None, asset_id=data.get("asset_id") or None
        )
        return _json(
            self.exchange.cancel(key.api_key, key.address, [o.book.order_id for o in orders])
        )

    async def _get_order(self, request: web.Request, key: ApiKey, body: str) -> web.StreamResponse:
        rec = self.exchange.orders.get(request.match_info["order_id"])
        if (
            rec is None
            or rec.account.address.lower() != key.address.lower()
            or self._unreadable(rec.book.order_id)
        ):
            return _error(404, "order not found")
        return _json(order_json(rec))

    async def _get_orders(self, request: web.Request, key: ApiKey, body: str) -> web.StreamResponse:
        q = request.query
        orders = self.exchange.open_orders(
            key.address,
            market=q.get("market") or None,
            asset_id=q.get("asset_id") or None,
            order_id=q.get("id") or None,
        )
        shown = [order_json(r) for r in orders if not self._unreadable(r.book.order_id)]
        return _json(_page(shown, q.get("next_cursor")))

    async def _get_trades(self, request: web.Request, key: ApiKey, body: str) -> web.StreamResponse:
        q = request.query
        try:
            after = int(q["after"]) if q.get("after") else None
            before = int(q["before"]) if q.get("before") else None
        except ValueError:
            return _error(400, "Invalid trade params payload")
        items = []
        for trade, side in self.exchange.trades_of(key.address):
            if q.get("id") and trade.id != q["id"]:
                continue
            if q.get("market") and trade.market.condition_id != q["market"]:
                continue
            if q.get("asset_id") and q["asset_id"] not in (
                trade.taker.book.token,
                trade.maker.book.token,
            ):
                continue
            if after is not None and trade.last_update < after:
                continue
            if before is not None and trade.match_time > before:
                continue
            items.append(trade_json(trade, side))
        return _json(_page(items, q.get("next_cursor")))

    # ------------------------------------------------------------------ account

    async def _heartbeat(self, request: web.Request, key: ApiKey, body: str) -> web.StreamResponse:
        try:
            data = json.loads(body or "{}")
        except ValueError:
            return _error(400, "Invalid heartbeat payload")
        hb_id = data.get("heartbeat_id", "") if isinstance(data, dict) else ""
        try:
            new_id = self.exchange.heartbeat(key.api_key, str(hb_id or ""))
        except HeartbeatError as err:
            return _error(400, "Invalid Heartbeat ID", heartbeat_id=err.expected)
        return _json({"status": "ok", "heartbeat_id": new_id})

    async def _balance(self, request: web.Request, key: ApiKey, body: str) -> web.StreamResponse:
        asset_type = request.query.get("asset_type", "COLLATERAL")
        acct = self.exchange.account(key.address)
        if asset_type == "COLLATERAL":
            balance = format_size(acct.collateral * 1_000_000 // MONEY_SCALE)
        elif asset_type == "CONDITIONAL":
            token = request.query.get("token_id", "")
            if token not in self.exchange.by_token:
                return _error(400, "Invalid token id")
            balance = format_size(acct.tokens.get(token, 0))
        else:
            return _error(400, "Invalid asset type")
        # Base units (6 decimals), as live: 12.5 pUSD is "12500000".
        units = str(int(parse_size(balance)))
        return _json(
            {
                "balance": units,
                "allowance": _ALLOWANCE,
                "allowances": {EXCHANGE_V2: _ALLOWANCE, NEG_RISK_EXCHANGE_V2: _ALLOWANCE},
            }
        )

    async def _order_scoring(
        self, request: web.Request, key: ApiKey, body: str
    ) -> web.StreamResponse:
        return _json({"scoring": False})

    async def _orders_scoring(
        self, request: web.Request, key: ApiKey, body: str
    ) -> web.StreamResponse:
        try:
            ids = json.loads(body or "[]")
        except ValueError:
            return _error(400, "Invalid payload")
        return _json({str(i): False for i in ids} if isinstance(ids, list) else {})

    async def _notifications(
        self, request: web.Request, key: ApiKey, body: str
    ) -> web.StreamResponse:
        return _json([])
