"""The simulator's fast paths give what the plain ones give: the preloaded stream pops in
push order, the row reader reads what json and the level parser read, and a replayed
side is published as ``sorted_levels`` of the summed levels would publish it."""

from __future__ import annotations

import gzip
import json
import random
import re
from pathlib import Path

import attrs
from hypothesis import given
from hypothesis import strategies as st

import mmfsm.sim.replay as replay
from mmfsm.core.book import BookError, parse_levels
from mmfsm.sim.crowd import sorted_levels
from mmfsm.sim.latency import LatencyModel, Wire
from mmfsm.sim.replay import load_recording, row_tick
from mmfsm.sim.schedule import Kind, Scheduler
from mmfsm.sim.venue import _merged


@given(
    stream=st.lists(st.integers(0, 50), max_size=40),
    pushes=st.lists(st.tuples(st.integers(0, 60), st.integers(0, 3)), max_size=40),
)
def test_a_preloaded_stream_pops_as_if_pushed(
    stream: list[int], pushes: list[tuple[int, int]]
) -> None:
    """Rows preloaded (in any time order) then items pushed while popping: the order is the
    one pushing everything would give."""
    a, b = Scheduler(0), Scheduler(0)
    for i, t in enumerate(stream):
        a.push(t, Kind.CALL, ("row", i))
    b.preload([(t, Kind.CALL, ("row", i)) for i, t in enumerate(stream)])
    out_a: list[object] = []
    out_b: list[object] = []
    for sched, out in ((a, out_a), (b, out_b)):
        todo = list(pushes)
        while len(sched):
            assert sched.peek_time() is not None
            item = sched.pop()
            out.append((item.time_ms, item.payload))
            if todo:
                delay, n = todo.pop(0)
                for k in range(n):
                    sched.push(item.time_ms + delay, Kind.VENUE, ("pushed", len(out), k))
    assert out_a == out_b


def _general(path: Path) -> list[replay.RecordedBook]:
    """Every row read the general way (json and the level parser)."""
    books, _ = replay._paths(path)
    return list(
        replay._read_books(books, {b.market for b in load_recording(path).books}, fast=False)
    )


def _plain(b: replay.RecordedBook) -> tuple[object, ...]:
    return (b.ts_ms, b.market, b.up, b.bids, b.asks)


def test_the_row_reader_reads_the_recording_as_json_does(recording: Path) -> None:
    fast = load_recording(recording).books
    general = _general(recording)
    assert [_plain(b) for b in fast] == [_plain(b) for b in general]
    for b in fast:
        assert b.tick is row_tick(attrs.evolve(b, tick=None))
        for levels, texts in ((b.bids, b.bids_text), (b.asks, b.asks_text)):
            if texts is not None:
                assert "[" + ",".join(texts) + "]" == json.dumps(levels, separators=(",", ":"))


def test_odd_rows_are_read_the_general_way(tmp_path: Path) -> None:
    m = "0x" + "ab" * 32
    rows = [
        # canonical
        {
            "market": m,
            "outcome": "UP",
            "ts_ms": 1,
            "bids": [["0.5", "10"]],
            "asks": [["0.6", "1.5"]],
        },
        # numbers as JSON numbers, unsorted side, a zero size, an escape
        {"market": m, "outcome": "UP", "ts_ms": 2, "bids": [[0.4, 10], ["0.45", "0"]], "asks": []},
        {"market": m, "outcome": "DOWN", "ts_ms": 3, "bids": [["0\u002e5", "1"]], "asks": []},
        # the same side twice in a row for a token: the same tuple
        {"market": m, "outcome": "UP", "ts_ms": 4, "bids": [["0.5", "10"]], "asks": []},
        {"market": m, "outcome": "UP", "ts_ms": 5, "bids": [["0.5", "10"]], "asks": [["0.7", "2"]]},
    ]
    lines = [json.dumps(r, separators=(",", ":")) for r in rows]
    lines[2] = lines[2].replace("0.5", "0\\u002e5")
    lines.insert(3, "   ")
    (tmp_path / "markets.jsonl").write_text(
        json.dumps(
            {
                "market_id": m,
                "slug": "s",
                "question": "q",
                "start_ts": 0,
                "end_ts": 10,
                "payout_up": 1.0,
                "payout_down": 0.0,
            }
        )
        + "\n",
        encoding="utf-8",
    )
    with gzip.open(tmp_path / "books.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    fast = load_recording(tmp_path).books
    assert [_plain(b) for b in fast] == [_plain(b) for b in _general(tmp_path)]
    assert fast[0].bids_text == ("[5000,10000000]",)
    assert fast[1].bids_text is None  # not read by the fast reader
    assert fast[3].bids is fast[4].bids


# The full-row regex the reader used before: a side it matched is one the reader must take.
_NUM = r"[0-9]+(?:\.[0-9]+)?"
_SIDE = re.compile(rf'\[(?:\["{_NUM}","{_NUM}"\](?:,\["{_NUM}","{_NUM}"\])*)?\]')
_SIDE_CHARS = st.sampled_from([*'[]",.0123456789', '"],["', '","', "a", " "])


def _side_or_none(raw: str) -> tuple[object, ...] | None:
    try:
        return replay._RowReader().side(raw, ("t", True))
    except replay._Fallback:
        return None


@given(
    levels=st.lists(
        st.tuples(
            st.from_regex(_NUM, fullmatch=True).filter(lambda t: len(t) < 12),
            st.from_regex(_NUM, fullmatch=True).filter(lambda t: len(t) < 12),
        ),
        max_size=4,
    ),
    noise=st.lists(st.tuples(st.integers(0, 200), _SIDE_CHARS), max_size=3),
)
def test_the_side_reader_takes_exactly_what_the_side_regex_took(
    levels: list[tuple[str, str]], noise: list[tuple[int, str]]
) -> None:
    """Well-formed sides, and the same with characters inserted or replaced: the reader
    takes a side exactly when the old regex matched it and every number fits the scale,
    and then reads what the general reader reads."""
    raw = "[" + ",".join(f'["{p}","{s}"]' for p, s in levels) + "]"
    for at, text in noise:
        at %= len(raw) + 1
        raw = raw[:at] + text + raw[at + (at % 2) :]
    got = _side_or_none(raw)
    if _SIDE.fullmatch(raw) is None:
        assert got is None
        return
    try:
        want = parse_levels(json.loads(raw), market="m", token="t", side_name="bids")
    except BookError:
        assert got is None
        return
    fits = all(
        len(t.partition(".")[2].rstrip("0")) <= d
        for p, s in json.loads(raw)
        for t, d in ((p, 4), (s, 6))
    )
    if not fits:
        assert got is None
        return
    assert got is not None
    assert got[0] == want


levels = st.dictionaries(st.integers(1, 9_999), st.integers(1, 10**9), max_size=25)


@given(crowd=levels, own=levels, bids=st.booleans())
def test_a_merged_side_is_the_sorted_sum(
    crowd: dict[int, int], own: dict[int, int], bids: bool
) -> None:
    side = sorted_levels(crowd, bids=bids)
    texts = tuple(f"[{p},{s}]" for p, s in side)
    merged = _merged(side, texts, own, bids=bids)
    assert merged is not None
    total = dict(side)
    for p, s in own.items():
        total[p] = total.get(p, 0) + s
    assert merged[0] == sorted_levels(total, bids=bids)
    assert merged[1] == json.dumps(merged[0], separators=(",", ":"))
    if not own:
        assert merged[0] is side


@given(
    times=st.lists(st.integers(0, 50), max_size=30),
    stream=st.lists(st.integers(0, 50), max_size=30),
    horizon=st.integers(0, 60),
)
def test_pop_due_is_peek_then_pop(times: list[int], stream: list[int], horizon: int) -> None:
    """The loop's one-call ``pop_due`` takes what ``peek_time`` then ``pop_entry`` took, and
    stops where they stopped."""
    a, b = Scheduler(0), Scheduler(0)
    for sched in (a, b):
        sched.preload([(t, Kind.CALL, ("row", i)) for i, t in enumerate(stream)])
        for i, t in enumerate(times):
            sched.push(t, Kind.VENUE, ("pushed", i))
    out_a = []
    while len(a):
        t = a.peek_time()
        if t is None or t > horizon:
            break
        out_a.append(a.pop_entry())
    out_b = []
    while (entry := b.pop_due(horizon)) is not None:
        out_b.append(entry)
    assert out_a == out_b
    assert len(a) == len(b)
    assert a.now_ms == b.now_ms


@given(
    seed=st.integers(0, 2**32),
    ranges=st.lists(st.tuples(st.integers(0, 9_000), st.integers(0, 9_000)), min_size=1),
)
def test_the_wire_draws_what_randint_draws(seed: int, ranges: list[tuple[int, int]]) -> None:
    """The wire's delays are ``randint``'s, draw for draw, from the same generator."""
    wire = Wire(Scheduler(0), LatencyModel(), seed)
    rng = random.Random(f"wire-{seed}")
    for i, (x, y) in enumerate([*ranges, (0, 0)]):
        lo, hi = min(x, y), max(x, y)
        assert wire._arrival(f"fresh{i}", 1_000, (lo, hi)) == 1_000 + rng.randint(lo, hi)
    assert wire.confirm_delay() == rng.randint(*LatencyModel().confirm_ms)


@given(
    prices=st.lists(st.sampled_from(["0.5", "0.49", "0.485", "0.6", "0.4", "0.50"]), min_size=1),
    sizes=st.lists(st.lists(st.sampled_from(["0", "1", "2.5", "10", "0.000001"])), max_size=6),
    bids=st.booleans(),
)
def test_a_side_read_after_another_reads_as_if_read_alone(
    prices: list[str], sizes: list[list[str]], bids: bool
) -> None:
    """Successive sides of a token, mostly with the same price strings (the reader then
    takes over the last side's prices, order and grid): each reads as a fresh reader
    reads it, texts and rank included."""
    reader = replay._RowReader()
    for row in sizes:
        levels = list(zip(prices, row + ["1"] * len(prices), strict=False))
        raw = "[" + ",".join(f'["{p}","{s}"]' for p, s in levels) + "]"
        assert reader.side(raw, ("t", bids)) == replay._RowReader().side(raw, ("t", bids))
