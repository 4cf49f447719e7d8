"""The write-ahead audit log: every input, transition and command, durable before it acts.

Theory of operation
-------------------
``AuditLog.step(engine, event)`` runs one Engine step and appends, in this order, the
event, the transitions it caused and the commands it emitted, each record chained to the
previous one by its hash (``chain``). It returns the Step only once the step is on disk
if the step must be durable, so the caller, which sends the commands after it returns,
can never send a command whose cause is not in the log (INV-WAL).

What must be durable before ``step`` returns, and what may wait (group commit):

* A step that sends anything out of the process (a ``Place``, ``Cancel``,
  ``CancelAll`` or ``Alert``), moves a machine, or carries a fact that the venue cannot
  give back later (an operator halt or resume, a config reload) or money (a ``Trade``) is
  committed at once, with every step staged before it.
* Any other step (a book update, an ack, a clock tick that changed nothing) is staged in
  memory and committed with the next durable step, after ``batch_steps`` steps or
  ``batch_ms`` of wall time, or when the run loop calls ``flush`` while idle; those
  commits are not fsynced (the next durable commit's fsync covers their WAL frames).
  Losing such steps in a crash is harmless: the recovered Engine simply has not seen
  them, and what they said (books, open orders, fills) is read from the venue again on
  restart.
  One transaction holds many steps, so the chain on disk is always a prefix of the chain
  written: SQLite commits are atomic and the WAL is ordered.

Durability mode (``Sync``): ``FULL`` (default) fsyncs the WAL at every commit, so a
step survives a power cut or a kernel panic, not only ``kill -9``. ``NORMAL`` only hands
the commit to the OS: it survives the process dying (the usual crash) but may lose the
last commits on power loss, after which commands could be at the venue with no record;
recovery then finds them as orphans. ``tools/audit_bench.py`` measures both; with FULL
costing well under a millisecond per durable step against a venue round trip of tens of
milliseconds, FULL is the default.

Snapshots: every ``snapshot_every`` events, and at a clean close, the Engine is pickled
into ``snapshots``, and a ``snapshot`` record carrying the blob's SHA-256 (and a
fingerprint of the core's code) joins the chain, so recovery replays only the events
after the newest snapshot and start-up time stays flat as the log grows. A snapshot is
read back before it is stored, through the unpickler that reads it at recovery
(``snapshot``): one that does not load is never written.

Fail closed: any error while writing leaves the log ``broken`` and every later call
raises ``AuditError``; the run loop stops, and the venue's dead-man switch cancels the
orders. One process writes a log at a time (an exclusive ``flock`` on ``<path>.lock``).

Secrets: nothing the Engine sees or emits contains a secret by construction; ``scrub``
(see ``mmfsm.ops.redact``) is a last line of defence applied to every body written.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import hashlib
import json
import os
import pickle
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from attrs import define

from mmfsm.audit.chain import GENESIS_PREV, Row, chain_rows
from mmfsm.audit.encode import dumps, dumps_quoted
from mmfsm.audit.snapshot import code_fingerprint, load_engine
from mmfsm.audit.store import SCHEMA, SCHEMA_VERSION, AuditError, read_head
from mmfsm.core import codec
from mmfsm.core.commands import Alert, Cancel, CancelAll, Place
from mmfsm.core.config import Config, config_hash
from mmfsm.core.engine import Engine, Step
from mmfsm.core.events import ConfigReload, Event, OperatorHalt, OperatorResume, Trade

__all__ = ["AuditLog", "AuditStats", "Sync", "code_fingerprint", "must_be_durable"]

_OUTBOUND = (Place, Cancel, CancelAll, Alert)
_PRECIOUS = (Trade, OperatorHalt, OperatorResume, ConfigReload)


class Sync(enum.Enum):
    FULL = "full"  # fsync the WAL at every commit: survives power loss
    NORMAL = "normal"  # commit reaches the OS: survives kill -9, not a power cut


def must_be_durable(event: Event, step: Step) -> bool:
    """Whether this step must be on disk before its caller may act on it."""
    if step.transitions or isinstance(event, _PRECIOUS):
        return True
    # Most steps have no command: no generator for them.
    return bool(step.commands) and any(isinstance(c, _OUTBOUND) for c in step.commands)


@define
class AuditStats:
    """What the writer did, for metrics and the benchmark."""

    records: int = 0
    steps: int = 0
    commits: int = 0
    durable_commits: int = 0
    commit_seconds: float = 0.0
    max_commit_seconds: float = 0.0
    snapshots: int = 0
    snapshot_failures: int = 0
    redactions: int = 0


class AuditLog:
    """The one writer of an audit log file (see the module docstring)."""

    def __init__(
        self,
        path: Path,
        *,
        sync: Sync = Sync.FULL,
        batch_steps: int = 64,
        batch_ms: int = 200,
        snapshot_every: int = 5_000,
        keep_snapshots: int = 3,
        scrub: Callable[[str], str] | None = None,
        clock: Callable[[], float] = time.time,
        fault: Callable[[str], None] | None = None,
    ) -> None:
        self.path = path
        self.sync = sync
        self.batch_steps = batch_steps
        self.batch_ms = batch_ms
        self.snapshot_every = snapshot_every
        self.keep_snapshots = keep_snapshots
        self.stats = AuditStats()
        self.on_commit: list[Callable[[float, bool], None]] = []
        self._scrub = scrub
        self._clock = clock
        self._fault = fault
        self._broken: str | None = None
        self._pending: list[Row] = []
        self._pending_steps = 0
        self._pending_since = 0.0
        self._events_since_snapshot = 0
        self._lock_fd = self._lock(path)
        try:
            self._conn = self._open(path, sync)
            head = read_head(self._conn)
        except (sqlite3.DatabaseError, OSError) as exc:
            os.close(self._lock_fd)
            raise AuditError(f"{path}: cannot open the audit log ({exc})") from None
        self.head_seq, self.head_hash = head if head is not None else (0, GENESIS_PREV)

    # ------------------------------------------------------------------ opening

    @staticmethod
    def _lock(path: Path) -> int:
        lock_path = Path(f"{path}.lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AuditError(f"{path}: another mmfsm process is writing this audit log") from None
        return fd

    @staticmethod
    def _open(path: Path, sync: Sync) -> sqlite3.Connection:
        if not path.exists():
            # The log is the bot's whole trading history: readable by its owner only.
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        else:
            _owner_only(path)  # a log copied or made by another tool keeps its mode
        conn = sqlite3.connect(path, isolation_level=None)
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise AuditError(f"{path}: cannot switch the audit log to WAL mode ({mode})")
        conn.execute(f"PRAGMA synchronous={sync.value.upper()}")
        conn.executescript(SCHEMA)
        conn.execute(
            "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema', ?)", (SCHEMA_VERSION,)
        )
        schema = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()[0]
        if schema != SCHEMA_VERSION:
            raise AuditError(f"{path}: audit schema {schema!r}, expected {SCHEMA_VERSION!r}")
        return conn

    @property
    def connection(self) -> sqlite3.Connection:
        """The writer's connection, for reading back in the same process (recovery)."""
        return self._conn

    @property
    def is_empty(self) -> bool:
        return self.head_seq == 0 and not self._pending

    @property
    def broken(self) -> str | None:
        return self._broken

    # ------------------------------------------------------------------ appending

    def genesis(self, config: Config, ts_ms: int) -> None:
        """Record 1: the config the log starts from (replay builds its Engine from it)."""
        if not self.is_empty:
            raise AuditError(f"{self.path}: genesis on a log that already has records")
        body = codec.dumps(ConfigReload(ts_ms=ts_ms, config=config))
        self._stage("genesis", ts_ms, config_hash(config), body)
        self.flush()

    def note(self, kind: str, ts_ms: int, config_hash: str, body: dict[str, object]) -> None:
        """A durable record outside any step: start, stop, operator."""
        text = json.dumps(body, sort_keys=True, separators=(",", ":"))
        self._stage(kind, ts_ms, config_hash, text)
        self.flush()

    def step(self, engine: Engine, event: Event) -> Step:
        """Run one Engine step and log it; durable on return if it must be."""
        self._check()
        before = engine.config_hash
        step = engine.step(event)
        self.record(event, step, before=before, after=engine.config_hash)
        self.maybe_snapshot(engine)
        return step

    def maybe_snapshot(self, engine: Engine) -> None:
        """Snapshot if ``snapshot_every`` events have been logged since the last one.

        A snapshot that cannot be made is counted (``stats.snapshot_failures``) and tried
        again later, never raised: recovery then replays from an older snapshot, which is
        slower but as exact, and a bot must not die over it. A failed commit still raises.
        """
        if self._events_since_snapshot < self.snapshot_every:
            return
        try:
            self.snapshot(engine)
        except AuditError:
            if self._broken is not None:
                raise
            self.stats.snapshot_failures += 1
            self._events_since_snapshot = 0

    def record(self, event: Event, step: Step, *, before: str, after: str) -> bool:
        """Append one step; commit now if it must be durable. True if committed."""
        self._check()
        try:
            now = self._clock()  # one wall time for the step's records, and the batch timer
            parts: list[tuple[str, str, str, str | None]] = [
                ("event", before, *dumps_quoted(event))
            ]
            for t in step.transitions:
                parts.append(("transition", t.config_hash, dumps(t), None))
            for command in step.commands:
                parts.append(("command", after, dumps(command), None))
            self._stage_parts(parts, event.ts_ms, now)
        except BaseException as exc:
            # The Engine has taken a step the log cannot hold: nothing may follow it.
            self._broken = f"{type(exc).__name__}: {exc}"
            raise
        self.stats.steps += 1
        self._events_since_snapshot += 1
        if self._pending_steps == 0:
            self._pending_since = now
        self._pending_steps += 1
        if self._fault is not None:
            self._hit("staged")
        if must_be_durable(event, step):
            self._commit(durable=True)
            return True
        age_ms = (now - self._pending_since) * 1000
        if self._pending_steps >= self.batch_steps or age_ms >= self.batch_ms:
            self._commit(durable=False)
            return True
        return False

    def flush(self, *, durable: bool = True) -> None:
        """Commit whatever is staged; ``durable=False`` (the idle flush) skips the fsync."""
        self._check()
        if self._pending:
            self._commit(durable=durable)

    def snapshot(self, engine: Engine) -> int:
        """Store the Engine as of the last record; returns the snapshot record's seq."""
        self.flush()
        covers = self.head_seq
        try:
            blob = pickle.dumps(engine, protocol=5)
            # Never store a snapshot that cannot be read back, by the unpickler that
            # recovery and replay use (only the core's classes).
            restored = load_engine(blob, seq=covers + 1)
        except Exception as exc:
            raise AuditError(f"engine snapshot failed: {type(exc).__name__}: {exc}") from None
        if not isinstance(restored, Engine) or restored.config_hash != engine.config_hash:
            raise AuditError("engine snapshot does not round-trip")
        body = {
            "type": "Snapshot",
            "covers": covers,
            "sha256": hashlib.sha256(blob).hexdigest(),
            "bytes": len(blob),
            "code": code_fingerprint(),
        }
        text = json.dumps(body, sort_keys=True, separators=(",", ":"))
        seq = self._stage("snapshot", engine.now_ms, engine.config_hash, text)
        self._hit("snapshot-staged")
        self._commit(durable=True, snapshot=(seq, covers, blob))
        self._events_since_snapshot = 0
        self.stats.snapshots += 1
        return seq

    def close(self, engine: Engine | None = None, *, reason: str = "clean shutdown") -> None:
        """Flush, and on a clean stop snapshot the Engine and record why it stopped."""
        try:
            if self._broken is None:
                if engine is not None:
                    self.snapshot(engine)
                    self.note(
                        "stop",
                        engine.now_ms,
                        engine.config_hash,
                        {"type": "Stop", "reason": reason},
                    )
                self.flush()
        finally:
            self._conn.close()
            os.close(self._lock_fd)

    # ------------------------------------------------------------------ internals

    def _check(self) -> None:
        if self._broken is not None:
            raise AuditError(
                f"{self.path}: audit log unusable after an earlier error: {self._broken}"
            )

    def _hit(self, point: str) -> None:
        if self._fault is not None:
            self._fault(point)

    def _stage(self, kind: str, ts_ms: int, config_hash: str, body: str) -> int:
        """Stage one record outside any step (its own step); returns its seq."""
        return self._stage_parts([(kind, config_hash, body, None)], ts_ms, self._clock())

    def _stage_parts(
        self, parts: list[tuple[str, str, str, str | None]], ts_ms: int, now: float
    ) -> int:
        """Stage one step's records, (kind, config hash, body, the body's JSON string if
        known) each, the first opening the step; all get the one wall time ``now``.
        Returns the first one's seq."""
        if self._scrub is not None:
            parts = [self._scrubbed(part) for part in parts]
        pending = self._pending
        seq = self.head_seq + len(pending) + 1
        prev = pending[-1][8] if pending else self.head_hash
        pending.extend(chain_rows(seq, ts_ms, int(now * 1000), parts, prev))
        return seq

    def _scrubbed(self, part: tuple[str, str, str, str | None]) -> tuple[str, str, str, str | None]:
        assert self._scrub is not None
        kind, config_hash, body, _ = part
        clean = self._scrub(body)
        if clean == body:
            return part
        self.stats.redactions += 1
        return kind, config_hash, clean, None  # the body's JSON string is the scrubbed one's

    def _commit(self, *, durable: bool, snapshot: tuple[int, int, bytes] | None = None) -> None:
        rows = self._pending
        if not rows:
            return
        started = time.perf_counter()
        # A commit nothing waits for need not be fsynced: the next durable commit's fsync
        # of the WAL carries its frames too (the WAL is one file, appended in order).
        relaxed = self.sync is Sync.FULL and not durable
        try:
            if relaxed:
                self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany(
                "INSERT INTO records(seq, step, kind, ts_ms, wall_ms, config_hash, body, "
                "prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            self._conn.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES ('head_seq', ?), ('head_hash', ?)",
                (str(rows[-1][0]), rows[-1][8]),
            )
            if snapshot is not None:
                self._store_snapshot(*snapshot)
            self._conn.execute("COMMIT")
        except (sqlite3.Error, OSError) as exc:
            self._broken = f"{type(exc).__name__}: {exc}"
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise AuditError(f"{self.path}: audit commit failed: {self._broken}") from None
        finally:
            if relaxed:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("PRAGMA synchronous=FULL")
        elapsed = time.perf_counter() - started
        self.head_seq, self.head_hash = rows[-1][0], rows[-1][8]
        self.stats.records += len(rows)
        self.stats.commits += 1
        self.stats.durable_commits += durable
        self.stats.commit_seconds += elapsed
        self.stats.max_commit_seconds = max(self.stats.max_commit_seconds, elapsed)
        self._pending = []
        self._pending_steps = 0
        for callback in self.on_commit:
            callback(elapsed, durable)
        self._hit("committed")

    def _store_snapshot(self, seq: int, covers: int, blob: bytes) -> None:
        self._conn.execute(
            "INSERT INTO snapshots(seq, covers, engine) VALUES (?, ?, ?)", (seq, covers, blob)
        )
        keep = self._conn.execute(
            "SELECT seq FROM snapshots ORDER BY seq DESC LIMIT 1 OFFSET ?",
            (max(self.keep_snapshots, 1) - 1,),
        ).fetchone()
        if keep is not None:
            self._conn.execute("DELETE FROM snapshots WHERE seq < ?", (keep[0],))


def _owner_only(path: Path) -> None:
    """Take group and other access off the log and its WAL files (SQLite gives new WAL
    files the log's own mode): the same 0600 a log this process creates has."""
    for part in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            mode = part.stat().st_mode & 0o777
            if mode & 0o077:
                os.chmod(part, mode & 0o700)
        except FileNotFoundError:
            continue
