"""Force exit of a net delta below the minimum order size, when both tokens are held.

YES 6 and NO 8 is a net delta of -2: with a 5-share minimum no single order may sell 2,
but 5 YES and 7 NO, sold together, may, and leave the position flat. Only a position
that no allowed orders can reduce (too little of one token) stays blocked and says so.
"""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mmfsm.core.commands import Alert, Cancel, Command, Place, TimeInForce
from mmfsm.core.config import parse_config
from mmfsm.core.events import (
    Event,
    OrderCancelled,
    OrderExpired,
    OrderRejected,
    RejectReason,
    Trade,
    TradeStatus,
)
from mmfsm.core.ticks import SIZE_SCALE, Side
from mmfsm.harness import Harness

SHARE = SIZE_SCALE
QUIET = {"gamma": 1.0, "k": 100.0, "horizon_s": 1, "sigma_prior": 0.001}


class H(Harness):
    """Confirms every cancel at once, as a prompt venue would."""

    def send(self, event: Event) -> list[Command]:
        out = super().send(event)
        more: list[Command] = []
        for cmd in out:
            if isinstance(cmd, Cancel):
                order = self.engine.orders.get(cmd.client_id)
                matched = order.filled if order is not None else 0
                more += super().send(OrderCancelled(ts_ms=self.now_ms, client_id=cmd.client_id,
                                                    size_matched=matched))
        return out + more


def holding(yes: int, no: int, **risk: object) -> H:
    """A market holding ``yes`` YES and ``no`` NO shares, flat otherwise, in force exit."""
    cfg = parse_config({
        "strategy": {**QUIET, "order_size_shares": 10},
        "risk": {"max_position_age_s": 60, "unwind_timeout_s": 30, "book_stale_s": 3600,
                 **risk},
    })
    h = H(cfg)
    out = h.start("m1")
    bid = next(p for p in out if isinstance(p, Place) and p.token == "m1-yes")
    ask = next(p for p in out if isinstance(p, Place) and p.token == "m1-no")
    if yes:
        h.fill(bid, yes * SHARE)
    if no:
        h.fill(ask, no * SHARE)
    led = h.engine.markets["m1"].ledger
    assert (led.yes_held, led.no_held) == (yes * SHARE, no * SHARE)
    h.advance(61_000)  # too old: passive unwind (nothing it may place below the minimum)
    h.advance(31_000)  # the unwind times out: force exit
    return h


def exits(commands: list[Command]) -> list[Place]:
    return [c for c in commands if isinstance(c, Place) and c.tif is TimeInForce.FAK]


def blocked(commands: list[Command]) -> list[Alert]:
    return [c for c in commands if isinstance(c, Alert) and "FORCE EXIT blocked" in c.message]


def _end(h: H, place: Place, filled: int) -> list[Command]:
    out: list[Command] = []
    if filled:
        out += h.fill(place, filled)
    order = h.engine.orders.get(place.client_id)
    if order is not None and order.status.value != "done":
        out += h.send(OrderExpired(ts_ms=h.now_ms, client_id=place.client_id,
                                   size_matched=filled))
    return out


def _first_exit(h: H) -> list[Place]:
    seen = [c for s in h.steps for c in s.commands]
    assert h.engine.markets["m1"].position.state == "force_exit"
    return exits(seen)


def test_a_delta_below_the_minimum_exits_as_two_sells_that_end_flat() -> None:
    h = holding(6, 8)
    pair = _first_exit(h)
    assert sorted((p.token, p.side, p.size) for p in pair) == [
        ("m1-no", Side.SELL, 7 * SHARE), ("m1-yes", Side.SELL, 5 * SHARE)]
    # Both priced no worse than the best minus the slippage (0.48/0.52, 5 cents): YES
    # sold at 0.43 or better, NO at 1 - 0.57 or better (a YES buy at 0.57 at most).
    assert h.engine.config.risk.force_exit_max_slippage == 500
    yes = next(p for p in pair if p.token == "m1-yes")
    no = next(p for p in pair if p.token == "m1-no")
    assert yes.price == 4300
    assert no.price == 10_000 - 5700
    assert not blocked([c for s in h.steps for c in s.commands])
    # In flight, both count: the worst case is what either alone would leave.
    exp = h.engine.exposure("m1")
    assert (exp.long, exp.short) == (5 * SHARE, 7 * SHARE)
    _end(h, yes, 5 * SHARE)
    out = _end(h, no, 7 * SHARE)
    led = h.engine.markets["m1"].ledger
    assert (led.yes_held, led.no_held, led.delta) == (SHARE, SHARE, 0)
    assert h.engine.markets["m1"].position.state == "quoting"  # closed, a new one opened
    assert not exits(out)


def test_a_long_delta_below_the_minimum_sells_more_yes_than_no() -> None:
    h = holding(9, 6)
    pair = _first_exit(h)
    assert sorted((p.token, p.size) for p in pair) == [("m1-no", 5 * SHARE),
                                                       ("m1-yes", 8 * SHARE)]


def test_the_next_exit_waits_for_both_and_exits_what_one_alone_left() -> None:
    h = holding(6, 8)
    yes, no = sorted(_first_exit(h), key=lambda p: p.token, reverse=True)
    assert yes.token == "m1-yes"
    out = _end(h, yes, 5 * SHARE)  # the YES sale fills; the NO sale is still out
    assert not exits(out)
    out = _end(h, no, 0)  # the NO sale ends unfilled: NO 8 against YES 1, delta -7
    assert h.engine.markets["m1"].ledger.delta == -7 * SHARE
    [again] = exits(out + h.advance(1_000))
    assert (again.token, again.side, again.size) == ("m1-no", Side.SELL, 7 * SHARE)


def test_a_rejected_half_waits_out_the_cooldown_and_the_other_half() -> None:
    h = holding(6, 8)
    yes, no = sorted(_first_exit(h), key=lambda p: p.token, reverse=True)
    out = h.send(OrderRejected(ts_ms=h.now_ms, client_id=yes.client_id,
                               reason=RejectReason.BALANCE, message="not enough balance"))
    assert not exits(out)
    out = _end(h, no, 0)
    assert not exits(out)  # the reject's cooldown
    [pair_again] = [exits(h.advance(2_000))]
    assert sorted(p.size for p in pair_again) == [5 * SHARE, 7 * SHARE]


def test_a_position_that_no_allowed_orders_can_reduce_stays_blocked() -> None:
    """YES 6 and NO 3: selling 5 NO is not possible, so neither is flat by two sales."""
    h = holding(6, 3)
    seen = [c for s in h.steps for c in s.commands] + h.advance(2_000) + h.advance(2_000)
    assert h.engine.markets["m1"].position.state == "force_exit"
    assert not exits(seen)
    assert len(blocked(seen)) == 1


def test_a_pair_waits_for_every_order_that_could_still_fill() -> None:
    """A trade report owed by an ended order could move the delta under the pair."""
    h = holding(7, 9)
    yes, no = sorted(_first_exit(h), key=lambda p: p.token, reverse=True)
    assert (yes.size, no.size) == (5 * SHARE, 7 * SHARE)
    # The YES sale ends saying 1 matched, but the trade is not reported yet.
    h.send(OrderExpired(ts_ms=h.now_ms, client_id=yes.client_id, size_matched=SHARE))
    out = _end(h, no, 0) + h.advance(2_000)
    assert not exits(out)
    assert not blocked(out)  # waiting, not blocked: the shares to sell are there
    out = h.send(Trade(ts_ms=h.now_ms, trade_id="late", client_id=yes.client_id,
                       market="m1", token="m1-yes", side=Side.SELL, price=yes.price,
                       size=SHARE, status=TradeStatus.MATCHED))
    # YES 6 NO 9: delta -3, a pair of 5 YES and 8 NO.
    assert h.engine.markets["m1"].ledger.delta == -3 * SHARE
    pair = exits(out + h.advance(2_000))
    assert sorted((p.token, p.size) for p in pair) == [("m1-no", 8 * SHARE),
                                                       ("m1-yes", 5 * SHARE)]


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    yes=st.integers(0, 14),
    no=st.integers(0, 14),
    fills=st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=8, max_size=8),
)
def test_force_exit_ends_flat_unless_no_allowed_orders_can_reduce_it(
    yes: int, no: int, fills: list[tuple[int, int]]
) -> None:
    """Whatever part of each exit fills, every exit order is at least the minimum, never
    sells more than is held, stays within the market's limit, and the force exit ends
    flat; only a delta below the minimum with less than the minimum of one token held
    stays, blocked."""
    assume(yes != no and (yes >= 5 or no >= 5 or abs(yes - no) < 5))
    h = holding(yes, no)
    ms = h.engine.markets["m1"]
    limit = h.engine.config.strategy.max_market_exposure // 10_000
    out = [c for s in h.steps for c in s.commands]
    for yes_part, no_part in fills:
        if ms.ledger.delta == 0:
            break
        placed = exits(out)
        held = {"m1-yes": ms.ledger.yes_held, "m1-no": ms.ledger.no_held}
        for p in placed:
            assert p.size >= ms.min_size
            if p.side is Side.SELL:
                assert p.size <= held[p.token]
        assert len({p.token for p in placed}) == len(placed)  # at most one per token
        assert max(h.engine.exposure("m1").long, h.engine.exposure("m1").short) <= limit
        out = []
        for p in placed:
            part = yes_part if p.token == "m1-yes" else no_part
            out += _end(h, p, p.size * part // 4)
        out += h.advance(2_000)
    led = ms.ledger
    d = abs(led.delta)
    if d:
        # Not flat: only when no allowed sells can get there, and the fills ran out.
        stuck = d < ms.min_size and min(led.yes_held, led.no_held) < ms.min_size
        assert stuck or exits(out), (led.yes_held, led.no_held)
