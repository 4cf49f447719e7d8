"""Helpers for the audit tests: recorded synthetic runs, reading records, tampering."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mmfsm.audit.chain import AuditRecord
from mmfsm.audit.log import AuditLog, Sync
from mmfsm.audit.store import connect_reader, read_records
from mmfsm.core.config import Config, default_config
from mmfsm.core.engine import Engine
from mmfsm.harness import T0
from mmfsm.ops.services import Services
from mmfsm.runner import run_synthetic

BREAKER = "[risk]\nglobal_daily_loss_usd = 0.5\n"
"""Trips the breaker about 320 simulated seconds into the seed-7 synthetic run."""


def quiet() -> logging.Logger:
    logger = logging.getLogger("mmfsm.tests.quiet")
    logger.propagate = False
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    return logger


def record_run(
    path: Path,
    config: Config | None = None,
    *,
    seconds: int = 300,
    snapshot_every: int = 1000,
    seed: int = 7,
) -> Engine:
    """A synthetic run written to ``path`` and closed cleanly; returns its Engine."""
    config = config or default_config()
    # What these runs test is content, chain and replay, not power-loss durability, so
    # they commit without fsync (kill -9 safe, and fast on a busy disk).
    log = AuditLog(path, snapshot_every=snapshot_every, sync=Sync.NORMAL)
    log.genesis(config, T0)
    engine, _ = run_synthetic(
        config,
        seconds=seconds,
        seed=seed,
        start_ms=T0,
        logger=quiet(),
        services=Services(audit=log),
    )
    log.close(engine)
    return engine


def records(path: Path) -> list[AuditRecord]:
    conn = connect_reader(path)
    try:
        return list(read_records(conn))
    finally:
        conn.close()


def rewrite(path: Path, change: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> None:
    """Tamper as an attacker with write access would: drop the guards, rewrite rows."""
    rows = [r.as_json() | {"body": r.body} for r in records(path)]
    rows = change(rows)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("DROP TRIGGER records_append_only_update")
        conn.execute("DROP TRIGGER records_append_only_delete")
        conn.execute("DELETE FROM records")
        conn.executemany(
            "INSERT INTO records VALUES (:seq, :step, :kind, :ts_ms, :wall_ms, :config_hash, "
            ":body, :prev_hash, :hash)",
            rows,
        )
    conn.close()
