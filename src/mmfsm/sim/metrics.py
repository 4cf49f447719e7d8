"""What a run measured: the strategy document's claims as numbers, from the venue's truth.

Theory of operation
-------------------
``Collector`` watches the loop (every step, every market sample, the passage of time)
and ``finish`` turns what it saw into a plain JSON-ready dict. Definitions, chosen so
that mmfsm and the baseline are measured identically from the venue's side:

* ``fill_rate``: orders with at least one fill that did not fail / orders placed
  (every Place sent, rejects included). ``orders_fully_filled`` is reported beside it.
* Round trips: each market's fills (failed ones removed) matched first-in first-out in
  YES-equivalent terms (buying NO at p is selling YES at 1 - p). ``round_trip_shares``
  is the size matched; ``spread_captured_per_round_trip_usd`` is the FIFO P&L of the
  matched size per share (a round trip = one share bought and sold; the strategy
  document's "2-4 cents"). ``round_trips`` counts the times a market's net delta went
  from flat back to flat.
* Rebates: 0. Polymarket's maker rebates and fees are set per market at match time; the
  simulator models neither, and says so in the output.
* P&L: realized and unrealized from the venue's ledger of every matched trade, marked at
  the crowd's mid; a replayed market's inventory is settled at its payout when it
  resolves, which counts as realized; ``max_drawdown``
  is the largest fall of total P&L from its running peak, sampled on every market step.
* Exposure: the largest worst-case exposure the Engine computed and the largest true
  one (see ``invariants``), with the limit, in shares.
* API actions: Place + Cancel + CancelAll commands sent. ``orders_kept`` is the Engine's
  count of decisions to keep an order rather than replace it; ``queue_priority_preserved``
  counts its "Preserving queue priority" lines (a keep across a top-of-book change).
* ``post_only_retries``: a Place on the same market and side after a post-only reject.
* Exits: a position's return to flat (``flattened``); ``force_exit_share`` is the share
  of those that came out of ``force_exit``.
* Time in state: simulated seconds in each state of the bot, of each market machine and
  of each market's position machines (all episodes together).
"""

from __future__ import annotations

from collections import Counter, deque
from decimal import Decimal

from attrs import define, field

from mmfsm.core.commands import Alert, Cancel, CancelAll, Log, Place
from mmfsm.core.engine import Engine, Step
from mmfsm.core.events import Event, OrderRejected, RejectReason
from mmfsm.core.ticks import MONEY_SCALE, SIZE_SCALE
from mmfsm.sim.invariants import Invariants
from mmfsm.sim.venue import FillRecord, Venue

__all__ = ["LOG_LINES", "Collector", "Sample", "money", "shares"]

LOG_LINES = (
    "Fill detected",
    "Fill reversed (FAILED)",
    "Inventory:",
    "Gapped market detected",
    "Passive unwinding:",
    "Passive unwinding timeout",
    "FORCE EXIT",
    "post_only rejected",
    "Preserving queue priority",
    "GLOBAL DAILY LOSS LIMIT EXCEEDED",
    "Daily P&L reset",
    "Venue fault",
    "ENGINE FAULT",
)
REBATE_NOTE = "not modelled: the simulator assumes zero maker rebates and zero fees"


def money(units: int) -> str:
    """Exact dollars as a decimal string (no float anywhere)."""
    return format((Decimal(units) / MONEY_SCALE).normalize(), "f")


def shares(units: int) -> str:
    return format((Decimal(units) / SIZE_SCALE).normalize(), "f")


def _ratio(num: int, den: int) -> float | None:
    return None if den == 0 else round(num / den, 6)


@define(slots=True)
class Sample:
    t: int
    bid: int | None  # the crowd's, YES terms
    ask: int | None
    our_bid: int | None  # our best resting, YES terms
    our_ask: int | None
    delta: int  # true net delta
    pnl: int  # this market's total P&L, money units


@define
class Collector:
    start_ms: int
    engine: Engine | None
    events: int = 0
    places: int = 0
    cancels: int = 0
    cancel_alls: int = 0
    keeps_logged: int = 0
    post_only_retries: int = 0
    lines: Counter[str] = field(factory=Counter)
    samples: dict[str, list[Sample]] = field(factory=dict)
    totals: list[tuple[int, int]] = field(factory=list)  # (t, total P&L)
    states: list[tuple[int, str, str, str]] = field(factory=list)  # (t, machine, id, state)
    force_entries: int = 0
    exits: int = 0
    force_exits: int = 0
    time_in_state: dict[str, dict[str, dict[str, int]]] = field(factory=dict)
    _now: int = 0
    _retry_due: set[tuple[str, bool]] = field(factory=set)
    _direction: dict[str, tuple[str, bool]] = field(factory=dict)
    _pnl_by_market: dict[str, int] = field(factory=dict)
    _held: dict[tuple[str, str], tuple[str, int]] = field(factory=dict)  # -> (state, since)
    _stepped: bool = True  # a step moved a machine since the states were last looked at
    _markets_seen: int = -1

    def __attrs_post_init__(self) -> None:
        self._now = self.start_ms

    # ------------------------------------------------------------------ time

    def advance(self, now: int) -> None:
        """Credit the time since the last item to every machine's current state.

        Lazily: a machine's time is only added up when the state it is seen in changes
        (and at ``finish``), and the states are only looked at after a step that made a
        transition or when a market appeared: a machine changes state only by a transition,
        and every transition is in its step's ``transitions`` (the audit log relies on the
        same). Same sums, without a dictionary update per machine per item.
        """
        dt = now - self._now
        if dt <= 0 or self.engine is None:
            self._now = max(self._now, now)
            return
        prev = self._now
        self._now = now
        e = self.engine
        if not self._stepped and len(e.markets) == self._markets_seen:
            return  # no machine can have moved: every move is a step's transition
        self._stepped = False
        self._markets_seen = len(e.markets)
        held = self._held
        self._see(held, "bot", "bot", e.bot.state, prev)
        for name, ms in e.markets.items():
            self._see(held, "market", name, ms.machine.state, prev)
            self._see(held, "position", name, ms.position.state, prev)

    def _see(
        self,
        held: dict[tuple[str, str], tuple[str, int]],
        machine: str,
        key: str,
        state: str,
        prev: int,
    ) -> None:
        h = held.get((machine, key))
        if h is None:
            held[machine, key] = (state, prev)
        elif h[0] != state:
            self._credit(machine, key, h[0], prev - h[1])
            held[machine, key] = (state, prev)

    def _settle_time(self) -> None:
        """Add up every machine's time in its current state, up to now."""
        for (machine, key), (state, since) in list(self._held.items()):
            if self._now > since:
                self._credit(machine, key, state, self._now - since)
                self._held[machine, key] = (state, self._now)

    def _credit(self, machine: str, key: str, state: str, dt: int) -> None:
        per = self.time_in_state.setdefault(machine, {}).setdefault(key, {})
        per[state] = per.get(state, 0) + dt

    # ------------------------------------------------------------------ steps

    def on_step(self, event: Event, step: Step, adds_long: dict[str, bool]) -> None:
        self.events += 1
        if step.transitions:
            self._stepped = True
        if isinstance(event, OrderRejected) and event.reason is RejectReason.POST_ONLY:
            where = self._direction.get(event.client_id)
            if where is not None:
                self._retry_due.add(where)
        for c in step.commands:
            if isinstance(c, Place):
                self.places += 1
                where = (c.market, adds_long[c.client_id])
                self._direction[c.client_id] = where
                if where in self._retry_due:
                    self._retry_due.discard(where)
                    self.post_only_retries += 1
            elif isinstance(c, Cancel):
                self.cancels += 1
            elif isinstance(c, CancelAll):
                self.cancel_alls += 1
            elif isinstance(c, (Log, Alert)):
                for pattern in LOG_LINES:
                    if pattern in c.message:
                        self.lines[pattern] += 1
        for r in step.transitions:
            self.states.append((r.ts_ms, r.machine, r.id, r.target))
            if r.machine == "position":
                if r.target == "force_exit":
                    self.force_entries += 1
                if r.event == "flattened":
                    self.exits += 1
                    self.force_exits += r.source == "force_exit"

    def sample(self, now: int, venue: Venue, market: str) -> None:
        vm = venue.markets[market]
        bids = [o.yes_price for o in vm.orders.values() if o.is_bid]
        asks = [o.yes_price for o in vm.orders.values() if not o.is_bid]
        bid, ask = vm.crowd.best_bid, vm.crowd.best_ask  # once, for the mark and the sample
        pnl = vm.total_pnl(vm.mark_at(bid, ask))
        self._pnl_by_market[market] = pnl
        self.samples.setdefault(market, []).append(
            Sample(
                t=now,
                bid=bid,
                ask=ask,
                our_bid=max(bids, default=None),
                our_ask=min(asks, default=None),
                delta=vm.ledger.delta,
                pnl=pnl,
            )
        )
        self.totals.append((now, sum(self._pnl_by_market.values())))

    # ------------------------------------------------------------------ the end

    def finish(self, now: int, venue: Venue, inv: Invariants, order_size: int) -> dict[str, object]:
        self.advance(now)
        self._settle_time()
        placed = list(venue.orders.values())
        filled = sum(1 for o in placed if o.matched > 0)
        full = sum(1 for o in placed if o.matched >= o.place.size)
        good = [f for f in venue.fills if not f.failed]
        rt_shares, captured, trips = _round_trips(good)
        # A resolved market's inventory was paid out: its P&L is realized, not marked.
        realized = sum(
            vm.ledger.realized + (vm.ledger.unrealized(vm.payout) if vm.payout is not None else 0)
            for vm in venue.markets.values()
        )
        total = 0
        for vm in venue.markets.values():
            total += vm.total_pnl()
            self._pnl_by_market[vm.market] = vm.total_pnl()
        self.totals.append((now, total))
        peak, drawdown = None, 0
        for _, value in self.totals:
            peak = value if peak is None else max(peak, value)
            drawdown = max(drawdown, peak - value)
        e = self.engine
        kept = e.actions.kept if e is not None else 0
        out: dict[str, object] = {
            "simulated_s": (now - self.start_ms) // 1000,
            "events": self.events,
            "orders_placed": self.places,
            "orders_reaching_venue": len(placed),
            "orders_filled": filled,
            "orders_fully_filled": full,
            "fill_rate": _ratio(filled, self.places),
            "fills": len(venue.fills),
            "failed_trades": sum(1 for f in venue.fills if f.failed),
            "filled_shares": shares(sum(abs(f.delta) for f in good)),
            "round_trips": trips,
            "round_trip_shares": shares(rt_shares),
            "spread_captured_per_round_trip_usd": (
                None if rt_shares == 0 else money(captured * SIZE_SCALE // rt_shares)
            ),
            "rebates_usd": "0",
            "rebates_note": REBATE_NOTE,
            "realized_pnl_usd": money(realized),
            "unrealized_pnl_usd": money(total - realized),
            "total_pnl_usd": money(total),
            "max_drawdown_usd": money(drawdown),
            "max_worst_case_exposure_shares": shares(
                inv.max_engine_exposure if e is not None else inv.max_true_exposure
            ),
            "max_true_exposure_shares": shares(inv.max_true_exposure),
            "exposure_limit_shares": shares(inv.limit) if e is not None else None,
            "api_actions": self.places + self.cancels + self.cancel_alls,
            "places": self.places,
            "cancels": self.cancels,
            "cancel_alls": self.cancel_alls,
            "orders_kept": kept,
            "queue_priority_preserved": self.lines["Preserving queue priority"],
            "post_only_rejects": venue.rejects.get("post_only", 0),
            "post_only_retries": self.post_only_retries,
            "rejects": dict(sorted(venue.rejects.items())),
            "venue_faults": venue.faults,
            "force_exit_entries": self.force_entries,
            "exits": self.exits,
            "force_exits": self.force_exits,
            "force_exit_share": _ratio(self.force_exits, self.exits),
            "time_in_state_s": {
                machine: {
                    key: {s: ms // 1000 for s, ms in sorted(per.items())}
                    for key, per in sorted(by_key.items())
                }
                for machine, by_key in sorted(self.time_in_state.items())
            },
            "invariant_violations": dict(inv.counts),
            "invariant_violations_total": inv.total,
            "invariant_examples": list(inv.examples),
            "log_lines": {k: self.lines[k] for k in LOG_LINES},
            "order_size_shares": shares(order_size),
        }
        return out


def _round_trips(fills: list[FillRecord]) -> tuple[int, int, int]:
    """(matched size, FIFO P&L of it in money units, flat-to-flat episodes)."""
    lots: dict[str, deque[list[int]]] = {}
    position: dict[str, int] = {}
    matched = captured = trips = 0
    for f in sorted(fills, key=lambda f: (f.ts_ms, int(f.trade_id[1:]))):
        queue = lots.setdefault(f.market, deque())
        left = f.delta
        while left and queue and (queue[0][0] > 0) != (left > 0):
            lot = queue[0]
            size = min(abs(left), abs(lot[0]))
            sign = 1 if lot[0] > 0 else -1  # long lot closed by a sell, or short by a buy
            captured += sign * (f.yes_price - lot[1]) * size
            matched += size
            lot[0] -= sign * size
            left += sign * size
            if lot[0] == 0:
                queue.popleft()
        if left:
            queue.append([left, f.yes_price])
        before = position.get(f.market, 0)
        after = before + f.delta
        position[f.market] = after
        if before != 0 and (after == 0 or (after > 0) != (before > 0)):
            trips += 1
    return matched, captured, trips
