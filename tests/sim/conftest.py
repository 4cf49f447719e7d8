"""Shared simulator runs: each scenario runs once per session, whatever number of tests read it.

``Observed`` pairs a run with what the strategy looked like after every step (its live
quotes per market and, for the Engine, the state of each machine), recorded through the
loop's ``probe`` so tests can assert on the state *at* a step, not only at the end.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest
from attrs import define, field

from mmfsm.sim.loop import RunResult, SimSetup, TraceStep, simulate
from mmfsm.sim.scenarios import get
from mmfsm.sim.strategy import EngineStrategy, Strategy

RECORDING = Path(__file__).resolve().parents[3] / "shared" / "data" / "polymarket-btc-15m"


@define
class Observed:
    run: RunResult
    live: list[dict[str, int]] = field(factory=list)  # per trace step: market -> live quotes
    states: list[dict[str, tuple[str, str, str]]] = field(
        factory=list
    )  # market -> (bot, market, position)


def observe(setup: SimSetup, *, baseline: bool = False) -> Observed:
    live: list[dict[str, int]] = []
    states: list[dict[str, tuple[str, str, str]]] = []

    def probe(_step: TraceStep, strategy: Strategy) -> None:
        markets = [m.name for m in setup.markets]
        live.append({m: strategy.live_quotes(m) for m in markets})
        if isinstance(strategy, EngineStrategy):
            e = strategy.engine
            states.append(
                {
                    name: (e.bot.state, ms.machine.state, ms.position.state)
                    for name, ms in e.markets.items()
                }
            )

    run = simulate(setup, baseline=baseline, probe=probe)
    return Observed(run=run, live=live, states=states)


@functools.cache
def _scenario(name: str, show_own_orders: bool = True) -> Observed:
    setup = get(name).setup()
    if not show_own_orders:
        setup = attrs.evolve(setup, venue=attrs.evolve(setup.venue, show_own_orders=False))
    return observe(setup)


@pytest.fixture
def scenario() -> Callable[..., Observed]:
    return _scenario


@pytest.fixture
def recording() -> Path:
    if not (RECORDING / "books.jsonl.gz").exists():
        pytest.skip(f"recording not found at {RECORDING}")
    return RECORDING
