"""Fill-to-inventory latency: the user WebSocket against the 1-second trade poll, one run.

What is measured: for every fill of ours, the time from the match on the emulator
(``TradeRecord.matched_mono``, stamped inside the exchange when the trade is created)
to the moment the Engine's ledger took it (the run loop's ``on_step`` hook after the
``Trade`` event's step), both on the same monotonic clock, in one process.

How: one emulator, two bots at the same time with their own wallets, the same code and
config, each on its own half of the emulator's markets (so neither takes the other's
fills), except that bot ``ws`` has the user channel (and the poll as its fallback)
while bot ``poll`` has only the 1-second poll. Running both in one run means both see
the same kind of market, the same load and the same machine, so the ratio compares the
paths, not two different afternoons.

Usage: ``python tools/bench_fill_latency.py [--seconds 30] [--markets 2] [--seed 7]``
(``--markets`` per bot).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys

import attrs

from mmfsm.core.config import MarketConfig, default_config
from mmfsm.core.engine import Step
from mmfsm.core.events import Event, Trade, TradeStatus
from mmfsm.emulator import Emulator, EmulatorConfig, ParticipantConfig
from mmfsm.trade import BotSession


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[k]


class _Probe:
    """Records, per fill, when the Engine took it."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.latencies_ms: list[float] = []
        self._seen: set[str] = set()

    def on_step(self, event: Event, step: Step, t: float) -> None:
        if not isinstance(event, Trade) or event.status is not TradeStatus.MATCHED:
            return
        if event.trade_id in self._seen:
            return
        self._seen.add(event.trade_id)
        trade = self.emulator.exchange.trades.get(event.trade_id.split(":")[0])
        if trade is not None:
            self.latencies_ms.append((t - trade.matched_mono) * 1000)


async def _bench(seconds: float, markets: int, seed: int) -> int:
    emulator = Emulator(
        EmulatorConfig(
            markets=2 * markets, seed=seed, participants=ParticipantConfig(taker_rate=3.0)
        )
    )
    await emulator.start()
    base = default_config()
    base = attrs.evolve(base, risk=attrs.evolve(base.risk, gap_recovery_ms=0))
    halves = [
        tuple(
            MarketConfig(
                condition_id=m.condition_id,
                yes_token=m.yes_token,
                no_token=m.no_token,
                name=f"{tag}{i + 1}",
            )
            for i, m in enumerate(emulator.markets[k * markets : (k + 1) * markets])
        )
        for k, tag in ((0, "w"), (1, "p"))
    ]
    quiet = logging.getLogger("bench")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    probes = {"ws": _Probe(emulator), "poll": _Probe(emulator)}
    bots = {
        "ws": BotSession(
            emulator,
            attrs.evolve(base, markets=halves[0]),
            logger=quiet,
            on_step=probes["ws"].on_step,
            poll_s=1.0,
        ),
        "poll": BotSession(
            emulator,
            attrs.evolve(base, markets=halves[1]),
            logger=quiet,
            on_step=probes["poll"].on_step,
            poll_s=1.0,
            use_user_ws=False,
        ),
    }
    try:
        for bot in bots.values():
            await bot.start()
        print(f"trading {seconds:.0f}s, {markets} emulated market(s) per bot ...", flush=True)
        await asyncio.sleep(seconds)
        for bot in bots.values():
            await bot.stop()
    finally:
        await emulator.stop()
    print(f"{'path':<6} {'fills':>6} {'p50 ms':>9} {'p99 ms':>9} {'mean ms':>9}")
    rows = {}
    for name, probe in probes.items():
        lat = probe.latencies_ms
        rows[name] = (_percentile(lat, 0.5), _percentile(lat, 0.99))
        mean = statistics.fmean(lat) if lat else float("nan")
        print(f"{name:<6} {len(lat):>6} {rows[name][0]:>9.1f} {rows[name][1]:>9.1f} {mean:>9.1f}")
    sources: dict[str, int] = {}
    for _tid, source, _t in bots["ws"].venue.fill_log:
        sources[source] = sources.get(source, 0) + 1
    print(f"ws bot: first delivery by source {sources}")
    if not probes["ws"].latencies_ms or not probes["poll"].latencies_ms:
        print("not enough fills to compare; run longer", file=sys.stderr)
        return 1
    ws50, ws99 = rows["ws"]
    p50, p99 = rows["poll"]
    print(f"poll/ws ratio: p50 {p50 / ws50:.1f}x, p99 {p99 / ws99:.1f}x")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--markets", type=int, default=2, help="markets per bot")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    return asyncio.run(_bench(args.seconds, args.markets, args.seed))


if __name__ == "__main__":
    sys.exit(main())
