"""Turns the Engine's Log and Alert commands into the bot's log lines.

The strategy document's alerts are ``grep`` patterns ("GLOBAL DAILY LOSS LIMIT
EXCEEDED", "Fill detected", ...), so the message text is written exactly as the Engine
made it, after a timestamp (event time, UTC), the severity and the market. The same
function formats live, simulated and replayed runs, so the same grep works on all.

One kind of line is the shell's own: the Engine alerts on an operator's halt of the
whole bot (``Operator halt: why``) but says nothing when one market is halted or
resumed, so ``operator_logs`` writes a WARNING line for each (``[m1] Operator halt:
why``, ``[m1] Market resumed by operator: ack``); the control socket's reply carries it
too. A resume of a market that is not halted changes nothing and says nothing, as for
the bot; a refused one is the Engine's to explain.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

from mmfsm.core.commands import Alert, Command, Log, Severity
from mmfsm.core.engine import Engine, Step
from mmfsm.core.events import Event, OperatorHalt, OperatorResume
from mmfsm.core.machines.table import TransitionRecord

__all__ = ["format_line", "log_commands", "log_step", "operator_logs", "transition_text"]

_LEVELS = {
    Severity.DEBUG: logging.DEBUG,
    Severity.INFO: logging.INFO,
    Severity.WARNING: logging.WARNING,
    Severity.CRITICAL: logging.CRITICAL,
}


def format_line(ts_ms: int, command: Log | Alert) -> str:
    when = dt.datetime.fromtimestamp(ts_ms / 1000, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    where = f" [{command.market}]" if command.market else ""
    return f"{when[:-4]}Z {command.severity.value:<8}{where} {command.message}"


def transition_text(t: TransitionRecord) -> str:
    """``market m1: running -> halted (halt)``; the one bot is ``bot: ...``, not ``bot bot``."""
    who = t.machine if t.id == t.machine else f"{t.machine} {t.id}"
    return f"{who}: {t.source} -> {t.target} ({t.event})"


def log_commands(logger: logging.Logger, ts_ms: int, commands: Iterable[Command]) -> int:
    """Write every Log and Alert command; return how many lines were written."""
    n = 0
    for command in commands:
        if isinstance(command, (Log, Alert)):
            logger.log(_LEVELS[command.severity], format_line(ts_ms, command))
            n += 1
    return n


def operator_logs(engine: Engine, event: Event, step: Step) -> list[Log]:
    """The line for an operator's halt or resume of one market (see the module docstring)."""
    if not isinstance(event, (OperatorHalt, OperatorResume)) or event.market is None:
        return []
    market = event.market
    moved = [t for t in step.transitions if t.machine == "market" and t.id == market]
    if isinstance(event, OperatorHalt):
        if market not in engine.markets:
            return []  # the Engine alerts: "Halt for unknown market"
        already = "" if moved else " (already halted)"
        message = f"Operator halt: {event.reason}{already}"
    else:
        resumed = [t for t in moved if t.event == "resume"]
        if not resumed:
            return []
        now = resumed[-1].target
        message = f"Market resumed by operator: {event.ack}" + (
            "" if now == "running" else f" (now {now})"
        )
    return [Log(severity=Severity.WARNING, message=message, market=market)]


def log_step(logger: logging.Logger, engine: Engine, event: Event, step: Step) -> int:
    """Write a step's Log and Alert commands and the shell's own line; return the count."""
    n = log_commands(logger, event.ts_ms, step.commands)
    if isinstance(event, (OperatorHalt, OperatorResume)):
        n += log_commands(logger, event.ts_ms, operator_logs(engine, event, step))
    return n
