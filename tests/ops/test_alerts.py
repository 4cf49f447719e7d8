"""Alert webhooks: the log's exact lines, Slack and PagerDuty shapes, retries that never block."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from mmfsm.core.commands import Alert, Cancel, Log, Severity
from mmfsm.harness import T0
from mmfsm.logs import format_line
from mmfsm.ops.alerts import (
    PAGERDUTY_URL,
    AlertRouter,
    AlertSender,
    Hook,
    HookKind,
    hooks_from_env,
    payload,
)

BREAKER_LINE = (
    "GLOBAL DAILY LOSS LIMIT EXCEEDED: daily P&L -50.01 (limit -50.00) - STOP ALL ACTIVITIES "
    "- HUMAN INTERVENTION REQUIRED"
)


class _Recorder:
    """A post function that fails ``fail`` times, then answers ``status``."""

    def __init__(self, fail: int = 0, status: int = 200, delay_s: float = 0.0) -> None:
        self.fail, self.status, self.delay_s = fail, status, delay_s
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, url: str, body: bytes, timeout_s: float) -> int:
        time.sleep(self.delay_s)
        self.calls.append((url, json.loads(body)))
        if self.fail:
            self.fail -= 1
            raise ConnectionRefusedError
        return self.status


def _wait(predicate: Any, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.005)


SLACK = Hook(kind=HookKind.SLACK, url="https://hooks.example/services/T000/B000/SECRET")
PD = Hook(
    kind=HookKind.PAGERDUTY,
    url=PAGERDUTY_URL,
    routing_key="R0UTINGKEY0123456789",
    min_severity=Severity.CRITICAL,
)


def test_payload_shapes_carry_the_exact_log_line() -> None:
    alert = Alert(severity=Severity.CRITICAL, message=BREAKER_LINE)
    line = format_line(T0, alert)
    assert payload(SLACK, Severity.CRITICAL, line, T0, None) == {"text": line}
    body = payload(PD, Severity.CRITICAL, line, T0, None)
    assert body["routing_key"] == "R0UTINGKEY0123456789"
    assert body["event_action"] == "trigger"
    assert body["payload"]["summary"] == line
    assert body["payload"]["severity"] == "critical"
    assert body["payload"]["source"] == "mmfsm"
    again = payload(PD, Severity.CRITICAL, format_line(T0 + 5, alert), T0 + 5, None)
    assert again["dedup_key"] == body["dedup_key"]  # one incident, however often it fires


def test_routing_by_severity() -> None:
    post = _Recorder()
    sender = AlertSender([SLACK, PD], post=post)
    router = AlertRouter(sender)
    router.route(
        T0,
        [
            Alert(severity=Severity.CRITICAL, message=BREAKER_LINE),
            Log(
                severity=Severity.WARNING, message="post_only rejected: BUY 10 @ 0.5 (attempt 1/3)"
            ),
            Alert(severity=Severity.WARNING, message="Gapped market detected: ...", market="m1"),
            Log(severity=Severity.INFO, message="Fill detected: ..."),
            Cancel(client_id="c", market="m1"),
        ],
    )
    _wait(lambda: sender.stats.sent == 4)
    sender.close()
    to_slack = [b["text"] for u, b in post.calls if u == SLACK.url]
    to_pd = [b["payload"]["summary"] for u, b in post.calls if u == PAGERDUTY_URL]
    assert len(to_slack) == 3
    assert len(to_pd) == 1
    assert to_pd[0].endswith(BREAKER_LINE)
    assert any("post_only rejected" in t for t in to_slack)
    assert not any("Fill detected" in t for t in to_slack)


def test_network_errors_and_5xx_are_retried() -> None:
    post = _Recorder(fail=2)
    sender = AlertSender([SLACK], post=post, backoff_s=0.01)
    sender.submit(Severity.WARNING, "w", T0, None)
    _wait(lambda: sender.stats.sent == 1)
    sender.close()
    assert len(post.calls) == 3
    assert sender.stats.retries == 2


def test_a_4xx_is_not_retried_and_never_shows_the_url(caplog: pytest.LogCaptureFixture) -> None:
    post = _Recorder(status=404)
    sender = AlertSender([SLACK], post=post, backoff_s=0.01)
    with caplog.at_level("WARNING"):
        sender.submit(Severity.WARNING, "w", T0, None)
        _wait(lambda: sender.stats.failed == 1)
        sender.close()
    assert len(post.calls) == 1
    assert "HTTP 404" in caplog.text
    assert "SECRET" not in caplog.text
    assert "hooks.example" not in caplog.text


def test_submit_never_blocks_trading() -> None:
    post = _Recorder(delay_s=0.5)
    sender = AlertSender([SLACK], post=post, max_queue=3)
    started = time.perf_counter()
    for _ in range(10):
        sender.submit(Severity.WARNING, "w", T0, None)
    assert time.perf_counter() - started < 0.05
    assert sender.stats.dropped >= 6  # queue full: dropped and counted, never waited for
    sender.close(timeout_s=0.1)


def test_a_storm_is_rate_limited() -> None:
    post = _Recorder()
    hook = Hook(kind=HookKind.SLACK, url="https://hooks.example/x", per_minute=5)
    sender = AlertSender([hook], post=post)
    for _ in range(50):
        sender.submit(Severity.WARNING, "post_only rejected", T0, None)
    _wait(lambda: sender.stats.sent == 5)
    sender.close()
    assert sender.stats.sent == 5
    assert sender.stats.dropped == 45


def test_hooks_come_from_the_environment_and_hide_their_secrets() -> None:
    hooks = hooks_from_env(
        {
            "MMFSM_ALERT_WEBHOOK": "https://hooks.example/services/T000/B000/SECRET",
            "MMFSM_PAGERDUTY_ROUTING_KEY": "R0UTINGKEY0123456789",
        }
    )
    assert [h.kind for h in hooks] == [HookKind.SLACK, HookKind.PAGERDUTY]
    assert hooks[1].url == PAGERDUTY_URL
    assert hooks[1].min_severity is Severity.CRITICAL
    text = repr(hooks)
    assert "SECRET" not in text
    assert "R0UTINGKEY" not in text
    assert hooks_from_env({}) == []
    with pytest.raises(ValueError, match="https") as err:
        Hook(kind=HookKind.SLACK, url="http://hooks.example/SECRET")
    assert "SECRET" not in str(err.value)


@pytest.fixture
def webhook_server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    failures = [1]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if failures[0]:
                failures[0] -= 1
                self.send_response(503)
            else:
                received.append(json.loads(body))
                self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()
    server.server_close()


def test_over_real_http(webhook_server: tuple[str, list[dict[str, Any]]]) -> None:
    url, received = webhook_server
    sender = AlertSender([Hook(kind=HookKind.SLACK, url=url)], backoff_s=0.01)
    sender.submit(Severity.CRITICAL, "GLOBAL DAILY LOSS LIMIT EXCEEDED", T0, None)
    _wait(lambda: sender.stats.sent == 1)
    sender.close()
    assert received == [{"text": "GLOBAL DAILY LOSS LIMIT EXCEEDED"}]
    assert sender.stats.retries == 1
