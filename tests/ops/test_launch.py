"""``open_services``: recovery, a config change as an audited event, and a clean stop."""

from __future__ import annotations

import logging
from pathlib import Path

from mmfsm.audit.log import Sync
from mmfsm.audit.replay import replay_conn
from mmfsm.audit.store import connect_reader
from mmfsm.audit.verify import verify_path
from mmfsm.core.config import config_hash, default_config, parse_config_text
from mmfsm.harness import T0
from mmfsm.ops.launch import open_services
from mmfsm.runner import run_synthetic


def _logger() -> logging.Logger:
    logger = logging.getLogger("mmfsm.tests.launch")
    logger.propagate = False
    logger.addHandler(logging.NullHandler())
    return logger


def _session(path: Path, toml: str, seconds: int) -> tuple[str, str]:
    config = parse_config_text(toml)
    with open_services(
        config,
        audit_path=path,
        control=None,
        metrics_port=0,
        sync=Sync.FULL,
        start_ms=T0,
        logger=_logger(),
    ) as launched:
        engine, _ = run_synthetic(
            config,
            seconds=seconds,
            seed=7,
            start_ms=launched.start_ms,
            logger=_logger(),
            engine=launched.engine,
            services=launched.services,
        )
    return engine.config_hash, launched.recovered.describe()


def test_a_changed_config_is_an_audited_event(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite"
    first, text = _session(path, "", 60)
    assert first == config_hash(default_config())
    assert text == "new audit log"
    changed = "[strategy]\norder_size_shares = 12\n"
    second, text = _session(path, changed, 60)
    assert second == config_hash(parse_config_text(changed))
    assert "recovered to record" in text
    assert "bot running" in text
    conn = connect_reader(path)
    kinds = [str(k) for (k,) in conn.execute("SELECT kind FROM records ORDER BY seq")]
    reloads = conn.execute(
        "SELECT COUNT(*) FROM records WHERE kind = 'event' AND body LIKE '{\"config\":%'"
    ).fetchone()[0]
    replayed = replay_conn(conn)
    conn.close()
    assert replayed.ok, replayed.first  # the reload replays like any other event
    assert reloads == 1
    assert kinds.count("start") == 2
    assert kinds.count("stop") == 2
    assert verify_path(path).ok
