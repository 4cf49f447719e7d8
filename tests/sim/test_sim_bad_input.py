"""Damaged recordings and bad ``mmfsm simulate`` arguments: one clear line, exit 2.

Each case was a traceback (or a silent misreading) before: a truncated gzip gave
EOFError, a row ``{"foo":1}`` KeyError 'market', a row that is an array TypeError, a
markets row without its slug KeyError, a bad JSON line a json error naming neither file
nor line, ``--replay /nonexistent`` blamed '/markets.jsonl', and ``"outcome":"MAYBE"``
was read as DOWN. ``--max-markets -1`` dropped the last market (a slice), and an
unwritable ``--json`` failed only after the whole run.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

import mmfsm.sim.replay as replay
from mmfsm.cli import main
from mmfsm.sim.replay import ReplayError, load_recording

M = "0x" + "ab" * 32
MARKET = {
    "market_id": M,
    "slug": "s",
    "question": "q",
    "start_ts": 0,
    "end_ts": 10_000,
    "payout_up": 1.0,
    "payout_down": 0.0,
}


def _row(ts: int, outcome: str = "UP") -> str:
    row = {"market": M, "outcome": outcome, "ts_ms": ts, "bids": [["0.5", "10"]]}
    row["asks"] = [["0.6", "5"]]
    return json.dumps(row, separators=(",", ":"))


def _recording(tmp_path: Path, lines: list[str], markets: list[str] | None = None) -> Path:
    (tmp_path / "markets.jsonl").write_text(
        "\n".join(markets or [json.dumps(MARKET)]) + "\n", encoding="utf-8"
    )
    with gzip.open(tmp_path / "books.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    return tmp_path


def test_a_good_recording_still_reads(tmp_path: Path) -> None:
    rec = load_recording(_recording(tmp_path, [_row(1), _row(2, "DOWN")]))
    assert [(b.ts_ms, b.up) for b in rec.books] == [(1, True), (2, False)]


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ('{"foo":1}', "missing key 'market'"),
        ("[1,2,3]", "is a JSON list, not an object"),
        ('{"market": "0xfb", garbage', r"not JSON \(Expecting .* at column \d+\)"),
        (_row(3, "MAYBE"), "outcome 'MAYBE' is not UP or DOWN"),
        (_row(3).replace('"ts_ms":3', '"ts_ms":"abc"'), "ts_ms is a str, not an integer"),
        (
            _row(3).replace('"bids":[["0.5","10"]]', '"bids":null'),
            "book for market .*: bids is a NoneType",
        ),
        (
            _row(3).replace('"asks":[["0.6","5"]]', '"asks":[[["x"],"5"]]'),
            r"book for .*: asks\[0\]\[0\]\.price \['x'\] is not a decimal",
        ),
        (
            _row(3).replace('["0.5","10"]', '{"price":"0.5","size":"-"}'),
            r".*bids\[0\].*\.size .-. is not a decimal",
        ),
    ],
)
@pytest.mark.parametrize("fast", [True, False])
def test_a_damaged_row_names_the_file_and_the_line(
    tmp_path: Path, bad: str, problem: str, fast: bool
) -> None:
    path = _recording(tmp_path, [_row(1), "", bad, _row(4)])
    books = tmp_path / "books.jsonl.gz"
    with pytest.raises(ReplayError, match=rf"^{books}:3: {problem}"):
        list(replay._read_books(books, {M}, fast=fast))
    with pytest.raises(ReplayError, match=rf"^{books}:3: {problem}"):
        load_recording(path)


def test_a_truncated_or_non_gzip_books_file_names_the_file(tmp_path: Path) -> None:
    path = _recording(tmp_path, [_row(t) for t in range(2000)])
    books = path / "books.jsonl.gz"
    data = books.read_bytes()
    books.write_bytes(data[: len(data) // 2])
    with pytest.raises(ReplayError, match=rf"^{books}:\d+: the file ends early"):
        load_recording(path)
    books.write_bytes(b"this is not gzip\n" * 10)
    with pytest.raises(ReplayError, match=rf"^{books}:1: not a readable gzip file"):
        load_recording(path)


def test_a_damaged_markets_file_names_the_file_and_the_line(tmp_path: Path) -> None:
    no_slug = {k: v for k, v in MARKET.items() if k != "slug"}
    markets = tmp_path / "markets.jsonl"
    for lines, problem in (
        ([json.dumps(MARKET), json.dumps(no_slug)], "2: missing key 'slug'"),
        (["{not json"], r"1: not JSON"),
        ([json.dumps(MARKET), "", "[]"], "3: is a JSON list, not an object"),
        ([json.dumps({**MARKET, "payout_up": "lots"})], "1: could not convert"),
    ):
        _recording(tmp_path, [_row(1)], lines)
        with pytest.raises(ReplayError, match=rf"^{markets}:{problem}"):
            load_recording(tmp_path)


def test_missing_paths_are_named_as_given(tmp_path: Path) -> None:
    with pytest.raises(ReplayError, match=rf"^{tmp_path / 'nope'}: no such file or directory"):
        load_recording(tmp_path / "nope")
    (tmp_path / "markets.jsonl").write_text(json.dumps(MARKET) + "\n", encoding="utf-8")
    with pytest.raises(ReplayError, match=rf"^{tmp_path / 'books.jsonl.gz'}: no such file"):
        load_recording(tmp_path)
    _recording(tmp_path, [_row(1)])
    (tmp_path / "markets.jsonl").unlink()
    with pytest.raises(ReplayError, match=rf"^{tmp_path / 'markets.jsonl'}: no such file"):
        load_recording(tmp_path / "books.jsonl.gz")
    with pytest.raises(ValueError, match="max_markets must be at least 1"):
        load_recording(tmp_path, max_markets=0)


def test_simulate_prints_one_line_and_exits_2_for_a_damaged_recording(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _recording(tmp_path, [_row(1), _row(2, "MAYBE")])
    assert main(["simulate", "--replay", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"mmfsm simulate: {path / 'books.jsonl.gz'}:2: outcome 'MAYBE' is not UP or DOWN\n"
    )
    assert main(["simulate", "--replay", "/nonexistent"]) == 2
    assert capsys.readouterr().err == "mmfsm simulate: /nonexistent: no such file or directory\n"


@pytest.mark.parametrize("n", ["-1", "0", "two"])
def test_max_markets_must_be_a_positive_integer(
    n: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["simulate", "--replay", str(_recording(tmp_path, [_row(1)])), "--max-markets", n])
    assert exc.value.code == 2
    assert "argument --max-markets:" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--json", "--report", "--log-file"])
def test_an_unwritable_output_is_refused_before_the_run(
    flag: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "missing-dir" / "out"
    assert main(["simulate", "--scenario", "gap", flag, str(target)]) == 2
    out, err = capsys.readouterr()
    assert out == ""  # nothing ran: no header, no table
    assert err == f"mmfsm simulate: {flag} {target}: directory {target.parent} does not exist\n"
    assert main(["simulate", "--scenario", "gap", flag, str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"mmfsm simulate: {flag} {tmp_path}: is a directory\n"
