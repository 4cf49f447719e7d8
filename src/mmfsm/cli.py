"""The ``mmfsm`` command line.

argparse rather than click or typer: it is in the standard library, so the CLI adds no
dependency to a bot whose install must stay small and auditable, and the commands here
are few and flat.

Commands
--------
``mmfsm run``       trade. Today this runs the Engine against the built-in synthetic venue
                    (random-walk books and takers, simulated time) for a bounded time and
                    prints what it did; the embedded CLOB emulator and the live Polymarket
                    venue are separate work and refused here with a clear message.
``mmfsm config``    validate a config file and print its values in human units and its
                    hash (the hash that every audit record carries).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from mmfsm.core.config import ConfigError, config_hash, config_to_dict
from mmfsm.runner import run_synthetic
from mmfsm.settings import load_config

__all__ = ["main"]

DEFAULT_START_MS = 1_790_000_000_000  # 2026-09-21T14:13:20Z; simulated time is fixed


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mmfsm", description="A safety-first market maker for Polymarket's CLOB."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="trade (synthetic venue by default)")
    run.add_argument("--config", type=Path, help="TOML config file (default: built-in)")
    run.add_argument(
        "--venue",
        choices=["synthetic", "emulator", "polymarket"],
        default="synthetic",
        help="where to trade (default: synthetic, in-process, no credentials)",
    )
    run.add_argument("--seconds", type=int, default=3600, help="simulated seconds to run")
    run.add_argument("--markets", type=int, default=3, help="synthetic markets to trade")
    run.add_argument("--seed", type=int, default=7, help="seed of the synthetic venue")
    run.add_argument("--quiet", action="store_true", help="only warnings and the summary")
    run.add_argument(
        "--log-file",
        type=Path,
        help="also write every line, debug included, to this file (grep-able alerts)",
    )

    config = sub.add_parser("config", help="validate a config file and print it")
    config.add_argument("path", type=Path, nargs="?", help="TOML file (default: built-in)")
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
    if args.venue != "synthetic":
        print(
            f"mmfsm run: venue {args.venue!r} is not available in this version; "
            "use --venue synthetic",
            file=sys.stderr,
        )
        return 2
    if args.seconds <= 0 or args.markets <= 0:
        print("mmfsm run: --seconds and --markets must be > 0", file=sys.stderr)
        return 2
    config = load_config(args.config)
    logger = _logger(quiet=args.quiet, log_file=args.log_file)
    print(
        f"mmfsm run: synthetic venue, {args.markets} markets, seed {args.seed}, "
        f"{args.seconds}s of simulated time, config {config_hash(config)[:12]}"
    )
    engine, summary = run_synthetic(
        config,
        seconds=args.seconds,
        seed=args.seed,
        start_ms=DEFAULT_START_MS,
        markets=args.markets,
        logger=logger,
    )
    print(summary.render(engine))
    return 0


def _cmd_config(args: argparse.Namespace) -> int:
    config = load_config(args.path)
    print(json.dumps(config_to_dict(config), indent=2, sort_keys=True))
    print(f"config hash: {config_hash(config)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return _cmd_run(args)
        return _cmd_config(args)
    except (ConfigError, OSError, ValueError) as err:
        print(f"mmfsm {args.command}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
