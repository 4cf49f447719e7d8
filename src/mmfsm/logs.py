"""Turns the Engine's Log and Alert commands into the bot's log lines.

The strategy document's alerts are ``grep`` patterns ("GLOBAL DAILY LOSS LIMIT
EXCEEDED", "Fill detected", ...), so the message text is written exactly as the Engine
made it, after a timestamp (event time, UTC), the severity and the market. The same
function formats live, simulated and replayed runs, so the same grep works on all.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

from mmfsm.core.commands import Alert, Command, Log, Severity

__all__ = ["format_line", "log_commands"]

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


def log_commands(logger: logging.Logger, ts_ms: int, commands: Iterable[Command]) -> int:
    """Write every Log and Alert command; return how many lines were written."""
    n = 0
    for command in commands:
        if isinstance(command, (Log, Alert)):
            logger.log(_LEVELS[command.severity], format_line(ts_ms, command))
            n += 1
    return n
