"""The ``mmfsm`` command line.

argparse rather than click or typer: it is in the standard library, so the CLI adds no
dependency to a bot whose install must stay small and auditable, and the commands here
are few and flat.

Commands
--------
``mmfsm run``       trade. By default against the embedded CLOB emulator (a real
                    Polymarket-protocol server on loopback, through the official client;
                    ``mmfsm.trade``); ``--venue synthetic`` runs the in-process synthetic
                    venue in simulated time; ``--venue polymarket --live`` trades for real;
                    ``--paper`` reads either CLOB's market data and fills orders in the
                    simulator's matching model, sending none (``mmfsm.paper``).
``mmfsm config``    validate a config file and print its values in human units and its
                    hash (the hash that every audit record carries).
``mmfsm simulate``  run the Engine in the simulator: named scenarios, replays of recorded
                    books, a naive baseline to compare with (``mmfsm.sim``).
``mmfsm audit``     verify, tail, export or replay an audit log (``mmfsm.audit.commands``).
``mmfsm status``, ``halt``, ``resume --ack``: talk to a running bot over its control
                    socket (``mmfsm.ops.commands``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from mmfsm import native
from mmfsm.audit.commands import add_audit_parser
from mmfsm.audit.recovery import is_new_log, logged_account
from mmfsm.audit.store import AuditError, connect_reader
from mmfsm.core.config import ConfigError, config_hash, config_to_dict
from mmfsm.ops.commands import add_operator_parsers
from mmfsm.ops.control import ControlError
from mmfsm.ops.launch import add_run_options, services_for_run
from mmfsm.ops.redact import Redactor
from mmfsm.runner import run_synthetic
from mmfsm.settings import load_config
from mmfsm.sim.cli import add_parser as add_simulate_parser
from mmfsm.synthetic import synthetic_identity
from mmfsm.text import plural
from mmfsm.trade import add_clob_options, attach_status, run_clob

__all__ = ["main"]

DEFAULT_START_MS = 1_790_000_000_000  # 2026-09-21T14:13:20Z; simulated time is fixed


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mmfsm", description="A safety-first market maker for Polymarket's CLOB."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="trade (the embedded CLOB emulator by default)")
    run.add_argument("--config", type=Path, help="TOML config file (default: built-in)")
    run.add_argument(
        "--venue",
        choices=["synthetic", "emulator", "polymarket"],
        default="emulator",
        help="where to trade (default: emulator, on loopback, no credentials)",
    )
    run.add_argument(
        "--seconds",
        type=int,
        help="how long: wall-clock seconds (default: run.duration_s) or, for synthetic, "
        "simulated seconds (default 3600)",
    )
    run.add_argument("--markets", type=int, help="markets of the emulator or synthetic venue (3)")
    run.add_argument("--seed", type=int, help="seed of the emulator or synthetic venue (7)")
    run.add_argument("--quiet", action="store_true", help="only warnings and the summary")
    run.add_argument(
        "--log-file",
        type=Path,
        help="also write every line, debug included, to this file (grep-able alerts)",
    )
    add_run_options(run)
    add_clob_options(run)

    config = sub.add_parser("config", help="validate a config file and print it")
    config.add_argument("path", type=Path, nargs="?", help="TOML file (default: built-in)")
    add_audit_parser(sub)
    add_operator_parsers(sub)
    add_simulate_parser(sub)
    return parser


def _logger(*, quiet: bool, log_file: Path | None) -> logging.Logger:
    logger = logging.getLogger("mmfsm")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    console = logging.StreamHandler(sys.stdout)
    console.setLevel(logging.WARNING if quiet else logging.INFO)
    logger.addHandler(console)
    if log_file is not None:
        handler = logging.FileHandler(log_file, encoding="utf-8")
        handler.setLevel(logging.DEBUG)
        logger.addHandler(handler)
    return logger


def _cmd_run(args: argparse.Namespace) -> int:
    if (args.seconds is not None and args.seconds <= 0) or (
        args.markets is not None and args.markets <= 0
    ):
        print("mmfsm run: --seconds and --markets must be > 0", file=sys.stderr)
        return 2
    if args.venue == "synthetic" and args.paper:
        print(
            "mmfsm run: --paper reads a CLOB's market data (--venue emulator or polymarket); "
            "the synthetic venue is simulated already",
            file=sys.stderr,
        )
        return 2
    # Which build decides (mmfsm.native): an operator should see a stale or missing
    # compiled core, which runs the Python sources at half the speed.
    print(f"mmfsm core: {native.build()}")
    if args.venue != "synthetic":
        config = load_config(args.config)
        logger = _logger(quiet=args.quiet, log_file=args.log_file)
        return run_clob(args, config, logger, attach_status(logger, quiet=args.quiet))
    args.seconds = 3600 if args.seconds is None else args.seconds
    args.markets = 3 if args.markets is None else args.markets
    args.seed = 7 if args.seed is None else args.seed
    if args.seconds <= 0 or args.markets <= 0:
        print("mmfsm run: --seconds and --markets must be > 0", file=sys.stderr)
        return 2
    config = load_config(args.config)
    logger = _logger(quiet=args.quiet, log_file=args.log_file)
    print(
        f"mmfsm run: synthetic venue, {plural(args.markets, 'market')}, seed {args.seed}, "
        f"{args.seconds}s of simulated time, config {config_hash(config)[:12]}"
    )
    audit = args.audit if args.audit is not None else Path(config.run.audit_path)
    venue = synthetic_identity(seed=args.seed, markets=args.markets)
    refused = _other_venues_log(audit, venue)
    if refused is not None:
        print(f"mmfsm run: {refused}", file=sys.stderr)
        return 2
    with services_for_run(
        args, config, audit_path=audit, start_ms=DEFAULT_START_MS, logger=logger, account=venue
    ) as launched:
        print(f"audit log {audit}: {launched.recovered.describe()}")
        engine, summary = run_synthetic(
            config,
            seconds=args.seconds,
            seed=args.seed,
            start_ms=launched.start_ms,
            markets=args.markets,
            logger=logger,
            engine=launched.engine,
            services=launched.services,
            realtime=args.realtime,
        )
    print(summary.render(engine))
    return 0


def _other_venues_log(audit: Path, venue: str) -> str | None:
    """Why a synthetic run must not use ``audit``, or None.

    A synthetic run recovers its own log (same seed and markets: the same venue), and
    nothing else: an Engine recovered from an emulator's, a paper run's or a live
    account's log holds markets, orders and inventory this venue never had. Checked
    before the log is opened for writing, so a refused run adds nothing to it.
    """
    if is_new_log(audit):
        return None
    conn = connect_reader(audit)
    try:
        logged = logged_account(conn)
    finally:
        conn.close()
    if logged == venue:
        return None
    whose = f"a run on {logged}" if logged is not None else "a run of another venue"
    return (
        f"audit log {audit.resolve()} holds {whose}, not of this {venue}: an Engine "
        "recovered from it would trade markets and inventory this venue never had; "
        "give --audit another path (or the same --seed and --markets as that run)"
    )


def _cmd_config(args: argparse.Namespace) -> int:
    config = load_config(args.path)
    print(json.dumps(config_to_dict(config), indent=2, sort_keys=True))
    print(f"config hash: {config_hash(config)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if hasattr(args, "handler"):
            return int(args.handler(args))
        if args.command == "run":
            return _cmd_run(args)
        return _cmd_config(args)
    except (ConfigError, OSError, ValueError, AuditError, ControlError) as err:
        # Errors may quote outside text (a venue's message, a path): never a secret.
        print(Redactor.from_environment()(f"mmfsm {args.command}: {err}"), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
