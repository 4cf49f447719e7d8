"""Tampering of every kind is detected, and verify names the first bad record."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from audit_helpers import records, rewrite

from mmfsm.audit.chain import chain_hash
from mmfsm.audit.store import connect_reader
from mmfsm.audit.verify import verify, verify_chain, verify_path
from mmfsm.cli import main


def _rehash_from(rows: list[dict[str, Any]], start: int) -> list[dict[str, Any]]:
    """Recompute hashes and links from index ``start`` on: a forger who knows the scheme."""
    for i in range(start, len(rows)):
        row = rows[i]
        row["prev_hash"] = rows[i - 1]["hash"] if i else "0" * 64
        row["hash"] = chain_hash(
            seq=row["seq"],
            step=row["step"],
            kind=row["kind"],
            ts_ms=row["ts_ms"],
            wall_ms=row["wall_ms"],
            config_hash=row["config_hash"],
            body=row["body"],
            prev_hash=row["prev_hash"],
        )
    return rows


def _command_index(rows: list[dict[str, Any]], after: int = 100) -> int:
    return next(
        i
        for i, r in enumerate(rows)
        if i > after and r["kind"] == "command" and "Place" in r["body"]
    )


def test_an_untouched_log_verifies(recorded: tuple[Path, object]) -> None:
    report = verify_path(recorded[0])
    assert report.ok, report.problem
    rows = records(recorded[0])
    assert report.records == len(rows)
    assert (report.last_seq, report.last_hash) == (rows[-1].seq, rows[-1].hash)


def test_an_edited_record_is_named(fresh_copy: Path) -> None:
    rows = records(fresh_copy)
    i = _command_index([r.as_json() | {"body": r.body} for r in rows])
    target = rows[i].seq

    def edit(rs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rs[i]["body"] = rs[i]["body"].replace('"size":', '"size":1')
        return rs

    rewrite(fresh_copy, edit)
    problem = verify_path(fresh_copy).problem
    assert problem is not None
    assert problem.seq == target
    assert "altered" in problem.message


def test_an_edited_and_rehashed_record_is_named(fresh_copy: Path) -> None:
    rows = [r.as_json() | {"body": r.body} for r in records(fresh_copy)]
    i = _command_index(rows)

    def edit(rs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rs[i]["body"] = rs[i]["body"].replace('"size":', '"size":1')
        rs[i]["hash"] = _rehash_from(rs[: i + 1], i)[i]["hash"]
        return rs

    rewrite(fresh_copy, edit)
    problem = verify_path(fresh_copy).problem
    assert problem is not None
    assert problem.seq == rows[i]["seq"]
    assert "rewritten" in problem.message


def test_a_deleted_record_is_named(fresh_copy: Path) -> None:
    rows = records(fresh_copy)
    gone = rows[500].seq
    rewrite(fresh_copy, lambda rs: [r for r in rs if r["seq"] != gone])
    problem = verify_path(fresh_copy).problem
    assert problem is not None
    assert problem.seq == gone
    assert "missing" in problem.message


def test_a_deleted_tail_is_caught_by_the_head(fresh_copy: Path) -> None:
    rows = records(fresh_copy)
    keep = rows[-10].seq
    rewrite(fresh_copy, lambda rs: [r for r in rs if r["seq"] < keep])
    problem = verify_path(fresh_copy).problem
    assert problem is not None
    assert problem.seq == keep
    assert "tail was deleted" in problem.message


def test_a_deleted_tail_with_a_forged_head_is_caught_by_an_anchor(fresh_copy: Path) -> None:
    rows = records(fresh_copy)
    anchor = (rows[-1].seq, rows[-1].hash)  # what the operator noted from a verify run
    keep = rows[-10].seq
    rewrite(fresh_copy, lambda rs: [r for r in rs if r["seq"] < keep])
    conn = sqlite3.connect(fresh_copy)
    with conn:
        conn.execute("DELETE FROM snapshots WHERE seq >= ?", (keep,))
        conn.execute("UPDATE meta SET value = ? WHERE key = 'head_seq'", (str(keep - 1),))
        conn.execute("UPDATE meta SET value = ? WHERE key = 'head_hash'", (rows[keep - 2].hash,))
    conn.close()
    assert verify_path(fresh_copy).ok  # the chain alone cannot tell
    problem = verify_path(fresh_copy, expect=anchor).problem
    assert problem is not None
    assert problem.seq == keep


def test_an_inserted_record_is_named(fresh_copy: Path) -> None:
    rows = [r.as_json() | {"body": r.body} for r in records(fresh_copy)]
    i = _command_index(rows)

    def insert(rs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        forged = dict(rs[i])
        forged["body"] = forged["body"].replace('"size":', '"size":9')
        out = [*rs[:i], forged, *rs[i:]]
        for n, row in enumerate(out[i:], start=i):
            row["seq"] = n + 1
        # The forged record is chained properly to its predecessor; the rest is left.
        _rehash_from(out[: i + 1], i)
        return out

    rewrite(fresh_copy, insert)
    problem = verify_path(fresh_copy).problem
    assert problem is not None
    # The record after it still hashes as written one place earlier: it was pushed down.
    assert problem.seq == rows[i]["seq"]
    assert "inserted" in problem.message


def test_an_inserted_record_with_renumbered_successors_is_named(fresh_copy: Path) -> None:
    rows = [r.as_json() | {"body": r.body} for r in records(fresh_copy)]
    i = _command_index(rows)

    def insert(rs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        forged = dict(rs[i])
        forged["body"] = forged["body"].replace('"size":', '"size":9')
        out = rs[:i] + [forged] + [dict(r) for r in rs[i:]]
        for n, row in enumerate(out[i:], start=i):
            row["seq"] = n + 1
        # A careful forger re-hashes everything after the insertion but the links.
        _rehash_from(out[: i + 1], i)
        for row in out[i + 1 :]:
            row["hash"] = chain_hash(
                seq=row["seq"],
                step=row["step"],
                kind=row["kind"],
                ts_ms=row["ts_ms"],
                wall_ms=row["wall_ms"],
                config_hash=row["config_hash"],
                body=row["body"],
                prev_hash=row["prev_hash"],
            )
        return out

    rewrite(fresh_copy, insert)
    problem = verify_path(fresh_copy).problem
    assert problem is not None
    assert problem.seq == rows[i]["seq"]
    assert "inserted" in problem.message


def test_reordered_records_are_named(fresh_copy: Path) -> None:
    rows = records(fresh_copy)
    a, b = rows[700].seq, rows[701].seq

    def swap(rs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for r in rs:
            if r["seq"] == a:
                r["seq"] = b
            elif r["seq"] == b:
                r["seq"] = a
        return sorted(rs, key=lambda r: r["seq"])

    rewrite(fresh_copy, swap)
    problem = verify_path(fresh_copy).problem
    assert problem is not None
    assert problem.seq == a
    assert f"written as {b}" in problem.message


def test_a_fully_reforged_chain_still_fails_replay_or_an_anchor(fresh_copy: Path) -> None:
    rows = [r.as_json() | {"body": r.body} for r in records(fresh_copy)]
    anchor = (rows[-1]["seq"], rows[-1]["hash"])
    i = _command_index(rows)

    def forge(rs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rs[i]["body"] = rs[i]["body"].replace('"size":', '"size":1')
        return _rehash_from(rs, i)

    rewrite(fresh_copy, forge)
    conn = sqlite3.connect(fresh_copy)
    with conn:
        conn.execute(
            "UPDATE meta SET value = ? WHERE key = 'head_hash'", (records(fresh_copy)[-1].hash,)
        )
    conn.close()
    assert verify_path(fresh_copy).ok
    problem = verify_path(fresh_copy, expect=anchor).problem
    assert problem is not None
    assert problem.seq == anchor[0]
    assert main(["audit", "replay", str(fresh_copy)]) == 1


def test_an_altered_snapshot_is_named(fresh_copy: Path) -> None:
    conn = sqlite3.connect(fresh_copy)
    seq = conn.execute("SELECT MIN(seq) FROM snapshots").fetchone()[0]
    with conn:
        conn.execute("UPDATE snapshots SET engine = engine || x'00' WHERE seq = ?", (seq,))
    conn.close()
    problem = verify_path(fresh_copy).problem
    assert problem is not None
    assert problem.seq == seq
    assert "snapshot" in problem.message


def test_an_undecodable_body_is_named(fresh_copy: Path) -> None:
    rows = [r.as_json() | {"body": r.body} for r in records(fresh_copy)]
    i = next(n for n, r in enumerate(rows) if n > 50 and r["kind"] == "event")

    def garble(rs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rs[i]["body"] = '{"type":"Nonsense"}'
        return _rehash_from(rs, i)

    rewrite(fresh_copy, garble)
    conn = sqlite3.connect(fresh_copy)
    with conn:
        conn.execute(
            "UPDATE meta SET value = ? WHERE key = 'head_hash'", (records(fresh_copy)[-1].hash,)
        )
    conn.close()
    problem = verify_path(fresh_copy).problem
    assert problem is not None
    assert problem.seq == rows[i]["seq"]
    assert verify_path(fresh_copy, decode=False).ok


@pytest.mark.parametrize("tampered", [False, True])
def test_the_cli_exit_status_and_message(
    fresh_copy: Path, tampered: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    if tampered:
        rewrite(fresh_copy, lambda rs: [r for r in rs if r["seq"] != 42])
    code = main(["audit", "verify", str(fresh_copy)])
    out = capsys.readouterr().out
    if tampered:
        assert code == 1
        assert "record 42: missing" in out
    else:
        assert code == 0
        assert out.startswith("OK:")


@pytest.mark.parametrize("tamper", ["none", "edit", "delete", "tail", "blob", "kind"])
def test_the_hash_only_walk_agrees_with_verify(fresh_copy: Path, tamper: str) -> None:
    """``verify_chain`` (recovery's check at every start) finds what ``verify`` finds."""
    rows = records(fresh_copy)
    target = rows[700].seq

    def change(rs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if tamper == "edit":
            rs[700]["body"] = rs[700]["body"].replace("1", "2", 1)
        elif tamper == "delete":
            del rs[700]
        elif tamper == "tail":
            del rs[-1]
        elif tamper == "kind":
            rs[700]["kind"] = "bogus"
        return rs

    if tamper == "blob":
        conn = sqlite3.connect(fresh_copy)
        with conn:
            conn.execute(
                "UPDATE snapshots SET engine = zeroblob(8) WHERE seq = "
                "(SELECT MIN(seq) FROM snapshots)"
            )
        conn.close()
    elif tamper != "none":
        rewrite(fresh_copy, change)
    conn = connect_reader(fresh_copy)
    fast, full = verify_chain(conn), verify(conn, decode=False)
    conn.close()
    assert fast == full
    assert fast.ok == (tamper == "none")
    if tamper in ("edit", "delete", "kind"):
        assert fast.problem is not None
        assert fast.problem.seq == target
