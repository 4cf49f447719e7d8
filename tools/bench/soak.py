"""Benchmark 5: soak, 20 generated markets for a simulated day; memory, events, invariants.

Uses the simulator's generated markets (``MarketSpec``, the ``calm`` scenario's config
and venue) and its loop with every invariant checked on every step. The loop keeps a
trace of every step for reports; that is a test aid that grows by design, so the soak
drops it (the trace list is replaced with one that keeps nothing) to measure the Engine
and venue, not the trace. Memory: RSS (/proc) and tracemalloc-free peak RSS
(``resource``) at start and end; growth = end - start.
"""

from __future__ import annotations

import resource
import time
from typing import Any

import attrs
from common import rss_kib

from mmfsm.sim import loop
from mmfsm.sim.flow import MarketSpec
from mmfsm.sim.scenarios import get


class _NoTrace(list):  # type: ignore[type-arg]
    def append(self, item: object) -> None:
        pass


def run(quick: bool, *, hours: float | None = None, markets: int = 20) -> dict[str, Any]:
    hours = (0.05 if quick else 24.0) if hours is None else hours
    seconds = int(hours * 3600)
    specs = tuple(MarketSpec(name=f"soak-{i:02d}", fair=0.30 + 0.02 * i) for i in range(markets))
    setup = attrs.evolve(get("calm").setup(seed=7), markets=specs, duration_ms=seconds * 1000)
    samples: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        if not samples or done - samples[-1][0] >= total // 20:
            samples.append((done, rss_kib()))

    rss0 = rss_kib()
    run_ = loop._Run(setup, baseline=False, logger=None, progress=progress, probe=None)
    run_.trace = _NoTrace()
    started = time.perf_counter()
    res = run_.run()
    wall = time.perf_counter() - started
    rss1 = rss_kib()
    # Growth after warm-up: from the first sample past 10% of the run to the end.
    warm = next((kib for t, kib in samples if t >= seconds * 100), rss0)
    return {
        "markets": markets,
        "simulated_s": seconds,
        "wall_s": round(wall, 2),
        "events": res.metrics["events"],
        "events_per_s": round(int(res.metrics["events"]) / wall),  # type: ignore[call-overload]
        "rss_start_kib": rss0,
        "rss_end_kib": rss1,
        "rss_growth_kib": rss1 - rss0,
        "rss_growth_after_warmup_kib": rss1 - warm,
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "invariant_violations": res.invariants.total,
        "bot_state": res.engine.bot.state if res.engine else None,
        "api_actions": res.metrics["api_actions"],
        "fills": res.metrics["fills"],
    }
