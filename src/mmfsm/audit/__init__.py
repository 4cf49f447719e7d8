"""The durable audit log: write-ahead records, hash chain, verify, replay, recovery.

``log`` writes (``AuditLog``), ``store`` holds the schema and reads, ``chain`` defines a
record and its hash, ``verify`` checks the chain, ``replay`` re-runs the Engine over the
recorded events, ``recovery`` rebuilds the Engine after a crash, ``commands`` is the
``mmfsm audit`` CLI.
"""

from __future__ import annotations

from mmfsm.audit.chain import AuditRecord
from mmfsm.audit.log import AuditLog, Sync, must_be_durable
from mmfsm.audit.recovery import Recovered, open_for_run, reconcile, recover
from mmfsm.audit.store import AuditError

__all__ = [
    "AuditError",
    "AuditLog",
    "AuditRecord",
    "Recovered",
    "Sync",
    "must_be_durable",
    "open_for_run",
    "reconcile",
    "recover",
]
