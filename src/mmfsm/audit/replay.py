"""``mmfsm audit replay``: re-run the recorded events and check every recorded decision.

Theory of operation
-------------------
The Engine is a deterministic function of its events, so a log is its own proof: build
an Engine from the genesis config, feed it every ``event`` record in order, and each
step must produce exactly the recorded ``transition`` and ``command`` records, compared
as canonical JSON (``codec.dumps``), field for field and in order. The first difference
is reported with the record it happened at, what was recorded and what the replay made.

Where a stored snapshot exists, the replayed Engine's state at that point must also
equal the snapshot's (``state_digest``), which is what makes restoring from a snapshot
as trustworthy as replaying from the start. A blob is only unpickled once it matches its
record (SHA-256 and length) and that record says this code wrote it, and then only
through the unpickler that builds nothing but an Engine (``snapshot``); a snapshot of
other code is counted as skipped, not compared.

``replay_conn`` (``audit replay``) verifies the chain before it replays anything, and
replays only the records it verified, in the same read transaction: a replay of a log
that does not verify proves nothing, and its snapshot blobs are nobody's to unpickle.
A record of a kind no writer writes, or whose event does not decode, is ``BadRecord``.

The same walk serves crash recovery (``recovery``), starting from a snapshot instead of
the genesis: there a divergence does not stop the replay (the events are facts, the
decisions are re-derived) but is reported, since it means the code changed or is not
deterministic.
"""

from __future__ import annotations

import enum
import hashlib
import json
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs
from attrs import frozen

from mmfsm.audit.chain import NOTE_KINDS, AuditRecord
from mmfsm.audit.snapshot import blob_problem, load_engine, same_code
from mmfsm.audit.store import AuditError, BadRecord, read_records, read_snapshots, reading
from mmfsm.audit.verify import verify
from mmfsm.core import codec
from mmfsm.core.config import Config
from mmfsm.core.engine import Engine
from mmfsm.core.events import ConfigReload
from mmfsm.core.machines import MachineTable

__all__ = [
    "Divergence",
    "ReplayReport",
    "engine_from_genesis",
    "replay",
    "replay_conn",
    "replay_path",
    "state_digest",
]

_SKIP_ATTRS = frozenset({"listener", "_recorder", "_out"})


@frozen(kw_only=True)
class Divergence:
    seq: int
    step: int
    expected: str | None
    got: str | None

    def __str__(self) -> str:
        return (
            f"first divergence at record {self.seq} (step of event {self.step}):\n"
            f"  recorded: {self.expected if self.expected is not None else '(nothing)'}\n"
            f"  replayed: {self.got if self.got is not None else '(nothing)'}"
        )


@frozen(kw_only=True)
class ReplayReport:
    events: int
    records: int
    last_seq: int
    snapshots_checked: int
    snapshots_skipped: int = 0  # written by other code: not unpickled, not compared
    divergences: int
    first: Divergence | None
    engine: Engine = attrs.field(repr=False, eq=False)

    @property
    def ok(self) -> bool:
        return self.first is None


def engine_from_genesis(record: AuditRecord) -> Engine:
    if record.kind != "genesis":
        raise BadRecord(record.seq, f"a {record.kind}, not the genesis")
    reload = _decode(record)
    if not isinstance(reload, ConfigReload) or not isinstance(reload.config, Config):
        raise BadRecord(record.seq, "the genesis record does not hold a config")
    return Engine(reload.config)


def _decode(record: AuditRecord) -> Any:
    try:
        return codec.loads(record.body)
    except ValueError as exc:  # CodecError and JSONDecodeError are ValueErrors
        raise BadRecord(record.seq, f"body does not decode: {exc}") from None


def _plain(obj: object, stack: set[int]) -> object:
    """A JSON-able image of an object graph, in the order the Engine would iterate it."""
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        return repr(obj)
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, MachineTable):
        return obj.name
    if id(obj) in stack:
        return "<cycle>"
    stack.add(id(obj))
    try:
        if isinstance(obj, (list, tuple)):
            return [_plain(v, stack) for v in obj]
        if isinstance(obj, Mapping):
            return [[_plain(k, stack), _plain(v, stack)] for k, v in obj.items()]
        if isinstance(obj, (set, frozenset)):
            return sorted(json.dumps(_plain(v, stack), sort_keys=True) for v in obj)
        return [type(obj).__name__, _fields(obj, stack)]
    finally:
        stack.discard(id(obj))


def _fields(obj: Any, stack: set[int]) -> dict[str, object]:
    names: list[str] = []
    for cls in type(obj).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        names += [slots] if isinstance(slots, str) else list(slots)
        # A class compiled by mypyc (the core's per-event modules) has neither slots
        # nor a __dict__: it lists its attributes here.
        names += list(cls.__dict__.get("__mypyc_attrs__", ()))
    names += list(getattr(obj, "__dict__", {}))
    out: dict[str, object] = {}
    for name in dict.fromkeys(names):
        if name in _SKIP_ATTRS or name.startswith("__") or not hasattr(obj, name):
            continue
        out[name] = _plain(getattr(obj, name), stack)
    return out


def state_digest(engine: Engine) -> str:
    """SHA-256 of everything the Engine holds (books, orders, ledgers, machines, ...)."""
    text = json.dumps(_plain(engine, set()), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class _Comparer:
    def __init__(self, engine: Engine, *, compare: bool) -> None:
        self.engine = engine
        self.compare = compare
        self.step_seq = 0
        self.produced: list[str] = []
        self.recorded: list[tuple[int, str]] = []
        self.first: Divergence | None = None
        self.divergences = 0
        self.events = 0

    def open_step(self, record: AuditRecord) -> None:
        self.close_step()
        event = _decode(record)
        step = self.engine.step(event)
        self.events += 1
        self.step_seq = record.seq
        if self.compare:
            self.produced = [codec.dumps(t) for t in step.transitions]
            self.produced += [codec.dumps(c) for c in step.commands]

    def add(self, record: AuditRecord) -> None:
        if self.compare:
            self.recorded.append((record.seq, record.body))

    def close_step(self) -> None:
        if not self.compare or not self.step_seq:
            return
        recorded, produced = self.recorded, self.produced
        self.recorded, self.produced = [], []
        last = self.step_seq
        for i in range(max(len(recorded), len(produced))):
            seq, expected = recorded[i] if i < len(recorded) else (last + 1, None)
            got = produced[i] if i < len(produced) else None
            if expected != got:
                self.divergences += 1
                if self.first is None:
                    self.first = Divergence(seq=seq, step=self.step_seq, expected=expected, got=got)
                return
            last = seq


def replay(
    records: Iterable[AuditRecord],
    *,
    engine: Engine | None = None,
    compare: bool = True,
    stop_at_divergence: bool = True,
    snapshots: Mapping[int, bytes] | None = None,
) -> ReplayReport:
    """Feed the event records to ``engine`` (or one built from the genesis record).

    The records are taken as they come: ``replay_conn`` verifies them first. A snapshot
    blob in ``snapshots`` is still checked against its record before it is unpickled.
    """
    comparer: _Comparer | None = None if engine is None else _Comparer(engine, compare=compare)
    count = last_seq = checked = skipped = 0
    for record in records:
        count += 1
        last_seq = record.seq
        if comparer is None:
            comparer = _Comparer(engine_from_genesis(record), compare=compare)
            continue
        if record.kind == "event":
            comparer.open_step(record)
        elif record.kind in ("transition", "command"):
            comparer.add(record)
        elif record.kind in NOTE_KINDS:
            comparer.close_step()
            if record.kind == "snapshot" and snapshots and record.seq in snapshots:
                if _check_snapshot(comparer, record, snapshots[record.seq]):
                    checked += 1
                else:
                    skipped += 1
        else:
            # Skipping it would replay a log with an event taken out and call it OK.
            raise BadRecord(record.seq, f"unknown kind {record.kind!r}")
        if stop_at_divergence and comparer.first is not None:
            break
    if comparer is None:
        raise AuditError("the audit log is empty")
    comparer.close_step()
    return ReplayReport(
        events=comparer.events,
        records=count,
        last_seq=last_seq,
        snapshots_checked=checked,
        snapshots_skipped=skipped,
        divergences=comparer.divergences,
        first=comparer.first,
        engine=comparer.engine,
    )


def _check_snapshot(comparer: _Comparer, record: AuditRecord, blob: bytes) -> bool:
    """Compare the snapshot of ``record`` with the replayed Engine; False if it was
    written by other code (then it is neither loaded nor compared)."""
    problem = blob_problem(record.body, blob)
    if problem is not None:
        raise BadRecord(record.seq, f"{problem}; not unpickled")
    if not same_code(record.body):
        return False
    restored = load_engine(blob, seq=record.seq)
    if state_digest(restored) != state_digest(comparer.engine):
        comparer.divergences += 1
        if comparer.first is None:
            comparer.first = Divergence(
                seq=record.seq,
                step=record.seq,
                expected="the stored snapshot's Engine state",
                got="a different state from replaying the events",
            )
    return True


def replay_conn(conn: sqlite3.Connection, *, check_snapshots: bool = True) -> ReplayReport:
    """Verify a whole log, then replay it from its genesis (``audit replay``).

    ``BadRecord`` names the first record that fails verification: nothing is replayed and
    no snapshot is unpickled. One read transaction holds both walks, so records a running
    writer appends meanwhile are neither verified nor replayed.
    """
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN")
    try:
        report = verify(conn, decode=False)
        if report.problem is not None:
            problem = report.problem
            raise BadRecord(problem.seq, f"{problem.message} (nothing replayed)")
        blobs = {row.seq: row.engine for row in read_snapshots(conn)} if check_snapshots else None
        return replay(read_records(conn, until=report.last_seq), snapshots=blobs)
    finally:
        if own and conn.in_transaction:
            conn.execute("ROLLBACK")


def replay_path(path: Path, *, check_snapshots: bool = True) -> ReplayReport:
    """``replay_conn`` on the log at ``path``; a log SQLite cannot read is ``AuditError``."""
    with reading(path) as conn:
        return replay_conn(conn, check_snapshots=check_snapshots)
