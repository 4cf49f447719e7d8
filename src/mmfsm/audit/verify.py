"""``mmfsm audit verify``: prove the log is the one the bot wrote, or name where it is not.

Theory of operation
-------------------
Walking the records in sequence order, each one must

1. come next: its seq is the previous seq + 1 (a gap is a deleted record);
2. hash to its stored hash (otherwise it was edited; if its content hashes correctly at
   another seq, it was moved there from that seq: a reordering);
3. link to the previous record's hash; if it does not, while its own hash holds, the
   previous record is not the one it was written after: rewritten (edited and
   re-hashed), replaced, or inserted (when this one links to the record two back);
4. fit the step structure: record 1 is the genesis, an event opens a step
   (``step == seq``), its transitions and then its commands follow it with
   ``step`` = the event's seq, and every body decodes (events, transitions and
   commands through ``codec``, so their validators run again);
5. for a ``snapshot`` record, match the stored snapshot blob's SHA-256, if that blob
   has not been pruned.

After the last record, the head the writer stored in ``meta`` must be that record: a
chain with its tail cut off is still a valid chain, and this is what catches it. An
operator who copies the printed head elsewhere (``--expect SEQ:HASH``) is protected even
against someone who rewrites ``meta`` too. The report names the first bad record; a
sophisticated attacker who recomputes every hash after an edit is caught only by an
anchor held outside the file, which is why ``verify`` prints the head.

``verify_chain`` is the check recovery makes at every start: from the genesis to the
head, hashes, links, kinds, the stored head and the snapshot blobs, without decoding
bodies or building a record object per row (about a second per 100,000 records on one
slow core). Only when it finds a fault does it run ``verify`` to say what the fault is.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

from attrs import frozen

from mmfsm.audit.chain import GENESIS_PREV, KINDS, NOTE_KINDS, AuditRecord, record_hash
from mmfsm.audit.store import read_head, read_records, reading
from mmfsm.core import codec

__all__ = ["Problem", "VerifyReport", "verify", "verify_chain", "verify_path"]

_MOVE_WINDOW = 8
"""How far away (in seq) verify looks for the true place of a moved record."""


@frozen(kw_only=True)
class Problem:
    seq: int
    message: str

    def __str__(self) -> str:
        return f"record {self.seq}: {self.message}"


@frozen(kw_only=True)
class VerifyReport:
    records: int
    last_seq: int
    last_hash: str
    problem: Problem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def _moved_from(record: AuditRecord) -> int | None:
    for delta in range(1, _MOVE_WINDOW + 1):
        for seq in (record.seq - delta, record.seq + delta):
            if seq > 0 and record.computed_hash(seq) == record.hash:
                return seq
    return None


def _body_problem(record: AuditRecord) -> str | None:
    try:
        if record.kind in ("event", "transition", "command", "genesis"):
            value = codec.loads(record.body)
            name = type(value).__name__
            if record.kind == "transition" and name != "TransitionRecord":
                return f"a transition record holds a {name}"
            if record.kind == "genesis" and name != "ConfigReload":
                return f"the genesis record holds a {name}"
        else:
            data = json.loads(record.body)
            if not isinstance(data, dict) or "type" not in data:
                return "a note must be a JSON object with a type"
    except ValueError as exc:  # CodecError and JSONDecodeError are ValueErrors
        return f"body does not decode: {exc}"
    return None


def _blob_mismatch(seq: int, kind: str, body: str, blob_hash: str) -> Problem | None:
    """A stored snapshot blob (whose SHA-256 is ``blob_hash``) against record ``seq``."""
    if kind != "snapshot":
        return Problem(seq=seq, message="a snapshot blob is stored under a non-snapshot record")
    try:
        declared = json.loads(body).get("sha256")
    except (ValueError, AttributeError):
        declared = None
    if declared != blob_hash:
        return Problem(seq=seq, message="the snapshot blob does not match its record")
    return None


class _Walker:
    """The per-record checks, with the little state they need."""

    def __init__(self, blobs: dict[int, str], after: int, prev_hash: str) -> None:
        self.blobs = blobs
        self.expected = after + 1
        self.prev_hash = prev_hash
        self.prev_prev_hash: str | None = None
        self.step: int | None = None
        self.step_has_command = False

    def check(self, r: AuditRecord, *, decode: bool) -> Problem | None:
        if r.seq != self.expected:
            gap = (
                f"{self.expected}"
                if r.seq == self.expected + 1
                else f"{self.expected}..{r.seq - 1}"
            )
            return Problem(
                seq=self.expected,
                message=f"missing: the log jumps from {self.expected - 1} to {r.seq} "
                f"(record {gap} deleted)",
            )
        if r.computed_hash() != r.hash:
            origin = _moved_from(r)
            if origin == r.seq - 1 and r.prev_hash == self.prev_prev_hash:
                # Written as the previous record and chained where it was: pushed down
                # by one record put in front of it.
                return Problem(
                    seq=r.seq - 1,
                    message=f"inserted: record {r.seq} was written as {r.seq - 1}",
                )
            if origin is not None:
                return Problem(
                    seq=r.seq,
                    message=f"holds the record written as {origin}: records were reordered",
                )
            return Problem(seq=r.seq, message="altered: its hash does not match its contents")
        if r.prev_hash != self.prev_hash:
            # This record is intact (its own hash holds), so it is the one before it that
            # is not the record the writer chained it to.
            if self.prev_prev_hash is not None and r.prev_hash == self.prev_prev_hash:
                return Problem(
                    seq=r.seq - 1,
                    message=f"inserted: record {r.seq} is chained to record {r.seq - 2}",
                )
            if r.seq == 1:
                return Problem(seq=1, message="does not start the chain")
            return Problem(
                seq=r.seq - 1,
                message=f"replaced or rewritten: record {r.seq} is chained to another "
                f"record {r.seq - 1}",
            )
        problem = self._structure(r)
        if problem is None and decode:
            text = _body_problem(r)
            problem = None if text is None else Problem(seq=r.seq, message=text)
        if problem is None and r.seq in self.blobs:
            problem = _blob_mismatch(r.seq, r.kind, r.body, self.blobs[r.seq])
        if problem is not None:
            return problem
        self.prev_prev_hash, self.prev_hash = self.prev_hash, r.hash
        self.expected += 1
        return None

    def _structure(self, r: AuditRecord) -> Problem | None:
        if r.kind not in KINDS:
            return Problem(seq=r.seq, message=f"unknown kind {r.kind!r}")
        if (r.seq == 1) != (r.kind == "genesis"):
            return Problem(seq=r.seq, message="only record 1 is the genesis, and it must be")
        if r.kind == "event" or r.kind in NOTE_KINDS:
            if r.step != r.seq:
                return Problem(seq=r.seq, message=f"a {r.kind} must open its own step")
            self.step = r.seq if r.kind == "event" else None
            self.step_has_command = False
            return None
        if self.step is None or r.step != self.step:
            return Problem(seq=r.seq, message=f"a {r.kind} outside the step of its event")
        if r.kind == "transition" and self.step_has_command:
            return Problem(seq=r.seq, message="a transition after the commands of its step")
        self.step_has_command = self.step_has_command or r.kind == "command"
        return None


def verify(
    conn: sqlite3.Connection,
    *,
    after: int = 0,
    prev_hash: str = GENESIS_PREV,
    decode: bool = True,
    check_head: bool = True,
    expect: tuple[int, str] | None = None,
) -> VerifyReport:
    """Check records after ``after`` (whose hash is ``prev_hash``); stop at the first bad one."""
    blobs = _blob_hashes(conn, after)
    walker = _Walker(blobs, after, prev_hash)
    count = 0
    last_seq, last_hash = after, prev_hash
    anchor_seen = expect is None or expect[0] <= after
    for record in read_records(conn, after=after):
        problem = walker.check(record, decode=decode)
        if problem is None and expect is not None and record.seq == expect[0]:
            anchor_seen = True
            if record.hash != expect[1]:
                problem = Problem(seq=record.seq, message="does not carry the expected hash")
        if problem is not None:
            return VerifyReport(
                records=count, last_seq=last_seq, last_hash=last_hash, problem=problem
            )
        count += 1
        last_seq, last_hash = record.seq, record.hash

    problems = _after_last(conn, blobs, last_seq, last_hash, expect, anchor_seen, check_head)
    first = min(problems, key=lambda p: p.seq) if problems else None
    return VerifyReport(records=count, last_seq=last_seq, last_hash=last_hash, problem=first)


def _after_last(
    conn: sqlite3.Connection,
    blobs: dict[int, str],
    last_seq: int,
    last_hash: str,
    expect: tuple[int, str] | None,
    anchor_seen: bool,
    check_head: bool,
) -> list[Problem]:
    """What only the end of the log can show: a cut tail, stray blobs, a missed anchor."""
    problems = [
        Problem(seq=seq, message="a snapshot blob with no record")
        for seq in blobs
        if seq > last_seq
    ]
    if not anchor_seen and expect is not None:
        problems.append(
            Problem(seq=last_seq + 1, message=f"missing: the log ends before {expect[0]}")
        )
    head = read_head(conn) if check_head else None
    if check_head and head is None and last_seq > 0:
        problems.append(Problem(seq=last_seq, message="the log has no recorded head"))
    if head is not None:
        head_seq, head_hash = head
        if head_seq > last_seq:
            problems.append(
                Problem(
                    seq=last_seq + 1,
                    message=f"missing: the head was written at {head_seq} but the log ends "
                    f"at {last_seq} (the tail was deleted)",
                )
            )
        elif head_seq < last_seq:
            problems.append(
                Problem(
                    seq=head_seq + 1,
                    message=f"appended after the recorded head ({head_seq}), not by the writer",
                )
            )
        elif head_hash != last_hash:
            problems.append(
                Problem(seq=last_seq, message="does not carry the hash the head recorded")
            )
    return problems


def _blob_hashes(conn: sqlite3.Connection, after: int) -> dict[int, str]:
    return {
        int(seq): hashlib.sha256(bytes(blob)).hexdigest()
        for seq, blob in conn.execute(
            "SELECT seq, CAST(engine AS BLOB) FROM snapshots WHERE seq > ?", (after,)
        )
    }


def verify_chain(conn: sqlite3.Connection) -> VerifyReport:
    """The whole chain, hashes only (see the module docstring): what recovery checks.

    It finds every fault ``verify(conn, decode=False)`` finds in the chain itself (a
    record edited, deleted, inserted or moved; a cut tail; a blob not matching its
    record), though not the step structure of a forger who rehashed the chain.
    """
    blobs = _blob_hashes(conn, 0)
    kinds = frozenset(KINDS)
    expected, prev = 1, GENESIS_PREV
    sound = True
    for seq, step, kind, ts_ms, wall_ms, config_hash, body, prev_hash, hash_ in conn.execute(
        "SELECT seq, step, kind, ts_ms, wall_ms, config_hash, body, prev_hash, hash "
        "FROM records ORDER BY seq"
    ):
        if seq != expected or prev_hash != prev or kind not in kinds:
            sound = False
            break
        try:
            digest = record_hash(seq, step, kind, ts_ms, wall_ms, config_hash, body, prev_hash)
        except (TypeError, ValueError):  # a column of a type the writer never stores
            digest = None
        if digest != hash_:
            sound = False
            break
        if seq in blobs and _blob_mismatch(seq, kind, body, blobs[seq]) is not None:
            sound = False
            break
        prev = hash_
        expected += 1
    last_seq = expected - 1
    if sound and not _after_last(conn, blobs, last_seq, prev, None, True, True):
        return VerifyReport(records=last_seq, last_seq=last_seq, last_hash=prev, problem=None)
    # Something is wrong: the full walk says what, and where first.
    report = verify(conn, decode=False)
    if report.ok:  # never: the two walks check the same things; if so, trust neither
        problem = Problem(seq=expected, message="fails the hash-only check of the chain")
        return VerifyReport(records=last_seq, last_seq=last_seq, last_hash=prev, problem=problem)
    return report


def verify_path(
    path: Path, *, decode: bool = True, expect: tuple[int, str] | None = None
) -> VerifyReport:
    with reading(path) as conn:
        return verify(conn, decode=decode, expect=expect)
