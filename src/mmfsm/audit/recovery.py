"""Crash recovery: rebuild the Engine from the audit log, then line it up with the venue.

Theory of operation
-------------------
The log holds every input event the Engine acted on (every step that sent anything was
durable before it was sent), and the Engine is deterministic, so its state after a crash
is the state obtained by feeding those events again. So that the replay stays short as
the log grows, recovery starts from the newest usable snapshot (``snapshots``) and
replays only the events after it; only the hash check of step 1 grows with the log:

1. Verify the whole chain, genesis to head (``verify_chain``: hashes, links, the head,
   the snapshot blobs against their records; no bodies decoded, about a second per
   100,000 records). A log that fails is not trusted: recovery refuses to start, naming
   the first bad record, and with no heartbeat the venue's dead-man switch cancels every
   order while the operator looks (and decides: never a silent fresh start). Checking
   only the records after the snapshot would trust a snapshot record that was itself
   rewritten (a swapped blob can reset the day's P&L or clear a breaker halt) and every
   record before it.
2. Take the newest snapshot whose blob has the SHA-256 and length its (verified) record
   says and that was taken by the same core code (fingerprint), otherwise the next older
   one, otherwise the genesis; unpickle it through the unpickler that builds only an
   Engine (``snapshot``). A blob that matches its record and still does not load is
   refused (``BadRecord``), not passed over: the writer read it back before storing it.
3. Replay the tail, comparing each step's decisions with the recorded ones. A difference
   does not stop recovery (the events are facts; the decisions are re-derived), but it
   is reported: it means the code changed or is not deterministic.

Because the breaker latch (the bot machine's state), the day's realized P&L and its
breaker floor are Engine state, they come back exactly as they were: a restart is never
a fresh daily-loss budget and never an un-halt (INV-LATCH).

A live run names the account it trades as (``open_for_run(account=...)``): the start
record carries it, and a log whose runs traded as another account is refused, since its
budget, latch and inventory are someone else's. A log that holds no record at all is
*new* (``is_new_log``): it knows no budget and no latch, which is why ``mmfsm run``
refuses to start a live account with a past on one unless told to (``trade``).

What the log cannot know is what happened at the venue after the last durable step:
commands recorded but never sent (the crash came between the commit and the send),
fills while the bot was down. ``reconcile`` turns the venue's view of our orders and
trades into events for the Engine (fed through the audited step like any other, so
replay stays exact) and a list of orders to cancel at the venue.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from attrs import frozen

from mmfsm.audit.log import AuditLog, Sync, code_fingerprint
from mmfsm.audit.replay import Divergence, replay
from mmfsm.audit.snapshot import blob_problem, load_engine, same_code
from mmfsm.audit.store import (
    AuditError,
    SnapshotRow,
    connect_reader,
    read_head,
    read_records,
    read_snapshots,
)
from mmfsm.audit.verify import verify_chain
from mmfsm.core.config import Config
from mmfsm.core.engine import Engine
from mmfsm.core.events import Event, OrderAcked, OrderCancelled, Trade
from mmfsm.core.orders import OrderStatus

__all__ = [
    "AccountMismatch",
    "ReconcilePlan",
    "Recovered",
    "VenueOrder",
    "is_new_log",
    "logged_account",
    "open_for_run",
    "reconcile",
    "recover",
]


@frozen(kw_only=True)
class Recovered:
    engine: Engine
    fresh: bool  # a new log: there was nothing to recover
    last_seq: int
    snapshot_seq: int | None
    replayed_events: int
    divergences: int
    first_divergence: Divergence | None
    seconds: float

    def describe(self) -> str:
        if self.fresh:
            return "new audit log"
        origin = f"snapshot {self.snapshot_seq}" if self.snapshot_seq else "the genesis"
        text = (
            f"recovered to record {self.last_seq} from {origin} + {self.replayed_events} "
            f"events in {self.seconds * 1000:.0f} ms; bot {self.engine.bot.state}"
        )
        if self.first_divergence is not None:
            text += f"; {self.divergences} replayed steps differ from the log (code changed?)"
        return text


def _record_at(conn: sqlite3.Connection, seq: int) -> tuple[str, str, str] | None:
    row = conn.execute("SELECT kind, body, hash FROM records WHERE seq = ?", (seq,)).fetchone()
    return None if row is None else (str(row[0]), str(row[1]), str(row[2]))


def _usable(conn: sqlite3.Connection, row: SnapshotRow) -> Engine | None:
    """The Engine in ``row``, if its record (in the chain ``recover`` has verified)
    vouches for the blob and this code wrote it; None to try an older one."""
    record = _record_at(conn, row.seq)
    if record is None or record[0] != "snapshot":
        return None
    if blob_problem(record[1], row.engine) is not None or not same_code(record[1]):
        return None
    return load_engine(row.engine, seq=row.seq)


def recover(conn: sqlite3.Connection) -> Recovered:
    """Rebuild the Engine from a non-empty log (see the module docstring)."""
    started = time.perf_counter()
    report = verify_chain(conn)
    if report.problem is not None:
        raise AuditError(
            f"audit log failed verification, not starting: {report.problem} "
            "(`mmfsm audit verify` checks it; a log is never started afresh in its place)"
        )
    if report.last_seq == 0:
        raise AuditError("the audit log is empty")
    engine: Engine | None = None
    after, snapshot_seq = 0, None
    for row in read_snapshots(conn):
        engine = _usable(conn, row)
        if engine is not None:
            after = snapshot_seq = row.seq
            break
    result = replay(
        read_records(conn, after=after, until=report.last_seq),
        engine=engine,
        compare=True,
        stop_at_divergence=False,
    )
    return Recovered(
        engine=result.engine,
        fresh=False,
        last_seq=report.last_seq,
        snapshot_seq=snapshot_seq,
        replayed_events=result.events,
        divergences=result.divergences,
        first_divergence=result.first,
        seconds=time.perf_counter() - started,
    )


class AccountMismatch(AuditError):
    """A live run was pointed at the audit log of another account."""


def is_new_log(path: Path) -> bool:
    """True if ``path`` holds no audit record (absent, empty, or created and never
    written): a run on it starts from a fresh Engine, with nothing to recover."""
    if not path.exists():
        return True
    if path.stat().st_size == 0 and not Path(f"{path}-wal").exists():
        return True
    conn = connect_reader(path)
    try:
        head = read_head(conn)
    finally:
        conn.close()
    return head is None or head[0] == 0


def logged_account(conn: sqlite3.Connection) -> str | None:
    """The account the log's latest live run traded as (its start record), if any."""
    for (body,) in conn.execute(
        "SELECT body FROM records WHERE kind = 'start' ORDER BY seq DESC"
    ):
        try:
            account = json.loads(str(body)).get("account")
        except (ValueError, AttributeError):
            continue
        if isinstance(account, str) and account:
            return account
    return None


def _check_account(log: AuditLog, account: str) -> None:
    logged = logged_account(log.connection)
    if logged is not None and logged.lower() != account.lower():
        raise AccountMismatch(
            f"audit log {log.path.resolve()} was written for account {logged}, and this "
            f"run trades as {account}: its daily loss budget, breaker halt and inventory "
            f"are another account's. Give --audit the log of {account}, or a new path "
            "with --new-audit-log"
        )


def open_for_run(
    path: Path,
    config: Config,
    *,
    ts_ms: int,
    sync: Sync = Sync.FULL,
    scrub: Callable[[str], str] | None = None,
    snapshot_every: int = 5_000,
    account: str | None = None,
    allow_new: bool = True,
) -> tuple[AuditLog, Recovered]:
    """Open (or create) the log for a run and rebuild the Engine from it.

    The returned Engine runs the config it had when the process stopped; if ``config``
    differs, the caller feeds ``ConfigReload`` through the audited step so the change
    is itself in the log.

    ``account`` (live runs: the address the client trades as) is recorded in the start
    record; a log whose latest recorded account is another one raises
    ``AccountMismatch`` before anything is written or recovered. A log that records
    none (paper, emulator and synthetic runs, or a live log older than this rule) is
    accepted and, from this run on, belongs to ``account``.

    ``allow_new=False`` raises ``AuditError`` rather than start a log that holds no
    record: the caller found records there a moment ago (``is_new_log``) and decided on
    that, so a log emptied or removed since must not become a silent fresh start.
    """
    log = AuditLog(path, sync=sync, scrub=scrub, snapshot_every=snapshot_every)
    try:
        if account is not None and not log.is_empty:
            _check_account(log, account)
        if log.is_empty and not allow_new:
            raise AuditError(
                f"audit log {path.resolve()} holds no record any more (removed or "
                "replaced while starting); not starting a new log in its place"
            )
        if log.is_empty:
            log.genesis(config, ts_ms)
            recovered = Recovered(
                engine=Engine(config),
                fresh=True,
                last_seq=log.head_seq,
                snapshot_seq=None,
                replayed_events=0,
                divergences=0,
                first_divergence=None,
                seconds=0.0,
            )
        else:
            recovered = recover(log.connection)
        start: dict[str, object] = {
            "type": "Start",
            "recovered_to": recovered.last_seq,
            "snapshot": recovered.snapshot_seq,
            "replayed_events": recovered.replayed_events,
            "divergences": recovered.divergences,
            "bot": recovered.engine.bot.state,
            "code": code_fingerprint(),
        }
        if account is not None:
            start["account"] = account
        log.note("start", recovered.engine.now_ms, recovered.engine.config_hash, start)
    except BaseException:
        log.close()
        raise
    return log, recovered


@frozen(kw_only=True)
class VenueOrder:
    """What the venue says about one of our orders (open now, or ended recently)."""

    client_id: str
    open: bool
    size_matched: int


@frozen(kw_only=True)
class ReconcilePlan:
    events: tuple[Event, ...]  # feed these through the audited step, in order
    cancel: tuple[str, ...]  # client ids to cancel at the venue (orphans, lost cancels)


def reconcile(
    engine: Engine,
    venue_orders: Iterable[VenueOrder],
    *,
    ts_ms: int,
    trades: Iterable[Trade] = (),
) -> ReconcilePlan:
    """Events and cancels that bring a recovered Engine in line with the venue.

    ``venue_orders`` must list every order of ours the venue has open, and may list
    ended ones with their matched size; ``trades`` are the venue's fills since before
    the crash (the ledger ignores the ones it has). An order the Engine thinks is out
    but the venue never saw was committed and never sent: it is cancelled, unmatched.
    """
    events: list[Event] = list(trades)
    cancel: list[str] = []
    known = {v.client_id: v for v in venue_orders}
    for order in engine.orders:
        if order.status is OrderStatus.DONE:
            continue
        seen = known.get(order.client_id)
        if seen is None:
            events.append(OrderCancelled(ts_ms=ts_ms, client_id=order.client_id, size_matched=0))
        elif not seen.open:
            events.append(
                OrderCancelled(
                    ts_ms=ts_ms, client_id=order.client_id, size_matched=seen.size_matched
                )
            )
        elif order.status is OrderStatus.PENDING_NEW:
            events.append(OrderAcked(ts_ms=ts_ms, client_id=order.client_id))
        elif order.status is OrderStatus.PENDING_CANCEL:
            cancel.append(order.client_id)  # the cancel may never have left
    for venue in known.values():
        ours = engine.orders.get(venue.client_id)
        if venue.open and (ours is None or ours.status is OrderStatus.DONE):
            cancel.append(venue.client_id)  # an orphan: nothing in the log wants it
    return ReconcilePlan(events=tuple(events), cancel=tuple(cancel))
