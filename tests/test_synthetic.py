"""The synthetic venue answers orders as Polymarket's CLOB would."""

from __future__ import annotations

import logging

import pytest

from mmfsm.core.commands import Cancel, Place, TimeInForce
from mmfsm.core.config import default_config
from mmfsm.core.events import OrderAcked, OrderCancelled
from mmfsm.core.orders import DONE
from mmfsm.core.ticks import PRICE_SCALE, SIZE_SCALE, Side
from mmfsm.harness import T0
from mmfsm.runner import run_synthetic
from mmfsm.synthetic import SyntheticVenue


def _place(venue: SyntheticVenue, client_id: str) -> Place:
    m = venue.markets["synthetic-1"]
    price = m.bid  # a bid at the best bid rests and does not cross
    return Place(
        client_id=client_id,
        market=m.market,
        token=m.yes,
        side=Side.BUY,
        price=price,
        size=10 * SIZE_SCALE,
        tif=TimeInForce.GTC,
        post_only=True,
    )


def _resting_venue(client_id: str) -> SyntheticVenue:
    venue = SyntheticVenue(seed=3, n_markets=1)
    venue.listing(T0)
    place = _place(venue, client_id)
    assert 0 < place.price < PRICE_SCALE
    assert [type(e) for e in venue.execute([place], T0)] == [OrderAcked]
    return venue


def test_a_cancel_of_a_resting_order_reports_its_matched_size() -> None:
    venue = _resting_venue("a")
    venue.resting["a"].filled = 3 * SIZE_SCALE
    out = venue.execute([Cancel(client_id="a", market="synthetic-1", reason="test")], T0)
    assert out == [OrderCancelled(ts_ms=T0, client_id="a", size_matched=3 * SIZE_SCALE)]


def test_a_cancel_of_a_fully_filled_order_gets_no_cancel_confirmation() -> None:
    # The CLOB answers not_canceled "order already matched": its trades ended it.
    venue = _resting_venue("a")
    fill = venue._fill(venue.resting["a"].place, 10 * SIZE_SCALE, T0)
    del venue.resting["a"]  # as _taker does when the order is filled
    assert fill.size == 10 * SIZE_SCALE
    assert venue.execute([Cancel(client_id="a", market="synthetic-1", reason="test")], T0) == []


def test_a_cancel_of_an_order_the_venue_never_held_gets_no_answer() -> None:
    venue = _resting_venue("a")
    assert venue.execute([Cancel(client_id="zz", market="synthetic-1", reason="t")], T0) == []


def test_a_synthetic_run_reports_no_order_the_engine_does_not_know(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("mmfsm.tests.synthetic")
    with caplog.at_level(logging.INFO, logger="mmfsm.tests.synthetic"):
        engine, summary = run_synthetic(
            default_config(), seconds=300, seed=7, start_ms=T0, logger=logger
        )
    assert summary.fills > 0
    assert not [r for r in caplog.records if "unknown order" in r.getMessage()]
    # A fully filled order is ended by its trades, not left waiting for a confirmation.
    assert not [o for o in engine.orders if o.status is not DONE and o.remaining == 0]
