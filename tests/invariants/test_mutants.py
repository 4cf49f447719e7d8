"""The invariant suite can fail: deliberately broken Engines, each caught.

Each mutant breaks the real Engine in one way through ``monkeypatch`` (nothing in src/
changes), then the stateful suite runs as it is, with a fixed small derandomized budget,
and must find a counterexample, reported by the invariant meant to catch it. The
shrunk counterexample's events, saved by the suite, then replay to the same violation
on a fresh mutant Engine (``replay.py``) and to no violation on the real one.

The required six (quoting while halted, rounding a bid up, ignoring in-flight orders in
exposure, un-halting at midnight, not cancelling on gap, a fourth post-only retry) plus
one each for INV-LIFECYCLE, INV-WAL, INV-BINARY and INV-CAPITAL.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import Phase
from hypothesis.stateful import run_state_machine_as_test
from inv_checks import InvariantViolation
from replay import load_events, replay
from test_engine_stateful import EngineMachine, stateful_settings

from mmfsm.core import engine as engine_module
from mmfsm.core import quoting, risk
from mmfsm.core.engine import Engine
from mmfsm.core.market_state import MarketState
from mmfsm.core.orders import OrderStatus, OurOrder
from mmfsm.core.ticks import PRICE_SCALE, Side, TickSize

# Every mutant patches the core, which the compiled build bound at build time.
pytestmark = pytest.mark.interpreted_core

Patch = Callable[[pytest.MonkeyPatch], None]


def quoting_while_halted(mp: pytest.MonkeyPatch) -> None:
    """_quote forgets to skip a halted bot and halted markets."""
    original = Engine._quote

    def _quote(self: Engine, scope: Iterable[MarketState]) -> None:
        scope = list(scope)
        saved = self.bot.state, [(ms, ms.machine.state) for ms in scope]
        self.bot.state = "running"
        for ms in scope:
            if ms.machine.state == "halted":
                ms.machine.state = "running"
        try:
            original(self, scope)
        finally:
            self.bot.state = saved[0]
            for ms, state in saved[1]:
                ms.machine.state = state

    mp.setattr(Engine, "_quote", _quote)


def bid_rounded_up(mp: pytest.MonkeyPatch) -> None:
    """snap rounds a bid up onto the grid, as round(x / tick) * tick would, no clamp."""

    def snap(value: float | Decimal, side: Side, tick: TickSize, *,
             opposite_best: int | None = None) -> int | None:
        t = int(tick)
        units = math.ceil(Decimal(repr(value)) * PRICE_SCALE)
        price = -(-units // t) * t
        return min(max(price, t), PRICE_SCALE - t)

    mp.setattr(quoting, "snap", snap)


def exposure_ignores_in_flight(mp: pytest.MonkeyPatch) -> None:
    """An order counts toward exposure only while acknowledged and working: not from its
    Place (pending new), not while its cancel is unconfirmed, not for matched fills whose
    trades were not reported yet."""

    def potential(self: OurOrder) -> int:
        if self.status is not OrderStatus.WORKING:
            return 0
        return max(0, self.size - self.filled)

    mp.setattr(OurOrder, "potential", property(potential))


def unhalt_at_midnight(mp: pytest.MonkeyPatch) -> None:
    """The daily reset also resumes the bot and its markets."""
    original = Engine._roll_day

    def _roll_day(self: Engine) -> None:
        day = self.day
        original(self)
        if day is not None and self.day != day and self.bot.state == "halted":
            self._fire(self.bot, "resume", ("acknowledged",), ack="new day")
            for ms in self.markets.values():
                if ms.machine.state == "halted":
                    self._resume_market(ms, "new day")

    mp.setattr(Engine, "_roll_day", _roll_day)


def no_cancel_on_gap(mp: pytest.MonkeyPatch) -> None:
    """Entering gapped_skip forgets to cancel the market's resting quotes."""
    original = Engine._cancel_quotes

    def _cancel_quotes(self: Engine, ms: MarketState, reason: str) -> None:
        if reason != "gapped market":
            original(self, ms, reason)

    mp.setattr(Engine, "_cancel_quotes", _cancel_quotes)


def fourth_post_only_retry(mp: pytest.MonkeyPatch) -> None:
    """Off by one: the side retries once more than post_only_max_retries."""
    original = quoting._retry_offset

    def _retry_offset(ms: MarketState, purpose: Any, now_ms: int, opposite: int,
                      max_retries: int) -> int | None:
        return original(ms, purpose, now_ms, opposite, max_retries + 1)

    mp.setattr(quoting, "_retry_offset", _retry_offset)


def unwind_never_times_out(mp: pytest.MonkeyPatch) -> None:
    """The unwind timeout rule never holds: no force exit after a failed passive unwind."""
    mp.setattr(risk, "unwind_expired", lambda *_args: False)


def halt_without_record(mp: pytest.MonkeyPatch) -> None:
    """The bot halt moves the markets to halted behind the audit listener's back."""

    def _halt_markets(self: Engine) -> None:
        for ms in self.markets.values():
            ms.machine.state = "halted"

    mp.setattr(Engine, "_halt_markets", _halt_markets)


def skew_on_yes_holdings(mp: pytest.MonkeyPatch) -> None:
    """The quote skews on YES shares held, not on the binary net delta."""
    original = vars(engine_module)["quote_intents"]

    def quote_intents(ms: MarketState, *args: Any) -> Any:
        delta = ms.ledger.delta
        ms.ledger.delta = ms.ledger.yes_held
        try:
            return original(ms, *args)
        finally:
            ms.ledger.delta = delta

    mp.setattr(engine_module, "quote_intents", quote_intents)


def capital_per_market_only(mp: pytest.MonkeyPatch) -> None:
    """The capital is checked per market only: nothing caps the sum over markets."""

    def _capital_left(self: Engine, market: str) -> int:
        return int(self._capital_units)

    mp.setattr(Engine, "_capital_left", _capital_left)


# mutant, invariants allowed to report it (the first is the one it is aimed at; a mutant
# can break a second invariant in the same step, and hypothesis reports whichever check
# fails first), whether its counterexample replays without the venue's ground truth.
MUTANTS: dict[str, tuple[Patch, frozenset[str], bool]] = {
    "quoting_while_halted": (quoting_while_halted, frozenset({"inv_halt"}), True),
    "bid_rounded_up": (bid_rounded_up, frozenset({"inv_grid"}), True),
    "exposure_ignores_in_flight": (exposure_ignores_in_flight, frozenset({"inv_exposure"}),
                                   False),
    "unhalt_at_midnight": (unhalt_at_midnight, frozenset({"inv_latch", "inv_halt"}), True),
    "no_cancel_on_gap": (no_cancel_on_gap, frozenset({"inv_gap"}), True),
    "fourth_post_only_retry": (fourth_post_only_retry, frozenset({"inv_retry"}), True),
    "unwind_never_times_out": (unwind_never_times_out, frozenset({"inv_lifecycle"}), True),
    "halt_without_record": (halt_without_record, frozenset({"inv_wal"}), True),
    "skew_on_yes_holdings": (skew_on_yes_holdings, frozenset({"inv_binary"}), True),
    "capital_per_market_only": (capital_per_market_only, frozenset({"inv_capital"}), True),
}
BUDGET = {"max_examples": 300, "steps": 50}
"""Per mutant; each is found well inside it (the most, fourth_post_only_retry, after about
80 examples). Shrinking is off here for time; test_counterexample_is_shrunk shows it."""


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_suite_catches_mutant(name: str, monkeypatch: pytest.MonkeyPatch,
                              tmp_path: Path) -> None:
    patch, expected, replays = MUTANTS[name]
    saved = tmp_path / f"{name}.json"
    monkeypatch.setenv("MMFSM_COUNTEREXAMPLE", str(saved))
    machine = type(f"Mutant_{name}", (EngineMachine,), {"run_label": f"mutant {name}"})
    with monkeypatch.context() as mp:
        patch(mp)
        with pytest.raises(InvariantViolation) as caught:
            run_state_machine_as_test(
                machine,
                settings=stateful_settings(
                    **BUDGET, report_multiple_bugs=False, phases=(Phase.generate,)
                ),
            )
        assert caught.value.name in expected, str(caught.value)
        config, events = load_events(saved)
        if replays:
            with pytest.raises(InvariantViolation) as again:
                replay(config, events)
            assert again.value.name in expected
    replay(config, events)  # the real Engine passes the same events


def test_counterexample_is_shrunk(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """With shrinking (as in the suite proper) the saved counterexample is minimal: the
    setup (two markets listed, their books, the recovery tick), a halt, one more event."""
    saved = tmp_path / "shrunk.json"
    monkeypatch.setenv("MMFSM_COUNTEREXAMPLE", str(saved))
    machine = type("Mutant_shrunk", (EngineMachine,), {"run_label": "mutant shrunk"})
    with monkeypatch.context() as mp:
        quoting_while_halted(mp)
        with pytest.raises(InvariantViolation):
            run_state_machine_as_test(
                machine,
                settings=stateful_settings(
                    **BUDGET, report_multiple_bugs=False, phases=(Phase.generate, Phase.shrink)
                ),
            )
    _config, events = load_events(saved)
    assert len(events) <= 8, [type(e).__name__ for e in events]
    assert any(type(e).__name__ == "OperatorHalt" for e in events)
