"""Benchmark 3: API actions per hour and fill rate, mmfsm vs blind cancel-replace.

Both on the same replay and seed: mmfsm's Engine (queue-preserving updates) and the
simulator's naive baseline (``mmfsm.sim.baseline.NaiveMaker``: cancel and replace on
every change), measured by the simulator's own metrics from the venue's side.
"""

from __future__ import annotations

from typing import Any

from common import ratio
from replay import replay_setup

from mmfsm.sim.loop import RunResult, simulate

KEYS = ("api_actions", "places", "cancels", "orders_placed", "orders_filled", "fill_rate",
        "fills", "orders_kept", "total_pnl_usd", "invariant_violations_total")


def _figures(m: dict[str, object]) -> dict[str, Any]:
    hours = max(1, int(m["simulated_s"])) / 3600  # type: ignore[call-overload]
    out: dict[str, Any] = {k: m.get(k) for k in KEYS}
    out["api_actions_per_hour"] = round(int(m["api_actions"]) / hours, 1)  # type: ignore[call-overload]
    return out


def run(quick: bool, mm: RunResult | None = None) -> dict[str, Any]:
    setup, _ = replay_setup(quick)
    if mm is None:
        mm = simulate(setup)
    base = simulate(setup, baseline=True)
    a, b = _figures(mm.metrics), _figures(base.metrics)
    return {
        "seed": setup.seed,
        "simulated_s": mm.metrics["simulated_s"],
        "mmfsm": a,
        "baseline": {"name": "naive cancel-replace (mmfsm.sim.baseline)", **b},
        "ratio_api_actions_per_hour": ratio(a["api_actions_per_hour"], b["api_actions_per_hour"]),
        "ratio_fill_rate": ratio(a["fill_rate"] or 0, b["fill_rate"] or 0),
    }
