"""The bot machine: the global daily-loss circuit breaker and the operator's halt.

Rules
-----
* ``running -> halted`` on ``breaker_trip`` when the day's P&L (realized today plus
  unrealized over every position) is below minus the global daily loss limit. The same
  step cancels every order and halts every market (the Engine does both).
* ``running -> halted`` on ``operator_halt`` (an operator asked) and on ``fault`` (the
  Engine raised: a fault is never a reason to keep quoting).
* ``halted -> running`` only on ``resume`` with the ``acknowledged`` guard: an operator
  must say, in words that go into the audit log, why it is safe. Nothing else leaves
  ``halted``: not the midnight reset, not a restart (the state is rebuilt from the audit
  log), not a config reload. This is the latch (INV-LATCH).
"""

from __future__ import annotations

from statemachine import State, StateMachine

from mmfsm.core.machines.guards import guard

__all__ = ["BotMachine"]


class BotMachine(StateMachine):
    allow_event_without_transition = False
    catch_errors_as_events = False

    running = State(initial=True)
    halted = State()

    breaker_trip = running.to(halted, cond="daily_loss_beyond_limit")
    operator_halt = running.to(halted)
    fault = running.to(halted)
    resume = halted.to(running, cond="acknowledged")

    daily_loss_beyond_limit = guard("daily_loss_beyond_limit")
    acknowledged = guard("acknowledged")
