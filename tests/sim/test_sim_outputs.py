"""Baseline, metrics, report and the ``mmfsm simulate`` command: what a trader gets to read."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from mmfsm.cli import main
from mmfsm.core.commands import Cancel, Place
from mmfsm.core.config import default_config
from mmfsm.core.events import BookSnapshot, MarketListed, Trade, TradeStatus
from mmfsm.core.ticks import SIZE_SCALE, Side, TickSize
from mmfsm.sim.baseline import NaiveMaker
from mmfsm.sim.metrics import LOG_LINES, _round_trips
from mmfsm.sim.report import render_report
from mmfsm.sim.scenarios import SCENARIOS, get
from mmfsm.sim.summary import render_table
from mmfsm.sim.venue import FillRecord

S = SIZE_SCALE
T0 = 1_790_000_000_000

# --------------------------------------------------------------------------- baseline


def test_baseline_cancels_and_replaces_on_every_book_at_the_plain_mid() -> None:
    naive = NaiveMaker.from_config(default_config())
    naive.step(
        MarketListed(
            ts_ms=T0, market="m", yes_token="y", no_token="n", tick=TickSize.CENT, min_size=5 * S
        )
    )

    def book(bid: int, ask: int, ts: int) -> list[object]:
        snap = BookSnapshot(
            ts_ms=ts, market="m", token="y", bids=((bid, 900 * S),), asks=((ask, S),)
        )
        return list(naive.step(snap).commands)

    first = book(4_800, 5_200, T0)
    # mid 0.50 -+ 0.005 to the nearest tick, halves up: bid 0.50, ask 0.51 (BUY NO 0.49)
    assert [(c.token, c.side, c.price) for c in first if isinstance(c, Place)] == [
        ("y", Side.BUY, 5_000),
        ("n", Side.BUY, 4_900),
    ]
    second = book(4_800, 5_200, T0 + 1)  # nothing changed: it still replaces both
    assert sum(isinstance(c, Cancel) for c in second) == 2
    assert sum(isinstance(c, Place) for c in second) == 2
    naive.step(
        Trade(
            ts_ms=T0 + 2,
            trade_id="t",
            client_id=first[0].client_id,
            market="m",  # type: ignore[attr-defined]
            token="y",
            side=Side.BUY,
            price=4_900,
            size=10 * S,
            status=TradeStatus.MATCHED,
        )
    )
    third = [c for c in book(4_800, 5_200, T0 + 3) if isinstance(c, Place)]
    assert (third[1].token, third[1].side) == ("y", Side.SELL)  # now holds YES: sells it


# --------------------------------------------------------------------------- metrics


def test_round_trips_match_fifo_in_yes_terms() -> None:
    def fill(i: int, delta: int, price: int) -> FillRecord:
        return FillRecord(
            ts_ms=i, market="m", trade_id=f"t{i}", client_id="c", delta=delta * S, yes_price=price
        )

    fills = [fill(1, 10, 4_900), fill(2, 10, 4_800), fill(3, -15, 5_100), fill(4, -5, 5_000)]
    matched, captured, trips = _round_trips(fills)
    # 10 @ .49 -> .51, 5 @ .48 -> .51, 5 @ .48 -> .50: 0.20 + 0.15 + 0.10 = $0.45
    assert (matched, captured, trips) == (20 * S, 45 * 10**8, 1)  # money units: 1e-10 USD


def test_metrics_document_has_every_promised_field(scenario) -> None:  # type: ignore[no-untyped-def]
    m = scenario("calm").run.metrics
    for key in (
        "events",
        "fills",
        "fill_rate",
        "round_trips",
        "spread_captured_per_round_trip_usd",
        "rebates_usd",
        "realized_pnl_usd",
        "unrealized_pnl_usd",
        "max_drawdown_usd",
        "max_worst_case_exposure_shares",
        "exposure_limit_shares",
        "api_actions",
        "orders_kept",
        "post_only_rejects",
        "post_only_retries",
        "force_exit_share",
        "time_in_state_s",
        "invariant_violations",
    ):
        assert key in m
    assert m["rebates_usd"] == "0"
    assert "not modelled" in str(m["rebates_note"])
    assert set(m["invariant_violations"]) >= {"INV-HALT", "INV-GRID", "INV-EXPOSURE", "INV-GAP"}
    assert set(m["log_lines"]) == set(LOG_LINES)
    assert m["time_in_state_s"]["market"]["calm-a"]["running"] > 500


def test_report_is_well_formed_svg_per_market(scenario) -> None:  # type: ignore[no-untyped-def]
    run = scenario("gap").run
    page = render_report(run, title="gap <test>")
    assert page.startswith("<!DOCTYPE html>")
    assert "gap &lt;test&gt;" in page
    svgs = re.findall(r"<svg.*?</svg>", page, flags=re.S)
    assert len(svgs) == 1 + 4  # the run's P&L, then price, inventory, P&L, states
    for svg in svgs:
        ET.fromstring(svg)
    assert "gapped_skip" in page
    assert "our bid" in page


# --------------------------------------------------------------------------- the command


def test_list_shows_every_scenario_with_a_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out] == list(SCENARIOS)
    assert all(get(line.split()[0]).summary in line for line in out)


def _run(tmp: Path, tag: str, *args: str, capsys: pytest.CaptureFixture[str]) -> bytes:
    paths = {k: tmp / f"{tag}.{k}" for k in ("json", "html", "log")}
    code = main(
        [
            "simulate",
            *args,
            "--baseline",
            "--json",
            str(paths["json"]),
            "--report",
            str(paths["html"]),
            "--log-file",
            str(paths["log"]),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out.encode()
    return out + b"".join(paths[k].read_bytes() for k in ("json", "html", "log"))


def test_same_seed_same_output_byte_for_byte(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = _run(tmp_path, "a", "--scenario", "failed-trade", capsys=capsys)
    two = _run(tmp_path, "b", "--scenario", "failed-trade", capsys=capsys)
    other = _run(tmp_path, "c", "--scenario", "failed-trade", "--seed", "8", capsys=capsys)
    assert one == two != other


def test_scenario_run_writes_metrics_and_grep_able_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "sim.log"
    out_json = tmp_path / "m.json"
    assert (
        main(
            [
                "simulate",
                "--scenario",
                "correlated-drawdown",
                "--json",
                str(out_json),
                "--log-file",
                str(log),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "invariant violations (mmfsm): 0" in out
    assert "fill rate" in out
    doc = json.loads(out_json.read_text())
    assert doc["baseline"] is None
    assert doc["run"]["name"] == "correlated-drawdown"
    lines = log.read_text().splitlines()
    pattern = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|CRITICAL) ")
    assert lines
    assert all(pattern.match(line) for line in lines)
    assert sum("GLOBAL DAILY LOSS LIMIT EXCEEDED" in line for line in lines) == 1
    assert any("Fill detected" in line for line in lines)


def test_unknown_scenario_and_strict_exit_codes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["simulate", "--scenario", "nope"]) == 2
    assert main(["simulate", "--scenario", "gap", "--strict"]) == 0  # no violation
    capsys.readouterr()


def test_the_table_counts_exits_and_writes_dollars_to_4_places() -> None:
    table = render_table(
        {"exits": 4, "force_exits": 1, "force_exit_share": 0.25, "realized_pnl_usd": "-0.92",
         "total_pnl_usd": "1.2933333333", "rebates_usd": "0"}
    )
    rows = {line.rsplit(None, 1)[0].strip(): line.rsplit(None, 1)[1]
            for line in table.splitlines()[2:]}
    assert rows["exits to flat"] == "4"
    assert rows["of which force exits"] == "1"
    assert rows["realized P&L USD"] == "-0.9200"
    assert rows["total P&L USD"] == "1.2933"
    assert rows["rebates USD (not modelled)"] == "0.0000"
    assert "force exits / exits" not in table
