"""Saved event sequences: a tiny JSON serializer for the events, and a checked replay.

A counterexample from the invariant suite is a config and a list of events. It is
written as ``{"format": "mmfsm-events/1", "config": {...}, "events": [...], "failure":
"..."}``: each event is ``{"type": ClassName, field: value, ...}`` with enums as their
values, ``TickSize`` as its integer, tuples as lists and a ``ConfigReload``'s config in
human units (``config_to_dict``). ``replay`` feeds the events to a fresh Engine and runs
every invariant check after every step, so a saved failure fails again, by name.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs
from inv_checks import TOLERATED, Checker, StepRecord

from mmfsm.core import events as ev
from mmfsm.core.config import Config, config_to_dict, parse_config
from mmfsm.core.engine import Engine
from mmfsm.core.ticks import Side, TickSize

__all__ = ["event_from_json", "event_to_json", "load_events", "replay", "save_events"]

FORMAT = "mmfsm-events/1"
_CLASSES: dict[str, type[Any]] = {
    name: getattr(ev, name)
    for name in ev.__all__
    if isinstance(getattr(ev, name), type) and attrs.has(getattr(ev, name))
}


def _plain(value: object) -> object:
    if isinstance(value, Config):
        return config_to_dict(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def event_to_json(event: ev.Event) -> dict[str, object]:
    out: dict[str, object] = {"type": type(event).__name__}
    for f in attrs.fields(type(event)):
        out[f.name] = _plain(getattr(event, f.name))
    return out


def _field(cls: type[Any], name: str, value: Any) -> Any:
    if cls is ev.OrderRejected and name == "reason":
        return ev.RejectReason(value)
    match name:
        case "tick":
            return TickSize(value)
        case "side":
            return Side(value)
        case "status":
            return ev.TradeStatus(value)
        case "bids" | "asks":
            return tuple((int(p), int(s)) for p, s in value)
        case "changes":
            return tuple((Side(side), int(p), int(s)) for side, p, s in value)
        case "config":
            return parse_config(value)
    return value


def event_from_json(data: dict[str, Any]) -> ev.Event:
    cls = _CLASSES[data["type"]]
    kwargs = {k: _field(cls, k, v) for k, v in data.items() if k != "type"}
    event: ev.Event = cls(**kwargs)
    return event


def save_events(
    path: Path, config: Config, events: Sequence[ev.Event], *, failure: str = ""
) -> None:
    doc = {
        "format": FORMAT,
        "config": config_to_dict(config),
        "events": [event_to_json(e) for e in events],
        "failure": failure,
    }
    path.write_text(json.dumps(doc, indent=1, default=float) + "\n")


def load_events(path: Path) -> tuple[Config, list[ev.Event]]:
    doc = json.loads(path.read_text())
    if doc.get("format") != FORMAT:
        raise ValueError(f"{path}: not an {FORMAT} file")
    return parse_config(doc["config"]), [event_from_json(e) for e in doc["events"]]


def replay(
    config: Config,
    events: Iterable[ev.Event],
    *,
    check: bool = True,
    tolerate: frozenset[str] = TOLERATED,
) -> list[StepRecord]:
    """Feed ``events`` to a fresh Engine; with ``check``, every invariant after every step.

    ``tolerate`` names the known Engine bugs to step around (``inv_checks.TOLERATED``,
    as the stateful suite does); pass ``frozenset()`` to check everything strictly.
    Raises ``InvariantViolation`` (naming the check) at the first step that breaks one.
    The venue's ground truth is not in a saved file, so exposure is checked as the
    Engine counts it (``Engine.exposure``).
    """
    checker = Checker(Engine(config), tolerate=tolerate)
    records = []
    for event in events:
        rec = checker.feed(event)
        records.append(rec)
        if check:
            checker.check_all(rec)
    return records
