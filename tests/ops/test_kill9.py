"""A short run of the kill -9 harness (``tools/kill9_harness.py``) against the emulator."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("eth_account")

HARNESS = Path(__file__).resolve().parents[2] / "tools" / "kill9_harness.py"


def test_killed_twice_nothing_lost(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("kill9_harness", HARNESS)
    assert spec is not None
    assert spec.loader is not None
    harness = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(harness)
    args = argparse.Namespace(
        kills=2, min_s=3.0, max_s=4.5, final_s=5.0, settle_s=1.0, seed=5, faults=False, dir=tmp_path
    )
    code = harness.run(args)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "kill 2:" in out
    assert "PASS" in out
