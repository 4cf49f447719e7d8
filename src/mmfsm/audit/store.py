"""The audit log's SQLite schema, and reading it back.

Theory of operation
-------------------
One SQLite file in WAL mode (standard library only) holds three tables:

``records``    the hash chain (``chain.AuditRecord``): ``seq INTEGER PRIMARY KEY`` so
               records are stored and read in sequence order. Triggers refuse UPDATE and
               DELETE: the table is append-only to anything short of dropping them, and
               ``verify`` catches whoever does.
``snapshots``  pickled Engines keyed by the seq of the ``snapshot`` record that vouches
               for them (its body holds the blob's SHA-256, ``covers`` is the last record
               the Engine had seen). Old blobs are pruned; their records stay.
``meta``       ``schema`` and the head of the chain (``head_seq``, ``head_hash``),
               updated in the same transaction as every append, so a deleted tail (which
               leaves a valid chain) is still detected.

WAL mode lets ``audit tail`` and ``audit verify`` read while the bot writes; readers
here never write, and open the file without creating it (``mode=rw``: a mistyped path is
an error, not a new empty log). A reader refuses a file that lacks any of the three
tables, and ``reading`` turns any later ``sqlite3.Error`` into an ``AuditError`` naming
the file, so a damaged log is one clear line for the operator, never a traceback.

``AuditError`` is anything that makes the log unusable; ``BadRecord``, one of its kinds,
names the record that is not what the writer wrote (or cannot be decoded).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from attrs import frozen

from mmfsm.audit.chain import AuditRecord

__all__ = [
    "SCHEMA",
    "SCHEMA_VERSION",
    "AuditError",
    "BadRecord",
    "SnapshotRow",
    "connect_reader",
    "read_head",
    "read_meta",
    "read_records",
    "read_snapshots",
    "reading",
]

SCHEMA_VERSION = "mmfsm.audit/1"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records (
    seq         INTEGER PRIMARY KEY,
    step        INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    ts_ms       INTEGER NOT NULL,
    wall_ms     INTEGER NOT NULL,
    config_hash TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    prev_hash   TEXT    NOT NULL,
    hash        TEXT    NOT NULL
);
CREATE TABLE IF NOT EXISTS snapshots (
    seq    INTEGER PRIMARY KEY,
    covers INTEGER NOT NULL,
    engine BLOB    NOT NULL
);
CREATE TRIGGER IF NOT EXISTS records_append_only_update BEFORE UPDATE ON records
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER IF NOT EXISTS records_append_only_delete BEFORE DELETE ON records
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
"""

_COLUMNS = "seq, step, kind, ts_ms, wall_ms, config_hash, body, prev_hash, hash"
_TABLES = ("records", "snapshots", "meta")


class AuditError(RuntimeError):
    """The audit log cannot be written, read or trusted; the bot must not trade on."""


class BadRecord(AuditError):
    """Record ``seq`` (or the snapshot blob it vouches for) is not what the writer wrote,
    or does not decode: the log is tampered with or damaged there."""

    def __init__(self, seq: int, message: str) -> None:
        super().__init__(f"record {seq}: {message}")
        self.seq = seq
        self.message = message


@frozen(kw_only=True)
class SnapshotRow:
    seq: int
    covers: int
    engine: bytes


def connect_reader(path: Path) -> sqlite3.Connection:
    """Open an existing audit log for reading; never creates one."""
    if not path.exists():
        raise AuditError(f"{path}: no such audit log")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise AuditError(f"{path}: cannot open the audit log ({exc})") from None
    try:
        conn.execute("PRAGMA query_only = ON")
        for table in _TABLES:
            conn.execute(f"SELECT 1 FROM {table} LIMIT 1")
    except sqlite3.Error as exc:
        conn.close()
        raise AuditError(f"{path}: not an mmfsm audit log ({exc})") from None
    return conn


@contextmanager
def reading(path: Path) -> Iterator[sqlite3.Connection]:
    """``connect_reader(path)``, closed on leaving; any ``sqlite3.Error`` inside (a table
    dropped or damaged under a reader) leaves as an ``AuditError`` naming the file."""
    conn = connect_reader(path)
    try:
        yield conn
    except sqlite3.Error as exc:
        raise AuditError(
            f"{path}: the audit log cannot be read ({type(exc).__name__}: {exc})"
        ) from None
    finally:
        conn.close()


def _row(values: tuple[object, ...]) -> AuditRecord:
    seq, step, kind, ts_ms, wall_ms, config_hash, body, prev_hash, hash_ = values
    return AuditRecord(
        seq=int(str(seq)),
        step=int(str(step)),
        kind=str(kind),
        ts_ms=int(str(ts_ms)),
        wall_ms=int(str(wall_ms)),
        config_hash=str(config_hash),
        body=str(body),
        prev_hash=str(prev_hash),
        hash=str(hash_),
    )


def read_records(
    conn: sqlite3.Connection, *, after: int = 0, until: int | None = None, batch: int = 2000
) -> Iterator[AuditRecord]:
    """Records with ``after < seq <= until`` in sequence order, read in batches."""
    last = after
    while True:
        if until is None:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM records WHERE seq > ? ORDER BY seq LIMIT ?",
                (last, batch),
            ).fetchall()
        else:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM records WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
                (last, until, batch),
            ).fetchall()
        if not rows:
            return
        for values in rows:
            record = _row(values)
            last = record.seq
            yield record


def read_meta(conn: sqlite3.Connection) -> dict[str, str]:
    return {str(k): str(v) for k, v in conn.execute("SELECT key, value FROM meta")}


def read_head(conn: sqlite3.Connection) -> tuple[int, str] | None:
    """The head the writer recorded (``meta``), or None for an empty log."""
    meta = read_meta(conn)
    if "head_seq" not in meta:
        return None
    return int(meta["head_seq"]), meta.get("head_hash", "")


def read_snapshots(conn: sqlite3.Connection, *, newest_first: bool = True) -> Iterator[SnapshotRow]:
    order = "DESC" if newest_first else "ASC"
    for seq, covers, blob in conn.execute(
        f"SELECT seq, covers, CAST(engine AS BLOB) FROM snapshots ORDER BY seq {order}"
    ):
        yield SnapshotRow(seq=int(seq), covers=int(covers), engine=bytes(blob))
