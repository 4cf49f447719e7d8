"""The simulated venue: executes the strategy's commands against a generated or recorded market.

Theory of operation
-------------------
One ``Venue`` serves one strategy (mmfsm or the baseline; each run gets its own, so
their orders never meet). Per market it holds the crowd's book (``crowd``, YES terms),
our resting orders with their queue positions (``queue``), and the truth about our
inventory: a ``MarketLedger`` fed with every trade the moment it matches, whatever the
strategy has been told so far. Its rules, each modelled on Polymarket's CLOB:

* Price-time priority. A taker (generated flow) sweeps the opposite side best price
  first; inside a level it trades the size ahead of our order, then our order, then the
  rest. Our fills are at our limit price (we are the maker). A recorded replay has no
  takers: fills are inferred from the next book (``replay_book``).
* Orders are checked in this order, each a reject with a reason: market closed (OTHER),
  size below the market's minimum (MIN_SIZE), price off the venue's current tick grid
  or outside [tick, 1 - tick] (TICK), selling more tokens than held minus what resting
  sells already reserve (BALANCE), post-only that would cross any resting order,
  ours included (POST_ONLY). A FAK order takes the crowd's liquidity up to its limit
  and the rest expires; a GTC order rests at the back of its level.
* Trades are MATCHED at once and settle ``confirm_ms`` later as CONFIRMED, or FAILED
  with probability ``failed_rate``; a FAILED trade is reversed in the truth ledger.
* A Cancel for a resting order ends it (``OrderCancelled`` with the matched size); one
  for an order that is already gone gets a confirmation only if it ended unfilled or
  partly filled (a fully matched order is reported by its trades), as a live adapter
  reports a "not canceled: matched" answer. CancelAll ends every resting order.
* Outages (``Outage``): a command reaching the venue inside an outage window fails. With
  probability ``error_share`` it is an HTTP 5xx: the strategy gets a ``VenueFault`` and,
  for a Place, a reject (the order does not exist); a cancel is retried by the adapter
  when the outage ends. Otherwise it times out: a ``VenueFault`` after ``timeout_ms``,
  and the command is executed when the outage ends (a late ack).

Randomness (FAILED trades, outage outcomes) comes from the venue's own seeded
generator; latency from the wire's. Market data is published by ``publish``: the crowd
plus our resting orders (``show_own_orders``), because the book a live bot receives
contains its own orders; the YES snapshot carries the crowd's own spread for INV-GAP.
"""

from __future__ import annotations

import bisect
import random
from collections import Counter

from attrs import define, field, frozen

from mmfsm.audit.encode import remember_levels
from mmfsm.core.commands import Cancel, CancelAll, Command, Place, TimeInForce
from mmfsm.core.events import (
    BookSnapshot,
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
from mmfsm.core.ledger import MarketLedger
from mmfsm.core.ticks import PRICE_SCALE, Side, TickSize
from mmfsm.sim.crowd import CrowdBook, Levels, mirror, sorted_levels
from mmfsm.sim.latency import LatencyModel, Wire
from mmfsm.sim.queue import QUEUE_POWER, ahead_after_decrease, ahead_after_trade
from mmfsm.sim.schedule import Kind, Scheduler

__all__ = ["FillRecord", "Outage", "Venue", "VenueMarket", "VenueOrder", "VenueParams"]


@frozen(kw_only=True)
class Outage:
    """A window of the order API's failures, simulated milliseconds ``[start, end)``."""

    start_ms: int
    end_ms: int
    error_share: float = 0.5
    timeout_ms: int = 2_000


@frozen(kw_only=True)
class VenueParams:
    latency: LatencyModel = field(factory=LatencyModel)
    failed_rate: float = 0.0
    outages: tuple[Outage, ...] = ()
    show_own_orders: bool = True
    queue_power: int = QUEUE_POWER


@define(slots=True)
class VenueOrder:
    place: Place
    is_bid: bool  # YES terms: a fill adds long delta (BUY YES or SELL NO)
    yes_price: int
    remaining: int
    seq: int
    matched: int = 0
    ahead: int = 0
    level_seen: int = 0
    resting: bool = False
    ended: bool = False  # its end (reject, cancel, expiry) was reported
    placed_ms: int = 0
    gone_ms: int | None = None  # when it stopped resting (cancelled or filled)


@define(slots=True)
class VenueMarket:
    market: str
    yes: str
    no: str
    tick: TickSize
    min_size: int
    ledger: MarketLedger
    crowd: CrowdBook = field(factory=CrowdBook)
    orders: dict[str, VenueOrder] = field(factory=dict)  # resting only
    closed: bool = False
    payout: int | None = None  # YES payout in price units once resolved
    last_mark: int | None = None
    recorded: dict[str, tuple[Levels, Levels]] = field(factory=dict)
    recorded_text: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = field(factory=dict)
    # (token, is_bids) -> (recorded side, our sizes on it, the published side, its text)
    published: dict[tuple[str, bool], tuple[Levels, dict[int, int], Levels, str]] = field(
        factory=dict
    )

    def side(
        self, token: str, bids: bool, levels: Levels, texts: tuple[str, ...], own: dict[int, int]
    ) -> Levels | None:
        """A replayed side as published (``_merged``); the very tuple published last time
        when neither the recorded side (the reader hands an unchanged side over as the same
        tuple) nor our sizes on it changed, so the strategy can compare sides by ``is``."""
        key = (token, bids)
        last = self.published.get(key)
        if last is not None and last[0] is levels and last[1] == own:
            remember_levels(last[2], last[3])
            return last[2]
        merged = _merged(levels, texts, own, bids=bids)
        if merged is None:
            return None
        self.published[key] = (levels, own, *merged)
        remember_levels(*merged)
        return merged[0]

    def mark(self) -> int | None:
        return self.mark_at(self.crowd.best_bid, self.crowd.best_ask)

    def mark_at(self, bid: int | None, ask: int | None) -> int | None:
        """``mark`` given the crowd's best bid and ask, for a caller that has them already:
        the payout once resolved, else the crowd's mid (``CrowdBook.mid``), else the last."""
        if self.payout is not None:
            return self.payout
        if bid is not None and ask is not None:
            self.last_mark = (bid + ask) // 2
        return self.last_mark

    def total_pnl(self, mark: int | None = None) -> int:
        """Realized plus open P&L at the mark (or the payout once resolved), money units;
        ``mark``, if given, is what ``mark()`` returns now."""
        if mark is None:
            mark = self.mark()
        return self.ledger.realized + (self.ledger.unrealized(mark) if mark is not None else 0)

    def resting_delta(self) -> tuple[int, int]:
        long = sum(o.remaining for o in self.orders.values() if o.is_bid)
        short = sum(o.remaining for o in self.orders.values() if not o.is_bid)
        return long, short


@define(slots=True)
class FillRecord:
    ts_ms: int
    market: str
    trade_id: str
    client_id: str
    delta: int  # signed YES-equivalent size
    yes_price: int
    failed: bool = False


class Venue:
    def __init__(self, params: VenueParams, wire: Wire, sched: Scheduler, seed: int) -> None:
        self.params = params
        self.wire = wire
        self.sched = sched
        self.rng = random.Random(f"venue-{seed}")
        self.markets: dict[str, VenueMarket] = {}
        self.orders: dict[str, VenueOrder] = {}  # every order that reached us
        self.fills: list[FillRecord] = []
        self.rejects: Counter[str] = Counter()
        self.faults = 0
        self._seq = 0
        self._trade_seq = 0

    # ------------------------------------------------------------------ market data

    def list_market(
        self,
        now: int,
        market: str,
        yes: str,
        no: str,
        tick: TickSize,
        min_size: int,
        end_ms: int | None = None,
    ) -> VenueMarket:
        vm = VenueMarket(
            market=market,
            yes=yes,
            no=no,
            tick=tick,
            min_size=min_size,
            ledger=MarketLedger(market=market, yes_token=yes, no_token=no),
        )
        self.markets[market] = vm
        self.wire.to_strategy(
            now,
            "market",
            MarketListed(
                ts_ms=now,
                market=market,
                yes_token=yes,
                no_token=no,
                tick=tick,
                min_size=min_size,
                end_ms=end_ms,
            ),
        )
        return vm

    def set_tick(self, now: int, market: str, tick: TickSize) -> None:
        vm = self.markets[market]
        if vm.tick is tick:
            return
        vm.tick = tick
        self.wire.to_strategy(
            now, "market", TickSizeChanged(ts_ms=now, market=market, token=vm.yes, tick=tick)
        )

    def _own_levels(self, vm: VenueMarket) -> tuple[dict[int, int], dict[int, int]]:
        bids: dict[int, int] = {}
        asks: dict[int, int] = {}
        if self.params.show_own_orders:
            for o in vm.orders.values():
                side = bids if o.is_bid else asks
                side[o.yes_price] = side.get(o.yes_price, 0) + o.remaining
        return bids, asks

    def publish(self, now: int, market: str, token: str | None = None) -> None:
        """Send the book(s) the strategy sees: crowd or recording, plus our resting orders."""
        vm = self.markets[market]
        own_bids, own_asks = self._own_levels(vm)
        for tok in (vm.yes, vm.no) if token is None else (token,):
            is_yes = tok == vm.yes
            add_bids, add_asks = (
                (own_bids, own_asks)
                if is_yes
                else (mirror(own_asks.items()), mirror(own_bids.items()))
            )
            if tok in vm.recorded:
                recorded = vm.recorded[tok]
                spread = _spread(recorded) if is_yes else None
                texts = vm.recorded_text.get(tok)
                if texts is not None:
                    fast_bids = vm.side(tok, True, recorded[0], texts[0], add_bids)
                    fast_asks = vm.side(tok, False, recorded[1], texts[1], add_asks)
                    if fast_bids is not None and fast_asks is not None:
                        at = self.wire.arrival("market", now)
                        snap = BookSnapshot(
                            ts_ms=at, market=market, token=tok, bids=fast_bids, asks=fast_asks
                        )
                        self.wire.deliver(at, snap, spread)
                        continue
                bids, asks = (dict(x) for x in recorded)
            else:
                yes_bids, yes_asks = vm.crowd.bids, vm.crowd.asks
                bids, asks = (
                    (dict(yes_bids), dict(yes_asks))
                    if is_yes
                    else (mirror(yes_asks.items()), mirror(yes_bids.items()))
                )
                spread = vm.crowd.spread() if is_yes else None
            for p, s in add_bids.items():
                bids[p] = bids.get(p, 0) + s
            for p, s in add_asks.items():
                asks[p] = asks.get(p, 0) + s
            snap = BookSnapshot(
                ts_ms=now,
                market=market,
                token=tok,
                bids=sorted_levels(bids, bids=True),
                asks=sorted_levels(asks, bids=False),
            )
            self.wire.to_strategy(now, "market", snap, crowd_spread=spread)

    # ------------------------------------------------------------------ commands

    def arrive(self, now: int, command: Command) -> bool:
        """A command reaches the venue; False if it was deferred (it will arrive again)."""
        outage = self._outage(now)
        if outage is not None:
            return self._fail(now, command, outage)
        if isinstance(command, Place):
            self._place(now, command)
        elif isinstance(command, Cancel):
            self._cancel(now, command.client_id)
        elif isinstance(command, CancelAll):
            resting = sorted(
                (o for vm in self.markets.values() for o in vm.orders.values()), key=lambda o: o.seq
            )
            for o in resting:
                self._cancel(now, o.place.client_id)
        return True

    def _outage(self, now: int) -> Outage | None:
        for o in self.params.outages:
            if o.start_ms <= now < o.end_ms:
                return o
        return None

    def _fail(self, now: int, command: Command, outage: Outage) -> bool:
        """Fail a command; returns whether it is done with (False: executed at the end)."""
        self.faults += 1
        kind = type(command).__name__
        market = None if isinstance(command, CancelAll) else command.market
        if self.rng.random() < outage.error_share:
            self.wire.to_strategy(
                now,
                "responses",
                VenueFault(
                    ts_ms=now, what=f"{kind} failed: HTTP 503 service unavailable", market=market
                ),
            )
            if isinstance(command, Place):
                self.wire.to_strategy(
                    now,
                    "responses",
                    OrderRejected(
                        ts_ms=now,
                        client_id=command.client_id,
                        reason=RejectReason.OTHER,
                        message="HTTP 503 service unavailable",
                    ),
                )
            else:  # the adapter retries a cancel: it is idempotent and it matters
                self.sched.push(outage.end_ms, Kind.VENUE, command)
            return isinstance(command, Place)
        fault = VenueFault(
            ts_ms=now, what=f"{kind} timed out after {outage.timeout_ms} ms", market=market
        )
        self.sched.push(
            now + outage.timeout_ms, Kind.CALL, lambda t: self.wire.to_strategy(t, "local", fault)
        )
        self.sched.push(outage.end_ms, Kind.VENUE, command)
        return False

    def _reject(self, now: int, place: Place, reason: RejectReason, message: str) -> None:
        self.rejects[reason.value] += 1
        self.orders[place.client_id].ended = True
        self.wire.to_strategy(
            now,
            "responses",
            OrderRejected(ts_ms=now, client_id=place.client_id, reason=reason, message=message),
        )

    def _place(self, now: int, p: Place) -> None:
        vm = self.markets.get(p.market)
        is_yes = vm is not None and p.token == vm.yes
        is_bid = (p.side is Side.BUY) == is_yes
        yes_price = p.price if is_yes else PRICE_SCALE - p.price
        self._seq += 1
        order = VenueOrder(
            place=p,
            is_bid=is_bid,
            yes_price=yes_price,
            remaining=p.size,
            seq=self._seq,
            placed_ms=now,
        )
        self.orders[p.client_id] = order
        if vm is None or vm.closed or p.token not in (vm.yes, vm.no):
            self._reject(now, p, RejectReason.OTHER, "market closed or unknown")
            return
        t = int(vm.tick)
        if p.size < vm.min_size:
            self._reject(now, p, RejectReason.MIN_SIZE, f"size below minimum {vm.min_size}")
            return
        if p.price % t or not t <= p.price <= PRICE_SCALE - t:
            self._reject(now, p, RejectReason.TICK, f"price breaks tick size {vm.tick}")
            return
        if p.side is Side.SELL:
            held = vm.ledger.yes_held if is_yes else vm.ledger.no_held
            reserved = sum(
                o.remaining
                for o in vm.orders.values()
                if o.place.token == p.token and o.place.side is Side.SELL
            )
            if p.size > held - reserved:
                self._reject(now, p, RejectReason.BALANCE, "not enough balance / allowance")
                return
        crosses = self._crosses(vm, order)
        if p.post_only and crosses:
            self._reject(
                now, p, RejectReason.POST_ONLY, "invalid post-only order: order crosses book"
            )
            return
        self.wire.to_strategy(
            now, "responses", OrderAcked(ts_ms=now, client_id=p.client_id, venue_id=f"v{order.seq}")
        )
        if crosses:
            self._sweep_crowd(now, vm, order)
        if p.tif in (TimeInForce.FAK, TimeInForce.FOK):
            order.ended = True
            self.wire.to_strategy(
                now,
                "responses",
                OrderExpired(ts_ms=now, client_id=p.client_id, size_matched=order.matched),
            )
            return
        if order.remaining > 0:
            order.resting = True
            order.ahead = order.level_seen = vm.crowd.size_at(is_bid, yes_price)
            vm.orders[p.client_id] = order

    @staticmethod
    def _crosses(vm: VenueMarket, order: VenueOrder) -> bool:
        opposite = [o.yes_price for o in vm.orders.values() if o.is_bid != order.is_bid]
        # The best of the crowd's side, then of it and ours: the best of the union.
        if order.is_bid:
            crowd = min(vm.crowd.asks, default=None)
            if crowd is not None:
                opposite.append(crowd)
            best = min(opposite, default=None)
            return best is not None and order.yes_price >= best
        crowd = max(vm.crowd.bids, default=None)
        if crowd is not None:
            opposite.append(crowd)
        best = max(opposite, default=None)
        return best is not None and order.yes_price <= best

    def _sweep_crowd(self, now: int, vm: VenueMarket, order: VenueOrder) -> None:
        """Take the crowd's liquidity up to the order's limit (no self-trade with ours)."""
        side = vm.crowd.side(not order.is_bid)
        for price in sorted(side, reverse=not order.is_bid):
            if order.remaining == 0:
                break
            if (order.is_bid and price > order.yes_price) or (
                not order.is_bid and price < order.yes_price
            ):
                break
            size = min(side[price], order.remaining)
            side[price] -= size
            if side[price] == 0:
                del side[price]
            self._fill(now, vm, order, size, price)

    def _cancel(self, now: int, client_id: str) -> None:
        order = self.orders.get(client_id)
        if order is None:
            return
        vm = self.markets[order.place.market]
        if order.resting:
            order.resting = False
            order.gone_ms = now
            del vm.orders[client_id]
        elif order.ended or order.matched >= order.place.size:
            return  # already reported ended, or fully matched (its trades say so)
        order.ended = True
        self.wire.to_strategy(
            now,
            "responses",
            OrderCancelled(ts_ms=now, client_id=client_id, size_matched=order.matched),
        )

    # ------------------------------------------------------------------ fills

    def _fill(
        self, now: int, vm: VenueMarket, order: VenueOrder, size: int, yes_price: int
    ) -> None:
        p = order.place
        price = yes_price if p.token == vm.yes else PRICE_SCALE - yes_price
        self._trade_seq += 1
        trade = Trade(
            ts_ms=now,
            trade_id=f"t{self._trade_seq}",
            client_id=p.client_id,
            market=p.market,
            token=p.token,
            side=p.side,
            price=price,
            size=size,
            status=TradeStatus.MATCHED,
        )
        order.remaining -= size
        order.matched += size
        if order.remaining == 0 and order.resting:
            order.resting = False
            order.gone_ms = now
            del vm.orders[p.client_id]
        vm.ledger.apply(trade)
        self.fills.append(
            FillRecord(
                ts_ms=now,
                market=vm.market,
                trade_id=trade.trade_id,
                client_id=p.client_id,
                delta=size if order.is_bid else -size,
                yes_price=yes_price,
            )
        )
        record = self.fills[-1]
        self.wire.to_strategy(now, "fills", trade)
        self.sched.push(
            now + self.wire.confirm_delay(),
            Kind.CALL,
            lambda t: self._settle(t, vm, order, trade, record),
        )

    def _settle(
        self, now: int, vm: VenueMarket, order: VenueOrder, trade: Trade, record: FillRecord
    ) -> None:
        failed = self.params.failed_rate > 0 and self.rng.random() < self.params.failed_rate
        status = TradeStatus.FAILED if failed else TradeStatus.CONFIRMED
        final = Trade(
            ts_ms=now,
            trade_id=trade.trade_id,
            client_id=trade.client_id,
            market=trade.market,
            token=trade.token,
            side=trade.side,
            price=trade.price,
            size=trade.size,
            status=status,
        )
        if failed:
            vm.ledger.apply(final)
            order.matched -= trade.size
            record.failed = True
        self.wire.to_strategy(now, "fills", final)

    def take(self, now: int, market: str, *, buys: bool, size: int, limit: int) -> int:
        """A taker of the crowd trades ``size`` against the book (ours included) to ``limit``.

        ``buys`` in YES terms: a buyer lifts asks from the lowest up to ``limit``.
        Returns the size traded.
        """
        vm = self.markets[market]
        side = vm.crowd.side(not buys)
        ours = [o for o in vm.orders.values() if o.is_bid != buys]
        prices = set(side) | {o.yes_price for o in ours}
        left = size
        for price in sorted(prices, reverse=not buys):
            if left == 0 or (buys and price > limit) or (not buys and price < limit):
                break
            crowd = side.get(price, 0)
            taken = 0  # crowd size consumed at this level
            at_level = sorted((o for o in ours if o.yes_price == price), key=lambda o: o.seq)
            for o in at_level:
                front = max(0, min(o.ahead, crowd) - taken)
                step = min(left, front)
                taken += step
                left -= step
                if left == 0:
                    break
                got = min(left, o.remaining)
                self._fill(now, vm, o, got, price)
                left -= got
            step = min(left, crowd - taken)
            taken += step
            left -= step
            if crowd:
                if crowd - taken:
                    side[price] = crowd - taken
                else:
                    del side[price]
            for o in at_level:
                o.ahead = ahead_after_trade(o.ahead, taken)
                o.level_seen = side.get(price, 0)
        return size - left

    def requeue(self, now: int, market: str) -> None:
        """The crowd's book changed without trades we matched: move our queues, and fill
        any order the crowd's book now reaches (the opposite side at or through our price)."""
        vm = self.markets[market]
        best_bid, best_ask = vm.crowd.best_bid, vm.crowd.best_ask
        for o in sorted(vm.orders.values(), key=lambda o: o.seq):
            through = (
                (best_ask is not None and best_ask <= o.yes_price)
                if o.is_bid
                else (best_bid is not None and best_bid >= o.yes_price)
            )
            if through:
                self._fill(now, vm, o, o.remaining, o.yes_price)
                continue
            level = vm.crowd.size_at(o.is_bid, o.yes_price)
            o.ahead = ahead_after_decrease(o.ahead, o.level_seen, level, self.params.queue_power)
            o.level_seen = level

    def replay_book(
        self,
        now: int,
        market: str,
        token: str,
        bids: Levels,
        asks: Levels,
        texts: tuple[tuple[str, ...], tuple[str, ...]] | None = None,
    ) -> bool:
        """A recorded snapshot of one token. The YES token's replaces the crowd and drives the
        fill inference; a crossed or locked record is published but never matched against.
        ``texts``, if the reader vouches that both sides are canonical (best first, distinct
        prices, sizes above 0), are their levels' JSON texts: the book is then published
        without re-sorting, and with its text for the audit log. Returns whether the
        snapshot was used for matching."""
        vm = self.markets[market]
        vm.recorded[token] = (bids, asks)
        if texts is None:
            vm.recorded_text.pop(token, None)
        else:
            vm.recorded_text[token] = texts
        if token != vm.yes:
            return False
        if bids and asks and bids[0][0] >= asks[0][0]:
            return False
        crowd = CrowdBook()
        crowd.bids, crowd.asks = dict(bids), dict(asks)  # one copy each, not two
        vm.crowd = crowd
        self.requeue(now, market)
        return True

    def resolve(self, now: int, market: str, payout: int) -> None:
        """The market's window ended: cancel what rests, settle inventory at the payout."""
        vm = self.markets[market]
        for o in sorted(vm.orders.values(), key=lambda o: o.seq):
            self._cancel(now, o.place.client_id)
        vm.closed = True
        vm.payout = payout


def _merged(
    levels: Levels, texts: tuple[str, ...], own: dict[int, int], *, bids: bool
) -> tuple[Levels, str] | None:
    """A canonical recorded side with our resting size added, as ``sorted_levels`` of the
    summed dict would give it (None when ours is not a positive size), and its JSON text
    for the audit writer. Our one or two levels go in by bisection; the recorded side is
    not rebuilt, and is returned as it is when we have nothing on it."""
    if not own:
        return levels, "[" + ",".join(texts) + "]"
    out = list(levels)
    text = list(texts)
    for price, size in own.items():
        if size <= 0:
            return None
        # The first level at or beyond our price, best first (what ``bisect_left`` keyed
        # by price, or minus price for bids, finds in a side with distinct prices). Asks
        # ascend: (price,) sorts before every (price, size) and after every lower price,
        # so a plain bisect on the levels finds it without a key call a probe. Bids
        # descend: a walk from the top, where our bid almost always is.
        if bids:
            i, n = 0, len(out)
            while i < n and out[i][0] > price:
                i += 1
        else:
            i = bisect.bisect_left(out, (price,))
        if i < len(out) and out[i][0] == price:
            size += out[i][1]
            out[i] = (price, size)
            text[i] = f"[{price},{size}]"
        else:
            out.insert(i, (price, size))
            text.insert(i, f"[{price},{size}]")
    return tuple(out), "[" + ",".join(text) + "]"


def _spread(levels: tuple[Levels, Levels]) -> int | None:
    bids, asks = levels
    if not bids or not asks:
        return None
    return asks[0][0] - bids[0][0]
