"""``mmfsm run`` on a CLOB: the embedded emulator (the default) or Polymarket (``--live``).

Why a module of its own: ``cli`` stays an argument parser; the wiring of emulator,
official client, adapter, Engine and run loop lives here, once, for both venues, so
the emulator run *is* the live run with a different host and a throwaway key.

* ``--venue emulator``: starts ``mmfsm.emulator.Emulator`` on a free loopback port,
  generates a throwaway wallet (never a configured key), and trades every market the
  emulator lists (or the ``[[markets]]`` of the config, if any) until the duration
  passes or Ctrl-C. The emulator signs for Amoy (chain 80002) by default, so nothing
  signed here can be replayed on Polygon. ``--audit PATH`` records the run in a new
  audit log (write-ahead, with the control socket beside it), and refuses a log that
  already holds a run: every emulator is a new venue, and an Engine recovered from a
  previous one would hold markets and orders that no longer exist. Without ``--audit``
  the run keeps no log.
* ``--venue polymarket --live``: credentials from the environment or a 0600 secrets
  file (``settings.load_secrets``), markets from the config (required), a confirmation
  prompt that names the account, the markets and the limits (``--no-confirm`` skips
  it), and the operations layer (``ops.launch.open_services``: audit log with
  write-ahead steps, control socket, metrics) around the run loop. No secret is ever
  printed: errors name variables and files, and the account is shown by address.
  The day's loss budget and the breaker's halt latch live in the audit log (default
  ``run.audit_path``, relative to the working directory), so the log decides whether a
  restart is a restart: a log of another account is refused (the log records the
  account it trades as), and a new log is refused when the venue shows the account has
  trades or open orders in the configured markets, since the budget and any halt of
  those runs are in the log they wrote. ``--new-audit-log`` starts a new one knowingly
  (the earlier budget and halt are given up; restored fills then count toward today's
  budget only as a net loss, see ``Engine._unplaced_change``). A shutdown that cannot
  confirm every order is cancelled exits 1.

* ``--paper`` (with either venue): the venue's public market data, the Engine's
  orders filled by the simulator's matching model, nothing sent, no key loaded, no
  ``--live`` needed. Wired in ``mmfsm.paper``, which this module only dispatches to,
  so no object of a paper run can reach the order client built here.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mmfsm.audit.recovery import is_new_log
from mmfsm.cliargs import CHAIN_IDS, SIGNATURE_TYPES, address
from mmfsm.core.config import Config, config_hash
from mmfsm.core.engine import Engine, Step
from mmfsm.core.events import Event
from mmfsm.core.ticks import format_money, format_price, format_size
from mmfsm.emulator import Emulator, EmulatorConfig, load_emulator_config
from mmfsm.live import (
    LiveRunner,
    LiveSummary,
    RunnerTask,
    StatusHandler,
    StatusLine,
    StepServices,
)
from mmfsm.ops.redact import Redactor
from mmfsm.settings import SecretsError, load_secrets
from mmfsm.text import plural
from mmfsm.venues.adapter import AdapterConfig, ClobVenue
from mmfsm.venues.base import StartupRefused
from mmfsm.venues.clob import ClobRest, Credentials
from mmfsm.venues.startup import earlier_activity

__all__ = [
    "POLYMARKET_HOST",
    "POLYMARKET_WS",
    "BotSession",
    "add_clob_options",
    "attach_status",
    "install_stop",
    "run_clob",
    "run_emulator",
]

POLYMARKET_HOST = "https://clob.polymarket.com"
POLYMARKET_WS = "wss://ws-subscriptions-clob.polymarket.com/ws"


def add_clob_options(run: argparse.ArgumentParser) -> None:
    run.add_argument(
        "--emulator-config",
        type=Path,
        help="TOML with [emulator], [participants], [faults] for --venue emulator",
    )
    run.add_argument("--live", action="store_true", help="required with --venue polymarket")
    run.add_argument(
        "--paper",
        action="store_true",
        help="paper trading: the venue's market data, fills from the simulator's matching "
        "model, no order sent and no key needed",
    )
    run.add_argument(
        "--paper-latency-ms",
        type=int,
        help="with --paper: one fixed delay for orders, reports and fills "
        "(default: the simulator's latency model)",
    )
    run.add_argument(
        "--no-confirm",
        action="store_true",
        help="skip the confirmation prompt of --venue polymarket --live",
    )
    run.add_argument(
        "--new-audit-log",
        action="store_true",
        help="with --live: start a new audit log although the account has traded before; "
        "gives up the earlier log's daily loss budget and any breaker halt it latched "
        "(restored fills then count toward today's loss only as a net loss)",
    )
    run.add_argument("--secrets-file", type=Path, help="0600 KEY=VALUE file (see settings)")
    run.add_argument("--host", default=POLYMARKET_HOST, help="Polymarket CLOB REST host")
    run.add_argument("--ws-url", default=POLYMARKET_WS, help="Polymarket WebSocket base URL")
    run.add_argument(
        "--chain-id",
        type=int,
        choices=CHAIN_IDS,
        default=137,
        help="137 Polygon (default), 80002 Amoy",
    )
    run.add_argument(
        "--signature-type",
        type=int,
        choices=SIGNATURE_TYPES,
        default=0,
        help="0 EOA (default), 1 proxy, 2 Safe",
    )
    run.add_argument(
        "--funder", type=address, help="funder (proxy or Safe) address for signature types 1/2"
    )


def attach_status(logger: logging.Logger, *, quiet: bool) -> StatusLine | None:
    """On a terminal, a live status line under the log (the console handler makes room)."""
    status = StatusLine(sys.stdout)
    if quiet or not status.enabled:
        return None
    for handler in list(logger.handlers):
        if type(handler) is logging.StreamHandler and handler.stream is sys.stdout:
            replacement = StatusHandler(status)
            replacement.setLevel(handler.level)
            replacement.setFormatter(handler.formatter)
            for f in handler.filters:
                replacement.addFilter(f)
            logger.removeHandler(handler)
            logger.addHandler(replacement)
    return status


def install_stop(runner: LiveRunner) -> Callable[[], None]:
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, runner.stop)
        loop.add_signal_handler(signal.SIGTERM, runner.stop)
    except (NotImplementedError, RuntimeError):  # not the main thread, or no signals
        return lambda: None

    def remove() -> None:
        with contextlib.suppress(Exception):
            loop.remove_signal_handler(signal.SIGINT)
            loop.remove_signal_handler(signal.SIGTERM)

    return remove


class BotSession(RunnerTask):
    """One bot (Engine + adapter + run loop) trading against an emulator, as a task.

    For ``mmfsm run``, tests and benchmarks alike: ``await start()`` returns once the
    venue has started (reconciled, markets listed); ``stop()`` is a clean shutdown
    (cancel all, confirm), ``kill()`` a crash (no cancel: the heartbeat switch acts).
    ``key`` reuses a wallet (a restart); by default a throwaway one is generated.
    """

    def __init__(
        self,
        emulator: Emulator,
        config: Config,
        *,
        key: str | None = None,
        logger: logging.Logger | None = None,
        status: StatusLine | None = None,
        on_step: Callable[[Event, Step, float], None] | None = None,
        engine: Engine | None = None,
        services: StepServices | None = None,
        **adapter: Any,
    ) -> None:
        from eth_account import Account

        self.emulator = emulator
        self.key = key if key is not None else Account.create().key.hex()
        self.rest = ClobRest(emulator.url, emulator.config.chain_id, self.key)
        adapter.setdefault("poll_s", config.risk.fill_sync_interval_ms / 1000)
        self.venue = ClobVenue(
            AdapterConfig(
                host=emulator.url,
                ws_url=emulator.ws_url,
                chain_id=emulator.config.chain_id,
                markets=config.markets,
                **adapter,
            ),
            self.rest,
        )
        self.engine = engine if engine is not None else Engine(config)
        if logger is None:
            logger = logging.getLogger("mmfsm.session")
        self.runner = LiveRunner(
            self.engine,
            self.venue,
            logger=logger,
            status=status,
            on_step=on_step,
            services=services,
        )

    @property
    def address(self) -> str:
        return self.rest.address


async def run_emulator(
    config: Config,
    emulator_config: EmulatorConfig,
    *,
    seconds: float | None,
    logger: logging.Logger,
    status: StatusLine | None = None,
    out: Callable[[str], None] = print,
    engine: Engine | None = None,
    services: StepServices | None = None,
) -> tuple[Engine, LiveSummary, Emulator]:
    """Start an emulator, trade against it with a throwaway key, stop both."""
    emulator = Emulator(emulator_config)
    await emulator.start()
    try:
        session = BotSession(
            emulator, config, logger=logger, status=status, engine=engine, services=services
        )
        markets = plural(emulator_config.markets, "market")
        out(
            f"mmfsm run: CLOB emulator at {emulator.url} ({markets}, "
            f"seed {emulator_config.seed}), throwaway wallet {session.address}, "
            f"{'until Ctrl-C' if seconds is None else f'{seconds:.0f}s'}, "
            f"config {config_hash(config)[:12]}"
        )
        remove = install_stop(session.runner)
        try:
            await session.start(seconds)
            summary = await session.wait()
        finally:
            remove()
        return session.engine, summary, emulator
    finally:
        await emulator.stop()


class AuditInUse(Exception):
    """An emulator run was pointed at an audit log that already holds a run."""


def _run_emulator_audited(
    args: argparse.Namespace,
    config: Config,
    emu_config: EmulatorConfig,
    seconds: float,
    logger: logging.Logger,
    status: StatusLine | None,
) -> tuple[Engine, LiveSummary, Emulator]:
    """The emulator run with the live path's operations layer around it.

    The log must be new: recovering an Engine from another emulator's run would bring
    back markets and orders of a venue that is gone, and appending this run to it would
    make one log describe two venues.
    """
    from mmfsm.ops.launch import services_for_run

    audit: Path = args.audit
    if audit.exists() and audit.stat().st_size > 0:
        raise AuditInUse(
            f"audit log {audit} already holds a run; an emulator is a new venue every run, "
            "so give --audit a new path"
        )
    with services_for_run(
        args, config, audit_path=audit, start_ms=int(time.time() * 1000), logger=logger
    ) as launched:
        print(f"audit log {audit}: {launched.recovered.describe()}")
        return asyncio.run(
            run_emulator(
                config,
                emu_config,
                seconds=seconds,
                logger=logger,
                status=status,
                engine=launched.engine,
                services=launched.services,
            )
        )


def _confirm_text(
    config: Config, address: str, args: argparse.Namespace, audit: str | None = None
) -> str:
    s, r = config.strategy, config.risk
    markets = "\n".join(f"    {m.name or m.condition_id}: {m.condition_id}" for m in config.markets)
    audit_line = "" if audit is None else f"  audit log: {audit}\n"
    return (
        "About to trade LIVE on Polymarket with real money.\n"
        f"  account: {address} (signature type {args.signature_type}"
        f"{', funder ' + args.funder if args.funder else ''})\n"
        f"  host: {args.host}\n"
        f"{audit_line}"
        f"  markets:\n{markets}\n"
        f"  limits: capital {format_money(s.capital)} USD, order size {format_size(s.order_size)} "
        f"shares, max exposure per market {format_money(s.max_market_exposure)} USD, "
        f"per-position loss {format_money(r.max_position_loss)} USD, global daily loss "
        f"{format_money(r.global_daily_loss)} USD, max spread {format_price(r.max_spread)}\n"
        f"  duration: {'until Ctrl-C' if args.seconds is None else f'{args.seconds}s'}\n"
        "Type 'yes' to start: "
    )


async def _run_polymarket(
    config: Config,
    args: argparse.Namespace,
    rest: ClobRest,
    engine: Engine,
    services: StepServices | None,
    logger: logging.Logger,
    status: StatusLine | None,
    startup: Sequence[Event] = (),
) -> LiveSummary:
    venue = ClobVenue(
        AdapterConfig(
            host=args.host,
            ws_url=args.ws_url,
            chain_id=args.chain_id,
            markets=config.markets,
            poll_s=config.risk.fill_sync_interval_ms / 1000,
        ),
        rest,
    )
    runner = LiveRunner(
        engine, venue, logger=logger, services=services, status=status, startup=startup
    )
    remove = install_stop(runner)
    try:
        return await runner.run(duration_s=args.seconds)
    finally:
        remove()


def run_clob(
    args: argparse.Namespace, config: Config, logger: logging.Logger, status: StatusLine | None
) -> int:
    """``mmfsm run --venue emulator|polymarket [--paper]``; returns the exit status."""
    if args.paper:
        from mmfsm.paper import run_paper

        return run_paper(args, config, logger, status)
    if args.venue == "emulator":
        emu_config = load_emulator_config(args.emulator_config)
        if args.markets is not None or args.seed is not None:
            import attrs

            emu_config = attrs.evolve(
                emu_config,
                markets=args.markets if args.markets is not None else emu_config.markets,
                seed=args.seed if args.seed is not None else emu_config.seed,
            )
        seconds = args.seconds if args.seconds is not None else config.run.duration_ms / 1000
        try:
            if args.audit is None:
                engine, summary, emulator = asyncio.run(
                    run_emulator(config, emu_config, seconds=seconds, logger=logger, status=status)
                )
            else:
                engine, summary, emulator = _run_emulator_audited(
                    args, config, emu_config, seconds, logger, status
                )
        except AuditInUse as err:
            print(f"mmfsm run: {err}", file=sys.stderr)
            return 2
        except StartupRefused as err:
            print(f"mmfsm run: refusing to start: {err}", file=sys.stderr)
            return 3
        print(summary.render(engine))
        ex = emulator.exchange
        print(
            f"emulator: {len(ex.trade_log)} trades, {emulator.participants.taker_orders} taker "
            f"orders, {sum(emulator.requests.values())} REST requests, "
            f"{emulator.hub.disconnects} WebSocket disconnects, "
            f"{emulator.hub.dropped} messages dropped"
        )
        return (
            0
            if summary.error is None
            and (summary.shutdown is None or summary.shutdown.confirmed)
            else 1
        )
    return _run_live(args, config, logger, status)


def _run_live(
    args: argparse.Namespace, config: Config, logger: logging.Logger, status: StatusLine | None
) -> int:
    if not args.live:
        print(
            "mmfsm run: --venue polymarket trades real money; add --live to mean it",
            file=sys.stderr,
        )
        return 2
    if not config.markets:
        print("mmfsm run: --venue polymarket needs [[markets]] in the config", file=sys.stderr)
        return 2
    from mmfsm.paper import paper_marker

    audit = args.audit if args.audit is not None else Path(config.run.audit_path)
    if paper_marker(audit).exists():
        print(
            f"mmfsm run: {audit} is a paper run's audit log ({paper_marker(audit)}); a live "
            "bot recovered from it would trade on paper inventory. Use another --audit path",
            file=sys.stderr,
        )
        return 2
    where = audit.resolve()  # the default is relative to the working directory: say which
    new_log = is_new_log(audit)
    if args.new_audit_log and not new_log:
        print(
            f"mmfsm run: --new-audit-log, but audit log {where} already holds a run (it "
            "would be recovered, not started anew); drop the flag, or give --audit a new path",
            file=sys.stderr,
        )
        return 2
    try:
        secrets = load_secrets(os.environ, args.secrets_file)
        key = secrets.require("private_key")
        creds = None
        if secrets.api_key or secrets.api_secret or secrets.api_passphrase:
            creds = Credentials(
                api_key=secrets.require("api_key"),
                secret=secrets.require("api_secret"),
                passphrase=secrets.require("api_passphrase"),
            )
        rest = ClobRest(
            args.host,
            args.chain_id,
            key,
            creds,
            signature_type=args.signature_type,
            funder=args.funder,
        )
    except SecretsError as err:
        print(f"mmfsm run: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # a malformed key: say which variable, never its value
        print(
            f"mmfsm run: the private key (MMFSM_PRIVATE_KEY) is not usable ({type(err).__name__})",
            file=sys.stderr,
        )
        return 2
    # Every secret of this run, wherever it came from (environment or --secrets-file):
    # nothing printed, logged, alerted or audited from here on may carry one.
    redact = Redactor.of(secrets, os.environ)
    if not args.no_confirm:
        shown = f"{where} ({'new' if new_log else 'recovered at start'})"
        try:
            answer = input(_confirm_text(config, rest.address, args, shown))
        except (EOFError, KeyboardInterrupt):
            answer = ""  # no terminal to answer from (or Ctrl-C): not a yes
        if answer.strip().lower() != "yes":
            print("mmfsm run: not confirmed; nothing was sent", file=sys.stderr)
            return 2
    if new_log:
        refused = _refuse_new_log(config, args, rest, where, redact)
        if refused is not None:
            return refused
    from mmfsm.ops.launch import services_for_run

    with services_for_run(
        args,
        config,
        audit_path=audit,
        start_ms=int(time.time() * 1000),
        logger=logger,
        account=rest.account,
        allow_new=new_log,
        redactor=redact,
    ) as launched:
        print(f"audit log {where}: {launched.recovered.describe()}")
        try:
            summary = asyncio.run(
                _run_polymarket(
                    config,
                    args,
                    rest,
                    launched.engine,
                    launched.services,
                    logger,
                    status,
                )
            )
        except StartupRefused as err:
            print(redact(f"mmfsm run: refusing to start: {err}"), file=sys.stderr)
            return 3
        print(redact(summary.render(launched.engine)))
    if summary.shutdown is None or not summary.shutdown.confirmed:
        print(
            "mmfsm run: the shutdown could not confirm that every order of "
            f"{rest.account} is cancelled; check its open orders on the venue",
            file=sys.stderr,
        )
        return 1
    return 0 if summary.error is None else 1


def _refuse_new_log(
    config: Config, args: argparse.Namespace, rest: ClobRest, where: Path, redact: Redactor
) -> int | None:
    """A new audit log for a live account: the exit status that refuses it, or None.

    The daily loss budget and the breaker's latch are Engine state recovered from the
    log (INV-LATCH), so a run on a new log would start with a full budget and no halt.
    That is refused when the venue shows the account has a past in the configured
    markets (a log moved, deleted, or a run from another working directory), unless
    ``--new-audit-log`` says the operator means it. Only reads (and the API key
    derivation every start makes) reach the venue: nothing is placed, cancelled or
    heartbeated before the refusal.
    """
    if args.new_audit_log:
        print(
            f"mmfsm run: starting a NEW audit log {where} for {rest.account} "
            "(--new-audit-log): the daily loss budget and any breaker halt of earlier runs "
            "are not carried over; their fills count toward today's loss only as a net loss"
        )
        return None
    try:
        activity = asyncio.run(earlier_activity(rest, config.markets))
    except StartupRefused as err:
        print(redact(f"mmfsm run: refusing to start: {err}"), file=sys.stderr)
        return 3
    if not activity:
        return None
    print(
        f"mmfsm run: refusing to start: audit log {where} is new, but the venue shows "
        f"{activity.describe()} of account {rest.account} in the configured markets; "
        "the daily loss budget and any breaker halt are in the earlier run's audit log: "
        "point --audit at it, or pass --new-audit-log to start a new log knowingly "
        "(giving up that budget and halt)",
        file=sys.stderr,
    )
    return 3
