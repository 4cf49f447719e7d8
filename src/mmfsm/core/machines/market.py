"""The market machine: whether one market may carry quotes at all.

Rules
-----
* A market starts in ``gapped_skip``: until its book is trusted, fresh and two-sided, and
  its tick size has come from the venue, there is nothing to quote around (no made-up
  prices).
* ``running -> gapped_skip`` on ``gap`` when the spread is over the limit (the news
  case: bid 0.10, ask 0.90), and on ``data_lost`` when the book became untrusted (a
  rejected message), stale, one-sided, or a venue read failed. The Engine cancels the
  market's resting quotes in the same step (INV-GAP).
* ``gapped_skip -> running`` on ``recover`` only when the spread has been at or under the
  limit minus a hysteresis for the configured time, on a usable book, so a flickering
  spread does not churn orders.
* ``running``/``gapped_skip -> halted`` on ``halt`` (the bot halted, or an operator
  halted this market).
* ``halted -> running`` or ``halted -> gapped_skip`` on ``resume`` with ``acknowledged``,
  choosing by whether the book can be quoted right now.
"""

from __future__ import annotations

from statemachine import State, StateMachine

from mmfsm.core.machines.guards import guard

__all__ = ["MarketMachine"]


class MarketMachine(StateMachine):
    allow_event_without_transition = False
    catch_errors_as_events = False

    gapped_skip = State(initial=True)
    running = State()
    halted = State()

    gap = running.to(gapped_skip, cond="spread_over_limit")
    data_lost = running.to(gapped_skip, cond="book_unusable")
    recover = gapped_skip.to(running, cond="spread_recovered")
    halt = running.to(halted) | gapped_skip.to(halted)
    resume = halted.to(running, cond=["acknowledged", "book_quotable"]) | halted.to(
        gapped_skip, cond=["acknowledged", "book_not_quotable"]
    )

    spread_over_limit = guard("spread_over_limit")
    book_unusable = guard("book_unusable")
    spread_recovered = guard("spread_recovered")
    acknowledged = guard("acknowledged")
    book_quotable = guard("book_quotable")
    book_not_quotable = guard("book_not_quotable")
