"""Alerts out of the process: webhooks (Slack- and PagerDuty-compatible) that never block.

Theory of operation
-------------------
The Engine already emits every alert as a command with the strategy document's exact
text ("GLOBAL DAILY LOSS LIMIT EXCEEDED ...", "Gapped market detected ...", "Passive
unwinding timeout ...", "post_only rejected ...", "FORCE EXIT ..."), and ``mmfsm.logs``
writes those lines to the log, where the document's ``grep`` patterns find them. This
module sends the same line, byte for byte (``logs.format_line``), to webhooks:

* CRITICAL (the breaker, a force exit, an engine fault) to every hook, PagerDuty's
  Events API v2 included (``event_action: trigger``, a ``dedup_key`` per kind of
  alert so a repeated alert updates one incident);
* WARNING (gap, unwind timeout, post-only rejects, venue faults) to chat hooks only
  (Slack's ``{"text": ...}``, which Mattermost and most chat tools accept too).

Never blocking trading: ``route`` only puts the alert on a bounded queue
(``put_nowait``); one daemon thread posts, with a timeout per attempt and exponential
backoff between attempts, and retries network errors, HTTP 429 and 5xx (not other 4xx:
a wrong URL does not get better). A full queue or an exhausted retry budget drops the
alert and counts it; the log line was written regardless. A per-hook token bucket stops
a storm of post-only rejects from flooding a channel.

The webhook URL and the PagerDuty routing key are secrets: they come from the
environment (``MMFSM_ALERT_WEBHOOK``, ``MMFSM_PAGERDUTY_ROUTING_KEY``), are never in a
repr, and failures are logged by hook kind and HTTP status only.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import hashlib
import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs
from attrs import define, frozen

from mmfsm.core.commands import Alert, Command, Log, Severity
from mmfsm.logs import format_line

__all__ = [
    "PAGERDUTY_URL",
    "AlertRouter",
    "AlertSender",
    "Hook",
    "HookKind",
    "hooks_from_env",
    "payload",
]

PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"
_RANK = {Severity.DEBUG: 0, Severity.INFO: 1, Severity.WARNING: 2, Severity.CRITICAL: 3}

Post = Callable[[str, bytes, float], int]
"""(url, body, timeout) -> HTTP status; raises OSError on a network failure."""


class HookKind(enum.Enum):
    SLACK = "slack"
    PAGERDUTY = "pagerduty"


def _check_url(_inst: object, _attr: object, url: str) -> None:
    parts = urllib.parse.urlsplit(url)
    local = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and local):
        # Never echo the URL: it is the credential.
        raise ValueError("an alert webhook must be an https:// URL (http only to localhost)")


@frozen(kw_only=True)
class Hook:
    kind: HookKind
    url: str = attrs.field(repr=False, validator=_check_url)
    routing_key: str | None = attrs.field(default=None, repr=False)
    min_severity: Severity = Severity.WARNING
    per_minute: int = 20


def hooks_from_env(env: Mapping[str, str]) -> list[Hook]:
    """``MMFSM_ALERT_WEBHOOK`` (chat, warnings and up) and ``MMFSM_PAGERDUTY_ROUTING_KEY``
    (critical only; ``MMFSM_PAGERDUTY_URL`` overrides the Events API v2 endpoint)."""
    hooks = []
    url = env.get("MMFSM_ALERT_WEBHOOK", "").strip()
    if url:
        hooks.append(Hook(kind=HookKind.SLACK, url=url))
    key = env.get("MMFSM_PAGERDUTY_ROUTING_KEY", "").strip()
    if key:
        hooks.append(
            Hook(
                kind=HookKind.PAGERDUTY,
                url=env.get("MMFSM_PAGERDUTY_URL", "").strip() or PAGERDUTY_URL,
                routing_key=key,
                min_severity=Severity.CRITICAL,
            )
        )
    return hooks


def payload(
    hook: Hook, severity: Severity, line: str, ts_ms: int, market: str | None
) -> dict[str, Any]:
    """The JSON body one hook expects for one alert line."""
    if hook.kind is HookKind.SLACK:
        return {"text": line}
    head = line.split(": ", 1)[0][-80:]
    kind = "".join(c for c in head if c.isalpha() or c == " ").strip()
    dedup = hashlib.sha256(f"{market}|{kind}".encode()).hexdigest()[:32]
    when = dt.datetime.fromtimestamp(ts_ms / 1000, tz=dt.UTC).isoformat()
    return {
        "routing_key": hook.routing_key,
        "event_action": "trigger",
        "dedup_key": f"mmfsm-{dedup}",
        "payload": {
            "summary": line[:1024],
            "source": "mmfsm",
            "severity": "critical" if severity is Severity.CRITICAL else "warning",
            "timestamp": when,
            "component": market or "bot",
        },
    }


def _urllib_post(url: str, body: bytes, timeout_s: float) -> int:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


@define
class SenderStats:
    queued: int = 0
    sent: int = 0
    failed: int = 0
    dropped: int = 0
    retries: int = 0


@define
class _Bucket:
    tokens: float
    updated: float


class AlertSender:
    """The one background thread that posts alerts (see the module docstring)."""

    def __init__(
        self,
        hooks: Iterable[Hook],
        *,
        logger: logging.Logger | None = None,
        post: Post = _urllib_post,
        max_queue: int = 1000,
        attempts: int = 5,
        backoff_s: float = 0.5,
        timeout_s: float = 5.0,
        scrub: Callable[[str], str] | None = None,
    ) -> None:
        self.hooks = tuple(hooks)
        self.stats = SenderStats()
        self._logger = logger or logging.getLogger("mmfsm.alerts")
        self._post = post
        self._attempts = attempts
        self._backoff_s = backoff_s
        self._timeout_s = timeout_s
        self._scrub = scrub
        self._queue: queue.Queue[tuple[Hook, Severity, str, int, str | None] | None] = queue.Queue(
            max_queue
        )
        self._closing = threading.Event()
        self._buckets = {h: _Bucket(float(h.per_minute), time.monotonic()) for h in self.hooks}
        self._thread = threading.Thread(target=self._run, name="mmfsm-alerts", daemon=True)
        self._thread.start()

    def submit(self, severity: Severity, line: str, ts_ms: int, market: str | None) -> None:
        """Queue one alert for every hook that takes its severity; never blocks."""
        for hook in self.hooks:
            if _RANK[severity] < _RANK[hook.min_severity] or not self._allow(hook):
                continue
            try:
                self._queue.put_nowait((hook, severity, line, ts_ms, market))
                self.stats.queued += 1
            except queue.Full:
                self.stats.dropped += 1

    def close(self, timeout_s: float = 5.0) -> None:
        """Send what is queued within ``timeout_s``, then stop."""
        deadline = time.monotonic() + timeout_s
        while not self._queue.empty() and time.monotonic() < deadline:
            time.sleep(0.01)
        self._closing.set()
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        self._thread.join(max(0.0, deadline - time.monotonic()) + 0.1)

    def _allow(self, hook: Hook) -> bool:
        bucket = self._buckets[hook]
        now = time.monotonic()
        bucket.tokens = min(
            float(hook.per_minute), bucket.tokens + (now - bucket.updated) * hook.per_minute / 60
        )
        bucket.updated = now
        if bucket.tokens < 1:
            self.stats.dropped += 1
            return False
        bucket.tokens -= 1
        return True

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            hook, severity, line, ts_ms, market = item
            if self._scrub is not None:
                # The line, not the body: a PagerDuty body must carry its routing key.
                line = self._scrub(line)
            body = json.dumps(payload(hook, severity, line, ts_ms, market))
            self._deliver(hook, body.encode())

    def _deliver(self, hook: Hook, body: bytes) -> None:
        outcome = "no attempt"
        for attempt in range(self._attempts):
            if attempt:
                self.stats.retries += 1
                if self._closing.wait(self._backoff_s * 2 ** (attempt - 1)):
                    break
            try:
                status = self._post(hook.url, body, self._timeout_s)
            except OSError as exc:  # URLError, timeouts, refused: never print the URL
                outcome = type(exc).__name__
                continue
            if 200 <= status < 300:
                self.stats.sent += 1
                return
            outcome = f"HTTP {status}"
            if status != 429 and status < 500:
                break
        self.stats.failed += 1
        self._logger.warning(f"Alert webhook ({hook.kind.value}) failed: {outcome}")


class AlertRouter:
    """Picks the alert-worthy commands of a step and hands their log lines to the sender."""

    def __init__(self, sender: AlertSender) -> None:
        self.sender = sender

    def route(self, ts_ms: int, commands: Iterable[Command]) -> None:
        for command in commands:
            if isinstance(command, (Alert, Log)) and _RANK[command.severity] >= 2:
                self.sender.submit(
                    command.severity, format_line(ts_ms, command), ts_ms, command.market
                )
