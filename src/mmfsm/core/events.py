"""Everything that can happen to the Engine, as frozen values.

Theory of operation
-------------------
The Engine is a function of the events it is fed, in order. Each event carries its own
time (``ts_ms``, Unix milliseconds UTC, as the venue or the shell's clock stamped it), so
the core never reads a clock and a recorded run replays to the same decisions.

Events that come from the exchange describe what the exchange said, already parsed into
exact integer units (prices in 0.0001, sizes in micro-shares) by the venue adapter; they
are *not* trusted: a crossed book or a fill for an order we never sent is an anomaly the
Engine handles, not an error in our own code. Events that come from the operator
(halt, resume, config reload) are equally just events: a resume without an
acknowledgement is refused by the bot machine's guard, not by the shell.

No event subclasses another concrete event; ``Event`` is a union for type checking.
"""

from __future__ import annotations

import enum

from attrs import field, frozen, validators

from mmfsm.core.config import Config
from mmfsm.core.ticks import PRICE_SCALE, Side, TickSize

__all__ = [
    "BookSnapshot",
    "ClockTick",
    "ConfigReload",
    "Event",
    "MarketListed",
    "OperatorHalt",
    "OperatorResume",
    "OrderAcked",
    "OrderCancelled",
    "OrderExpired",
    "OrderRejected",
    "PriceChange",
    "RejectReason",
    "TickSizeChanged",
    "Trade",
    "TradeStatus",
    "VenueFault",
]

_Levels = tuple[tuple[int, int], ...]


def _non_negative(_inst: object, attr: object, value: int) -> None:
    if value < 0:
        raise ValueError(f"{getattr(attr, 'name', '?')} must be >= 0, got {value}")


def _ts() -> int:
    """An event time: Unix milliseconds UTC, never negative."""
    ts: int = field(validator=[validators.instance_of(int), _non_negative])
    return ts


@frozen(kw_only=True)
class MarketListed:
    """The venue told us a market exists and what its tick and minimum size are now.

    A market is never quoted before this arrives: its tick size comes from the venue, not
    from a cache or the config.
    """

    ts_ms: int = _ts()
    market: str
    yes_token: str
    no_token: str
    tick: TickSize
    min_size: int = field(validator=_non_negative)
    end_ms: int | None = None


@frozen(kw_only=True)
class BookSnapshot:
    """A full L2 book for one token (``book`` message); bids and asks best first."""

    ts_ms: int = _ts()
    market: str
    token: str
    bids: _Levels
    asks: _Levels


@frozen(kw_only=True)
class PriceChange:
    """Incremental level updates for one token (``price_change``); size 0 removes."""

    ts_ms: int = _ts()
    market: str
    token: str
    changes: tuple[tuple[Side, int, int], ...]


@frozen(kw_only=True)
class TickSizeChanged:
    ts_ms: int = _ts()
    market: str
    token: str
    tick: TickSize


class RejectReason(enum.Enum):
    POST_ONLY = "post_only"  # would have crossed: retry one tick further away
    MIN_SIZE = "min_size"
    BALANCE = "balance"
    TICK = "tick"  # our price was off the market's grid: the tick changed under us
    OTHER = "other"


@frozen(kw_only=True)
class OrderAcked:
    ts_ms: int = _ts()
    client_id: str
    venue_id: str = ""


@frozen(kw_only=True)
class OrderRejected:
    ts_ms: int = _ts()
    client_id: str
    reason: RejectReason
    message: str = ""


@frozen(kw_only=True)
class OrderCancelled:
    """The venue confirmed the order is no longer resting (cancel we asked for, or not).

    ``size_matched`` is the venue's total matched size for the order when it ended: fills
    whose trade reports have not reached us yet still count as exposure until they do.
    """

    ts_ms: int = _ts()
    client_id: str
    size_matched: int = field(validator=_non_negative)


@frozen(kw_only=True)
class OrderExpired:
    """A GTD order reached its expiry, or a FAK order's unfilled rest was killed."""

    ts_ms: int = _ts()
    client_id: str
    size_matched: int = field(validator=_non_negative)


class TradeStatus(enum.Enum):
    MATCHED = "MATCHED"
    MINED = "MINED"
    CONFIRMED = "CONFIRMED"
    RETRYING = "RETRYING"
    FAILED = "FAILED"


# Bound to module names for the hot path, as ``ticks.BUY`` (why there).
CONFIRMED = TradeStatus.CONFIRMED
FAILED = TradeStatus.FAILED


@frozen(kw_only=True)
class Trade:
    """One fill of one of our orders, as the venue reports it, possibly late or twice.

    ``trade_id`` identifies the fill across its status updates (MATCHED, then MINED or
    CONFIRMED, or RETRYING/FAILED); the ledger is idempotent on it.
    """

    ts_ms: int = _ts()
    trade_id: str
    client_id: str
    market: str
    token: str
    side: Side
    price: int = field()
    size: int = field()
    status: TradeStatus

    @price.validator
    def _check_price(self, _attr: object, value: int) -> None:
        if not 0 < value < PRICE_SCALE:
            raise ValueError(f"trade {self.trade_id}: price {value} outside (0, 1)")

    @size.validator
    def _check_size(self, _attr: object, value: int) -> None:
        if value <= 0:
            raise ValueError(f"trade {self.trade_id}: size {value} must be > 0")


@frozen(kw_only=True)
class ClockTick:
    """Time passes: drives ages, timeouts, staleness, retries and the daily reset."""

    ts_ms: int = _ts()


@frozen(kw_only=True)
class OperatorHalt:
    """Stop quoting; ``market`` None halts the whole bot."""

    ts_ms: int = _ts()
    reason: str
    market: str | None = None


@frozen(kw_only=True)
class OperatorResume:
    """Resume after a halt. ``ack`` must say why it is safe: an empty one is refused."""

    ts_ms: int = _ts()
    ack: str
    market: str | None = None


@frozen(kw_only=True)
class ConfigReload:
    ts_ms: int = _ts()
    config: Config


@frozen(kw_only=True)
class VenueFault:
    """A venue read or write failed (timeout, 5xx, a failed open-orders fetch).

    It is an error, never an empty answer: the affected market (or every market, when
    ``market`` is None) stops quoting until fresh data arrives.
    """

    ts_ms: int = _ts()
    what: str
    market: str | None = None


Event = (
    MarketListed
    | BookSnapshot
    | PriceChange
    | TickSizeChanged
    | OrderAcked
    | OrderRejected
    | OrderCancelled
    | OrderExpired
    | Trade
    | ClockTick
    | OperatorHalt
    | OperatorResume
    | ConfigReload
    | VenueFault
)
