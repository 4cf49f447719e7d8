"""What the simulator drives: anything that turns an event into a ``Step`` of commands.

Theory of operation
-------------------
The simulator runs the very ``Engine`` that trades live, through ``EngineStrategy``, a
read-only adapter that adds the two questions the simulator's checks ask of every
strategy: how many quotes it means to keep resting in a market, and (for the Engine)
its machines. The baseline (``NaiveMaker``) answers the same questions, so metrics and
market-truth invariants are computed the same way for both.
"""

from __future__ import annotations

from typing import Protocol

from mmfsm.core.engine import Engine, Step
from mmfsm.core.events import Event
from mmfsm.core.orders import Purpose

__all__ = ["EngineStrategy", "Strategy"]


class Strategy(Protocol):
    name: str

    def step(self, event: Event) -> Step: ...

    def live_quotes(self, market: str) -> int:
        """Quotes (not exit orders) the strategy believes rest or are about to."""
        ...


class EngineStrategy:
    """The Engine, unchanged, as a ``Strategy``."""

    name = "mmfsm"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def step(self, event: Event) -> Step:
        return self.engine.step(event)

    def live_quotes(self, market: str) -> int:
        return sum(
            1
            for o in self.engine.orders.in_market(market)
            if o.live and o.purpose is not Purpose.EXIT
        )
