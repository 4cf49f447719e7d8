"""The synthetic venue answers orders as Polymarket's CLOB would."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import attrs
import pytest

from mmfsm.audit.recovery import open_for_run
from mmfsm.cli import main
from mmfsm.core.commands import Cancel, Place, TimeInForce
from mmfsm.core.config import default_config
from mmfsm.core.events import MarketListed, OrderAcked, OrderCancelled, OrderRejected
from mmfsm.core.orders import DONE
from mmfsm.core.ticks import PRICE_SCALE, SIZE_SCALE, Side, TickSize
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


def test_an_order_for_a_market_the_venue_does_not_list_is_rejected() -> None:
    venue = SyntheticVenue(seed=3, n_markets=1)
    venue.listing(T0)
    place = attrs.evolve(_place(venue, "mm-elsewhere"), market="m1")
    (reply,) = venue.execute([place], T0)
    assert isinstance(reply, OrderRejected)
    assert reply.client_id == "mm-elsewhere"
    assert "market not found: m1" in reply.message
    assert not venue.resting


def _records(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        (count,) = conn.execute("SELECT COUNT(*) FROM records").fetchone()
    finally:
        conn.close()
    return int(count)


def test_a_synthetic_run_recovers_only_its_own_venues_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Another venue's log (an emulator's, a paper run's: no venue recorded) and a
    synthetic log of another seed are refused before anything is written to them; the
    same seed and markets recover their own log."""
    other = tmp_path / "emulator.sqlite"
    log, recovered = open_for_run(other, default_config(), ts_ms=T0)
    log.step(
        recovered.engine,
        MarketListed(
            ts_ms=T0,
            market="m1",
            yes_token="m1-yes",
            no_token="m1-no",
            tick=TickSize.CENT,
            min_size=5 * SIZE_SCALE,
        ),
    )
    log.close(recovered.engine)
    before = _records(other)
    run = ["run", "--venue", "synthetic", "--seconds", "30", "--quiet"]
    assert main([*run, "--audit", str(other)]) == 2
    assert "holds a run of another venue" in capsys.readouterr().err
    assert _records(other) == before  # nothing written for the refused run

    own = tmp_path / "synthetic.sqlite"
    assert main([*run, "--seed", "5", "--audit", str(own)]) == 0
    written = _records(own)
    assert main([*run, "--seed", "6", "--audit", str(own)]) == 2
    err = capsys.readouterr().err
    assert "synthetic venue seed=5 markets=3" in err
    assert "not of this synthetic venue seed=6 markets=3" in err
    assert _records(own) == written
    assert main([*run, "--seed", "5", "--audit", str(own)]) == 0
    assert "recovered" in capsys.readouterr().out
    assert _records(own) > written
