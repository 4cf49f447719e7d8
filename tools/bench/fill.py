"""Benchmark 4: fill-to-inventory latency, WebSocket vs 1-s poll (tools/bench_fill_latency.py).

Runs that tool's ``_bench`` against the embedded emulator, capturing its per-fill
latencies by wrapping its probe class; unavailable (with the reason) if it fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from typing import Any

from common import ratio


def _pct(values: list[float], q: float) -> float:
    o = sorted(values)
    return round(o[max(0, min(len(o) - 1, round(q * (len(o) - 1))))], 2)


def run(quick: bool) -> dict[str, Any]:
    seconds = 8.0 if quick else 30.0
    try:
        import bench_fill_latency as bfl

        probes: list[Any] = []
        original = bfl._Probe

        class Recording(original):  # type: ignore[misc,valid-type]
            def __init__(self, *a: Any, **k: Any) -> None:
                super().__init__(*a, **k)
                probes.append(self)

        bfl._Probe = Recording
        try:
            sink = io.StringIO()
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                asyncio.run(asyncio.wait_for(bfl._bench(seconds, 1, 7), seconds + 60))
        finally:
            bfl._Probe = original
    except Exception as exc:  # the emulator is someone else's work in progress
        return {"available": False, "reason": f"{type(exc).__name__}: {exc}"}
    if len(probes) != 2 or not probes[0].latencies_ms or not probes[1].latencies_ms:
        return {"available": False, "reason": "not enough fills on one of the paths"}
    ws, poll = probes[0].latencies_ms, probes[1].latencies_ms
    w = {"fills": len(ws), "p50_ms": _pct(ws, 0.5), "p99_ms": _pct(ws, 0.99)}
    p = {"fills": len(poll), "p50_ms": _pct(poll, 0.5), "p99_ms": _pct(poll, 0.99)}
    return {
        "available": True,
        "seconds": seconds,
        "websocket": w,
        "baseline": {"name": "1-second trade poll", **p},
        "ratio_p50_poll_vs_ws": ratio(p["p50_ms"], w["p50_ms"]),
        "ratio_p99_poll_vs_ws": ratio(p["p99_ms"], w["p99_ms"]),
    }
