"""The asyncio run loop's summary counts this run, and only what reached the venue."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from mmfsm.core.commands import Command, Place
from mmfsm.core.config import default_config
from mmfsm.core.engine import Engine
from mmfsm.core.events import ClockTick, OrderAcked
from mmfsm.harness import Harness
from mmfsm.live import LiveRunner, status_text
from mmfsm.venues.base import Emit, MarketInfo, ShutdownReport, VenueStatus


class _Venue:
    """Records what it is sent; nothing else."""

    name = "fake"

    def __init__(self) -> None:
        self.sent: list[Command] = []

    async def start(self, emit: Emit) -> list[MarketInfo]:
        return []

    def submit(self, commands: Sequence[Command]) -> None:
        self.sent += commands

    def status(self) -> VenueStatus:
        return VenueStatus(open_orders=0, market_ws="-", user_ws="-", heartbeat="-", fills=0)

    async def shutdown(self) -> ShutdownReport:
        return ShutdownReport(cancelled=0, still_open=0)

    async def abort(self) -> None:
        return None


def _logger() -> logging.Logger:
    logger = logging.getLogger("mmfsm.tests.live")
    logger.propagate = False
    logger.addHandler(logging.NullHandler())
    return logger


def _runner(engine: Engine) -> tuple[LiveRunner, _Venue]:
    venue = _Venue()
    return LiveRunner(engine, venue, logger=_logger()), venue


def _quote(runner: LiveRunner, h: Harness, *, sending: bool) -> None:
    """List m1 with a good book and let the gap recovery pass: the Engine quotes."""
    h.list_market()
    h.book()
    runner._sending = sending
    runner._apply(ClockTick(ts_ms=h.now_ms + h.engine.config.risk.gap_recovery_ms))


def test_places_count_what_was_sent() -> None:
    h = Harness()
    runner, venue = _runner(h.engine)
    _quote(runner, h, sending=True)
    sent = sum(isinstance(c, Place) for c in venue.sent)
    assert sent > 0
    assert runner.summary.places == sent


def test_places_a_shutting_down_loop_does_not_send_are_not_counted() -> None:
    h = Harness()
    runner, venue = _runner(h.engine)
    _quote(runner, h, sending=False)
    assert h.engine.actions.places > 0  # the Engine asked for them ...
    assert venue.sent == []  # ... and they were not sent
    assert runner.summary.places == 0
    assert "0 places" in runner.summary.render(h.engine)


def test_keep_decisions_are_this_run_s_not_the_engine_s_total() -> None:
    engine = Engine(default_config())
    engine.actions.kept = 4059  # what a recovered Engine counted in earlier runs
    h = Harness()
    h.engine = engine
    runner, venue = _runner(engine)
    _quote(runner, h, sending=True)
    h.now_ms += h.engine.config.risk.gap_recovery_ms
    for cmd in venue.sent:
        if isinstance(cmd, Place):
            runner._apply(OrderAcked(ts_ms=h.now_ms, client_id=cmd.client_id))
    for _ in range(5):  # the book stays where it was: each pass keeps both quotes
        h.now_ms += 1000
        h.book()
        runner._apply(ClockTick(ts_ms=h.now_ms))
    assert runner.summary.keeps == engine.actions.kept - 4059
    assert runner.summary.keeps > 0
    assert f"{runner.summary.keeps} keep decisions" in runner.summary.render(engine)
    assert "orders kept" not in runner.summary.render(engine)


def test_the_status_line_writes_state_names_whole() -> None:
    h = Harness()
    h.list_market()
    h.book()  # a market starts in gapped_skip until the book has been good a while
    text = status_text(h.engine, _Venue(), started=0.0, fills=0)
    assert "m1:gapped_skip/" in text
    assert "P&L 0.0000 |" in text
