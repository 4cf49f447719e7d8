"""The Engine: every decision mmfsm makes, as a pure function of the events it is fed.

Theory of operation
-------------------
``Engine.handle(event) -> list[Command]`` is synchronous and deterministic: no I/O, no
wall clock (``now`` is the latest event time seen, so a late event never moves time
back), no threads, no randomness. The same events in the same order give the same
commands and the same transitions, which is what makes the audit log replayable.

Each step has three phases, always in this order:

1. *Absorb* the event: books, tick sizes, our orders, the ledger. Exchange anomalies (a
   crossed book, an unknown token, a trade for an order we never sent) become alerts and
   an untrusted book, never exceptions.
2. *Judge*: the risk rules (``risk``) decide which machine events are due, and the
   machines (``machines``) move. A transition's side effects are emitted in the same
   step: entering ``gapped_skip`` cancels the market's orders, the breaker emits
   CancelAll and halts every market, and the step that halts emits no ``Place``.
3. *Quote*: only if the bot and the market are running (or the position is being forced
   out), compute the desired orders and diff them against the live ones, keeping what is
   still good for its queue priority.

If anything raises inside a step, the step's commands are discarded, the bot machine
takes ``fault`` to ``halted`` and the Engine emits CancelAll and a critical alert: a bug
is never a reason to keep quoting (INV-HALT).

Exposure (INV-EXPOSURE): per market, worst-case long = net delta + everything our orders
could still add on the long side; worst-case short likewise. Every order is counted from
the step its ``Place`` is emitted, and a new order is cut to the room left, so however
late fills are reported, exposure cannot pass the limit through our own orders.

Capital (INV-CAPITAL): the strategy capital caps the sum over markets of each market's
worst case, ``max(worst long, worst short, 0)`` at $1 a share, as the exposure limit
counts it. The Engine keeps each market's (long, short) and their total as they change
(a ``Place`` adds at once; a trade or an order report recounts its market), and a quote
is cut so that its side stays within the capital the other markets leave. Exits and
cancels are never cut: they cannot add. Once the total is within one market limit of the
capital, a market's room moves with the others, so a market is *quiet* (below) only while
the others leave it what they left at its last pass (``MarketState.capital_seen``).

Cost (the hot path): most events decide nothing new, and a step must cost what the
event changes, not what the Engine holds. A market whose last judge and quote pass
said nothing and changed nothing is *quiet*: it is skipped (its kept orders counted as
the pass would have counted them) until an event about it arrives, or the first moment
one of the time rules that its states read could decide anew (``_quiet_until``). A
clock tick over many quiet markets is then a compare per market, and the next deadline
is kept as a single number, so no per-event work grows with the number of markets. The
differential tests in ``tests/core/test_fast_paths.py`` hold the shortcut to the full
pass, step for step.
"""

from __future__ import annotations

from collections.abc import Iterable

from attrs import frozen
from mypy_extensions import mypyc_attr

from mmfsm.core import risk
from mmfsm.core.book import Book, BookError, BookSet, Top
from mmfsm.core.commands import (
    CRITICAL,
    DEBUG,
    INFO,
    WARNING,
    Alert,
    Cancel,
    CancelAll,
    Command,
    Log,
    Place,
    Severity,
)
from mmfsm.core.config import Config, MicroPrice, config_hash
from mmfsm.core.events import (
    BookSnapshot,
    ClockTick,
    ConfigReload,
    Event,
    MarketListed,
    OperatorHalt,
    OperatorResume,
    OrderAcked,
    OrderCancelled,
    OrderExpired,
    OrderRejected,
    PriceChange,
    RejectReason,
    TickSizeChanged,
    Trade,
    VenueFault,
)
from mmfsm.core.ledger import MarketLedger
from mmfsm.core.machines import BOT, MARKET, POSITION, Machine, TransitionRecord
from mmfsm.core.market_state import MarketState, SlotRetry
from mmfsm.core.orders import (
    ASK,
    BID,
    DONE,
    EXIT,
    PENDING_CANCEL,
    PENDING_NEW,
    WORKING,
    OurOrder,
    OurOrders,
    Purpose,
)
from mmfsm.core.quotes import QuoteParams, StoikovMicroPrice, VolatilityEstimator, mark_units
from mmfsm.core.quoting import (
    Intent,
    exit_intent,
    exit_pair_intents,
    quote_intents,
    unwind_intents,
)
from mmfsm.core.reconcile import ActionCounts, diff_side
from mmfsm.core.ticks import (
    BUY,
    PRICE_SCALE,
    SELL,
    Side,
    format_money,
    format_price,
    format_size,
)

__all__ = ["Engine", "Exposure", "Step"]


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
@frozen(kw_only=True)
class Step:
    """What one event caused: the transitions (to log first) and the commands."""

    commands: tuple[Command, ...]
    transitions: tuple[TransitionRecord, ...]


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
@frozen(kw_only=True)
class Exposure:
    """Worst-case net delta of one market in size units, both ways, and its limit."""

    long: int
    short: int
    limit: int

    @property
    def worst(self) -> int:
        return max(self.long, self.short, 0)


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
class _Recorder:
    """The one transition listener: records, never does I/O."""

    def __init__(self) -> None:
        self.records: list[TransitionRecord] = []

    def on_transition(self, record: TransitionRecord) -> None:
        self.records.append(record)


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
class _OrdersOf:
    """One market's orders, read once per quoting pass: live quotes by side and the
    worst-case delta both ways (the same numbers ``Engine.exposure`` gives)."""

    def __init__(self, ms: MarketState, orders: OurOrders) -> None:
        bids: list[OurOrder] = []
        asks: list[OurOrder] = []
        self.live: dict[Purpose, list[OurOrder]] = {BID: bids, ASK: asks}
        long = short = yes_offered = no_offered = own_long = own_short = 0
        # ``sign`` and ``live`` spelled out: this loop runs for every order on every pass.
        bid, exit_, buy = BID, EXIT, BUY
        new, working = PENDING_NEW, WORKING
        for order in orders.iter_market(ms.market):
            potential = order.potential
            status = order.status
            purpose = order.purpose
            quote = (status is new or status is working) and purpose is not exit_
            if quote:
                if purpose is bid:
                    bids.append(order)
                    own_long += potential
                else:
                    asks.append(order)
                    own_short += potential
            if potential:
                buying = order.side is buy
                if buying == order.is_yes:
                    long += potential
                else:
                    short += potential
                if not buying and not quote:
                    if order.is_yes:
                        yes_offered += potential
                    else:
                        no_offered += potential
        # What the live bid and ask quotes could still add: the room for each side is
        # counted as if that side's own quotes were gone.
        self.own_long = own_long
        self.own_short = own_short
        self.worst_long = ms.ledger.delta + long
        self.worst_short = -ms.ledger.delta + short
        # Tokens already offered elsewhere (a cancel still pending, an exit, a sale not
        # yet reported) cannot be offered again: the venue would reject for balance.
        # The side's own live quote is left out: it is either kept, or cancelled in this
        # step before its replacement is sent.
        ms.yes_free = ms.ledger.yes_held - yes_offered
        ms.no_free = ms.ledger.no_held - no_offered


_NEVER = 2**63  # a deadline that never comes


def _silent_state(ms: MarketState) -> tuple[int | None, int, int]:
    """What a pass may change without saying so (``_retry_offset``, gap recovery)."""
    return (ms.band_since_ms, ms.retry[BID].attempts, ms.retry[ASK].attempts)


def _first_other(book: Book, side: Side, own: dict[int, int]) -> tuple[int, int] | None:
    """Best level of ``side`` with size left once our own size there is taken off."""
    best = book.best_bid if side is BUY else book.best_ask
    size = book.best_bid_size if side is BUY else book.best_ask_size
    if best is not None and own.get(best, 0) < size:
        return best, size - own.get(best, 0)
    for price, level in book.levels(side):
        left = level - own.get(price, 0)
        if left > 0:
            return price, left
    return None


def _quote_params(config: Config) -> QuoteParams:
    s = config.strategy
    return QuoteParams(
        model=s.quote_model.value,
        gamma=s.gamma,
        k=s.k,
        horizon_s=s.horizon_ms / 1000.0,
        glft_a=s.glft_a,
        glft_k=s.glft_k,
        min_half_spread=max(s.min_half_spread / PRICE_SCALE, 1e-9),
    )


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
class Engine:
    def __init__(self, config: Config) -> None:
        self._recorder = _Recorder()
        self._set_config(config)
        self.bot = Machine(BOT, "bot", self._recorder)
        self.markets: dict[str, MarketState] = {}
        self.books = BookSet()
        self.orders = OurOrders()
        self.actions = ActionCounts()
        self.now_ms = 0
        self.day: int | None = None
        self.realized_today = 0
        # Today's realized P&L of fills of orders this Engine never placed (an earlier
        # run's, replayed at start-up): it enters ``realized_today`` only as a loss.
        self.unplaced_today = 0
        self.breaker_floor = 0
        self.halt_reason: str | None = None
        # The bot-machine event that halted the bot ("breaker_trip", "operator_halt",
        # "fault"), for status and alerts to read without parsing ``halt_reason``.
        self.halt_cause: str | None = None
        self._out: list[Command] = []
        self._deadlines: dict[str, int] = {}  # market -> next time-based deadline
        self._next_due = _NEVER  # min(self._deadlines.values()), kept up to date
        self._touched_all = False  # this step changed every market (halt, cancel all)
        self._quote_kept: list[int] = []  # per market of the last _quote: orders kept
        self._quote_noisy: list[bool] = []  # and whether it sent or logged anything
        self._unrealized_total = 0  # sum(ms.unrealized for every market)
        # Per market, worst-case (long, short) as last counted, and the sum over markets
        # of max(long, short, 0): what the capital caps (INV-CAPITAL).
        self._counted: dict[str, tuple[int, int]] = {}
        self._worst_total = 0

    # ------------------------------------------------------------------ public API

    def handle(self, event: Event) -> list[Command]:
        return list(self.step(event).commands)

    def step(self, event: Event) -> Step:
        self._out = []
        records: list[TransitionRecord] = []
        self._recorder.records = records
        try:
            self.now_ms = now = max(self.now_ms, event.ts_ms)
            if self.day is None or now >= (self.day + 1) * risk.MS_PER_DAY:
                self._roll_day()  # only when it has something to do: a new day
            self._touched_all = False
            scope = list(self._absorb(event))
            if type(event) is not ClockTick and type(event) is not OrderAcked:
                # An ack only moves an order from pending to working, which no judge or
                # quote pass tells apart: a quiet market stays quiet through it.
                for ms in scope:
                    ms.quiet_until = 0
            if now >= self._next_due:
                scope = self._add_due(scope)
            # A market whose last pass was quiet, untouched since, is skipped until the
            # first moment a time rule could decide anew (``_quiet_until``): a clock
            # tick then costs a compare per market, not a judge and quote pass.
            passes: list[MarketState] = []
            renew: list[MarketState] = []  # deadline to recompute, as a pass would
            skipped_kept = 0
            # Near the capital, or when its last pass was cut by it, a market's room moves
            # with the other markets: it stays quiet only while they leave it what they
            # left at its last pass (INV-CAPITAL).
            tight = self._capital_tight()
            for ms in scope:
                if ms.quiet_until > now and (
                    not (tight or ms.capital_bound)
                    or ms.capital_seen == self._capital_left(ms.market)
                ):
                    skipped_kept += ms.quiet_kept
                    if ms.deadline_moved:
                        renew.append(ms)
                else:
                    passes.append(ms)
            if skipped_kept:
                self.actions.kept += skipped_kept
            if not passes:
                self._judge_bot()
            else:
                before = [_silent_state(ms) for ms in passes]
                noisy = self._judge(passes, records)
                self._quote(passes)
                kept, quote_noisy = self._quote_kept, self._quote_noisy
                if not self._touched_all:
                    for i, ms in enumerate(passes):
                        if noisy[i] or quote_noisy[i] or _silent_state(ms) != before[i]:
                            ms.quiet_until = 0
                        else:
                            ms.quiet_until = self._quiet_until(ms)
                            ms.quiet_kept = kept[i]
            deadlines = self._deadlines
            if renew:
                passes += renew
            for ms in passes:
                ms.deadline_moved = False
                name = ms.market
                due = self._deadline(ms)
                old = deadlines.get(name)
                deadlines[name] = due
                if due <= self._next_due:
                    self._next_due = due
                elif old == self._next_due:
                    # The market that held the earliest deadline moved it later: only
                    # then is a scan needed, so the per-event cost does not grow with
                    # the number of markets.
                    self._next_due = min(deadlines.values())
        except Exception as exc:
            self._fault(exc)
        return Step(commands=tuple(self._out), transitions=tuple(self._recorder.records))

    def _add_due(self, scope: list[MarketState]) -> list[MarketState]:
        """Add every market whose next time-based deadline has passed.

        Time moves on with any event, and an event about one market must not leave
        another's expired unwind, age or staleness unjudged until the next clock tick.
        """
        if self.now_ms < self._next_due:
            return scope
        names = {ms.market for ms in scope}
        due = [
            ms
            for name, ms in self.markets.items()
            if name not in names and self._deadlines.get(name, 0) <= self.now_ms
        ]
        return scope + due

    def _quiet_until(self, ms: MarketState) -> int:
        """The first event time at which a quiet pass of ``ms`` might not be quiet.

        Every time a judge or quote pass reads: staleness, gap recovery, position age,
        unwind timeout, exit and post-only retry times, and the quote model's horizon
        once the market's end is nearer than it. Before then, with nothing about the
        market changed, the pass would decide exactly what it decided last time.
        """
        cfg = self._config.risk
        now = self.now_ms
        until = _NEVER
        halted = ms.machine.state == "halted"
        last = ms.yes_book.last_update_ms
        if last is not None and not halted:
            until = last + cfg.book_stale_ms + 1
        if ms.band_since_ms is not None:
            until = min(until, ms.band_since_ms + cfg.gap_recovery_ms)
        pos = ms.position.state
        # Each position state reads its own clock only (as ``_judge_position`` does).
        if pos == "inventory_held" and ms.opened_ms is not None:
            until = min(until, ms.opened_ms + cfg.max_position_age_ms + 1)
        elif pos == "passive_unwind" and ms.unwind_started_ms is not None:
            until = min(until, ms.unwind_started_ms + cfg.unwind_timeout_ms + 1)
        elif pos == "force_exit" and ms.exit_due_ms > now:
            until = min(until, ms.exit_due_ms)
        # Retry times count even while halted: ``_deadline`` reads them, and it must
        # come out the same for a skipped market as for a judged one.
        for retry in ms.retry.values():
            if retry.due_ms > now:
                until = min(until, retry.due_ms)
            if retry.cooldown_until_ms > now:
                until = min(until, retry.cooldown_until_ms)
        if ms.end_ms is not None and not halted and self.bot.state == "running":
            # Only a quote computed from the model reads the time to the market's end.
            until = min(until, ms.end_ms - self._config.strategy.horizon_ms)
        return until

    def _invalidate_all(self) -> None:
        self._touched_all = True
        for ms in self.markets.values():
            ms.quiet_until = 0

    def _deadline(self, ms: MarketState) -> int:
        """The earliest event time at which a time-based rule may decide anew."""
        # A running minimum rather than a list and ``min``: this runs after every pass.
        cfg = self._config.risk
        now = self.now_ms
        first = _NEVER
        pos = ms.position.state
        if pos == "inventory_held" and ms.opened_ms is not None:
            first = ms.opened_ms + cfg.max_position_age_ms + 1
        elif pos == "passive_unwind" and ms.unwind_started_ms is not None:
            first = ms.unwind_started_ms + cfg.unwind_timeout_ms + 1
        elif pos == "force_exit" and ms.exit_due_ms > now:
            first = ms.exit_due_ms
        state = ms.machine.state
        last = ms.yes_book.last_update_ms
        if state == "running" and last is not None:
            due = last + cfg.book_stale_ms + 1
            if due < first:
                first = due
        elif state == "gapped_skip" and ms.band_since_ms is not None:
            due = ms.band_since_ms + cfg.gap_recovery_ms
            if due < first:
                first = due
        for retry in ms.retry.values():
            due = retry.due_ms
            if now < due < first:
                first = due
            due = retry.cooldown_until_ms
            if now < due < first:
                first = due
        return first

    @property
    def config(self) -> Config:
        return self._config

    @property
    def config_hash(self) -> str:
        return self._config_hash

    @property
    def halted(self) -> bool:
        return self.bot.state == "halted"

    def exposure(self, market: str) -> Exposure:
        ms = self.markets[market]
        long, short = self.orders.pending_delta(market)
        return Exposure(
            long=ms.ledger.delta + long,
            short=-ms.ledger.delta + short,
            limit=self._limit_units,
        )

    def daily_pnl(self) -> int:
        return self.realized_today + self._unrealized_total

    # ------------------------------------------------------------------ plumbing

    def _set_config(self, config: Config) -> None:
        self._config = config
        self._config_hash = config_hash(config)
        self._params = _quote_params(config)
        # Worst-case exposure is counted at $1 a share (the most a binary share can
        # lose), so the limit in money becomes a limit in size units.
        self._limit_units = config.strategy.max_market_exposure // PRICE_SCALE
        self._capital_units = config.strategy.capital // PRICE_SCALE

    def _count(self, market: str, long: int, short: int) -> None:
        """Record one market's worst case (long, short) and keep the total in step."""
        old = self._counted.get(market)
        if old is not None:
            self._worst_total -= max(old[0], old[1], 0)
        self._counted[market] = (long, short)
        self._worst_total += max(long, short, 0)

    def _recount(self, ms: MarketState) -> None:
        long, short = self.orders.pending_delta(ms.market)
        delta = ms.ledger.delta
        self._count(ms.market, delta + long, short - delta)

    def _capital_tight(self) -> bool:
        """True when the capital might cut some market's quotes (INV-CAPITAL).

        Below this line every market has at least its own limit of capital left, and
        every decision is the one the per-market limit alone would make.
        """
        return self._worst_total > self._capital_units - self._limit_units

    def _capital_left(self, market: str) -> int:
        """How far either side of ``market`` may go with the other markets as they are."""
        counted = self._counted.get(market, (0, 0))
        others = self._worst_total - max(counted[0], counted[1], 0)
        return self._capital_units - others

    def _emit(self, command: Command) -> None:
        self._out.append(command)

    def _log(self, severity: Severity, message: str, market: str | None = None) -> None:
        self._out.append(Log(severity=severity, message=message, market=market))

    def _alert(self, severity: Severity, message: str, market: str | None = None) -> None:
        self._emit(Alert(severity=severity, message=message, market=market))

    def _fire(
        self, machine: Machine, event: str, guards: Iterable[str] = (), **inputs: object
    ) -> str:
        return machine.fire(
            event,
            ts_ms=self.now_ms,
            config_hash=self._config_hash,
            guards=frozenset(guards),
            inputs=inputs,
        )

    def _fault(self, exc: Exception) -> None:
        # Orders computed before the fault are dropped; what was said (a midnight reset,
        # an alert) is kept, since it did happen.
        self._out = [c for c in self._out if isinstance(c, (Log, Alert))]
        if self.bot.state == "running":
            self._fire(self.bot, "fault", error=type(exc).__name__)
            self._halt_markets()
        self.halt_reason = f"fault: {type(exc).__name__}: {exc}"
        self.halt_cause = self.halt_cause or "fault"
        self._mark_all_cancelling()
        self._emit(CancelAll(reason="engine fault"))
        self._alert(CRITICAL, f"ENGINE FAULT, bot halted: {type(exc).__name__}: {exc}")

    def _roll_day(self) -> None:
        day = risk.day_of(self.now_ms)
        if self.day is None:
            self.day = day
        elif day > self.day:
            self.day = day
            previous = self.realized_today
            self.realized_today = 0
            self.unplaced_today = 0
            # An acknowledged resume re-based the breaker on the P&L of that moment; the
            # unrealized part of what the operator accepted is still in tomorrow's P&L,
            # so only the realized part leaves the floor. Never looser than a fresh day.
            self.breaker_floor = min(0, self.breaker_floor - previous) if self.breaker_floor else 0
            self._log(
                INFO,
                f"Daily P&L reset: realized yesterday {format_money(previous)}; "
                f"bot {self.bot.state}",
            )

    # ------------------------------------------------------------------ absorb

    def _absorb(self, event: Event) -> Iterable[MarketState]:
        """Apply the event to books, orders and ledger; return the markets to judge."""
        kind = type(event)
        if kind is BookSnapshot or kind is PriceChange:
            return self._on_book(event)  # type: ignore[arg-type]
        if kind is ClockTick:
            return self.markets.values()
        if kind is OrderAcked or kind is OrderCancelled:
            return self._on_order(event)  # type: ignore[arg-type]
        if isinstance(event, (BookSnapshot, PriceChange)):
            return self._on_book(event)
        if isinstance(event, Trade):
            return self._on_trade(event)
        if isinstance(event, (OrderAcked, OrderRejected, OrderCancelled, OrderExpired)):
            return self._on_order(event)
        if isinstance(event, ClockTick):
            return self.markets.values()
        if isinstance(event, TickSizeChanged):
            return self._on_tick(event)
        if isinstance(event, MarketListed):
            return self._on_listed(event)
        if isinstance(event, OperatorHalt):
            return self._on_halt(event)
        if isinstance(event, OperatorResume):
            return self._on_resume(event)
        if isinstance(event, ConfigReload):
            self._set_config(event.config)
            self._log(INFO, f"Config reloaded: {self._config_hash[:12]}")
            return self.markets.values()
        if isinstance(event, VenueFault):
            return self._on_venue_fault(event)
        raise TypeError(f"unknown event {type(event).__name__}")

    def _market_of(self, market: str, token: str) -> tuple[MarketState | None, Book | None]:
        ms = self.markets.get(market)
        if ms is None or token not in (ms.yes_token, ms.no_token):
            self._alert(
                WARNING,
                f"Rejected message for unknown market {market} / asset_id {token}",
                market,
            )
            return None, None
        return ms, ms.yes_book if token == ms.yes_token else ms.no_book

    def _on_book(self, event: BookSnapshot | PriceChange) -> Iterable[MarketState]:
        ms, book = self._market_of(event.market, event.token)
        if ms is None or book is None:
            known = self.markets.get(event.market)
            if known is None:
                return ()
            # A book for a token our market does not have: we misread or missed
            # something, so its data is not trusted until the next good YES snapshot.
            known.venue_fault = f"book for unknown asset_id {event.token}"
            return (known,)
        yes = ms.yes_book
        fault = ms.venue_fault
        before = (yes.trusted, yes.best_bid, yes.best_bid_size, yes.best_ask, yes.best_ask_size)
        try:
            if isinstance(event, BookSnapshot):
                book.apply_snapshot(event.bids, event.asks, event.ts_ms)
                if book is yes:
                    ms.venue_fault = None
            else:
                book.apply_changes(event.changes, event.ts_ms)
        except BookError as err:
            self._alert(WARNING, f"Book message rejected: {err}", ms.market)
        after = (yes.trusted, yes.best_bid, yes.best_bid_size, yes.best_ask, yes.best_ask_size)
        if after == before and fault == ms.venue_fault and self._nothing_due(ms):
            # Depth moved below the top (or the NO book moved): every input of the risk
            # rules and the quote model is what it was, so this step would decide the
            # same as the last one. Skipping it is the hot path's biggest saving. The
            # live quotes are kept as they are, as a full step would have kept them.
            self.actions.kept += self.orders.live_quotes(ms.market)
            # The book's update time moved, so its staleness deadline will, at the next
            # pass; a quiet market skipped then must still have it recomputed.
            ms.deadline_moved = True
            return ()
        if book is yes:
            self._remark(ms)
        return (ms,)

    def _set_unrealized(self, ms: MarketState, value: int) -> None:
        # The total is kept as it changes: the breaker reads it every step, and a sum
        # over markets would make every step cost more with more markets.
        self._unrealized_total += value - ms.unrealized
        ms.unrealized = value

    def _nothing_due(self, ms: MarketState) -> bool:
        """True when only a top-of-book change could make this market decide anew."""
        if ms.machine.state != "running" or not ms.yes_book.trusted:
            return False
        if (self._capital_tight() or ms.capital_bound) and ms.capital_seen != self._capital_left(
            ms.market
        ):
            return False
        position = ms.position.state
        if position == "quoting":
            return not (ms.retry[BID].attempts or ms.retry[ASK].attempts)
        if position != "inventory_held" or ms.opened_ms is None:
            return False
        aged = self.now_ms - ms.opened_ms > self._config.risk.max_position_age_ms
        retrying = ms.retry[BID].attempts or ms.retry[ASK].attempts
        return not aged and not retrying

    def _remark(self, ms: MarketState) -> None:
        ms.fair = top = self._others_top(ms)
        if top is None:
            return
        ms.mark = mark_units(top.bid, top.bid_size, top.ask, top.ask_size)
        if not risk.spread_over_limit(top.ask - top.bid, self._config.risk):
            # A gapped book says nothing about volatility: the estimate would stay wide
            # for minutes after the market is back.
            ms.sigma.update(self.now_ms, ms.mark / PRICE_SCALE)
            if ms.stoikov is not None:
                ms.stoikov.update(top.bid, top.bid_size, top.ask, top.ask_size, int(ms.tick))
        self._set_unrealized(ms, ms.ledger.unrealized(ms.mark))

    def _others_top(self, ms: MarketState) -> Top | None:
        """The YES book's top without our own resting orders, or None if a side is empty.

        The venue's book contains our quotes. Judged with them, a market whose other
        participants have all left still shows our own 2-cent spread, and the gap rule
        would never fire. Every order of ours that may rest is subtracted, the ones not
        yet acknowledged included: taking off too much can only make the spread look
        wider, the safe direction.
        """
        book = ms.yes_book
        if not book.trusted or book.best_bid is None or book.best_ask is None:
            return None
        own_bids: dict[int, int] = {}
        own_asks: dict[int, int] = {}
        # ``remaining`` and ``sign`` written out: this loop runs on every book update
        # that moves the top, for every order of the market.
        done, exit_, buy = DONE, EXIT, BUY
        for order in self.orders.iter_market(ms.market):
            remaining = order.size - order.filled
            if remaining <= 0 or order.status is done or order.purpose is exit_:
                continue
            is_yes = order.is_yes
            yes_price = order.price if is_yes else PRICE_SCALE - order.price
            own = own_bids if (order.side is buy) == is_yes else own_asks
            own[yes_price] = own.get(yes_price, 0) + remaining
        if not own_bids and not own_asks:
            return book.top()
        bid = _first_other(book, BUY, own_bids)
        ask = _first_other(book, SELL, own_asks)
        if bid is None or ask is None:
            return None
        return Top(bid=bid[0], bid_size=bid[1], ask=ask[0], ask_size=ask[1])

    def _on_tick(self, event: TickSizeChanged) -> Iterable[MarketState]:
        ms, _ = self._market_of(event.market, event.token)
        if ms is None:
            return ()
        ms.tick = event.tick
        ms.yes_book.set_tick(event.tick)
        ms.no_book.set_tick(event.tick)
        ms.tick_suspect = False
        self._log(INFO, f"Tick size changed to {event.tick}", ms.market)
        return (ms,)

    def _on_listed(self, event: MarketListed) -> Iterable[MarketState]:
        ms = self.markets.get(event.market)
        if ms is None:
            for token in (event.yes_token, event.no_token):
                if token in self.books:
                    raise ValueError(f"token {token} already belongs to another market")
            conf = self._config.strategy
            ms = MarketState(
                market=event.market,
                yes_token=event.yes_token,
                no_token=event.no_token,
                tick=event.tick,
                min_size=event.min_size,
                end_ms=event.end_ms,
                machine=Machine(MARKET, event.market, self._recorder),
                position=Machine(POSITION, f"{event.market}#1", self._recorder),
                ledger=MarketLedger(
                    market=event.market, yes_token=event.yes_token, no_token=event.no_token
                ),
                yes_book=self.books.add(event.market, event.yes_token, event.tick),
                no_book=self.books.add(event.market, event.no_token, event.tick),
                sigma=VolatilityEstimator(
                    half_life_s=conf.sigma_halflife_ms / 1000.0,
                    floor=conf.sigma_floor,
                    prior=conf.sigma_prior,
                ),
                stoikov=StoikovMicroPrice() if conf.micro_price is MicroPrice.STOIKOV else None,
                retry={BID: SlotRetry(), ASK: SlotRetry()},
            )
            self.markets[event.market] = ms
            if self.halted:
                self._fire(ms.machine, "halt", reason="bot halted")
            return (ms,)
        if (event.yes_token, event.no_token) != (ms.yes_token, ms.no_token):
            raise ValueError(f"market {event.market} listed again with other tokens")
        ms.tick = event.tick
        ms.min_size = event.min_size
        ms.end_ms = event.end_ms
        ms.yes_book.set_tick(event.tick)
        ms.no_book.set_tick(event.tick)
        ms.tick_suspect = False
        return (ms,)

    def _on_order(
        self, event: OrderAcked | OrderRejected | OrderCancelled | OrderExpired
    ) -> Iterable[MarketState]:
        order = self.orders.get(event.client_id)
        if order is None:
            self._log(WARNING, f"Order report for unknown order {event.client_id}")
            return ()
        ms = self.markets[order.market]
        if isinstance(event, OrderAcked):
            if order.status is PENDING_NEW:
                order.status = WORKING
            return (ms,)
        if isinstance(event, OrderRejected):
            order.status = DONE
            order.venue_matched = order.filled
            self.orders.forget_if_settled(order)
            self._recount(ms)
            self._on_reject(ms, order, event)
            return (ms,)
        # Cancelled or expired: it no longer rests; what it matched may still be reported.
        order.status = DONE
        order.venue_matched = max(event.size_matched, order.filled)
        self.orders.forget_if_settled(order)
        self._recount(ms)
        return (ms,)

    def _on_reject(self, ms: MarketState, order: OurOrder, event: OrderRejected) -> None:
        if event.reason is RejectReason.POST_ONLY and order.purpose is not EXIT:
            retry = ms.retry[order.purpose]
            retry.attempts += 1
            limit = self._config.risk.post_only_max_retries
            self._log(
                WARNING,
                f"post_only rejected: {order.side.value} {format_size(order.size)} @ "
                f"{format_price(order.price)} (attempt {retry.attempts}/{limit})",
                ms.market,
            )
            top = ms.yes_book.top()
            if top is not None:
                retry.ref = top.ask if order.purpose is BID else top.bid
            backoff = self._config.risk.post_only_backoff_ms
            retry.due_ms = self.now_ms + backoff * (2 ** (retry.attempts - 1))
            return
        cooldown = self.now_ms + max(1000, self._config.risk.post_only_backoff_ms)
        if order.purpose is EXIT:
            # Do not answer a rejected exit with another one on the very next event.
            ms.exit_due_ms = cooldown
        else:
            # Nor a quote rejected for balance, size or tick with the same quote.
            ms.retry[order.purpose].cooldown_until_ms = cooldown
        if event.reason is RejectReason.TICK:
            ms.tick_suspect = True
        self._alert(
            WARNING,
            f"Order rejected ({event.reason.value}): {order.client_id} {event.message}",
            ms.market,
        )

    def _on_trade(self, event: Trade) -> Iterable[MarketState]:
        ms = self.markets.get(event.market)
        if ms is None:
            self._alert(
                WARNING, f"Trade {event.trade_id} for unknown market {event.market}"
            )
            return ()
        if event.token not in (ms.yes_token, ms.no_token):
            # An exchange anomaly, not our bug: report it, count nothing, keep going.
            self._alert(
                WARNING,
                f"Trade {event.trade_id} ignored: asset_id {event.token} is not a token of "
                f"market {event.market}",
                ms.market,
            )
            return ()
        before = ms.ledger.realized
        outcome = ms.ledger.apply(event)
        order = self.orders.get(event.client_id)
        change = ms.ledger.realized - before
        if order is None and change:
            change = self._unplaced_change(change)
        self.realized_today += change
        if outcome.applied and order is not None:
            order.filled += outcome.applied * event.size
            if outcome.applied < 0 and order.venue_matched is not None:
                # A FAILED trade did not happen: it no longer counts as matched either.
                order.venue_matched = max(0, order.venue_matched - event.size)
            if order.filled >= order.size and order.status is not DONE:
                order.status = DONE  # fully filled: nothing rests any more
                order.venue_matched = order.filled
            self.orders.forget_if_settled(order)
            if order.market != ms.market:
                self._recount(self.markets[order.market])
        elif outcome.applied and order is None:
            self._alert(
                WARNING,
                f"Trade {event.trade_id} for an order this run did not place: {event.client_id}",
                ms.market,
            )
        if outcome.applied:
            self._recount(ms)  # a fill beyond an order's size, or a FAILED one, moves it
            if ms.mark is not None:
                self._set_unrealized(ms, ms.ledger.unrealized(ms.mark))
            verb = "Fill detected" if outcome.applied > 0 else "Fill reversed (FAILED)"
            # ``_value_`` rather than ``value``: the same text, read from the member
            # itself instead of through Enum's Python-level property (on every fill).
            self._log(
                INFO,
                f"{verb}: {event.side._value_} {format_size(event.size)} @ "
                f"{format_price(event.price)} [{event.status._value_}] trade {event.trade_id}",
                ms.market,
            )
            self._log(
                INFO,
                f"Inventory: YES {format_size(ms.ledger.yes_held)} NO "
                f"{format_size(ms.ledger.no_held)} net delta {format_size(ms.ledger.delta)}",
                ms.market,
            )
        return (ms,)

    def _unplaced_change(self, change: int) -> int:
        """What a fill of an order this Engine never placed adds to ``realized_today``.

        Such fills are an earlier run's, replayed by the venue's start-up reconciliation
        (``venues.startup``): fills while the bot was down, or, on a new audit log
        (``mmfsm run --new-audit-log``), the account's whole history, stamped now. The
        day they belong to is not known here, and a profit of an earlier day must not
        pay for today's losses. So their realized P&L counts toward today's budget only
        as far as it is a net loss: ``realized_today`` carries ``min(0, unplaced_today)``
        of it. The restored history can tighten the daily loss limit (a net loss
        restored counts in full), never loosen it; fills of the Engine's own orders count
        as they are. A fill of an order this Engine has already forgotten (settled)
        falls here too, and is counted no more generously than the truth.
        """
        was = self.unplaced_today
        self.unplaced_today = now = was + change
        return min(0, now) - min(0, was)

    def _on_halt(self, event: OperatorHalt) -> Iterable[MarketState]:
        if event.market is None:
            if self.bot.state == "running":
                self._fire(self.bot, "operator_halt", reason=event.reason)
                self.halt_reason = f"operator: {event.reason}"
                self.halt_cause = "operator_halt"
                self._halt_markets()
                self._mark_all_cancelling()
                self._emit(CancelAll(reason=f"operator halt: {event.reason}"))
                self._alert(CRITICAL, f"Operator halt: {event.reason}")
            return ()
        ms = self.markets.get(event.market)
        if ms is None:
            self._alert(WARNING, f"Halt for unknown market {event.market}")
            return ()
        ms.halted_by_operator = True
        ms.quiet_until = 0
        if ms.machine.state != "halted":
            self._fire(ms.machine, "halt", reason=event.reason)
            self._cancel_market(ms, f"operator halt: {event.reason}")
        return ()

    def _on_resume(self, event: OperatorResume) -> Iterable[MarketState]:
        if not risk.acknowledged(event.ack):
            self._alert(WARNING, "Resume refused: an acknowledgement is required")
            return ()
        if event.market is None:
            if self.bot.state != "halted":
                return ()
            self._fire(self.bot, "resume", ("acknowledged",), ack=event.ack)
            self.halt_reason = None
            self.halt_cause = None
            # The operator accepted today's loss so far; the breaker measures anew from it.
            self.breaker_floor = self.daily_pnl()
            self._log(WARNING, f"Bot resumed by operator: {event.ack}")
            for ms in self.markets.values():
                if ms.machine.state == "halted" and not ms.halted_by_operator:
                    self._resume_market(ms, event.ack)
            return self.markets.values()
        target = self.markets.get(event.market)
        if target is None or target.machine.state != "halted":
            return ()
        ms = target
        ms.halted_by_operator = False
        ms.quiet_until = 0
        if self.bot.state == "halted":
            self._alert(WARNING, f"Market {ms.market} stays halted: the bot is halted")
            return ()
        self._resume_market(ms, event.ack)
        return (ms,)

    def _resume_market(self, ms: MarketState, ack: str) -> None:
        ms.fair = self._others_top(ms)
        quotable = ms.usable(self.now_ms, self._config.risk.book_stale_ms)
        spread = ms.fair.ask - ms.fair.bid if ms.fair is not None else None
        good = risk.book_quotable(quotable, spread, self._config.risk)
        guard = "book_quotable" if good else "book_not_quotable"
        self._fire(ms.machine, "resume", ("acknowledged", guard), ack=ack, spread=spread)
        ms.band_since_ms = None

    def _on_venue_fault(self, event: VenueFault) -> Iterable[MarketState]:
        targets = (
            list(self.markets.values())
            if event.market is None
            else [m for m in (self.markets.get(event.market),) if m is not None]
        )
        for ms in targets:
            ms.venue_fault = event.what
        self._alert(WARNING, f"Venue fault: {event.what}", event.market)
        return targets

    # ------------------------------------------------------------------ judge

    def _judge(self, scope: list[MarketState], records: list[TransitionRecord]) -> list[bool]:
        """Judge each market, then the bot; per market, whether it said or moved anything."""
        noisy = []
        for ms in scope:
            said = len(self._out) + len(records)
            self._judge_market(ms)
            self._judge_position(ms)
            noisy.append(len(self._out) + len(records) != said)
        self._judge_bot()
        return noisy

    def _judge_market(self, ms: MarketState) -> None:
        cfg = self._config.risk
        state = ms.machine.state
        if state == "halted":
            return
        # The others' top as of the last book update (``_remark``). It is not recomputed
        # on order events: our orders change between book updates, and a fair price
        # that moved with them would feed our own quotes back into our quotes.
        fair = ms.fair
        usable = ms.usable(self.now_ms, cfg.book_stale_ms)
        spread = fair.ask - fair.bid if fair is not None else None
        if state == "running":
            if risk.book_unusable(usable):
                reason = ms.unusable_reason(self.now_ms, cfg.book_stale_ms)
                self._fire(ms.machine, "data_lost", ("book_unusable",), reason=reason)
                self._alert(
                    WARNING, f"Market data unusable, not quoting: {reason}", ms.market
                )
                self._cancel_quotes(ms, reason)
                ms.band_since_ms = None
            elif spread is not None and risk.spread_over_limit(spread, cfg):
                bid = format_price(fair.bid) if fair else "-"
                ask = format_price(fair.ask) if fair else "-"
                self._fire(
                    ms.machine, "gap", ("spread_over_limit",), spread=spread, limit=cfg.max_spread
                )
                self._alert(
                    WARNING,
                    f"Gapped market detected: Bid: {bid}, Ask: {ask}, "
                    f"Spread: {format_price(spread)} - TOO RISKY",
                    ms.market,
                )
                self._cancel_quotes(ms, "gapped market")
                ms.band_since_ms = None
            return
        # gapped_skip: recover only after the spread held inside the band for a while.
        if usable and spread is not None and risk.spread_within_recovery_band(spread, cfg):
            if ms.band_since_ms is None:
                ms.band_since_ms = self.now_ms
        else:
            ms.band_since_ms = None
        if risk.spread_recovered(ms.band_since_ms, self.now_ms, cfg):
            self._fire(ms.machine, "recover", ("spread_recovered",), spread=spread)
            ms.band_since_ms = None

    def _judge_position(self, ms: MarketState) -> None:
        pos = ms.position
        delta = ms.ledger.delta
        state = pos.state
        cfg = self._config.risk
        if state == "quoting":
            if delta != 0:
                self._fire(pos, "opened", delta=delta)
                ms.opened_ms = self.now_ms
                # Realized P&L of this episode starts from here (any realized part of
                # the opening fill belonged to the previous episode).
                ms.position_realized_base = ms.ledger.realized
            return
        if delta == 0:
            target = self._fire(pos, "flattened", realized=ms.ledger.realized)
            if target == "closed":
                ms.position_seq += 1
                ms.position = Machine(POSITION, f"{ms.market}#{ms.position_seq}", self._recorder)
            ms.opened_ms = ms.unwind_started_ms = None
            return
        pnl = ms.position_pnl()
        loss = risk.loss_beyond_limit(pnl, cfg)
        if state == "inventory_held":
            guards = []
            if loss:
                guards.append("loss_beyond_limit")
            if ms.opened_ms is not None and risk.age_beyond_limit(ms.opened_ms, self.now_ms, cfg):
                guards.append("age_beyond_limit")
            if ms.mark is not None and risk.adverse_move_beyond_limit(
                delta, ms.ledger.avg_entry, ms.mark, cfg
            ):
                guards.append("adverse_move_beyond_limit")
            if guards:
                target = self._fire(pos, "risk_breach", guards, **self._pos_inputs(ms, pnl))
                self._entered(ms, target, guards)
            return
        if state == "passive_unwind":
            if loss:
                target = self._fire(
                    pos, "risk_breach", ("loss_beyond_limit",), **self._pos_inputs(ms, pnl)
                )
                self._entered(ms, target, ["loss_beyond_limit"])
            elif ms.unwind_started_ms is not None and risk.unwind_expired(
                ms.unwind_started_ms, self.now_ms, cfg
            ):
                target = self._fire(
                    pos, "unwind_timeout", ("unwind_expired",), **self._pos_inputs(ms, pnl)
                )
                self._alert(
                    WARNING,
                    f"Passive unwinding timeout: not flat after "
                    f"{cfg.unwind_timeout_ms // 1000}s, net delta {format_size(delta)}",
                    ms.market,
                )
                self._entered(ms, target, ["unwind_expired"])

    @staticmethod
    def _pos_inputs(ms: MarketState, pnl: int) -> dict[str, object]:
        # Built only when a transition fires: formatting money on every judged event
        # was a large share of a quiet step.
        return {
            "pnl": format_money(pnl),
            "delta": ms.ledger.delta,
            "mark": ms.mark,
            "avg_entry": ms.ledger.avg_entry,
        }

    def _entered(self, ms: MarketState, target: str, guards: list[str]) -> None:
        if target == "force_exit":
            self._log(
                CRITICAL,
                f"FORCE EXIT: {', '.join(guards)}; position P&L {format_money(ms.position_pnl())}, "
                f"net delta {format_size(ms.ledger.delta)}",
                ms.market,
            )
            self._cancel_quotes(ms, "force exit")
        elif target == "passive_unwind":
            ms.unwind_started_ms = self.now_ms
            self._log(WARNING, f"Passive unwinding: {', '.join(guards)}", ms.market)

    def _judge_bot(self) -> None:
        if self.bot.state != "running":
            return
        pnl = self.realized_today + self._unrealized_total  # ``daily_pnl``, every step
        if risk.daily_loss_beyond_limit(pnl, self.breaker_floor, self._config.risk):
            limit = self._config.risk.global_daily_loss
            self._fire(
                self.bot,
                "breaker_trip",
                ("daily_loss_beyond_limit",),
                daily_pnl=format_money(pnl),
                realized_today=format_money(self.realized_today),
                limit=format_money(limit),
                floor=format_money(self.breaker_floor),
            )
            self.halt_reason = "global daily loss limit"
            self.halt_cause = "breaker_trip"
            self._halt_markets()
            self._mark_all_cancelling()
            self._emit(CancelAll(reason="global daily loss limit"))
            self._alert(
                CRITICAL,
                f"GLOBAL DAILY LOSS LIMIT EXCEEDED: daily P&L {format_money(pnl)} "
                f"(limit -{format_money(limit)}) - STOP ALL ACTIVITIES - HUMAN INTERVENTION "
                "REQUIRED",
            )

    def _halt_markets(self) -> None:
        self._invalidate_all()
        for ms in self.markets.values():
            if ms.machine.state != "halted":
                self._fire(ms.machine, "halt", reason="bot halted")

    # ------------------------------------------------------------------ orders out

    def _mark_all_cancelling(self) -> None:
        self._invalidate_all()
        for order in self.orders:
            if order.live:
                order.status = PENDING_CANCEL

    def _cancel(self, order: OurOrder, reason: str) -> None:
        order.status = PENDING_CANCEL
        self.actions.cancels += 1
        self._out.append(Cancel(client_id=order.client_id, market=order.market, reason=reason))

    def _cancel_quotes(self, ms: MarketState, reason: str) -> None:
        for order in self.orders.in_market(ms.market):
            if order.live and order.purpose is not EXIT:
                self._cancel(order, reason)

    def _cancel_market(self, ms: MarketState, reason: str) -> None:
        for order in self.orders.in_market(ms.market):
            if order.live:
                self._cancel(order, reason)

    def _place(self, ms: MarketState, intent: Intent, size: int | None = None) -> None:
        """Place ``intent``, at ``size`` when given (the intent's size cut to the room)."""
        if size is None:
            size = intent.size
        now = self.now_ms
        market = ms.market
        token = intent.token
        side = intent.side
        price = intent.price
        client_id = self.orders.next_id(market, now)
        self.orders.add(
            OurOrder(
                client_id=client_id,
                market=market,
                token=token,
                is_yes=token == ms.yes_token,
                side=side,
                price=price,
                size=size,
                purpose=intent.purpose,
                placed_ms=now,
                kept_at=self._top_key(ms),
            )
        )
        self.actions.places += 1
        self._out.append(
            Place(
                client_id=client_id,
                market=market,
                token=token,
                side=side,
                price=price,
                size=size,
                tif=intent.tif,
                post_only=intent.post_only,
            )
        )

    # ------------------------------------------------------------------ quote

    def _quote(self, scope: list[MarketState]) -> None:
        """Quote each market; per market, note the orders kept and whether it sent any."""
        self._quote_kept = kept = [0] * len(scope)
        self._quote_noisy = noisy = [False] * len(scope)
        if self.bot.state != "running":
            for ms in scope:
                ms.capital_seen = None
            return
        actions = self.actions
        records = self._recorder.records
        for i, ms in enumerate(scope):
            said = len(self._out) + len(records)
            was_kept = actions.kept
            self._quote_market(ms)
            kept[i] = actions.kept - was_kept
            noisy[i] = len(self._out) + len(records) != said
            # The capital this pass was sized by (later passes of this step may move
            # it: then this market is not quiet next time).
            ms.capital_seen = self._capital_left(ms.market)

    def _quote_market(self, ms: MarketState) -> None:
        ms.capital_bound = False
        if ms.machine.state == "halted":
            return
        pos = ms.position.state
        if pos == "force_exit":
            self._force_exit(ms)
            return
        if ms.machine.state != "running":
            return
        book = _OrdersOf(ms, self.orders)
        if pos == "passive_unwind":
            bid, ask = unwind_intents(ms, self.now_ms, self._config.risk.post_only_max_retries)
        else:
            bid, ask = self._two_sided(ms, book)
        self._reconcile(ms, BID, bid, book)
        self._reconcile(ms, ASK, ask, book)

    def _two_sided(self, ms: MarketState, book: _OrdersOf) -> tuple[Intent | None, Intent | None]:
        # Room for each side as if that side's own live orders were gone, so a kept
        # order is compared with the size we would want, not with what is left over.
        limit = self._limit_units
        top_long = top_short = limit
        capital = self._capital_left(ms.market)
        if capital < limit:
            # INV-CAPITAL: a side may reach what the other markets leave of the capital,
            # or the other side's worst case (then the market's worst does not grow).
            top_long = min(limit, max(capital, book.worst_short))
            top_short = min(limit, max(capital, book.worst_long))
            ms.capital_bound = True  # sized by other markets (``capital_seen``)
        room_long = max(0, top_long - (book.worst_long - book.own_long))
        room_short = max(0, top_short - (book.worst_short - book.own_short))
        return quote_intents(
            ms,
            self._params,
            self._config.strategy.order_size,
            self.now_ms,
            room_long,
            room_short,
            self._config.risk.post_only_max_retries,
        )

    @staticmethod
    def _top_key(ms: MarketState) -> tuple[int, int] | None:
        book = ms.yes_book
        if book.best_bid is None or book.best_ask is None:
            return None
        return (book.best_bid, book.best_ask)

    def _reconcile(
        self, ms: MarketState, purpose: Purpose, intent: Intent | None, book: _OrdersOf
    ) -> None:
        live = book.live[purpose]
        if intent is None:
            for order in live:
                self._cancel(order, "side not quoted")
            return
        tolerance = self._config.strategy.size_tolerance_bps
        keep: OurOrder | None = None
        if len(live) == 1:
            # The usual case, decided as ``diff_side`` decides it (every order in
            # ``live`` is of ``purpose``) without building its result: one order is
            # either kept or cancelled. ``_keeps``, written out.
            order = live[0]
            size = intent.size
            remaining = order.size - order.filled  # ``order.remaining``
            if remaining < 0:
                remaining = 0
            if (
                order.token == intent.token
                and order.side is intent.side
                and order.price == intent.price
                and (
                    abs(remaining - size) * 10_000 <= tolerance * size
                    # Sized by the capital the other markets leave: a smaller order
                    # already counted never breaks the cap, and growing it would cancel
                    # one order that still counts to place a bigger one, which the room
                    # left by that cancel then shrinks again: a requote loop.
                    or (ms.capital_bound and 0 < remaining <= size)
                )
            ):
                keep = order
            else:
                self._cancel(order, "requote")
        elif live:
            diff = diff_side(
                live, purpose, intent.token, intent.side, intent.price, intent.size, tolerance
            )
            for order in diff.cancel:
                self._cancel(order, "requote")
            keep = diff.keep
        if keep is not None:
            self.actions.kept += 1
            yes = ms.yes_book
            bid, ask = yes.best_bid, yes.best_ask  # ``_top_key``, written out
            moved = None if bid is None or ask is None else (bid, ask)
            if moved is not None and keep.kept_at != moved:
                # Logged once per order per top of book: the moments a blind
                # cancel-replace would have sent two actions and lost the queue.
                keep.kept_at = moved
                self._log(
                    DEBUG,
                    f"Preserving queue priority: {keep.side._value_} "
                    f"{format_size(keep.remaining)} @ {format_price(keep.price)}",
                    ms.market,
                )
            return
        # Size the replacement after the cancels, which still count until confirmed.
        adds_long = (intent.side is BUY) == (intent.token == ms.yes_token)
        worst = book.worst_long if adds_long else book.worst_short
        # Reducing orders too: cancelled ones on the same side may still fill, so a
        # reducing order can overshoot flat and add (INV-EXPOSURE).
        size = intent.size
        room = self._limit_units - worst
        # INV-CAPITAL: this side may reach what the other markets leave of the capital,
        # or the other side's worst case: either way the total stays within the capital
        # or does not grow. Counted after this step's cancels, which still count.
        other = book.worst_short if adds_long else book.worst_long
        capital = max(self._capital_left(ms.market), other) - worst
        if capital < room:
            room = capital
        if room < size:
            size = room
        if ms.position.state == "passive_unwind" and -worst < size:
            # Unwinding never adds: with every order still out on this side counted, the
            # side as a whole may at most bring the position to flat.
            size = -worst
        if size < 1 or size < ms.min_size:
            return
        if intent.side is SELL and size > self._sellable(ms, intent.token):
            # The shares are still offered by an order whose cancel is not confirmed:
            # wait for it rather than offer more than we hold (a balance reject at best).
            return
        # The cut size goes to ``_place`` as it is: ``evolve`` re-ran every field's
        # initialiser for one changed number.
        self._place(ms, intent, size)
        if adds_long:
            book.worst_long += size
        else:
            book.worst_short += size
        self._count(ms.market, book.worst_long, book.worst_short)

    def _sellable(self, ms: MarketState, token: str) -> int:
        """Shares of ``token`` held and offered by no order that may still sell them."""
        held = ms.ledger.yes_held if token == ms.yes_token else ms.ledger.no_held
        offered = sum(
            o.potential
            for o in self.orders.iter_market(ms.market)
            if o.token == token and o.side is SELL
        )
        return held - offered

    def _force_exit(self, ms: MarketState) -> None:
        self._cancel_quotes(ms, "force exit")
        for order in self.orders.in_market(ms.market):
            if order.purpose is EXIT and order.status is not DONE:
                return  # one exit at a time (one order or a pair); the next after it ends
        if self.now_ms < ms.exit_due_ms:
            return
        if not ms.usable(self.now_ms, self._config.risk.book_stale_ms):
            return  # the worst-price bound needs a real best price, not a stale one
        _OrdersOf(ms, self.orders)  # brings the free token holdings up to date
        intent = exit_intent(ms, self._config)
        if intent is None:
            return
        if intent.size < ms.min_size:
            if self._exit_pair(ms):
                return
            if not ms.exit_blocked_alerted:
                ms.exit_blocked_alerted = True
                self._alert(
                    CRITICAL,
                    f"FORCE EXIT blocked: position {format_size(intent.size)} is below the "
                    f"minimum order size {format_size(ms.min_size)}; exit it by hand",
                    ms.market,
                )
            return
        # Never past flat: cancelled quotes and ended exits whose matched part is not
        # reported yet still reduce the position, so they are taken off this order.
        exposure = self.exposure(ms.market)
        reducing = exposure.short if ms.ledger.delta > 0 else exposure.long
        size = min(intent.size, -reducing)
        if size <= 0 or (size < intent.size and size < ms.min_size):
            return  # wait for the cancels and trade reports to arrive
        self._place(ms, intent, size)
        self._recount(ms)  # an exit never adds; its side is counted like any order

    @staticmethod
    def _token_name(ms: MarketState, token: str) -> str:
        return "YES" if token == ms.yes_token else "NO"

    def _exit_pair(self, ms: MarketState) -> bool:
        """Exit a delta below the minimum size as two sells that end flat; False if it
        cannot be done with allowed orders (the caller says it is blocked).

        Both go out in one step, and only from a clean slate: no order of the market may
        still fill (a cancelled quote, an ended exit whose matched part is not reported),
        since the pair is sized on the delta as it stands. The sale that adds to the
        delta must fit under the market's limit (INV-EXPOSURE) like any order; the
        capital never holds an exit back. Either may fill alone; the next round, after
        both have ended, exits what is left.
        """
        pair = exit_pair_intents(ms, self._config)
        if pair is None:
            return False
        exposure = self.exposure(ms.market)
        if exposure.long != ms.ledger.delta or exposure.short != -ms.ledger.delta:
            return True  # wait for the cancels and trade reports to arrive
        reduce, counter = pair
        long_add = reduce.size if ms.ledger.delta < 0 else counter.size
        short_add = counter.size if ms.ledger.delta < 0 else reduce.size
        if exposure.long + long_add > self._limit_units or (
            exposure.short + short_add > self._limit_units
        ):
            return False
        self._log(
            WARNING,
            f"Force exit as a pair: net delta {format_size(ms.ledger.delta)} is below the "
            f"minimum order size {format_size(ms.min_size)}; selling "
            f"{format_size(reduce.size)} {self._token_name(ms, reduce.token)} and "
            f"{format_size(counter.size)} {self._token_name(ms, counter.token)} together, "
            "to end flat",
            ms.market,
        )
        self._place(ms, reduce)
        self._place(ms, counter)
        self._recount(ms)
        return True
