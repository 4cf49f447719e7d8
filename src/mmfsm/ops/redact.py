"""The last line of defence against a secret reaching a log, an audit record or an alert.

Theory of operation
-------------------
Secrets never enter the Engine, the config or the audit log by construction
(``mmfsm.settings``). But text from outside does: an exchange error message could echo a
header, a webhook error could print its URL. So everything the shell writes (audit
bodies, log lines, webhook payloads, errors printed by the CLI) goes through a
``Redactor`` holding the secret values, which replaces each occurrence, raw or as it
appears inside JSON (escaped), with ``<redacted>``. Values shorter than ``MIN_LENGTH``
are not searched for: a three-letter "secret" would erase ordinary words, and no real
key is that short.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping

from mmfsm.settings import ENV_VARS, Secrets

__all__ = ["ALERT_ENV_VARS", "MIN_LENGTH", "REDACTED", "RedactingFilter", "Redactor"]

REDACTED = "<redacted>"
MIN_LENGTH = 6
ALERT_ENV_VARS = ("MMFSM_ALERT_WEBHOOK", "MMFSM_PAGERDUTY_ROUTING_KEY")
"""Alerting credentials: a Slack webhook URL and a PagerDuty key are secrets too."""


class Redactor:
    __slots__ = ("_needles",)

    def __init__(self, secrets: Iterable[str]) -> None:
        needles: set[str] = set()
        for value in secrets:
            if len(value) >= MIN_LENGTH:
                needles.add(value)
                needles.add(json.dumps(value)[1:-1])  # as it appears inside a JSON string
        # Longest first, so a secret that contains another is replaced whole.
        self._needles = tuple(sorted(needles, key=len, reverse=True))

    @classmethod
    def of(cls, secrets: Secrets, env: Mapping[str, str] | None = None) -> Redactor:
        """Every value in ``secrets``, and the alerting credentials of ``env``."""
        values = [getattr(secrets, name) for name in ENV_VARS]
        values += [(env or {}).get(var, "") for var in ALERT_ENV_VARS]
        return cls(v for v in values if v)

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> Redactor:
        """The secrets of the environment (``MMFSM_*``), whether or not they are valid."""
        source = os.environ if env is None else env
        names = list(ENV_VARS.values()) + list(ALERT_ENV_VARS)
        return cls(source.get(var, "").strip() for var in names if source.get(var, "").strip())

    def __bool__(self) -> bool:
        return bool(self._needles)

    def __call__(self, text: str) -> str:
        for needle in self._needles:
            if needle in text:
                text = text.replace(needle, REDACTED)
        return text

    def __repr__(self) -> str:
        return f"Redactor({len(self._needles)} patterns)"


class RedactingFilter(logging.Filter):
    """A logging filter that redacts every record's final message."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.redactor(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        return True
