"""A WebSocket subscription that stays up: connect, subscribe, read, and on any loss, again.

Theory of operation
-------------------
Polymarket's channels drop connections (deploys, idle timeouts, network), and a feed
that silently stops is worse than one that fails loudly: the book goes stale while it
still looks fine. So ``Stream.run`` is a loop that never returns until cancelled:

1. connect (aiohttp) and send the subscription message, built fresh each time by
   ``subscribe()`` so a reconnect resubscribes to the current set of markets;
2. read frames and hand each text to ``on_text``; send the text ``PING`` every
   ``ping_s`` (Polymarket's keepalive is text frames, not WebSocket pings) and treat
   ``3 * ping_s`` without any frame, ``PONG`` included, as a dead connection;
3. on close, error or silence, call ``on_down`` (the adapter marks data suspect and
   catches up by REST), wait with exponential backoff (capped at 5 s, reset once a
   connection has carried a message) and go to 1. ``on_up`` runs after each subscribe.

``state`` is ``up``/``down``/``connecting`` for the status line; ``connects`` counts
successful connections, so tests can see that a reconnect happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp

__all__ = ["Stream", "market_stream"]

log = logging.getLogger("mmfsm.venue.ws")


class Stream:
    def __init__(
        self,
        url: str,
        *,
        name: str,
        subscribe: Callable[[], dict[str, Any]],
        on_text: Callable[[str], None],
        on_up: Callable[[], None] | None = None,
        on_down: Callable[[str], None] | None = None,
        ping_s: float = 5.0,
    ) -> None:
        self.url = url
        self.name = name
        self.subscribe = subscribe
        self.on_text = on_text
        self.on_up = on_up
        self.on_down = on_down
        self.ping_s = ping_s
        self.state = "connecting"
        self.connects = 0
        self.last_message = 0.0
        self._ws: aiohttp.ClientWebSocketResponse | None = None

    async def run(self) -> None:
        backoff = 0.1
        async with aiohttp.ClientSession() as session:
            while True:
                self.state = "connecting"
                reason = "closed"
                got_message = False
                try:
                    async with session.ws_connect(self.url, heartbeat=None, autoping=True) as ws:
                        self._ws = ws
                        await ws.send_str(json.dumps(self.subscribe()))
                        self.state = "up"
                        self.connects += 1
                        self.last_message = time.monotonic()
                        if self.on_up is not None:
                            self.on_up()
                        got_message, reason = await self._read(ws)
                except asyncio.CancelledError:
                    raise
                except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                    reason = f"{type(exc).__name__}: {exc}"
                finally:
                    self._ws = None
                self.state = "down"
                log.info("%s stream down (%s); reconnecting", self.name, reason)
                if self.on_down is not None:
                    self.on_down(reason)
                if got_message:
                    backoff = 0.1
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> tuple[bool, str]:
        got = False
        next_ping = time.monotonic() + self.ping_s
        while True:
            now = time.monotonic()
            if now - self.last_message > 3 * self.ping_s:
                return got, "silent for too long"
            if now >= next_ping:
                await ws.send_str("PING")
                next_ping = now + self.ping_s
            try:
                msg = await ws.receive(timeout=max(0.05, next_ping - now))
            except TimeoutError:
                continue
            if msg.type is aiohttp.WSMsgType.TEXT:
                self.last_message = time.monotonic()
                got = True
                try:
                    self.on_text(msg.data)
                except Exception:
                    log.exception("%s stream: message handler failed", self.name)
            elif msg.type in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSED,
                aiohttp.WSMsgType.CLOSING,
            ):
                return got, "closed by server"
            elif msg.type is aiohttp.WSMsgType.ERROR:
                return got, f"error: {ws.exception()}"

    async def send(self, payload: dict[str, Any]) -> None:
        """Send an operation (subscribe/unsubscribe) on the live connection, if up."""
        if self._ws is not None and not self._ws.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self._ws.send_str(json.dumps(payload))


def market_stream(
    ws_url: str,
    tokens: Callable[[], list[str]],
    *,
    on_text: Callable[[str], None],
    on_up: Callable[[], None] | None = None,
    on_down: Callable[[str], None] | None = None,
    ping_s: float = 5.0,
) -> Stream:
    """The public market channel for ``tokens``, with the initial book dump on every
    (re)subscription: after a reconnect the books must come from the venue again."""
    return Stream(
        f"{ws_url}/market",
        name="market",
        subscribe=lambda: {"assets_ids": tokens(), "type": "market", "initial_dump": True},
        on_text=on_text,
        on_up=on_up,
        on_down=on_down,
        ping_s=ping_s,
    )
