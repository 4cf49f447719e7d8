"""Measure what the audit log costs: write rate, the latency durability adds, start-up time.

Usage::

    python tools/audit_bench.py                      # 1 simulated hour, both sync modes
    python tools/audit_bench.py --seconds 7200 --startup-hours 1,2,4

What it runs: the synthetic venue (``mmfsm.runner.run_synthetic``, seed 7, 3 markets)
with a ``Services`` that times, for every step, ``Engine.step`` and then the audit log's
``record`` separately. ``record`` is the whole cost the audit log adds to a step: codec,
hashing, and for a step that must be durable, the SQLite commit (and in ``full`` mode,
the fsync of the WAL) before the caller may send the step's commands. It reports:

* the write rate: records appended per second of audit time, and steps per second of
  the whole loop with and without the log (the synthetic loop also flushes once per
  *simulated* second, an artifact of simulated time that is reported apart);
* the latency added to a durable step (the ones that send orders) and to a staged one
  (group commit), p50 / p99 / max, for ``--audit-sync full`` and ``normal``, and, as
  the worst case, with every step fsynced as if each one sent an order;
* start-up (recovery) time as the log grows, with snapshots (only the tail after the
  newest snapshot is replayed) and without (the whole log is replayed).

Numbers depend on the disk: run it on the machine and filesystem the bot will use.
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from mmfsm.audit.log import AuditLog, Sync, must_be_durable
from mmfsm.audit.recovery import recover
from mmfsm.audit.store import connect_reader
from mmfsm.core.config import default_config
from mmfsm.core.engine import Engine, Step
from mmfsm.core.events import Event
from mmfsm.harness import T0
from mmfsm.ops.services import Services
from mmfsm.runner import run_synthetic


class _Timed(Services):
    def __init__(self, audit: AuditLog | None, *, all_durable: bool = False) -> None:
        super().__init__(audit=audit)
        self.all_durable = all_durable
        self.engine_s: list[float] = []
        self.durable_s: list[float] = []
        self.staged_s: list[float] = []
        self.idle_s: list[float] = []

    def idle(self) -> None:
        t0 = time.perf_counter()
        super().idle()
        self.idle_s.append(time.perf_counter() - t0)

    def step(self, engine: Engine, event: Event) -> Step:
        before = engine.config_hash
        t0 = time.perf_counter()
        step = engine.step(event)
        t1 = time.perf_counter()
        self.engine_s.append(t1 - t0)
        if self.audit is None:
            return step
        self.audit.record(event, step, before=before, after=engine.config_hash)
        if self.all_durable:
            self.audit.flush(durable=True)  # as if every step sent something
        self.audit.maybe_snapshot(engine)
        t2 = time.perf_counter()
        (self.durable_s if must_be_durable(event, step) else self.staged_s).append(t2 - t1)
        return step


def _quiet() -> logging.Logger:
    logger = logging.getLogger("mmfsm.bench")
    logger.propagate = False
    logger.addHandler(logging.NullHandler())
    return logger


def _us(values: list[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {p50 * 1e6:7.0f} us  p99 {p99 * 1e6:7.0f} us  max {ordered[-1] * 1e6:7.0f} us"


def _run(
    path: Path | None, seconds: int, sync: Sync, *, all_durable: bool = False
) -> tuple[_Timed, float, int]:
    log = None
    if path is not None:
        log = AuditLog(path, sync=sync)
        log.genesis(default_config(), T0)
    services = _Timed(log, all_durable=all_durable)
    started = time.perf_counter()
    engine, _ = run_synthetic(
        default_config(), seconds=seconds, seed=7, start_ms=T0, logger=_quiet(), services=services
    )
    wall = time.perf_counter() - started
    records = 0
    if log is not None:
        log.close(engine)
        records = log.stats.records
    return services, wall, records


def bench_writes(tmp: Path, seconds: int) -> None:
    base, base_wall, _ = _run(None, seconds, Sync.FULL)
    steps = len(base.engine_s)
    print(f"synthetic run: {seconds} simulated s, {steps} steps")
    print(f"  without audit log: {base_wall:6.2f} s wall, {steps / base_wall:8.0f} steps/s")
    for sync, all_durable, label in (
        (Sync.FULL, False, "full   (default)"),
        (Sync.NORMAL, False, "normal"),
        (Sync.FULL, True, "full, worst case: every step fsynced"),
    ):
        name = f"{sync.value}-{all_durable}.sqlite"
        timed, wall, records = _run(tmp / name, seconds, sync, all_durable=all_durable)
        audit_s = sum(timed.durable_s) + sum(timed.staged_s)
        print(f"  --audit-sync {label}:")
        print(
            f"    {wall:6.2f} s wall, {steps / wall:8.0f} steps/s; {records} records, "
            f"{records / audit_s:8.0f} records/s of audit time "
            f"({audit_s / wall * 100:.0f}% of the loop)"
        )
        print(f"    added to a durable step ({len(timed.durable_s):5d}): {_us(timed.durable_s)}")
        print(f"    added to a staged step  ({len(timed.staged_s):5d}): {_us(timed.staged_s)}")
        print(f"    Engine.step itself for comparison:  {_us(timed.engine_s)}")
        print(
            f"    idle flushes ({len(timed.idle_s)}, one per simulated second; live: one per "
            f"second at most): {sum(timed.idle_s):.2f} s of the wall time"
        )


def bench_startup(tmp: Path, hours: list[int]) -> None:
    print("start-up (recovery) time as the log grows:")
    for h in hours:
        path = tmp / f"startup-{h}h.sqlite"
        log = AuditLog(path, snapshot_every=5_000)
        log.genesis(default_config(), T0)
        run_synthetic(
            default_config(),
            seconds=3600 * h,
            seed=7,
            start_ms=T0,
            logger=_quiet(),
            services=Services(audit=log),
        )
        # Die without the final snapshot: recovery replays the tail since the last one.
        log.close(None)
        conn = connect_reader(path)
        started = time.perf_counter()
        with_snap = recover(conn)
        snap_s = time.perf_counter() - started
        full = tmp / f"startup-{h}h-nosnap.sqlite"
        dst = sqlite3.connect(full)
        conn.backup(dst)
        conn.close()
        dst.execute("DELETE FROM snapshots")  # the same log, as if it had no snapshots
        dst.commit()
        dst.close()
        conn = connect_reader(full)
        started = time.perf_counter()
        without = recover(conn)
        full_s = time.perf_counter() - started
        conn.close()
        print(
            f"  {h}h: {with_snap.last_seq:7d} records; with snapshots {snap_s * 1000:6.0f} ms "
            f"({with_snap.replayed_events} events replayed); without {full_s * 1000:6.0f} ms "
            f"({without.replayed_events} events)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=3600, help="simulated seconds per run")
    parser.add_argument(
        "--startup-hours", default="1,2,4", help="log sizes for start-up, in simulated hours"
    )
    parser.add_argument("--dir", type=Path, help="where to write the logs (default: a tmp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as name:
        tmp = Path(name)
        bench_writes(tmp, args.seconds)
        hours = [int(h) for h in args.startup_hours.split(",") if h]
        if hours:
            bench_startup(tmp, hours)


if __name__ == "__main__":
    main()
