"""argparse types and choices for the command line's numbers, ids and addresses.

A bad value must be refused by argparse, naming the flag, before anything is created
(an audit log, a socket, a venue session): ``--metrics-port 99999`` used to reach
``socket.bind`` and dump an OverflowError traceback after the audit log was opened,
``--chain-id 1`` was blamed on the private key, ``--interval -1`` failed in
``time.sleep`` without naming the flag. argparse prefixes each message here with
``argument --flag:``.
"""

from __future__ import annotations

import argparse
import math
import re

__all__ = ["CHAIN_IDS", "SIGNATURE_TYPES", "address", "port", "positive_int", "positive_seconds"]

CHAIN_IDS = (137, 80002)
"""Polygon and Amoy: the chains Polymarket's CLOB V2 signs for (POLYMARKET-CLOB-V2.md 3.2)."""

SIGNATURE_TYPES = (0, 1, 2)
"""EOA, POLY_PROXY, POLY_GNOSIS_SAFE (3.3). V2 also defines 3 (POLY_1271, a deposit wallet),
which this bot has never been run with: refused until it has."""

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def port(text: str) -> int:
    """A TCP port, 0..65535 (0: off, for ``--metrics-port``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port (0 to 65535)")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (a count: a slice would read -1 as "all but the last")."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def positive_seconds(text: str) -> float:
    """A finite number of seconds > 0 (a poll interval)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, not {text}")
    return value


def address(text: str) -> str:
    """An EVM address: ``0x`` and 40 hex digits (the checksum's case is not checked)."""
    if _ADDRESS.fullmatch(text) is None:
        raise argparse.ArgumentTypeError(
            f"{text[:50]!r} is not an address (0x followed by 40 hex digits)"
        )
    return text
