"""The wire between the strategy and the simulated venue: latency on ordered channels.

Theory of operation
-------------------
Latency is what makes a market maker's life hard: a cancel is not a cancel until it
arrives, and a fill is not known until it is reported. The model:

* Each direction is a set of *channels*, each first-in first-out, as a connection is:
  ``orders`` (our Place/Cancel/CancelAll to the venue), ``responses`` (acks, rejects,
  cancel confirmations: the REST replies), ``fills`` (trade reports: the user WebSocket
  or the fill poller) and ``market`` (book snapshots and tick changes).
* A message sent at ``t`` on a channel arrives at ``max(t + delay, last arrival on that
  channel)``: delays vary, order never does. ``delay`` is drawn uniformly from an
  integer range in milliseconds, per kind (place and cancel differ), from the wire's own
  seeded ``random.Random``, so the market's randomness does not depend on how many
  messages we sent.
* Because fills and responses travel on different channels, a fill can arrive after the
  cancel confirmation of its order, and after the strategy's next quote went out. The
  ``fill-lag`` scenario stretches exactly that.

Events reaching the strategy are stamped with their arrival time: the Engine's clock is
the time it learns things, as it would be live.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import attrs
from attrs import field, frozen

from mmfsm.core.commands import Command, Place
from mmfsm.core.events import Event
from mmfsm.sim.schedule import Kind, Scheduler

__all__ = ["Delivery", "LatencyModel", "Wire"]


def _range(_inst: object, attr: attrs.Attribute[Any], value: tuple[int, int]) -> None:
    lo, hi = value
    if not (isinstance(lo, int) and isinstance(hi, int) and 0 <= lo <= hi):
        raise ValueError(
            f"{attr.name}: {value!r} is not a (low, high) range of ms, 0 <= low <= high"
        )


@frozen(kw_only=True)
class LatencyModel:
    """Delay ranges in milliseconds, each drawn uniformly (inclusive) per message."""

    place_ms: tuple[int, int] = field(default=(40, 120), validator=_range)
    cancel_ms: tuple[int, int] = field(default=(30, 100), validator=_range)
    response_ms: tuple[int, int] = field(default=(20, 60), validator=_range)
    fill_ms: tuple[int, int] = field(default=(100, 400), validator=_range)
    market_ms: tuple[int, int] = field(default=(20, 80), validator=_range)
    confirm_ms: tuple[int, int] = field(default=(2_000, 6_000), validator=_range)


@frozen
class Delivery:
    """An event on its way to the strategy, with what the venue knew when it sent it.

    ``crowd_spread`` is set on YES book snapshots: the spread of the other participants'
    book (our own orders excluded), the market truth that INV-GAP is judged against.
    """

    event: Event
    crowd_spread: int | None = None


class Wire:
    """Schedules messages through their channel's delay, keeping each channel in order."""

    __slots__ = ("_below", "_delays", "_last", "model", "rng", "sched")

    def __init__(self, sched: Scheduler, model: LatencyModel, seed: int) -> None:
        self.sched = sched
        self.model = model
        self.rng = random.Random(f"wire-{seed}")
        self._below: Callable[[int], int] = self.rng._randbelow  # type: ignore[attr-defined]
        self._last: dict[str, int] = {}
        self._delays = {
            "responses": model.response_ms,
            "fills": model.fill_ms,
            "market": model.market_ms,
            "local": (0, 0),  # the adapter's own news (a timeout): no wire to cross
        }

    def _arrival(self, channel: str, now: int, delay: tuple[int, int]) -> int:
        # ``randint(lo, hi)`` is ``lo + _randbelow(hi - lo + 1)`` (``randrange``'s path
        # for a step of 1, after checking its arguments, which ``_range`` did already):
        # the same draws from the same generator, without two layers of checks a message.
        lo, hi = delay
        at = now + lo + self._below(hi - lo + 1)
        last = self._last.get(channel, now)
        if last > at:
            at = last
        self._last[channel] = at
        return at

    def to_venue(self, now: int, command: Command) -> int:
        """Send a command; returns the time it reaches the venue."""
        delay = self.model.place_ms if isinstance(command, Place) else self.model.cancel_ms
        at = self._arrival("orders", now, delay)
        self.sched.push(at, Kind.VENUE, command)
        return at

    def to_strategy(
        self, now: int, channel: str, event: Event, crowd_spread: int | None = None
    ) -> int:
        """Report an event; it is re-stamped with its arrival time."""
        at = self._arrival(channel, now, self._delays[channel])
        stamped = attrs.evolve(event, ts_ms=at)
        self.sched.push(at, Kind.DELIVER, Delivery(stamped, crowd_spread))
        return at

    def arrival(self, channel: str, now: int) -> int:
        """When a report sent now on ``channel`` arrives (drawing its delay, as
        ``to_strategy`` does); the caller builds the event stamped with it and hands it
        to ``deliver``, instead of building it twice."""
        return self._arrival(channel, now, self._delays[channel])

    def deliver(self, at: int, event: Event, crowd_spread: int | None = None) -> None:
        """Schedule an event already stamped with its arrival time (see ``arrival``)."""
        self.sched.push(at, Kind.DELIVER, Delivery(event, crowd_spread))

    def confirm_delay(self) -> int:
        """How long a matched trade takes to be mined (CONFIRMED) or to fail."""
        lo, hi = self.model.confirm_ms
        return lo + self._below(hi - lo + 1)  # ``randint(lo, hi)``, as in ``_arrival``
