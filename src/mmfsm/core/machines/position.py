"""The position machine: one holding episode in one market, from flat back to flat.

Rules
-----
* ``quoting``: flat (binary net delta zero: YES and NO holdings net out), quoting both
  sides. ``opened`` (a fill left net inventory) moves to ``inventory_held``.
* ``inventory_held``: still quoting both sides, skewed by the net delta. ``flattened``
  returns to ``quoting``. ``risk_breach`` leaves it: to ``force_exit`` when the
  position's loss (realized plus unrealized at the micro-price) is beyond its limit; to
  ``passive_unwind`` when the position is older than its age limit or the price moved
  against it beyond the adverse-move limit. Guards are tried in that order, so a loss
  breach wins over age.
* ``passive_unwind``: only the side that reduces the net delta is quoted, at or inside
  the best price without crossing; nothing that adds. ``flattened`` ends it in
  ``closed``; ``unwind_timeout`` (not flat within the timeout) and a loss breach go to
  ``force_exit``.
* ``force_exit``: marketable limit orders (FAK) bounded by a worst price take liquidity
  until flat, never adding. ``flattened`` ends it in ``closed``.
* ``closed`` is final; the market starts a new position machine for its next episode.

A fill that arrives in ``passive_unwind`` or ``force_exit`` (a late report of an order
that was resting before the unwind began) changes the ledger, not the state: the unwind
goes on from the new inventory.
"""

from __future__ import annotations

from statemachine import State, StateMachine

from mmfsm.core.machines.guards import guard

__all__ = ["PositionMachine"]


class PositionMachine(StateMachine):
    allow_event_without_transition = False
    catch_errors_as_events = False

    quoting = State(initial=True)
    inventory_held = State()
    passive_unwind = State()
    force_exit = State()
    closed = State(final=True)

    opened = quoting.to(inventory_held)
    flattened = (
        inventory_held.to(quoting) | passive_unwind.to(closed) | force_exit.to(closed)
    )
    risk_breach = (
        inventory_held.to(force_exit, cond="loss_beyond_limit")
        | inventory_held.to(passive_unwind, cond="age_beyond_limit")
        | inventory_held.to(passive_unwind, cond="adverse_move_beyond_limit")
        | passive_unwind.to(force_exit, cond="loss_beyond_limit")
    )
    unwind_timeout = passive_unwind.to(force_exit, cond="unwind_expired")

    loss_beyond_limit = guard("loss_beyond_limit")
    age_beyond_limit = guard("age_beyond_limit")
    adverse_move_beyond_limit = guard("adverse_move_beyond_limit")
    unwind_expired = guard("unwind_expired")
