"""The simulation loop: the Engine (or the baseline) against the simulated venue, in simulated time.

Theory of operation
-------------------
Everything runs off one ``Scheduler``. The world (generated markets stepping every
``step_ms``, or a recording's rows) publishes books through the venue; the venue's
reports and the books travel to the strategy through the ``Wire``'s latency; the
strategy's commands travel back the same way. One item at a time:

* ``DELIVER``: the strategy steps on the event. Its Log and Alert lines are written by
  ``mmfsm.logs`` exactly as live; its Place/Cancel/CancelAll commands go on the wire;
  the metrics record the step and the invariants are checked, after the commands left
  (a ``probe``, such as the benchmark's audit writer, sees the step before they leave).
* ``VENUE``: a command reaches the venue, which matches it and schedules its reports.
* ``CALL``: the world moves (a market step, a recorded row, a trade settling, a market
  resolving).

A ``ClockTick`` reaches the strategy every second (the fill-sync cadence) and operator
actions at their scripted times. When the run's time is up the world stops and the loop
drains for ``DRAIN_MS`` more, so reports already on the wire (late fills, settlements)
arrive and the strategy's books can be compared with the venue's.

Nothing reads the wall clock; every random draw comes from a generator seeded by the
run's seed and a fixed label, so the same setup gives the same run, byte for byte.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from attrs import define, field, frozen

from mmfsm.core.commands import Cancel, CancelAll, Place
from mmfsm.core.config import Config
from mmfsm.core.engine import Engine, Step
from mmfsm.core.events import ClockTick, Event, OperatorHalt, OperatorResume
from mmfsm.core.ticks import SIZE_SCALE
from mmfsm.logs import log_commands
from mmfsm.sim.baseline import NaiveMaker
from mmfsm.sim.flow import GeneratedMarket, MarketSpec
from mmfsm.sim.invariants import Invariants
from mmfsm.sim.latency import Delivery, Wire
from mmfsm.sim.metrics import Collector
from mmfsm.sim.replay import Recording, ReplayFeed
from mmfsm.sim.schedule import Kind, Scheduler
from mmfsm.sim.strategy import EngineStrategy, Strategy
from mmfsm.sim.venue import Venue, VenueParams

__all__ = [
    "DRAIN_MS",
    "OperatorAction",
    "Probe",
    "Progress",
    "RunResult",
    "SimSetup",
    "TraceStep",
    "simulate",
]

DRAIN_MS = 20_000
CLOCK_MS = 1_000
_NO_ADDS: dict[str, bool] = {}

Progress = Callable[[int, int], None]
Probe = Callable[["TraceStep", Strategy], None]


@frozen(kw_only=True)
class OperatorAction:
    """An operator's halt (``resume`` False) or resume at second ``at_s`` of the run."""

    at_s: int
    resume: bool = False
    ack: str = ""
    reason: str = "operator"
    market: str | None = None

    def event(self, ts_ms: int) -> Event:
        if self.resume:
            return OperatorResume(ts_ms=ts_ms, ack=self.ack, market=self.market)
        return OperatorHalt(ts_ms=ts_ms, reason=self.reason, market=self.market)


@frozen(kw_only=True)
class SimSetup:
    """One run: a config, a seed, a venue and a world (generated markets or a recording)."""

    name: str
    config: Config
    seed: int
    start_ms: int
    duration_ms: int
    venue: VenueParams = field(factory=VenueParams)
    markets: tuple[MarketSpec, ...] = ()
    recording: Recording | None = None
    step_ms: int = 1_000
    operator: tuple[OperatorAction, ...] = ()


@frozen
class TraceStep:
    t: int
    event: Event
    step: Step
    crowd_spread: int | None


@define
class RunResult:
    setup: SimSetup
    strategy: str
    metrics: dict[str, object]
    collector: Collector
    invariants: Invariants
    venue: Venue
    engine: Engine | None
    trace: list[TraceStep] = field(factory=list)
    feed: ReplayFeed | None = None


class _Run:
    def __init__(
        self,
        setup: SimSetup,
        *,
        baseline: bool,
        logger: logging.Logger | None,
        progress: Progress | None,
        probe: Probe | None,
        trace: bool = True,
        checks: bool = True,
        engine: Engine | None = None,
    ) -> None:
        self.setup = setup
        self.keep_trace = trace
        self.checks = checks
        self.sched = Scheduler(setup.start_ms)
        self.wire = Wire(self.sched, setup.venue.latency, setup.seed)
        self.venue = Venue(setup.venue, self.wire, self.sched, setup.seed)
        self.engine = None if baseline else (engine if engine is not None else Engine(setup.config))
        self.strategy: Strategy = (
            NaiveMaker.from_config(setup.config)
            if self.engine is None
            else EngineStrategy(self.engine)
        )
        self.inv = Invariants(setup.config, self.venue)
        self.col = Collector(setup.start_ms, self.engine)
        self.logger = logger
        self.progress = progress
        self.probe = probe
        self.end = setup.start_ms + setup.duration_ms
        self.trace: list[TraceStep] = []
        self.feed: ReplayFeed | None = None
        self.generated: list[GeneratedMarket] = []

    # ------------------------------------------------------------------ the world

    def _build_world(self) -> None:
        s = self.setup
        if s.recording is not None:
            self.feed = ReplayFeed(
                s.recording, self.venue, self.wire, self.sched, on_row=self._sample
            )
            self.feed.schedule()
        for spec in s.markets:
            gm = GeneratedMarket(spec, s.seed, s.start_ms)
            self.generated.append(gm)
            self.venue.list_market(
                s.start_ms,
                spec.name,
                f"{spec.name}-yes",
                f"{spec.name}-no",
                spec.tick,
                spec.min_size_shares * SIZE_SCALE,
            )
        if self.generated:
            self.sched.push(s.start_ms, Kind.CALL, self._world_step)
        self.sched.push(s.start_ms + CLOCK_MS, Kind.CALL, self._clock)
        for action in s.operator:
            at = s.start_ms + action.at_s * 1000
            self.sched.push(at, Kind.DELIVER, Delivery(action.event(at)))

    def _world_step(self, now: int) -> None:
        for gm in self.generated:
            gm.step(now, self.setup.step_ms, self.venue)
            self.venue.publish(now, gm.market)
            self.col.sample(now, self.venue, gm.market)
        if now + self.setup.step_ms < self.end:
            self.sched.push(now + self.setup.step_ms, Kind.CALL, self._world_step)

    def _sample(self, now: int, market: str) -> None:
        self.col.sample(now, self.venue, market)

    def _clock(self, now: int) -> None:
        self.sched.push(now, Kind.DELIVER, Delivery(ClockTick(ts_ms=now)))
        if now + CLOCK_MS <= self.end:
            self.sched.push(now + CLOCK_MS, Kind.CALL, self._clock)

    # ------------------------------------------------------------------ the loop

    def run(self) -> RunResult:
        self._build_world()
        horizon = self.end + DRAIN_MS
        total = horizon - self.setup.start_ms
        items = 0
        sched, col, venue, inv = self.sched, self.col, self.venue, self.inv
        deliver, progress = self._deliver, self.progress
        checks = self.checks
        deliver_kind, venue_kind = Kind.DELIVER, Kind.VENUE
        pop_due, advance = sched.pop_due, col.advance
        # The collector's clock: ``advance`` at the time it is already at does nothing
        # (no time to credit), so it is called only when the time moves on.
        at = self.setup.start_ms
        while (entry := pop_due(horizon)) is not None:
            time_ms, _, kind, payload = entry
            if time_ms != at:
                advance(time_ms)
                at = time_ms
            if kind is deliver_kind:
                deliver(time_ms, payload)
            elif kind is venue_kind:
                done = venue.arrive(time_ms, payload)
                if done and checks and isinstance(payload, Place):
                    inv.arrived(payload)  # off the wire: it rests, traded or failed
            else:
                payload(time_ms)
            items += 1
            if progress is not None and items % 2000 == 0:
                progress(time_ms - self.setup.start_ms, total)
        final = max(self.end, sched.now_ms)
        if progress is not None:
            progress(total, total)
        metrics = self.col.finish(
            final, self.venue, self.inv, self.setup.config.strategy.order_size
        )
        return RunResult(
            setup=self.setup,
            strategy=self.strategy.name,
            metrics=metrics,
            collector=self.col,
            invariants=self.inv,
            venue=self.venue,
            engine=self.engine,
            trace=self.trace,
            feed=self.feed,
        )

    def _deliver(self, now: int, delivery: Delivery) -> None:
        event = delivery.event
        inv = self.inv
        inv.observe(event)  # also what the metrics' adds_long reads, so never skipped
        step = self.strategy.step(event)
        if self.keep_trace or self.probe is not None:
            traced = TraceStep(now, event, step, delivery.crowd_spread)
            if self.keep_trace:
                self.trace.append(traced)
            if self.probe is not None:
                # Before the commands go on the wire: a probe that writes the audit log
                # makes the step durable before anything it caused is sent (INV-WAL).
                self.probe(traced, self.strategy)
        commands = step.commands
        if commands:
            if self.logger is not None:
                log_commands(self.logger, event.ts_ms, commands)
            adds = {c.client_id: inv.adds_long(c) for c in commands if isinstance(c, Place)}
            self.col.on_step(event, step, adds)
            for command in commands:
                if isinstance(command, Place):
                    if self.checks:
                        inv.sent(command)
                    self.wire.to_venue(now, command)
                elif isinstance(command, (Cancel, CancelAll)):
                    self.wire.to_venue(now, command)
        else:
            self.col.on_step(event, step, _NO_ADDS)
        if self.checks:
            inv.check(now, delivery, step, self.strategy, self.engine)


def simulate(
    setup: SimSetup,
    *,
    baseline: bool = False,
    logger: logging.Logger | None = None,
    progress: Progress | None = None,
    probe: Probe | None = None,
    trace: bool = True,
    checks: bool = True,
    engine: Engine | None = None,
) -> RunResult:
    """Run ``setup`` once, with mmfsm's Engine or (``baseline``) the naive maker.

    ``probe`` is called after every step with the step and the strategy, for tests that
    need the strategy's state as it was then, not only at the end, and before the step's
    commands go on the wire (so a probe that writes the audit log keeps INV-WAL).
    ``trace=False`` keeps no ``RunResult.trace`` (a long replay's trace holds every
    event and step). With ``checks=False`` the invariants are not checked
    (``RunResult.invariants`` stays at zero, and the exposure maxima in the metrics
    with it): a throughput mode for the benchmark, never what ``mmfsm simulate`` runs.
    ``engine`` is the Engine to drive (a fresh one for ``setup.config`` if None), for a
    benchmark that times its steps.
    """
    return _Run(
        setup,
        baseline=baseline,
        logger=logger,
        progress=progress,
        probe=probe,
        trace=trace,
        checks=checks,
        engine=engine,
    ).run()
