"""``mmfsm run``: the emulator by default; the live venue only with --live and a yes.

None of these tests reaches Polymarket: the live path is stopped at its guards (no
``--live``, no markets, a declined confirmation), all of which come before any request.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account

from mmfsm.cli import main

MARKET = """
[[markets]]
condition_id = "0x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
yes_token = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
no_token = "52114319501245915516055106046884209969926127482827954674443846427813813222426"
name = "Example market"
"""


def test_default_run_trades_on_the_emulator_and_cleans_up(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["run", "--seconds", "3", "--markets", "1", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "CLOB emulator at http://127.0.0.1:" in out
    assert "shutdown: cancelled" in out
    assert "0 still open" in out


def test_polymarket_needs_live_and_markets(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--venue", "polymarket"]) == 2
    assert "add --live" in capsys.readouterr().err
    assert main(["run", "--venue", "polymarket", "--live"]) == 2
    assert "needs [[markets]]" in capsys.readouterr().err


def test_live_confirmation_names_account_markets_limits_and_no_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "live.toml"
    config.write_text(MARKET, encoding="utf-8")
    wallet = Account.create()
    key = wallet.key.hex()
    monkeypatch.setenv("MMFSM_PRIVATE_KEY", key)
    prompts: list[str] = []

    def answer(prompt: str) -> str:
        prompts.append(prompt)
        return "no"

    monkeypatch.setattr("builtins.input", answer)
    assert main(["run", "--venue", "polymarket", "--live", "--config", str(config)]) == 2
    (prompt,) = prompts
    assert wallet.address in prompt
    assert "Example market" in prompt
    assert "global daily loss 50.00 USD" in prompt
    captured = capsys.readouterr()
    assert "not confirmed; nothing was sent" in captured.err
    for text in (prompt, captured.out, captured.err):
        assert key.removeprefix("0x") not in text


def test_emulator_run_keeps_a_new_audit_log_and_refuses_an_old_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    audit = tmp_path / "emulator.sqlite"
    assert main(["run", "--seconds", "4", "--markets", "1", "--quiet", "--audit", str(audit)]) == 0
    out = capsys.readouterr().out
    assert f"audit log {audit}: new audit log" in out
    assert "0 still open" in out
    assert main(["audit", "verify", str(audit)]) == 0
    assert "hash chain intact" in capsys.readouterr().out
    # The log holds the run's decisions: replaying its events gives the same commands.
    assert main(["audit", "replay", str(audit)]) == 0
    replayed = capsys.readouterr().out
    assert "every transition and command matches the log" in replayed
    assert "replayed 0 events" not in replayed
    # A second emulator run must not recover (or append to) another venue's run.
    before = audit.read_bytes()
    assert main(["run", "--seconds", "2", "--markets", "1", "--quiet", "--audit", str(audit)]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert audit.read_bytes() == before
