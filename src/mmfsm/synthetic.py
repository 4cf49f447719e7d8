"""A built-in synthetic venue: random-walk books and taker flow, for ``mmfsm run``.

Why it exists: ``mmfsm run`` must trade out of the box, with no credentials and no
network, and until the embedded CLOB emulator lands this in-process venue is what it
trades against. It is deliberately simple and deterministic for a seed:

* each market's fair YES price takes a Gaussian random-walk step every second; the book
  is rebuilt around it with a spread of one to three ticks and random depth, and now and
  then (``gap_probability``) the spread blows out to 0.80 for a few seconds (news);
* a taker trades each second with some probability, at the fair price plus noise, on a
  random side; a resting order of ours fills (MATCHED now, CONFIRMED a second later) when
  the taker's price reaches it. There is no queue model here: that is the simulator's
  job (``mmfsm simulate``);
* a post-only order that would cross is rejected; a FAK order fills against the book up
  to its worst price and the rest expires; acks and cancels are immediate. A cancel of
  an order no longer resting (fully matched, or ended) gets no answer, as the CLOB's
  ``not_canceled`` reply becomes no event in the adapter: the trades already ended it.

Everything it produces is an Engine event; it reads no clock.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from attrs import define, field

from mmfsm.core.commands import Cancel, CancelAll, Command, Place, TimeInForce
from mmfsm.core.events import (
    BookSnapshot,
    Event,
    MarketListed,
    OrderAcked,
    OrderCancelled,
    OrderExpired,
    OrderRejected,
    RejectReason,
    Trade,
    TradeStatus,
)
from mmfsm.core.ticks import PRICE_SCALE, SIZE_SCALE, Side, TickSize

__all__ = ["SyntheticVenue", "synthetic_identity"]


@define
class _Market:
    market: str
    yes: str
    no: str
    fair: float
    tick: TickSize = TickSize.CENT
    gap_left: int = 0
    bid: int = 0
    ask: int = 0


@define
class _Resting:
    place: Place
    filled: int = 0


def synthetic_identity(*, seed: int, markets: int) -> str:
    """The venue a synthetic run trades on, as its audit log records it: the same seed and
    number of markets make the same venue, whose log a later run may recover."""
    return f"synthetic venue seed={seed} markets={markets}"


@define
class SyntheticVenue:
    seed: int = 7
    n_markets: int = 3
    vol_per_s: float = 0.002
    taker_probability: float = 0.6
    gap_probability: float = 0.002
    rng: random.Random = field(init=False)
    markets: dict[str, _Market] = field(init=False, factory=dict)
    resting: dict[str, _Resting] = field(init=False, factory=dict)
    pending_confirms: list[Trade] = field(init=False, factory=list)
    trade_seq: int = field(init=False, default=0)

    def __attrs_post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        for i in range(self.n_markets):
            name = f"synthetic-{i + 1}"
            self.markets[name] = _Market(
                market=name, yes=f"{name}-yes", no=f"{name}-no", fair=self.rng.uniform(0.3, 0.7)
            )

    # ------------------------------------------------------------------ market data

    def listing(self, ts_ms: int) -> list[Event]:
        out: list[Event] = []
        for m in self.markets.values():
            out.append(
                MarketListed(
                    ts_ms=ts_ms,
                    market=m.market,
                    yes_token=m.yes,
                    no_token=m.no,
                    tick=m.tick,
                    min_size=5 * SIZE_SCALE,
                )
            )
            out.append(self._snapshot(m, ts_ms))
        return out

    def _snapshot(self, m: _Market, ts_ms: int) -> BookSnapshot:
        t = int(m.tick)
        fair = int(m.fair * PRICE_SCALE)
        half = 4000 if m.gap_left > 0 else t * self.rng.randint(1, 2)
        bid = max(t, (fair - half) // t * t)
        ask = min(PRICE_SCALE - t, -((-(fair + half)) // t) * t)
        if ask <= bid:
            ask = bid + t
        m.bid, m.ask = bid, ask
        bids = tuple(
            (bid - i * t, self.rng.randint(20, 400) * SIZE_SCALE)
            for i in range(5)
            if bid - i * t >= t
        )
        asks = tuple(
            (ask + i * t, self.rng.randint(20, 400) * SIZE_SCALE)
            for i in range(5)
            if ask + i * t <= PRICE_SCALE - t
        )
        # Our own resting orders are on the book, as on a real venue (the Engine takes
        # them off again to see the others' market); a crowd that moved through one of
        # them simply hides it here, since fills come only from the taker flow.
        book_bids, book_asks = dict(bids), dict(asks)
        for rest in self.resting.values():
            p = rest.place
            if p.market != m.market:
                continue
            yes_price = p.price if p.token == m.yes else PRICE_SCALE - p.price
            size = p.size - rest.filled
            if (p.side is Side.BUY) == (p.token == m.yes):
                if yes_price < ask:
                    book_bids[yes_price] = book_bids.get(yes_price, 0) + size
            elif yes_price > bid:
                book_asks[yes_price] = book_asks.get(yes_price, 0) + size
        return BookSnapshot(
            ts_ms=ts_ms,
            market=m.market,
            token=m.yes,
            bids=tuple(sorted(book_bids.items(), reverse=True)),
            asks=tuple(sorted(book_asks.items())),
        )

    def second(self, ts_ms: int) -> list[Event]:
        """One second of market life: confirmations, price moves, taker flow."""
        out: list[Event] = [
            Trade(
                ts_ms=ts_ms,
                trade_id=t.trade_id,
                client_id=t.client_id,
                market=t.market,
                token=t.token,
                side=t.side,
                price=t.price,
                size=t.size,
                status=TradeStatus.CONFIRMED,
            )
            for t in self.pending_confirms
        ]
        self.pending_confirms = []
        for m in self.markets.values():
            m.fair = min(0.97, max(0.03, m.fair + self.rng.gauss(0.0, self.vol_per_s)))
            if m.gap_left > 0:
                m.gap_left -= 1
            elif self.rng.random() < self.gap_probability:
                m.gap_left = self.rng.randint(3, 10)
            out.append(self._snapshot(m, ts_ms))
            if self.rng.random() < self.taker_probability:
                out += self._taker(m, ts_ms)
        return out

    def _taker(self, m: _Market, ts_ms: int) -> list[Event]:
        """A taker sweeps to a price near fair; our orders at or through it fill."""
        price = int((m.fair + self.rng.gauss(0.0, 0.01)) * PRICE_SCALE)
        taker_sells = self.rng.random() < 0.5
        out: list[Event] = []
        for cid, rest in sorted(self.resting.items()):
            p = rest.place
            if p.market != m.market:
                continue
            yes_price = p.price if p.token == m.yes else PRICE_SCALE - p.price
            buys_yes = (p.side is Side.BUY) == (p.token == m.yes)
            hit = (buys_yes and taker_sells and price <= yes_price) or (
                not buys_yes and not taker_sells and price >= yes_price
            )
            if not hit:
                continue
            size = min(p.size - rest.filled, self.rng.randint(5, 20) * SIZE_SCALE)
            out.append(self._fill(p, size, ts_ms))
            rest.filled += size
            if rest.filled >= p.size:
                del self.resting[cid]
        return out

    def _fill(self, p: Place, size: int, ts_ms: int) -> Trade:
        self.trade_seq += 1
        trade = Trade(
            ts_ms=ts_ms,
            trade_id=f"syn-{self.trade_seq}",
            client_id=p.client_id,
            market=p.market,
            token=p.token,
            side=p.side,
            price=p.price,
            size=size,
            status=TradeStatus.MATCHED,
        )
        self.pending_confirms.append(trade)
        return trade

    # ------------------------------------------------------------------ orders

    def execute(self, commands: Iterable[Command], ts_ms: int) -> list[Event]:
        out: list[Event] = []
        for cmd in commands:
            if isinstance(cmd, Place):
                out += self._place(cmd, ts_ms)
            elif isinstance(cmd, Cancel):
                # An order we no longer hold was fully matched (its trades said so) or
                # already ended: Polymarket answers "not_canceled" ("order already
                # matched", "order not found") and the adapter reports nothing for it.
                rest = self.resting.pop(cmd.client_id, None)
                if rest is not None:
                    out.append(
                        OrderCancelled(
                            ts_ms=ts_ms, client_id=cmd.client_id, size_matched=rest.filled
                        )
                    )
            elif isinstance(cmd, CancelAll):
                for cid, rest in sorted(self.resting.items()):
                    out.append(OrderCancelled(ts_ms=ts_ms, client_id=cid, size_matched=rest.filled))
                self.resting.clear()
        return out

    def _place(self, p: Place, ts_ms: int) -> list[Event]:
        m = self.markets.get(p.market)
        if m is None or p.token not in (m.yes, m.no):
            # As a venue answers an order for a market or token it does not list.
            return [
                OrderRejected(
                    ts_ms=ts_ms,
                    client_id=p.client_id,
                    reason=RejectReason.OTHER,
                    message=f"market not found: {p.market} / {p.token}",
                )
            ]
        yes_price = p.price if p.token == m.yes else PRICE_SCALE - p.price
        buys_yes = (p.side is Side.BUY) == (p.token == m.yes)
        crosses = yes_price >= m.ask if buys_yes else yes_price <= m.bid
        if p.tif is TimeInForce.FAK:
            out: list[Event] = [OrderAcked(ts_ms=ts_ms, client_id=p.client_id)]
            filled = 0
            if crosses and m.gap_left == 0:
                filled = p.size
                out.append(self._fill(p, p.size, ts_ms))
            out.append(OrderExpired(ts_ms=ts_ms, client_id=p.client_id, size_matched=filled))
            return out
        if p.post_only and crosses:
            return [
                OrderRejected(
                    ts_ms=ts_ms,
                    client_id=p.client_id,
                    reason=RejectReason.POST_ONLY,
                    message="invalid post-only order: order crosses book",
                )
            ]
        self.resting[p.client_id] = _Resting(place=p)
        return [OrderAcked(ts_ms=ts_ms, client_id=p.client_id, venue_id=f"v-{p.client_id}")]
