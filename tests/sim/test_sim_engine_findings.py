"""Engine misbehaviour the simulator found, each as the minimal event sequence that shows it.

Each was an ``xfail(strict=True)`` test until the Engine was fixed; they stay as
regression tests.
"""

from __future__ import annotations

from mmfsm.core.commands import Cancel, Place
from mmfsm.core.events import OrderRejected, RejectReason
from mmfsm.harness import Harness


def _quoting() -> tuple[Harness, Place, Place]:
    """m1 listed (tick 0.01), YES book 0.49 x 100 / 0.51 x 100, recovery time passed: the
    Engine bids BUY YES 10 @ 0.49 and offers BUY NO 10 @ 0.49 (YES 0.51); both acked."""
    h = Harness()
    cmds = h.start(bids=[("0.49", "100")], asks=[("0.51", "100")])
    bid, ask = (c for c in cmds if isinstance(c, Place))
    h.ack([bid, ask])
    return h, bid, ask


def test_own_quotes_left_alone_in_a_gapped_book_still_count_as_a_gap() -> None:
    h, bid, ask = _quoting()
    assert (bid.price, ask.price) == (4900, 4900)
    # News: everybody else pulls to 0.10 / 0.90. The feed still shows our two orders.
    out = h.book(bids=[("0.49", "10"), ("0.10", "100")], asks=[("0.51", "10"), ("0.90", "100")])
    assert {c.client_id for c in out if isinstance(c, Cancel)} == {bid.client_id, ask.client_id}
    assert h.engine.markets["m1"].machine.state == "gapped_skip"


def _holding_yes_and_requoting() -> Harness:
    """As ``_quoting``, then the bid fills (we hold 10 YES, the offer becomes SELL YES 10)
    and the book moves up one tick, so the offer is cancelled and placed again."""
    h, bid, _ = _quoting()
    out = h.fill(bid)
    h.ack([c for c in out if isinstance(c, Place)])
    h.confirm_cancels(out)
    h.now_ms += 1000
    out = h.book(bids=[("0.50", "100")], asks=[("0.52", "100")])
    h.ack([c for c in out if isinstance(c, Place)])
    return h


def test_tokens_offered_never_exceed_tokens_held() -> None:
    h = _holding_yes_and_requoting()
    ms = h.engine.markets["m1"]
    offered = sum(
        o.potential for o in h.engine.orders if o.token == ms.yes_token and o.side.value == "SELL"
    )
    assert offered <= ms.ledger.yes_held


def test_a_balance_reject_is_not_answered_by_the_same_order() -> None:
    h, bid, _ = _quoting()
    # Not enough collateral for the bid: the venue rejects it for balance.
    out = h.send(
        OrderRejected(
            ts_ms=h.now_ms,
            client_id=bid.client_id,
            reason=RejectReason.BALANCE,
            message="not enough balance / allowance",
        )
    )
    assert not [c for c in out if isinstance(c, Place)]
    # The side rests for the cooldown, whatever else happens in between...
    h.now_ms += 500
    assert not [
        c for c in h.book(bids=[("0.49", "100")], asks=[("0.51", "100")]) if isinstance(c, Place)
    ]
    # ...and quotes again after it.
    h.now_ms += 600
    again = [
        c for c in h.book(bids=[("0.49", "100")], asks=[("0.51", "110")]) if isinstance(c, Place)
    ]
    assert [(p.side.value, p.token, p.price) for p in again] == [("BUY", "m1-yes", 4900)]


def test_fill_lag_sends_nothing_the_venue_rejects_for_balance(scenario) -> None:  # type: ignore[no-untyped-def]
    assert scenario("fill-lag").run.venue.rejects.get("balance", 0) == 0
