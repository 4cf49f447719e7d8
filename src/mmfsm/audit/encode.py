"""Canonical JSON bodies for the audit log, byte for byte what ``codec.dumps`` writes, faster.

Why a second encoder: the writer encodes every event, transition and command it logs,
and the generic codec walks every value in Python (``_plain`` recursing into each level
of a 40-level book) and builds a fresh ``json.JSONEncoder`` per call. Both are avoidable
without changing one byte of output, which matters because the bodies are hashed into
the chain and compared by ``audit replay``:

* the C encoder already writes tuples as arrays, ints and IntEnums (``TickSize``) by
  their integer, and str-valued text exactly as the codec would; the only values the
  codec rewrites that the C encoder cannot are plain ``Enum`` members (their value) and a
  ``Config`` (its human-unit table), and those go through ``default``, which the C
  encoder calls wherever such a value sits, as ``_plain`` converts them wherever it does;
* the encoder object is built once, with the codec's settings (sorted keys, no spaces,
  ASCII).

Faster still, for the records nearly every step writes (see each for why it is the same
text): a book is written from the texts of its sides (``remember_levels``) together with
the JSON string of that text, which the hash chain needs and which would otherwise be
escaped character by character (``dumps_quoted``); a class whose fields are all plain
(ints, strs, bools, str-valued enums, or None) has an encoder generated for it at import,
one f-string with its keys in order (``_UNROLLED``), with ``_flat`` behind it.

Anything this module does not know (a class the codec cannot encode either) goes to
``codec.dumps``, so errors are the codec's own. ``tests/audit/test_audit_encode.py`` and
``tests/audit/test_audit_fast_paths.py`` check equality against ``codec.dumps`` (and the
escaper) on generated and simulated values.
"""

from __future__ import annotations

import enum
import itertools
import json
import keyword
import types
import typing
from collections.abc import Callable
from typing import Any

import attrs

from mmfsm.core import codec
from mmfsm.core.config import Config, config_to_dict
from mmfsm.core.events import BookSnapshot

__all__ = ["dumps", "dumps_quoted", "remember_levels"]

_quote = json.encoder.encode_basestring_ascii
_SIDE_TEXT: dict[int, tuple[object, str]] = {}
_SIDE_MEMO_MAX = 4_096  # published sides are encoded within a few deliveries
_NAME_TEXT: dict[str, tuple[str, str]] = {}
_NAME_MEMO_MAX = 4_096  # markets and tokens: a few per market listed


def _default(value: object) -> object:
    if isinstance(value, Config):
        return config_to_dict(value)
    if isinstance(value, enum.Enum):
        return value.value
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=_default)
_encode = _ENCODER.encode

# Class -> (its codec name, its field names in declaration order).
_FIELDS: dict[type[Any], tuple[str, tuple[str, ...]]] = {
    cls: (name, tuple(f.name for f in attrs.fields(cls))) for name, cls in codec._CLASSES.items()
}


def remember_levels(levels: tuple[tuple[int, int], ...], text: str) -> None:
    """Register the JSON text of a side whose maker already has it (the simulated venue
    publishes a replayed book from the recorded levels' texts, each formatted once by the
    reader). Keyed by identity and holding the tuple, so an entry can never describe another
    object; the caller vouches that ``text`` is ``json.dumps(levels)`` with the codec's
    separators. Oldest entries go first once the table is full."""
    memo = _SIDE_TEXT
    if len(memo) >= _SIDE_MEMO_MAX:
        for key in list(itertools.islice(memo, _SIDE_MEMO_MAX // 4)):
            del memo[key]
    memo[id(levels)] = (levels, text)


def _side(levels: object) -> str:
    known = _SIDE_TEXT.get(id(levels))
    if known is not None and known[0] is levels:
        return known[1]
    return _encode(levels)


def _name(value: str) -> tuple[str, str]:
    """A market's or token's JSON text, and that text as it sits inside a JSON string
    (escaped again): they repeat in every book, so each is made once."""
    known = _NAME_TEXT.get(value)
    if known is None:
        if len(_NAME_TEXT) >= _NAME_MEMO_MAX:
            _NAME_TEXT.clear()
        text = _quote(value)
        known = _NAME_TEXT[value] = (text, _quote(text)[1:-1])
    return known


def _book(e: BookSnapshot) -> tuple[str, str | None] | None:
    """The book's JSON text and, when the sides are plain numbers, that text's own JSON
    string (``_quote(text)``, which the hash chain needs), written from the same pieces
    rather than escaped character by character: in ``_quote(text)`` every piece is escaped
    on its own, and a side's text (ASCII JSON of ints: digits, brackets, commas, minus
    signs) has nothing to escape, which is checked (``"`` and ``\\`` are all that JSON
    escapes in ASCII JSON text, which has no control characters)."""
    if type(e.ts_ms) is not int or type(e.market) is not str or type(e.token) is not str:
        return None
    asks, bids = _side(e.asks), _side(e.bids)
    market, market_escaped = _name(e.market)
    token, token_escaped = _name(e.token)
    text = (
        f'{{"asks":{asks},"bids":{bids},"market":{market},'
        f'"token":{token},"ts_ms":{e.ts_ms},"type":"BookSnapshot"}}'
    )
    if '"' in asks or "\\" in asks or '"' in bids or "\\" in bids:
        return text, None
    quoted = (
        f'"{{\\"asks\\":{asks},\\"bids\\":{bids},\\"market\\":{market_escaped},'
        f'\\"token\\":{token_escaped},\\"ts_ms\\":{e.ts_ms},\\"type\\":\\"BookSnapshot\\"}}"'
    )
    return text, quoted


# Class -> its keys in sorted order, each as ('"key":', field name or None for "type").
_SORTED: dict[type[Any], tuple[tuple[str, str | None], ...]] = {
    cls: tuple(
        (json.dumps(key) + ":", None if key == "type" else key) for key in sorted({"type", *fields})
    )
    for cls, (_, fields) in _FIELDS.items()
    if "type" not in fields
}


def _flat(obj: object, cls: type[Any]) -> str | None:
    """The object's JSON when every field is an int, str, bool, None or str-valued enum
    (acks, cancels, clock ticks, most commands): written field by field, as the encoder
    would write each; None when a field is anything else."""
    name = _FIELDS[cls][0]
    out = []
    for key, field in _SORTED[cls]:
        if field is None:
            out.append(key + _quote(name))
            continue
        v = getattr(obj, field)
        t = type(v)
        if t is int:
            out.append(key + int.__repr__(v))
        elif t is str:
            out.append(key + _quote(v))
        elif v is None:
            out.append(key + "null")
        elif t is bool:
            out.append(key + ("true" if v else "false"))
        elif isinstance(v, enum.Enum) and type(v.value) is str:
            out.append(key + _quote(v.value))
        else:
            return None
    return "{" + ",".join(out) + "}"


# Classes whose every field is declared int, str, bool, a str-valued Enum, or one of those
# or None (acks, cancels, clock ticks, places, logs: most records) get an encoder written
# for them, once, at import: ``_flat`` unrolled, the keys already in order, one f-string.
# Each field's value is checked against its declaration first, exactly (``type(v) is
# int``: a bool or an IntEnum in an int field is not an int here); a value that is anything
# else makes the encoder return None and ``_flat`` (then the generic encoder) write it.
# Every piece is what ``_flat`` writes for that value: an int by ``int.__format__``
# (its ``repr`` for a plain int), a str and an enum's str value by the encoder's own
# escaper, bools and None as JSON's literals. ``_SOURCE`` keeps the code, for reading.
_SOURCE: dict[type[Any], str] = {}


def _piece(field: str, hint: object, env: dict[str, object]) -> tuple[str, str] | None:
    """(check, f-string expression) for one field's value, held in local ``v_<field>``;
    None if the field's declared type is not one of the simple ones."""
    v = f"v_{field}"
    optional = False
    if typing.get_origin(hint) in (types.UnionType, typing.Union):
        args = typing.get_args(hint)
        if len(args) != 2 or type(None) not in args:
            return None
        hint, optional = next(a for a in args if a is not type(None)), True
    if hint is int:
        check, text = f"type({v}) is int", v
    elif hint is str:
        check, text = f"type({v}) is str", f"_quote({v})"
    elif hint is bool:
        check, text = f"type({v}) is bool", f"_BOOL[{v}]"
    elif (
        isinstance(hint, enum.EnumType)
        and type(hint) is enum.EnumType
        and all(type(member.value) is str for member in list[enum.Enum](hint))
    ):
        env[f"_E_{field}"] = hint
        check, text = f"type({v}) is _E_{field}", f"_quote({v}._value_)"
    else:
        return None
    if optional:
        return f"({v} is None or {check})", f"_NULL if {v} is None else {text}"
    return check, text


def _generate(cls: type[Any]) -> Callable[[Any], str | None] | None:
    """The unrolled encoder of ``cls`` (see above), or None if it cannot have one."""
    name, fields = _FIELDS[cls]
    if not name.isidentifier() or any(not f.isidentifier() or keyword.iskeyword(f) for f in fields):
        return None
    try:
        hints = typing.get_type_hints(cls)
    except (NameError, TypeError):  # an annotation that does not resolve: no fast encoder
        return None
    env: dict[str, object] = {
        "_quote": _quote,
        "_BOOL": {True: "true", False: "false"},
        "_NULL": "null",
    }
    checks, text = [], []
    for key, field in _SORTED[cls]:
        if field is None:
            text.append(key + json.dumps(name))
            continue
        piece = _piece(field, hints.get(field), env)
        if piece is None:
            return None
        checks.append(piece[0])
        text.append(f"{key}{{{piece[1]}}}")
    source = (
        f"def _encode_{name}(obj):\n"
        + "".join(f"    v_{f} = obj.{f}\n" for f in fields)
        + f"    if not ({' and '.join(checks) or 'True'}):\n"
        + "        return None\n"
        + f"    return f'{{{{{','.join(text)}}}}}'\n"
    )
    exec(source, env)  # our own text, built from the class's declared fields
    _SOURCE[cls] = source
    encoder: Callable[[Any], str | None] = env[f"_encode_{name}"]  # type: ignore[assignment]
    return encoder


_UNROLLED: dict[type[Any], Callable[[Any], str | None]] = {
    cls: fn for cls in _SORTED if (fn := _generate(cls)) is not None
}


def dumps(obj: object) -> str:
    """``codec.dumps(obj)``, same text."""
    return dumps_quoted(obj)[0]


def dumps_quoted(obj: object) -> tuple[str, str | None]:
    """``codec.dumps(obj)``, and that text's JSON string (``_quote``) when it came for free
    (a book's), else None."""
    cls = type(obj)
    if cls is BookSnapshot:
        try:
            pair = _book(obj)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            pair = None
        if pair is not None:
            return pair
    else:
        unrolled = _UNROLLED.get(cls)
        if unrolled is not None:
            text = unrolled(obj)
            if text is not None:
                return text, None
        if cls in _SORTED:
            text = _flat(obj, cls)
            if text is not None:
                return text, None
    known = _FIELDS.get(cls)
    if known is None:
        return codec.dumps(obj), None
    name, fields = known
    out: dict[str, object] = {"type": name}
    for f in fields:
        out[f] = getattr(obj, f)
    try:
        return _encode(out), None
    except (TypeError, ValueError):
        return codec.dumps(obj), None  # the codec's error (or, if it can after all, its text)
