"""Everything the Engine knows about one market, and the numbers derived from it.

Theory of operation
-------------------
A market is two books (YES and NO token), a market machine, the current position
machine, a ledger, the vol estimator and a few timestamps that the time-based rules
read. Prices for quoting and marking come from the YES book; the NO book is validated
(a bad NO message is still an anomaly to report) but a market's quotability is judged on
the YES book, because buying NO at p is selling YES at 1 - p and the exchange matches
the two books against each other.

"Usable" is the conjunction of everything that makes a price real: a tick size from the
venue that no reject has put in doubt, no unresolved venue fault, and a trusted, fresh,
two-sided book. Nothing is quoted around a price that is not usable.
"""

from __future__ import annotations

from attrs import define
from mypy_extensions import mypyc_attr

from mmfsm.core.book import Book, Top
from mmfsm.core.ledger import MarketLedger
from mmfsm.core.machines import Machine
from mmfsm.core.orders import Purpose
from mmfsm.core.quotes import StoikovMicroPrice, VolatilityEstimator
from mmfsm.core.ticks import TickSize

__all__ = ["MarketState", "SlotRetry"]


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
@define(slots=True)
class SlotRetry:
    """Post-only retry state of one side of one market.

    ``attempts`` counts rejects since the opposite best was ``ref``; when the book moves
    the count starts again. More than the configured retries and the side rests.
    """

    attempts: int = 0
    due_ms: int = 0
    ref: int | None = None  # opposite best at the last reject
    cooldown_until_ms: int = 0  # after a reject that is not post-only


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
@define(slots=True)
class MarketState:
    market: str
    yes_token: str
    no_token: str
    tick: TickSize
    min_size: int
    end_ms: int | None
    machine: Machine
    position: Machine
    ledger: MarketLedger
    yes_book: Book
    no_book: Book
    sigma: VolatilityEstimator
    stoikov: StoikovMicroPrice | None
    # Given by whoever builds the state, not an attrs factory: the
    # compiled core cannot hold a field with a factory.
    retry: dict[Purpose, SlotRetry]
    position_seq: int = 1
    opened_ms: int | None = None
    position_realized_base: int = 0
    unwind_started_ms: int | None = None
    band_since_ms: int | None = None
    venue_fault: str | None = None
    tick_suspect: bool = False
    halted_by_operator: bool = False
    exit_due_ms: int = 0  # a rejected force-exit order is retried no sooner than this
    exit_blocked_alerted: bool = False  # said once that the position is below min size
    mark: int | None = None
    # The top of the book without our own orders: the market as the others make it.
    # Spread, mark and fair price come from it; a post-only clamp uses the full book.
    fair: Top | None = None
    unrealized: int = 0
    # Tokens we hold and have not already offered (set before each quoting pass): the
    # exchange lets us sell only those.
    yes_free: int = 0
    no_free: int = 0
    # While ``now < quiet_until`` a judge and quote pass would repeat the last one,
    # which said nothing and kept ``quiet_kept`` orders (see ``Engine.step``); anything
    # that changes the market resets it to 0.
    quiet_until: int = 0
    quiet_kept: int = 0
    deadline_moved: bool = False  # an input of ``Engine._deadline`` changed unjudged
    # The last quoting pass sized a quote by the capital other markets leave
    # (INV-CAPITAL), which moves without this market.
    capital_bound: bool = False
    # What the other markets left of the capital at the last quoting pass (None: no
    # pass yet): near the capital a quiet market stays quiet only while it is the same.
    capital_seen: int | None = None

    def usable(self, now_ms: int, stale_ms: int) -> bool:
        # ``yes_book.quotable`` written out (trusted, two-sided, not stale): every judge
        # pass asks, and the two calls cost more than the tests.
        book = self.yes_book
        last = book.last_update_ms
        return (
            self.venue_fault is None
            and not self.tick_suspect
            and self.fair is not None
            and book.trusted
            and book.best_bid is not None
            and book.best_ask is not None
            and last is not None
            and now_ms - last <= stale_ms
        )

    def unusable_reason(self, now_ms: int, stale_ms: int) -> str:
        if self.venue_fault is not None:
            return f"venue fault: {self.venue_fault}"
        if self.tick_suspect:
            return "an order was rejected for its tick: waiting for the venue's tick size"
        book = self.yes_book
        if not book.trusted:
            return f"book untrusted: {book.untrusted_reason or 'no snapshot yet'}"
        if book.is_stale(now_ms, stale_ms):
            return "book stale"
        if book.quotable(now_ms, stale_ms):
            return "only our own orders on one side of the book"
        return "book one-sided or empty"

    def position_pnl(self) -> int:
        """Realized since this position opened plus unrealized at the mark."""
        return self.ledger.realized - self.position_realized_base + self.unrealized
