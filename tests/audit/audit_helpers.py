"""Helpers for the audit tests: recorded synthetic runs, reading records, tampering."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mmfsm.audit.chain import GENESIS_PREV, AuditRecord, chain_hash
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


def rehash(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Recompute every link and hash: a forger who knows the scheme."""
    for i, row in enumerate(rows):
        row["prev_hash"] = rows[i - 1]["hash"] if i else GENESIS_PREV
        row["hash"] = chain_hash(
            **{k: row[k] for k in ("seq", "step", "kind", "ts_ms", "wall_ms", "config_hash")},
            body=row["body"],
            prev_hash=row["prev_hash"],
        )
    return rows


def forge(path: Path, change: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> None:
    """Change rows, rehash the whole chain and rewrite the head: only replay, an anchor
    held elsewhere, or the snapshot checks can tell."""
    rewrite(path, lambda rs: rehash(change(rs)))
    last = records(path)[-1]
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(
            "INSERT OR REPLACE INTO meta(key, value) VALUES ('head_seq', ?), ('head_hash', ?)",
            (str(last.seq), last.hash),
        )
    conn.close()


def vouch(body: str, blob: bytes) -> str:
    """A snapshot record's body rewritten to carry ``blob``'s SHA-256 and length."""
    data = json.loads(body)
    data.update(sha256=hashlib.sha256(blob).hexdigest(), bytes=len(blob))
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


class _RunsCode:
    """Unpickling this runs a shell command (what a crafted snapshot blob does)."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (self.command,))


def evil_blob(marker: Path) -> bytes:
    """A pickle that creates ``marker`` when it is loaded by ``pickle.loads``."""
    return pickle.dumps(_RunsCode(f"touch {marker}"), protocol=5)


def put_blob(path: Path, seq: int, blob: bytes) -> None:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE snapshots SET engine = ? WHERE seq = ?", (blob, seq))
    conn.close()


def snapshot_seqs(path: Path) -> list[int]:
    conn = sqlite3.connect(path)
    seqs = [int(s) for (s,) in conn.execute("SELECT seq FROM snapshots ORDER BY seq")]
    conn.close()
    return seqs
