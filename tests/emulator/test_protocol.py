"""The emulator speaks the CLOB V2 protocol well enough for the unmodified official client.

Every test drives the emulator through ``py-clob-client-v2`` 1.2.1 itself (or, to send
what the client never would, through its own header and order builders), so a pass
means the real client works, not a re-implementation of it.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from emu_helpers import QUIET, call, client, run_with_emulator
from eth_account import Account
from py_clob_client_v2.clob_types import (
    AssetType,
    BalanceAllowanceParams,
    CreateOrderOptions,
    MarketOrderArgsV2,
    OpenOrderParams,
    OrderArgsV2,
    OrderMarketCancelParams,
    OrderPayload,
    PartialCreateOrderOptions,
    RequestArgs,
    TradeParams,
)
from py_clob_client_v2.exceptions import PolyApiException, PolyException
from py_clob_client_v2.headers.headers import create_level_1_headers, create_level_2_headers
from py_clob_client_v2.signer import Signer

from mmfsm.core.ticks import SIZE_SCALE, Side, parse_price
from mmfsm.emulator import Emulator, EmulatorConfig, FaultConfig


def _maker(
    emu: Emulator, side: Side, price: str, size: int = 100, token: str | None = None
) -> None:
    """A participant's resting order on the YES token (or ``token``)."""
    market = emu.markets[0]
    emu.exchange.place_internal(
        "participant-test", token or market.yes_token, side, parse_price(price), size * SIZE_SCALE
    )


def _error(exc: pytest.ExceptionInfo[PolyApiException]) -> tuple[int | None, str]:
    body = exc.value.error_msg
    return exc.value.status_code, body["error"] if isinstance(body, dict) else str(body)


def test_api_key_create_then_derive_gives_the_same_key() -> None:
    async def body(emu: Emulator) -> None:
        key = Account.create().key.hex()
        c = client(emu, key, creds=False)  # no request made yet
        first = await call(c.create_or_derive_api_key)
        again = await call(c.create_or_derive_api_key)  # create fails, derive answers
        assert first == again
        assert (
            "Could not create api key" in str(emu.requests)
            or emu.requests["POST /auth/api-key -> 400"] == 1
        )

    run_with_emulator(body)


def test_l1_signature_of_another_wallet_is_refused() -> None:
    async def body(emu: Emulator) -> None:
        a, b = Account.create(), Account.create()
        headers = create_level_1_headers(Signer(a.key.hex(), emu.config.chain_id))
        headers["POLY_ADDRESS"] = b.address
        resp = await call(httpx.post, f"{emu.url}/auth/api-key", headers=headers)
        assert resp.status_code == 401
        assert resp.json() == {"error": "Invalid L1 Request headers"}

    run_with_emulator(body)


def test_l2_bad_or_stale_signatures_are_refused() -> None:
    async def body(emu: Emulator) -> None:
        c = await call(client, emu)
        signer = Signer(c.signer.private_key, emu.config.chain_id)
        args = RequestArgs(method="GET", request_path="/data/orders")

        def get(creds: Any, ts: int | None) -> httpx.Response:
            headers = create_level_2_headers(signer, creds, args, timestamp=ts)
            return httpx.get(f"{emu.url}/data/orders", headers=headers)

        good = await call(get, c.creds, None)
        assert good.status_code == 200
        assert good.json()["next_cursor"] == "LTE="
        stale = await call(get, c.creds, int(time.time()) - 300)
        assert stale.status_code == 401
        forged = type(c.creds)(
            api_key=c.creds.api_key,
            api_secret="c2VjcmV0LW9mLXNvbWVvbmUtZWxzZS0xMjM0NTY3OA==",
            api_passphrase=c.creds.api_passphrase,
        )
        bad = await call(get, forged, None)
        assert bad.status_code == 401
        assert bad.json() == {"error": "Unauthorized/Invalid api key"}

    run_with_emulator(body)


def test_market_data_endpoints_answer_in_the_client_shapes() -> None:
    async def body(emu: Emulator) -> None:
        _maker(emu, Side.BUY, "0.48")
        _maker(emu, Side.SELL, "0.52")
        c = client(emu, creds=False)
        m = emu.markets[0]
        book = await call(c.get_order_book, m.yes_token)
        assert book["bids"][-1]["price"] == "0.48"  # best level last, as the client walks it
        assert await call(c.get_order_book_hash, dict(book)) == book["hash"]
        no_book = await call(c.get_order_book, m.no_token)
        assert no_book["bids"][-1]["price"] == "0.48"  # NO bid = 1 - YES ask
        assert no_book["asks"][-1]["price"] == "0.52"
        assert await call(c.get_tick_size, m.yes_token) == "0.01"
        assert await call(c.get_neg_risk, m.yes_token) is False
        info = await call(c.get_clob_market_info, m.condition_id)
        assert info["mts"] == 0.01
        markets = await call(c.get_markets)
        assert markets["data"][0]["condition_id"] == m.condition_id
        assert await call(c.get_version) == 2
        assert isinstance(await call(c.get_server_time), int)

    run_with_emulator(body)


def test_order_rules_use_the_live_error_messages() -> None:
    async def body(emu: Emulator) -> None:
        _maker(emu, Side.SELL, "0.52")
        c = await call(client, emu)
        tok = emu.markets[0].yes_token
        tick = PartialCreateOrderOptions(tick_size="0.01")

        def post(price: float, size: float, **kw: Any) -> Any:
            return c.create_and_post_order(
                OrderArgsV2(token_id=tok, price=price, size=size, side="BUY"), tick, **kw
            )

        with pytest.raises(PolyApiException) as crossed:
            await call(post, 0.52, 10, post_only=True)
        assert _error(crossed) == (400, "invalid post-only order: order crosses book")
        with pytest.raises(PolyApiException) as small:
            await call(post, 0.40, 1)
        assert "lower than the minimum: 5" in _error(small)[1]
        with pytest.raises(PolyApiException) as fok:
            await call(post, 0.52, 500, order_type="FOK")
        assert "FOK orders are fully filled or killed" in _error(fok)[1]
        with pytest.raises(PolyApiException) as fak:
            await call(post, 0.40, 10, order_type="FAK")
        assert "FAK orders are partially filled or killed" in _error(fak)[1]
        with pytest.raises(ValueError, match="post_only is not supported"):
            await call(post, 0.40, 10, order_type="FAK", post_only=True)
        # Off the grid: built with a 0.001 tick the market does not have.
        order = c.builder.build_order(
            OrderArgsV2(token_id=tok, price=0.405, size=10, side="BUY"),
            CreateOrderOptions(tick_size="0.001", neg_risk=False),
        )
        with pytest.raises(PolyApiException) as off_grid:
            await call(c.post_order, order)
        assert "Price (0.405) breaks minimum tick size rule: 0.01" in _error(off_grid)[1]
        # The same signed order twice is the same id: refused as duplicated.
        good = c.builder.build_order(
            OrderArgsV2(token_id=tok, price=0.40, size=10, side="BUY"),
            CreateOrderOptions(tick_size="0.01", neg_risk=False),
        )
        first = await call(c.post_order, good)
        assert first["status"] == "live"
        with pytest.raises(PolyApiException) as dup:
            await call(c.post_order, good)
        assert _error(dup)[1].endswith("is invalid. Duplicated.")
        # A changed amount breaks the signature.
        tampered = c.builder.build_order(
            OrderArgsV2(token_id=tok, price=0.40, size=10, side="BUY"),
            CreateOrderOptions(tick_size="0.01", neg_risk=False),
        )
        tampered.takerAmount = str(int(tampered.takerAmount) * 2)
        with pytest.raises(PolyApiException) as forged:
            await call(c.post_order, tampered)
        assert _error(forged) == (400, "invalid order signature")
        # GTC with an expiration, GTD without a future one.
        with pytest.raises(PolyApiException) as gtc_exp:
            await call(
                c.create_and_post_order,
                OrderArgsV2(
                    token_id=tok, price=0.4, size=10, side="BUY", expiration=int(time.time()) + 600
                ),
                tick,
            )
        assert _error(gtc_exp)[1] == "invalid expiration"

    run_with_emulator(body)


def test_another_keys_order_is_refused() -> None:
    async def body(emu: Emulator) -> None:
        alice, bob = await call(client, emu), await call(client, emu)
        tok = emu.markets[0].yes_token
        order = alice.builder.build_order(
            OrderArgsV2(token_id=tok, price=0.40, size=10, side="BUY"),
            CreateOrderOptions(tick_size="0.01", neg_risk=False),
        )
        with pytest.raises(PolyApiException) as exc:
            await call(bob.post_order, order)
        assert _error(exc)[1] == "the order signer address has to be the address of the API KEY"

    run_with_emulator(body)


def test_taker_fill_moves_balances_and_trades_settle() -> None:
    async def body(emu: Emulator) -> None:
        _maker(emu, Side.SELL, "0.52", size=50)
        c = await call(client, emu)
        tok = emu.markets[0].yes_token
        resp = await call(
            c.create_and_post_order,
            OrderArgsV2(token_id=tok, price=0.55, size=20, side="BUY"),
            PartialCreateOrderOptions(tick_size="0.01"),
            order_type="FAK",
        )
        assert resp["status"] == "matched"
        assert resp["takingAmount"] == "20"
        assert resp["makingAmount"] == "10.4"
        assert resp["transactionsHashes"]
        trades = await call(c.get_trades, TradeParams(id=resp["tradeIDs"][0]))
        assert trades[0]["trader_side"] == "TAKER"
        assert trades[0]["status"] == "MATCHED"
        assert emu.balance(c.get_address(), tok) == 20 * SIZE_SCALE
        bal = await call(
            c.get_balance_allowance,
            BalanceAllowanceParams(asset_type=AssetType.CONDITIONAL, token_id=tok),
        )
        assert bal["balance"] == "20000000"
        deadline = time.monotonic() + 5
        status = ""
        while time.monotonic() < deadline and status != "CONFIRMED":
            await call(time.sleep, 0.2)
            status = (await call(c.get_trades, TradeParams(id=resp["tradeIDs"][0])))[0]["status"]
        assert status == "CONFIRMED"
        order = await call(c.get_order, resp["orderID"])
        assert order["size_matched"] == "20"
        assert order["status"] == "MATCHED"

    run_with_emulator(
        body, EmulatorConfig(markets=1, participants=QUIET, mined_ms=100, confirmed_ms=200)
    )


def test_maker_fill_is_our_maker_orders_entry_and_market_orders_work() -> None:
    async def body(emu: Emulator) -> None:
        c = await call(client, emu)
        m = emu.markets[0]
        # We rest a NO bid at 0.45 (a YES ask at 0.55); a YES buyer at 0.55 takes it.
        resp = await call(
            c.create_and_post_order,
            OrderArgsV2(token_id=m.no_token, price=0.45, size=10, side="BUY"),
            PartialCreateOrderOptions(tick_size="0.01"),
            post_only=True,
        )
        emu.exchange.place_internal(
            "participant-test", m.yes_token, Side.BUY, parse_price("0.55"), 4 * SIZE_SCALE, "FAK"
        )
        trades = await call(c.get_trades, TradeParams(market=m.condition_id))
        assert len(trades) == 1
        t = trades[0]
        assert t["trader_side"] == "MAKER"
        assert t["asset_id"] == m.yes_token
        assert t["side"] == "BUY"
        mine = t["maker_orders"][0]
        assert mine["owner"] == c.creds.api_key
        assert mine["order_id"] == resp["orderID"]
        assert (mine["asset_id"], mine["side"], mine["price"], mine["matched_amount"]) == (
            m.no_token,
            "BUY",
            "0.45",
            "4",
        )
        # A market order (FOK, amount in pUSD): /markets-by-token, /clob-markets, /book.
        _maker(emu, Side.SELL, "0.60", size=100)
        fok = await call(
            c.create_and_post_market_order,
            MarketOrderArgsV2(token_id=m.yes_token, amount=6.0, side="BUY"),
        )
        assert fok["status"] == "matched"
        assert fok["takingAmount"] == "10"

    run_with_emulator(body)


def test_cancels_open_orders_and_pagination() -> None:
    async def body(emu: Emulator) -> None:
        c = await call(client, emu)
        m = emu.markets[0]
        ids = []
        for price in (0.30, 0.31, 0.32):
            r = await call(
                c.create_and_post_order,
                OrderArgsV2(token_id=m.yes_token, price=price, size=10, side="BUY"),
                PartialCreateOrderOptions(tick_size="0.01"),
            )
            ids.append(r["orderID"])
        one = await call(c.cancel_order, OrderPayload(orderID=ids[0]))
        assert one == {"canceled": [ids[0]], "not_canceled": {}}
        again = await call(c.cancel_orders, [ids[0], ids[1]])
        assert again["canceled"] == [ids[1]]
        assert again["not_canceled"] == {ids[0]: "order already canceled"}
        by_market = await call(
            c.cancel_market_orders, OrderMarketCancelParams(market=m.condition_id)
        )
        assert by_market["canceled"] == [ids[2]]
        # 130 resting orders: two pages, the client follows the cursor to LTE=.
        address = c.get_address()
        for i in range(130):
            emu.exchange.place_internal(
                address, m.yes_token, Side.BUY, 100 + 100 * (i % 20), 5 * SIZE_SCALE
            )
        assert len(await call(c.get_open_orders, OpenOrderParams(market=m.condition_id))) == 130
        assert len((await call(c.cancel_all))["canceled"]) == 130
        assert await call(c.get_open_orders) == []

    run_with_emulator(body)


def test_heartbeats_chain_and_their_absence_cancels_every_order() -> None:
    async def body(emu: Emulator) -> None:
        c = await call(client, emu)
        tok = emu.markets[0].yes_token
        await call(
            c.create_and_post_order,
            OrderArgsV2(token_id=tok, price=0.40, size=10, side="BUY"),
            PartialCreateOrderOptions(tick_size="0.01"),
        )
        first = await call(c.post_heartbeat, "")
        second = await call(c.post_heartbeat, first["heartbeat_id"])
        with pytest.raises(PolyApiException) as stale:
            await call(c.post_heartbeat, first["heartbeat_id"])
        assert stale.value.status_code == 400
        assert stale.value.error_msg["heartbeat_id"] == second["heartbeat_id"]
        assert len(await call(c.get_open_orders)) == 1
        await call(time.sleep, 1.2)  # past the 0.5 s timeout
        assert await call(c.get_open_orders) == []
        assert emu.exchange.heartbeat_cancels == 1

    run_with_emulator(body, EmulatorConfig(markets=1, participants=QUIET, heartbeat_timeout_s=0.5))


def test_read_lag_hides_a_fresh_order_from_reads_but_not_from_the_book() -> None:
    async def body(emu: Emulator) -> None:
        c = await call(client, emu)
        tok = emu.markets[0].yes_token
        emu.faults = FaultConfig(read_lag_ms=600)
        r = await call(
            c.create_and_post_order,
            OrderArgsV2(token_id=tok, price=0.40, size=10, side="BUY"),
            PartialCreateOrderOptions(tick_size="0.01"),
        )
        order_id = r["orderID"]
        # It rests (the write happened) but the reads do not show it yet.
        assert [o["id"] for o in emu.open_orders(c.get_address())] == [order_id]
        with pytest.raises(PolyApiException) as lookup:
            await call(c.get_order, order_id)
        assert lookup.value.status_code == 404
        assert await call(c.get_open_orders) == []
        await call(time.sleep, 0.7)
        assert (await call(c.get_order, order_id))["status"] == "LIVE"
        assert [o["id"] for o in await call(c.get_open_orders)] == [order_id]

    run_with_emulator(body)


def test_client_side_tick_check_uses_its_cache() -> None:
    """Why the adapter clears the client's tick cache on ``tick_size_change``."""

    async def body(emu: Emulator) -> None:
        c = await call(client, emu)
        tok = emu.markets[0].yes_token
        await call(c.get_tick_size, tok)  # cached: 0.01
        emu.flip_tick(emu.markets[0].condition_id)  # now 0.001
        with pytest.raises(PolyException, match=r"minimum for the market is 0\.01"):
            await call(
                c.create_order,
                OrderArgsV2(token_id=tok, price=0.405, size=10, side="BUY"),
                PartialCreateOrderOptions(tick_size="0.001"),
            )

    run_with_emulator(body)
