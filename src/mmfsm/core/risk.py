"""The risk rules: each a small pure function whose name is a guard in ``specs/``.

Theory of operation
-------------------
The machines only say which transitions exist; these functions decide when one is due.
Each takes the numbers it needs (exact integers: money units, price units, milliseconds)
and the config, and answers a bool, so each can be tested at and around its threshold
without an Engine. Thresholds are strict where the strategy document says "beyond": a
loss of exactly $3.00 does not force an exit, $3.0000000001 does.

``guard_set`` gathers, for one machine and one event, the names of the guards that hold,
which is what ``Machine.fire`` consumes.
"""

from __future__ import annotations

from mmfsm.core.config import RiskConfig
from mmfsm.core.ticks import PRICE_SCALE

__all__ = [
    "MS_PER_DAY",
    "acknowledged",
    "adverse_move_beyond_limit",
    "age_beyond_limit",
    "book_not_quotable",
    "book_quotable",
    "book_unusable",
    "daily_loss_beyond_limit",
    "day_of",
    "loss_beyond_limit",
    "spread_over_limit",
    "spread_recovered",
    "spread_within_recovery_band",
    "unwind_expired",
]

MS_PER_DAY = 86_400_000


def loss_beyond_limit(position_pnl: int, risk: RiskConfig) -> bool:
    """Per-position loss (realized since the position opened + unrealized at the mark)."""
    return position_pnl < -risk.max_position_loss


def age_beyond_limit(opened_ms: int, now_ms: int, risk: RiskConfig) -> bool:
    return now_ms - opened_ms > risk.max_position_age_ms


def adverse_move_beyond_limit(
    delta: int, avg_entry: int | None, mark: int, risk: RiskConfig
) -> bool:
    """Price moved against the position by more than the limit, as a share of entry.

    A long YES position loses as the YES price falls, relative to what it paid (avg). A
    short (net NO) position loses as YES rises, relative to what the NO side paid
    (1 - avg). Integer cross-multiplication: no division, no float.
    """
    if delta == 0 or avg_entry is None:
        return False
    bps = risk.max_adverse_move_bps
    if delta > 0:
        return (avg_entry - mark) * 10_000 > bps * avg_entry
    return (mark - avg_entry) * 10_000 > bps * (PRICE_SCALE - avg_entry)


def unwind_expired(unwind_started_ms: int, now_ms: int, risk: RiskConfig) -> bool:
    return now_ms - unwind_started_ms > risk.unwind_timeout_ms


def spread_over_limit(spread: int, risk: RiskConfig) -> bool:
    return spread > risk.max_spread


def spread_within_recovery_band(spread: int, risk: RiskConfig) -> bool:
    """At or under the limit minus the hysteresis: the spread a recovery must hold."""
    return spread <= risk.max_spread - risk.gap_hysteresis


def spread_recovered(band_since_ms: int | None, now_ms: int, risk: RiskConfig) -> bool:
    """The spread has stayed in the recovery band, on a usable book, long enough."""
    return band_since_ms is not None and now_ms - band_since_ms >= risk.gap_recovery_ms


def book_unusable(quotable: bool) -> bool:
    return not quotable


def book_quotable(quotable: bool, spread: int | None, risk: RiskConfig) -> bool:
    return quotable and spread is not None and not spread_over_limit(spread, risk)


def book_not_quotable(quotable: bool, spread: int | None, risk: RiskConfig) -> bool:
    return not book_quotable(quotable, spread, risk)


def daily_loss_beyond_limit(daily_pnl: int, floor: int, risk: RiskConfig) -> bool:
    """Realized today + unrealized everywhere, below ``floor`` minus the daily limit.

    ``floor`` is 0 for a fresh day; an acknowledged resume re-bases it to the P&L at that
    moment (the operator accepted that loss; see Engine), and the midnight reset returns
    it to 0 together with realized-today.
    """
    return daily_pnl < floor - risk.global_daily_loss


def acknowledged(ack: str) -> bool:
    """An operator resume must say why it is safe; whitespace says nothing."""
    return bool(ack.strip())


def day_of(ts_ms: int) -> int:
    """UTC day number of an event time: midnight UTC is where it changes."""
    return ts_ms // MS_PER_DAY
