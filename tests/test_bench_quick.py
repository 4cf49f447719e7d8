"""The benchmarks keep working: ``tools/bench/run.py --quick`` runs and reports every figure.

Figures are checked for presence and type only, never against wall-clock limits.
"""

from __future__ import annotations

import json
import subprocess
import sys
from numbers import Real
from pathlib import Path

import pytest

from mmfsm import native

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data" / "polymarket-btc-15m"


def _num(x: object) -> bool:
    return isinstance(x, Real) and not isinstance(x, bool)


def _tool(name: str, *args: str, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    """Run ``tools/bench/<name>`` as a user would, from the repository root."""
    return subprocess.run(
        [sys.executable, str(REPO / "tools" / "bench" / name), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )


@pytest.mark.skipif(not DATA.exists(), reason="replay data not present")
def test_bench_quick_writes_every_section(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = _tool("run.py", "--quick", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "| figure" in proc.stdout
    doc = json.loads(out.read_text(encoding="utf-8"))
    for section in ("decision", "replay", "economy", "fill", "soak", "audit"):
        assert section in doc, section

    d = doc["decision"]
    assert _num(d["baseline"]["dict_book_floor"]["p50_us"])
    for key in ("1_market", "50_markets"):
        for kind in ("book_update", "fill"):
            for fig in ("p50_us", "p99_us", "max_us", "p50_vs_floor"):
                assert _num(d[key][kind][fig]), (key, kind, fig)
        breakdown = d[key]["book_update_breakdown"]
        assert set(breakdown) <= set(d["book_update_classes"]), key
        assert abs(sum(c["share"] for c in breakdown.values()) - 1) < 1e-3, key
        for cls, x in breakdown.items():
            assert _num(x["p50_us"]), (key, cls)
            assert _num(x["p99_us"]), (key, cls)
            assert x["opcodes_p50"] > 0, (key, cls)
        # Most updates move depth below the top, which needs no pass, also with 50
        # markets of the default config, where the capital binds (INV-CAPITAL): a market
        # stays quiet while the others leave it what they left at its last pass.
        assert breakdown["skip"]["share"] > 0.5, key
        # Bytecode counts are deterministic: a skipped update must be the cheap path.
        assert breakdown["skip"]["opcodes_p50"] < breakdown["pass"]["opcodes_p50"], key
    assert "available" in d["callgrind"]
    # A compiled core is measured against the interpreted one in the same run.
    assert d["core"] == native.build()
    if d["core"].startswith("compiled"):
        for key in ("1_market", "50_markets"):
            for kind in ("book_update", "fill"):
                assert _num(d["interpreted"][key][kind]["p99_us"]), (key, kind)
                assert _num(d[key][kind]["p99_vs_interpreted"]), (key, kind)
        assert "compiled core p99" in proc.stdout

    r = doc["replay"]
    assert r["book_events"] > 0
    assert _num(r["pipeline_book_events_per_s"])
    assert _num(r["baseline"]["book_events_per_s"])
    assert _num(r["ratio_pipeline_vs_engine"])
    c = r["ceilings"]
    assert c["target_book_events_per_s"] == 100_000
    # The Engine alone bounds the pipeline: no pipeline can beat its own Engine.
    assert c["book_events_per_s"]["engine_alone"] == r["baseline"]["book_events_per_s"]
    assert r["pipeline_book_events_per_s"] <= c["book_events_per_s"]["engine_alone"]
    for part in ("engine_alone", "parse_alone", "read_floor"):
        assert _num(c["book_events_per_s"][part]), part
        assert _num(c["ratio_vs_target"][part]), part
    assert "ceiling book events/s" in proc.stdout

    e = doc["economy"]
    for side in (e["mmfsm"], e["baseline"]):
        assert _num(side["api_actions_per_hour"])
        assert _num(side["fill_rate"])
    assert _num(e["ratio_api_actions_per_hour"])
    assert _num(e["ratio_fill_rate"])

    f = doc["fill"]
    if f["available"]:
        assert _num(f["websocket"]["p50_ms"])
        assert _num(f["baseline"]["p50_ms"])
        assert _num(f["ratio_p50_poll_vs_ws"])
    else:
        assert f["reason"]

    s = doc["soak"]
    for fig in (
        "events",
        "rss_start_kib",
        "rss_end_kib",
        "rss_growth_kib",
        "invariant_violations",
        "simulated_s",
    ):
        assert _num(s[fig]), fig
    assert s["markets"] == 20

    a = doc["audit"]
    assert _num(a["baseline"]["steps_per_s"])
    for mode in ("sync_full", "sync_normal"):
        assert _num(a[mode]["steps_per_s"])
        assert _num(a[mode]["ratio_steps_per_s_vs_baseline"])
        assert _num(a[mode]["added_durable"]["p99_us"])


def test_hotpath_profiles_the_decision_workload() -> None:
    proc = _tool("hotpath.py", "decision", "--events", "300", "--top", "5")
    assert proc.returncode == 0, proc.stderr
    assert "function calls" in proc.stdout
    assert "engine.py" in proc.stdout  # the Engine's own functions are what it profiles


@pytest.mark.skipif(not DATA.exists(), reason="replay data not present")
@pytest.mark.parametrize("workload", ["engine-replay", "pipeline"])
def test_hotpath_profiles_the_replay_workloads(workload: str) -> None:
    proc = _tool("hotpath.py", workload, "--quick", timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "function calls" in proc.stdout
    if workload == "engine-replay":
        assert "BookSnapshot" in proc.stdout  # the time-by-event-type table came first


def test_hotpath_refuses_a_bad_count() -> None:
    proc = _tool("hotpath.py", "decision", "--events", "0", timeout=60)
    assert proc.returncode == 2
    assert "--events" in proc.stderr
