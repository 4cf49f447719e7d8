"""The invariant suite's helpers import by module name; the session ends with run counts."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from inv_checks import RUN_STATS, SPEC_EDGES

    if not RUN_STATS:
        return
    terminalreporter.section("mmfsm invariant suite: runs")
    for label, stats in sorted(RUN_STATS.items()):
        detail = ", ".join(f"{k} {v}" for k, v in sorted(stats.items())
                           if k not in ("examples", "rule_steps", "engine_steps"))
        terminalreporter.write_line(
            f"{label}: {stats['examples']} examples, {stats['rule_steps']} rule steps, "
            f"{stats['engine_steps']} engine steps ({detail})"
        )
    main = RUN_STATS.get("stateful")
    if main:
        never = sorted(
            f"{machine}:{event}->{target}"
            for machine, edges in SPEC_EDGES.items()
            for (_source, event, target) in edges
            if not main[f"{machine}:{event}->{target}"]
        )
        terminalreporter.write_line(
            "stateful: spec transitions never taken: " + (", ".join(never) or "none")
        )
