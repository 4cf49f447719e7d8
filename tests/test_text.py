"""The shell's numbers in words: dollars to 4 places rounded down, and counted nouns."""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mmfsm.core.ticks import MONEY_SCALE, money_from_usd
from mmfsm.text import plural, usd


@pytest.mark.parametrize(
    ("money", "text"),
    [
        (0, "0.0000"),
        (money_from_usd("50"), "50.0000"),
        (money_from_usd("6.7233333333"), "6.7233"),
        (money_from_usd("1.2933333333"), "1.2933"),
        (money_from_usd("0.9517241379"), "0.9517"),
        (money_from_usd("0.00009"), "0.0000"),  # a gain never reads larger
        (money_from_usd("-0.00001"), "-0.0001"),  # a loss never reads smaller
        (money_from_usd("-2.00000002"), "-2.0001"),
        (money_from_usd("-5"), "-5.0000"),
        (money_from_usd("-0.5"), "-0.5000"),
    ],
)
def test_usd(money: int, text: str) -> None:
    assert usd(money) == text


@given(st.integers(min_value=-(10**30), max_value=10**30))
def test_usd_is_the_floor_to_a_hundredth_of_a_cent(money: int) -> None:
    with localcontext() as ctx:
        ctx.prec = 60
        exact = (Decimal(money) / MONEY_SCALE).quantize(Decimal("0.0001"), rounding=ROUND_FLOOR)
    assert usd(money) == f"{exact:f}"


def test_usd_refuses_a_float() -> None:
    with pytest.raises(TypeError):
        usd(1.5)  # type: ignore[arg-type]


def test_plural() -> None:
    assert plural(1, "market") == "1 market"
    assert plural(0, "snapshot") == "0 snapshots"
    assert plural(3, "keep decision") == "3 keep decisions"
    assert plural(2, "force exit", "force exits") == "2 force exits"
