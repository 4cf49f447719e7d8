"""How the shell writes numbers for people: dollar amounts and counted nouns.

Every USD amount a person reads from the shell (run summaries, the status line,
``mmfsm status``) goes through ``usd``: four decimal places (a hundredth of a cent,
enough for sub-cent P&L), always four so columns line up, computed from the integer
money units by integer division, never through a float. The rounding is toward minus
infinity: a loss never reads smaller than it is (a breaker that tripped a hair past
-$2 reads -2.0001, not -2.0000) and a gain never larger. The JSON of ``mmfsm status
--json`` and the audit log keep the exact amounts (``mmfsm.core.ticks.format_money``).
"""

from __future__ import annotations

from mmfsm.core.ticks import MONEY_SCALE

__all__ = ["USD_PLACES", "plural", "usd"]

USD_PLACES = 4
_STEP = MONEY_SCALE // 10**USD_PLACES  # money units in the last printed digit


def usd(money: int) -> str:
    """Money units as dollars to 4 places, rounded down: 12_933_333_333 -> "1.2933"."""
    if type(money) is not int:
        raise TypeError(f"money must be int money units, not {type(money).__name__}")
    units = money // _STEP  # floor division: toward minus infinity
    whole, frac = divmod(-units if units < 0 else units, 10**USD_PLACES)
    return f"{'-' if units < 0 else ''}{whole}.{frac:0{USD_PLACES}d}"


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``1 market``, ``2 markets``, ``0 snapshots``; ``nouns`` for an irregular plural."""
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"
