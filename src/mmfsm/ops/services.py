"""Everything a run loop does around ``Engine.step``, in the write-ahead order.

Theory of operation
-------------------
A run loop (the synthetic one in ``mmfsm.runner`` today, the emulator's and the live
venue's tomorrow) owns its queue of events and its venue; for everything else it calls
one ``Services`` object, which holds whichever of these the run was started with:

* the audit log: ``step`` returns only when the step is durable if it has to be
  (``AuditLog.step``), so the loop may send the commands as soon as it returns;
* the operator desk: ``operator_events(now_ms)`` takes the halt/resume requests that
  arrived on the control socket, records who asked, and returns them as events for the
  loop's queue; the request is answered when its step has been taken;
* metrics (per step, and ``publish`` about once a second) and alert webhooks.

The order inside ``step`` is the contract: Engine step, audit (durable), then metrics,
alerts and operator replies, and only then does the loop send the commands to the venue.
``idle`` lets the loop flush staged audit records when it has nothing else to do.

``Services()`` with nothing in it is a plain ``engine.step``: the run loop has one code
path with or without the audit log.
"""

from __future__ import annotations

import concurrent.futures
import time
from typing import TYPE_CHECKING, Any

from mmfsm.core.commands import Alert, Log
from mmfsm.core.engine import Engine, Step
from mmfsm.core.events import Event
from mmfsm.logs import format_line, operator_logs, transition_text
from mmfsm.ops.status import engine_status

if TYPE_CHECKING:  # only their types: a run without them does not import them
    from mmfsm.audit.log import AuditLog
    from mmfsm.ops.alerts import AlertRouter
    from mmfsm.ops.control import OperatorDesk
    from mmfsm.ops.metrics import Metrics

__all__ = ["Services"]

_Reply = dict[str, Any]


class Services:
    def __init__(
        self,
        *,
        audit: AuditLog | None = None,
        desk: OperatorDesk | None = None,
        metrics: Metrics | None = None,
        alerts: AlertRouter | None = None,
    ) -> None:
        self.audit = audit
        self.desk = desk
        self.metrics = metrics
        self.alerts = alerts
        self._waiting: dict[int, tuple[Event, concurrent.futures.Future[_Reply]]] = {}
        if audit is not None and metrics is not None:
            audit.on_commit.append(metrics.observe_commit)

    def step(self, engine: Engine, event: Event) -> Step:
        """One Engine step, durable in the audit log when it returns (if it must be)."""
        started = time.perf_counter()
        step = engine.step(event) if self.audit is None else self.audit.step(engine, event)
        elapsed = time.perf_counter() - started
        if self.metrics is not None:
            self.metrics.observe_step(event, step, elapsed)
        if self.alerts is not None:
            self.alerts.route(event.ts_ms, step.commands)
        waiting = self._waiting.pop(id(event), None)
        if waiting is not None:
            self.publish(engine)
            said = [c for c in step.commands if isinstance(c, (Log, Alert))]
            said += operator_logs(engine, event, step)
            lines = [format_line(event.ts_ms, c) for c in said]
            waiting[1].set_result(
                {
                    "ok": True,
                    "bot": engine.bot.state,
                    "halt_reason": engine.halt_reason,
                    "lines": lines,
                    "transitions": [transition_text(t) for t in step.transitions],
                }
            )
        return step

    def operator_events(self, engine: Engine, now_ms: int) -> list[Event]:
        """Operator requests as events stamped ``now_ms``, each noted in the audit log."""
        if self.desk is None:
            return []
        events: list[Event] = []
        for request, future in self.desk.take():
            event = request.event(max(now_ms, engine.now_ms))
            if self.audit is not None:
                self.audit.note(
                    "operator",
                    event.ts_ms,
                    engine.config_hash,
                    {
                        "type": "OperatorRequest",
                        "op": request.op,
                        "text": request.text,
                        "market": request.market,
                        "peer": request.peer,
                    },
                )
            self._waiting[id(event)] = (event, future)
            events.append(event)
        return events

    def publish(self, engine: Engine) -> None:
        """Refresh the status the control socket serves, and the metrics gauges."""
        seq = self.audit.head_seq if self.audit is not None else None
        if self.desk is not None:
            status = engine_status(engine)
            if self.audit is not None:
                status["audit"] = {"seq": seq, "path": str(self.audit.path)}
            self.desk.publish(status)
        if self.metrics is not None:
            self.metrics.refresh(engine, seq)

    def idle(self) -> None:
        """Nothing to do right now: commit any staged audit records."""
        if self.audit is not None:
            self.audit.flush(durable=False)

    def close(self, engine: Engine | None, *, reason: str = "clean shutdown") -> None:
        """Answer waiting operators and close the audit log (snapshot if ``engine``)."""
        for _event, future in self._waiting.values():
            if not future.done():
                future.set_result({"ok": False, "error": "the bot stopped before the request ran"})
        self._waiting.clear()
        if self.desk is not None:
            for _request, future in self.desk.take():
                future.set_result({"ok": False, "error": "the bot is stopping"})
        if self.audit is not None:
            self.audit.close(engine, reason=reason)
