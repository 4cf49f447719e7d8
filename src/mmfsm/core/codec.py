"""Events, commands and transition records as plain JSON values, and back.

Why one codec: the audit log, replay files, counterexamples from the invariant suite and
the simulator's recordings all store the Engine's inputs and outputs, and a replay is
only a proof of determinism if what is read back is exactly what was fed. Every value
is an attrs frozen class, so the codec walks its fields: enums become their value,
``TickSize`` its integer, tuples lists; a ``ConfigReload`` carries its config in human
units (``config_to_dict``). Decoding rebuilds the classes, so their validators run again
on everything read back.
"""

from __future__ import annotations

import enum
import json
import types
import typing
from typing import Any

import attrs

from mmfsm.core import commands as _commands
from mmfsm.core import events as _events
from mmfsm.core.config import Config, config_to_dict, parse_config
from mmfsm.core.machines import TransitionRecord

__all__ = ["CodecError", "decode", "dumps", "encode", "loads"]

_CLASSES: dict[str, type[Any]] = {
    cls.__name__: cls
    for module in (_events, _commands)
    for name in module.__all__
    if attrs.has(cls := getattr(module, name))
}
_CLASSES["TransitionRecord"] = TransitionRecord


class CodecError(ValueError):
    """A stored record that does not decode into a valid event or command."""


def _plain(value: object) -> object:
    if isinstance(value, Config):
        return config_to_dict(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def encode(obj: object) -> dict[str, object]:
    """``{"type": ClassName, field: value, ...}``, fields in declaration order."""
    cls: Any = type(obj)
    if cls.__name__ not in _CLASSES:
        raise CodecError(f"cannot encode {cls.__name__}")
    out: dict[str, object] = {"type": cls.__name__}
    for f in attrs.fields(cls):
        out[f.name] = _plain(getattr(obj, f.name))
    return out


def _rebuild(tp: Any, value: object) -> object:
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        return _rebuild(options[0], value) if len(options) == 1 else value
    if tp is Config:
        if not isinstance(value, dict):
            raise CodecError("config must be a table")
        return parse_config(value)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(value)
    if origin is tuple:
        if not isinstance(value, list):
            raise CodecError(f"expected a list for {tp}, got {type(value).__name__}")
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_rebuild(args[0], v) for v in value)
        return tuple(_rebuild(a, v) for a, v in zip(args, value, strict=True))
    return value


_HINTS: dict[str, dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    """Resolved field types of a class, once: resolving them is most of decode's cost."""
    hints = _HINTS.get(cls.__name__)
    if hints is None:
        hints = _HINTS[cls.__name__] = typing.get_type_hints(cls)
    return hints


def decode(data: dict[str, object]) -> Any:
    """Rebuild an event, command or transition record; validators run again."""
    name = data.get("type")
    cls = _CLASSES.get(str(name))
    if cls is None:
        raise CodecError(f"unknown record type {name!r}")
    hints = _hints(cls)
    kwargs = {}
    for f in attrs.fields(cls):
        if f.name in data:
            kwargs[f.name] = _rebuild(hints[f.name], data[f.name])
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise CodecError(f"{name}: {err}") from err


def dumps(obj: object) -> str:
    """Canonical JSON: sorted keys, no spaces, so equal objects give equal text."""
    return json.dumps(encode(obj), sort_keys=True, separators=(",", ":"))


def loads(text: str) -> Any:
    data = json.loads(text)
    if not isinstance(data, dict):
        raise CodecError("a record must be a JSON object")
    return decode(data)
