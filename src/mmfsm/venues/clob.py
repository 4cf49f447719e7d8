"""The one module that imports ``py_clob_client_v2``: Polymarket's REST API, async and typed.

Theory of operation
-------------------
The official client is synchronous (httpx) and signs orders in pure Python, so every
call here runs in a worker thread (``asyncio.to_thread``) and the event loop, where the
Engine lives, never waits on the network. Each method returns plain JSON values and
raises only ``VenueError``: the client's ``PolyApiException`` keeps its HTTP status and
the venue's ``error`` text, anything else (no answer, a client-side refusal such as an
invalid tick) becomes status None or 400 with its message. No header, key or signature
ever reaches an error or a log line: the client's own logger, which prints whole
response bodies, is silenced.

Two behaviours of the client are corrected here, because they would trade wrong:

* **Tick-size cache.** The client caches each token's tick for its lifetime and refuses
  an explicit tick finer than the cached one. Every order passes the tick the venue
  last announced (``tick=``), and ``forget_tick`` drops the client's cached value when a
  ``tick_size_change`` arrives, so the next order re-reads it from the venue.
* **Float rounding of sizes.** The client floors sizes with float arithmetic
  (``floor(1.15 * 100) = 114``). Sizes are passed with a nudge far below the 0.01-share
  grid, and the signed amounts are checked against the exact integers we meant; a
  mismatch refuses the order rather than sending a different one.

The order id is computed locally (the EIP-712 digest of the signed order, which is the
id the CLOB assigns) before posting, so a post whose answer is lost can be looked up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

from attrs import frozen
from py_clob_client_v2.client import ClobClient
from py_clob_client_v2.clob_types import (
    ApiCreds,
    AssetType,
    BalanceAllowanceParams,
    OpenOrderParams,
    OrderArgsV2,
    OrderMarketCancelParams,
    OrderPayload,
    OrderType,
    PartialCreateOrderOptions,
    TradeParams,
)
from py_clob_client_v2.config import get_contract_config
from py_clob_client_v2.exceptions import PolyApiException, PolyException
from py_clob_client_v2.order_utils import ExchangeOrderBuilderV2

from mmfsm.ops.redact import Redactor
from mmfsm.venues.base import VenueError

__all__ = ["ClobRest", "Credentials", "PlacedOrder"]

_client_log = logging.getLogger("py_clob_client_v2")
_client_log.propagate = False
_client_log.addHandler(logging.NullHandler())

T = TypeVar("T")

_SIZE_NUDGE = 1e-7  # far below the 0.01-share grid; undoes float floor errors


@frozen(kw_only=True, repr=False)
class Credentials:
    """API credentials (L2). Never printed: repr shows the key's first characters only."""

    api_key: str
    secret: str
    passphrase: str

    def __repr__(self) -> str:
        return f"Credentials(api_key={self.api_key[:4]}…, secret=<redacted>, passphrase=<redacted>)"


@frozen(kw_only=True)
class PlacedOrder:
    order_id: str
    response: dict[str, Any]


def _error(exc: BaseException, order_id: str | None = None) -> VenueError:
    if isinstance(exc, PolyApiException):
        body = exc.error_msg
        if isinstance(body, dict):
            message = str(body.get("error") or body.get("errorMsg") or body)
        else:
            message = str(body)
        return VenueError(exc.status_code, message, order_id=order_id)
    if isinstance(exc, PolyException):
        # Client-side refusals (bad tick, bad price) happen before anything is sent.
        return VenueError(400, str(exc.msg), order_id=None)
    return VenueError(None, f"{type(exc).__name__}: {exc}", order_id=order_id)


def _exact_amounts(side: str, price: str, size: str) -> tuple[int, int]:
    """The (maker, taker) base-unit amounts a limit order of this price and size must have."""
    shares = int(Decimal(size) * 1_000_000)
    usd = int(Decimal(size) * Decimal(price) * 1_000_000)
    return (usd, shares) if side == "BUY" else (shares, usd)


class ClobRest:
    """Polymarket's CLOB REST API through the official client, off the event loop."""

    def __init__(
        self,
        host: str,
        chain_id: int,
        private_key: str,
        creds: Credentials | None = None,
        *,
        signature_type: int = 0,
        funder: str | None = None,
    ) -> None:
        self.chain_id = chain_id
        self._client = ClobClient(
            host,
            chain_id,
            key=private_key,
            creds=_api_creds(creds),
            signature_type=signature_type,
            funder=funder,
        )
        self._creds = creds
        self._funder = funder
        self._key = private_key
        self._redact = self._redactor()
        contracts = get_contract_config(chain_id)
        self._exchanges = {False: contracts.exchange_v2, True: contracts.neg_risk_exchange_v2}

    @property
    def address(self) -> str:
        return str(self._client.get_address())

    @property
    def account(self) -> str:
        """The account the orders are made for: the funder (proxy or Safe) if one was
        given, else the signing wallet. Public, not a secret: the audit log records it."""
        return self._funder if self._funder else self.address

    @property
    def creds(self) -> Credentials:
        if self._creds is None:
            raise VenueError(None, "no API credentials yet: call ensure_creds()")
        return self._creds

    def _redactor(self) -> Redactor:
        creds = self._creds
        values = [self._key]
        if creds is not None:
            values += [creds.api_key, creds.secret, creds.passphrase]
        return Redactor(values)

    def _clean(self, err: VenueError) -> VenueError:
        """The error with this client's key and credentials taken out of its text.

        Why here: a venue (or a proxy in front of it) may echo the headers it was sent in
        its error body, and credentials derived at start-up (``ensure_creds``) are in no
        environment variable or file the shell's redactor knows. Every VenueError this
        client raises passes through here, so no caller can log or print one unscrubbed.
        """
        message = self._redact(err.message)
        if message == err.message:
            return err
        return VenueError(err.status, message, order_id=err.order_id)

    async def _run(self, fn: Callable[[], T], order_id: str | None = None) -> T:
        try:
            return await asyncio.to_thread(fn)
        except VenueError as err:
            raise self._clean(err) from None
        except Exception as exc:
            raise self._clean(_error(exc, order_id)) from None

    # ------------------------------------------------------------------ auth

    async def ensure_creds(self) -> Credentials:
        """Derive (or create) the API key of this wallet if none was given (L1 auth)."""
        if self._creds is None:
            api = await self._run(self._client.create_or_derive_api_key)
            self._creds = Credentials(
                api_key=api.api_key, secret=api.api_secret, passphrase=api.api_passphrase
            )
            self._client.set_api_creds(_api_creds(self._creds))
            self._redact = self._redactor()
        return self._creds

    # ------------------------------------------------------------------ public data

    async def markets(self) -> list[dict[str, Any]]:
        def fetch() -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = []
            cursor = "MA=="
            while cursor != "LTE=":
                page = self._client.get_markets(next_cursor=cursor)
                out.extend(page["data"])
                cursor = page["next_cursor"]
            return out

        return await self._run(fetch)

    async def book(self, token: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._run(lambda: self._client.get_order_book(token))
        if not isinstance(result, dict):
            raise VenueError(None, f"book for {token} is not an object")
        return result

    async def tick_size(self, token: str) -> str:
        """The venue's tick now, read past the client's cache."""
        self.forget_tick(token)
        return str(await self._run(lambda: self._client.get_tick_size(token)))

    def forget_tick(self, token: str) -> None:
        """Drop the client's cached tick of ``token`` (it has no API for this)."""
        cache = getattr(self._client, "_ClobClient__tick_sizes", None)
        if isinstance(cache, dict):
            cache.pop(token, None)

    # ------------------------------------------------------------------ orders

    async def post_order(
        self,
        *,
        token: str,
        side: str,
        price: str,
        size: str,
        tick: str,
        neg_risk: bool,
        order_type: str,
        post_only: bool,
        expiration: int = 0,
        on_signed: Callable[[str], None] | None = None,
    ) -> PlacedOrder:
        """Sign and post a limit order; ``price``, ``size`` and ``tick`` are exact decimals.

        ``on_signed`` is called (in the worker thread) with the order's id once it is
        signed and before it is sent, so the caller can recognise it on the venue even
        if the answer is lost.
        """
        holder: dict[str, str] = {}

        def place() -> PlacedOrder:
            args = OrderArgsV2(
                token_id=token,
                price=float(price),
                size=float(size) + _SIZE_NUDGE,
                side=side,
                expiration=expiration,
            )
            options = PartialCreateOrderOptions(tick_size=tick, neg_risk=neg_risk)
            order = self._client.create_order(args, options)
            maker, taker = _exact_amounts(side, price, size)
            if (int(order.makerAmount), int(order.takerAmount)) != (maker, taker):
                raise VenueError(
                    400,
                    f"client built amounts {order.makerAmount}/{order.takerAmount} for "
                    f"{side} {size} @ {price}, expected {maker}/{taker}: not sent",
                )
            builder = ExchangeOrderBuilderV2(self._exchanges[neg_risk], self.chain_id, None)
            holder["id"] = builder.build_order_hash(builder.build_order_typed_data(order))
            if on_signed is not None:
                on_signed(holder["id"])
            kind = getattr(OrderType, order_type)
            response = self._client.post_order(order, kind, post_only=post_only)
            if not isinstance(response, dict):
                raise VenueError(None, f"unexpected answer to POST /order: {response!r}")
            return PlacedOrder(
                order_id=str(response.get("orderID") or holder["id"]), response=response
            )

        try:
            return await asyncio.to_thread(place)
        except VenueError as err:
            if err.order_id is None and err.ambiguous:
                err.order_id = holder.get("id")
            raise self._clean(err) from None
        except Exception as exc:
            raise self._clean(_error(exc, holder.get("id"))) from None

    async def cancel(self, order_ids: list[str]) -> dict[str, Any]:
        if len(order_ids) == 1:
            oid = order_ids[0]
            result: dict[str, Any] = await self._run(
                lambda: self._client.cancel_order(OrderPayload(orderID=oid))
            )
        else:
            result = await self._run(lambda: self._client.cancel_orders(order_ids))
        return result

    async def cancel_all(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._run(self._client.cancel_all)
        return result

    async def cancel_market(self, condition_id: str) -> dict[str, Any]:
        params = OrderMarketCancelParams(market=condition_id)
        result: dict[str, Any] = await self._run(lambda: self._client.cancel_market_orders(params))
        return result

    async def order(self, order_id: str) -> dict[str, Any] | None:
        """The venue's record of one order; None if the venue says it does not exist."""
        try:
            result = await self._run(lambda: self._client.get_order(order_id))
        except VenueError as err:
            if err.status == 404:
                return None
            raise
        if not result:
            return None
        if not isinstance(result, dict):
            raise VenueError(None, f"unexpected answer to GET /data/order: {result!r}")
        return result

    async def open_orders(self, market: str | None = None) -> list[dict[str, Any]]:
        params = OpenOrderParams(market=market) if market else None
        result: list[dict[str, Any]] = await self._run(lambda: self._client.get_open_orders(params))
        if not isinstance(result, list):
            raise VenueError(None, "open orders answer is not a list")
        return result

    async def trades(
        self, *, market: str | None = None, after: int | None = None, trade_id: str | None = None
    ) -> list[dict[str, Any]]:
        params = TradeParams(market=market, after=after, id=trade_id)
        result: list[dict[str, Any]] = await self._run(lambda: self._client.get_trades(params))
        if not isinstance(result, list):
            raise VenueError(None, "trades answer is not a list")
        return result

    # ------------------------------------------------------------------ account

    async def heartbeat(self, heartbeat_id: str) -> str:
        """Send one heartbeat; return the id to send next.

        A 400 whose body names the expected id (our chain broke: a restart, a lost
        answer) is answered at once with that id, as the venue asks.
        """

        def beat() -> object:
            try:
                return self._client.post_heartbeat(heartbeat_id)
            except PolyApiException as exc:
                body = exc.error_msg
                if exc.status_code == 400 and isinstance(body, dict) and "heartbeat_id" in body:
                    return self._client.post_heartbeat(str(body["heartbeat_id"]))
                raise

        result = await self._run(beat)
        if not isinstance(result, dict) or "heartbeat_id" not in result:
            raise VenueError(None, f"unexpected heartbeat answer: {result!r}")
        return str(result["heartbeat_id"])

    async def balance(self, token: str | None = None) -> int:
        """pUSD (``token`` None) or a token balance, in 6-decimal base units."""
        if token is None:
            params = BalanceAllowanceParams(asset_type=AssetType.COLLATERAL)
        else:
            params = BalanceAllowanceParams(asset_type=AssetType.CONDITIONAL, token_id=token)
        result = await self._run(lambda: self._client.get_balance_allowance(params))
        try:
            return int(result["balance"])
        except (KeyError, TypeError, ValueError):
            raise VenueError(None, f"unexpected balance answer: {result!r}") from None


def _api_creds(creds: Credentials | None) -> ApiCreds | None:
    if creds is None:
        return None
    return ApiCreds(api_key=creds.api_key, api_secret=creds.secret, api_passphrase=creds.passphrase)
