"""Run every mmfsm benchmark, print a table and write JSON.

Usage::

    python tools/bench/run.py [--quick] [--json PATH] [--only NAME,...] [--callgrind]
                              [--soak-hours H]

Benchmarks (``--only`` names): decision, replay, economy, fill, soak, audit. Every
figure is printed next to the baseline it is compared against, measured in the same
run, and the ratio is computed within the run. Figures are printed, never asserted:
wall-clock numbers depend on the machine. ``--quick`` (for CI) shrinks every workload
so the whole run takes well under a minute.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: F401  (sets sys.path for the tools/ modules)
from common import ratio

NAMES = ("decision", "replay", "economy", "fill", "soak", "audit")


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.2f}" if abs(v) < 1000 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def rows(res: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(figure, value, baseline, ratio) rows for the printed table."""
    out: list[tuple[str, str, str, str]] = []
    d = res.get("decision")
    if d:
        floor = d["baseline"]["dict_book_floor"]
        fl = f"dict book p50 {floor['p50_us']:.2f} us"
        for key, label in (("1_market", "1 market"), ("50_markets", "50 markets")):
            for kind in ("book_update", "fill"):
                x = d[key][kind]
                out.append((
                    f"Engine.step {kind.replace('_', ' ')}, {label} (p50/p99/max us)",
                    f"{x['p50_us']:.1f} / {x['p99_us']:.1f} / {x['max_us']:.0f}",
                    fl,
                    f"x{x['p50_vs_floor']:.0f}",
                ))
            for kind in ("book_update", "fill"):
                if "interpreted" not in d:
                    break
                x, y = d[key][kind], d["interpreted"][key][kind]
                out.append((
                    f"  {kind.replace('_', ' ')}, {label}: compiled core p99 us "
                    "(interpreted p50/p99/max)",
                    f"{x['p99_us']:.1f}",
                    f"interpreted {y['p50_us']:.1f} / {y['p99_us']:.1f} / {y['max_us']:.0f}",
                    f"x{x['p99_vs_interpreted']:.2f}",
                ))
            for cls, x in d[key].get("book_update_breakdown", {}).items():
                out.append((
                    f"  book updates, {label}: {cls} ({x['share'] * 100:.0f}%) "
                    "p50/p99 us, bytecodes",
                    f"{x['p50_us']:.1f} / {x['p99_us']:.1f}, {x['opcodes_p50']:,}",
                    fl,
                    f"x{x['p50_us'] / floor['p50_us']:.0f}",
                ))
        out.append(("core build measured", d.get("core", "-"), "-", "-"))
        cg = d["callgrind"]
        if cg.get("available"):
            for m in (1, 50):
                mine = cg[f"instructions_per_event_{m}m"]
                theirs = cg.get(f"interpreted_instructions_per_event_{m}m")
                out.append((
                    f"instructions per event (callgrind, workload included), {m} market(s)",
                    _fmt(mine),
                    "-" if theirs is None else f"interpreted core {theirs:,}",
                    "-" if theirs is None else f"x{ratio(mine, theirs):.2f}",
                ))
        else:
            out.append(("instructions per event (callgrind)", "unavailable: " + cg["reason"],
                        "-", "-"))
    r = res.get("replay")
    if r:
        engine_rate = r["baseline"]["book_events_per_s"]
        for key, label in (("pipeline", "fsync per durable step"),
                           ("sync_normal", "audit sync normal"),
                           ("with_checks", "sync normal + invariant checks")):
            x = r[key]
            us = x["us_per_book_event"]
            out.append((
                f"replay book events/s, whole pipeline, {label} ({r['markets']} markets)",
                _fmt(x["book_events_per_s"]),
                f"Engine alone {_fmt(engine_rate)}",
                _fmt(ratio(x["book_events_per_s"], engine_rate)),
            ))
            out.append((
                "  us/book event: parse / loop+venue / Engine / audit (all but Engine)",
                f"{us['parse']:.1f} / {us['loop_and_venue']:.1f} / {us['engine']:.1f} / "
                f"{us['audit']:.1f} ({us['all_but_engine']:.1f})",
                f"Engine alone {r['baseline']['us_per_book_event']:.1f}", "-"))
            floor = r.get("read_floor")
            if floor and x.get("parse_us_per_row") is not None:
                f = floor["us_per_row"]
                out.append((
                    "  us/row: parse vs read floor (gunzip + lines / json.loads of each line)",
                    f"{x['parse_us_per_row']:.1f} vs {f['gunzip_and_lines']:.1f} / "
                    f"{f['json_loads']:.1f}",
                    "-", "-"))
        c = r.get("ceilings")
        if c:
            rates, ratios = c["book_events_per_s"], c["ratio_vs_target"]
            keys = ("engine_alone", "parse_alone", "read_floor")
            out.append((
                "ceiling book events/s, all else free: Engine alone / this reader / read floor",
                " / ".join(_fmt(rates[k]) for k in keys),
                f"target {_fmt(c['target_book_events_per_s'])}",
                " / ".join(_fmt(ratios[k]) for k in keys),
            ))
        ref = r["reference"]
        out.append((
            "reference (measured elsewhere, not in this run): nautilus_trader",
            _fmt(ref["book_events_per_s"]), "-",
            f"pipeline/ref {_fmt(ref['ratio_pipeline_vs_reference'])}",
        ))
    e = res.get("economy")
    if e:
        a, b = e["mmfsm"], e["baseline"]
        out.append(("API actions per hour (replay, seed 7)", _fmt(a["api_actions_per_hour"]),
                    f"cancel-replace {_fmt(b['api_actions_per_hour'])}",
                    _fmt(e["ratio_api_actions_per_hour"])))
        out.append(("fill rate (filled orders / placed)", _fmt(a["fill_rate"]),
                    f"cancel-replace {_fmt(b['fill_rate'])}", _fmt(e["ratio_fill_rate"])))
    f = res.get("fill")
    if f:
        if f.get("available"):
            w, p = f["websocket"], f["baseline"]
            out.append((f"fill-to-inventory, WebSocket (p50/p99 ms, {w['fills']} fills)",
                        f"{w['p50_ms']:.1f} / {w['p99_ms']:.1f}",
                        f"1-s poll {p['p50_ms']:.1f} / {p['p99_ms']:.1f} ({p['fills']} fills)",
                        f"poll/ws x{_fmt(f['ratio_p50_poll_vs_ws'])}"))
        else:
            out.append(("fill-to-inventory latency", "unavailable: " + f["reason"], "-", "-"))
    s = res.get("soak")
    if s:
        out.append((
            f"soak: {s['markets']} markets, {s['simulated_s']} simulated s",
            f"{_fmt(s['events'])} events, {s['invariant_violations']} invariant violations",
            "-", "-"))
        out.append(("soak RSS start -> end (growth; after warm-up), MiB",
                    f"{s['rss_start_kib'] / 1024:.1f} -> {s['rss_end_kib'] / 1024:.1f} "
                    f"({s['rss_growth_kib'] / 1024:+.1f}; "
                    f"{s['rss_growth_after_warmup_kib'] / 1024:+.1f})",
                    "-", "-"))
    au = res.get("audit")
    if au:
        base = au["baseline"]["steps_per_s"]
        for mode in ("full", "normal"):
            x = au[f"sync_{mode}"]
            out.append((f"audit --audit-sync {mode}: steps/s", _fmt(x["steps_per_s"]),
                        f"no audit log {_fmt(base)}",
                        _fmt(x["ratio_steps_per_s_vs_baseline"])))
            out.append((f"audit {mode}: added to a durable step (p50/p99 us)",
                        f"{_fmt(x['added_durable']['p50_us'])} / "
                        f"{_fmt(x['added_durable']['p99_us'])}",
                        f"Engine.step p50 {_fmt(x['engine_step']['p50_us'])} us", "-"))
    return out


def render(res: dict[str, Any]) -> str:
    table = [("figure", "value", "baseline (same run)", "ratio"), *rows(res)]
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    lines = []
    for k, r in enumerate(table):
        lines.append("| " + " | ".join(c.ljust(widths[i]) for i, c in enumerate(r)) + " |")
        if k == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small workloads (CI, < 1 min)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the results as JSON")
    parser.add_argument("--only", metavar="NAME,...", help=f"subset of {','.join(NAMES)}")
    parser.add_argument("--callgrind", action="store_true",
                        help="also count instructions per event under valgrind (slow)")
    parser.add_argument("--soak-hours", type=float,
                        help="simulated hours of the soak (default 24, quick 0.05)")
    args = parser.parse_args(argv)
    only = set(NAMES) if not args.only else {n.strip() for n in args.only.split(",") if n.strip()}
    unknown = only - set(NAMES)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")

    import decision
    import economy
    import fill
    import replay
    import soak

    import audit

    results: dict[str, Any] = {}
    timings: dict[str, float] = {}
    mm_run = None

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        value = fn()
        timings[name] = round(time.perf_counter() - t0, 2)
        return value

    if "decision" in only:
        results["decision"] = timed(
            "decision", lambda: decision.run(args.quick, use_callgrind=args.callgrind))
    if "replay" in only:
        results["replay"], mm_run = timed("replay", lambda: replay.run(args.quick))
    if "economy" in only:
        results["economy"] = timed("economy", lambda: economy.run(args.quick, mm_run))
    if "fill" in only:
        results["fill"] = timed("fill", lambda: fill.run(args.quick))
    if "soak" in only:
        results["soak"] = timed("soak", lambda: soak.run(args.quick, hours=args.soak_hours))
    if "audit" in only:
        results["audit"] = timed("audit", lambda: audit.run(args.quick))
    doc = {
        "meta": {
            "quick": args.quick,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "wall_s": timings,
            "argv": sys.argv[1:] if argv is None else argv,
        },
        **results,
    }
    print(render(results))
    if args.json is not None:
        args.json.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
