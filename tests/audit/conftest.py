"""Fixtures for the audit tests: one recorded run shared by the session, and copies of it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from audit_helpers import BREAKER, record_run

from mmfsm.core.config import Config, parse_config_text
from mmfsm.core.engine import Engine


@pytest.fixture(scope="session")
def breaker_config() -> Config:
    return parse_config_text(BREAKER)


@pytest.fixture(scope="session")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Engine]:
    """One 600 s run (breaker trips inside it), snapshots every 1000 events; do not modify."""
    path = tmp_path_factory.mktemp("recorded") / "audit.sqlite"
    engine = record_run(path, parse_config_text(BREAKER), seconds=600)
    return path, engine


@pytest.fixture
def fresh_copy(recorded: tuple[Path, Engine], tmp_path: Path) -> Path:
    """A private copy of the recorded log, to tamper with."""
    src = sqlite3.connect(recorded[0])
    target = tmp_path / "copy.sqlite"
    dst = sqlite3.connect(target)
    src.backup(dst)
    src.close()
    dst.close()
    return target
