"""An embedded Polymarket CLOB V2 emulator that the official ``py-clob-client-v2`` works against.

Theory of operation
-------------------
``mmfsm run`` must trade with no credentials, and the code that trades here must be the
code that trades on Polymarket. So this is not a fake venue object but a real server on
127.0.0.1 speaking the CLOB's HTTP and WebSocket protocol (see
``/work/shared/POLYMARKET-CLOB-V2.md``): the venue adapter talks to it with the
unmodified official client, signs real EIP-712 orders and HMAC-signs every request, and
the emulator checks all of it.

Modules, one job each: ``config`` (settings, faults), ``auth`` (L1 EIP-712, L2 HMAC,
API keys), ``orders`` (signed order parsing and signature recovery), ``matching``
(price-time priority, both tokens in one book), ``exchange`` (accounts, balances,
trades and their statuses, heartbeats, expiry), ``views`` (the JSON), ``ws`` (market
and user channels, message faults), ``participants`` (the synthetic market maker and
takers), ``server`` (the aiohttp app and background tasks).

Covered
~~~~~~~
REST: ``GET /ok /time /version /book /tick-size[/{id}] /neg-risk /fee-rate
/clob-markets/{cid} /markets-by-token/{tid} /markets /markets/{cid} /midpoint /price
/spread /last-trade-price``, ``POST /books``; L1 ``POST /auth/api-key``, ``GET
/auth/derive-api-key``; L2 ``GET /auth/api-keys``, ``DELETE /auth/api-key``, ``GET
/auth/ban-status/closed-only``, ``POST /order``, ``POST /orders`` (batch, max 15),
``DELETE /order /orders /cancel-all /cancel-market-orders``, ``GET /data/order/{id}
/data/orders /data/trades`` (paginated, ``LTE=`` terminal cursor), ``POST /v1/heartbeats``
and ``/heartbeats`` (id chaining, 400 with the expected id, cancel-all after the
timeout), ``GET /balance-allowance[/update]``, ``GET /order-scoring``, ``POST
/orders-scoring``, ``GET /notifications``.
Orders: V2 EIP-712 signatures (EOA, proxy and Safe types) recovered and checked against
the API key; owner check; GTC/GTD/FOK/FAK; post-only (crossing and order-type rules);
tick and minimum size with the live error texts; duplicate ids; GTD expiration (with the
one-minute threshold); balance checks against open orders.
WebSocket: market channel ``book`` (initial dump and after trades), ``price_change``
(``price_changes`` array with level totals and best bid/ask), ``tick_size_change``,
``last_trade_price``; user channel ``order`` (PLACEMENT/UPDATE/CANCELLATION) and ``trade``
(MATCHED, MINED, CONFIRMED, RETRYING, FAILED) with ``maker_orders`` and ``trader_side``;
subscribe/unsubscribe operations; ``PING``/``PONG``.
Faults (``FaultConfig``): WebSocket drops, delays and disconnects; 429 and 5xx; lost
acks (order placed, 500 returned); slow acks; order reads that lag placements
(``read_lag_ms``); late and failed trades; tick-size flips; an outage of chosen REST
paths (``fail_paths``: 503 on every request to them).

Not covered
~~~~~~~~~~~
``POLY_1271`` deposit-wallet signatures (refused with a clear message); Protocol-V2
positions / Exchange V3 (``position_id``); V1 orders; fees (every fee is 0, ``fd.r`` 0);
``deferExec`` semantics (accepted, ignored); the matching delay (``delayed`` status);
rewards, builder, RFQ, readonly/builder API keys, ``/prices-history``, ``/sampling-*``
and ``/simplified-markets``, batch ``/midpoints /prices /spreads /last-trades-prices``,
``/markets/live-activity``; custom-feature WS events (``best_bid_ask``, ``new_market``,
``market_resolved``); per-signer token-bucket rate limits (429 is a fault, not a
meter); the 425 restart status; market resolution and redemption; self-trade prevention.
"""

from mmfsm.emulator.config import (
    EmulatorConfig,
    FaultConfig,
    ParticipantConfig,
    load_emulator_config,
)
from mmfsm.emulator.server import Emulator

__all__ = ["Emulator", "EmulatorConfig", "FaultConfig", "ParticipantConfig", "load_emulator_config"]
