"""Polymarket's public market data over REST: markets and books, with no key and no orders.

Why not ``clob.ClobRest``: paper trading must be unable to send an order, not merely
decide not to. ``ClobRest`` wraps the official client, which signs and posts orders
once it holds a key; this reader holds no key, no client that can sign, and has no
method that writes. It speaks the two unauthenticated reads the start-up and the book
refresh need (``GET /markets``, paginated, and ``GET /book``), returning the venue's
JSON as the official client would, so ``startup.list_markets`` and ``wire`` read it
unchanged. Every failure (no answer, a timeout, a non-200 status, a body that is not
the expected JSON) is a ``VenueError``: an unread book is never an empty one.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from mmfsm.venues.base import VenueError

__all__ = ["PublicData"]

_END_CURSOR = "LTE="


class PublicData:
    """Read-only market data from a CLOB host (Polymarket or the emulator)."""

    def __init__(self, host: str, *, timeout_s: float = 10.0) -> None:
        self.host = host.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.requests = 0
        self._session: aiohttp.ClientSession | None = None

    async def _get(self, path: str, params: dict[str, str]) -> Any:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        self.requests += 1
        try:
            async with self._session.get(f"{self.host}{path}", params=params) as resp:
                text = await resp.text()
                if resp.status != 200:
                    raise VenueError(resp.status, f"GET {path}: {text[:200]}")
                try:
                    return await resp.json(content_type=None)
                except ValueError:
                    raise VenueError(resp.status, f"GET {path}: body is not JSON") from None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise VenueError(None, f"GET {path}: {type(exc).__name__}: {exc}") from None

    async def markets(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cursor = "MA=="
        while cursor != _END_CURSOR:
            page = await self._get("/markets", {"next_cursor": cursor})
            if not isinstance(page, dict) or not isinstance(page.get("data"), list):
                raise VenueError(200, "GET /markets: not a page of markets")
            out.extend(m for m in page["data"] if isinstance(m, dict))
            cursor = str(page.get("next_cursor") or _END_CURSOR)
        return out

    async def book(self, token: str) -> dict[str, Any]:
        result = await self._get("/book", {"token_id": token})
        if not isinstance(result, dict):
            raise VenueError(200, f"book for {token} is not an object")
        return result

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
            await asyncio.sleep(0)  # let aiohttp release its connector
