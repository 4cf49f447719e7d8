"""The risk rules as pure functions, at their exact thresholds (mutation testing asked)."""

from __future__ import annotations

import pytest

from mmfsm.core import risk
from mmfsm.core.config import default_config, parse_config
from mmfsm.core.machines import MACHINES

RISK = default_config().risk


def test_day_of_changes_at_utc_midnight() -> None:
    assert risk.day_of(0) == 0
    assert risk.day_of(86_399_999) == 0
    assert risk.day_of(86_400_000) == 1
    assert risk.day_of(1_790_035_199_999) == 20_717  # 2026-09-21T23:59:59.999Z
    assert risk.day_of(1_790_035_200_000) == 20_718


@pytest.mark.parametrize("delta", [0, 1, -1])
def test_adverse_move_is_false_when_flat_or_without_entry(delta: int) -> None:
    assert not risk.adverse_move_beyond_limit(delta, None, 1, RISK)
    if delta == 0:
        assert not risk.adverse_move_beyond_limit(0, 5000, 1, RISK)
    else:
        # A one-unit position is a position: a 100% move against it is beyond 15%.
        mark = 1 if delta > 0 else 9_999
        assert risk.adverse_move_beyond_limit(delta, 5000, mark, RISK)


def test_adverse_move_threshold_is_exact() -> None:
    # Long at 0.3333: 15% of it is 0.049995; 0.2833 is 15.0015% lower: beyond.
    assert risk.adverse_move_beyond_limit(10, 3333, 2833, RISK)
    assert not risk.adverse_move_beyond_limit(10, 4000, 3400, RISK)  # exactly 15%
    # Short at 0.6667 (NO side paid 0.3333): YES up to 0.7167 is 15.0015% against it.
    assert risk.adverse_move_beyond_limit(-10, 6667, 7167, RISK)
    assert not risk.adverse_move_beyond_limit(-10, 6000, 6600, RISK)  # exactly 15%


def test_book_not_quotable_is_the_negation_of_book_quotable() -> None:
    for quotable in (True, False):
        for spread in (None, 100, 800, 801):
            assert risk.book_not_quotable(quotable, spread, RISK) is not risk.book_quotable(
                quotable, spread, RISK
            )
    assert risk.book_quotable(True, 800, RISK)
    assert not risk.book_quotable(True, 801, RISK)


def test_spread_recovery_band_and_time() -> None:
    cfg = parse_config({"risk": {"gap_recovery_s": 5}}).risk
    assert risk.spread_within_recovery_band(700, cfg)
    assert not risk.spread_within_recovery_band(701, cfg)
    assert not risk.spread_recovered(None, 10_000, cfg)
    assert not risk.spread_recovered(5_001, 10_000, cfg)
    assert risk.spread_recovered(5_000, 10_000, cfg)


def test_acknowledged_needs_words() -> None:
    assert risk.acknowledged("checked the books")
    assert not risk.acknowledged("")
    assert not risk.acknowledged(" \t\n")


def test_initial_states_are_declared_not_defaulted() -> None:
    """The initial state is flagged on the declaration, not left to the first-state default."""
    for name, initial in (("position", "quoting"), ("market", "gapped_skip"), ("bot", "running")):
        _table, cls = MACHINES[name]
        assert [s.id for s in cls.states if s.initial] == [initial]
