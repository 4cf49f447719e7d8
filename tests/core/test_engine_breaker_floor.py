"""Follow-ups to the breaker story: what an acknowledged resume carries across midnight,
how a breach is reported, and that force exit never prices off a book it cannot trust."""

from __future__ import annotations

from mmfsm.core.commands import Alert, Cancel, Command, Place
from mmfsm.core.config import parse_config
from mmfsm.core.events import OperatorResume, OrderCancelled, OrderExpired
from mmfsm.core.risk import MS_PER_DAY
from mmfsm.core.ticks import MONEY_SCALE, SIZE_SCALE, Side, TickSize, format_money
from mmfsm.harness import Harness

USD = MONEY_SCALE


def _config(**risk: object) -> object:
    return parse_config(
        {
            "strategy": {"order_size_shares": 100},
            "risk": {
                "max_position_loss_usd": 40,
                "max_adverse_move_pct": 100,
                "max_position_age_s": 5 * 86400,
                **risk,
            },
        }
    )


def _long_100_at_049(h: Harness) -> None:
    out = h.start("m1")
    h.ack(out)
    [bid] = [p for p in out if isinstance(p, Place) and p.side is Side.BUY and p.token == "m1-yes"]
    assert bid.price == 4900
    h.ack(h.fill(bid))


def _book(h: Harness, bid: str, ask: str) -> list[Command]:
    out = h.book("m1", bids=((bid, "500"),), asks=((ask, "500"),))
    for cmd in out:
        if isinstance(cmd, Cancel):
            h.send(OrderCancelled(ts_ms=h.now_ms, client_id=cmd.client_id, size_matched=0))
    return out


def test_an_acknowledged_unrealized_loss_is_not_re_tripped_by_midnight() -> None:
    h = Harness(_config(global_daily_loss_usd=20))  # type: ignore[arg-type]
    _long_100_at_049(h)
    _book(h, "0.26", "0.28")  # mark 0.27: -$22 unrealized, nothing realized
    assert h.engine.halted
    h.send(OperatorResume(ts_ms=h.now_ms, ack="slide reviewed, holding"))
    assert not h.engine.halted
    assert h.engine.breaker_floor == -22 * USD

    h.now_ms = (h.now_ms // MS_PER_DAY + 1) * MS_PER_DAY + 1
    h.advance(0)
    # Nothing was realized, so the accepted loss is still all in tomorrow's P&L.
    assert h.engine.breaker_floor == -22 * USD
    _book(h, "0.26", "0.28")
    assert not h.engine.halted
    # A new loss beyond the limit from the accepted level still trips.
    _book(h, "0.05", "0.07")  # mark 0.06: -$43, i.e. $21 more than was accepted
    assert h.engine.halted


def test_midnight_without_a_resume_leaves_a_fresh_floor() -> None:
    h = Harness(_config())  # type: ignore[arg-type]
    _long_100_at_049(h)
    h.now_ms = (h.now_ms // MS_PER_DAY + 1) * MS_PER_DAY + 1
    h.advance(0)
    assert h.engine.breaker_floor == 0


def test_a_breach_by_a_hair_is_reported_exactly() -> None:
    assert format_money(-20 * USD - 200) == "-20.00000002"
    assert format_money(-20 * USD) == "-20.00"


def _confirm_all_cancels(h: Harness) -> list[Command]:
    out: list[Command] = []
    for order in list(h.engine.orders):  # the venue confirms every cancel, nothing matched
        if order.status.value == "pending_cancel":
            out += h.send(
                OrderCancelled(ts_ms=h.now_ms, client_id=order.client_id, size_matched=0)
            )
    return out


def test_force_exit_waits_for_a_usable_book() -> None:
    h = Harness(_config(max_position_loss_usd=3))  # type: ignore[arg-type]
    _long_100_at_049(h)
    _book(h, "0.44", "0.46")  # mark 0.45: -$4, beyond the $3 limit
    out = _confirm_all_cancels(h) + h.advance(0)
    assert h.engine.markets["m1"].position.state == "force_exit"
    [fak] = [c for c in out if isinstance(c, Place)]
    assert (fak.side, fak.price, fak.tif.value) == (Side.SELL, 3900, "FAK")  # best bid - 0.05

    # The book turns untrusted while the FAK is out; the FAK then expires unfilled. The
    # next exit may not be priced from the untrusted book.
    h.book("m1", bids=(("0.50", "10"),), asks=(("0.45", "10"),))
    quiet = h.send(OrderExpired(ts_ms=h.now_ms, client_id=fak.client_id, size_matched=0))
    quiet += h.advance(5000) + h.advance(5000)
    assert not [c for c in quiet if isinstance(c, Place)]
    # A good snapshot: the exit goes out again, priced from the new best bid.
    out = _book(h, "0.40", "0.42")
    [fak] = [c for c in out if isinstance(c, Place)]
    assert (fak.side, fak.price, fak.size) == (Side.SELL, 3500, 100 * SIZE_SCALE)


def test_a_position_below_min_size_alerts_once_that_it_cannot_exit() -> None:
    h = Harness(_config(max_position_loss_usd=0.5))  # type: ignore[arg-type]
    h.list_market("m1", tick=TickSize.CENT, min_size="5")
    h.book("m1")
    out = h.advance(h.engine.config.risk.gap_recovery_ms)
    h.ack(out)
    [bid] = [p for p in out if isinstance(p, Place) and p.side is Side.BUY and p.token == "m1-yes"]
    h.ack(h.fill(bid, 3 * SIZE_SCALE))  # a 3-share partial fill: below the 5-share minimum
    seen: list[Command] = []
    for bid_px, ask_px in (("0.30", "0.32"), ("0.29", "0.31"), ("0.28", "0.30")):
        seen += _book(h, bid_px, ask_px)
        seen += h.advance(2000)
    assert h.engine.markets["m1"].position.state == "force_exit"
    blocked = [c for c in seen if isinstance(c, Alert) and "below the minimum" in c.message]
    assert len(blocked) == 1
    assert not [c for c in seen if isinstance(c, Place) and c.tif.value == "FAK"]
