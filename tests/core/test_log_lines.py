"""The nine grep-able lines of the strategy document, each from a scenario that causes it.

The document's dashboards grep the bot's log for these exact strings (case and spacing
included), so each must appear, as written there, in the message of a ``Log`` or
``Alert`` command of the step that triggers it, and in no step before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from mmfsm.core.commands import Alert, Cancel, Command, Log, Place
from mmfsm.core.config import Config, parse_config
from mmfsm.core.events import OrderCancelled, OrderRejected, RejectReason
from mmfsm.core.risk import MS_PER_DAY
from mmfsm.core.ticks import SIZE_SCALE, Side
from mmfsm.harness import Harness

LINES = (
    "GLOBAL DAILY LOSS LIMIT EXCEEDED",
    "Gapped market detected",
    "Passive unwinding timeout",
    "post_only rejected",
    "Fill detected",
    "Inventory:",
    "Daily P&L reset",
    "Preserving queue priority",
    "FORCE EXIT",
)


def config(risk: dict[str, object] | None = None) -> Config:
    return parse_config({"risk": risk or {}})


def bid_of(cmds: Sequence[Command]) -> Place:
    return next(
        c for c in cmds if isinstance(c, Place) and c.side is Side.BUY and c.token.endswith("-yes")
    )


def long_ten(h: Harness) -> None:
    """m1 quoting on 0.48/0.52, its 10-share bid at 0.49 filled, requote settled."""
    out = h.start()
    h.ack(out)
    out = h.fill(bid_of(out))
    h.ack(out)
    for cmd in out:
        if isinstance(cmd, Cancel):
            h.send(OrderCancelled(ts_ms=h.now_ms, client_id=cmd.client_id, size_matched=0))


def breaker() -> Harness:
    h = Harness(config({"global_daily_loss_usd": 0.5}))
    long_ten(h)
    h.book(bids=(("0.42", "100"),), asks=(("0.44", "100"),))  # -$0.60
    return h


def gapped() -> Harness:
    h = Harness(config())
    h.start()
    h.book(bids=(("0.10", "100"),), asks=(("0.90", "100"),))
    return h


def unwind_timeout() -> Harness:
    h = Harness(config())
    long_ten(h)
    h.now_ms += 3_600_001
    h.book()  # age: passive unwind
    h.now_ms += 300_001
    h.book()  # not flat five minutes later
    return h


def post_only() -> Harness:
    h = Harness(config())
    out = h.start()
    h.send(
        OrderRejected(
            ts_ms=h.now_ms, client_id=bid_of(out).client_id, reason=RejectReason.POST_ONLY
        )
    )
    return h


def fill() -> Harness:
    h = Harness(config())
    out = h.start()
    h.fill(bid_of(out), 3 * SIZE_SCALE)
    return h


def daily_reset() -> Harness:
    h = Harness(config())
    h.start()
    h.now_ms = (h.now_ms // MS_PER_DAY + 1) * MS_PER_DAY
    h.advance(0)
    return h


def queue_priority() -> Harness:
    h = Harness(config())
    h.ack(h.start())
    h.book(bids=(("0.47", "100"),), asks=(("0.53", "100"),))  # same mid: same quotes
    return h


def force_exit() -> Harness:
    h = Harness(config())
    long_ten(h)
    h.book(bids=(("0.15", "100"),), asks=(("0.17", "100"),))  # -$3.30 on 10 shares
    return h


SCENARIOS: dict[str, Callable[[], Harness]] = {
    "GLOBAL DAILY LOSS LIMIT EXCEEDED": breaker,
    "Gapped market detected": gapped,
    "Passive unwinding timeout": unwind_timeout,
    "post_only rejected": post_only,
    "Fill detected": fill,
    "Inventory:": fill,
    "Daily P&L reset": daily_reset,
    "Preserving queue priority": queue_priority,
    "FORCE EXIT": force_exit,
}


def lines_in(cmds: Sequence[Command]) -> list[str]:
    return [c.message for c in cmds if isinstance(c, Log | Alert)]


def test_there_are_nine_lines_each_with_a_scenario() -> None:
    assert len(set(LINES)) == 9
    assert sorted(SCENARIOS) == sorted(LINES)


@pytest.mark.parametrize("line", LINES)
def test_each_line_appears_exactly_as_written_when_triggered(line: str) -> None:
    h = SCENARIOS[line]()
    *before, last = h.steps
    assert [m for m in lines_in(last.commands) if line in m], lines_in(last.commands)
    assert not [m for s in before for m in lines_in(s.commands) if line in m]
