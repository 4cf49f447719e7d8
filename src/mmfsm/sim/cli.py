"""``mmfsm simulate``: run a named scenario or replay a recording, and report.

Theory of operation
-------------------
``add_parser`` declares the subcommand on the main CLI's parser and sets its
``handler``, so ``mmfsm.cli`` only wires it in. A run prints a header, a progress bar
while it runs (rich, only when stdout is a terminal, erased when done) and a plain-text
summary table; ``--baseline`` runs the naive maker on the same seed and data and adds a
column. ``--json``, ``--report`` and ``--log-file`` write the metrics, the HTML report
and the grep-able log lines (every severity, exactly as live). Everything printed and
written depends only on the inputs and the seed, never on the wall clock, so a run
repeats byte for byte. Exit status: 0 when the run completed (invariant breaches are
printed), 1 with ``--strict`` when any invariant was breached, 2 for bad arguments or
inputs.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mmfsm.cliargs import positive_int
from mmfsm.core.config import Config, config_hash
from mmfsm.sim.loop import Progress, RunResult, SimSetup, simulate
from mmfsm.sim.replay import ATTRIBUTION, load_recording
from mmfsm.sim.report import render_report
from mmfsm.sim.scenarios import SCENARIOS, get
from mmfsm.sim.summary import document, render_table
from mmfsm.text import plural

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "simulate", help="run the Engine in the simulator: a named scenario or a replay"
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--list", action="store_true", help="list the scenarios and exit")
    what.add_argument("--scenario", metavar="NAME", help="run a named scenario")
    what.add_argument(
        "--replay",
        type=Path,
        metavar="PATH",
        help="replay recorded books (a directory with books.jsonl.gz and "
        "markets.jsonl, or the books file)",
    )
    p.add_argument(
        "--max-markets", type=positive_int, metavar="N", help="replay only the first N markets"
    )
    p.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    p.add_argument(
        "--config",
        type=Path,
        help="TOML config (default: built-in; a scenario's own overrides still apply on top)",
    )
    p.add_argument(
        "--baseline",
        action="store_true",
        help="also run the naive baseline on the same seed and data",
    )
    p.add_argument("--json", type=Path, metavar="PATH", help="write the metrics as JSON")
    p.add_argument("--report", type=Path, metavar="PATH", help="write an HTML report")
    p.add_argument(
        "--log-file",
        type=Path,
        metavar="PATH",
        help="write the bot's log lines (all severities) to this file",
    )
    p.add_argument("--verbose", action="store_true", help="also print INFO+ log lines")
    p.add_argument("--strict", action="store_true", help="exit 1 if any invariant was violated")
    p.set_defaults(handler=_handle)
    return p


def _check_outputs(args: argparse.Namespace) -> None:
    """Refuse, before a run of minutes, an output file that could not be written after it."""
    for flag, path in (
        ("--json", args.json),
        ("--report", args.report),
        ("--log-file", args.log_file),
    ):
        if path is None:
            continue
        if path.is_dir():
            raise ValueError(f"{flag} {path}: is a directory")
        if not path.parent.is_dir():
            raise ValueError(f"{flag} {path}: directory {path.parent} does not exist")
        if not os.access(path if path.exists() else path.parent, os.W_OK):
            raise ValueError(f"{flag} {path}: not writable")


def _write(flag: str, path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as err:
        raise ValueError(f"{flag} {path}: cannot write ({err.strerror or err})") from None


def _handle(args: argparse.Namespace) -> int:
    from mmfsm.settings import load_config  # the shell's config loader (file + env)

    return run(args, load_config(args.config))


def _list() -> int:
    width = max(len(n) for n in SCENARIOS)
    for name in SCENARIOS:
        print(f"{name.ljust(width)}  {get(name).summary}")
    return 0


@contextmanager
def _logger(log_file: Path | None, verbose: bool) -> Iterator[logging.Logger | None]:
    if log_file is None and not verbose:
        yield None
        return
    logger = logging.getLogger(f"mmfsm.simulate.{id(log_file)}")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    handlers: list[logging.Handler] = []
    if log_file is not None:
        handlers.append(logging.FileHandler(log_file, mode="w", encoding="utf-8"))
    if verbose:
        console = logging.StreamHandler(sys.stdout)
        console.setLevel(logging.INFO)
        handlers.append(console)
    for h in handlers:
        logger.addHandler(h)
    try:
        yield logger
    finally:
        for h in handlers:
            logger.removeHandler(h)
            h.close()


@contextmanager
def _progress(label: str) -> Iterator[Progress | None]:
    if not sys.stdout.isatty():
        yield None
        return
    from rich.progress import BarColumn, TextColumn, TimeRemainingColumn
    from rich.progress import Progress as Bar

    with Bar(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=1)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _setup(args: argparse.Namespace, base: Config) -> tuple[SimSetup, str, str | None]:
    if args.scenario is not None:
        return get(args.scenario).setup(seed=args.seed, base=base), "scenario", None
    recording = load_recording(args.replay, max_markets=args.max_markets)
    if not recording.books:
        raise ValueError(f"{args.replay}: no recorded books")
    setup = SimSetup(
        name=f"replay:{args.replay.name}",
        config=base,
        seed=args.seed,
        start_ms=recording.start_ms,
        duration_ms=recording.end_ms - recording.start_ms + 1_000,
        recording=recording,
    )
    return setup, "replay", ATTRIBUTION


def run(args: argparse.Namespace, base: Config) -> int:
    """Execute ``mmfsm simulate`` with ``base`` as the config the user asked for."""
    if args.list:
        return _list()
    if args.scenario is not None and args.scenario not in SCENARIOS:
        print(f"mmfsm simulate: unknown scenario {args.scenario!r}; see --list", file=sys.stderr)
        return 2
    try:
        _check_outputs(args)
        setup, kind, attribution = _setup(args, base)
    except ValueError as err:  # ReplayError included: a damaged recording
        print(f"mmfsm simulate: {err}", file=sys.stderr)
        return 2
    markets = len(setup.markets) or len(setup.recording.markets if setup.recording else ())
    print(
        f"mmfsm simulate: {kind} {setup.name}, {plural(markets, 'market')}, seed {setup.seed}, "
        f"{setup.duration_ms // 1000}s simulated, config {config_hash(setup.config)[:12]}"
    )
    if attribution:
        print(attribution)
    with _logger(args.log_file, args.verbose) as logger, _progress("mmfsm") as progress:
        mm = simulate(setup, logger=logger, progress=progress)
    base_run: RunResult | None = None
    if args.baseline:
        with _progress("baseline") as progress:
            base_run = simulate(setup, baseline=True, progress=progress)
    print(render_table(mm.metrics, base_run.metrics if base_run else None))
    violations = mm.invariants.total
    print(f"invariant violations (mmfsm): {violations} {dict(mm.invariants.counts)}")
    for example in mm.invariants.examples[:5]:
        print(f"  {example}")
    if args.json is not None:
        doc = document(mm, base_run, kind=kind, attribution=attribution)
        _write("--json", args.json, json.dumps(doc, indent=2, sort_keys=True) + "\n")
    if args.report is not None:
        _write(
            "--report",
            args.report,
            render_report(
                mm, base_run, title=f"mmfsm simulate: {setup.name}", attribution=attribution
            ),
        )
    return 1 if args.strict and violations else 0
