"""The run loop around the Engine: events in, commands out to a venue, replies back in.

Why it is shaped this way: the Engine is synchronous and pure, so the loop is a plain
queue. Each event goes through ``Engine.step``; the step's log lines are written, then
its commands go to the venue, whose replies (acks, rejects, fills) join the queue
behind it. Time is the venue's: the synthetic venue advances a simulated clock one
second at a time, so an hour of trading runs in seconds and the same seed prints the
same run.

Write-ahead (INV-WAL): every step goes through ``Services.step``, which returns only
once the step is durable in the audit log when it has to be, and only then are its
commands handed to the venue. A recovered Engine (``mmfsm.audit.recovery``) may be
passed in: the fresh synthetic venue knows none of its orders, so they are reconciled
away first. Once per simulated second the loop takes operator requests from the control
socket, publishes the status, and flushes the audit log; ``realtime`` paces simulated
seconds to wall-clock seconds so an operator can use ``mmfsm status``/``halt``/``resume``.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from attrs import define, field

from mmfsm.audit.recovery import reconcile
from mmfsm.core.commands import Cancel, CancelAll, Place
from mmfsm.core.config import Config
from mmfsm.core.engine import Engine
from mmfsm.core.events import ClockTick, Event, Trade
from mmfsm.core.ticks import format_size
from mmfsm.logs import log_step
from mmfsm.ops.services import Services
from mmfsm.synthetic import SyntheticVenue
from mmfsm.text import plural, usd

__all__ = ["RunSummary", "counts_line", "engine_lines", "run_synthetic"]


def engine_lines(engine: Engine) -> list[str]:
    """The end-of-run picture every run loop prints: the bot, then each market."""
    lines = [
        f"bot {engine.bot.state}; daily P&L {usd(engine.daily_pnl())} USD "
        f"(realized today {usd(engine.realized_today)})"
    ]
    for name, ms in sorted(engine.markets.items()):
        exposure = engine.exposure(name)
        lines.append(
            f"  {name}: market {ms.machine.state}, position {ms.position.state}, "
            f"YES {format_size(ms.ledger.yes_held)} NO {format_size(ms.ledger.no_held)}, "
            f"net delta {format_size(ms.ledger.delta)}, worst-case exposure "
            f"{format_size(exposure.worst)}/{format_size(exposure.limit)} shares, "
            f"realized {usd(ms.ledger.realized)} USD"
        )
    return lines


@define
class RunSummary:
    """This run's counts, whatever a recovered Engine counted before it.

    ``keeps`` counts keep decisions: each quoting pass that leaves a live order resting
    for its queue priority counts it once, so one order kept for a minute counts many
    times (the Engine's ``actions.kept``, since this run began).
    """

    events: int = 0
    places: int = 0
    cancels: int = 0
    cancel_alls: int = 0
    keeps: int = 0
    fills: int = 0
    log_lines: int = 0
    seconds: int = 0
    states: dict[str, str] = field(factory=dict)

    def render(self, engine: Engine) -> str:
        lines = [
            f"simulated {self.seconds}s: {counts_line(self)}",
            *engine_lines(engine),
        ]
        return "\n".join(lines)


class _Counts(Protocol):
    events: int
    places: int
    cancels: int
    keeps: int
    fills: int


def counts_line(s: _Counts) -> str:
    """This run's counts, in the words every run loop's summary uses."""
    return (
        f"{plural(s.events, 'event')}, {plural(s.places, 'place')}, "
        f"{plural(s.cancels, 'cancel')}, {plural(s.keeps, 'keep decision')} "
        f"(queue priority), {plural(s.fills, 'fill')}"
    )


def run_synthetic(
    config: Config,
    *,
    seconds: int,
    seed: int,
    start_ms: int,
    markets: int = 3,
    logger: logging.Logger,
    on_second: Callable[[int, Engine], None] | None = None,
    engine: Engine | None = None,
    services: Services | None = None,
    realtime: bool = False,
) -> tuple[Engine, RunSummary]:
    engine = Engine(config) if engine is None else engine
    services = Services() if services is None else services
    venue = SyntheticVenue(seed=seed, n_markets=markets)
    summary = RunSummary(seconds=seconds)
    kept_before = engine.actions.kept  # a recovered Engine's total runs on from its log
    # A fresh synthetic venue knows none of a recovered Engine's orders: end them first.
    queue: deque[Event] = deque(reconcile(engine, (), ts_ms=start_ms).events)
    queue.extend(venue.listing(start_ms))
    now = start_ms
    wall_start = time.monotonic()
    for second in range(seconds + 1):
        while queue:
            event = queue.popleft()
            step = services.step(engine, event)  # durable before the venue sees a command
            summary.events += 1
            if isinstance(event, Trade) and event.status.value == "MATCHED":
                summary.fills += 1
            summary.log_lines += log_step(logger, engine, event, step)
            for cmd in step.commands:
                summary.places += isinstance(cmd, Place)
                summary.cancels += isinstance(cmd, Cancel)
                summary.cancel_alls += isinstance(cmd, CancelAll)
            queue.extend(venue.execute(step.commands, event.ts_ms))
        services.idle()
        services.publish(engine)
        if on_second is not None:
            on_second(second, engine)
        if second == seconds:
            break
        if realtime:
            time.sleep(max(0.0, wall_start + second + 1 - time.monotonic()))
        now += 1000
        queue.extend(venue.second(now))
        queue.append(ClockTick(ts_ms=now))
        queue.extend(services.operator_events(engine, now))
    summary.keeps = engine.actions.kept - kept_before
    return engine, summary
