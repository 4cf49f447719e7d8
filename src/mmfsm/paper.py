"""``mmfsm run --paper``: the live run loop on real market data, with no order sent.

Why a module of its own: ``trade`` wires the runs that send orders; this one wires the
run that must not, and keeps everything that could send one out of reach. A paper run
builds no ``ClobRest``, loads no secret and asks for no ``--live``: its venue
(``venues.paper.PaperVenue``) reads the market through ``venues.public.PublicData``
and fills the Engine's orders in the simulator's matching model. Everything else is
``mmfsm run``'s: the same ``Engine``, ``LiveRunner``, log lines (each prefixed
``PAPER``), status line (prefixed too, and showing ``paper`` where the user channel and
heartbeat would be), end-of-run summary (followed by what the paper venue did) and,
with ``--audit``, the same operations layer (``ops.launch.services_for_run``).

Audit logs: a paper run writes one only when ``--audit PATH`` is given, and never to
the config's ``run.audit_path``, the live bot's log: a live start recovers its Engine
from its log, and paper inventory must never become the live bot's belief. A paper
log gets a marker file beside it (``paper_marker``); a live run refuses a log with
one, and a paper run refuses an existing log without one.

``--venue emulator`` (the default) starts the embedded emulator as the market (its
synthetic participants make the book and trade) and reads it exactly as it would read
Polymarket; the emulator's request counts, printed at the end, show that no order
request reached it. ``--venue polymarket`` reads ``--host``/``--ws-url`` (public data,
no key) for the ``[[markets]]`` of the config.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mmfsm.core.config import Config, config_hash
from mmfsm.core.engine import Engine, Step
from mmfsm.core.events import Event
from mmfsm.core.ticks import format_size
from mmfsm.emulator import Emulator, load_emulator_config
from mmfsm.live import (
    LiveRunner,
    LiveSummary,
    RunnerTask,
    StatusHandler,
    StatusLine,
    StepServices,
)
from mmfsm.sim.latency import LatencyModel
from mmfsm.venues.base import StartupRefused
from mmfsm.venues.paper import PaperConfig, PaperVenue, fixed_latency, paper_latency
from mmfsm.venues.public import PublicData

__all__ = [
    "ORDER_ROUTES",
    "PaperSession",
    "PaperStatusLine",
    "order_requests",
    "paper_lines",
    "paper_logger",
    "paper_marker",
    "paper_status",
    "run_paper",
]

# Every route of the CLOB that places, cancels or keeps orders alive.
ORDER_ROUTES = (
    "POST /order",
    "POST /orders",
    "DELETE /order",
    "DELETE /orders",
    "DELETE /cancel-all",
    "DELETE /cancel-market-orders",
    "POST /v1/heartbeats",
    "POST /heartbeats",
)


def order_requests(requests: dict[str, int]) -> int:
    """How many of an emulator's counted requests (``"METHOD /path -> status"``) were
    order requests, whatever their answer."""
    return sum(n for key, n in requests.items() if key.rsplit(" -> ", 1)[0] in ORDER_ROUTES)


class _PaperPrefix(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("PAPER "):
            record.msg = f"PAPER {record.msg}"
        return True


def paper_logger(logger: logging.Logger) -> logging.Logger:
    """A child of ``logger`` whose every line starts with ``PAPER``: a grep for the
    strategy document's alerts still finds them, and nobody mistakes them for live."""
    child = logging.getLogger(f"{logger.name}.paper")
    if not any(isinstance(f, _PaperPrefix) for f in child.filters):
        child.addFilter(_PaperPrefix())
    return child


class PaperStatusLine(StatusLine):
    def update(self, text: str) -> None:
        super().update(f"PAPER {text}")


def paper_status(logger: logging.Logger, status: StatusLine | None) -> StatusLine | None:
    """The run's status line, prefixed ``PAPER``; the console handler that lifts it out
    of the way of log lines is pointed at the new one."""
    if status is None:
        return None
    paper = PaperStatusLine(status.stream)
    paper.enabled = status.enabled
    for handler in logger.handlers:
        if isinstance(handler, StatusHandler) and handler.status is status:
            handler.status = paper
    return paper


class PaperSession(RunnerTask):
    """One paper bot (Engine + ``PaperVenue`` + run loop) on a venue's market data.

    For ``mmfsm run --paper`` and tests alike, like ``trade.BotSession``: ``await
    start()`` returns once the markets are listed, ``stop()`` cancels every paper order.
    """

    def __init__(
        self,
        config: Config,
        *,
        host: str,
        ws_url: str,
        latency: LatencyModel | None = None,
        seed: int = 0,
        logger: logging.Logger | None = None,
        status: StatusLine | None = None,
        engine: Engine | None = None,
        services: StepServices | None = None,
        on_step: Callable[[Event, Step, float], None] | None = None,
        **paper: Any,
    ) -> None:
        recovered = {} if engine is None else {k: ms.ledger for k, ms in engine.markets.items()}
        self.venue = PaperVenue(
            PaperConfig(
                host=host,
                ws_url=ws_url,
                markets=config.markets,
                latency=latency if latency is not None else paper_latency(),
                seed=seed,
                **paper,
            ),
            PublicData(host),
            holdings=recovered,
        )
        self.engine = engine if engine is not None else Engine(config)
        self.logger = paper_logger(logger or logging.getLogger("mmfsm.session"))
        self.runner = LiveRunner(
            self.engine,
            self.venue,
            logger=self.logger,
            services=services,
            status=status,
            on_step=on_step,
        )


def paper_lines(venue: PaperVenue, engine: Engine) -> list[str]:
    """What the paper venue did, and whether the Engine's inventory is its truth."""
    got = venue.received
    rejects = ", ".join(f"{k} {n}" for k, n in sorted(venue.model.rejects.items())) or "none"
    lines = [
        "PAPER: no order reached the venue. The simulator's matching model received "
        f"{got['Place']} places, {got['Cancel']} cancels, {got['CancelAll']} cancel-alls "
        f"(rejects: {rejects}); {len(venue.model.fills)} paper fills, "
        f"{venue.market_trades} market trades seen"
    ]
    for key, vm in sorted(venue.model.markets.items()):
        ms = engine.markets.get(key)
        truth = (vm.ledger.yes_held, vm.ledger.no_held)
        believed = None if ms is None else (ms.ledger.yes_held, ms.ledger.no_held)
        lines.append(
            f"PAPER inventory {key}: YES {format_size(truth[0])} NO {format_size(truth[1])} "
            + ("(the Engine agrees)" if believed == truth else f"(the Engine holds {believed})")
        )
    return lines


async def _run(session: PaperSession, seconds: float | None) -> LiveSummary:
    from mmfsm.trade import install_stop

    remove = install_stop(session.runner)
    try:
        await session.start(seconds)
        return await session.wait()
    finally:
        remove()


def paper_marker(audit: Path) -> Path:
    """The file beside an audit log that says a paper run wrote it (a live run refuses
    such a log, and a paper run refuses a log without one)."""
    return Path(f"{audit}.paper")


def _audit_refusal(config: Config, audit: Path) -> str | None:
    if audit.resolve() == Path(config.run.audit_path).resolve():
        return (
            f"--paper will not write to {audit}, the live audit log (run.audit_path): a live "
            "start would recover paper inventory; give another path"
        )
    if audit.exists() and not paper_marker(audit).exists():
        return (
            f"{audit} is not a paper run's audit log (no {paper_marker(audit).name} beside "
            "it); a paper run will not recover from, or write into, another run's log"
        )
    return None


def run_paper(
    args: argparse.Namespace, config: Config, logger: logging.Logger, status: StatusLine | None
) -> int:
    """``mmfsm run --paper`` (``--venue emulator`` or ``polymarket``); the exit status."""
    if args.live:
        print("mmfsm run: --paper sends no order; --live does not go with it", file=sys.stderr)
        return 2
    if args.venue == "polymarket" and not config.markets:
        print("mmfsm run: --venue polymarket needs [[markets]] in the config", file=sys.stderr)
        return 2
    refusal = None if args.audit is None else _audit_refusal(config, args.audit)
    if refusal is not None:
        print(f"mmfsm run: {refusal}", file=sys.stderr)
        return 2
    latency = (
        fixed_latency(args.paper_latency_ms)
        if args.paper_latency_ms is not None
        else paper_latency()
    )
    seconds = args.seconds if args.seconds is not None else config.run.duration_ms / 1000
    status = paper_status(logger, status)
    seed = args.seed if args.seed is not None else 0
    latency_text = (
        "simulated" if args.paper_latency_ms is None else f"fixed {args.paper_latency_ms} ms"
    )

    async def main(engine: Engine | None, services: StepServices | None) -> int:
        emulator = None
        host, ws_url = args.host, args.ws_url
        if args.venue == "emulator":
            import attrs

            emu_config = load_emulator_config(args.emulator_config)
            emu_config = attrs.evolve(
                emu_config,
                markets=args.markets if args.markets is not None else emu_config.markets,
                seed=args.seed if args.seed is not None else emu_config.seed,
            )
            emulator = Emulator(emu_config)
            await emulator.start()
            host, ws_url = emulator.url, emulator.ws_url
        try:
            session = PaperSession(
                config,
                host=host,
                ws_url=ws_url,
                latency=latency,
                seed=seed,
                logger=logger,
                status=status,
                engine=engine,
                services=services,
            )
            print(
                f"mmfsm run --paper: PAPER trading. Market data from {host} (no key); orders "
                "are filled by the simulator's matching model and never sent to the venue; "
                f"{latency_text} latency, seed {seed}; {seconds:.0f}s, "
                f"config {config_hash(config)[:12]}"
            )
            try:
                summary = await _run(session, seconds)
            except StartupRefused as err:
                print(f"mmfsm run: refusing to start: {err}", file=sys.stderr)
                return 3
            print(summary.render(session.engine, where="in the paper venue"))
            for line in paper_lines(session.venue, session.engine):
                print(line)
            if emulator is not None:
                print(
                    f"emulator: {sum(emulator.requests.values())} REST requests, "
                    f"{order_requests(emulator.requests)} of them order requests; "
                    f"{len(emulator.exchange.trade_log)} trades between its own participants"
                )
            ok = summary.error is None and (
                summary.shutdown is None or not summary.shutdown.still_open
            )
            return 0 if ok else 1
        finally:
            if emulator is not None:
                await emulator.stop()

    if args.audit is None:
        return asyncio.run(main(None, None))
    from mmfsm.ops.launch import services_for_run

    paper_marker(args.audit).write_text(
        "This audit log was written by mmfsm run --paper: no order in it reached a venue.\n",
        encoding="utf-8",
    )
    with services_for_run(
        args, config, audit_path=args.audit, start_ms=int(time.time() * 1000), logger=logger
    ) as launched:
        print(f"PAPER audit log {args.audit}: {launched.recovered.describe()}")
        return asyncio.run(main(launched.engine, launched.services))
