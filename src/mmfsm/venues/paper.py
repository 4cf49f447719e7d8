"""``PaperVenue``: the venue's real market data, our orders filled by the simulator's model.

Theory of operation
-------------------
Paper trading is the strategy document's week between the simulator and real money: the
same Engine, risk rules and run loop as ``mmfsm run``, on the market as it is, with no
order ever reaching the venue. Two halves, and nothing in between them can write:

* **Market data in**, read-only: ``public.PublicData`` (``GET /markets``, ``GET /book``,
  no key, no signing client) at start-up and every ``resync_s``, and the public market
  WebSocket (``book``, ``price_change``, ``tick_size_change``, ``last_trade_price``) read
  by ``wire`` exactly as the live adapter reads it. This object holds no ``ClobRest``
  and no credentials, so there is no code path from here to ``POST /order``.
* **Orders out**, to the simulator: the Engine's commands go to ``sim.venue.Venue``, the
  matching model ``mmfsm simulate`` uses (unchanged, and used through its public
  methods only), through ``sim.latency.Wire`` on a ``sim.schedule.Scheduler`` whose
  clock is the wall clock: a command reaches the model after the latency model's order
  delay, acks, rejects (closed market, minimum size, tick, balance, post-only crossing),
  cancels, fills and their later CONFIRMED come back after theirs, as the same events
  the live adapter emits. A pump task runs each scheduled item when it falls due.

How the real market fills our paper orders (the model of ``sim.replay``, plus trades):

* Each book change rebuilds the token's full book here (snapshots and deltas) and hands
  it to ``Venue.replay_book``: the YES book replaces the crowd, a book that now trades
  through our price fills our remaining size at our price, and a shrinking level moves
  us up its queue by the probabilistic queue model; it never fills us by itself.
* A ``last_trade_price`` is a taker that really traded: ``Venue.take`` runs it through
  the crowd's book with our orders in it, best price first and, at a level, the size
  ahead of us first. A sell at 0.50 fills our paper bid at 0.51 before anything else,
  which is what it would have done had our bid been there. Its direction (YES terms) is
  the quote rule against the book it hit (at or above the ask: a buy; at or below the
  bid: a sell), and the message's ``side`` (the taker's) only inside the spread.
* The books the Engine sees are the venue's plus our resting paper orders (republished
  whenever they change), because a live feed contains our orders and the Engine takes
  its own out itself.

Bias, as in a replay: our orders have no market impact (the real crowd never sees
them), trade-throughs are optimistic and touches pessimistic; a trade that happened
only because the crowd's order was there may also fill us. The emulator sends a
trade before the book it changed; a venue that sends the book first makes the level's
shrinkage count twice against the size ahead of us (once as cancels, once as the
trade), which is optimistic too.

REST books refresh every ``resync_s`` (and release a held market), but one older, by
the venue's timestamp, than what the stream has already said does not replace the
stream's book: replaying a stale book could fake a trade-through.

Faults: a failed REST read, or the stream going down, is a ``VenueFault`` for the
market (all markets for the stream) and holds it: no book reaches the Engine or the
matching until a fresh REST read releases it, so the Engine stops quoting and nothing
fills on stale data. A failed read is never an empty book. A failed read at start-up
refuses the start.

Restarts (``--audit``): the model starts from the inventory the Engine recovered
(``holdings``), and every trade and venue order id carries this run's ``run_id``: the
model numbers from t1 in each run, and a recovered Engine would take a new t1 for a
duplicate of the old one and drop the fill.

Shutdown runs what is still in flight (commands arrive, reports are delivered), cancels
every resting paper order and delivers the reports at once, settlements included: the
summary's inventory is the paper truth, stamped up to a few seconds ahead.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import os
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
from attrs import field, frozen

from mmfsm.core.commands import Cancel, CancelAll, Command, Place
from mmfsm.core.config import MarketConfig
from mmfsm.core.events import OrderAcked, Trade, VenueFault
from mmfsm.core.ledger import MarketLedger
from mmfsm.core.ticks import PRICE_SCALE, GridError, Side, TickSize
from mmfsm.sim.crowd import sorted_levels
from mmfsm.sim.latency import Delivery, LatencyModel, Wire
from mmfsm.sim.schedule import Item, Kind, Scheduler
from mmfsm.sim.venue import Venue as MatchingModel
from mmfsm.sim.venue import VenueParams
from mmfsm.venues.base import (
    Emit,
    MarketInfo,
    ShutdownReport,
    StartupRefused,
    VenueError,
    VenueStatus,
    hold,
)
from mmfsm.venues.public import PublicData
from mmfsm.venues.startup import list_markets
from mmfsm.venues.stream import Stream, market_stream
from mmfsm.venues.wire import (
    TokenIndex,
    WireError,
    frames,
    parse_book,
    parse_last_trade,
    parse_price_change,
    parse_tick_change,
)

__all__ = ["PaperConfig", "PaperVenue", "fixed_latency", "paper_latency"]

log = logging.getLogger("mmfsm.venue.paper")

STREAM_DOWN = "market data stream down"
READ_FAILED = "book read failed"


def paper_latency() -> LatencyModel:
    """The simulator's latency model, minus its market-data delay: real data is late
    already by the time it arrives here."""
    return LatencyModel(market_ms=(0, 0))


def fixed_latency(ms: int) -> LatencyModel:
    """One fixed delay for every order, report and fill (``--paper-latency-ms``)."""
    return LatencyModel(
        place_ms=(ms, ms), cancel_ms=(ms, ms), response_ms=(ms, ms), fill_ms=(ms, ms),
        market_ms=(0, 0),
    )  # fmt: skip


@frozen(kw_only=True)
class PaperConfig:
    """Where the market data comes from, and the simulator's latency and seed."""

    host: str
    ws_url: str
    markets: tuple[MarketConfig, ...] = ()  # empty: every market the venue lists
    latency: LatencyModel = field(factory=paper_latency)
    seed: int = 0
    resync_s: float = 5.0
    ping_s: float = 5.0
    use_market_ws: bool = True  # off: REST books only (tests that feed frames by hand)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _timestamp(msg: dict[str, Any]) -> int | None:
    """The venue's millisecond timestamp of a message, None if absent or unreadable."""
    try:
        return int(str(msg["timestamp"]))
    except (KeyError, ValueError):
        return None


class PaperVenue:
    """A ``Venue`` that reads a real one and fills our orders in the simulator."""

    name = "paper"

    def __init__(
        self,
        config: PaperConfig,
        data: PublicData,
        *,
        holdings: Mapping[str, MarketLedger] | None = None,
    ) -> None:
        """``holdings``: the paper inventory an Engine recovered from a paper audit log;
        the model starts from a copy, so it can sell what the Engine believes it holds."""
        self.config = config
        self.data = data
        self.holdings = dict(holdings or {})
        # The model numbers its trades t1, t2, ... in every run; an Engine recovered from
        # an earlier paper run has seen those ids and would ignore new fills under them.
        self.run_id = f"paper-{_now_ms():x}{os.urandom(2).hex()}"
        self.markets: list[MarketInfo] = []
        self.index = TokenIndex([])
        self.sched = Scheduler(_now_ms())
        self.wire = Wire(self.sched, config.latency, config.seed)
        self.model = MatchingModel(
            VenueParams(latency=config.latency), self.wire, self.sched, config.seed
        )
        self.books: dict[str, tuple[dict[int, int], dict[int, int]]] = {}  # raw, per token
        self.stamps: dict[str, int] = {}  # venue timestamp of each token's newest data
        self.holds: dict[str, set[str]] = {}
        self.received: Counter[str] = Counter()  # commands that reached the model, by type
        self.market_trades = 0  # last_trade_price messages run through the model
        self._emit: Emit = lambda _e: None
        self._tasks: list[asyncio.Task[Any]] = []
        self._wake = asyncio.Event()
        self._stream: Stream | None = None

    # ------------------------------------------------------------------ start

    async def start(self, emit: Emit) -> list[MarketInfo]:
        self._emit = emit
        try:
            self.markets, books = await list_markets(self.data, self.config.markets)
        except (VenueError, StartupRefused) as err:
            await self.data.close()
            if isinstance(err, StartupRefused):
                raise
            raise StartupRefused(
                f"cannot read the venue's markets at start-up ({err}); not starting"
            ) from None
        self.index = TokenIndex(self.markets)
        now = self._now()
        for m in self.markets:
            vm = self.model.list_market(now, m.key, m.yes_token, m.no_token, m.tick, m.min_size)
            held = self.holdings.get(m.key)
            if held is not None and (held.yes_token, held.no_token) == (vm.yes, vm.no):
                vm.ledger = copy.deepcopy(held)
        for book in books:
            self._on_message(book, from_rest=True)
        self._run_due(self._now())
        self._tasks += [
            asyncio.create_task(self._pump()),
            asyncio.create_task(self._resync_loop()),
        ]
        if not self.config.use_market_ws:
            return self.markets
        self._stream = market_stream(
            self.config.ws_url,
            lambda: sorted(self.index.by_token),
            on_text=self.on_market_text,
            on_up=lambda: self._spawn(self._refresh_all()),
            on_down=lambda reason: self._fault(None, STREAM_DOWN),
            ping_s=self.config.ping_s,
        )
        self._tasks.append(asyncio.create_task(self._stream.run()))
        return self.markets

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.append(task)
        task.add_done_callback(lambda t: self._tasks.remove(t) if t in self._tasks else None)

    # ------------------------------------------------------------------ the simulated side

    def _now(self) -> int:
        """Wall-clock ms, never before the scheduler's (it refuses the past)."""
        return max(_now_ms(), self.sched.now_ms)

    def submit(self, commands: Sequence[Command]) -> None:
        now = self._now()
        for command in commands:
            if isinstance(command, (Place, Cancel, CancelAll)):
                self.wire.to_venue(now, command)
        self._wake.set()

    def _run(self, item: Item) -> None:
        if item.kind is Kind.DELIVER:
            delivery: Delivery = item.payload
            event = delivery.event
            if isinstance(event, Trade):
                event = attrs.evolve(event, trade_id=f"{self.run_id}-{event.trade_id}")
            elif isinstance(event, OrderAcked):
                event = attrs.evolve(event, venue_id=f"{self.run_id}-{event.venue_id}")
            self._emit(event)
        elif item.kind is Kind.VENUE:
            command: Command = item.payload
            self.received[type(command).__name__] += 1
            before = self._resting()
            self.model.arrive(item.time_ms, command)
            after = self._resting()
            for market in sorted(k for k in after if before.get(k) != after[k]):
                self.model.publish(item.time_ms, market)  # the feed shows our orders
        else:
            item.payload(item.time_ms)

    def _run_due(self, now: int) -> None:
        while (due := self.sched.peek_time()) is not None and due <= now:
            self._run(self.sched.pop())

    def _drain(self) -> None:
        while len(self.sched):
            self._run(self.sched.pop())

    async def _pump(self) -> None:
        """Run what is due, then sleep until the next item or a wake-up.

        The sleep is a timer that sets the wake-up event, not ``asyncio.wait_for``: on
        Python 3.11 a ``wait_for`` whose wait ends as the task is cancelled can swallow
        the cancellation, and a pump that ignores its cancel hangs the shutdown.
        """
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            self._run_due(self._now())
            due = self.sched.peek_time()
            wait = 0.25 if due is None else min(0.25, max(0.0, (due - _now_ms()) / 1000))
            timer = loop.call_later(wait, self._wake.set)
            try:
                await self._wake.wait()
            finally:
                timer.cancel()

    def _resting(self) -> dict[str, tuple[tuple[int, int], ...]]:
        """Our resting paper orders per market: (sequence, remaining size) of each."""
        return {
            key: tuple(sorted((o.seq, o.remaining) for o in vm.orders.values()))
            for key, vm in self.model.markets.items()
        }

    def _fills(self) -> int:
        return len(self.model.fills)

    # ------------------------------------------------------------------ market data in

    def on_market_text(self, text: str) -> None:
        """One frame of the market channel (the stream's callback; tests feed it too)."""
        try:
            messages = frames(text)
        except WireError as err:
            log.warning("market channel: %s", err)
            return
        for msg in messages:
            self._on_message(msg, from_rest=False)
        self._wake.set()

    def _stamp(self, msg: dict[str, Any], tokens: Sequence[str]) -> None:
        stamp = _timestamp(msg)
        for token in tokens:
            if stamp is not None and stamp > self.stamps.get(token, 0):
                self.stamps[token] = stamp

    def _on_message(self, msg: dict[str, Any], *, from_rest: bool) -> None:
        now = self._now()
        kind = msg.get("event_type")
        try:
            if kind == "book":
                snap = parse_book(msg, self.index, now)
                if snap is not None:
                    stamp = _timestamp(msg)
                    if from_rest and stamp is not None and stamp < self.stamps.get(snap.token, 0):
                        # A REST answer older than what the stream already told us: keep
                        # the newer book (a stale one could fake a trade-through).
                        self._book_changed(now, snap.market, snap.token, from_rest=True)
                        return
                    self._stamp(msg, [snap.token])
                    self.books[snap.token] = (dict(snap.bids), dict(snap.asks))
                    self._book_changed(now, snap.market, snap.token, from_rest=from_rest)
            elif kind == "price_change":
                changes = parse_price_change(msg, self.index, now)
                self._stamp(msg, [c.token for c in changes])
                for change in changes:
                    book = self.books.get(change.token)
                    if book is None:
                        continue  # no snapshot yet: a delta alone is not a book
                    for side, price, size in change.changes:
                        levels = book[0] if side is Side.BUY else book[1]
                        if size > 0:
                            levels[price] = size
                        else:
                            levels.pop(price, None)
                    self._book_changed(now, change.market, change.token, from_rest=False)
            elif kind == "tick_size_change":
                tick = parse_tick_change(msg, self.index, now)
                if tick is not None:
                    self.model.set_tick(now, tick.market, tick.tick)
            elif kind == "last_trade_price":
                self._on_last_trade(msg, now)
        except WireError as err:
            log.warning("market channel message dropped: %s", err)

    def _book_changed(self, now: int, market: str, token: str, *, from_rest: bool) -> None:
        if self.holds.get(market) and not from_rest:
            return  # held: nothing reaches the Engine or the matching until a fresh read
        book = self.books.get(token)
        if book is None:
            return
        fills = self._fills()
        self.model.replay_book(
            now,
            market,
            token,
            sorted_levels(book[0], bids=True),
            sorted_levels(book[1], bids=False),
        )
        self.model.publish(now, market, None if self._fills() != fills else token)

    def _on_last_trade(self, msg: dict[str, Any], now: int) -> None:
        trade = parse_last_trade(msg, self.index)
        if trade is None or self.holds.get(trade.market):
            return
        vm = self.model.markets[trade.market]
        is_yes = trade.token == vm.yes
        yes_price = trade.price if is_yes else PRICE_SCALE - trade.price
        bid, ask = vm.crowd.best_bid, vm.crowd.best_ask
        if ask is not None and yes_price >= ask:
            buys = True
        elif bid is not None and yes_price <= bid:
            buys = False
        else:
            buys = (trade.side is Side.BUY) == is_yes
        self.market_trades += 1
        fills = self._fills()
        self.model.take(now, trade.market, buys=buys, size=trade.size, limit=yes_price)
        if self._fills() != fills:
            self.model.publish(now, trade.market)

    # ------------------------------------------------------------------ faults, refresh

    def _fault(self, market: MarketInfo | None, reason: str) -> None:
        """Emit a VenueFault and hold the market(s) until a fresh read releases them."""
        if hold(self.holds, self.markets if market is None else [market], reason):
            # On the market channel, behind any book already on its way: a book sent
            # before the fault must not reach the Engine after it and clear it.
            now = self._now()
            fault = VenueFault(
                ts_ms=now, what=reason, market=None if market is None else market.key
            )
            self.wire.to_strategy(now, "market", fault)
            self._wake.set()

    async def _resync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.resync_s)
            await self._refresh_all()

    async def _refresh_all(self) -> None:
        for m in self.markets:
            await self._refresh(m)
        self._wake.set()

    async def _refresh(self, market: MarketInfo) -> None:
        """Read both books by REST; success releases the read hold (and the stream's,
        when the stream is up) and republishes; failure holds the market."""
        try:
            books = [await self.data.book(t) for t in (market.yes_token, market.no_token)]
        except VenueError as err:
            if READ_FAILED not in self.holds.get(market.key, set()):
                log.warning("book read of %s failed (%s); market held", market.key, err)
            self._fault(market, READ_FAILED)
            return
        held = self.holds.setdefault(market.key, set())
        held.discard(READ_FAILED)
        if self._stream is None or self._stream.state == "up":
            held.discard(STREAM_DOWN)
        if held:
            return
        for book in books:
            book["event_type"] = "book"
            self._on_message(book, from_rest=True)
            try:
                tick = TickSize.parse(str(book.get("tick_size")))
            except GridError:
                continue
            self.model.set_tick(self._now(), market.key, tick)

    # ------------------------------------------------------------------ status, stop

    def status(self) -> VenueStatus:
        return VenueStatus(
            open_orders=sum(len(vm.orders) for vm in self.model.markets.values()),
            market_ws=self._stream.state if self._stream is not None else "off",
            user_ws="paper",
            heartbeat="paper",
            fills=self._fills(),
        )

    async def _stop_tasks(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        await self.data.close()

    async def shutdown(self) -> ShutdownReport:
        await self._stop_tasks()
        self._drain()  # commands in flight arrive, reports in flight are delivered
        resting = sum(len(vm.orders) for vm in self.model.markets.values())
        self.model.arrive(self.sched.now_ms, CancelAll(reason="shutdown"))
        self._drain()
        left = sum(len(vm.orders) for vm in self.model.markets.values())
        return ShutdownReport(cancelled=resting - left, still_open=left)

    async def abort(self) -> None:
        await self._stop_tasks()
