"""Shared helpers for the benchmarks: import paths, RSS, a quiet logger."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

TOOLS = Path(__file__).resolve().parent.parent
REPO = TOOLS.parent
DATA = REPO.parent / "shared" / "data" / "polymarket-btc-15m"

for p in (str(TOOLS), str(TOOLS / "bench")):
    if p not in sys.path:
        sys.path.insert(0, p)


def rss_kib() -> int:
    """Current resident set size in KiB (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            pages = int(fh.read().split()[1])
    except OSError:
        return 0
    import os

    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def quiet_logger(name: str = "mmfsm.bench") -> logging.Logger:
    logger = logging.getLogger(name)
    logger.propagate = False
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    return logger


def ratio(num: float, den: float) -> float | None:
    return None if not den else round(num / den, 3)
