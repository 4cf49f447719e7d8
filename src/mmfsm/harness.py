"""A small driver for the Engine: builds events with sane defaults, as a venue would.

Why it exists: tests, scenarios and the invariant suite all need to say "the book is
0.48/0.52", "ack everything", "fill that bid for 5" without spelling out every field,
and they must all mean the same thing by it. Like h11's client/server pair, it feeds
events and hands back the commands that came out; it never decides anything itself.
"""

from __future__ import annotations

from collections.abc import Sequence

from mmfsm.core.commands import Cancel, CancelAll, Command, Place
from mmfsm.core.config import Config, default_config
from mmfsm.core.engine import Engine, Step
from mmfsm.core.events import (
    BookSnapshot,
    ClockTick,
    Event,
    MarketListed,
    OrderAcked,
    OrderCancelled,
    Trade,
    TradeStatus,
)
from mmfsm.core.ticks import TickSize, parse_price, parse_size

__all__ = ["T0", "Harness", "levels"]

T0 = 1_790_000_000_000  # 2026-09-21T14:13:20Z: a fixed, mid-day start for tests


def levels(pairs: Sequence[tuple[str, str]]) -> tuple[tuple[int, int], ...]:
    return tuple((parse_price(p), parse_size(s)) for p, s in pairs)


class Harness:
    def __init__(self, config: Config | None = None, *, now_ms: int = T0) -> None:
        self.engine = Engine(config or default_config())
        self.now_ms = now_ms
        self.steps: list[Step] = []
        self._trade_seq = 0

    # --------------------------------------------------------------- feeding

    def send(self, event: Event) -> list[Command]:
        step = self.engine.step(event)
        self.steps.append(step)
        return list(step.commands)

    def list_market(
        self, market: str = "m1", *, tick: TickSize = TickSize.CENT, min_size: str = "5"
    ) -> list[Command]:
        return self.send(
            MarketListed(
                ts_ms=self.now_ms,
                market=market,
                yes_token=f"{market}-yes",
                no_token=f"{market}-no",
                tick=tick,
                min_size=parse_size(min_size),
            )
        )

    def book(
        self,
        market: str = "m1",
        bids: Sequence[tuple[str, str]] = (("0.48", "100"),),
        asks: Sequence[tuple[str, str]] = (("0.52", "100"),),
        *,
        token: str | None = None,
    ) -> list[Command]:
        return self.send(
            BookSnapshot(
                ts_ms=self.now_ms,
                market=market,
                token=token or f"{market}-yes",
                bids=levels(bids),
                asks=levels(asks),
            )
        )

    def advance(self, ms: int) -> list[Command]:
        self.now_ms += ms
        return self.send(ClockTick(ts_ms=self.now_ms))

    def start(self, market: str = "m1", **book: Sequence[tuple[str, str]]) -> list[Command]:
        """List a market, give it a book and let the gap recovery time pass."""
        self.list_market(market)
        self.book(market, **book)  # type: ignore[arg-type]
        recovery = self.engine.config.risk.gap_recovery_ms
        return self.advance(recovery)

    # --------------------------------------------------------------- the venue's replies

    def ack(self, commands: Sequence[Command]) -> list[Command]:
        out: list[Command] = []
        for cmd in commands:
            if isinstance(cmd, Place):
                out += self.send(OrderAcked(ts_ms=self.now_ms, client_id=cmd.client_id))
        return out

    def confirm_cancels(self, commands: Sequence[Command]) -> list[Command]:
        out: list[Command] = []
        for cmd in commands:
            if isinstance(cmd, Cancel):
                order = self.engine.orders.get(cmd.client_id)
                matched = order.filled if order is not None else 0
                out += self.send(
                    OrderCancelled(ts_ms=self.now_ms, client_id=cmd.client_id, size_matched=matched)
                )
            elif isinstance(cmd, CancelAll):
                for order in list(self.engine.orders):
                    if order.status.value != "done":
                        out += self.send(
                            OrderCancelled(
                                ts_ms=self.now_ms,
                                client_id=order.client_id,
                                size_matched=order.filled,
                            )
                        )
        return out

    def fill(
        self,
        place: Place,
        size: int | None = None,
        *,
        status: TradeStatus = TradeStatus.MATCHED,
        trade_id: str | None = None,
    ) -> list[Command]:
        if trade_id is None:
            self._trade_seq += 1
            trade_id = f"t{self._trade_seq}"
        return self.send(self.trade(place, size, status=status, trade_id=trade_id))

    def trade(
        self,
        place: Place,
        size: int | None = None,
        *,
        status: TradeStatus = TradeStatus.MATCHED,
        trade_id: str,
    ) -> Trade:
        return Trade(
            ts_ms=self.now_ms,
            trade_id=trade_id,
            client_id=place.client_id,
            market=place.market,
            token=place.token,
            side=place.side,
            price=place.price,
            size=place.size if size is None else size,
            status=status,
        )

    # --------------------------------------------------------------- reading

    def live_places(self, market: str | None = None) -> list[Place]:
        """Places still live in the Engine's eyes, rebuilt from the commands seen."""
        places = {
            c.client_id: c
            for s in self.steps
            for c in s.commands
            if isinstance(c, Place) and (market is None or c.market == market)
        }
        return [
            p
            for cid, p in places.items()
            if (o := self.engine.orders.get(cid)) is not None and o.live
        ]
