"""The synthetic run loop's summary: this run's counts, in words that say what they count."""

from __future__ import annotations

import logging
import re

from mmfsm.core.config import default_config
from mmfsm.harness import T0
from mmfsm.runner import run_synthetic


def _logger() -> logging.Logger:
    logger = logging.getLogger("mmfsm.tests.runner")
    logger.propagate = False
    logger.addHandler(logging.NullHandler())
    return logger


def test_a_resumed_run_counts_its_own_keep_decisions() -> None:
    engine, first = run_synthetic(
        default_config(), seconds=120, seed=7, start_ms=T0, logger=_logger()
    )
    assert first.keeps == engine.actions.kept > 0
    before = engine.actions.kept
    engine, second = run_synthetic(
        default_config(),
        seconds=120,
        seed=8,
        start_ms=engine.now_ms + 1000,
        logger=_logger(),
        engine=engine,
    )
    assert second.keeps == engine.actions.kept - before
    text = second.render(engine)
    assert f"{second.keeps} keep decisions (queue priority)" in text
    assert f"{second.places} places" in text
    assert "orders kept" not in text


def test_the_summary_writes_every_dollar_amount_to_4_places() -> None:
    engine, summary = run_synthetic(
        default_config(), seconds=600, seed=7, start_ms=T0, logger=_logger()
    )
    text = summary.render(engine)
    amounts = re.findall(r"(?:P&L|realized today|realized) (-?[0-9.]+)", text)
    assert len(amounts) == 2 + len(engine.markets)
    assert all(re.fullmatch(r"-?\d+\.\d{4}", a) for a in amounts), amounts
