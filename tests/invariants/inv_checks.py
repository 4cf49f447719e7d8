"""The invariants of DESIGN.md as executable checks over one Engine step.

Theory of operation
-------------------
A ``Checker`` owns a real ``Engine`` and feeds it one event at a time. Around each step
it takes what the checks need and the Engine does not keep: a snapshot of every machine
and every market's exposure *before* the step, the commands and transitions of the step
(``Step``), and a few trackers that follow the history (positions that reached
``closed``, when each position entered ``passive_unwind``, markets halted by the
operator, post-only reject streaks). The result is a ``StepRecord``; each ``inv_*``
function below checks one invariant of one record against the Engine *after* the step
and raises ``InvariantViolation`` naming the invariant.

The same functions serve the hypothesis state machine (one ``@invariant()`` per check,
``test_engine_stateful.py``) and the replay of a saved event sequence (``replay.py``),
so a counterexample replays against exactly the checks that found it.

What the Engine says about itself is used where the invariant is stated in its terms
(``Engine.exposure``, ``Engine.orders``); wherever an independent view exists it is
checked too: the stateful suite passes the adversarial venue's ground truth of every
order's remaining size and every matched fill (``truth``), which a broken exposure
computation in the Engine cannot fool.
"""

from __future__ import annotations

import copy
import tomllib
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import attrs

from mmfsm.core import engine as engine_module
from mmfsm.core.commands import CancelAll, Place, TimeInForce
from mmfsm.core.engine import Engine, Step
from mmfsm.core.events import (
    ClockTick,
    ConfigReload,
    Event,
    OperatorHalt,
    OperatorResume,
    OrderRejected,
    RejectReason,
    Trade,
    TradeStatus,
    VenueFault,
)
from mmfsm.core.ledger import MarketLedger
from mmfsm.core.market_state import MarketState
from mmfsm.core.orders import Purpose
from mmfsm.core.quoting import Intent
from mmfsm.core.ticks import PRICE_SCALE, SIZE_SCALE, Side

__all__ = [
    "CHECKS",
    "RUN_STATS",
    "SPEC_EDGES",
    "Checker",
    "InvariantViolation",
    "StepRecord",
    "Views",
]

ROOT = Path(__file__).resolve().parents[2]
_MACHINE_SPECS = tomllib.loads((ROOT / "specs" / "machines.toml").read_text())
SPEC_EDGES: Mapping[str, frozenset[tuple[str, str, str]]] = {
    name: frozenset((t["source"], t["event"], t["target"]) for t in spec["transitions"])
    for name, spec in _MACHINE_SPECS.items()
}
SPEC_FINAL: Mapping[str, frozenset[str]] = {
    name: frozenset(spec["final"]) for name, spec in _MACHINE_SPECS.items()
}

RUN_STATS: dict[str, Counter[str]] = {}
"""Per named run: examples, rule steps and Engine steps executed (printed by conftest)."""

Views = dict[str, tuple[int, int]]
"""Worst-case (long, short) net delta per market, in size units."""


class InvariantViolation(AssertionError):
    """An invariant failed; ``name`` is its check (``inv_halt``), for tests to match."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.detail = message


TOLERATED: frozenset[str] = frozenset()
"""Known Engine bugs the suite steps around until they are fixed, each reproduced by a
strict xfail in ``test_found_bugs.py``. Empty: the four found so far are fixed and their
reproductions are regression tests now (``deadline_out_of_scope``,
``exit_price_past_range``, ``unwind_price_off_grid``, ``junk_trade_faults``).

INV-HALT allows one thing by definition, not by tolerance: the step of an acknowledged
bot resume may quote, since the bot is running when that step ends.
"""


def _fail(name: str, rec: StepRecord, message: str) -> InvariantViolation:
    return InvariantViolation(
        name, f"{message}\n  at step {rec.index}: event {rec.event!r}\n  commands: "
        + "; ".join(str(c) for c in rec.step.commands)
    )


def _acknowledged(ack: str) -> bool:
    return bool(ack.strip())


def adds_long(ms: MarketState, place: Place) -> bool:
    """Buying YES or selling NO adds long binary delta (buying NO at p sells YES at 1-p)."""
    return (place.side is Side.BUY) == (place.token == ms.yes_token)


def yes_price(ms: MarketState, place: Place) -> int:
    return place.price if place.token == ms.yes_token else PRICE_SCALE - place.price


# ------------------------------------------------------------------ snapshots


@dataclass(frozen=True)
class MarketSnap:
    machine: str
    position_id: str
    position: str
    long: int
    short: int


@dataclass(frozen=True)
class Snap:
    now_ms: int
    bot: str
    markets: Mapping[str, MarketSnap]


def snapshot(engine: Engine) -> Snap:
    markets = {}
    for name, ms in engine.markets.items():
        exp = engine.exposure(name)
        markets[name] = MarketSnap(
            machine=ms.machine.state,
            position_id=ms.position.id,
            position=ms.position.state,
            long=exp.long,
            short=exp.short,
        )
    return Snap(now_ms=engine.now_ms, bot=engine.bot.state, markets=markets)


@dataclass
class RetrySlot:
    """The test's own count of one side's post-only rejects (see ``inv_retry``)."""

    streak: int = 0
    ref: int | None = None
    due_ms: int = 0


@dataclass
class StepRecord:
    index: int
    event: Event
    step: Step
    before: Snap
    engine: Engine
    views_before: Mapping[str, Views]
    views_after: Mapping[str, Views]
    closed_before: frozenset[str]
    op_halted_before: frozenset[str]
    unwind_since: Mapping[str, int]
    retry: Mapping[tuple[str, Purpose], RetrySlot]
    tolerate: frozenset[str]
    about: str | None  # the market the event is about; None for a global event

    @property
    def places(self) -> list[Place]:
        return [c for c in self.step.commands if isinstance(c, Place)]


def _opposite(ms: MarketState, purpose: Purpose) -> int | None:
    top = ms.yes_book.top()
    if top is None:
        return None
    return top.ask if purpose is Purpose.BID else top.bid


_GLOBAL = (ClockTick, ConfigReload)


def _about(engine: Engine, event: Event) -> str | None:
    """The market an event is about ("" for none in particular), None for a global one."""
    if isinstance(event, _GLOBAL) or (isinstance(event, VenueFault) and event.market is None):
        return None
    if isinstance(event, OperatorHalt | OperatorResume):
        return ""  # an operator command, not news about the market: nothing is re-judged
    market = getattr(event, "market", None)
    if market is None and hasattr(event, "client_id"):
        order = engine.orders.get(event.client_id)
        market = order.market if order is not None else None
    return market or ""


def _limit(engine: Engine) -> int:
    """Worst-case exposure limit in size units: the money limit at $1 a share."""
    return engine.config.strategy.max_market_exposure // PRICE_SCALE


@dataclass
class Checker:
    """Feeds one Engine and keeps the history the invariant checks need."""

    engine: Engine
    truth: Callable[[Step], Views] | None = None
    tolerate: frozenset[str] = TOLERATED
    index: int = 0
    last: StepRecord | None = None
    closed: set[str] = field(default_factory=set)
    op_halted: set[str] = field(default_factory=set)
    unwind_since: dict[str, int] = field(default_factory=dict)
    retry: dict[tuple[str, Purpose], RetrySlot] = field(default_factory=dict)
    _views: dict[str, Views] = field(default_factory=dict)

    def engine_view(self) -> Views:
        out = {}
        for name in self.engine.markets:
            exp = self.engine.exposure(name)
            out[name] = (exp.long, exp.short)
        return out

    def feed(self, event: Event) -> StepRecord:
        engine = self.engine
        before = snapshot(engine)
        views_before: dict[str, Views] = {
            "engine": {m: (s.long, s.short) for m, s in before.markets.items()}
        }
        if "truth" in self._views:
            views_before["truth"] = self._views["truth"]
        about = _about(engine, event)
        counted_reject: tuple[str, Purpose] | None = None
        if isinstance(event, OrderRejected) and event.reason is RejectReason.POST_ONLY:
            order = engine.orders.get(event.client_id)
            if order is not None and order.purpose is not Purpose.EXIT:
                counted_reject = (order.market, order.purpose)

        step = engine.step(event)
        self.index += 1

        views_after: dict[str, Views] = {"engine": self.engine_view()}
        if self.truth is not None:
            views_after["truth"] = self.truth(step)

        # Post-only streaks: count the reject, check this step's places against the
        # streak as it stands now (see inv_retry), then forget streaks whose book moved.
        if counted_reject is not None:
            slot = self.retry.setdefault(counted_reject, RetrySlot())
            slot.streak += 1
            opposite = _opposite(engine.markets[counted_reject[0]], counted_reject[1])
            if opposite is not None:
                slot.ref = opposite
            backoff = engine.config.risk.post_only_backoff_ms
            slot.due_ms = engine.now_ms + backoff * (2 ** (slot.streak - 1))
        retry_view = {k: copy.copy(v) for k, v in self.retry.items()}
        for (market, purpose), slot in self.retry.items():
            opposite = _opposite(engine.markets[market], purpose)
            if slot.streak and opposite is not None and opposite != slot.ref:
                slot.streak = 0

        for record in step.transitions:
            if record.machine == "position" and record.target == "passive_unwind":
                self.unwind_since[record.id] = record.ts_ms
        rec = StepRecord(
            index=self.index,
            event=event,
            step=step,
            before=before,
            engine=engine,
            views_before=views_before,
            views_after=views_after,
            closed_before=frozenset(self.closed),
            op_halted_before=frozenset(self.op_halted),
            unwind_since=dict(self.unwind_since),
            retry=retry_view,
            tolerate=self.tolerate,
            about=about,
        )
        for record in step.transitions:
            if record.machine == "position" and record.target in SPEC_FINAL["position"]:
                self.closed.add(record.id)
        if isinstance(event, OperatorHalt) and event.market in engine.markets:
            self.op_halted.add(event.market)
        if (
            isinstance(event, OperatorResume)
            and event.market is not None
            and _acknowledged(event.ack)
            and before.markets.get(event.market, None) is not None
            and before.markets[event.market].machine == "halted"
        ):
            self.op_halted.discard(event.market)
        self._views = views_after
        self.last = rec
        return rec

    def check_all(self, rec: StepRecord | None = None) -> None:
        rec = rec or self.last
        if rec is None:
            return
        for check in CHECKS.values():
            check(rec)


# ------------------------------------------------------------------ the invariants


def inv_halt(rec: StepRecord) -> None:
    """INV-HALT: no Place while the bot or the market is halted; the halting step cancels."""
    engine = rec.engine
    halted_now = engine.bot.state == "halted"
    places = rec.places
    resume_step = (
        isinstance(rec.event, OperatorResume)
        and rec.event.market is None
        and _acknowledged(rec.event.ack)
    )
    if places and (halted_now or (rec.before.bot == "halted" and not resume_step)):
        raise _fail("inv_halt", rec, f"Place in a step where the bot is halted: {places[0]}")
    for place in places:
        if engine.markets[place.market].machine.state == "halted":
            raise _fail("inv_halt", rec, f"Place for halted market {place.market}: {place}")
    cancel_all = any(isinstance(c, CancelAll) for c in rec.step.commands)
    if rec.before.bot != "halted" and halted_now and not cancel_all:
        raise _fail("inv_halt", rec, "the step that halted the bot has no CancelAll")
    # The cancels were emitted: nothing of ours is live in a halted bot or market.
    for order in engine.orders:
        if not order.live:
            continue
        if halted_now or engine.markets[order.market].machine.state == "halted":
            raise _fail(
                "inv_halt", rec, f"order {order.client_id} still live in a halted bot/market"
            )


def inv_grid(rec: StepRecord) -> None:
    """INV-GRID: on the current grid, inside [tick, 1 - tick], post-only never crosses."""
    for place in rec.places:
        ms = rec.engine.markets[place.market]
        t = int(ms.tick)
        if place.price % t and not (
            "unwind_price_off_grid" in rec.tolerate
            and place.post_only
            and ms.position.state == "passive_unwind"
            and any(p is not None and p % t for p in (ms.yes_book.best_bid,
                                                      ms.yes_book.best_ask))
        ):
            raise _fail("inv_grid", rec, f"{place} is off the {ms.tick} grid")
        if not t <= place.price <= PRICE_SCALE - t and not (
            "exit_price_past_range" in rec.tolerate and not place.post_only
        ):
            raise _fail("inv_grid", rec, f"{place} is outside [tick, 1 - tick]")
        if place.size < max(ms.min_size, 1):
            raise _fail("inv_grid", rec, f"{place} is below the minimum size {ms.min_size}")
        if not place.post_only:
            if place.tif is not TimeInForce.FAK:
                raise _fail("inv_grid", rec, f"{place}: a quote must be post-only")
            continue
        book = ms.yes_book
        price = yes_price(ms, place)
        if adds_long(ms, place):
            if book.best_ask is not None and price >= book.best_ask:
                raise _fail(
                    "inv_grid", rec, f"{place}: YES bid {price} crosses best ask {book.best_ask}"
                )
        elif book.best_bid is not None and price <= book.best_bid:
            raise _fail(
                "inv_grid", rec, f"{place}: YES ask {price} crosses best bid {book.best_bid}"
            )


def inv_exposure(rec: StepRecord) -> None:
    """INV-EXPOSURE: worst-case net delta per market <= limit, in every view.

    Strong form: after every step, for each market and side, worst <= limit. The only
    excess allowed is one the Engine cannot prevent: a FAILED trade reversing a fill, or
    a config reload that lowered the limit. Then the step must not add on the over side,
    and later steps must not add to it either (the excess may only shrink or persist)
    until it is back under the limit.
    """
    engine = rec.engine
    limit = _limit(engine)
    for market in engine.markets:
        exp = engine.exposure(market)
        if exp.limit != limit:
            raise _fail("inv_exposure", rec, f"{market}: Engine limit {exp.limit} != {limit}")
    excused = (
        isinstance(rec.event, Trade) and rec.event.status is TradeStatus.FAILED
    ) or isinstance(rec.event, ConfigReload)
    for view, values in rec.views_after.items():
        for market, (long, short) in values.items():
            ms = engine.markets[market]
            prev = rec.views_before.get(view, {}).get(market, (0, 0))
            for side, value, before in (("long", long, prev[0]), ("short", short, prev[1])):
                if value <= limit:
                    continue
                adding = [p for p in rec.places if p.market == market
                          and adds_long(ms, p) == (side == "long")]
                if adding:
                    raise _fail(
                        "inv_exposure", rec,
                        f"[{view}] {market} worst {side} {value / SIZE_SCALE} > limit "
                        f"{limit / SIZE_SCALE} and the step adds to it: {adding[0]}",
                    )
                if not excused and value > before:
                    raise _fail(
                        "inv_exposure", rec,
                        f"[{view}] {market} worst {side} {before / SIZE_SCALE} -> "
                        f"{value / SIZE_SCALE} > limit {limit / SIZE_SCALE}",
                    )


def _capital(engine: Engine) -> int:
    """The strategy capital in size units: money at $1 a share, as ``_limit``."""
    return engine.config.strategy.capital // PRICE_SCALE


def total_worst(values: Views) -> int:
    """Worst case summed over markets: per market max(long, short, 0)."""
    return sum(max(long, short, 0) for long, short in values.values())


def inv_capital(rec: StepRecord) -> None:
    """INV-CAPITAL: the worst case summed over markets <= capital, in every view.

    Each market's worst case is INV-EXPOSURE's, max(worst long, worst short, 0) at $1 a
    share. The excess the Engine cannot prevent (a FAILED trade, a config reload that
    lowered the capital) is allowed as in INV-EXPOSURE: while over, the total does not
    grow, and no quote of the step adds to the side that makes its market's worst case.
    Exits are never held back: a single exit only reduces, and the two sells of a delta
    below the minimum size end flat together (while both are out, the worst case is
    what either alone would leave, which INV-EXPOSURE still bounds per market).
    """
    engine = rec.engine
    capital = _capital(engine)
    excused = (
        isinstance(rec.event, Trade) and rec.event.status is TradeStatus.FAILED
    ) or isinstance(rec.event, ConfigReload)
    exiting = any(not p.post_only for p in rec.places)
    for view, values in rec.views_after.items():
        total = total_worst(values)
        if total <= capital:
            continue
        before = total_worst(rec.views_before.get(view, {}))
        if not excused and not exiting and total > before:
            raise _fail(
                "inv_capital", rec,
                f"[{view}] worst case over all markets {before / SIZE_SCALE} -> "
                f"{total / SIZE_SCALE} > capital {capital / SIZE_SCALE}",
            )
        for place in rec.places:
            if not place.post_only or place.market not in values:
                continue
            long, short = values[place.market]
            ms = engine.markets[place.market]
            side, other = (long, short) if adds_long(ms, place) else (short, long)
            if side > 0 and side > other:
                raise _fail(
                    "inv_capital", rec,
                    f"[{view}] worst case over all markets {total / SIZE_SCALE} > capital "
                    f"{capital / SIZE_SCALE} and the step adds to {place.market}'s worst "
                    f"side: {place}",
                )


def inv_gap(rec: StepRecord) -> None:
    """INV-GAP: no live quote rests in a market whose YES spread is over max_spread."""
    engine = rec.engine
    max_spread = engine.config.risk.max_spread
    for market, ms in engine.markets.items():
        spread = ms.yes_book.spread()
        if spread is None or spread <= max_spread:
            continue
        for order in engine.orders.in_market(market):
            if order.live and order.purpose in (Purpose.BID, Purpose.ASK):
                raise _fail(
                    "inv_gap", rec,
                    f"{market}: spread {spread} > {max_spread} but {order.client_id} "
                    f"({order.status.value}) still rests",
                )


def inv_latch(rec: StepRecord) -> None:
    """INV-LATCH: halted stays halted until an acknowledged operator resume."""
    event = rec.event
    engine = rec.engine
    resume_all = (
        isinstance(event, OperatorResume) and event.market is None and _acknowledged(event.ack)
    )
    if rec.before.bot == "halted" and engine.bot.state != "halted" and not resume_all:
        raise _fail("inv_latch", rec, "the bot left halted without an acknowledged resume")
    for market, snap in rec.before.markets.items():
        if snap.machine != "halted" or engine.markets[market].machine.state == "halted":
            continue
        resume_this = (
            isinstance(event, OperatorResume)
            and event.market == market
            and _acknowledged(event.ack)
        )
        if not (resume_all or resume_this):
            raise _fail("inv_latch", rec, f"{market} left halted without an acknowledged resume")
        if market in rec.op_halted_before and not resume_this:
            raise _fail(
                "inv_latch", rec,
                f"{market} was halted by the operator and a bot-wide resume un-halted it",
            )


def inv_lifecycle(rec: StepRecord) -> None:
    """INV-LIFECYCLE: only spec'd transitions; closed is final; unwind times out in time."""
    engine = rec.engine
    for record in rec.step.transitions:
        edges = SPEC_EDGES.get(record.machine)
        if edges is None or (record.source, record.event, record.target) not in edges:
            raise _fail(
                "inv_lifecycle", rec,
                f"{record.machine} {record.id}: {record.source} -{record.event}-> "
                f"{record.target} is not in specs/machines.toml",
            )
        if record.machine == "position" and (
            record.source in SPEC_FINAL["position"] or record.id in rec.closed_before
        ):
            raise _fail("inv_lifecycle", rec, f"position {record.id} left closed")
    timeout = engine.config.risk.unwind_timeout_ms
    for market, ms in engine.markets.items():
        if ms.position.state != "passive_unwind":
            continue
        if "deadline_out_of_scope" in rec.tolerate and (
            rec.about not in (None, market) or _faulted(rec)
        ):
            continue
        since = rec.unwind_since.get(ms.position.id)
        if since is None:
            raise _fail("inv_lifecycle", rec, f"{market}: passive_unwind with no transition in")
        if engine.now_ms - since > timeout:
            raise _fail(
                "inv_lifecycle", rec,
                f"{market}: position {ms.position.id} still in passive_unwind "
                f"{(engine.now_ms - since) / 1000}s after it began (timeout {timeout / 1000}s)",
            )


def _faulted(rec: StepRecord) -> bool:
    """The step raised inside the Engine: it was replaced by CancelAll and an alert."""
    return any(isinstance(c, CancelAll) and "fault" in c.reason for c in rec.step.commands)


def inv_wal(rec: StepRecord) -> None:
    """INV-WAL (engine side): the Step carries every transition that caused its commands.

    The audit writer is a later issue; what the Engine must give it is checked here:
    (1) completeness: every machine whose state changed in the step has its transitions
    in ``step.transitions``, chained source -> target from the state before the step to
    the state after it, and no machine changed without one; (2) causality: a CancelAll
    comes with the bot's transition to halted (or a bot already halted), a force-exit
    Place with its position in force_exit; (3) every record is stamped with the step's
    time and the config hash in force, so it can be written before the commands.
    """
    engine = rec.engine
    records = rec.step.transitions
    after: dict[tuple[str, str], str] = {("bot", "bot"): engine.bot.state}
    before: dict[tuple[str, str], str] = {("bot", "bot"): rec.before.bot}
    for market, ms in engine.markets.items():
        after[("market", market)] = ms.machine.state
        after[("position", ms.position.id)] = ms.position.state
    for market, snap in rec.before.markets.items():
        before[("market", market)] = snap.machine
        before[("position", snap.position_id)] = snap.position
    chains: dict[tuple[str, str], list[str]] = {}
    for record in records:
        if record.ts_ms != engine.now_ms or record.config_hash != engine.config_hash:
            raise _fail("inv_wal", rec, f"record not stamped with the step: {record}")
        key = (record.machine, record.id)
        chain = chains.get(key)
        if chain is None:
            start = before.get(key)
            if start is None:  # a machine born in this step starts in its initial state
                start = _MACHINE_SPECS[record.machine]["initial"]
            chain = chains[key] = [start]
        if record.source != chain[-1]:
            raise _fail(
                "inv_wal", rec, f"{key}: record from {record.source} but state was {chain[-1]}"
            )
        chain.append(record.target)
    for key, state in after.items():
        start = before.get(key, _MACHINE_SPECS[key[0]]["initial"])
        end = chains[key][-1] if key in chains else start
        if end != state:
            raise _fail("inv_wal", rec, f"{key} changed {start} -> {state} without a record")
    for key, chain in chains.items():
        if key not in after and chain[-1] not in SPEC_FINAL[key[0]]:
            raise _fail("inv_wal", rec, f"{key} vanished in state {chain[-1]}")
    for market, snap in rec.before.markets.items():
        new_id = engine.markets[market].position.id
        if new_id != snap.position_id and chains.get(("position", snap.position_id), [""])[-1] \
                not in SPEC_FINAL["position"]:
            raise _fail("inv_wal", rec, f"{market}: new position without closing the old one")
    commands = rec.step.commands
    halting = any(r.machine == "bot" and r.target == "halted" for r in records)
    cancel_all = any(isinstance(c, CancelAll) for c in commands)
    if cancel_all and rec.before.bot != "halted" and not halting:
        raise _fail("inv_wal", rec, "CancelAll without the bot transition that caused it")
    for place in rec.places:
        if place.post_only:
            continue
        ms = engine.markets[place.market]
        key = ("position", ms.position.id)
        entered = any(r.id == key[1] and r.target == "force_exit" for r in records)
        if ms.position.state != "force_exit" or not (
            entered or before.get(key) == "force_exit"
        ):
            raise _fail("inv_wal", rec, f"exit order without a force_exit transition: {place}")


def _yes_terms(ms: MarketState, intent: Intent | None) -> tuple[int, int] | None:
    if intent is None:
        return None
    price = intent.price if intent.token == ms.yes_token else PRICE_SCALE - intent.price
    return price, intent.size


def _quote_with_holdings(
    engine: Engine, ms: MarketState, yes_held: int, no_held: int
) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
    ledger = MarketLedger(
        market=ms.market,
        yes_token=ms.yes_token,
        no_token=ms.no_token,
        delta=ms.ledger.delta,
        cost=ms.ledger.cost,
        realized=ms.ledger.realized,
        yes_held=yes_held,
        no_held=no_held,
    )
    clone = attrs.evolve(ms, ledger=ledger, retry=copy.deepcopy(ms.retry))
    cfg = engine.config
    room = 10 * cfg.strategy.order_size
    # The function the Engine calls (vars(): what it imported, as a mutant may patch it).
    bid, ask = vars(engine_module)["quote_intents"](
        clone,
        engine._params,
        cfg.strategy.order_size,
        engine.now_ms,
        room,
        room,
        cfg.risk.post_only_max_retries,
    )
    return _yes_terms(ms, bid), _yes_terms(ms, ask)


def inv_binary(rec: StepRecord) -> None:
    """INV-BINARY: delta == YES held - NO held, and quotes depend on that delta only.

    The quote function the Engine calls is run on the market's real state three ways:
    with its real YES/NO holdings, with the same delta held as one token only, and with
    extra equal YES and NO holdings on top; the YES-terms prices and sizes must agree
    (10 YES + 10 NO quotes exactly like flat).
    """
    engine = rec.engine
    for market, ms in engine.markets.items():
        led = ms.ledger
        if led.delta != led.yes_held - led.no_held:
            raise _fail(
                "inv_binary", rec,
                f"{market}: delta {led.delta} != YES {led.yes_held} - NO {led.no_held}",
            )
        if (
            engine.bot.state != "running"
            or ms.machine.state != "running"
            or ms.position.state not in ("quoting", "inventory_held")
            or ms.yes_book.top() is None
        ):
            continue
        real = _quote_with_holdings(engine, ms, led.yes_held, led.no_held)
        pure = _quote_with_holdings(engine, ms, max(led.delta, 0), max(-led.delta, 0))
        extra = 7 * SIZE_SCALE
        hedged = _quote_with_holdings(
            engine, ms, max(led.delta, 0) + extra, max(-led.delta, 0) + extra
        )
        if not real == pure == hedged:
            raise _fail(
                "inv_binary", rec,
                f"{market}: quotes depend on more than the net delta {led.delta}: "
                f"held {real}, one token {pure}, plus equal YES/NO {hedged}",
            )


def inv_retry(rec: StepRecord) -> None:
    """INV-RETRY: at most ``post_only_max_retries`` retries, with back-off, per book.

    The test keeps its own streak per market side: post-only rejects of that side's
    orders since the opposite best price moved. With a streak k > 0 and the opposite best
    still where the last reject saw it, a new post-only order on that side may only be
    placed if k <= max retries and the back-off (backoff * 2^(k-1) after that reject)
    has passed. After max retries + 1 rejects the side rests until the book moves.
    """
    engine = rec.engine
    max_retries = engine.config.risk.post_only_max_retries
    for place in rec.places:
        if not place.post_only:
            continue
        ms = engine.markets[place.market]
        purpose = Purpose.BID if adds_long(ms, place) else Purpose.ASK
        slot = rec.retry.get((place.market, purpose))
        if slot is None or not slot.streak:
            continue
        if _opposite(ms, purpose) != slot.ref:
            continue
        if slot.streak > max_retries:
            raise _fail(
                "inv_retry", rec,
                f"{place}: retry after {slot.streak} post-only rejects (max {max_retries})",
            )
        if engine.now_ms < slot.due_ms:
            raise _fail(
                "inv_retry", rec,
                f"{place}: retry at {engine.now_ms} before the back-off ends at {slot.due_ms}",
            )


CHECKS: Mapping[str, Callable[[StepRecord], None]] = {
    "inv_halt": inv_halt,
    "inv_grid": inv_grid,
    "inv_exposure": inv_exposure,
    "inv_capital": inv_capital,
    "inv_gap": inv_gap,
    "inv_latch": inv_latch,
    "inv_lifecycle": inv_lifecycle,
    "inv_wal": inv_wal,
    "inv_binary": inv_binary,
    "inv_retry": inv_retry,
}
