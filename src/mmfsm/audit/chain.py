"""One audit record and the hash that chains it to the one before.

Theory of operation
-------------------
The audit log is a single append-only sequence of records numbered 1, 2, 3, ... with no
gaps. Each record's ``hash`` is the SHA-256 of every other column of the record,
``prev_hash`` (the previous record's hash; 64 zeros for record 1) included, in a fixed
canonical encoding (a JSON array, so a field boundary can never be forged by moving
characters from one field into the next). Changing, removing, inserting or moving any
record therefore breaks either its own hash or the next record's link, and ``verify``
names the first record where that happens.

The kinds of record, in the order one step of the Engine writes them:

``event``       an input event (``codec.dumps``); it opens a step, ``step`` = its own seq
``transition``  a machine transition the event caused (``TransitionRecord``)
``command``     a command the Engine emitted (``Place``, ``Cancel``, ``Log``, ...)

and outside steps: ``genesis`` (record 1: the config the log starts from, as a
``ConfigReload`` that is not fed to the Engine), ``start`` and ``stop`` (a process
started or stopped cleanly), ``operator`` (who asked a running bot to halt or resume,
just before the event it became) and ``snapshot`` (a snapshot of the Engine was stored:
its SHA-256, so snapshot blobs are covered by the chain too).

``ts_ms`` is event time (the Engine's clock, so replays agree); ``wall_ms`` is when the
shell wrote the record, for the operator's eyes only.
"""

from __future__ import annotations

import hashlib
import json

from attrs import frozen

__all__ = [
    "GENESIS_PREV",
    "KINDS",
    "NOTE_KINDS",
    "STEP_KINDS",
    "AuditRecord",
    "Row",
    "chain_hash",
    "chain_rows",
    "record_hash",
]

Row = tuple[int, int, str, int, int, str, str, str, str]
"""(seq, step, kind, ts_ms, wall_ms, config_hash, body, prev_hash, hash), as stored."""

GENESIS_PREV = "0" * 64
"""``prev_hash`` of record 1."""

CHAIN_TAG = "mmfsm.audit/1"
"""The first element of every hashed record: the chain format's version."""

_TAG = '["' + CHAIN_TAG + '"'
_quote = json.encoder.encode_basestring_ascii  # what json.dumps(..., ensure_ascii=True) uses
_sha256 = hashlib.sha256

STEP_KINDS = ("event", "transition", "command")
NOTE_KINDS = ("genesis", "start", "stop", "operator", "snapshot")
KINDS = STEP_KINDS + NOTE_KINDS


def chain_hash(
    *,
    seq: int,
    step: int,
    kind: str,
    ts_ms: int,
    wall_ms: int,
    config_hash: str,
    body: str,
    prev_hash: str,
) -> str:
    """SHA-256 (hex) of one record's columns and its predecessor's hash.

    The hashed text is ``json.dumps([CHAIN_TAG, seq, step, kind, ts_ms, wall_ms,
    config_hash, body, prev_hash], separators=(",", ":"), ensure_ascii=True)``.
    """
    return record_hash(seq, step, kind, ts_ms, wall_ms, config_hash, body, prev_hash)


def _canonical(
    seq: int,
    step: int,
    kind: str,
    ts_ms: int,
    wall_ms: int,
    config_hash: str,
    body: str,
    prev_hash: str,
) -> str:
    """The hashed text of a record whose numbers are plain ints and whose strings are
    given already as JSON strings: what ``json.dumps`` writes for the same list. The one
    place that lays the text out, for ``record_hash`` and ``chain_rows``."""
    return f"{_TAG},{seq},{step},{kind},{ts_ms},{wall_ms},{config_hash},{body},{prev_hash}]"


def record_hash(
    seq: int,
    step: int,
    kind: str,
    ts_ms: int,
    wall_ms: int,
    config_hash: str,
    body: str,
    prev_hash: str,
) -> str:
    """``chain_hash`` with positional arguments, for the writer, which hashes every record.

    The text is assembled from the C string escaper that ``json.dumps`` itself uses,
    which gives the same bytes at a fraction of the cost; anything but plain ints and
    strs takes the generic path, so the text never depends on which path ran.
    """
    if (
        type(seq) is int
        and type(step) is int
        and type(ts_ms) is int
        and type(wall_ms) is int
        and type(kind) is str
        and type(config_hash) is str
        and type(body) is str
        and type(prev_hash) is str
    ):
        canonical = _canonical(
            seq,
            step,
            _quote(kind),
            ts_ms,
            wall_ms,
            _quote(config_hash),
            _quote(body),
            _quote(prev_hash),
        )
    else:
        canonical = json.dumps(
            [CHAIN_TAG, seq, step, kind, ts_ms, wall_ms, config_hash, body, prev_hash],
            separators=(",", ":"),
            ensure_ascii=True,
        )
    return _sha256(canonical.encode("ascii")).hexdigest()


_QUOTED_HASHES: dict[str, str] = {}  # config hash -> its JSON text: a few per run


def _quoted_hash(value: str) -> str:
    known = _QUOTED_HASHES.get(value)
    if known is None:
        if len(_QUOTED_HASHES) >= 256:
            _QUOTED_HASHES.clear()
        known = _QUOTED_HASHES[value] = _quote(value)
    return known


def chain_rows(
    seq: int,
    ts_ms: int,
    wall_ms: int,
    parts: list[tuple[str, str, str, str | None]],
    prev_hash: str,
) -> list[Row]:
    """The rows of one step (or one note), numbered from ``seq``, every one in step
    ``seq``, chained from ``prev_hash``. ``parts`` are (kind, config_hash, body, quoted)
    with ``quoted`` either None or what the caller vouches is ``_quote(body)``, the
    body's JSON string (the encoder writes a book's from its pieces, for less than it
    costs to escape the text).

    The writer's hot path, so it lays out each hashed text (``_canonical``, as
    ``record_hash`` does) rather than calling ``record_hash`` per record; the text is the
    same, byte for byte:

    * the checks ``record_hash`` makes per record are made once here for what the records
      of a step share (``seq``, ``ts_ms``, ``wall_ms``), and per record for what they do
      not (kind, config hash, body): anything but a plain int or str goes to
      ``record_hash``, which takes its generic path;
    * a JSON string is the same text whoever escaped it: a config hash's is looked up
      (equal strs have equal escapes), a digest made here is put in quotes (a hex digest
      has nothing to escape), the first ``prev_hash`` (the head read from the file) is
      escaped as any other string.
    """
    rows: list[Row] = []
    step = seq
    prev = prev_hash
    plain = type(seq) is int and type(ts_ms) is int and type(wall_ms) is int
    quoted_prev = _quote(prev) if type(prev) is str else None
    for kind, config_hash, body, quoted_body in parts:
        if (
            plain
            and quoted_prev is not None
            and type(kind) is str
            and type(config_hash) is str
            and type(body) is str
        ):
            canonical = _canonical(
                seq,
                step,
                _quote(kind),
                ts_ms,
                wall_ms,
                _quoted_hash(config_hash),
                _quote(body) if quoted_body is None else quoted_body,
                quoted_prev,
            )
            digest = _sha256(canonical.encode("ascii")).hexdigest()
        else:
            digest = record_hash(seq, step, kind, ts_ms, wall_ms, config_hash, body, prev)
        rows.append((seq, step, kind, ts_ms, wall_ms, config_hash, body, prev, digest))
        prev = digest
        quoted_prev = f'"{digest}"'
        seq += 1
    return rows


@frozen(kw_only=True)
class AuditRecord:
    """One row of the ``records`` table, as stored."""

    seq: int
    step: int
    kind: str
    ts_ms: int
    wall_ms: int
    config_hash: str
    body: str
    prev_hash: str
    hash: str

    def computed_hash(self, seq: int | None = None) -> str:
        """The hash this record should carry (at ``seq``, if it were stored there)."""
        return chain_hash(
            seq=self.seq if seq is None else seq,
            step=self.step,
            kind=self.kind,
            ts_ms=self.ts_ms,
            wall_ms=self.wall_ms,
            config_hash=self.config_hash,
            body=self.body,
            prev_hash=self.prev_hash,
        )

    def as_json(self) -> dict[str, object]:
        """The record as one JSON object, body parsed (for ``audit export``)."""
        try:
            body: object = json.loads(self.body)
        except ValueError:
            body = self.body
        return {
            "seq": self.seq,
            "step": self.step,
            "kind": self.kind,
            "ts_ms": self.ts_ms,
            "wall_ms": self.wall_ms,
            "config_hash": self.config_hash,
            "body": body,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }
