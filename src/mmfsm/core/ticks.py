"""The price grid: the one place where prices, sizes and money become exact integers.

Theory of operation
-------------------
Polymarket prices are probabilities in (0, 1) quoted on a per-market grid of 0.1, 0.01,
0.001 or 0.0001, and the grid of a market changes at run time (``tick_size_change``,
typically when the book goes above 0.96 or below 0.04). Float arithmetic on such prices
produces values that the exchange rejects (0.48523) or, worse, rounds a bid *up* into the
opposite side. So inside the core:

* a price is an ``int`` count of the finest grid, 0.0001 (``PRICE_SCALE`` units per 1.0);
* a size is an ``int`` count of micro-shares (``SIZE_SCALE`` per share), the unit in which
  the exchange settles fills;
* money is an ``int`` in units of ``1 / MONEY_SCALE`` USD, the product of a price unit and a
  size unit, so every notional ``price * size`` is exact with no rounding anywhere.

The quote model works in floats; its output re-enters the exact world only through
``snap``, which rounds a bid down and an ask up (a rounding error can then only make our
quote less aggressive, never cross the book), clamps into ``[tick, 1 - tick]`` and, given
the opposite best price, keeps a post-only order strictly on its own side.
"""

from __future__ import annotations

import enum
import math
from decimal import Decimal, InvalidOperation

__all__ = [
    "MONEY_SCALE",
    "PRICE_SCALE",
    "SIZE_SCALE",
    "GridError",
    "Side",
    "TickSize",
    "clamp_no_cross",
    "clamp_to_range",
    "format_money",
    "format_price",
    "format_size",
    "is_on_grid",
    "money_from_usd",
    "notional",
    "parse_price",
    "parse_size",
    "snap",
    "snap_to_grid",
]

PRICE_SCALE = 10_000
"""Price units per 1.0: one unit is 0.0001, Polymarket's finest tick."""

SIZE_SCALE = 1_000_000
"""Size units per share: the exchange settles in 1e-6 of a share."""

MONEY_SCALE = PRICE_SCALE * SIZE_SCALE
"""Money units per USD. price units x size units = money units, exactly."""


class GridError(ValueError):
    """A price, size or tick that cannot be represented exactly on the grid."""


class Side(enum.Enum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


# Members bound to module names, for the hot path: in CPython 3.11 ``Side.BUY`` is a
# lookup through the enum's metaclass (~0.15 us), a module global about a tenth of
# that, and a step reads these dozens of times. Hot modules import these names.
BUY = Side.BUY
SELL = Side.SELL


class TickSize(enum.IntEnum):
    """The four tick sizes Polymarket uses, valued in price units."""

    TENTH = 1_000  # 0.1
    CENT = 100  # 0.01
    MILLI = 10  # 0.001
    TENTH_MILLI = 1  # 0.0001

    @classmethod
    def parse(cls, text: str | float | Decimal) -> TickSize:
        """Read a tick size as the exchange sends it ("0.01", 0.01 or "0.010")."""
        units = _decimal_to_units(text, PRICE_SCALE, what="tick size")
        try:
            return cls(units)
        except ValueError:
            raise GridError(
                f"tick size {text!r} is not one of 0.1, 0.01, 0.001, 0.0001"
            ) from None

    def __str__(self) -> str:
        return format_price(int(self))


def _decimal_to_units(text: str | float | Decimal | int, scale: int, *, what: str) -> int:
    if isinstance(text, bool):
        raise GridError(f"{what} {text!r} is not a number")
    if isinstance(text, float):
        # A float from JSON (the exchange sometimes sends numbers): its shortest repr is
        # the decimal the sender meant; never multiply the binary value itself.
        if not math.isfinite(text):
            raise GridError(f"{what} {text!r} is not finite")
        text = repr(text)
    try:
        value = Decimal(text) if not isinstance(text, Decimal) else text
    except (InvalidOperation, ValueError, TypeError):
        raise GridError(f"{what} {text!r} is not a decimal number") from None
    if not value.is_finite():
        raise GridError(f"{what} {text!r} is not finite")
    scaled = value * scale
    if scaled != scaled.to_integral_value():
        raise GridError(f"{what} {text!r} has more precision than 1/{scale}")
    return int(scaled)


def parse_price(text: str | float | Decimal) -> int:
    """Parse an exchange price string exactly into price units; no range check here."""
    return _decimal_to_units(text, PRICE_SCALE, what="price")


def parse_size(text: str | float | Decimal) -> int:
    """Parse an exchange size string exactly into size units."""
    return _decimal_to_units(text, SIZE_SCALE, what="size")


def money_from_usd(text: str | float | Decimal | int) -> int:
    """Parse a dollar amount (config limits) into money units."""
    return _decimal_to_units(text, MONEY_SCALE, what="amount")


_EXACT_TEXT = 10**20  # far inside Decimal's 28 digits: below it integer text is exact


def _decimal_format(units: int, scale: int) -> str:
    return format((Decimal(units) / scale).normalize(), "f")


def _format(units: int, scale: int, digits: int) -> str:
    # The same text as the Decimal form above, by integer arithmetic: log lines are
    # formatted on hot paths (fills, kept quotes) and Decimal costs microseconds each.
    if type(units) is not int or not -_EXACT_TEXT < units < _EXACT_TEXT:
        return _decimal_format(units, scale)
    whole, frac = divmod(-units if units < 0 else units, scale)
    sign = "-" if units < 0 else ""
    if not frac:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{str(frac).rjust(digits, '0').rstrip('0')}"


def format_price(price: int) -> str:
    """The exchange's decimal string for a price: 4900 -> "0.49"."""
    return _format(price, PRICE_SCALE, 4)


def format_size(size: int) -> str:
    return _format(size, SIZE_SCALE, 6)


def format_money(money: int) -> str:
    """Dollars for logs, at least to the cent and exact beyond it: never a rounded loss.

    -50_000_000_000 -> "-5.00"; -20_000_000_200 -> "-2.00000002" (a breaker that tripped a
    hair past -$2 must not read as exactly -$2).
    """
    if type(money) is int and -_EXACT_TEXT < money < _EXACT_TEXT:
        whole, frac = divmod(-money if money < 0 else money, MONEY_SCALE)
        sign = "-" if money < 0 and (whole or frac) else ""
        if frac % (MONEY_SCALE // 100) == 0:
            return f"{sign}{whole}.{frac // (MONEY_SCALE // 100):02d}"
        return f"{sign}{whole}.{str(frac).rjust(10, '0').rstrip('0')}"
    value = Decimal(money) / MONEY_SCALE
    cents = value.quantize(Decimal("0.01"))
    if cents == value:
        return f"{cents}"
    return format(value.normalize(), "f")


def notional(price: int, size: int) -> int:
    """Money paid for ``size`` at ``price``: exact by construction of the units."""
    return price * size


def is_on_grid(price: int, tick: TickSize) -> bool:
    return price % int(tick) == 0


def snap_to_grid(price: int, side: Side, tick: TickSize) -> int:
    """Round an integer price onto ``tick``'s grid: bids down, asks up."""
    t = int(tick)
    if side is BUY:
        return (price // t) * t
    return -((-price) // t) * t


def clamp_to_range(price: int, tick: TickSize) -> int:
    """Clamp into the tradable range ``[tick, 1 - tick]``; ``price`` must be on the grid."""
    t = int(tick)
    return min(max(price, t), PRICE_SCALE - t)


def clamp_no_cross(price: int, side: Side, opposite_best: int | None, tick: TickSize) -> int:
    """Keep a post-only order strictly on its own side of the opposite best.

    A bid may be at most one tick below the best ask and an ask at least one tick above
    the best bid. The limit is snapped onto the grid away from the opposite best, so a
    best left on a finer grid by a tick-size change can pull our price neither across
    nor off the grid.
    """
    if opposite_best is None:
        return price
    t = int(tick)
    if side is BUY:
        return min(price, snap_to_grid(opposite_best - t, BUY, tick))
    return max(price, snap_to_grid(opposite_best + t, SELL, tick))


def snap(
    value: float | Decimal,
    side: Side,
    tick: TickSize,
    *,
    opposite_best: int | None = None,
) -> int | None:
    """Turn a model price (a float in dollars) into a sendable price in price units.

    Bids round down and asks round up onto ``tick``'s grid, the result is clamped into
    ``[tick, 1 - tick]`` and, if ``opposite_best`` is given, kept strictly off the
    opposite side. Returns ``None`` when no price satisfies all three (for example a bid
    when the best ask is already at the lowest tick): the caller then does not quote that
    side, rather than quoting somewhere it did not mean to.
    """
    t = int(tick)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise GridError(f"model price {value!r} is not finite")
        # Float noise is not a price: 0.485 * 10_000 is 4849.999999999999, and rounding
        # that down would cost a bid a whole tick. A value within 1e-6 of a whole unit
        # (1e-10 USD) counts as that unit; anything else rounds by side. Safety against
        # crossing does not rest on this rounding but on clamp_no_cross, in integers.
        scaled_f = value * PRICE_SCALE
        if scaled_f > 1e12:  # far outside (0, 1): clamped below
            scaled_f = 1e12
        elif scaled_f < -1e12:
            scaled_f = -1e12
        # The nearest whole unit from the floor and the fraction above it, both exact
        # in floats: the same test as ``abs(scaled_f - round(scaled_f)) <= 1e-6``
        # without the rounding call (this runs for both sides of every quote).
        low = math.floor(scaled_f)
        frac = scaled_f - low
        if frac <= 1e-6:
            units = low
        elif 1.0 - frac <= 1e-6:
            units = low + 1
        elif side is BUY:
            units = low
        else:
            units = low + 1
    else:
        scaled = value * PRICE_SCALE
        rounding = "ROUND_FLOOR" if side is BUY else "ROUND_CEILING"
        units = int(scaled.to_integral_value(rounding=rounding))
    # snap_to_grid, clamp_to_range and clamp_no_cross, written out: this runs for both
    # sides of every quote, and the calls cost more than the arithmetic.
    # Comparisons rather than ``min``/``max``: the builtin calls cost more (t <= top).
    top = PRICE_SCALE - t
    if side is BUY:
        price = (units // t) * t
        if price < t:
            price = t
        elif price > top:
            price = top
        if opposite_best is not None:
            limit = ((opposite_best - t) // t) * t
            if limit < price:
                price = limit
    else:
        price = -((-units) // t) * t
        if price < t:
            price = t
        elif price > top:
            price = top
        if opposite_best is not None:
            limit = -((-(opposite_best + t)) // t) * t
            if limit > price:
                price = limit
    if price < t or price > top:
        return None
    return price
