"""The circuit-breaker story, end to end, as the strategy document tells it.

"If 3 markets simultaneously moved against the strategy, losses could compound": three
markets each hold 100 YES bought at 0.49; their books slide together until realized today
plus unrealized everywhere is below -$50. That step cancels everything and halts every
market; midnight UTC resets the day's realized P&L and nothing else; an empty
acknowledgement is refused; only an acknowledged resume brings the bot back.

The per-position rules are set wide (loss $25, no adverse-move rule, two-day age) so that
the global breaker is the only rule this story exercises; the rest is the default table.
"""

from __future__ import annotations

from collections.abc import Sequence

from mmfsm.core.commands import Alert, Cancel, CancelAll, Command, Log, Place, Severity
from mmfsm.core.config import parse_config
from mmfsm.core.events import OperatorResume, OrderCancelled
from mmfsm.core.risk import MS_PER_DAY
from mmfsm.core.ticks import MONEY_SCALE, SIZE_SCALE, Side
from mmfsm.harness import Harness

USD = MONEY_SCALE
SHARE = SIZE_SCALE
MARKETS = ("m1", "m2", "m3")

CONFIG = parse_config(
    {
        "strategy": {"order_size_shares": 100},
        "risk": {
            "max_position_loss_usd": 25,
            "max_adverse_move_pct": 100,
            "max_position_age_s": 2 * 86400,
        },
    }
)


def places(cmds: Sequence[Command]) -> list[Place]:
    return [c for c in cmds if isinstance(c, Place)]


def messages(cmds: Sequence[Command]) -> list[str]:
    return [c.message for c in cmds if isinstance(c, Log | Alert)]


def slide(h: Harness, market: str, bid: str, ask: str) -> list[Command]:
    """A snapshot of the market's YES book; equal sizes, so the mark is the mid."""
    out = h.book(market, bids=((bid, "500"),), asks=((ask, "500"),))
    for cmd in out:  # the venue confirms requote cancels at once, nothing matched
        if isinstance(cmd, Cancel):
            h.send(OrderCancelled(ts_ms=h.now_ms, client_id=cmd.client_id, size_matched=0))
    h.ack(out)
    return out


def test_three_markets_against_us_trip_the_breaker_which_only_an_acknowledged_resume_lifts() -> (
    None
):
    h = Harness(CONFIG)
    engine = h.engine

    # Three markets quote; each one's 100-share bid at 0.49 is filled.
    for market in MARKETS:
        out = h.start(market)
        h.ack(out)
        [bid] = [p for p in places(out) if p.side is Side.BUY and p.token.endswith("-yes")]
        assert (bid.price, bid.size) == (4900, 100 * SHARE)
        h.ack(h.fill(bid))
    assert [engine.markets[m].ledger.delta for m in MARKETS] == [100 * SHARE] * 3
    assert [engine.markets[m].position.state for m in MARKETS] == ["inventory_held"] * 3

    # All three books slide together: marks 0.41, then 0.34 ($8, then $15 a market).
    for bid, ask in (("0.40", "0.42"), ("0.33", "0.35")):
        for market in MARKETS:
            slide(h, market, bid, ask)
    assert engine.daily_pnl() == -45 * USD
    assert not engine.halted

    # m1 and m2 lose another $2 each, m3 another $1: exactly -$50 is not beyond the limit.
    slide(h, "m1", "0.31", "0.33")
    slide(h, "m2", "0.31", "0.33")
    slide(h, "m3", "0.32", "0.34")
    assert engine.daily_pnl() == -50 * USD
    assert not engine.halted

    # One more cent on m3: -$51. Everything stops in this one step.
    tripping = h.book("m3", bids=(("0.31", "500"),), asks=(("0.33", "500"),))
    step = h.steps[-1]
    assert engine.daily_pnl() == -51 * USD
    assert engine.halted
    assert [c for c in tripping if isinstance(c, CancelAll)]
    assert not places(tripping)
    assert {engine.markets[m].machine.state for m in MARKETS} == {"halted"}
    halts = [r for r in step.transitions if r.machine == "market" and r.event == "halt"]
    assert sorted(r.id for r in halts) == list(MARKETS)
    [page] = [c for c in tripping if isinstance(c, Alert) and c.severity is Severity.CRITICAL]
    assert "GLOBAL DAILY LOSS LIMIT EXCEEDED" in page.message
    assert "-51.00" in page.message
    assert h.confirm_cancels(tripping) == []  # the venue confirms: nothing comes of it

    # Hours pass; midnight UTC. The day's realized P&L resets and nothing else changes.
    midnight = (h.now_ms // MS_PER_DAY + 1) * MS_PER_DAY
    quiet: list[Command] = []
    while h.now_ms < midnight - 1:
        quiet += h.advance(min(600_000, midnight - 1 - h.now_ms))
        for market in MARKETS:
            quiet += h.book(market, bids=(("0.31", "500"),), asks=(("0.33", "500"),))
    assert not [m for m in messages(quiet) if "Daily P&L reset" in m]
    h.now_ms = midnight + 1
    reset = h.advance(0)
    assert [m for m in messages(reset) if m.startswith("Daily P&L reset")]
    assert engine.realized_today == 0
    assert engine.halted
    assert not h.steps[-1].transitions
    assert {engine.markets[m].machine.state for m in MARKETS} == {"halted"}
    assert engine.daily_pnl() == -51 * USD  # the positions are still there, marked as before

    # A fresh day, fresh books: still halted, still nothing placed.
    for market in MARKETS:
        quiet += h.book(market, bids=(("0.31", "500"),), asks=(("0.33", "500"),))
    quiet += h.advance(10_000)
    for market in MARKETS:
        quiet += h.book(market, bids=(("0.31", "500"),), asks=(("0.33", "500"),))
    assert not places(quiet)
    assert engine.halted

    # An empty acknowledgement is refused and changes nothing.
    refused = h.send(OperatorResume(ts_ms=h.now_ms, ack="  "))
    assert not h.steps[-1].transitions
    assert not places(refused)
    assert engine.halted
    assert {engine.markets[m].machine.state for m in MARKETS} == {"halted"}

    # The operator writes why it is safe: the bot and every market run again.
    resumed = h.send(
        OperatorResume(ts_ms=h.now_ms, ack="three-market slide reviewed; limits unchanged")
    )
    transitions = h.steps[-1].transitions
    assert [(r.machine, r.source, r.target) for r in transitions if r.machine == "bot"] == [
        ("bot", "halted", "running")
    ]
    assert not engine.halted
    assert {engine.markets[m].machine.state for m in MARKETS} == {"running"}
    assert {p.market for p in places(resumed)} == set(MARKETS)
    # Long 100 at the 100-share limit: only orders that sell are placed.
    assert all(p.side is Side.SELL and p.token.endswith("-yes") for p in places(resumed))
    for market in MARKETS:
        exposure = engine.exposure(market)
        assert exposure.worst <= exposure.limit
    h.ack(resumed)
    assert places(h.advance(1_000)) == []  # the resting quotes are kept, nothing new

    # The operator accepted the -$51: the breaker measures from there, not from zero, so
    # one more cent on m1 (-$52) does not trip it again at once.
    slide(h, "m1", "0.30", "0.32")
    assert engine.daily_pnl() == -52 * USD
    assert not engine.halted
