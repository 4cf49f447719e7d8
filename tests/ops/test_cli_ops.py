"""End to end through the CLI: a running bot, status, halt, kill -9, restart, verify."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mmfsm.cli import main


@pytest.fixture
def workdir() -> Iterator[Path]:
    # Short: a Unix socket path must fit in ~107 bytes.
    with tempfile.TemporaryDirectory(prefix="mmfsm-") as name:
        yield Path(name)


def _mmfsm(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mmfsm.cli", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(path: Path, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_operate_a_running_bot_kill_it_and_restart(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    audit = workdir / "a.sqlite"
    sock = workdir / "a.sqlite.sock"
    bot = _mmfsm(
        "run", "--venue", "synthetic", "--realtime", "--seconds", "120", "--quiet",
        "--audit", str(audit), cwd=workdir,
    )  # fmt: skip
    try:
        _wait_for(sock)
        time.sleep(1.5)  # a couple of simulated seconds: markets listed and quoted
        assert main(["status", "--socket", str(sock)]) == 0
        out = capsys.readouterr().out
        assert out.startswith("bot running")
        assert "synthetic-1: market" in out
        assert "worst-case exposure" in out

        assert main(["halt", "--socket", str(sock), "--reason", "test halt"]) == 0
        out = capsys.readouterr().out
        assert "bot: running -> halted (operator_halt)" in out
        assert "bot bot" not in out
        assert "Operator halt: test halt" in out
        assert main(["status", "--socket", str(sock), "--json"]) == 0
        assert '"bot": "halted"' in capsys.readouterr().out
        time.sleep(0.5)
    finally:
        os.kill(bot.pid, signal.SIGKILL)
        bot.communicate(timeout=10)
    assert bot.returncode == -signal.SIGKILL

    again = _mmfsm(
        "run", "--venue", "synthetic", "--seconds", "30", "--audit", str(audit), cwd=workdir
    )
    out, err = again.communicate(timeout=60)
    assert again.returncode == 0, err
    assert "recovered to record" in out
    assert "bot halted" in out  # the halt survived kill -9
    assert not sock.exists()

    assert main(["audit", "verify", str(audit)]) == 0
    assert main(["audit", "replay", str(audit)]) == 0
    capsys.readouterr()
    assert main(["audit", "tail", str(audit), "-n", "3"]) == 0
    assert "stop" in capsys.readouterr().out
    assert main(["audit", "export", str(audit), "--format", "jsonl"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert '"kind":"genesis"' in lines[0]
    assert '"kind":"stop"' in lines[-1]


def test_resume_needs_an_ack(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["resume", "--socket", "/nonexistent.sock"])
    assert "--ack" in capsys.readouterr().err


def test_no_bot_running(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--socket", str(workdir / "none.sock")]) == 2
    assert "no mmfsm is running" in capsys.readouterr().err
