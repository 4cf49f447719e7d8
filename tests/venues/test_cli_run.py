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
