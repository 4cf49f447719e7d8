"""The writer's fast paths write exactly what the general paths write.

Three fast paths stand between an Engine step and its rows: the unrolled encoders
(``encode._UNROLLED``, one per flat class), a book's JSON string written from its pieces
(``encode.dumps_quoted``), and ``chain.chain_rows``, which hashes a step's records in one
loop. Each is checked here against the general path it replaces: ``codec.dumps`` for
bodies, ``json.encoder.encode_basestring_ascii`` for JSON strings, ``record_hash`` (itself
checked against the JSON array's SHA-256 in ``test_audit_encode``) for rows, and, end to
end, a log written by ``AuditLog`` against the rows rebuilt from its records the slow way.
"""

from __future__ import annotations

import enum
import json
import typing
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mmfsm.audit import encode
from mmfsm.audit.chain import GENESIS_PREV, chain_hash, chain_rows, record_hash
from mmfsm.audit.encode import dumps, dumps_quoted, remember_levels
from mmfsm.audit.log import AuditLog, Sync
from mmfsm.audit.store import connect_reader, read_records
from mmfsm.core import codec
from mmfsm.core.events import BookSnapshot
from mmfsm.sim.loop import simulate
from mmfsm.sim.scenarios import SCENARIOS

_quote = json.encoder.encode_basestring_ascii
UNROLLED = sorted(encode._UNROLLED, key=lambda cls: cls.__name__)


def test_the_common_classes_are_unrolled() -> None:
    names = {cls.__name__ for cls in UNROLLED}
    assert {"ClockTick", "OrderAcked", "OrderCancelled", "Place", "Cancel", "Log"} <= names


def _odd(value: object) -> list[object]:
    """Values the declared type would not give: each must take the general path."""

    class Text(str):
        pass

    class Number(int):
        pass

    class Kind(enum.Enum):
        X = "x"

    return [True, None, 1.5, (1, 2), Text("t"), Number(7), Kind.X, 10**30, 'é\n"\\']


def _field_values(hint: object) -> st.SearchStrategy[Any]:
    if hint is int:  # small ones pass the validators (prices, sizes), big ones the encoders
        return st.integers(0, 10_000) | st.integers(0, 2**70)
    if typing.get_origin(hint) is not None and type(None) in typing.get_args(hint):
        (inner,) = (a for a in typing.get_args(hint) if a is not type(None))
        return st.none() | _field_values(inner)
    return st.from_type(hint)  # type: ignore[arg-type]


def _build(cls: type[Any], kwargs: dict[str, Any]) -> object:
    try:
        return cls(**kwargs)
    except (TypeError, ValueError):
        return None


def _objects(cls: type[Any]) -> st.SearchStrategy[Any]:
    hints = typing.get_type_hints(cls)
    fields = {f.name: _field_values(hints[f.name]) for f in attrs.fields(cls)}
    return st.fixed_dictionaries(fields).map(lambda kw: _build(cls, kw))


@pytest.mark.parametrize("cls", UNROLLED, ids=lambda cls: cls.__name__)
@settings(max_examples=60)
@given(data=st.data())
def test_unrolled_encoders_write_the_codecs_text(cls: type[Any], data: st.DataObject) -> None:
    obj = data.draw(_objects(cls))
    assume(obj is not None)
    assert dumps(obj) == codec.dumps(obj)
    assert dumps_quoted(obj) == (codec.dumps(obj), None)
    # Any field holding something else (only possible around the validators): same text
    # as the codec, or the codec's error.
    field = data.draw(st.sampled_from([f.name for f in attrs.fields(cls)]))
    odd = data.draw(st.sampled_from(_odd(None)))
    object.__setattr__(obj, field, odd)
    try:
        expected: object = codec.dumps(obj)
    except (TypeError, ValueError) as exc:
        expected = type(exc)
    try:
        got: object = dumps(obj)
    except (TypeError, ValueError) as exc:
        got = type(exc)
    assert got == expected


def test_the_generated_source_is_kept_for_reading() -> None:
    for cls in UNROLLED:
        assert f"def _encode_{cls.__name__}(obj):" in encode._SOURCE[cls]


levels = st.lists(
    st.tuples(st.integers(-(10**12), 10**12), st.integers(-(10**20), 10**20)), max_size=25
).map(tuple)
names = st.text() | st.sampled_from(["btc-updown-15m", 'a"b', "a\\b", "é", "\x00\x1f\x7f"])
books = st.builds(
    BookSnapshot, ts_ms=st.integers(0, 2**63), market=names, token=names, bids=levels, asks=levels
)


@given(books, st.booleans())
def test_a_books_json_string_is_the_escaped_text(book: BookSnapshot, remember: bool) -> None:
    if remember:
        remember_levels(book.asks, json.dumps(book.asks, separators=(",", ":")))
    text, quoted = dumps_quoted(book)
    assert text == codec.dumps(book)
    assert quoted == _quote(text)


def test_a_book_with_odd_sides_gives_no_json_string_or_the_right_one() -> None:
    for odd in ((('"', 1),), (("\\", 2),), ((True, 1),), ((1.0, 2),), ([1, 2],)):
        book = BookSnapshot(ts_ms=1, market="m", token="t", bids=odd, asks=())  # type: ignore[arg-type]
        text, quoted = dumps_quoted(book)
        assert text == codec.dumps(book)
        assert quoted is None or quoted == _quote(text)


def _slow_rows(
    seq: int, ts_ms: object, wall_ms: object, parts: list[tuple[Any, Any, Any]], prev: Any
) -> list[tuple[object, ...]]:
    rows = []
    for i, (kind, config_hash, body) in enumerate(parts):
        digest = record_hash(seq + i, seq, kind, ts_ms, wall_ms, config_hash, body, prev)  # type: ignore[arg-type]
        rows.append((seq + i, seq, kind, ts_ms, wall_ms, config_hash, body, prev, digest))
        prev = digest
    return rows


odd_ints = st.integers(-(2**63), 2**63) | st.sampled_from([True, False])
texts = st.text() | st.sampled_from(["0" * 64, 'q"', "\\", "é", "\x7f"])


@settings(max_examples=300)
@given(
    seq=st.integers(1, 2**62),
    ts_ms=odd_ints,
    wall_ms=odd_ints,
    parts=st.lists(
        st.tuples(st.sampled_from(["event", "command", 'k"é']), texts, texts),
        min_size=1,
        max_size=6,
    ),
    prev=texts | st.just(GENESIS_PREV),
    vouch=st.booleans(),
)
def test_chain_rows_are_record_hash_chained(
    seq: int,
    ts_ms: int,
    wall_ms: int,
    parts: list[tuple[str, str, str]],
    prev: str,
    vouch: bool,
) -> None:
    quoted = [(k, c, b, _quote(b) if vouch else None) for k, c, b in parts]
    assert chain_rows(seq, ts_ms, wall_ms, quoted, prev) == _slow_rows(
        seq, ts_ms, wall_ms, list(parts), prev
    )


def test_a_written_log_is_what_the_general_paths_give(tmp_path: Path) -> None:
    """Every event, transition and command of a few scenarios through ``AuditLog``: each
    stored body is ``codec.dumps`` of what was logged, each hash ``chain_hash``."""
    logged: list[tuple[str, str, object]] = []
    path = tmp_path / "a.sqlite"
    log = AuditLog(path, sync=Sync.NORMAL)
    first = True
    for name in ("calm", "gap", "failed-trade", "tick-size-change"):
        run = simulate(SCENARIOS[name]().setup(7))
        if first:
            log.genesis(run.engine.config, 0)
            first = False
        for t in run.trace:
            log.record(t.event, t.step, before="b" * 64, after="a" * 64)
            logged.append(("event", "b" * 64, t.event))
            logged += [("transition", x.config_hash, x) for x in t.step.transitions]
            logged += [("command", "a" * 64, x) for x in t.step.commands]
    log.close()
    conn = connect_reader(path)
    try:
        stored = list(read_records(conn))
    finally:
        conn.close()
    assert len(stored) == len(logged) + 1
    prev = stored[0].hash
    step = 0
    for record, (kind, config_hash, obj) in zip(stored[1:], logged, strict=True):
        if kind == "event":
            step = record.seq
        assert (record.kind, record.config_hash, record.step) == (kind, config_hash, step)
        assert record.body == codec.dumps(obj)
        assert record.prev_hash == prev
        fields = attrs.asdict(record)
        del fields["hash"]
        assert record.hash == chain_hash(**fields)
        prev = record.hash
