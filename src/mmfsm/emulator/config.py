"""The emulator's own settings: its markets, its synthetic participants and its faults.

Theory of operation
-------------------
The emulator is a test instrument, so everything that shapes a run is a value here and
nothing is hidden in the code: how many markets and at what tick, how fast the fair
price walks, how often other participants take liquidity, how long settlement takes,
and which faults are switched on. The same values come from a TOML file (``mmfsm run
--emulator-config``) or are built directly by tests, and ``FaultConfig`` can be swapped
while the emulator runs (``Emulator.faults = ...``), so a test can turn a fault on,
watch the bot, and turn it off again.

The file format is flat sections, ``[emulator]``, ``[participants]`` and ``[faults]``,
with the field names below as keys. Unknown sections and keys are errors, as in the
bot's config: a mistyped fault name that silently does nothing would make a fault test
pass for the wrong reason.

Defaults are for ``mmfsm run``: books that move and fills within a minute, no faults.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import attrs
from attrs import frozen

__all__ = [
    "EmulatorConfig",
    "EmulatorConfigError",
    "FaultConfig",
    "ParticipantConfig",
    "load_emulator_config",
]


class EmulatorConfigError(ValueError):
    """A malformed emulator config file or value; names the section and key."""


def _probability(inst: object, attr: attrs.Attribute[Any], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise EmulatorConfigError(f"{attr.name}: {value} is not a probability in [0, 1]")


def _non_negative(inst: object, attr: attrs.Attribute[Any], value: float) -> None:
    if value < 0:
        raise EmulatorConfigError(f"{attr.name}: {value} must be >= 0")


def _as_paths(value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise EmulatorConfigError(f"fail_paths: {value!r} must be a list of REST paths")
    return tuple(value)


def _paths(inst: object, attr: attrs.Attribute[Any], value: tuple[object, ...]) -> None:
    for path in value:
        if not isinstance(path, str) or not path.startswith("/"):
            raise EmulatorConfigError(f"{attr.name}: {path!r} is not a REST path like /data/orders")


def _positive(inst: object, attr: attrs.Attribute[Any], value: float) -> None:
    if value <= 0:
        raise EmulatorConfigError(f"{attr.name}: {value} must be > 0")


@frozen(kw_only=True)
class FaultConfig:
    """Faults, all off by default. Probabilities are per message or per request.

    * ``ws_drop``: a WebSocket message is silently not sent (to one subscriber).
    * ``ws_delay_ms``: each WebSocket message waits up to this long (uniform) before it
      is sent; order on one connection is kept, as TCP would.
    * ``ws_disconnect_s``: every this many seconds the server closes every WebSocket.
    * ``http_5xx`` / ``http_429``: a REST request is answered 503 / 429 before it is
      handled (nothing happened on the venue).
    * ``lost_ack``: a ``POST /order`` is handled (the order exists) but answered 500,
      the ambiguous failure an adapter must resolve by asking the venue.
    * ``slow_ack_ms``: ``POST /order`` answers this much later (the order rests at once).
    * ``trade_delay_ms``: extra time before a trade moves past MATCHED.
    * ``trade_fail``: a trade goes MATCHED -> RETRYING -> FAILED and its transfer is undone.
    * ``tick_change_s``: every this many seconds each market's tick flips between
      0.01 and 0.001, announced by ``tick_size_change``.
    * ``read_lag_ms``: ``GET /data/order`` and ``GET /data/orders`` do not show an order
      until this long after it was placed: the venue's reads lag its writes, so the
      lookup after a lost answer says "not found" for an order that rests.
    * ``fail_paths``: REST paths (``"/data/orders"``) answered 503 on every request: an
      outage of one endpoint while the rest of the venue works, the case where a bot
      that reads a failed fetch as an empty answer does the most harm.
    """

    ws_drop: float = attrs.field(default=0.0, validator=_probability)
    ws_delay_ms: int = attrs.field(default=0, validator=_non_negative)
    ws_disconnect_s: float = attrs.field(default=0.0, validator=_non_negative)
    http_5xx: float = attrs.field(default=0.0, validator=_probability)
    http_429: float = attrs.field(default=0.0, validator=_probability)
    lost_ack: float = attrs.field(default=0.0, validator=_probability)
    slow_ack_ms: int = attrs.field(default=0, validator=_non_negative)
    trade_delay_ms: int = attrs.field(default=0, validator=_non_negative)
    trade_fail: float = attrs.field(default=0.0, validator=_probability)
    tick_change_s: float = attrs.field(default=0.0, validator=_non_negative)
    read_lag_ms: int = attrs.field(default=0, validator=_non_negative)
    fail_paths: tuple[str, ...] = attrs.field(default=(), converter=_as_paths, validator=_paths)


@frozen(kw_only=True)
class ParticipantConfig:
    """The synthetic other side of the market.

    A market maker keeps ``mm_levels`` levels a side around a fair price that moves as a
    Gaussian random walk of ``fair_vol`` dollars per square-root second (stepped every
    ``step_ms``); its half spread is ``mm_half_spread_ticks`` ticks and each level holds
    the same size on both sides, so the book's micro-price is its mid until a taker
    trades. The defaults give a calm book (a few cents an hour), like most Polymarket
    markets, with the market maker's quotes wide enough for a bot to improve on.
    Takers arrive at ``taker_rate`` per second per market and send FAK orders of
    ``taker_min_size``..``taker_max_size`` shares up to ``taker_reach_ticks`` ticks
    through the touch, so a quote at or inside the touch fills. ``enabled = false``
    leaves the books to the tests.
    """

    enabled: bool = True
    step_ms: int = attrs.field(default=250, validator=_positive)
    fair_vol: float = attrs.field(default=0.0008, validator=_non_negative)
    mm_levels: int = attrs.field(default=4, validator=_positive)
    mm_half_spread_ticks: int = attrs.field(default=3, validator=_positive)
    mm_min_size: int = attrs.field(default=100, validator=_positive)
    mm_max_size: int = attrs.field(default=300, validator=_positive)
    taker_rate: float = attrs.field(default=1.0, validator=_non_negative)
    taker_min_size: int = attrs.field(default=5, validator=_positive)
    taker_max_size: int = attrs.field(default=20, validator=_positive)
    taker_reach_ticks: int = attrs.field(default=1, validator=_non_negative)


@frozen(kw_only=True)
class EmulatorConfig:
    """Markets, accounts, settlement timing and protocol limits of one emulator.

    ``chain_id`` defaults to Amoy (80002): the client signs for the same exchange
    addresses there, and a signature made for the emulator can never be replayed on
    Polygon mainnet. ``signature_window_s`` is how old an L1/L2 timestamp may be.
    """

    seed: int = 7
    markets: int = attrs.field(default=3, validator=_positive)
    tick: str = "0.01"
    min_order_size: str = "5"
    chain_id: int = 80002
    user_collateral_usd: int = attrs.field(default=10_000, validator=_non_negative)
    heartbeat_timeout_s: float = attrs.field(default=10.0, validator=_positive)
    signature_window_s: float = attrs.field(default=30.0, validator=_positive)
    mined_ms: int = attrs.field(default=300, validator=_non_negative)
    confirmed_ms: int = attrs.field(default=1_000, validator=_non_negative)
    participants: ParticipantConfig = attrs.field(factory=ParticipantConfig)
    faults: FaultConfig = attrs.field(factory=FaultConfig)


def _build(cls: type[Any], section: str, raw: object) -> Any:
    if not isinstance(raw, dict):
        raise EmulatorConfigError(f"[{section}] must be a table")
    names = {a.name for a in attrs.fields(cls) if a.name not in ("participants", "faults")}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise EmulatorConfigError(
            f"[{section}] unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}"
        )
    try:
        return cls(**raw)
    except TypeError as exc:
        raise EmulatorConfigError(f"[{section}] {exc}") from None


def load_emulator_config(path: Path | None) -> EmulatorConfig:
    """Read ``[emulator]``, ``[participants]`` and ``[faults]`` from a TOML file."""
    if path is None:
        return EmulatorConfig()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise EmulatorConfigError(f"{path}: {exc}") from None
    unknown = sorted(set(data) - {"emulator", "participants", "faults"})
    if unknown:
        raise EmulatorConfigError(f"{path}: unknown section(s) {', '.join(unknown)}")
    participants = _build(ParticipantConfig, "participants", data.get("participants", {}))
    faults = _build(FaultConfig, "faults", data.get("faults", {}))
    base: EmulatorConfig = _build(EmulatorConfig, "emulator", data.get("emulator", {}))
    return attrs.evolve(base, participants=participants, faults=faults)
