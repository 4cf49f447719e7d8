"""Profile the hot path: where a workload's time goes, function by function.

Usage::

    python tools/bench/hotpath.py [decision|engine-replay|pipeline] [--markets N]
                                  [--events N] [--top N] [--sampler] [--quick]

Workloads (the same ones ``run.py`` times):

* ``decision``: the decision benchmark's book updates and fills (``latency._drive``) on
  ``--markets`` markets;
* ``engine-replay``: a fresh Engine stepping exactly the events the replay of
  ../shared/data/polymarket-btc-15m delivers (collected from one run of the simulator
  first, outside the profile), and a table of the Engine's time by event type;
* ``pipeline``: the whole replay pipeline at audit sync normal (``replay._pipeline``).

The default profiler is ``cProfile`` (standard library): exact call counts, but every
Python call pays its overhead, which inflates small functions. ``--sampler`` uses
pyinstrument's statistical profiler instead, when it is installed (``pip install
pyinstrument``); ``py-spy record -- python tools/bench/hotpath.py ...`` works as well.

The profile is of the interpreted core (``MMFSM_PURE_CORE=1``, set here unless the caller
set it): a profiler sees no function inside the compiled extensions, and the compiled
modules are the same sources, so the interpreted profile is the map of where to cut.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("MMFSM_PURE_CORE", "1")  # before anything imports mmfsm
sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: F401  (sets sys.path for the tools/ modules)

from mmfsm.audit.log import Sync
from mmfsm.core.config import Config
from mmfsm.core.engine import Engine, Step
from mmfsm.core.events import Event

WORKLOADS = ("decision", "engine-replay", "pipeline")


def _decision(markets: int, events: int) -> Callable[[], None]:
    import latency

    def run() -> None:
        engine, ts = latency._setup(markets)
        latency._drive(
            engine, markets, events, ts, lambda _k, e: engine.step(e), seed=1, fill_every=50
        )

    return run


def _replay_events(quick: bool) -> tuple[Config, list[Event]]:
    import replay

    _, mm, events = replay._pipeline(quick, Sync.NORMAL, checks=False, rows=0)
    return mm.setup.config, events


def by_event_type(config: Config, events: list[Event]) -> str:
    """The Engine's time on the replay by event type: count, share, p50 and mean µs."""
    engine = Engine(config)
    spent: dict[str, list[int]] = defaultdict(list)
    clock = time.perf_counter_ns
    for event in events:
        start = clock()
        engine.step(event)
        spent[type(event).__name__].append(clock() - start)
    total = sum(sum(v) for v in spent.values())
    lines = [f"{'event':<16} {'count':>7} {'share':>6} {'p50 us':>8} {'mean us':>8}"]
    for name, samples in sorted(spent.items(), key=lambda kv: -sum(kv[1])):
        samples.sort()
        lines.append(
            f"{name:<16} {len(samples):>7} {100 * sum(samples) / total:>5.1f}% "
            f"{samples[len(samples) // 2] / 1000:>8.1f} {sum(samples) / len(samples) / 1000:>8.1f}"
        )
    return "\n".join(lines)


def _engine_replay(config: Config, events: list[Event]) -> Callable[[], None]:
    def run() -> None:
        engine = Engine(config)
        step: Callable[[Event], Step] = engine.step
        for event in events:
            step(event)

    return run


def _pipeline(quick: bool) -> Callable[[], None]:
    import replay

    def run() -> None:
        replay._pipeline(quick, Sync.NORMAL, checks=False, rows=0)

    return run


def profile(fn: Callable[[], None], top: int, sampler: bool) -> str:
    if sampler:
        try:
            from pyinstrument import Profiler  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            return "pyinstrument is not installed: pip install pyinstrument, or drop --sampler"
        prof = Profiler(interval=0.0002)
        prof.start()
        fn()
        prof.stop()
        return str(prof.output_text(unicode=False, color=False, show_all=False))
    cp = cProfile.Profile()
    cp.enable()
    fn()
    cp.disable()
    out = io.StringIO()
    pstats.Stats(cp, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", nargs="?", default="decision", choices=WORKLOADS)
    parser.add_argument("--markets", type=int, default=1, help="decision: markets (1)")
    parser.add_argument("--events", type=int, default=20_000, help="decision: events (20000)")
    parser.add_argument("--top", type=int, default=30, help="functions to print (30)")
    parser.add_argument("--sampler", action="store_true", help="pyinstrument, not cProfile")
    parser.add_argument("--quick", action="store_true", help="replay workloads: 2 markets")
    args = parser.parse_args(argv)
    if args.markets < 1 or args.events < 1 or args.top < 1:
        parser.error("--markets, --events and --top must be at least 1")
    if args.workload == "decision":
        fn = _decision(args.markets, args.events)
    elif args.workload == "engine-replay":
        config, events = _replay_events(args.quick)
        print(by_event_type(config, events), end="\n\n")
        fn = _engine_replay(config, events)
    else:
        fn = _pipeline(args.quick)
    print(profile(fn, args.top, args.sampler))
    return 0


if __name__ == "__main__":
    sys.exit(main())
