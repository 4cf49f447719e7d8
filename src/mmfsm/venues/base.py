"""The venue interface the run loop uses, and the errors every venue speaks.

Theory of operation
-------------------
The run loop (``mmfsm.live``) knows four things about a venue: ``start`` it (connect,
reconcile, list markets; events flow from then on through the ``emit`` callback it is
given), ``submit`` the Engine's commands to it (never blocking the loop: results come
back later as events), ask it for a ``status`` line, and ``shutdown`` (cancel
everything and check nothing is left) or ``abort`` (stop dead, as a killed process
would, leaving the venue's dead-man switch to act). Everything venue-specific, the
official client included, stays behind this interface, so moving to another client or
venue is one new implementation of ``Venue``.

A venue never turns a failure into an answer. A read that failed is a ``VenueError``
inside the adapter and a ``VenueFault`` event for the Engine (the market stops quoting),
never an empty list; a start-up state it cannot explain is ``StartupRefused`` with a
message that tells the operator what to do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from attrs import frozen

from mmfsm.core.commands import Command
from mmfsm.core.events import Event
from mmfsm.core.ticks import TickSize

__all__ = [
    "Emit",
    "MarketInfo",
    "ShutdownReport",
    "StartupRefused",
    "Venue",
    "VenueError",
    "VenueStatus",
    "hold",
]

Emit = Callable[[Event], None]


class VenueError(Exception):
    """A venue call that failed. ``status`` is the HTTP status, None for no answer.

    ``message`` is the venue's own error text (never a header, key or signature), so it
    can be logged and matched (``"order crosses book"``). ``order_id`` is set when a
    placement failed in a way that leaves its fate unknown: the id the order would have.
    """

    def __init__(self, status: int | None, message: str, *, order_id: str | None = None) -> None:
        super().__init__(f"{status if status is not None else 'no answer'}: {message}")
        self.status = status
        self.message = message
        self.order_id = order_id

    @property
    def rate_limited(self) -> bool:
        return self.status in (429, 425)

    @property
    def ambiguous(self) -> bool:
        """No answer or a server error: the request may or may not have taken effect."""
        return self.status is None or self.status >= 500

    @property
    def refused(self) -> bool:
        """A definite refusal: nothing happened on the venue."""
        return self.status is not None and 400 <= self.status < 500 and not self.rate_limited


class StartupRefused(Exception):
    """The venue is in a state the bot cannot explain; the message says what to do."""


@frozen(kw_only=True)
class MarketInfo:
    """A market as the venue describes it now; ``key`` is the Engine's name for it."""

    key: str
    condition_id: str
    yes_token: str
    no_token: str
    tick: TickSize
    min_size: int
    neg_risk: bool = False


@frozen(kw_only=True)
class VenueStatus:
    """One line's worth of venue health for the status display."""

    open_orders: int
    market_ws: str
    user_ws: str
    heartbeat: str
    fills: int


@frozen(kw_only=True)
class ShutdownReport:
    """What a venue's shutdown did: ``still_open`` is None when it is not known.

    A shutdown whose cancel or whose last read of the open orders failed cannot say
    how many of our orders are left (``error`` says why); that is never "none".
    """

    cancelled: int
    still_open: int | None
    error: str | None = None

    @property
    def confirmed(self) -> bool:
        """The venue answered, after the cancel, that none of our orders is open."""
        return self.error is None and self.still_open == 0


class Venue(Protocol):
    name: str

    async def start(self, emit: Emit) -> list[MarketInfo]:
        """Connect, reconcile and list markets; raise ``StartupRefused`` on a mismatch."""
        ...

    def submit(self, commands: Sequence[Command]) -> None:
        """Hand over one step's commands; returns at once (Log and Alert are ignored)."""
        ...

    def status(self) -> VenueStatus: ...

    async def shutdown(self) -> ShutdownReport:
        """Cancel every order, confirm none is left open, stop all tasks."""
        ...

    async def abort(self) -> None:
        """Stop all tasks at once without touching the venue (a crash, for tests)."""
        ...


def hold(holds: dict[str, set[str]], markets: Iterable[MarketInfo], reason: str) -> bool:
    """Hold ``markets`` for ``reason`` (a market quotes again only when every reason it
    is held for is released); True when some market was not yet held for it, that is,
    when the fault is news the Engine must be told (once, not on every failed retry)."""
    fresh = False
    for m in markets:
        held = holds.setdefault(m.key, set())
        fresh |= reason not in held
        held.add(reason)
    return fresh
