"""Crash recovery: at every point of the write-ahead sequence, and across restarts."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from audit_helpers import (
    BREAKER,
    evil_blob,
    forge,
    put_blob,
    quiet,
    records,
    rewrite,
    snapshot_seqs,
    vouch,
)

from mmfsm.audit.log import AuditLog, must_be_durable
from mmfsm.audit.recovery import VenueOrder, open_for_run, reconcile, recover
from mmfsm.audit.replay import state_digest
from mmfsm.audit.store import AuditError, BadRecord, connect_reader
from mmfsm.audit.verify import verify_path
from mmfsm.core import codec
from mmfsm.core.commands import Cancel, Place
from mmfsm.core.config import parse_config_text
from mmfsm.core.engine import Engine
from mmfsm.core.events import ClockTick, Event, OperatorHalt, OperatorResume, OrderCancelled
from mmfsm.core.orders import OrderStatus
from mmfsm.harness import T0
from mmfsm.ops.services import Services
from mmfsm.runner import run_synthetic

DAY_MS = 86_400_000

CHILD = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path
    from mmfsm.audit.log import AuditLog
    from mmfsm.core import codec
    from mmfsm.core.config import parse_config_text
    from mmfsm.core.engine import Engine

    path, events_file, point, crash_step = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    config = parse_config_text(os.environ["CHILD_CONFIG"])
    events = [codec.loads(line) for line in open(events_file)]
    state = {"steps": 0, "committed": 0}

    def fault(hit):
        if hit == point and state["steps"] >= crash_step:
            print(json.dumps(state), flush=True)
            os._exit(137)  # no cleanup of any kind: as kill -9

    log = AuditLog(Path(path), fault=fault, snapshot_every=400, batch_steps=10**6, batch_ms=10**9)
    log.on_commit.append(lambda s, d: state.update(committed=state["steps"]))
    log.genesis(config, int(os.environ["CHILD_T0"]))
    engine = Engine(config)
    for event in events:
        state["steps"] += 1
        log.step(engine, event)
    print(json.dumps(state), flush=True)
    """
)


@pytest.fixture(scope="module")
def stream(recorded: tuple[Path, Engine]) -> list[Event]:
    """The first 1200 input events of the recorded run (quotes, fills, the breaker)."""
    return [codec.loads(r.body) for r in records(recorded[0]) if r.kind == "event"][:1200]


@pytest.fixture(scope="module")
def reference(stream: list[Event]) -> list[tuple[bool, bool]]:
    """Per step of ``stream``: (must be durable, places orders)."""
    engine = Engine(parse_config_text(BREAKER))
    out = []
    for event in stream:
        step = engine.step(event)
        places = any(isinstance(c, Place) for c in step.commands)
        out.append((must_be_durable(event, step), places))
    return out


def _engine_after(events: list[Event]) -> Engine:
    engine = Engine(parse_config_text(BREAKER))
    for event in events:
        engine.step(event)
    return engine


def _crash(tmp_path: Path, stream: list[Event], point: str, at_step: int) -> dict[str, int]:
    events_file = tmp_path / "events.jsonl"
    events_file.write_text("".join(codec.dumps(e) + "\n" for e in stream))
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = os.environ | {"CHILD_CONFIG": BREAKER, "CHILD_T0": str(T0)}
    done = subprocess.run(
        [
            sys.executable,
            str(script),
            str(tmp_path / "a.sqlite"),
            str(events_file),
            point,
            str(at_step),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 137, done.stderr
    state: dict[str, int] = json.loads(done.stdout.strip().splitlines()[-1])
    return state


def _recover(path: Path) -> Any:
    assert verify_path(path).ok, verify_path(path).problem
    conn = connect_reader(path)
    try:
        return recover(conn)
    finally:
        conn.close()


def test_crash_before_commit_of_a_durable_step(
    tmp_path: Path, stream: list[Event], reference: list[tuple[bool, bool]]
) -> None:
    """The event and its decisions were written but not committed: none of it happened."""
    s = next(i + 1 for i, (durable, places) in enumerate(reference) if places and i > 150)
    state = _crash(tmp_path, stream, "staged", s)
    assert state["steps"] == s
    assert state["committed"] < s
    recovered = _recover(tmp_path / "a.sqlite")
    assert state_digest(recovered.engine) == state_digest(
        _engine_after(stream[: state["committed"]])
    )
    assert recovered.divergences == 0
    # Nothing of the lost step is in the log, so none of its commands can have been sent.
    assert records(tmp_path / "a.sqlite")[-1].seq == recovered.last_seq


def test_crash_mid_batch_loses_only_quiet_steps(
    tmp_path: Path, stream: list[Event], reference: list[tuple[bool, bool]]
) -> None:
    s = next(
        i + 1
        for i in range(150, len(reference))
        if not reference[i][0] and not reference[i - 1][0] and not reference[i - 2][0]
    )
    state = _crash(tmp_path, stream, "staged", s)
    assert state["committed"] <= s - 3  # at least two staged quiet steps went with it
    lost = range(state["committed"], s)
    assert not any(reference[i][0] for i in lost), "only steps that need no durability"
    recovered = _recover(tmp_path / "a.sqlite")
    assert state_digest(recovered.engine) == state_digest(
        _engine_after(stream[: state["committed"]])
    )


def test_crash_after_commit_before_send_is_reconciled(
    tmp_path: Path, stream: list[Event], reference: list[tuple[bool, bool]]
) -> None:
    """Committed, never sent: recovery has the orders, the venue does not; reconcile ends them."""
    s = next(i + 1 for i, (_durable, places) in enumerate(reference) if places and i > 150)
    state = _crash(tmp_path, stream, "committed", s)
    assert state["committed"] == s
    recovered = _recover(tmp_path / "a.sqlite")
    engine = recovered.engine
    assert state_digest(engine) == state_digest(_engine_after(stream[:s]))

    # The venue carried out everything sent before step s (cancels included), nothing of s.
    before = _engine_after(stream[: s - 1])
    cancelled_before = {
        o.client_id for o in before.orders if o.status is OrderStatus.PENDING_CANCEL
    }
    at_venue = [
        VenueOrder(
            client_id=o.client_id,
            open=o.client_id not in cancelled_before,
            size_matched=o.filled,
        )
        for o in before.orders
        if o.status is not OrderStatus.DONE
    ]
    last = _engine_after(stream[: s - 1]).step(stream[s - 1])
    never_sent = {c.client_id for c in last.commands if isinstance(c, Place)}
    cancels_lost = {c.client_id for c in last.commands if isinstance(c, Cancel)}
    plan = reconcile(engine, at_venue, ts_ms=engine.now_ms)
    ended = {e.client_id: e.size_matched for e in plan.events if isinstance(e, OrderCancelled)}
    assert set(ended) == never_sent | cancelled_before
    assert all(ended[cid] == 0 for cid in never_sent)
    assert set(plan.cancel) == cancels_lost  # re-sent: the cancel may never have left
    for event in plan.events:
        engine.step(event)
    assert not any(o.live and o.client_id in never_sent for o in engine.orders)


def test_crash_while_writing_a_snapshot(tmp_path: Path, stream: list[Event]) -> None:
    state = _crash(tmp_path, stream, "snapshot-staged", 900)
    assert state["committed"] == state["steps"] >= 800  # the flush before it is durable
    recovered = _recover(tmp_path / "a.sqlite")
    assert recovered.snapshot_seq is not None  # the previous one
    assert state_digest(recovered.engine) == state_digest(_engine_after(stream[: state["steps"]]))


def test_recovery_after_a_clean_stop_replays_nothing(recorded: tuple[Path, Engine]) -> None:
    recovered = _recover(recorded[0])
    assert recovered.snapshot_seq is not None
    assert recovered.replayed_events == 0
    assert state_digest(recovered.engine) == state_digest(recorded[1])


def test_recovery_replays_only_the_tail(tmp_path: Path, breaker_config: Any) -> None:
    log = AuditLog(tmp_path / "a.sqlite", snapshot_every=500)
    log.genesis(breaker_config, T0)
    engine, _ = run_synthetic(
        breaker_config,
        seconds=400,
        seed=7,
        start_ms=T0,
        logger=quiet(),
        services=Services(audit=log),
    )
    log.close(None)  # flushed, then died: no final snapshot
    recovered = _recover(tmp_path / "a.sqlite")
    assert recovered.snapshot_seq is not None
    assert 0 < recovered.replayed_events <= 500
    assert state_digest(recovered.engine) == state_digest(engine)


def _run(path: Path, config: Any, seconds: int, *, clean: bool) -> tuple[Engine, int]:
    """One process lifetime: open (recovering), trade, stop cleanly or die after a flush."""
    log, recovered = open_for_run(path, config, ts_ms=T0)
    engine = recovered.engine
    start = T0 if recovered.fresh else engine.now_ms + 1000
    services = Services(audit=log)
    run_synthetic(
        config,
        seconds=seconds,
        seed=7,
        start_ms=start,
        logger=quiet(),
        engine=engine,
        services=services,
    )
    services.close(engine if clean else None)
    return engine, recovered.last_seq


def test_a_breaker_halt_and_the_days_pnl_survive_a_crash(
    tmp_path: Path, breaker_config: Any
) -> None:
    path = tmp_path / "a.sqlite"
    first, _ = _run(path, breaker_config, 400, clean=False)
    assert first.bot.state == "halted"
    assert first.halt_reason == "global daily loss limit"
    realized, floor = first.realized_today, first.breaker_floor
    assert realized < 0

    log, recovered = open_for_run(path, breaker_config, ts_ms=T0)
    engine = recovered.engine
    assert engine.bot.state == "halted"
    assert engine.halt_reason == "global daily loss limit"
    assert (engine.realized_today, engine.breaker_floor) == (realized, floor)  # no fresh budget
    assert all(ms.machine.state == "halted" for ms in engine.markets.values())
    log.close(None)

    second, restart_seq = _run(path, breaker_config, 120, clean=True)
    assert second.bot.state == "halted"
    after = [r for r in records(path) if r.seq > restart_seq]
    assert not any('"type":"Place"' in r.body for r in after), "no quoting while latched"
    assert verify_path(path).ok

    # Midnight resets the day's P&L, never the latch.
    log, recovered = open_for_run(path, breaker_config, ts_ms=T0)
    midnight = (recovered.engine.now_ms // DAY_MS + 1) * DAY_MS
    log.step(recovered.engine, ClockTick(ts_ms=midnight + 1))
    assert recovered.engine.realized_today == 0
    assert recovered.engine.bot.state == "halted"
    log.close(recovered.engine)


def test_only_an_acknowledged_resume_unlatches_and_it_persists(
    tmp_path: Path, breaker_config: Any
) -> None:
    path = tmp_path / "a.sqlite"
    _run(path, breaker_config, 400, clean=True)
    log, recovered = open_for_run(path, breaker_config, ts_ms=T0)
    engine = recovered.engine
    now = engine.now_ms + 1000
    log.step(engine, OperatorResume(ts_ms=now, ack="  "))
    assert engine.bot.state == "halted"
    log.step(engine, OperatorResume(ts_ms=now, ack="loss reviewed, limits unchanged"))
    assert engine.bot.state == "running"
    log.close(engine)
    bodies = [r.body for r in records(path)]
    assert any("loss reviewed, limits unchanged" in b and "TransitionRecord" in b for b in bodies)
    log, recovered = open_for_run(path, breaker_config, ts_ms=T0)
    assert recovered.engine.bot.state == "running"
    log.close(recovered.engine)


def test_an_operator_halt_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite"
    config = parse_config_text("")
    log, recovered = open_for_run(path, config, ts_ms=T0)
    log.step(recovered.engine, OperatorHalt(ts_ms=T0 + 1, reason="maintenance"))
    log.close(None)
    log, recovered = open_for_run(path, config, ts_ms=T0)
    assert recovered.engine.bot.state == "halted"
    assert recovered.engine.halt_reason == "operator: maintenance"
    log.close(recovered.engine)


def test_recovery_refuses_a_log_with_its_tail_cut(fresh_copy: Path, breaker_config: Any) -> None:
    last = records(fresh_copy)[-1].seq
    rewrite(fresh_copy, lambda rs: [r for r in rs if r["seq"] != last])
    with pytest.raises(AuditError, match=f"record {last}: missing"):
        open_for_run(fresh_copy, breaker_config, ts_ms=T0)


def test_recovery_refuses_an_altered_snapshot(fresh_copy: Path, breaker_config: Any) -> None:
    """It falls back to the older snapshot, whose tail then shows the altered one."""
    conn = sqlite3.connect(fresh_copy)
    newest = conn.execute("SELECT MAX(seq) FROM snapshots").fetchone()[0]
    with conn:
        conn.execute("UPDATE snapshots SET engine = zeroblob(10) WHERE seq = ?", (newest,))
    conn.close()
    with pytest.raises(AuditError, match=f"record {newest}: the snapshot blob"):
        open_for_run(fresh_copy, breaker_config, ts_ms=T0)


def test_reconcile_covers_every_case() -> None:
    from mmfsm.harness import Harness

    h = Harness()
    placed = [c for c in h.start() if isinstance(c, Place)]
    assert len(placed) == 2
    acked, pending = placed
    h.ack([acked])
    engine = h.engine
    # `pending` was placed but not acked; `acked` rests; the venue also has a stranger.
    plan = reconcile(
        engine,
        [
            VenueOrder(client_id=acked.client_id, open=False, size_matched=0),
            VenueOrder(client_id="mm-orphan", open=True, size_matched=0),
        ],
        ts_ms=h.now_ms,
    )
    ended = {e.client_id: e for e in plan.events if isinstance(e, OrderCancelled)}
    assert set(ended) == {acked.client_id, pending.client_id}
    assert plan.cancel == ("mm-orphan",)
    plan = reconcile(
        engine, [VenueOrder(client_id=pending.client_id, open=True, size_matched=0)], ts_ms=h.now_ms
    )
    assert sorted(type(e).__name__ for e in plan.events) == ["OrderAcked", "OrderCancelled"]


def test_a_live_log_records_its_account_and_refuses_another(tmp_path: Path) -> None:
    from mmfsm.audit.recovery import AccountMismatch, is_new_log, logged_account

    path = tmp_path / "live.sqlite"
    config = parse_config_text("")
    ours, theirs = "0xAbC0000000000000000000000000000000000001", "0x" + "de" * 20
    assert is_new_log(path)
    log, recovered = open_for_run(path, config, ts_ms=T0, account=ours)
    assert recovered.fresh
    log.step(recovered.engine, OperatorHalt(ts_ms=T0 + 1, reason="breaker stand-in"))
    log.close(recovered.engine)
    assert not is_new_log(path)
    conn = connect_reader(path)
    assert logged_account(conn) == ours
    conn.close()
    head = len(records(path))
    with pytest.raises(AccountMismatch, match=f"written for account {ours}.*trades as {theirs}"):
        open_for_run(path, config, ts_ms=T0, account=theirs)
    assert len(records(path)) == head  # nothing written for the refused run
    # The same account, however its address is cased, recovers the halt.
    log, recovered = open_for_run(path, config, ts_ms=T0, account=ours.lower())
    assert recovered.engine.bot.state == "halted"
    log.close(recovered.engine)
    # Runs that name no account (paper, emulator, synthetic) are unaffected.
    log, recovered = open_for_run(path, config, ts_ms=T0)
    log.close(recovered.engine)


def test_a_log_that_emptied_since_it_was_looked_at_is_not_started_anew(tmp_path: Path) -> None:
    path = tmp_path / "gone.sqlite"
    with pytest.raises(AuditError, match="holds no record"):
        open_for_run(path, parse_config_text(""), ts_ms=T0, account="0x1", allow_new=False)
    from mmfsm.audit.recovery import is_new_log

    assert is_new_log(path)  # still new: the next run asks the venue again


def test_recovery_refuses_a_swapped_snapshot(fresh_copy: Path, breaker_config: Any) -> None:
    """Another state's blob under the newest snapshot record, the record's SHA-256 and
    length rewritten to match (not rehashed): the chain names the record, and recovery
    must not start from the swapped state (a day's P&L reset, a breaker halt cleared)."""
    older, newest = snapshot_seqs(fresh_copy)[-2:]
    conn = sqlite3.connect(fresh_copy)
    (blob,) = conn.execute("SELECT engine FROM snapshots WHERE seq = ?", (older,)).fetchone()
    conn.close()
    put_blob(fresh_copy, newest, bytes(blob))

    def swap(rs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rs[newest - 1]["body"] = vouch(rs[newest - 1]["body"], bytes(blob))
        return rs

    rewrite(fresh_copy, swap)
    assert verify_path(fresh_copy).problem is not None
    with pytest.raises(AuditError, match=f"not starting: record {newest}: altered"):
        open_for_run(fresh_copy, breaker_config, ts_ms=T0)


def test_recovery_checks_the_records_before_the_snapshot(
    fresh_copy: Path, breaker_config: Any
) -> None:
    first = snapshot_seqs(fresh_copy)[0]
    bad = next(r.seq for r in records(fresh_copy) if r.seq < first and '"type":"Place"' in r.body)

    def edit(rs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rs[bad - 1]["body"] = rs[bad - 1]["body"].replace('"size":', '"size":1')
        return rs

    rewrite(fresh_copy, edit)
    with pytest.raises(AuditError, match=f"not starting: record {bad}: altered"):
        open_for_run(fresh_copy, breaker_config, ts_ms=T0)


def test_recovery_never_runs_a_crafted_snapshot(
    fresh_copy: Path, breaker_config: Any, tmp_path: Path
) -> None:
    """Even in a chain forged end to end (record rewritten to vouch for the blob, every
    hash and the head recomputed), the blob is loaded by an unpickler that builds only
    an Engine: refused, naming the record, and nothing run."""
    marker = tmp_path / "owned"
    newest = snapshot_seqs(fresh_copy)[-1]
    blob = evil_blob(marker)
    put_blob(fresh_copy, newest, blob)

    def vouch_for_it(rs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rs[newest - 1]["body"] = vouch(rs[newest - 1]["body"], blob)
        return rs

    forge(fresh_copy, vouch_for_it)
    assert verify_path(fresh_copy).ok
    with pytest.raises(BadRecord, match=f"record {newest}: the snapshot blob names posix.system"):
        open_for_run(fresh_copy, breaker_config, ts_ms=T0)
    assert not marker.exists()
