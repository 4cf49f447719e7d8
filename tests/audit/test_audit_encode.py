"""The writer's fast encoder and hash give exactly the generic codec's bytes and hash."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from mmfsm.audit.chain import CHAIN_TAG, chain_hash
from mmfsm.audit.encode import dumps, remember_levels
from mmfsm.core import codec
from mmfsm.core.commands import Cancel, Place, TimeInForce
from mmfsm.core.events import BookSnapshot, ClockTick, OrderAcked, OrderCancelled
from mmfsm.core.ticks import Side
from mmfsm.sim.loop import simulate
from mmfsm.sim.scenarios import SCENARIOS


def _codec_samples() -> list[object]:
    """One value of every class the codec knows, from the codec's own tests."""
    path = Path(__file__).resolve().parent.parent / "core" / "test_codec.py"
    spec = importlib.util.spec_from_file_location("_codec_samples", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.SAMPLES)


def _reference_hash(**kw: object) -> str:
    """chain.py's definition, spelled out the slow way."""
    text = json.dumps(
        [
            CHAIN_TAG,
            kw["seq"],
            kw["step"],
            kw["kind"],
            kw["ts_ms"],
            kw["wall_ms"],
            kw["config_hash"],
            kw["body"],
            kw["prev_hash"],
        ],
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.sha256(text.encode("ascii")).hexdigest()


levels = st.lists(
    st.tuples(st.integers(-(10**12), 10**12), st.integers(-(10**20), 10**20)), max_size=25
).map(tuple)
books = st.builds(
    BookSnapshot,
    ts_ms=st.integers(0, 2**63),
    market=st.text(),
    token=st.text(),
    bids=levels,
    asks=levels,
)


@given(books)
def test_book_bodies_are_the_codecs(book: BookSnapshot) -> None:
    assert dumps(book) == codec.dumps(book)


@given(books)
def test_remembered_sides_are_the_codecs(book: BookSnapshot) -> None:
    remember_levels(book.bids, json.dumps(book.bids, separators=(",", ":")))
    assert dumps(book) == codec.dumps(book)


flat_values = st.one_of(
    st.builds(ClockTick, ts_ms=st.integers(0, 2**64)),
    st.builds(OrderAcked, ts_ms=st.integers(0, 2**40), client_id=st.text(), venue_id=st.text()),
    st.builds(
        OrderCancelled,
        ts_ms=st.integers(0, 2**40),
        client_id=st.text(),
        size_matched=st.integers(0, 2**70),
    ),
    st.builds(Cancel, client_id=st.text(), market=st.text(), reason=st.text()),
    st.builds(
        Place,
        client_id=st.text(),
        market=st.text(),
        token=st.text(),
        side=st.sampled_from(Side),
        price=st.integers(-(2**40), 2**40),
        size=st.integers(0, 2**70),
        tif=st.sampled_from(TimeInForce),
        post_only=st.booleans(),
        expires_ms=st.none() | st.integers(0, 2**50),
    ),
)


@given(flat_values)
def test_flat_bodies_are_the_codecs(value: object) -> None:
    assert dumps(value) == codec.dumps(value)


def test_odd_levels_fall_back_to_the_codecs_text() -> None:
    # Equal to int levels but not ints: the text must still say what the value is.
    for odd in (((True, 1),), ((1.0, 2),), ([1, 2],)):
        book = BookSnapshot(ts_ms=1, market="m", token="t", bids=odd, asks=())  # type: ignore[arg-type]
        assert dumps(book) == codec.dumps(book)


def test_every_sample_and_every_scenario_value_is_the_codecs() -> None:
    values = _codec_samples()
    for name in ("calm", "gap", "failed-trade", "tick-size-change"):
        run = simulate(SCENARIOS[name]().setup(7))
        for t in run.trace:
            values.append(t.event)
            values.extend(t.step.transitions)
            values.extend(t.step.commands)
    for v in values:
        assert dumps(v) == codec.dumps(v), v


@settings(max_examples=300)
@given(
    seq=st.integers(1, 2**62),
    step=st.integers(1, 2**62),
    kind=st.text(),
    ts_ms=st.integers(-(2**63), 2**63),
    wall_ms=st.integers(0, 2**63),
    config_hash=st.text(),
    body=st.text(),
    prev_hash=st.text(),
)
def test_chain_hash_is_the_json_arrays_sha256(**kw: object) -> None:
    assert chain_hash(**kw) == _reference_hash(**kw)  # type: ignore[arg-type]
