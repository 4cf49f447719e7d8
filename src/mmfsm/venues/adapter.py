"""``ClobVenue``: the Engine's commands to Polymarket's CLOB, and the CLOB back as events.

Theory of operation
-------------------
One class drives one account on one CLOB (the embedded emulator or Polymarket itself,
the same code): REST through ``clob.ClobRest`` (the official client, in threads),
market data and our fills through two WebSocket ``Stream`` s, parsed by ``wire``.
Everything it learns becomes an Engine event handed to ``emit``; it never decides
anything the Engine should decide. What it owns is the protocol:

Start-up (``start``, with ``startup``): API key (L1) -> markets and their ticks and
minimum sizes from the venue -> reconciliation (``reconcile``: our old open orders
cancelled and confirmed gone, foreign orders or unexplained holdings refuse the start,
our trades replayed so inventory survives) -> ``MarketListed``, the replayed ``Trade`` s,
REST book snapshots -> background tasks. Any read that fails here refuses the start:
an unread state is never an empty one.

Commands (``submit``, non-blocking, one task per command): a ``Place`` is checked
against the venue's current tick (a price off it would be *rounded* by the client),
sized down to the 0.01-share grid, signed with the tick passed explicitly, posted;
the answer becomes ``OrderAcked`` or ``OrderRejected`` with the Engine's reason. A 429
waits out a shared, growing backoff and retries; a 5xx or no answer is ambiguous, so
the order is looked up by the id it was signed with before anything is concluded.
A lookup that finds nothing is no answer either (the venue's reads can lag its
writes): the order stays *unresolved*, never assumed gone. The Engine keeps it pending
and counts it, its market is held (no new order beside it) and the resync looks again
until the venue lists it, finds it, or reports it on the user channel (adopted: acked,
then whatever state it is in), or ``_ABSENT_READS`` reads in a row show no such order
(only then "not placed"). A ``Cancel`` waits for its order's placement to resolve,
cancels (an unresolved order by its signed id), and reports ``OrderCancelled`` with
the venue's ``size_matched`` (from the user channel's CANCELLATION or
``GET /data/order``), never a guess. ``CancelAll`` uses the venue's cancel-all, then
catches orders whose placement was still in flight.

Background: the market channel (books, deltas, tick changes, which also drop the
client's cached tick); the user channel (fills, order events); the trade poll every
``poll_s`` (the fallback and cross-check: it forwards any (fill, status) the WebSocket
has not); heartbeats every ``heartbeat_s`` (the venue's dead-man switch; failing for
longer than the venue's timeout means our orders may be gone, a ``VenueFault``); and a
resync every ``resync_s`` that compares the venue's open orders with ours (any the bot
does not count as working, unknown or taken for done, seen twice are cancelled; ours
the venue no longer lists are closed with their final size, or after ``_ABSENT_READS``
reads that neither list nor find them), retries cancels and unresolved placements, and
refreshes books from REST.

Faults hold a market: a failed read emits ``VenueFault`` and the adapter stops passing
book snapshots for the market (a snapshot would clear the Engine's fault) until the
cause is resolved; then a fresh REST snapshot releases it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections.abc import Callable, Coroutine, Sequence
from functools import partial
from typing import Any, TypeVar

from attrs import frozen

from mmfsm.core.commands import Cancel, CancelAll, Command, Place, TimeInForce
from mmfsm.core.config import MarketConfig
from mmfsm.core.events import (
    MarketListed,
    OrderAcked,
    OrderCancelled,
    OrderExpired,
    OrderRejected,
    RejectReason,
    TickSizeChanged,
    Trade,
    TradeStatus,
    VenueFault,
)
from mmfsm.core.ticks import GridError, TickSize, format_price, format_size
from mmfsm.venues.base import (
    Emit,
    MarketInfo,
    ShutdownReport,
    StartupRefused,
    VenueError,
    VenueStatus,
    hold,
)
from mmfsm.venues.clob import ClobRest
from mmfsm.venues.netbook import NetBooks
from mmfsm.venues.startup import list_markets, reconcile_at_start
from mmfsm.venues.stream import Stream, market_stream
from mmfsm.venues.tracking import Tracked, Tracker
from mmfsm.venues.wire import (
    Fill,
    TokenIndex,
    WireError,
    frames,
    parse_book,
    parse_fills,
    parse_order_state,
    parse_price_change,
    parse_tick_change,
    reject_reason,
)

__all__ = ["AdapterConfig", "ClobVenue"]

log = logging.getLogger("mmfsm.venue")

T = TypeVar("T")
_GRID = 10_000  # 0.01 share in micro-shares: the client's size grid
_SETTLE_S = 0.5  # grace before our ended order's size leaves the net book
_ABSENT_READS = 3
"""Resyncs in a row that must neither list nor find an order before it is taken for gone.

"No such order" from the venue is no proof: its reads can lag its writes, so an order
it has just booked may be missing from ``GET /data/order`` and ``GET /data/orders`` for
a moment. An order taken for gone while it rests is counted by nobody and cancelled by
nobody. So a lost placement is concluded "not placed", and an acknowledged order
"ended", only when this many successful open-orders reads in a row (each after the
previous lookup) did not list it and the lookup after each did not find it: three
resync periods, far beyond any read lag, while the market stays held (for a lost
placement) and the Engine keeps counting the order. Small, because a held market does
not quote. Should the order show up even later, the resync sweep cancels it (it is no
longer working) and its fills still reach the ledger (its id stays ours).
"""


@frozen(kw_only=True)
class AdapterConfig:
    """Where the venue is and how often to talk to it."""

    host: str
    ws_url: str
    chain_id: int
    markets: tuple[MarketConfig, ...] = ()  # empty: trade every market the venue lists
    use_market_ws: bool = True
    use_user_ws: bool = True
    poll_s: float = 1.0
    heartbeat_s: float = 5.0
    heartbeat_timeout_s: float = 10.0
    resync_s: float = 5.0
    ping_s: float = 5.0


def _now_ms() -> int:
    return int(time.time() * 1000)


class ClobVenue:
    """A ``Venue`` over Polymarket's CLOB protocol (see the module docstring)."""

    name = "clob"

    def __init__(self, config: AdapterConfig, rest: ClobRest) -> None:
        self.config = config
        self.rest = rest
        self.tracker = Tracker()
        self.markets: list[MarketInfo] = []
        self.index = TokenIndex([])
        self.net = NetBooks(self.index)
        self.ticks: dict[str, TickSize] = {}
        self.holds: dict[str, set[str]] = {}
        self.fills = 0
        self.fill_log: list[tuple[str, str, float]] = []  # (trade id, source, monotonic)
        self.heartbeat_state = "off"
        self.restored_trades = 0
        self.cancelled_at_start = 0
        self._emit: Emit = lambda _e: None
        self._tasks: list[asyncio.Task[Any]] = []
        self._cmd_tasks: set[asyncio.Task[Any]] = set()
        self._backoff_until = 0.0
        self._backoff_s = 0.0
        self._sem = asyncio.Semaphore(8)
        self._wake_poll = asyncio.Event()
        self._unknown_seen: set[str] = set()
        self._reject_gate: dict[tuple[str, str, str], tuple[float, float]] = {}
        self._market_ws: Stream | None = None
        self._user_ws: Stream | None = None

    # ------------------------------------------------------------------ start

    async def start(self, emit: Emit) -> list[MarketInfo]:
        self._emit = emit
        try:
            creds = await self.rest.ensure_creds()
            self.markets, books = await list_markets(self.rest, self.config.markets)
        except VenueError as err:
            raise StartupRefused(
                f"cannot read the venue at start-up ({err}); not starting"
            ) from None
        self.index = TokenIndex(self.markets)
        self.net = NetBooks(self.index)
        for m in self.markets:
            self.ticks[m.yes_token] = self.ticks[m.no_token] = m.tick
        start = await reconcile_at_start(self.rest, self.markets, self.index)
        self.tracker.restored.update(start.restored)
        self.cancelled_at_start = start.cancelled
        self.restored_trades = start.trades
        restored = start.fills
        ts = _now_ms()
        for m in self.markets:
            emit(
                MarketListed(
                    ts_ms=ts,
                    market=m.key,
                    yes_token=m.yes_token,
                    no_token=m.no_token,
                    tick=m.tick,
                    min_size=m.min_size,
                )
            )
        for fill in restored:
            self._forward(fill, "restore")
        for book in books:
            self._on_market_message(book, snapshot_ok=True)
        if self.config.use_market_ws:
            self._market_ws = market_stream(
                self.config.ws_url,
                lambda: sorted(self.index.by_token),
                on_text=self._on_market_text,
                ping_s=self.config.ping_s,
            )
            self._tasks.append(asyncio.create_task(self._market_ws.run()))
        if self.config.use_user_ws:
            self._user_ws = Stream(
                f"{self.config.ws_url}/user",
                name="user",
                subscribe=lambda: {
                    "auth": {
                        "apiKey": creds.api_key,
                        "secret": creds.secret,
                        "passphrase": creds.passphrase,
                    },
                    "markets": sorted(self.index.by_condition),
                    "type": "user",
                },
                on_text=self._on_user_text,
                on_up=self._wake_poll.set,
                ping_s=self.config.ping_s,
            )
            self._tasks.append(asyncio.create_task(self._user_ws.run()))
        self._tasks += [
            asyncio.create_task(self._poll_loop()),
            asyncio.create_task(self._heartbeat_loop()),
            asyncio.create_task(self._resync_loop()),
        ]
        return self.markets

    # ------------------------------------------------------------------ events in

    def _fault(self, market: MarketInfo | None, reason: str) -> None:
        """Emit a VenueFault and hold the market(s) until ``_release``."""
        if hold(self.holds, self.markets if market is None else [market], reason):
            self._emit(
                VenueFault(
                    ts_ms=_now_ms(), what=reason, market=None if market is None else market.key
                )
            )

    def _release(self, reason: str) -> None:
        for m in self.markets:
            held = self.holds.get(m.key)
            if held and reason in held:
                held.discard(reason)
                if not held:
                    self._spawn(self._refresh_books(m))

    def _on_market_text(self, text: str) -> None:
        try:
            messages = frames(text)
        except WireError as err:
            log.warning("market channel: %s", err)
            return
        for msg in messages:
            self._on_market_message(msg, snapshot_ok=False)

    def _on_market_message(self, msg: dict[str, Any], *, snapshot_ok: bool) -> None:
        ts = _now_ms()
        kind = msg.get("event_type")
        try:
            if kind == "book":
                snap = parse_book(msg, self.index, ts)
                if snap is not None:
                    net = self.net.snapshot(snap)
                    if snapshot_ok or not self.holds.get(snap.market):
                        self._emit(net)
            elif kind == "price_change":
                for change in parse_price_change(msg, self.index, ts):
                    net_change = self.net.change(change)
                    if net_change is not None:
                        self._emit(net_change)
            elif kind == "tick_size_change":
                tick = parse_tick_change(msg, self.index, ts)
                if tick is not None:
                    self._on_tick(tick)
        except WireError as err:
            log.warning("market channel message dropped: %s", err)
            market = self._market_of_message(msg)
            if market is not None and not snapshot_ok:
                # The book missed this message: take it again from REST. (A refresh's own
                # bad book is only logged: a venue that kept sending it would loop.)
                self._spawn(self._refresh_books(market))

    def _market_of_message(self, msg: dict[str, Any]) -> MarketInfo | None:
        """The traded market a market-channel message is about, if any."""
        tokens: list[object] = [msg.get("asset_id")]
        changes = msg.get("price_changes")
        if isinstance(changes, list):
            tokens += [c.get("asset_id") for c in changes if isinstance(c, dict)]
        for token in tokens:
            if isinstance(token, str) and token in self.index:
                return self.index.by_token[token]
        return None

    def _on_tick(self, event: TickSizeChanged) -> None:
        market = self.index.by_token[event.token]
        for token in (market.yes_token, market.no_token):
            self.ticks[token] = event.tick
            self.rest.forget_tick(token)
        self._emit(event)

    def _on_user_text(self, text: str) -> None:
        try:
            messages = frames(text)
        except WireError as err:
            log.warning("user channel: %s", err)
            return
        api_key = self.rest.creds.api_key
        for msg in messages:
            try:
                kind = msg.get("event_type")
                if kind == "trade":
                    self._on_fills(parse_fills(msg, api_key), "ws")
                elif kind == "order":
                    state = parse_order_state(msg)
                    lost = self.tracker.expected.get(state.order_id)
                    if lost is not None and lost.unresolved and not lost.done:
                        self._adopt(lost, state.order_id, msg)  # the venue has it
                        continue
                    tracked = self.tracker.by_venue.get(state.order_id)
                    if tracked is not None and (
                        state.status == "CANCELED"
                        or (state.status == "MATCHED" and state.size_matched >= state.original_size)
                    ):
                        self._finish(tracked, state.size_matched)
                elif "error" in msg:
                    log.warning("user channel error: %s", msg.get("error"))
            except WireError as err:
                log.warning("user channel message dropped: %s", err)

    def _on_fills(self, fills: list[Fill], source: str) -> None:
        for fill in fills:
            if fill.token not in self.index:
                continue
            if self.tracker.owner(fill.order_id) is None:
                self.tracker.park(fill, source)
                continue
            self._forward(fill, source)

    def _forward(self, fill: Fill, source: str) -> None:
        owner = self.tracker.owner(fill.order_id)
        if owner is None:
            return
        client_id, market, tracked = owner
        # Check, then mutate: the Trade validates the fill before the tracker counts it,
        # so a fill it refuses leaves ``seen`` and ``filled`` as they were.
        try:
            trade = Trade(
                ts_ms=_now_ms(),
                trade_id=fill.trade_id,
                client_id=client_id,
                market=market.key,
                token=fill.token,
                side=fill.side,
                price=fill.price,
                size=fill.size,
                status=fill.status,
            )
        except ValueError as err:
            log.warning("%s fill dropped: %s", source, err)
            return
        first = fill.trade_id not in self.tracker.seen
        if not self.tracker.note(fill.trade_id, fill):
            return
        if first:
            self.fill_log.append((fill.trade_id, source, time.monotonic()))
            if fill.status is not TradeStatus.FAILED:
                self.fills += 1
                if tracked is not None:
                    tracked.filled += fill.size
                    self._settle_resting_later(tracked)
        self._emit(trade)

    def _finish(self, tracked: Tracked, size_matched: int, *, expired: bool = False) -> None:
        """Tell the Engine, once, that an order no longer rests."""
        if tracked.done:
            return
        tracked.done = True
        self._settle_resting_later(tracked)
        if tracked.filled >= tracked.engine_size:
            return  # fully filled: the Engine closed it from the fills themselves
        ts = _now_ms()
        if expired:
            self._emit(
                OrderExpired(ts_ms=ts, client_id=tracked.client_id, size_matched=size_matched)
            )
        else:
            self._emit(
                OrderCancelled(ts_ms=ts, client_id=tracked.client_id, size_matched=size_matched)
            )

    def _reject(self, tracked: Tracked, reason: RejectReason, message: str) -> None:
        if tracked.done:
            return
        tracked.done = True
        self._set_resting(tracked, 0)  # it never rested
        if reason is not RejectReason.POST_ONLY:
            self._back_off(tracked)
        self._emit(
            OrderRejected(
                ts_ms=_now_ms(), client_id=tracked.client_id, reason=reason, message=message
            )
        )
        if reason is RejectReason.TICK:
            self._spawn(self._refresh_tick(tracked.market, tracked.token))

    # ------------------------------------------------------------------ commands out

    def submit(self, commands: Sequence[Command]) -> None:
        for cmd in commands:
            if isinstance(cmd, Place):
                self._place_now(cmd)
            elif isinstance(cmd, Cancel):
                self._spawn(self._cancel(cmd))
            elif isinstance(cmd, CancelAll):
                self._spawn(self._cancel_all())

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._cmd_tasks.add(task)
        task.add_done_callback(self._cmd_done)

    def _cmd_done(self, task: asyncio.Task[Any]) -> None:
        self._cmd_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("venue task failed: %r", task.exception())

    async def _call(
        self,
        make: Callable[[], Coroutine[Any, Any, T]],
        *,
        tries: int = 4,
        retry_ambiguous: bool = True,
    ) -> T:
        """A REST call behind the shared backoff, retried on 429/425 and, if allowed, 5xx.

        A placement is never retried on an ambiguous error: it may have rested, and a
        retry is a new signed order, so it could rest twice.
        """
        attempt = 0
        while True:
            wait = self._backoff_until - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            async with self._sem:
                try:
                    result = await make()
                except VenueError as err:
                    attempt += 1
                    if err.rate_limited:
                        self._backoff_s = min(max(self._backoff_s * 2, 0.25), 8.0)
                        self._backoff_until = time.monotonic() + self._backoff_s
                        log.warning(
                            "venue rate limit (%s); backing off %.2fs", err.status, self._backoff_s
                        )
                    retryable = err.rate_limited or (retry_ambiguous and err.ambiguous)
                    if attempt >= tries or not retryable:
                        raise
                    await asyncio.sleep(min(0.1 * 2**attempt, 2.0))
                    continue
            self._backoff_s = 0.0
            return result

    def _gate_key(self, tracked: Tracked) -> tuple[str, str, str]:
        return (tracked.market.key, tracked.token, tracked.side.value)

    def _back_off(self, tracked: Tracked) -> None:
        """After a refusal, the next order on the same book side waits, longer each time.

        The Engine re-quotes on every event, so an order refused for balance (tokens
        still held by an order whose cancel is in flight) would otherwise come back
        every few milliseconds until the cancel lands: a storm of refused requests.
        """
        _, last = self._reject_gate.get(self._gate_key(tracked), (0.0, 0.0))
        delay = min(max(last * 2, 0.25), 5.0)
        self._reject_gate[self._gate_key(tracked)] = (time.monotonic() + delay, delay)

    def _place_now(self, cmd: Place) -> None:
        market = self.index.by_token.get(cmd.token)
        if market is None:
            log.error("Place for token %s of no known market; refused", cmd.token)
            return
        tracked = Tracked(
            client_id=cmd.client_id,
            market=market,
            token=cmd.token,
            side=cmd.side,
            price=cmd.price,
            size=cmd.size // _GRID * _GRID,
            tif=cmd.tif,
            engine_size=cmd.size,
        )
        self.tracker.add(tracked)
        self._spawn(self._place(cmd, tracked))

    async def _place(self, cmd: Place, tracked: Tracked) -> None:
        try:
            await self._place_inner(cmd, tracked)
        finally:
            tracked.placed.set()

    async def _place_inner(self, cmd: Place, tracked: Tracked) -> None:
        market = tracked.market
        tick = self.ticks[cmd.token]
        if cmd.price % int(tick) or not int(tick) <= cmd.price <= 10_000 - int(tick):
            self._reject(
                tracked,
                RejectReason.TICK,
                f"price {format_price(cmd.price)} is off the venue's current tick {tick}",
            )
            return
        if tracked.size < max(market.min_size, _GRID):
            self._reject(
                tracked,
                RejectReason.MIN_SIZE,
                f"size {format_size(cmd.size)} is below the minimum after rounding to 0.01 shares",
            )
            return
        until, _ = self._reject_gate.get(self._gate_key(tracked), (0.0, 0.0))
        if until > time.monotonic():
            await asyncio.sleep(until - time.monotonic())
        expiration = 0
        if cmd.tif is TimeInForce.GTD and cmd.expires_ms is not None:
            expiration = math.ceil(cmd.expires_ms / 1000) + 60  # the venue's 1-minute threshold
        loop = asyncio.get_running_loop()

        def signed(order_id: str) -> None:
            loop.call_soon_threadsafe(self._signed, tracked, order_id)

        try:
            placed = await self._call(
                lambda: self.rest.post_order(
                    token=cmd.token,
                    side=cmd.side.value,
                    price=format_price(cmd.price),
                    size=format_size(tracked.size),
                    tick=str(tick),
                    neg_risk=market.neg_risk,
                    order_type=cmd.tif.value,
                    post_only=cmd.post_only,
                    expiration=expiration,
                    on_signed=signed,
                ),
                tries=3,
                retry_ambiguous=False,
            )
        except VenueError as err:
            if err.refused:
                self._reject(tracked, reject_reason(err.message), err.message)
            elif err.ambiguous and err.order_id is not None:
                await self._resolve_lost(tracked, err.order_id, err)
            else:
                self._reject(tracked, RejectReason.OTHER, f"not placed: {err}")
            return
        self._reject_gate.pop(self._gate_key(tracked), None)
        self._acked(tracked, placed.order_id)
        response = placed.response
        if response.get("status") == "matched" or response.get("tradeIDs"):
            await self._refresh_order(tracked)

    def _settle_resting_later(self, tracked: Tracked) -> None:
        """Lower our resting size after a grace period, not at once.

        A fill or a cancel reaches us on the user channel, the book change on the
        market channel, in either order. Taking our size out before the venue's book
        has dropped it would show our own order to the Engine as someone else's.
        """
        if not tracked.resting:
            return

        def settle() -> None:
            self._set_resting(tracked, 0 if tracked.done else tracked.size - tracked.filled)

        asyncio.get_running_loop().call_later(_SETTLE_S, settle)

    def _set_resting(self, tracked: Tracked, size: int) -> None:
        """Keep the book our Engine sees free of this order's resting size."""
        size = max(0, size)
        delta = size - tracked.resting
        if delta:
            tracked.resting = size
            for change in self.net.own(
                tracked.token, tracked.side, tracked.price, delta, _now_ms()
            ):
                self._emit(change)

    def _signed(self, tracked: Tracked, order_id: str) -> None:
        """The order is about to be sent: know its id, and hide it from our books now.

        Now, not at the acknowledgement: the venue publishes the new level on the
        market channel before (or while) it answers the POST.
        """
        self.tracker.expect(tracked, order_id)
        if tracked.tif in (TimeInForce.GTC, TimeInForce.GTD) and not tracked.done:
            self._set_resting(tracked, tracked.size - tracked.filled)

    def _acked(self, tracked: Tracked, venue_id: str) -> None:
        self.tracker.acked(tracked, venue_id)
        if tracked.done:
            return
        self._emit(OrderAcked(ts_ms=_now_ms(), client_id=tracked.client_id, venue_id=venue_id))
        for fill, source in self.tracker.unpark(venue_id):
            self._forward(fill, source)

    async def _resolve_lost(self, tracked: Tracked, order_id: str, err: VenueError) -> None:
        """A post whose answer was lost: ask the venue whether the order exists.

        Found, it is adopted. Not found (or the lookup failed), it may still rest: it
        stays unresolved, pending for the Engine, and its market is held until the
        resync settles it (``_look_again``).
        """
        log.warning(
            "Placement of %s got no clear answer (%s); looking it up", tracked.client_id, err
        )
        try:
            state = await self._call(lambda: self.rest.order(order_id))
        except VenueError as lookup:
            state, why = None, f"the lookup failed: {lookup}"
        else:
            why = "the venue does not show it (yet)"
        if state is not None:
            self._adopt(tracked, order_id, state)
            return
        log.warning(
            "Placement of %s unresolved (%s); holding %s until the venue shows it or "
            "%d reads in a row do not",
            tracked.client_id,
            why,
            tracked.market.key,
            _ABSENT_READS,
        )
        tracked.unresolved = True
        self._fault(tracked.market, self._unknown_hold(tracked))

    @staticmethod
    def _unknown_hold(tracked: Tracked) -> str:
        return f"placement outcome unknown: {tracked.client_id}"

    async def _look_again(self, tracked: Tracked, listed: dict[str, dict[str, Any]]) -> None:
        """The resync's turn on an unresolved placement; ``listed`` was read after the
        previous lookup."""
        order_id = tracked.expected_id
        if order_id is None:
            return
        if tracked.cancel_requested:
            await self._cancel_unresolved(tracked)
        state = listed.get(order_id)
        if state is None:
            try:
                state = await self._call(lambda: self.rest.order(order_id))
            except VenueError as err:
                log.warning("lookup of %s failed (%s); will retry", tracked.client_id, err)
                return
        if state is not None:
            self._adopt(tracked, order_id, state)
            return
        tracked.absent += 1
        if tracked.absent < _ABSENT_READS:
            return
        tracked.unresolved = False
        self._reject(
            tracked,
            RejectReason.OTHER,
            f"not placed: {_ABSENT_READS} open-orders reads and lookups in a row show no order "
            f"{order_id}",
        )
        self._release(self._unknown_hold(tracked))

    def _adopt(self, tracked: Tracked, order_id: str, state: dict[str, Any]) -> None:
        """The venue has the order whose placement answer we lost: it was placed."""
        tracked.unresolved = False
        tracked.absent = 0
        self._acked(tracked, order_id)
        self._apply_state(tracked, state)
        self._release(self._unknown_hold(tracked))

    async def _begin_cancel(self, tracked: Tracked) -> str | None:
        """The venue id to cancel ``tracked`` by, or None when nothing more is to be sent:
        it is done, not booked yet, or unresolved (then cancelled here, by the id it was
        signed with). Marks the cancel requested whenever one goes out."""
        if tracked.done:
            return None
        if tracked.unresolved:
            tracked.cancel_requested = True
            await self._cancel_unresolved(tracked)
            return None
        if tracked.venue_id is None:
            return None
        tracked.cancel_requested = True
        return tracked.venue_id

    async def _cancel_unresolved(self, tracked: Tracked) -> None:
        """Cancel an unresolved placement by the id it was signed with.

        Harmless if the venue never booked it; its fate is still settled by the resync.
        """
        order_id = tracked.expected_id
        if order_id is None:
            return
        try:
            await self._call(lambda: self.rest.cancel([order_id]), tries=2)
        except VenueError as err:
            log.warning("cancel of unresolved %s failed (%s); will retry", tracked.client_id, err)

    def _apply_state(self, tracked: Tracked, raw: dict[str, Any]) -> None:
        try:
            state = parse_order_state(raw)
        except WireError as err:
            log.warning("order %s: %s", tracked.client_id, err)
            return
        if state.status in ("MATCHED", "CANCELED", "CANCELLED"):
            self._finish(
                tracked,
                state.size_matched,
                expired=tracked.tif in (TimeInForce.FAK, TimeInForce.FOK),
            )

    async def _refresh_order(self, tracked: Tracked, *, unlisted: bool = False) -> None:
        """Read the venue's record of an acknowledged order and apply it.

        "Not found" ends the order only when ``unlisted`` (the resync's open orders, read
        after the previous lookup, did not list it either) for ``_ABSENT_READS`` resyncs
        in a row: the venue booked it, so until then the order is taken to rest.
        """
        if tracked.venue_id is None or tracked.done:
            return
        venue_id = tracked.venue_id
        try:
            state = await self._call(lambda: self.rest.order(venue_id))
        except VenueError as err:
            log.warning("could not read order %s (%s); will retry", tracked.client_id, err)
            return
        if state is None:
            if unlisted:
                tracked.absent += 1
                if tracked.absent >= _ABSENT_READS:
                    log.warning(
                        "order %s: %d open-orders reads and lookups in a row show no such "
                        "order; taking it for ended",
                        tracked.client_id,
                        _ABSENT_READS,
                    )
                    self._finish(tracked, tracked.filled)
            return
        tracked.absent = 0
        self._apply_state(tracked, state)

    async def _cancel(self, cmd: Cancel) -> None:
        tracked = self.tracker.by_client.get(cmd.client_id)
        if tracked is None:
            return
        await tracked.placed.wait()
        venue_id = await self._begin_cancel(tracked)
        if venue_id is None:
            return
        try:
            await self._call(lambda: self.rest.cancel([venue_id]))
        except VenueError as err:
            log.warning("cancel of %s failed (%s); will retry", tracked.client_id, err)
            return
        await self._refresh_order(tracked)

    async def _cancel_all(self) -> None:
        try:
            await self._call(self.rest.cancel_all)
        except VenueError as err:
            log.error("cancel-all failed (%s); cancelling one by one", err)
        pending = list(self.tracker.live())
        await asyncio.gather(*(self._cancel_tracked(t) for t in pending))

    async def _cancel_tracked(self, tracked: Tracked) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(tracked.placed.wait(), timeout=10)
        venue_id = await self._begin_cancel(tracked)
        if venue_id is None:
            return
        await self._refresh_order(tracked)
        if not tracked.done:
            with contextlib.suppress(VenueError):
                await self._call(lambda: self.rest.cancel([venue_id]))
            await self._refresh_order(tracked)

    # ------------------------------------------------------------------ background

    async def _poll_loop(self) -> None:
        """The fill poll: every ``poll_s`` on average, the trades the WebSocket missed.

        Each interval is jittered by +-25%: a fixed period would lock onto the Engine's
        own one-second clock tick (quotes move on the tick, fills follow them), and a
        fallback that always looks just before fills happen is the slowest one possible.
        """
        api_key = self.rest.creds.api_key
        failures = 0
        jitter = random.Random()
        while True:
            interval = self.config.poll_s * jitter.uniform(0.75, 1.25)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake_poll.wait(), timeout=interval)
            self._wake_poll.clear()
            oldest = self.tracker.oldest_unsettled()
            after = int(time.time()) - 120
            if oldest is not None:
                after = min(after, oldest - 5)
            try:
                trades = await self._call(partial(self.rest.trades, after=after), tries=1)
            except VenueError as err:
                failures += 1
                if failures == 3:
                    log.warning("trade poll failing (%s)", err)
                continue
            failures = 0
            for trade in trades:
                if trade.get("market") not in self.index.by_condition:
                    continue
                try:
                    self._on_fills(parse_fills(trade, api_key), "poll")
                except WireError as err:
                    log.warning("polled trade dropped: %s", err)

    async def _heartbeat_loop(self) -> None:
        heartbeat_id = ""
        last_ok = time.monotonic()
        lost = False
        while True:
            try:
                heartbeat_id = await self.rest.heartbeat(heartbeat_id)
                last_ok = time.monotonic()
                self.heartbeat_state = "ok"
                if lost:
                    lost = False
                    log.warning("heartbeats restored")
                    self._release("heartbeat lost")
            except VenueError as err:
                self.heartbeat_state = f"failing ({err.status})"
                silent = time.monotonic() - last_ok
                if silent > self.config.heartbeat_timeout_s and not lost:
                    lost = True
                    log.error(
                        "no heartbeat accepted for %.0fs: the venue may have cancelled our orders",
                        silent,
                    )
                    self._fault(None, "heartbeat lost")
                    self._wake_poll.set()
                await asyncio.sleep(min(1.0, self.config.heartbeat_s))
                continue
            await asyncio.sleep(self.config.heartbeat_s)

    async def _resync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.resync_s)
            await self._resync()

    async def _resync(self) -> None:
        """Compare open orders with ours, retry what is pending, refresh books.

        Only orders known before the open orders are read are judged against them: an
        order acknowledged (or left unresolved) during the read is judged next time.
        """
        unresolved = [t for t in self.tracker.live() if t.unresolved]
        acked = [t for t in self.tracker.live() if t.venue_id is not None and t.placed.is_set()]
        try:
            venue_orders = await self._call(self.rest.open_orders, tries=2)
        except VenueError as err:
            self._fault(None, f"open orders unreadable: {err.message}")
            return
        self._release_prefix("open orders unreadable")
        listed = {str(o.get("id")): o for o in venue_orders if str(o.get("asset_id")) in self.index}
        # In two reads in a row, not one: a listing can predate the cancel or fill that
        # ended an order, and one stale read is no reason to cancel.
        unknown = {oid for oid in listed if not self.tracker.working(oid)}
        stale = unknown & self._unknown_seen
        self._unknown_seen = unknown - stale
        if stale:
            log.warning(
                "cancelling %d open order(s) the bot does not count as working: %s",
                len(stale),
                sorted(stale)[:3],
            )
            with contextlib.suppress(VenueError):
                await self._call(lambda: self.rest.cancel(sorted(stale)))
        for tracked in unresolved:
            if tracked.unresolved and not tracked.done:
                await self._look_again(tracked, listed)
        for tracked in acked:
            if tracked.done or tracked.venue_id is None:
                continue
            if tracked.venue_id not in listed:
                await self._refresh_order(tracked, unlisted=True)
                continue
            tracked.absent = 0
            if tracked.cancel_requested:
                with contextlib.suppress(VenueError):
                    await self._call(partial(self.rest.cancel, [tracked.venue_id]), tries=1)
                await self._refresh_order(tracked)
        for m in self.markets:
            if not self.holds.get(m.key):
                await self._refresh_books(m)

    def _release_prefix(self, prefix: str, market: MarketInfo | None = None) -> None:
        for m in self.markets if market is None else [market]:
            for reason in [r for r in self.holds.get(m.key, set()) if r.startswith(prefix)]:
                self.holds[m.key].discard(reason)
                if not self.holds[m.key]:
                    self._spawn(self._refresh_books(m))

    async def _refresh_books(self, market: MarketInfo) -> None:
        try:
            books = [await self._book(t) for t in (market.yes_token, market.no_token)]
        except VenueError as err:
            log.info("book refresh of %s failed (%s)", market.key, err)
            return
        if self.holds.get(market.key):
            return
        for book in books:
            book["event_type"] = "book"
            self._on_market_message(book, snapshot_ok=True)
            tick_text = book.get("tick_size")
            token = str(book.get("asset_id"))
            try:
                tick = TickSize.parse(str(tick_text))
            except GridError:
                continue
            if token in self.ticks and tick is not self.ticks[token]:
                self._on_tick(
                    TickSizeChanged(ts_ms=_now_ms(), market=market.key, token=token, tick=tick)
                )

    async def _book(self, token: str) -> dict[str, Any]:
        return await self._call(lambda: self.rest.book(token), tries=1)

    async def _refresh_tick(self, market: MarketInfo, token: str) -> None:
        try:
            text = await self._call(lambda: self.rest.tick_size(token))
            tick = TickSize.parse(text)
        except (VenueError, GridError) as err:
            log.warning("could not read the tick of %s (%s)", market.key, err)
            return
        self._on_tick(TickSizeChanged(ts_ms=_now_ms(), market=market.key, token=token, tick=tick))

    # ------------------------------------------------------------------ status, stop

    def status(self) -> VenueStatus:
        return VenueStatus(
            open_orders=sum(1 for t in self.tracker.live() if t.venue_id is not None),
            market_ws=self._market_ws.state if self._market_ws else "off",
            user_ws=self._user_ws.state if self._user_ws else "off",
            heartbeat=self.heartbeat_state,
            fills=self.fills,
        )

    async def _stop_tasks(self) -> None:
        tasks = self._tasks + list(self._cmd_tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        self._cmd_tasks.clear()

    async def shutdown(self) -> ShutdownReport:
        """Cancel every order of the account, collect the last fills, check none is left.

        The streams and the poll keep running until the cancel is done, and one more
        trade poll follows it: a fill matched an instant before the cancel must still
        reach the ledger (and the audit log), or the books would disagree with the venue
        after a clean stop.
        """
        error = None
        cancelled = 0
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(
                    *(t.placed.wait() for t in self.tracker.live()), return_exceptions=True
                ),
                timeout=5,
            )
        try:
            result = await self._call(self.rest.cancel_all)
            cancelled = len(result.get("canceled") or [])
            await asyncio.gather(*(self._refresh_order(t) for t in list(self.tracker.live())))
            left = [
                o
                for o in await self._call(self.rest.open_orders)
                if str(o.get("asset_id")) in self.index
            ]
        except VenueError as err:
            error = str(err)
            left = []
        await self._final_poll()
        await self._stop_tasks()
        return ShutdownReport(cancelled=cancelled, still_open=len(left), error=error)

    async def _final_poll(self) -> None:
        oldest = self.tracker.oldest_unsettled()
        after = (
            int(time.time()) - 120 if oldest is None else min(int(time.time()) - 120, oldest - 5)
        )
        try:
            trades = await self._call(partial(self.rest.trades, after=after), tries=2)
        except VenueError as err:
            log.warning("last trade poll at shutdown failed (%s)", err)
            return
        api_key = self.rest.creds.api_key
        for trade in trades:
            if trade.get("market") in self.index.by_condition:
                with contextlib.suppress(WireError):
                    self._on_fills(parse_fills(trade, api_key), "poll")

    async def abort(self) -> None:
        await self._stop_tasks()
