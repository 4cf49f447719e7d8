"""Queue-preserving order updates: diff desired quotes against working orders.

Theory of operation
-------------------
Polymarket has no modify: changing an order is a cancel and a new order at the back of
the queue. So each side's desired order is compared with the live orders of that side:
an order on the same token, side and price whose unfilled size is within the size
tolerance of the desired size is kept, and nothing is sent for it ("Preserving queue
priority"); everything else on that side is cancelled and the desired order placed.

The replacement is sized after the cancels are counted, and a cancelled order still
counts until the venue confirms it (see ``orders``): when the room under the exposure
limit is used up, the new order waits for the confirmation instead of doubling exposure.
``ActionCounts`` lets the benchmarks compare API actions with blind cancel-replace.
"""

from __future__ import annotations

from attrs import define
from mypy_extensions import mypyc_attr

from mmfsm.core.orders import OurOrder, Purpose

__all__ = ["ActionCounts", "Diff", "diff_side"]


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
@define(slots=True)
class ActionCounts:
    places: int = 0
    cancels: int = 0
    kept: int = 0

    @property
    def api_actions(self) -> int:
        return self.places + self.cancels


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
@define(slots=True)
class Diff:
    keep: OurOrder | None
    cancel: list[OurOrder]


def diff_side(
    live: list[OurOrder],
    purpose: Purpose,
    token: str | None,
    side: object,
    price: int | None,
    size: int,
    tolerance_bps: int,
) -> Diff:
    """Which live orders of ``purpose`` to keep and which to cancel for one desired order.

    ``token`` None means "no order wanted on this side": cancel them all.
    """
    keep: OurOrder | None = None
    cancel: list[OurOrder] = []
    for order in live:
        if order.purpose is not purpose:
            continue
        if (
            keep is None
            and token is not None
            and order.token == token
            and order.side is side
            and order.price == price
            and abs(order.remaining - size) * 10_000 <= tolerance_bps * size
        ):
            keep = order
        else:
            cancel.append(order)
    return Diff(keep=keep, cancel=cancel)
