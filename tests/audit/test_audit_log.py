"""The writer: write-ahead ordering, group commit, the chain, locking, append-only."""

from __future__ import annotations

import itertools
import sqlite3
import stat
from pathlib import Path

import pytest
from audit_helpers import records

from mmfsm.audit.chain import GENESIS_PREV
from mmfsm.audit.log import AuditLog, Sync, must_be_durable
from mmfsm.audit.store import AuditError, connect_reader, read_head
from mmfsm.core import codec
from mmfsm.core.commands import Place
from mmfsm.core.config import default_config
from mmfsm.core.engine import Engine, Step
from mmfsm.core.events import (
    BookSnapshot,
    ClockTick,
    MarketListed,
    OperatorHalt,
    OrderAcked,
    Trade,
    TradeStatus,
)
from mmfsm.core.ticks import Side, TickSize
from mmfsm.harness import T0, levels


def _listed(ts: int = T0) -> MarketListed:
    return MarketListed(
        ts_ms=ts, market="m1", yes_token="m1-yes", no_token="m1-no", tick=TickSize.CENT, min_size=0
    )


def _book(ts: int) -> BookSnapshot:
    return BookSnapshot(
        ts_ms=ts,
        market="m1",
        token="m1-yes",
        bids=levels([("0.48", "100")]),
        asks=levels([("0.52", "100")]),
    )


def _quote(log: AuditLog, engine: Engine) -> Step:
    """List m1, give it a book, let the gap recovery pass: the last step places quotes."""
    log.step(engine, _listed())
    log.step(engine, _book(T0 + 1))
    return log.step(engine, ClockTick(ts_ms=T0 + 1 + engine.config.risk.gap_recovery_ms))


def _committed_bodies(path: Path) -> list[str]:
    conn = connect_reader(path)
    try:
        return [str(b) for (b,) in conn.execute("SELECT body FROM records ORDER BY seq")]
    finally:
        conn.close()


def _open(tmp_path: Path, **kwargs: object) -> tuple[AuditLog, Engine]:
    log = AuditLog(tmp_path / "a.sqlite", **kwargs)  # type: ignore[arg-type]
    log.genesis(default_config(), T0)
    return log, Engine(default_config())


def test_a_step_with_venue_commands_is_durable_before_step_returns(tmp_path: Path) -> None:
    log, engine = _open(tmp_path, batch_steps=1000, batch_ms=10**9)
    step = _quote(log, engine)
    places = [c for c in step.commands if isinstance(c, Place)]
    assert places, "the Engine should quote once the book has been good for a while"
    # What a venue adapter would do next is send them; a reader must already see them.
    on_disk = _committed_bodies(tmp_path / "a.sqlite")
    for place in places:
        assert codec.dumps(place) in on_disk
    log.close(engine)


def test_quiet_steps_wait_for_the_next_durable_one(tmp_path: Path) -> None:
    log, engine = _open(tmp_path, batch_steps=1000, batch_ms=10**9)
    tick = ClockTick(ts_ms=T0 + 5)
    assert not log.step(engine, tick).commands
    assert codec.dumps(tick) not in _committed_bodies(tmp_path / "a.sqlite")
    log.step(engine, OperatorHalt(ts_ms=T0 + 6, reason="test"))  # durable: carries it along
    bodies = _committed_bodies(tmp_path / "a.sqlite")
    assert bodies.index(codec.dumps(tick)) < bodies.index(
        codec.dumps(OperatorHalt(ts_ms=T0 + 6, reason="test"))
    )
    log.close(engine)


def test_batches_commit_by_count(tmp_path: Path) -> None:
    log, engine = _open(tmp_path, batch_steps=3, batch_ms=10**9)
    durable: list[bool] = []
    log.on_commit.append(lambda _s, d: durable.append(d))
    for i in range(3):
        log.step(engine, ClockTick(ts_ms=T0 + i))
    assert len(_committed_bodies(tmp_path / "a.sqlite")) == 1 + 3
    assert durable == [False]  # nothing waits for it: no fsync
    assert log.connection.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL again
    log.close()


def test_flush_commits_what_is_staged(tmp_path: Path) -> None:
    log, engine = _open(tmp_path, batch_steps=1000, batch_ms=10**9)
    log.step(engine, ClockTick(ts_ms=T0 + 1))
    log.flush()
    assert len(_committed_bodies(tmp_path / "a.sqlite")) == 2
    log.close()


def test_durability_classification() -> None:
    engine = Engine(default_config())
    quiet = Step(commands=(), transitions=())
    assert not must_be_durable(ClockTick(ts_ms=T0), quiet)
    assert not must_be_durable(OrderAcked(ts_ms=T0, client_id="x"), quiet)
    assert must_be_durable(OperatorHalt(ts_ms=T0, reason="r"), quiet)
    trade = Trade(
        ts_ms=T0,
        trade_id="t",
        client_id="c",
        market="m1",
        token="m1-yes",
        side=Side.BUY,
        price=5000,
        size=1,
        status=TradeStatus.MATCHED,
    )
    assert must_be_durable(trade, quiet)
    engine.step(_listed())
    engine.step(_book(T0 + 1))
    tick = ClockTick(ts_ms=T0 + 1 + engine.config.risk.gap_recovery_ms)
    step = engine.step(tick)
    assert any(isinstance(c, Place) for c in step.commands)
    assert must_be_durable(tick, step)


def test_records_form_a_chain_with_steps(tmp_path: Path) -> None:
    log, engine = _open(tmp_path)
    _quote(log, engine)
    log.close(engine)
    rows = records(tmp_path / "a.sqlite")
    assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
    assert rows[0].kind == "genesis"
    assert rows[0].prev_hash == GENESIS_PREV
    for before, after in itertools.pairwise(rows):
        assert after.prev_hash == before.hash
        assert after.hash == after.computed_hash()
    quoting = next(r for r in rows if r.kind == "command" and '"Place"' in r.body)
    in_step = [r.kind for r in rows if r.step == quoting.step]
    assert in_step[0] == "event"
    assert "command" in in_step
    assert in_step == sorted(in_step, key=["event", "transition", "command"].index)
    assert rows[-1].kind == "stop"
    assert rows[-2].kind == "snapshot"
    conn = connect_reader(tmp_path / "a.sqlite")
    assert read_head(conn) == (rows[-1].seq, rows[-1].hash)
    conn.close()


def test_one_writer_at_a_time(tmp_path: Path) -> None:
    log, _ = _open(tmp_path)
    with pytest.raises(AuditError, match="another mmfsm process"):
        AuditLog(tmp_path / "a.sqlite")
    log.close()
    AuditLog(tmp_path / "a.sqlite").close()


def test_a_log_readable_by_others_is_made_private_on_open(tmp_path: Path) -> None:
    log, _ = _open(tmp_path)
    log.close()
    path = tmp_path / "a.sqlite"
    wal = tmp_path / "a.sqlite-wal"
    wal.touch()
    for part in (path, wal):
        part.chmod(0o644)  # as a copy or another tool may leave it
    AuditLog(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    if wal.exists():
        assert stat.S_IMODE(wal.stat().st_mode) == 0o600


def test_records_are_append_only_and_private(tmp_path: Path) -> None:
    log, _ = _open(tmp_path)
    log.close()
    path = tmp_path / "a.sqlite"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    conn = sqlite3.connect(path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE records SET body = 'x'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM records")
    conn.close()


def test_genesis_only_on_an_empty_log(tmp_path: Path) -> None:
    log, _ = _open(tmp_path)
    with pytest.raises(AuditError, match="genesis"):
        log.genesis(default_config(), T0)
    log.close()


def test_a_failed_commit_stops_everything(tmp_path: Path) -> None:
    log, engine = _open(tmp_path)
    log.step(engine, _listed())
    log.connection.execute("DROP TABLE records")  # the disk is gone, as far as we know
    with pytest.raises(AuditError, match="commit failed"):
        log.step(engine, OperatorHalt(ts_ms=T0 + 1, reason="test"))
    assert log.broken is not None
    with pytest.raises(AuditError, match="unusable"):
        log.step(engine, ClockTick(ts_ms=T0 + 2))
    log.close(engine)  # no snapshot of an Engine the log does not match


@pytest.mark.parametrize("sync", list(Sync))
def test_both_sync_modes_and_commit_callbacks(tmp_path: Path, sync: Sync) -> None:
    log, engine = _open(tmp_path, sync=sync)
    seen: list[tuple[float, bool]] = []
    log.on_commit.append(lambda s, d: seen.append((s, d)))
    log.step(engine, OperatorHalt(ts_ms=T0 + 1, reason="test"))
    assert seen
    assert seen[-1][1] is True
    mode = log.connection.execute("PRAGMA synchronous").fetchone()[0]
    assert mode == {Sync.FULL: 2, Sync.NORMAL: 1}[sync]
    assert log.connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    log.close(engine)


def test_a_snapshot_that_cannot_be_made_never_stops_trading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log, engine = _open(tmp_path, snapshot_every=2)

    def refuse(*_args: object, **_kwargs: object) -> bytes:
        raise TypeError("cannot pickle 'socket' object")

    monkeypatch.setattr("mmfsm.audit.log.pickle.dumps", refuse)
    for i in range(5):
        log.step(engine, ClockTick(ts_ms=T0 + i))
    assert log.stats.snapshot_failures == 2
    assert log.stats.snapshots == 0
    assert log.broken is None
    monkeypatch.undo()
    log.close(engine)
    assert log.stats.snapshots == 1


def test_a_step_the_log_cannot_encode_stops_everything(tmp_path: Path) -> None:
    log, _ = _open(tmp_path)
    bogus = Step(commands=(object(),), transitions=())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cannot encode"):
        log.record(ClockTick(ts_ms=T0), bogus, before="", after="")
    assert log.broken is not None
    log.close()
