"""Benchmark 6: what write-ahead durability costs (reuses tools/audit_bench.py)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import audit_bench
from common import ratio

from mmfsm.audit.log import Sync


def _pct(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50_us": None, "p99_us": None, "max_us": None}
    o = sorted(values)
    return {
        "p50_us": round(o[len(o) // 2] * 1e6, 1),
        "p99_us": round(o[min(len(o) - 1, int(len(o) * 0.99))] * 1e6, 1),
        "max_us": round(o[-1] * 1e6, 1),
    }


def run(quick: bool) -> dict[str, Any]:
    seconds = 30 if quick else 600
    with tempfile.TemporaryDirectory() as tmp:
        base, base_wall, _ = audit_bench._run(None, seconds, Sync.FULL)
        steps = len(base.engine_s)
        base_rate = steps / base_wall
        out: dict[str, Any] = {
            "simulated_s": seconds,
            "steps": steps,
            "baseline": {"name": "same run without the audit log", "steps_per_s": round(base_rate)},
        }
        for sync in (Sync.FULL, Sync.NORMAL):
            timed, wall, records = audit_bench._run(Path(tmp) / f"{sync.value}.sqlite", seconds, sync)
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
