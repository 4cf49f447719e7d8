"""What the Engine asks the shell to do, as frozen values.

Theory of operation
-------------------
The Engine never talks to a venue. It returns commands; the shell writes them (and the
transitions that caused them) to the audit log, and only then hands them to a venue
adapter. Every price in a ``Place`` has already passed the tick module, so a command is
sendable as it is.

``Log`` carries the strategy document's grep-able lines ("FORCE EXIT", "Fill detected",
...). They are commands rather than logging calls so the core stays free of I/O and the
same lines appear, byte for byte, live, in the simulator and in replays.
"""

from __future__ import annotations

import enum

from attrs import frozen

from mmfsm.core.ticks import Side, format_price, format_size

__all__ = [
    "Alert",
    "Cancel",
    "CancelAll",
    "Command",
    "Log",
    "Place",
    "Severity",
    "TimeInForce",
]


class TimeInForce(enum.Enum):
    GTC = "GTC"
    GTD = "GTD"
    FAK = "FAK"  # fill and kill: what force exit uses to take liquidity
    FOK = "FOK"


# Bound to module names for the hot path, as ``ticks.BUY`` (why there).
FAK = TimeInForce.FAK
GTC = TimeInForce.GTC


@frozen(kw_only=True)
class Place:
    client_id: str
    market: str
    token: str
    side: Side
    price: int
    size: int
    tif: TimeInForce
    post_only: bool
    expires_ms: int | None = None

    def __str__(self) -> str:
        flags = " post-only" if self.post_only else ""
        return (
            f"Place {self.client_id} {self.side.value} {format_size(self.size)} "
            f"@ {format_price(self.price)} {self.tif.value}{flags} [{self.market}]"
        )


@frozen(kw_only=True)
class Cancel:
    client_id: str
    market: str
    reason: str = ""


@frozen(kw_only=True)
class CancelAll:
    reason: str


class Severity(enum.Enum):
    DEBUG = "DEBUG"  # per-step detail a log file keeps and a console hides
    INFO = "INFO"
    WARNING = "WARNING"
    CRITICAL = "CRITICAL"


# As FAK and GTC above.
CRITICAL = Severity.CRITICAL
DEBUG = Severity.DEBUG
INFO = Severity.INFO
WARNING = Severity.WARNING


@frozen(kw_only=True)
class Alert:
    """Something an operator must see (critical pages, warning goes to chat)."""

    severity: Severity
    message: str
    market: str | None = None


@frozen(kw_only=True)
class Log:
    """A line for the bot's log; ``message`` is exactly what is written."""

    severity: Severity
    message: str
    market: str | None = None


Command = Place | Cancel | CancelAll | Alert | Log
