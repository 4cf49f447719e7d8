"""``mmfsm run``'s operations wiring: audit log, recovery, control socket, metrics, alerts.

Why a module of its own: ``cli`` stays a thin argument parser, and the emulator and live
run loops can reuse ``open_services`` as it is. ``open_services`` is a context manager
that, in this order:

1. opens the audit log (``--audit``, default ``run.audit_path`` of the config) and
   rebuilds the Engine from it (``audit.recovery``): a halted bot is still halted and
   the day's realized P&L is what it was. A live run passes ``account``, which the log
   records and checks (a log of another account is refused);
2. steps a ``ConfigReload`` through the audited Engine if the config given differs
   from the one the log ran under, so a config change is itself an audited event. Its
   commands are not sent: any order it placed is ended, unsent, by the run loop's
   start-up reconciliation (every loop ends a recovered Engine's orders before trading),
   exactly like a step committed just before a crash;
3. starts the control socket (``--socket``, default ``<audit>.sock``), the metrics
   exporter on 127.0.0.1 (``--metrics-port``) and the alert webhooks (environment);
4. on exit, answers waiting operators, commits what is staged, and on a clean exit
   snapshots the Engine and records the stop; then stops the servers.

Every log handler gets a ``RedactingFilter`` holding the secrets of the environment, and
the audit log scrubs with the same ``Redactor``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from attrs import frozen

from mmfsm.audit.log import Sync
from mmfsm.audit.recovery import Recovered, open_for_run
from mmfsm.cliargs import port
from mmfsm.core.config import Config, config_hash
from mmfsm.core.engine import Engine
from mmfsm.core.events import ConfigReload
from mmfsm.logs import log_commands
from mmfsm.ops.alerts import AlertRouter, AlertSender, hooks_from_env
from mmfsm.ops.control import ControlThread, OperatorDesk
from mmfsm.ops.metrics import Metrics
from mmfsm.ops.redact import RedactingFilter, Redactor
from mmfsm.ops.services import Services

__all__ = ["Launched", "add_run_options", "open_services", "services_for_run", "socket_path"]


def add_run_options(run: argparse.ArgumentParser) -> None:
    run.add_argument("--audit", type=Path, help="audit log file (default: run.audit_path)")
    run.add_argument(
        "--audit-sync",
        choices=[s.value for s in Sync],
        default=Sync.FULL.value,
        help="full: fsync every durable step (survives power loss; default); "
        "normal: survives a killed process only",
    )
    run.add_argument(
        "--socket", type=Path, help="operator control socket (default: <audit log>.sock)"
    )
    run.add_argument(
        "--metrics-port",
        type=port,
        default=0,
        help="serve Prometheus metrics on 127.0.0.1:PORT (default 0: off)",
    )
    run.add_argument(
        "--realtime",
        action="store_true",
        help="pace simulated seconds to wall-clock seconds (to operate the bot live)",
    )


def socket_path(audit: Path, explicit: Path | None) -> Path:
    return explicit if explicit is not None else Path(f"{audit}.sock")


@frozen(kw_only=True)
class Launched:
    services: Services
    engine: Engine
    recovered: Recovered
    start_ms: int  # the earliest event time the run may use
    metrics_port: int | None


@contextlib.contextmanager
def open_services(
    config: Config,
    *,
    audit_path: Path,
    control: Path | None,
    metrics_port: int,
    sync: Sync,
    start_ms: int,
    logger: logging.Logger,
    account: str | None = None,
    allow_new: bool = True,
    redactor: Redactor | None = None,
) -> Iterator[Launched]:
    """``redactor``: the run's secrets (``Redactor.of``), for a run that loaded them; the
    environment's otherwise, so a key held only in a --secrets-file is still scrubbed
    from every log line, audit record and alert when the caller passes it."""
    if redactor is None:
        redactor = Redactor.from_environment()
    for handler in logger.handlers:
        handler.addFilter(RedactingFilter(redactor))
    log, recovered = open_for_run(
        audit_path,
        config,
        ts_ms=start_ms,
        sync=sync,
        scrub=redactor if redactor else None,
        account=account,
        allow_new=allow_new,
    )
    engine = recovered.engine
    start = max(start_ms, engine.now_ms + 1000) if not recovered.fresh else start_ms
    desk = OperatorDesk() if control is not None else None
    metrics = Metrics() if metrics_port else None
    hooks = hooks_from_env(os.environ)
    sender = AlertSender(hooks, logger=logger, scrub=redactor) if hooks else None
    services = Services(
        audit=log,
        desk=desk,
        metrics=metrics,
        alerts=AlertRouter(sender) if sender is not None else None,
    )
    server: ControlThread | None = None
    clean = False
    try:
        if engine.config_hash != config_hash(config):
            step = services.step(engine, ConfigReload(ts_ms=start, config=config))
            log_commands(logger, start, step.commands)
        bound = metrics.serve(metrics_port) if metrics is not None else None
        if desk is not None and control is not None:
            server = ControlThread(control, desk)
            server.start()
        services.publish(engine)
        yield Launched(
            services=services,
            engine=engine,
            recovered=recovered,
            start_ms=start,
            metrics_port=bound,
        )
        clean = True
    finally:
        try:
            # Only a clean stop snapshots: after an exception the Engine may be one step
            # ahead of the log, and a snapshot must never hold an unrecorded event.
            services.close(engine if clean else None)
        finally:
            if server is not None:
                server.stop()
            if metrics is not None:
                metrics.close()
            if sender is not None:
                sender.close()


def services_for_run(
    args: argparse.Namespace,
    config: Config,
    *,
    audit_path: Path,
    start_ms: int,
    logger: logging.Logger,
    account: str | None = None,
    allow_new: bool = True,
    redactor: Redactor | None = None,
) -> contextlib.AbstractContextManager[Launched]:
    """``open_services`` with the options ``add_run_options`` put on a ``run`` command."""
    return open_services(
        config,
        audit_path=audit_path,
        control=socket_path(audit_path, args.socket),
        metrics_port=args.metrics_port,
        sync=Sync(args.audit_sync),
        start_ms=start_ms,
        logger=logger,
        account=account,
        allow_new=allow_new,
        redactor=redactor,
    )
