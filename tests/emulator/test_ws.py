"""The market and user WebSocket channels, their keepalive, and their faults."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
from emu_helpers import QUIET, call, client, run_with_emulator
from py_clob_client_v2.clob_types import OrderArgsV2, PartialCreateOrderOptions

from mmfsm.core.ticks import SIZE_SCALE, Side, parse_price
from mmfsm.emulator import Emulator, EmulatorConfig, FaultConfig


async def _next(ws: aiohttp.ClientWebSocketResponse, timeout: float = 2.0) -> Any:
    msg = await ws.receive(timeout=timeout)
    assert msg.type is aiohttp.WSMsgType.TEXT, msg
    return msg.data if msg.data == "PONG" else json.loads(msg.data)


async def _until(
    ws: aiohttp.ClientWebSocketResponse, pred: Any, timeout: float = 3.0
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        data = await _next(ws, max(0.05, end - loop.time()))
        for item in data if isinstance(data, list) else [data]:
            if isinstance(item, dict) and pred(item):
                return item


def test_market_channel_dump_changes_trades_tick_and_pong() -> None:
    async def body(emu: Emulator) -> None:
        m = emu.markets[0]
        emu.exchange.place_internal(
            "mm", m.yes_token, Side.BUY, parse_price("0.48"), 100 * SIZE_SCALE
        )
        async with aiohttp.ClientSession() as s, s.ws_connect(f"{emu.ws_url}/market") as ws:
            await ws.send_str(
                json.dumps({"assets_ids": [m.yes_token, m.no_token], "type": "market"})
            )
            dump = await _next(ws)
            assert isinstance(dump, list)
            assert {b["asset_id"] for b in dump} == {
                m.yes_token,
                m.no_token,
            }
            assert all(b["event_type"] == "book" for b in dump)
            emu.exchange.place_internal(
                "mm", m.yes_token, Side.SELL, parse_price("0.52"), 50 * SIZE_SCALE
            )
            change = await _until(ws, lambda e: e.get("event_type") == "price_change")
            entries = {
                (c["asset_id"], c["side"], c["price"], c["size"]) for c in change["price_changes"]
            }
            assert (m.yes_token, "SELL", "0.52", "50") in entries
            assert (m.no_token, "BUY", "0.48", "50") in entries  # the mirror
            emu.exchange.place_internal(
                "taker", m.yes_token, Side.BUY, parse_price("0.52"), 10 * SIZE_SCALE, "FAK"
            )
            last = await _until(ws, lambda e: e.get("event_type") == "last_trade_price")
            assert (last["price"], last["size"], last["side"]) == ("0.52", "10", "BUY")
            emu.flip_tick(m.condition_id)
            tick = await _until(ws, lambda e: e.get("event_type") == "tick_size_change")
            assert (tick["old_tick_size"], tick["new_tick_size"]) == ("0.01", "0.001")
            await ws.send_str("PING")
            pong = None
            for _ in range(5):
                got = await _next(ws)
                if got == "PONG":
                    pong = got
                    break
            assert pong == "PONG"

    run_with_emulator(body)


def test_user_channel_auth_orders_and_trade_statuses() -> None:
    async def body(emu: Emulator) -> None:
        c = await call(client, emu)
        m = emu.markets[0]
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(f"{emu.ws_url}/user") as bad:
                await bad.send_str(
                    json.dumps(
                        {
                            "auth": {"apiKey": c.creds.api_key, "secret": "x", "passphrase": "y"},
                            "type": "user",
                        }
                    )
                )
                assert (await _next(bad))["error"] == "Unauthorized/Invalid api key"
            async with s.ws_connect(f"{emu.ws_url}/user") as ws:
                auth = {
                    "apiKey": c.creds.api_key,
                    "secret": c.creds.api_secret,
                    "passphrase": c.creds.api_passphrase,
                }
                await ws.send_str(
                    json.dumps({"auth": auth, "markets": [m.condition_id], "type": "user"})
                )
                await asyncio.sleep(0.05)
                resp = await call(
                    c.create_and_post_order,
                    OrderArgsV2(token_id=m.yes_token, price=0.40, size=10, side="BUY"),
                    PartialCreateOrderOptions(tick_size="0.01"),
                )
                placed = await _until(ws, lambda e: e.get("event_type") == "order")
                assert (placed["type"], placed["id"], placed["status"]) == (
                    "PLACEMENT",
                    resp["orderID"],
                    "LIVE",
                )
                emu.exchange.place_internal(
                    "taker", m.yes_token, Side.SELL, parse_price("0.40"), 4 * SIZE_SCALE, "FAK"
                )
                statuses = []
                while len(statuses) < 3:
                    e = await _until(ws, lambda e: e.get("event_type") == "trade")
                    assert e["trader_side"] == "MAKER"
                    assert e["maker_orders"][0]["order_id"] == resp["orderID"]
                    statuses.append(e["status"])
                assert statuses == ["MATCHED", "RETRYING", "FAILED"]
        # A failed trade is undone: the tokens went back.
        assert emu.balance(c.get_address(), m.yes_token) == 0

    cfg = EmulatorConfig(
        markets=1,
        participants=QUIET,
        mined_ms=50,
        confirmed_ms=50,
        faults=FaultConfig(trade_fail=1.0),
    )
    run_with_emulator(body, cfg)


def test_dropped_messages_and_disconnects() -> None:
    async def body(emu: Emulator) -> None:
        m = emu.markets[0]
        async with aiohttp.ClientSession() as s, s.ws_connect(f"{emu.ws_url}/market") as ws:
            await ws.send_str(json.dumps({"assets_ids": [m.yes_token], "type": "market"}))
            assert isinstance(await _next(ws), list)  # the initial dump
            emu.faults = FaultConfig(ws_drop=1.0)
            emu.exchange.place_internal(
                "mm", m.yes_token, Side.BUY, parse_price("0.40"), 10 * SIZE_SCALE
            )
            await ws.send_str("PING")
            assert await _next(ws) == "PONG"  # the price_change was dropped; keepalive is not
            assert emu.hub.dropped >= 1
            emu.faults = FaultConfig(ws_disconnect_s=0.2)
            msg = await ws.receive(timeout=2)
            assert msg.type in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSED,
                aiohttp.WSMsgType.CLOSING,
            )

    run_with_emulator(body, EmulatorConfig(markets=1, participants=QUIET, faults=FaultConfig()))


def test_rest_faults_429_and_5xx() -> None:
    async def body(emu: Emulator) -> None:
        async with aiohttp.ClientSession() as s:
            emu.faults = FaultConfig(http_429=1.0)
            async with s.get(f"{emu.url}/time") as r:
                assert r.status == 429
                assert r.headers["Retry-After"] == "1"
            emu.faults = FaultConfig(http_5xx=1.0)
            async with s.get(f"{emu.url}/time") as r:
                assert r.status == 503
            emu.faults = FaultConfig()
            async with s.get(f"{emu.url}/time") as r:
                assert r.status == 200

    run_with_emulator(body)
