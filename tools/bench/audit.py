"""Benchmark 6: what write-ahead durability costs (reuses tools/audit_bench.py's ``_Timed``).

``audit_bench._Timed`` is the Services that times ``Engine.step`` and then the audit
log's ``record`` (codec, hash chain, and for a step that sends orders the SQLite commit
and fsync) separately, before the step's commands may leave. It is driven here by the
simulator's replay loop (the same recording as ``replay``) rather than by
``mmfsm.runner.run_synthetic``, which at the time of writing does not return for runs
longer than about 12 simulated seconds (see the report). Baseline, same run: the same
loop with no audit log.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from common import ratio
from replay import replay_setup

import audit_bench
from mmfsm.audit.log import AuditLog, Sync
from mmfsm.core.engine import Step
from mmfsm.core.events import Event
from mmfsm.sim import loop
from mmfsm.sim.strategy import EngineStrategy


class _AuditedStrategy(EngineStrategy):
    def __init__(self, strategy: EngineStrategy, timed: audit_bench._Timed) -> None:
        super().__init__(strategy.engine)
        self.timed = timed

    def step(self, event: Event) -> Step:
        return self.timed.step(self.engine, event)


def _pct(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50_us": None, "p99_us": None, "max_us": None}
    o = sorted(values)
    return {
        "p50_us": round(o[len(o) // 2] * 1e6, 1),
        "p99_us": round(o[min(len(o) - 1, int(len(o) * 0.99))] * 1e6, 1),
        "max_us": round(o[-1] * 1e6, 1),
    }


def _one(setup: loop.SimSetup, path: Path | None, sync: Sync) -> tuple[Any, float, int]:
    log = None
    if path is not None:
        log = AuditLog(path, sync=sync)
        log.genesis(setup.config, setup.start_ms)
    timed = audit_bench._Timed(log)
    run_ = loop._Run(setup, baseline=False, logger=None, progress=None, probe=None)
    assert isinstance(run_.strategy, EngineStrategy)
    run_.strategy = _AuditedStrategy(run_.strategy, timed)
    started = time.perf_counter()
    res = run_.run()
    records = 0
    if log is not None:
        log.close(res.engine)
        records = log.stats.records
    return timed, time.perf_counter() - started, records


def run(quick: bool) -> dict[str, Any]:
    setup, _ = replay_setup(quick)
    with tempfile.TemporaryDirectory() as tmp:
        base, base_wall, _ = _one(setup, None, Sync.FULL)
        steps = len(base.engine_s)
        base_rate = steps / base_wall
        out: dict[str, Any] = {
            "workload": setup.name,
            "steps": steps,
            "baseline": {
                "name": "same loop without the audit log",
                "steps_per_s": round(base_rate),
            },
        }
        for sync in (Sync.FULL, Sync.NORMAL):
            timed, wall, records = _one(setup, Path(tmp) / f"{sync.value}.sqlite", sync)
            audit_s = sum(timed.durable_s) + sum(timed.staged_s)
            rate = len(timed.engine_s) / wall
            out[f"sync_{sync.value}"] = {
                "steps_per_s": round(rate),
                "records": records,
                "records_per_audit_s": round(records / audit_s) if audit_s else None,
                "durable_steps": len(timed.durable_s),
                "added_durable": _pct(timed.durable_s),
                "added_staged": _pct(timed.staged_s),
                "engine_step": _pct(timed.engine_s),
                "ratio_steps_per_s_vs_baseline": ratio(rate, base_rate),
            }
    return out
