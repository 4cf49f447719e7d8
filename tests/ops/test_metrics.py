"""Prometheus metrics: what is counted, and that the exporter stays on loopback."""

from __future__ import annotations

import urllib.request

import pytest

from mmfsm.core.commands import Place
from mmfsm.core.engine import Step
from mmfsm.core.events import Event, OrderRejected, RejectReason
from mmfsm.harness import Harness
from mmfsm.ops.metrics import Metrics, MetricsError


def _value(metrics: Metrics, name: str, labels: dict[str, str] | None = None) -> float:
    value = metrics.registry.get_sample_value(name, labels or {})
    assert value is not None, name
    return value


def _run(metrics: Metrics) -> Harness:
    """List a market, quote it, get one post-only reject; every step observed."""
    h = Harness()
    step = h.engine.step

    def observed(event: Event) -> Step:
        result = step(event)
        metrics.observe_step(event, result, 0.0001)
        return result

    h.engine.step = observed  # type: ignore[method-assign]
    places = [c for c in h.start() if isinstance(c, Place)]
    h.send(
        OrderRejected(ts_ms=h.now_ms, client_id=places[0].client_id, reason=RejectReason.POST_ONLY)
    )
    return h


@pytest.mark.interpreted_core  # patches an Engine method
def test_steps_are_counted() -> None:
    metrics = Metrics()
    h = _run(metrics)
    assert _value(metrics, "mmfsm_events_total", {"type": "ClockTick"}) == 1
    assert _value(metrics, "mmfsm_api_actions_total", {"action": "place"}) == 2
    assert _value(metrics, "mmfsm_rejects_total", {"reason": "post_only"}) == 1
    assert _value(metrics, "mmfsm_step_seconds_count") == 4
    metrics.observe_commit(0.0003, True)
    assert _value(metrics, "mmfsm_audit_commit_seconds_count", {"durable": "true"}) == 1
    metrics.refresh(h.engine, audit_seq=42)
    assert _value(metrics, "mmfsm_bot_state", {"mmfsm_bot_state": "running"}) == 1
    assert (
        _value(metrics, "mmfsm_market_state", {"market": "m1", "mmfsm_market_state": "running"})
        == 1
    )
    assert _value(metrics, "mmfsm_exposure_limit_shares", {"market": "m1"}) == 100
    assert _value(metrics, "mmfsm_exposure_worst_shares", {"market": "m1"}) > 0
    assert _value(metrics, "mmfsm_audit_seq") == 42
    assert _value(metrics, "mmfsm_breaker_headroom_usd") == 50


def test_served_on_loopback_only() -> None:
    metrics = Metrics()
    with pytest.raises(MetricsError, match="not loopback"):
        metrics.serve(0, addr="0.0.0.0")
    with pytest.raises(MetricsError, match="not loopback"):
        metrics.serve(0, addr="example.com")
    port = metrics.serve(0)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
        assert "mmfsm_step_seconds" in text
    finally:
        metrics.close()


def test_two_bots_in_one_process_do_not_collide() -> None:
    a, b = Metrics(), Metrics()
    a.observe_commit(0.1, False)
    assert (
        b.registry.get_sample_value("mmfsm_audit_commit_seconds_count", {"durable": "false"})
        is None
    )
