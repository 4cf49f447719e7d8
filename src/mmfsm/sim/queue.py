"""Where our resting order stands in its price level's queue: exact integer arithmetic.

Theory of operation
-------------------
A resting limit order fills only after everything ahead of it at its price has traded
or been cancelled (price-time priority). An L2 feed shows the size of each level, not
who is where in it, so the simulator tracks one number per order, ``queue_ahead``: the
size of other participants in front of it.

* Joining: an order joins the *back* of its level, so ``queue_ahead`` starts as the
  other participants' size at that price when the order reaches the venue (zero when it
  improves the price).
* Trades: a trade at our price consumes the queue from the front, so it reduces
  ``queue_ahead`` first and fills us only with what is left (``venue`` does this).
* Other decreases of the level (cancels, or trades we cannot see in a recording) may
  come from in front of us or from behind. Following hftbacktest's probabilistic queue
  model (``ProbQueueModel`` with a power function), the share of a decrease taken from
  the front is ``f(front) / (f(front) + f(back))`` with ``f(x) = x**n``: with much
  more size behind us than in front, a cancel is more likely behind us. Any part of the
  decrease that cannot have come from behind (more than the size behind) comes from the
  front. Increases join behind us and change nothing in front.

Everything is in integer size units with floor division, so the model is exact and
deterministic; ``n`` (``QUEUE_POWER``) is 2, the middle of hftbacktest's usual range.
"""

from __future__ import annotations

__all__ = ["QUEUE_POWER", "ahead_after_decrease", "ahead_after_trade"]

QUEUE_POWER = 2


def ahead_after_decrease(ahead: int, before: int, after: int, power: int = QUEUE_POWER) -> int:
    """``queue_ahead`` after the other participants' size at our price went ``before`` -> ``after``.

    Only for changes not explained by trades the simulator matched itself.
    """
    if after >= before:
        return min(ahead, after)
    front = min(ahead, before)
    back = before - front
    change = before - after
    f_front, f_back = int(front**power), int(back**power)
    total = f_front + f_back
    if total == 0:
        return 0
    from_front = f_front * change // total
    from_back = change - from_front
    overflow = max(0, from_back - back)  # more left than was behind us: it was in front
    return max(0, min(front - from_front - overflow, after))


def ahead_after_trade(ahead: int, traded_in_front: int) -> int:
    """``queue_ahead`` after trades consumed ``traded_in_front`` of the size ahead of us."""
    return max(0, ahead - traded_in_front)
