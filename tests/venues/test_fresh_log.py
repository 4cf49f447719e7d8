"""A live run's audit log decides whether a restart is a restart (INV-LATCH).

The daily loss budget and the breaker's halt latch are Engine state recovered from the
audit log, so a live run on a *new* log (another working directory, a deleted file) would
start with a full budget and no halt. These tests drive ``mmfsm run --venue polymarket
--live`` (the CLI, in process) and ``BotSession`` with the emulator standing in for
Polymarket on loopback; the account's "earlier run" is made with the official client
directly (a crossing order that trades, a resting one), so its past is exact.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from eth_account import Account
from venue_helpers import FAST_ADAPTER, FAST_EMULATOR, fast_config, run_with_emulator, wait_for

from mmfsm.audit.log import Sync
from mmfsm.audit.recovery import recover
from mmfsm.audit.store import connect_reader
from mmfsm.cli import main
from mmfsm.emulator import Emulator, EmulatorConfig, FaultConfig, ParticipantConfig
from mmfsm.emulator.thread import EmulatorThread
from mmfsm.ops.launch import open_services
from mmfsm.paper import order_requests
from mmfsm.trade import BotSession
from mmfsm.venues.base import VenueError
from mmfsm.venues.clob import ClobRest

CALM = ParticipantConfig(taker_rate=0.0)  # nobody trades but us: the account's past is exact
CLI_EMULATOR = EmulatorConfig(markets=1, heartbeat_timeout_s=60.0, participants=CALM)


def _top(book: dict[str, Any], side: str) -> str:
    prices = [float(level["price"]) for level in book[side]]
    return f"{(max(prices) if side == 'bids' else min(prices)):.2f}"


async def _order(rest: ClobRest, token: str, side: str, price: str, size: str = "10") -> None:
    await rest.ensure_creds()
    book = await rest.book(token)
    await rest.post_order(
        token=token,
        side=side,
        price=price,
        size=size,
        tick=str(book["tick_size"]),
        neg_risk=False,
        order_type="GTC",
        post_only=False,
    )


async def _earlier_run(url: str, chain_id: int, key: str, token: str) -> None:
    """An earlier run's past: one trade (a buy at the ask) and one order left resting."""
    rest = ClobRest(url, chain_id, key)
    book = await rest.book(token)
    await _order(rest, token, "BUY", _top(book, "asks"))
    await _order(rest, token, "BUY", "0.05")


def _config(tmp_path: Path, emu: Emulator) -> Path:
    (market,) = emu.exchange.markets.values()
    path = tmp_path / "live.toml"
    path.write_text(
        "[risk]\ngap_recovery_s = 0\n\n[[markets]]\n"
        f'condition_id = "{market.condition_id}"\n'
        f'yes_token = "{market.yes_token}"\nno_token = "{market.no_token}"\n',
        encoding="utf-8",
    )
    return path


def _live(emu: Emulator, config: Path, *extra: str) -> list[str]:
    return [
        "run", "--venue", "polymarket", "--live", "--no-confirm", "--quiet",
        "--host", emu.url, "--ws-url", emu.ws_url, "--chain-id", str(emu.config.chain_id),
        "--config", str(config), "--seconds", "2", *extra,
    ]  # fmt: skip


def _start_accounts(path: Path) -> list[object]:
    """The account each start record of the log names."""
    conn = connect_reader(path)
    try:
        bodies = conn.execute("SELECT body FROM records WHERE kind = 'start' ORDER BY seq")
        return [json.loads(str(body)).get("account") for (body,) in bodies]
    finally:
        conn.close()


def _touches(requests: dict[str, int]) -> int:
    """Requests that place or cancel anything (order routes, cancels, heartbeats)."""
    return order_requests(requests) + sum(
        n for k, n in requests.items() if k.startswith(("DELETE ", "POST /v1/heartbeats"))
    )


@pytest.fixture
def emulator() -> Iterator[EmulatorThread]:
    thread = EmulatorThread(CLI_EMULATOR)
    try:
        yield thread
    finally:
        thread.stop()


def test_a_new_log_is_refused_for_an_account_with_a_past_unless_asked_for(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    emulator: EmulatorThread,
) -> None:
    emu = emulator.emulator
    wallet = Account.create()
    monkeypatch.setenv("MMFSM_PRIVATE_KEY", wallet.key.hex())
    (market,) = emu.exchange.markets.values()
    asyncio.run(_earlier_run(emu.url, emu.config.chain_id, wallet.key.hex(), market.yes_token))
    resting = emulator.read(lambda e: [o["id"] for o in e.open_orders(wallet.address)])
    assert len(resting) == 1
    config = _config(tmp_path, emu)
    # Started from another directory: the default log, mmfsm-audit.sqlite, is a new file.
    monkeypatch.chdir(tmp_path)
    log = (tmp_path / "mmfsm-audit.sqlite").resolve()
    before = emulator.read(lambda e: dict(e.requests))
    assert main(_live(emu, config)) == 3
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert f"audit log {log} is new" in err
    assert "1 earlier trade(s) and 1 open order(s)" in err
    assert "daily loss budget and any breaker halt" in err
    assert "--audit" in err
    assert "--new-audit-log" in err
    after = emulator.read(lambda e: dict(e.requests))
    assert _touches(after) == _touches(before), "placed, cancelled or heartbeated"
    assert emulator.read(lambda e: [o["id"] for o in e.open_orders(wallet.address)]) == resting
    assert not log.exists()

    # Asked for: the new log starts, says where it is, and records the account.
    assert main(_live(emu, config, "--new-audit-log")) == 0
    out = capsys.readouterr().out
    assert f"audit log {log}: new audit log" in out
    assert "NEW audit log" in out
    assert _start_accounts(log) == [wallet.address]
    assert emulator.read(lambda e: e.open_orders(wallet.address)) == []  # the leftover too

    # The flag on a log that holds a run is refused: it would be recovered, not new.
    assert main(_live(emu, config, "--new-audit-log")) == 2
    assert "already holds a run" in capsys.readouterr().err


def test_a_log_written_for_another_account_is_refused(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    emulator: EmulatorThread,
) -> None:
    emu = emulator.emulator
    config = _config(tmp_path, emu)
    monkeypatch.chdir(tmp_path)
    log = (tmp_path / "audit.sqlite").resolve()
    first, second = Account.create(), Account.create()
    monkeypatch.setenv("MMFSM_PRIVATE_KEY", first.key.hex())
    assert main(_live(emu, config, "--audit", "audit.sqlite")) == 0  # a new account: no past
    assert f"audit log {log}: new audit log" in capsys.readouterr().out  # the absolute path
    monkeypatch.setenv("MMFSM_PRIVATE_KEY", second.key.hex())
    before = emulator.read(lambda e: dict(e.requests))
    assert main(_live(emu, config, "--audit", "audit.sqlite")) == 2
    err = capsys.readouterr().err
    assert first.address in err
    assert second.address in err
    assert str(log) in err
    assert _touches(emulator.read(lambda e: dict(e.requests))) == _touches(before)


def test_a_shutdown_that_cannot_read_the_open_orders_exits_non_zero(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    emulator: EmulatorThread,
) -> None:
    emu = emulator.emulator
    config = _config(tmp_path, emu)
    monkeypatch.setenv("MMFSM_PRIVATE_KEY", Account.create().key.hex())
    cancel_all, open_orders = ClobRest.cancel_all, ClobRest.open_orders
    shutting_down = False

    async def cancel(self: ClobRest) -> dict[str, Any]:
        nonlocal shutting_down
        shutting_down = True
        return await cancel_all(self)

    async def orders(self: ClobRest, market: str | None = None) -> list[dict[str, Any]]:
        if shutting_down:
            raise VenueError(503, "service unavailable")
        return await open_orders(self, market)

    monkeypatch.setattr(ClobRest, "cancel_all", cancel)
    monkeypatch.setattr(ClobRest, "open_orders", orders)
    assert main(_live(emu, config, "--audit", str(tmp_path / "audit.sqlite"))) == 1
    captured = capsys.readouterr()
    assert "unknown still open (error: 503: service unavailable)" in captured.out
    assert "could not confirm" in captured.err


def test_a_failed_open_orders_read_at_shutdown_is_unknown_not_zero() -> None:
    async def body(emu: Emulator) -> None:
        bot = BotSession(emu, fast_config(), **FAST_ADAPTER)
        await bot.start()
        await asyncio.sleep(0.5)
        emu.faults = FaultConfig(fail_paths=("/data/orders",))
        summary = await bot.stop()
        assert summary.shutdown is not None
        assert summary.shutdown.still_open is None
        assert not summary.shutdown.confirmed
        assert "unknown still open" in summary.render(bot.engine)

    run_with_emulator(body)


def test_restored_profits_do_not_enlarge_the_budget_of_a_new_log(tmp_path: Path) -> None:
    """The account bought 10 and sold them higher in an earlier run; a bot started on a
    new log (``--new-audit-log``: a fresh Engine) replays both fills: the ledger has the
    profit, today's budget does not, and the log recovers to the same."""
    path = tmp_path / "live.sqlite"

    async def body(emu: Emulator) -> None:
        key = Account.create().key.hex()
        rest = ClobRest(emu.url, emu.config.chain_id, key)
        market = emu.markets[0]
        token = market.yes_token
        bought = _top(await rest.book(token), "asks")
        await _order(rest, token, "BUY", bought)
        emu.participants.fair[market.condition_id] += 0.15
        await wait_for(
            lambda: (market.book.best_bid() or 0) > round(float(bought) * 10_000) + 500,
            10,
            "the market maker's bid 0.05 above our buy",
        )
        await _order(rest, token, "SELL", _top(await rest.book(token), "bids"))
        with open_services(
            fast_config(),
            audit_path=path,
            control=None,
            metrics_port=0,
            sync=Sync.NORMAL,
            start_ms=int(time.time() * 1000),
            logger=logging.getLogger("mmfsm.tests.fresh_log"),
        ) as launched:
            assert launched.recovered.fresh
            bot = BotSession(
                emu,
                fast_config(),
                key=key,
                engine=launched.engine,
                services=launched.services,
                **FAST_ADAPTER,
            )
            await bot.start()
            assert bot.venue.restored_trades == 2
            (ledger,) = (ms.ledger for ms in bot.engine.markets.values())
            assert ledger.realized > 0
            assert ledger.yes_held == ledger.no_held == 0
            assert bot.engine.realized_today == 0
            await bot.stop()

    run_with_emulator(body, attrs.evolve(FAST_EMULATOR, markets=1, participants=CALM))
    conn = connect_reader(path)
    try:
        engine = recover(conn).engine
    finally:
        conn.close()
    assert engine.realized_today == 0
    assert sum(ms.ledger.realized for ms in engine.markets.values()) > 0
