"""Benchmark 1: decision latency per Engine.step (reuses latency.py), optional callgrind.

Beside the percentiles, each market count gets a breakdown of its book updates by what
the step did (``latency.BOOK_CLASSES``: skipped, a pass that kept its orders, a pass
that sent orders), with each class's share, latency and bytecode count: the p99 is set
by the classes that run the judge-and-quote pass, and the bytecode count says how much
work that pass is, independently of the machine's noise.

When the core is compiled (``setup.py``), the same figures are also measured for the
interpreted core, in a subprocess with ``MMFSM_PURE_CORE=1``, as the baseline the
compiled build is compared against; bytecode counts come from that run, because the
compiled core executes no bytecode.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from common import REPO, ratio
from latency import BOOK_CLASSES, book_update_breakdown, dict_book_floor, engine_latency

from mmfsm import native

_CG_SCRIPT = """
import sys
sys.path.insert(0, {bench!r})
from latency import engine_latency
engine_latency({markets}, int(sys.argv[1]))
"""


def _instructions(markets: int, n_events: int, *, interpreted: bool = False) -> int | None:
    """Total instructions (Ir) of a run of ``n_events`` under callgrind."""
    env = {k: v for k, v in os.environ.items() if k != native.PURE_ENV}
    if interpreted:
        env[native.PURE_ENV] = "1"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cg.out"
        script = _CG_SCRIPT.format(bench=str(REPO / "tools" / "bench"), markets=markets)
        proc = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                sys.executable,
                "-c",
                script,
                str(n_events),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        if proc.returncode != 0 or not out.exists():
            return None
        for line in out.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    return None


def callgrind(n_events: int, *, compiled: bool) -> dict[str, Any]:
    """Instructions per event: (run with 100 + n events - run with 100) / n, per market count.

    The count covers the whole workload, the benchmark's own event making and venue
    answers included, so it is an upper bound on the Engine's share. With a compiled
    core the interpreted core is counted too, as the baseline.
    """
    if shutil.which("valgrind") is None:
        return {"available": False, "reason": "valgrind not installed"}
    out: dict[str, Any] = {"available": True, "events": n_events}
    builds = (("", False), ("interpreted_", True)) if compiled else (("", False),)
    for markets in (1, 50):
        for prefix, interpreted in builds:
            # setup + 100 events (0 would leave no samples)
            base = _instructions(markets, 100, interpreted=interpreted)
            full = _instructions(markets, 100 + n_events, interpreted=interpreted)
            if base is None or full is None:
                return {"available": False, "reason": "valgrind run failed"}
            out[f"{prefix}instructions_per_event_{markets}m"] = round((full - base) / n_events)
    return out


def _interpreted(quick: bool) -> dict[str, Any]:
    """This benchmark's figures for the interpreted core, from a subprocess."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "decision.json"
        argv = [sys.executable, str(REPO / "tools" / "bench" / "run.py"), "--only", "decision"]
        proc = subprocess.run(
            [*argv, "--json", str(out), *(["--quick"] if quick else [])],
            env={**os.environ, native.PURE_ENV: "1"},
            capture_output=True,
            text=True,
            timeout=900,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"the interpreted decision benchmark failed:\n{proc.stderr}")
        section: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))["decision"]
        return section


def run(quick: bool, *, use_callgrind: bool = False) -> dict[str, Any]:
    n = 3_000 if quick else 20_000
    core = native.build()
    compiled = core.startswith("compiled")
    floor = dict_book_floor(n * 5)
    result: dict[str, Any] = {
        "events_per_config": n,
        "core": core,
        "baseline": {"dict_book_floor": floor},
    }
    interpreted = _interpreted(quick) if compiled else None
    for markets in (1, 50):
        key = f"{markets}_market{'s' if markets > 1 else ''}"
        lat = engine_latency(markets, n)
        for kind in ("book_update", "fill"):
            lat[kind]["p50_vs_floor"] = ratio(lat[kind]["p50_us"], floor["p50_us"])
        classes = book_update_breakdown(markets, n // 2, count_opcodes=not compiled)
        if interpreted is not None:
            # The same deterministic workload: the same steps fall in the same classes.
            theirs = interpreted[key]["book_update_breakdown"]
            for cls, x in classes.items():
                x["opcodes_p50"] = theirs.get(cls, {}).get("opcodes_p50", 0)
            for kind in ("book_update", "fill"):
                lat[kind]["p99_vs_interpreted"] = ratio(
                    lat[kind]["p99_us"], interpreted[key][kind]["p99_us"]
                )
        lat["book_update_breakdown"] = classes
        result[key] = lat
    result["book_update_classes"] = BOOK_CLASSES
    if interpreted is not None:
        result["interpreted"] = {
            key: {kind: interpreted[key][kind] for kind in ("book_update", "fill")}
            for key in ("1_market", "50_markets")
        }
    if use_callgrind:
        result["callgrind"] = callgrind(300 if quick else 2_000, compiled=compiled)
    else:
        result["callgrind"] = {"available": False, "reason": "not requested (--callgrind)"}
    return result
