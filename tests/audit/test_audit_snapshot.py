"""Snapshot blobs load only as Engines: a real one loads, anything that runs code is refused."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from audit_helpers import evil_blob

from mmfsm import native
from mmfsm.audit.log import AuditLog, Sync
from mmfsm.audit.replay import state_digest
from mmfsm.audit.snapshot import load_engine
from mmfsm.audit.store import AuditError, BadRecord, connect_reader, read_snapshots
from mmfsm.core.config import default_config
from mmfsm.core.engine import Engine
from mmfsm.harness import T0


def _stack_global(module: str, name: str) -> bytes:
    """A protocol-4 pickle that calls ``module.name("x")``, as pickle itself would never
    write for a dotted name (``_getattribute`` resolves one attribute after another)."""

    def text(s: str) -> bytes:
        data = s.encode()
        return b"\x8c" + bytes([len(data)]) + data  # SHORT_BINUNICODE

    return b"\x80\x04" + text(module) + text(name) + b"\x93" + text("x") + b"\x85R."


def test_every_snapshot_of_a_real_run_loads(recorded: tuple[Path, Engine]) -> None:
    conn = connect_reader(recorded[0])
    rows = list(read_snapshots(conn))
    conn.close()
    assert rows
    for row in rows:
        engine = load_engine(row.engine, seq=row.seq)
        assert state_digest(engine) == state_digest(pickle.loads(row.engine))
    # Which build read them (the compiled classes pickle by their mmfsm.core module path).
    assert type(engine).__module__ == "mmfsm.core.engine", native.build()


def test_a_fresh_engine_round_trips(recorded: tuple[Path, Engine]) -> None:
    engine = recorded[1]
    restored = load_engine(pickle.dumps(engine, protocol=5), seq=1)
    assert state_digest(restored) == state_digest(engine)


def test_a_blob_that_runs_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "owned"
    with pytest.raises(BadRecord, match=r"record 42: the snapshot blob names posix\.system"):
        load_engine(evil_blob(marker), seq=42)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("builtins", "eval"),
        ("os", "system"),
        ("mmfsm.ops.redact", "Redactor"),  # the project's, but not the core's
        ("mmfsm.core.codec", "loads"),  # the core's, but a function
        ("mmfsm.core.config", "tomllib.loads"),  # reached through a module's imports
        ("mmfsm.core.engine", "__builtins__"),
        ("mmfsm.core.config", "Decimal"),  # allowed as decimal.Decimal, not via the core
    ],
)
def test_only_the_cores_classes_are_resolved(module: str, name: str) -> None:
    with pytest.raises(BadRecord, match=rf"record 7: .*names {module}\.{name}.*refused"):
        load_engine(_stack_global(module, name), seq=7)


def test_a_blob_that_is_not_an_engine_is_refused() -> None:
    with pytest.raises(BadRecord, match="record 3: the snapshot blob holds a list"):
        load_engine(pickle.dumps([1, 2]), seq=3)
    with pytest.raises(BadRecord, match="record 3: the snapshot blob does not load"):
        load_engine(b"\x80\x05garbage", seq=3)


def test_the_writer_reads_a_snapshot_back_as_recovery_will(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A snapshot the restricted unpickler refuses is never stored, and never run."""
    marker = tmp_path / "owned"
    log = AuditLog(tmp_path / "a.sqlite", sync=Sync.NORMAL)
    config = default_config()
    log.genesis(config, T0)
    blob = evil_blob(marker)
    monkeypatch.setattr("mmfsm.audit.log.pickle.dumps", lambda *_a, **_k: blob)
    with pytest.raises(AuditError, match=r"engine snapshot failed: .*posix\.system"):
        log.snapshot(Engine(config))
    monkeypatch.undo()
    log.close(None)
    assert not marker.exists()
    conn = connect_reader(tmp_path / "a.sqlite")
    assert not list(read_snapshots(conn))
    conn.close()
