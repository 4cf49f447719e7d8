"""The emulator's WebSocket channels: ``/ws/market`` and ``/ws/user``, with faults.

Theory of operation
-------------------
``Hub`` is the exchange's ``Publisher``: the exchange hands it each message with the
asset ids (market channel) or the API key and condition id (user channel) it concerns,
and the hub queues it for every connection subscribed to it. Each connection has one
writer task draining its queue, so messages on one connection keep their order, as they
do over one live TCP stream, and a slow reader never blocks the exchange.

Subscriptions follow Polymarket: the market channel's first message is
``{"assets_ids": [...], "type": "market"}`` (by token id) and is answered with a
``book`` dump of each asset (a JSON array), unless ``initial_dump`` is false; later
``{"operation": "subscribe"|"unsubscribe", "assets_ids": [...]}`` change the set. The
user channel's first message is ``{"auth": {apiKey, secret, passphrase}, "markets":
[...], "type": "user"}`` (by condition id; empty means all), checked against the API
keys; a bad one gets an error message and a closed socket. A text ``PING`` is answered
``PONG`` on both.

Faults live here because they are properties of the transport: ``ws_drop`` loses a
message for one subscriber, ``ws_delay_ms`` holds each message back up to that long
(order kept), and ``close_all`` (driven by ``ws_disconnect_s``) drops every connection,
after which clients must reconnect and resubscribe. Keepalive replies are never dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import WSMsgType, web

from mmfsm.emulator.auth import ApiKeys, AuthError
from mmfsm.emulator.config import FaultConfig

__all__ = ["Hub"]

log = logging.getLogger("mmfsm.emulator.ws")


class _Conn:
    def __init__(self, ws: web.WebSocketResponse, hub: Hub) -> None:
        self.ws = ws
        self.hub = hub
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.assets: set[str] = set()
        self.markets: set[str] = set()
        self.api_key: str | None = None
        self.writer = asyncio.create_task(self._write())

    def send(self, payload: Any, *, reliable: bool = False) -> None:
        faults = self.hub.faults()
        if not reliable and faults.ws_drop and self.hub.rng.random() < faults.ws_drop:
            self.hub.dropped += 1
            return
        self.queue.put_nowait(payload if isinstance(payload, str) else json.dumps(payload))

    async def _write(self) -> None:
        while True:
            text = await self.queue.get()
            if text is None:
                return
            delay = self.hub.faults().ws_delay_ms
            if delay:
                await asyncio.sleep(self.hub.rng.uniform(0, delay) / 1000)
            if self.ws.closed:
                return
            try:
                await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return

    async def stop(self) -> None:
        self.queue.put_nowait(None)
        with contextlib.suppress(Exception):
            await self.writer


class Hub:
    """Fans exchange messages out to WebSocket subscribers."""

    def __init__(
        self,
        *,
        keys: ApiKeys,
        books: Callable[[str], dict[str, Any] | None],
        faults: Callable[[], FaultConfig],
        seed: int,
    ) -> None:
        self.keys = keys
        self.books = books
        self.faults = faults
        self.rng = random.Random(seed ^ 0x5EED)
        self.market_conns: set[_Conn] = set()
        self.user_conns: set[_Conn] = set()
        self.dropped = 0
        self.disconnects = 0

    # ------------------------------------------------------------------ Publisher

    def market(self, assets: Sequence[str], payload: dict[str, Any]) -> None:
        wanted = set(assets)
        for conn in list(self.market_conns):
            if conn.assets & wanted:
                conn.send(payload)

    def user(self, api_key: str, market: str, payload: dict[str, Any]) -> None:
        for conn in list(self.user_conns):
            if conn.api_key == api_key and (not conn.markets or market in conn.markets):
                conn.send(payload)

    # ------------------------------------------------------------------ handlers

    async def handle_market(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        conn = _Conn(ws, self)
        self.market_conns.add(conn)
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                if msg.data.strip() == "PING":
                    conn.send("PONG", reliable=True)
                    continue
                self._market_message(conn, msg.data)
        finally:
            self.market_conns.discard(conn)
            await conn.stop()
        return ws

    def _market_message(self, conn: _Conn, text: str) -> None:
        try:
            data = json.loads(text)
        except ValueError:
            conn.send({"error": "invalid message"}, reliable=True)
            return
        if not isinstance(data, dict) or not isinstance(data.get("assets_ids"), list):
            conn.send({"error": "invalid message"}, reliable=True)
            return
        assets = {str(a) for a in data["assets_ids"]}
        if data.get("operation") == "unsubscribe":
            conn.assets -= assets
            return
        new = assets - conn.assets
        conn.assets |= assets
        if data.get("initial_dump", True):
            dump = []
            for asset in sorted(new):
                book = self.books(asset)
                if book is not None:
                    book["event_type"] = "book"
                    dump.append(book)
            if dump:
                conn.send(dump)

    async def handle_user(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        conn = _Conn(ws, self)
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                if msg.data.strip() == "PING":
                    conn.send("PONG", reliable=True)
                    continue
                if not self._user_message(conn, msg.data):
                    await conn.stop()
                    await ws.close()
                    break
        finally:
            self.user_conns.discard(conn)
            await conn.stop()
        return ws

    def _user_message(self, conn: _Conn, text: str) -> bool:
        try:
            data = json.loads(text)
        except ValueError:
            conn.send({"error": "invalid message"}, reliable=True)
            return True
        if not isinstance(data, dict):
            conn.send({"error": "invalid message"}, reliable=True)
            return True
        markets = {str(m) for m in data.get("markets") or []}
        if "operation" in data:
            if conn.api_key is None:
                conn.send({"error": "not authenticated"}, reliable=True)
                return False
            if data["operation"] == "unsubscribe":
                conn.markets -= markets
            else:
                conn.markets |= markets
            return True
        try:
            key = self.keys.verify_ws(data.get("auth"))
        except AuthError as err:
            log.debug("user channel refused: %s", err.detail)
            conn.send({"error": err.message}, reliable=True)
            return False
        conn.api_key = key.api_key
        conn.markets = markets
        self.user_conns.add(conn)
        return True

    async def close_all(self) -> None:
        """Drop every connection (the ``ws_disconnect_s`` fault, and shutdown)."""
        conns = list(self.market_conns | self.user_conns)
        if conns:
            self.disconnects += 1
        for conn in conns:
            await conn.stop()
            with contextlib.suppress(Exception):
                await conn.ws.close()
        self.market_conns.clear()
        self.user_conns.clear()
