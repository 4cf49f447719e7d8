"""Decision latency: microseconds per ``Engine.step`` for book updates and fills.

Measured with 1 market and with 50, against a floor measured in the same run: a plain
dict book update with a cached best price, which is what any Python market maker pays
per update before it decides anything. The figures are printed, never asserted.

The event stream is synthetic and deterministic: every market's YES book gets
top-of-book changes (size and price at the best levels, so the Engine re-quotes) and a
fraction of deeper changes; a venue stub acks every Place and confirms every Cancel at
once, so orders do not pile up; one in ``fill_every`` events is a fill of a resting
quote. Latency is taken per event with ``perf_counter_ns``.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable, Iterator
from statistics import median
from types import FrameType
from typing import Any

from mmfsm.core.commands import Cancel, Command, Place
from mmfsm.core.config import Config, default_config
from mmfsm.core.engine import Engine, Step
from mmfsm.core.events import (
    BookSnapshot,
    ClockTick,
    Event,
    MarketListed,
    OrderAcked,
    OrderCancelled,
    PriceChange,
    Trade,
    TradeStatus,
)
from mmfsm.core.market_state import MarketState
from mmfsm.core.ticks import SIZE_SCALE, Side, TickSize

__all__ = ["book_update_breakdown", "dict_book_floor", "engine_latency", "percentiles"]

T0 = 1_790_000_000_000


def percentiles(samples: list[int]) -> dict[str, float]:
    """p50/p99/max in microseconds from nanosecond samples."""
    ordered = sorted(samples)
    n = len(ordered)
    return {
        "p50_us": ordered[n // 2] / 1000,
        "p99_us": ordered[min(n - 1, int(n * 0.99))] / 1000,
        "max_us": ordered[-1] / 1000,
        "mean_us": sum(ordered) / n / 1000,
    }


def _venue_replies(commands: list[Command], ts: int, engine: Engine) -> Iterator[Event]:
    for cmd in commands:
        if isinstance(cmd, Place):
            yield OrderAcked(ts_ms=ts, client_id=cmd.client_id)
        elif isinstance(cmd, Cancel):
            order = engine.orders.get(cmd.client_id)
            matched = order.filled if order is not None else 0
            yield OrderCancelled(ts_ms=ts, client_id=cmd.client_id, size_matched=matched)


def _answer(engine: Engine, commands: list[Command], ts: int) -> None:
    """Answer every command, and the commands the answers cause, until none is left.

    Answering only the first round left the orders placed or cancelled by an ack's own
    step unanswered, so pending orders piled up and the workload drifted away from the
    one described above.
    """
    pending = commands
    while pending:
        replies = list(_venue_replies(pending, ts, engine))
        pending = [c for r in replies for c in engine.step(r).commands]


def _setup(n_markets: int, make: Callable[[Config], Engine] = Engine) -> tuple[Engine, int]:
    engine = make(default_config())
    ts = T0
    for i in range(n_markets):
        m = f"m{i}"
        engine.step(
            MarketListed(
                ts_ms=ts,
                market=m,
                yes_token=f"{m}-y",
                no_token=f"{m}-n",
                tick=TickSize.CENT,
                min_size=5 * SIZE_SCALE,
            )
        )
        engine.step(
            BookSnapshot(
                ts_ms=ts,
                market=m,
                token=f"{m}-y",
                bids=tuple((4800 - 100 * k, 200 * SIZE_SCALE) for k in range(10)),
                asks=tuple((5200 + 100 * k, 200 * SIZE_SCALE) for k in range(10)),
            )
        )
    ts += 10_000
    _answer(engine, list(engine.step(ClockTick(ts_ms=ts)).commands), ts)
    return engine, ts


StepFn = Callable[[str, Event], Step]


def _drive(
    engine: Engine,
    n_markets: int,
    n_events: int,
    ts: int,
    step: StepFn,
    *,
    seed: int,
    fill_every: int,
) -> None:
    """The workload: ``step("book" | "fill", event)`` steps the Engine, the caller measures."""
    rng = random.Random(seed)
    trade_seq = 0
    for i in range(n_events):
        ts += 5
        m = f"m{rng.randrange(n_markets)}"
        if i % fill_every == fill_every - 1:
            resting = [o for o in engine.orders.in_market(m) if o.live and o.remaining]
            if resting:
                o = resting[0]
                trade_seq += 1
                event: Event = Trade(
                    ts_ms=ts,
                    trade_id=f"t{trade_seq}",
                    client_id=o.client_id,
                    market=m,
                    token=o.token,
                    side=o.side,
                    price=o.price,
                    size=min(o.remaining, 5 * SIZE_SCALE),
                    status=TradeStatus.MATCHED,
                )
                _answer(engine, list(step("fill", event).commands), ts)
                continue
        side = Side.BUY if rng.random() < 0.5 else Side.SELL
        top = rng.random() < 0.7
        if side is Side.BUY:
            price = rng.choice((4700, 4800)) if top else rng.randrange(4000, 4700, 100)
        else:
            price = rng.choice((5200, 5300)) if top else rng.randrange(5400, 6000, 100)
        event = PriceChange(
            ts_ms=ts,
            market=m,
            token=f"{m}-y",
            changes=((side, price, rng.randint(50, 400) * SIZE_SCALE),),
        )
        _answer(engine, list(step("book", event).commands), ts)


def engine_latency(
    n_markets: int, n_events: int, *, seed: int = 1, fill_every: int = 50
) -> dict[str, dict[str, float]]:
    """Per-event latency of book updates and of fills through ``Engine.step``."""
    engine, ts = _setup(n_markets)
    samples: dict[str, list[int]] = {"book": [], "fill": []}
    clock = time.perf_counter_ns

    def timed(kind: str, event: Event) -> Step:
        start = clock()
        out = engine.step(event)
        samples[kind].append(clock() - start)
        return out

    _drive(engine, n_markets, n_events, ts, timed, seed=seed, fill_every=fill_every)
    return {"book_update": percentiles(samples["book"]), "fill": percentiles(samples["fill"])}


class _PassSpy(Engine):
    """The Engine, noting whether a step ran the judge-and-quote pass (tools only)."""

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.passed = False

    def _quote(self, scope: list[MarketState]) -> None:
        self.passed = True
        super()._quote(scope)


BOOK_CLASSES = {
    "skip": "no pass: only depth below the top moved, or nothing due",
    "pass": "judge-and-quote pass, orders kept (no command)",
    "requote": "pass that cancels and/or places orders",
}


def _book_class(engine: _PassSpy, out: Step) -> str:
    if out.commands:
        return "requote"
    return "pass" if engine.passed else "skip"


def book_update_breakdown(
    n_markets: int, n_events: int, *, seed: int = 1, fill_every: int = 50,
    count_opcodes: bool = True,
) -> dict[str, dict[str, float]]:
    """Where the book-update tail comes from: per class of step, its share, its latency
    and its bytecode count (CPython opcodes executed inside ``Engine.step``, counted by
    ``sys.settrace`` in a second, identical run: a deterministic cost figure like the
    callgrind count, which a noisy machine does not move)."""
    timings: dict[str, list[int]] = {k: [] for k in BOOK_CLASSES}
    opcodes: dict[str, list[int]] = {k: [] for k in BOOK_CLASSES}
    clock = time.perf_counter_ns

    engine, ts = _setup(n_markets, _PassSpy)
    assert isinstance(engine, _PassSpy)
    spy = engine

    def timed(kind: str, event: Event) -> Step:
        spy.passed = False
        start = clock()
        out = spy.step(event)
        elapsed = clock() - start
        if kind == "book":
            timings[_book_class(spy, out)].append(elapsed)
        return out

    _drive(spy, n_markets, n_events, ts, timed, seed=seed, fill_every=fill_every)
    if not count_opcodes:  # the compiled core executes no bytecode to count
        return _classes(timings, opcodes)

    engine, ts = _setup(n_markets, _PassSpy)
    assert isinstance(engine, _PassSpy)
    counter = engine

    def counted(kind: str, event: Event) -> Step:
        counter.passed = False
        if kind != "book":
            return counter.step(event)
        n = 0

        def trace(frame: FrameType, what: str, _arg: object) -> Any:
            nonlocal n
            frame.f_trace_opcodes = True
            if what == "opcode":
                n += 1
            return trace

        sys.settrace(trace)
        try:
            out = counter.step(event)
        finally:
            sys.settrace(None)
        opcodes[_book_class(counter, out)].append(n)
        return out

    _drive(counter, n_markets, n_events, ts, counted, seed=seed, fill_every=fill_every)
    return _classes(timings, opcodes)


def _classes(
    timings: dict[str, list[int]], opcodes: dict[str, list[int]]
) -> dict[str, dict[str, float]]:
    total = sum(len(v) for v in timings.values())
    result: dict[str, dict[str, float]] = {}
    for name, samples in timings.items():
        if not samples:
            continue
        ops = sorted(opcodes[name])
        result[name] = {
            "share": round(len(samples) / total, 4),
            **percentiles(samples),
            "opcodes_p50": ops[len(ops) // 2] if ops else 0,
        }
    return result


def dict_book_floor(n_events: int, *, seed: int = 1) -> dict[str, float]:
    """The floor: update one level of a dict book and keep its best price cached."""
    rng = random.Random(seed)
    bids: dict[int, int] = {4800 - 100 * k: 200 for k in range(10)}
    best = max(bids)
    samples: list[int] = []
    for _ in range(n_events):
        price = rng.randrange(4000, 4900, 100)
        size = rng.randint(0, 400)
        start = time.perf_counter_ns()
        if size:
            bids[price] = size
            if price > best:
                best = price
        else:
            bids.pop(price, None)
            if price == best:
                best = max(bids) if bids else 0
        samples.append(time.perf_counter_ns() - start)
    return percentiles(samples)


if __name__ == "__main__":
    floor = dict_book_floor(50_000)
    print(f"dict-book floor p50 {floor['p50_us']:.2f} us")
    for n in (1, 50):
        result = engine_latency(n, 20_000)
        b = result["book_update"]
        print(
            f"{n:>2} markets: book p50 {b['p50_us']:.1f} p99 {b['p99_us']:.1f} us "
            f"(x{b['p50_us'] / floor['p50_us']:.0f} the floor); "
            f"fill p50 {result['fill']['p50_us']:.1f} us; median of both "
            f"{median([b['p50_us'], result['fill']['p50_us']]):.1f}"
        )
