"""Replay reproduces every recorded decision; a snapshot decides exactly as a replay does."""

from __future__ import annotations

import json
import pickle
import re
import sqlite3
from pathlib import Path
from typing import Any

import attrs
import pytest
from audit_helpers import evil_blob, forge, put_blob, records, rewrite, snapshot_seqs, vouch

from mmfsm.audit.chain import chain_hash
from mmfsm.audit.replay import (
    engine_from_genesis,
    replay,
    replay_conn,
    replay_path,
    state_digest,
)
from mmfsm.audit.store import (
    AuditError,
    BadRecord,
    connect_reader,
    read_records,
    read_snapshots,
    reading,
)
from mmfsm.audit.verify import verify_path
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
    # A forger who rehashed the chain rewrites its head too: the chain verifies, and only
    # replaying the events shows that the decision is not the Engine's.
    head = records(fresh_copy)[-1].hash
    conn = sqlite3.connect(fresh_copy)
    with conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'head_hash'", (head,))
    conn.close()
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
    forged = pickle.dumps(engine)
    # Its record vouches for it (as if the forger rewrote the record as well): the blob is
    # loaded, and its state is not the replayed one.
    rows = [
        attrs.evolve(r, body=vouch(r.body, forged)) if r.seq == seq else r
        for r in records(fresh_copy)
    ]
    report = replay(rows, snapshots={int(seq): forged})
    assert report.first is not None
    assert report.first.seq == seq


def _newest_snapshot(path: Path) -> int:
    return snapshot_seqs(path)[-1]


def test_replay_never_unpickles_a_blob_its_record_does_not_vouch_for(
    fresh_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "owned"
    seq = _newest_snapshot(fresh_copy)
    put_blob(fresh_copy, seq, evil_blob(marker))
    with pytest.raises(BadRecord, match=f"record {seq}: the snapshot blob does not match"):
        replay_path(fresh_copy)
    assert main(["audit", "replay", str(fresh_copy)]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert out == [
        f"TAMPERED or damaged: record {seq}: the snapshot blob does not match "
        "its record (nothing replayed)"
    ]
    assert not marker.exists()


def test_replay_refuses_a_crafted_blob_even_in_a_forged_chain(
    fresh_copy: Path, tmp_path: Path
) -> None:
    """The forger rewrites the snapshot record to vouch for the blob and rehashes the whole
    chain: the chain verifies, and the unpickler still builds nothing but an Engine."""
    marker = tmp_path / "owned"
    seq = _newest_snapshot(fresh_copy)
    blob = evil_blob(marker)
    put_blob(fresh_copy, seq, blob)

    def change(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        row = next(r for r in rows if r["seq"] == seq)
        row["body"] = vouch(row["body"], blob)
        return rows

    forge(fresh_copy, change)
    assert verify_path(fresh_copy).ok
    with pytest.raises(BadRecord, match=f"record {seq}: the snapshot blob names posix.system"):
        replay_path(fresh_copy)
    assert not marker.exists()


@pytest.mark.parametrize("tamper", ["last record deleted", "head deleted", "kind changed"])
def test_replay_refuses_a_log_that_does_not_verify(
    fresh_copy: Path, tamper: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = records(fresh_copy)
    if tamper == "last record deleted":
        bad = rows[-1].seq
        rewrite(fresh_copy, lambda rs: rs[:-1])
    elif tamper == "head deleted":
        bad = rows[-1].seq
        conn = sqlite3.connect(fresh_copy)
        with conn:
            conn.execute("DELETE FROM meta WHERE key IN ('head_seq', 'head_hash')")
        conn.close()
    else:
        bad = next(r.seq for r in rows if r.kind == "event" and r.seq > 300)

        def bogus(rs: list[dict[str, Any]]) -> list[dict[str, Any]]:
            rs[bad - 1]["kind"] = "bogus"
            return rs

        rewrite(fresh_copy, bogus)
    with pytest.raises(BadRecord, match=f"record {bad}: .*nothing replayed"):
        replay_path(fresh_copy)
    assert main(["audit", "replay", str(fresh_copy)]) == 1
    assert capsys.readouterr().out.startswith(f"TAMPERED or damaged: record {bad}: ")


def test_replay_refuses_an_unknown_kind_it_is_given(recorded: tuple[Path, Engine]) -> None:
    """Even past verification (``replay`` takes its records as they come): skipping a
    record of an unknown kind would replay a log with an event taken out and call it OK."""
    rows = records(recorded[0])
    bad = next(r.seq for r in rows if r.kind == "event" and r.seq > 300)
    rows[bad - 1] = attrs.evolve(rows[bad - 1], kind="bogus")
    with pytest.raises(BadRecord, match=f"record {bad}: unknown kind 'bogus'"):
        replay(rows)


def test_replay_names_the_record_whose_body_does_not_decode(fresh_copy: Path) -> None:
    rows = records(fresh_copy)
    bad = next(r.seq for r in rows if r.kind == "event" and r.seq > 300)

    def garble(rs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rs[bad - 1]["body"] = "{not json"
        return rs

    forge(fresh_copy, garble)  # a chain that verifies without decoding bodies
    with pytest.raises(BadRecord, match=f"record {bad}: body does not decode"):
        replay_path(fresh_copy)


def test_a_dropped_table_is_one_line_naming_the_file(
    fresh_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conn = sqlite3.connect(fresh_copy)
    with conn:
        conn.execute("DROP TABLE snapshots")
    conn.close()
    for command in ("verify", "replay"):
        assert main(["audit", command, str(fresh_copy)]) == 2
        captured = capsys.readouterr()
        assert captured.err.strip().splitlines() == [
            f"mmfsm audit: {fresh_copy}: not an mmfsm audit log (no such table: snapshots)"
        ]
        assert "Traceback" not in captured.out + captured.err


def test_a_table_dropped_under_a_reader_is_an_audit_error(fresh_copy: Path) -> None:
    def drop_and_replay(conn: sqlite3.Connection) -> None:
        other = sqlite3.connect(fresh_copy)
        with other:
            other.execute("DROP TABLE snapshots")
        other.close()
        replay_conn(conn)

    with (
        pytest.raises(AuditError, match=f"{fresh_copy}: the audit log cannot be read"),
        reading(fresh_copy) as conn,
    ):
        drop_and_replay(conn)


def test_a_snapshot_of_other_code_is_skipped_not_loaded(fresh_copy: Path) -> None:
    seq = snapshot_seqs(fresh_copy)[-1]

    def other_code(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        data = json.loads(rows[seq - 1]["body"])
        data["code"] = "0" * 64
        rows[seq - 1]["body"] = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return rows

    forge(fresh_copy, other_code)
    report = replay_path(fresh_copy)
    assert report.ok, report.first
    assert report.snapshots_skipped == 1
    assert report.snapshots_checked >= 1
