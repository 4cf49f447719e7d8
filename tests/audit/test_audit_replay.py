"""Replay reproduces every recorded decision; a snapshot decides exactly as a replay does."""

from __future__ import annotations

import pickle
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from audit_helpers import records, rewrite

from mmfsm.audit.chain import chain_hash
from mmfsm.audit.replay import engine_from_genesis, replay, replay_conn, state_digest
from mmfsm.audit.store import connect_reader, read_records, read_snapshots
from mmfsm.cli import main
from mmfsm.core import codec
from mmfsm.core.engine import Engine


def test_replay_reproduces_every_decision(recorded: tuple[Path, Engine]) -> None:
    path, engine = recorded
    conn = connect_reader(path)
    report = replay_conn(conn)
    conn.close()
    assert report.ok, report.first
    assert report.events > 1000
    assert report.snapshots_checked >= 2
    # The run it replayed is not a quiet one: it quoted, filled, and tripped the breaker.
    bodies = [r.body for r in records(path)]
    assert any('"type":"Place"' in b for b in bodies)
    assert any('"type":"Trade"' in b for b in bodies)
    assert any('"type":"CancelAll"' in b and "daily loss" in b for b in bodies)
    assert engine.bot.state == "halted"
    assert state_digest(report.engine) == state_digest(engine)


def test_replay_cli(recorded: tuple[Path, Engine], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "replay", str(recorded[0])]) == 0
    out = capsys.readouterr().out
    assert "every transition and command matches" in out
    said = re.search(r"(\d+) (snapshots? match(?:es)?) the replayed state", out)
    assert said is not None, out
    assert said[2] == ("snapshot matches" if said[1] == "1" else "snapshots match")


def test_replay_names_the_first_divergence(fresh_copy: Path) -> None:
    rows = [r.as_json() | {"body": r.body} for r in records(fresh_copy)]
    i = next(n for n, r in enumerate(rows) if n > 200 and '"type":"Place"' in r["body"])
    original = rows[i]["body"]

    def forge(rs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rs[i]["body"] = original.replace('"size":', '"size":1')
        for n in range(i, len(rs)):
            rs[n]["prev_hash"] = rs[n - 1]["hash"]
            rs[n]["hash"] = chain_hash(
                **{k: rs[n][k] for k in ("seq", "step", "kind", "ts_ms", "wall_ms")},
                config_hash=rs[n]["config_hash"],
                body=rs[n]["body"],
                prev_hash=rs[n]["prev_hash"],
            )
        return rs

    rewrite(fresh_copy, forge)
    conn = connect_reader(fresh_copy)
    report = replay_conn(conn)
    conn.close()
    assert report.first is not None
    assert report.first.seq == rows[i]["seq"]
    assert report.first.got == original
    assert report.first.expected is not None
    assert report.first.expected != original
    assert "first divergence at record" in str(report.first)


def test_a_restored_snapshot_decides_as_the_replayed_engine(recorded: tuple[Path, Engine]) -> None:
    conn = connect_reader(recorded[0])
    snapshot = next(iter(read_snapshots(conn, newest_first=False)))
    every = list(read_records(conn))
    conn.close()
    before = [r for r in every if r.seq < snapshot.seq]
    after = [r for r in every if r.seq > snapshot.seq and r.kind == "event"][:1500]
    assert len(after) == 1500

    replayed = replay(before).engine
    restored = pickle.loads(snapshot.engine)
    assert isinstance(restored, Engine)
    assert state_digest(restored) == state_digest(replayed)
    for record in after:
        event = codec.loads(record.body)
        a, b = replayed.step(event), restored.step(event)
        assert [codec.dumps(c) for c in a.commands] == [codec.dumps(c) for c in b.commands]
        assert [codec.dumps(t) for t in a.transitions] == [codec.dumps(t) for t in b.transitions]
    assert state_digest(restored) == state_digest(replayed)


def test_state_digest_sees_a_difference(recorded: tuple[Path, Engine]) -> None:
    conn = connect_reader(recorded[0])
    genesis = next(read_records(conn))
    conn.close()
    a, b = engine_from_genesis(genesis), engine_from_genesis(genesis)
    assert state_digest(a) == state_digest(b)
    b.realized_today -= 1
    assert state_digest(a) != state_digest(b)


def test_replay_flags_a_snapshot_that_does_not_match(fresh_copy: Path) -> None:
    conn = sqlite3.connect(fresh_copy)
    seq, blob = conn.execute("SELECT seq, engine FROM snapshots ORDER BY seq LIMIT 1").fetchone()
    engine = pickle.loads(blob)
    engine.realized_today += 1  # a snapshot of a state the events never produced
    conn.close()
    report = replay(records(fresh_copy), snapshots={int(seq): pickle.dumps(engine)})
    assert report.first is not None
    assert report.first.seq == seq
