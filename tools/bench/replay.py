"""Benchmark 2: replay throughput, book events/s through the whole pipeline vs the Engine alone.

Pipeline: parse the recording (``load_recording``), run ``mmfsm.sim.loop.simulate`` (Engine
plus simulated venue, wire latency, metrics, invariants) and append every step to a real
audit log (``AuditLog.record``, fsync on the steps that send orders) from the loop's probe.
The baseline, in the same run: a fresh Engine stepping exactly the events the pipeline
delivered (taken from the run's trace), nothing else. Both rates count book events
(snapshots and price changes) per wall second.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from common import DATA, ratio

from mmfsm.audit.log import AuditLog
from mmfsm.core.config import Config, default_config
from mmfsm.core.engine import Engine
from mmfsm.core.events import BookSnapshot, PriceChange
from mmfsm.sim.loop import RunResult, SimSetup, TraceStep, simulate
from mmfsm.sim.replay import load_recording
from mmfsm.sim.strategy import Strategy

BOOK_EVENTS = (BookSnapshot, PriceChange)


def replay_setup(
    quick: bool, config: Config | None = None, seed: int = 7
) -> tuple[SimSetup, float]:
    """The replay ``mmfsm simulate --replay`` runs; quick keeps the first 2 markets."""
    started = time.perf_counter()
    recording = load_recording(DATA, max_markets=2 if quick else None)
    parse_s = time.perf_counter() - started
    setup = SimSetup(
        name=f"replay:{DATA.name}",
        config=config or default_config(),
        seed=seed,
        start_ms=recording.start_ms,
        duration_ms=recording.end_ms - recording.start_ms + 1_000,
        recording=recording,
    )
    return setup, parse_s


def run(quick: bool) -> tuple[dict[str, Any], RunResult]:
    setup, parse_s = replay_setup(quick)
    with tempfile.TemporaryDirectory() as tmp:
        audit = AuditLog(Path(tmp) / "replay.sqlite")
        audit.genesis(setup.config, setup.start_ms)

        def probe(traced: TraceStep, strategy: Strategy) -> None:
            h = strategy.engine.config_hash  # type: ignore[attr-defined]
            audit.record(traced.event, traced.step, before=h, after=h)

        started = time.perf_counter()
        mm = simulate(setup, probe=probe)
        audit.close(mm.engine)
        sim_s = time.perf_counter() - started
    events = [t.event for t in mm.trace]
    books = sum(isinstance(e, BOOK_EVENTS) for e in events)
    engine = Engine(setup.config)
    started = time.perf_counter()
    for e in events:
        engine.step(e)
    engine_s = time.perf_counter() - started
    pipeline_s = parse_s + sim_s
    pipe_rate = books / pipeline_s
    engine_rate = books / engine_s
    result = {
        "markets": len(setup.recording.markets) if setup.recording else 0,
        "simulated_s": setup.duration_ms // 1000,
        "events": len(events),
        "book_events": books,
        "pipeline_wall_s": round(pipeline_s, 3),
        "parse_wall_s": round(parse_s, 3),
        "pipeline_book_events_per_s": round(pipe_rate),
        "baseline": {
            "name": "Engine.step alone on the same events",
            "wall_s": round(engine_s, 3),
            "book_events_per_s": round(engine_rate),
        },
        "ratio_pipeline_vs_engine": ratio(pipe_rate, engine_rate),
    }
    return result, mm
