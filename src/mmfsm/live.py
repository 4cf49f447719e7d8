"""The asyncio run loop: venue events -> ``Engine.step`` -> commands -> venue.

Theory of operation
-------------------
The Engine is pure and synchronous, so the loop around it is one queue and one
consumer: the venue (``mmfsm.venues``) puts events on the queue from its WebSocket,
poll, heartbeat and command tasks; a clock task puts a ``ClockTick`` every second; the
loop takes one event at a time, steps the Engine, writes the step's log lines (and its
transitions, at debug), and only then hands the commands to the venue, which returns
at once. Nothing else ever calls the Engine, so it is never called concurrently, and
a slow venue call can never stall a step (REST runs in threads, behind the venue).

A ``services`` object (``mmfsm.ops.services.Services``, duck-typed here) may take over
the step: its ``step`` returns once the step is durable in the audit log, which is the
write-ahead order (INV-WAL); once a second the loop asks it for operator events and
lets it publish status and flush. Without one the loop calls ``engine.step`` directly.

Stopping: at the deadline, on ``stop()`` (Ctrl-C) or if the venue fails, the loop asks
the venue to cancel everything and confirm nothing is left open (``shutdown``), then
feeds the resulting events to the Engine so the summary is true, but sends none of the
commands those last steps produce: a shutting-down bot places nothing. A shutdown that
hit an error reports the orders left open as unknown (``ShutdownReport.still_open``
None), and ``ShutdownReport.confirmed`` is what a caller's exit status must rest on. ``abort()`` is
the crash of a test: the loop stops dead and the venue's tasks are killed without a
cancel, which leaves the exchange's heartbeat dead-man switch to clean up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from typing import Protocol, TextIO

import attrs
from attrs import define

from mmfsm.core.commands import Cancel, CancelAll, Place
from mmfsm.core.engine import Engine, Step
from mmfsm.core.events import ClockTick, Event, OrderCancelled, Trade, TradeStatus
from mmfsm.core.orders import OrderStatus
from mmfsm.core.ticks import format_size
from mmfsm.logs import log_step, transition_text
from mmfsm.runner import counts_line, engine_lines
from mmfsm.text import usd
from mmfsm.venues.base import ShutdownReport, Venue

__all__ = ["LiveRunner", "LiveSummary", "StatusHandler", "StatusLine", "StepServices"]

log = logging.getLogger("mmfsm.live")


class StepServices(Protocol):
    """What the loop needs of ``mmfsm.ops.services.Services``."""

    def step(self, engine: Engine, event: Event) -> Step: ...

    def operator_events(self, engine: Engine, now_ms: int) -> list[Event]: ...

    def publish(self, engine: Engine) -> None: ...

    def idle(self) -> None: ...


@define
class LiveSummary:
    events: int = 0
    places: int = 0  # commands sent: a shutting-down bot's last ones are not
    cancels: int = 0
    cancel_alls: int = 0
    keeps: int = 0  # keep decisions this run (see ``mmfsm.runner.RunSummary``)
    fills: int = 0
    log_lines: int = 0
    seconds: float = 0.0
    shutdown: ShutdownReport | None = None
    error: str | None = None

    def render(self, engine: Engine, *, where: str = "on the venue") -> str:
        lines = [
            f"traded {self.seconds:.0f}s: {counts_line(self)}",
            *engine_lines(engine),
        ]
        if self.shutdown is not None:
            s = self.shutdown
            left = "unknown" if s.still_open is None else str(s.still_open)
            lines.append(
                f"shutdown: cancelled {s.cancelled} order(s) {where}, {left} still "
                f"open{'' if s.error is None else f' (error: {s.error})'}"
            )
        if self.error is not None:
            lines.append(f"stopped on error: {self.error}")
        return "\n".join(lines)


class StatusLine:
    """One line of state at the bottom of a terminal, redrawn in place once a second.

    Log lines go through ``clear``/``draw`` (see ``StatusHandler``) so they never
    interleave with it. On a stream that is not a terminal it prints nothing.
    """

    def __init__(self, stream: TextIO = sys.stdout) -> None:
        self.stream = stream
        self.enabled = stream.isatty()
        self.text = ""

    def update(self, text: str) -> None:
        self.text = text
        self.draw()

    def clear(self) -> None:
        if self.enabled and self.text:
            self.stream.write("\r\x1b[2K")

    def draw(self) -> None:
        if self.enabled and self.text:
            # One row, never wrapped (a wrapped line cannot be redrawn in place).
            width = shutil.get_terminal_size((201, 24)).columns - 1
            self.stream.write("\r\x1b[2K" + self.text[:width])
            self.stream.flush()


class StatusHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A console handler that lifts the status line out of the way of each log line."""

    def __init__(self, status: StatusLine) -> None:
        super().__init__(status.stream)
        self.status = status

    def emit(self, record: logging.LogRecord) -> None:
        self.status.clear()
        super().emit(record)
        self.status.draw()


def status_text(engine: Engine, venue: Venue, started: float, fills: int) -> str:
    vs = venue.status()
    states = ", ".join(
        f"{name}:{ms.machine.state}/{ms.position.state} d={format_size(ms.ledger.delta)}"
        for name, ms in sorted(engine.markets.items())
    )
    return (
        f"[{time.monotonic() - started:5.0f}s] bot {engine.bot.state} | {states} | "
        f"P&L {usd(engine.daily_pnl())} | fills {fills} | open {vs.open_orders} | "
        f"ws {vs.market_ws}/{vs.user_ws} hb {vs.heartbeat}"
    )


class LiveRunner:
    """Runs one Engine against one venue until a deadline, ``stop()`` or ``abort()``."""

    def __init__(
        self,
        engine: Engine,
        venue: Venue,
        *,
        logger: logging.Logger,
        services: StepServices | None = None,
        status: StatusLine | None = None,
        tick_s: float = 1.0,
        on_step: Callable[[Event, Step, float], None] | None = None,
        startup: Sequence[Event] = (),
    ) -> None:
        self.engine = engine
        self.venue = venue
        self.logger = logger
        self.services = services
        self.status = status
        self.tick_s = tick_s
        self.on_step = on_step
        self.summary = LiveSummary()
        self._kept_before = engine.actions.kept  # a recovered Engine's runs on from its log
        self.queue: asyncio.Queue[Event] = asyncio.Queue()
        self._stop = asyncio.Event()
        self._abort = False
        self._sending = True
        self.started = asyncio.Event()
        self.startup = tuple(startup)

    def stop(self) -> None:
        self._stop.set()

    def abort(self) -> None:
        self._abort = True
        self._stop.set()

    def _emit(self, event: Event) -> None:
        self.queue.put_nowait(event)

    def _apply(self, event: Event) -> None:
        if self.services is not None:
            step = self.services.step(self.engine, event)
        else:
            step = self.engine.step(event)
        s = self.summary
        s.events += 1
        if isinstance(event, Trade) and event.status is TradeStatus.MATCHED:
            s.fills += 1
        for t in step.transitions:
            self.logger.debug("transition %s", transition_text(t))
        if self.status is not None:
            self.status.clear()
        s.log_lines += log_step(self.logger, self.engine, event, step)
        s.keeps = self.engine.actions.kept - self._kept_before
        if self._sending:
            for cmd in step.commands:
                s.places += isinstance(cmd, Place)
                s.cancels += isinstance(cmd, Cancel)
                s.cancel_alls += isinstance(cmd, CancelAll)
            self.venue.submit(step.commands)
        elif any(isinstance(c, Place) for c in step.commands):
            self.logger.debug(
                "shutting down: %d place(s) not sent",
                sum(isinstance(c, Place) for c in step.commands),
            )
        if self.on_step is not None:
            self.on_step(event, step, time.monotonic())
        if self.status is not None:
            self.status.draw()

    async def _clock(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            self._emit(ClockTick(ts_ms=int(time.time() * 1000)))

    def _end_recovered_orders(self) -> None:
        """A recovered Engine's working orders: the venue start cancelled them all."""
        ts = int(time.time() * 1000)
        for order in list(self.engine.orders):
            if order.status is not OrderStatus.DONE:
                self._emit(
                    OrderCancelled(ts_ms=ts, client_id=order.client_id, size_matched=order.filled)
                )

    async def run(self, *, duration_s: float | None) -> LiveSummary:
        started = time.monotonic()
        for first in self.startup:  # events a caller needs stepped before the venue's
            self._emit(first)
        self._end_recovered_orders()
        await self.venue.start(self._emit)
        while not self.queue.empty():  # listings, replayed fills, first books
            self._apply(self.queue.get_nowait())
        self.started.set()
        clock = asyncio.create_task(self._clock())
        deadline = None if duration_s is None else started + duration_s
        last_second = time.monotonic()
        try:
            while not self._stop.is_set():
                timeout = 0.2 if deadline is None else min(0.2, deadline - time.monotonic())
                if timeout <= 0:
                    break
                if self.queue.empty():
                    try:
                        event = await asyncio.wait_for(self.queue.get(), timeout=timeout)
                    except TimeoutError:
                        event = None
                    if event is not None:
                        self._apply(event)
                else:
                    # Drain what is queued (bounded), then yield once: one event per loop
                    # turn would make a burst wait for every other task's turn per event.
                    budget = time.monotonic() + 0.02
                    while not self.queue.empty() and time.monotonic() < budget:
                        self._apply(self.queue.get_nowait())
                    await asyncio.sleep(0)
                now = time.monotonic()
                if now - last_second >= 1.0:
                    last_second = now
                    self._every_second(started)
        except asyncio.CancelledError:
            # Cancelled from outside (the process is going away): no venue calls now.
            self._abort = True
            raise
        except Exception as exc:
            self.summary.error = f"{type(exc).__name__}: {exc}"
            log.exception("run loop failed; shutting down")
        finally:
            clock.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await clock
            self.summary.seconds = time.monotonic() - started
            if self._abort:
                await self.venue.abort()
            else:
                await self._shutdown()
        return self.summary

    def _every_second(self, started: float) -> None:
        if self.services is not None:
            for event in self.services.operator_events(self.engine, int(time.time() * 1000)):
                self._emit(event)
            self.services.publish(self.engine)
            if self.queue.empty():
                self.services.idle()
        if self.status is not None:
            self.status.update(status_text(self.engine, self.venue, started, self.summary.fills))

    async def _shutdown(self) -> None:
        self._sending = False
        report = await self.venue.shutdown()
        if report.error is not None and report.still_open is not None:
            # A shutdown that failed (its cancel, or its read of the open orders) has no
            # count of what is left, whatever number it carries: unknown, never 0.
            report = attrs.evolve(report, still_open=None)
        self.summary.shutdown = report
        while not self.queue.empty():
            self._apply(self.queue.get_nowait())
        if self.status is not None:
            self.status.clear()
            self.status.text = ""


class RunnerTask:
    """A ``LiveRunner`` run as an asyncio task, for ``mmfsm run``, tests and benchmarks.

    ``await start()`` returns once the venue has started (reconciled, markets listed) or
    raises what stopped it (``StartupRefused``); ``stop()`` is a clean shutdown (cancel
    all, confirm); ``kill()`` a crash (no cancel: on a real venue the heartbeat switch
    acts). Subclasses build ``runner``.
    """

    runner: LiveRunner
    task: asyncio.Task[LiveSummary] | None = None

    async def start(self, duration_s: float | None = None) -> None:
        self.task = asyncio.create_task(self.runner.run(duration_s=duration_s))
        started = asyncio.create_task(self.runner.started.wait())
        done, _ = await asyncio.wait({self.task, started}, return_when=asyncio.FIRST_COMPLETED)
        if self.task in done:
            started.cancel()
            self.task.result()  # raises StartupRefused (or whatever stopped it)
            raise RuntimeError(f"{type(self).__name__} stopped before it started")

    async def wait(self) -> LiveSummary:
        if self.task is None:
            raise RuntimeError("not started")
        return await self.task

    async def stop(self) -> LiveSummary:
        self.runner.stop()
        return await self.wait()

    async def kill(self) -> LiveSummary:
        self.runner.abort()
        return await self.wait()
