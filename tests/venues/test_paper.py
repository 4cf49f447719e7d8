"""``mmfsm run --paper`` against the embedded emulator on loopback: real data, no orders.

The emulator plays the market (its participants quote and trade); the paper bot reads
it as it would read Polymarket and fills its orders in the simulator's model. Each test
checks the emulator's own records, not the bot's opinion: which requests it served,
which accounts and orders it holds.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import attrs
import pytest
from venue_helpers import FAST_EMULATOR, fast_config, run_with_emulator, wait_for

from mmfsm.cli import main
from mmfsm.core.commands import Place
from mmfsm.core.engine import Step
from mmfsm.core.events import BookSnapshot, Event, Trade, TradeStatus, VenueFault
from mmfsm.emulator import Emulator, FaultConfig
from mmfsm.emulator.thread import EmulatorThread
from mmfsm.live import StatusHandler, StatusLine
from mmfsm.paper import ORDER_ROUTES, PaperSession, order_requests, paper_lines, paper_status
from mmfsm.venues.paper import STREAM_DOWN

MARKET = """
[[markets]]
condition_id = "0x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
yes_token = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
no_token = "52114319501245915516055106046884209969926127482827954674443846427813813222426"
"""


def _session(emu: Emulator, **kw: object) -> PaperSession:
    return PaperSession(
        fast_config(), host=emu.url, ws_url=emu.ws_url, resync_s=1.0, ping_s=2.0, **kw
    )


def _nothing_reached(emu: Emulator) -> None:
    assert order_requests(emu.requests) == 0
    assert all(key.startswith("GET ") for key in emu.requests), dict(emu.requests)
    assert not [a for a in emu.exchange.accounts.values() if not a.internal]
    assert all(rec.account.internal for rec in emu.exchange.live.values())


def test_order_requests_counts_every_order_route_whatever_the_answer() -> None:
    statuses = [200, 400] * 4
    counted = {f"{r} -> {s}": 1 for r, s in zip(ORDER_ROUTES, statuses, strict=True)}
    assert order_requests({**counted, "GET /book -> 200": 5, "GET /markets -> 200": 1}) == 8


def test_paper_fills_reach_the_engine_and_no_order_reaches_the_emulator() -> None:
    async def body(emu: Emulator) -> None:
        bot = _session(emu)
        await bot.start()
        await wait_for(lambda: bot.runner.summary.fills >= 2, 40, "two paper fills in the Engine")
        summary = await bot.stop()
        venue = bot.venue
        assert venue.received["Place"] >= 2
        assert summary.fills == len(venue.model.fills)
        moved = False
        for key, vm in venue.model.markets.items():
            ledger = bot.engine.markets[key].ledger
            assert (ledger.yes_held, ledger.no_held, ledger.realized) == (
                vm.ledger.yes_held,
                vm.ledger.no_held,
                vm.ledger.realized,
            )
            moved |= bool(vm.ledger.yes_held or vm.ledger.no_held or vm.ledger.realized)
        assert moved
        assert summary.shutdown is not None
        assert summary.shutdown.still_open == 0
        assert venue.status().open_orders == 0
        _nothing_reached(emu)
        assert any("(the Engine agrees)" in line for line in paper_lines(venue, bot.engine))

    run_with_emulator(body)


def test_a_dropped_stream_is_a_fault_then_quoting_resumes_on_fresh_data() -> None:
    stepped: list[tuple[Event, int]] = []  # each event with the places its step made

    def on_step(event: Event, step: Step, _t: float) -> None:
        stepped.append((event, sum(isinstance(c, Place) for c in step.commands)))

    def after_fault() -> list[tuple[Event, int]]:
        for i, (event, _) in enumerate(stepped):
            if isinstance(event, VenueFault) and event.what == STREAM_DOWN:
                return stepped[i + 1 :]
        return []

    async def body(emu: Emulator) -> None:
        bot = _session(emu, on_step=on_step)
        await bot.start()
        await wait_for(lambda: bool(after_fault()), 15, "the stream-down fault in the Engine")
        stream = bot.venue._stream
        assert stream is not None
        await wait_for(lambda: stream.connects >= 2, 15, "the stream back up")
        await wait_for(
            lambda: any(n for e, n in after_fault() if not isinstance(e, VenueFault)),
            15,
            "quotes again",
        )
        await bot.stop()
        _nothing_reached(emu)

    run_with_emulator(
        body,
        attrs.evolve(FAST_EMULATOR, markets=1, faults=FaultConfig(ws_disconnect_s=2.0)),
    )
    rest = after_fault()
    first_book = next(i for i, (e, _) in enumerate(rest) if isinstance(e, BookSnapshot))
    assert not [e for e, n in rest[:first_book] if n]  # no quote before fresh data


def test_cli_paper_run_says_paper_and_sends_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    log = tmp_path / "paper.log"
    config = tmp_path / "quick.toml"
    config.write_text("[risk]\ngap_recovery_s = 0\n", encoding="utf-8")  # quote at once
    argv = ["run", "--paper", "--seconds", "5", "--markets", "2", "--quiet"]
    argv += ["--config", str(config), "--log-file", str(log), "--paper-latency-ms", "50"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "PAPER trading" in out
    assert "fixed 50 ms latency" in out
    assert "PAPER: no order reached the venue" in out
    assert ", 0 of them order requests" in out
    assert "0 still open" in out
    lines = log.read_text(encoding="utf-8").splitlines()
    engine_lines = [line for line in lines if " DEBUG " in line or " INFO " in line]
    assert engine_lines  # it quoted: "Preserving queue priority", fills, ...
    assert all(line.startswith("PAPER ") for line in engine_lines)
    assert not list(tmp_path.glob("*.sqlite"))  # no audit log unless asked for


def test_cli_paper_refuses_live_and_the_live_audit_log(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--paper", "--live"]) == 2
    assert "--paper sends no order" in capsys.readouterr().err
    assert main(["run", "--paper", "--venue", "synthetic"]) == 2
    assert "simulated already" in capsys.readouterr().err
    assert main(["run", "--paper", "--venue", "polymarket"]) == 2
    assert "needs [[markets]]" in capsys.readouterr().err
    assert main(["run", "--paper", "--audit", "mmfsm-audit.sqlite"]) == 2
    assert "the live audit log" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_cli_paper_run_writes_an_audit_log_that_verifies(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    audit = tmp_path / "paper-audit.sqlite"
    argv = ["run", "--paper", "--seconds", "3", "--markets", "1", "--quiet"]
    assert main([*argv, "--audit", str(audit), "--audit-sync", "normal"]) == 0
    out = capsys.readouterr().out
    assert f"PAPER audit log {audit}" in out
    assert "order(s) in the paper venue" in out
    assert main(["audit", "verify", str(audit)]) == 0
    # A live bot will not recover from it, and it is refused before any secret is read.
    config = tmp_path / "live.toml"
    config.write_text(MARKET, encoding="utf-8")
    live = ["run", "--venue", "polymarket", "--live", "--no-confirm", "--config", str(config)]
    assert main([*live, "--audit", str(audit)]) == 2
    assert "is a paper run's audit log" in capsys.readouterr().err
    # And a paper run will not write into another run's log.
    other = tmp_path / "other.sqlite"
    other.write_bytes(b"")
    assert main([*argv, "--audit", str(other)]) == 2
    assert "is not a paper run's audit log" in capsys.readouterr().err


def test_paper_trade_events_are_the_adapters_events() -> None:
    """MATCHED then CONFIRMED for each fill, under one trade id, as the live feed says."""
    stepped: list[Event] = []

    async def body(emu: Emulator) -> None:
        bot = _session(emu, on_step=lambda e, _s, _t: stepped.append(e))
        await bot.start()
        await wait_for(
            lambda: any(
                isinstance(e, Trade) and e.status is TradeStatus.CONFIRMED for e in stepped
            ),
            40,
            "a confirmed paper trade",
        )
        await bot.stop()

    run_with_emulator(body, attrs.evolve(FAST_EMULATOR))
    trades = [e for e in stepped if isinstance(e, Trade)]
    confirmed = {t.trade_id for t in trades if t.status is TradeStatus.CONFIRMED}
    matched = {t.trade_id for t in trades if t.status is TradeStatus.MATCHED}
    assert confirmed
    assert confirmed <= matched


def test_cli_paper_on_polymarket_needs_no_key_and_reads_only_public_data(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--venue polymarket --paper`` with the emulator standing in for Polymarket's host."""
    for name in ("MMFSM_PRIVATE_KEY", "MMFSM_API_KEY", "MMFSM_API_SECRET", "MMFSM_API_PASSPHRASE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    thread = EmulatorThread(attrs.evolve(FAST_EMULATOR, markets=1))
    try:
        emu = thread.emulator
        (market,) = emu.exchange.markets.values()
        config = tmp_path / "paper.toml"
        config.write_text(
            "[risk]\ngap_recovery_s = 0\n\n[[markets]]\n"
            f'condition_id = "{market.condition_id}"\n'
            f'yes_token = "{market.yes_token}"\nno_token = "{market.no_token}"\n'
            'name = "emulated"\n',
            encoding="utf-8",
        )
        argv = ["run", "--paper", "--venue", "polymarket", "--seconds", "3", "--quiet"]
        argv += ["--host", emu.url, "--ws-url", emu.ws_url, "--config", str(config)]
        assert main(argv) == 0
        requests = dict(emu.requests)
    finally:
        thread.stop()
    out = capsys.readouterr().out
    assert f"Market data from {emu.url} (no key)" in out
    assert "PAPER inventory emulated" in out
    assert requests
    assert order_requests(requests) == 0
    assert all(key.startswith(("GET /book ", "GET /markets ")) for key in requests), requests


def test_the_status_line_and_its_console_handler_say_paper() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    logger = logging.getLogger("mmfsm.test.paper.status")
    status = StatusLine(Tty())
    handler = StatusHandler(status)
    logger.addHandler(handler)
    try:
        paper = paper_status(logger, status)
        assert paper is not None
        assert handler.status is paper
        paper.update("[    1s] bot running")
        assert "PAPER [    1s] bot running" in paper.stream.getvalue()  # type: ignore[attr-defined]
    finally:
        logger.removeHandler(handler)


def test_a_second_paper_run_on_the_same_engine_counts_its_own_fills() -> None:
    """A restart (an Engine recovered from a paper audit log) keeps its inventory, and
    the new run's fills are new trades to it, not repeats of the last run's ids."""

    async def body(emu: Emulator) -> None:
        first = _session(emu)
        await first.start()
        await wait_for(lambda: first.runner.summary.fills >= 1, 40, "a fill in the first run")
        await first.stop()
        engine = first.engine
        seen = {k: len(ms.ledger.status) for k, ms in engine.markets.items()}
        second = _session(emu, engine=engine)
        await second.start()
        await wait_for(lambda: second.runner.summary.fills >= 1, 40, "a fill in the second run")
        await second.stop()
        for key, vm in second.venue.model.markets.items():
            ledger = engine.markets[key].ledger
            new = sum(1 for f in second.venue.model.fills if f.market == key)
            assert len(ledger.status) == seen[key] + new
            assert (ledger.yes_held, ledger.no_held) == (vm.ledger.yes_held, vm.ledger.no_held)

    run_with_emulator(body, attrs.evolve(FAST_EMULATOR, markets=1))  # one ledger: ids meet
