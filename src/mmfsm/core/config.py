"""Configuration: the strategy's risk table as frozen, validated values in core units.

Theory of operation
-------------------
A risk limit that is silently wrong is worse than no limit: the operator believes a
protection is in place. So the configuration is strict in every direction:

* Every TOML key is in human units with the unit in its name (``capital_usd``,
  ``max_position_age_s``, ``max_adverse_move_pct``); prices are plain decimals
  (``max_spread = 0.08``). Each value is converted exactly (TOML floats are read as
  ``Decimal``, then through the parse helpers of ``ticks``) into the integer units the
  core computes with: money units, size units, price units, milliseconds and basis
  points. A value finer than its unit (``max_spread = 0.00005``) is an error, never
  rounded. Only the quote model's own parameters (``gamma``, ``k``, ...) stay floats.
* Every field of every class validates on construction, whether it was built by the
  parser or by hand in a test, and the error (``ConfigError``) names the full TOML key
  and the allowed range, in human units: ``risk.max_spread: 1.5 is outside (0, 1)``.
* Unknown sections and unknown keys are errors (with a "did you mean"): a typo in
  ``max_positon_loss_usd`` must not leave the default in force unnoticed. Wrong types
  are errors too: ``true`` is not a number and a token id written as a TOML integer is
  not a string.

Each field carries its TOML key, unit and bounds in its attrs metadata, and parsing,
validation, rendering (``config_to_dict``) and the example file's test all read that one
description, so they cannot disagree.

Defaults are the strategy document's risk table ($500 capital, $50 global daily loss).
The capital tiers of the same document are ``PRESETS``; a top-level ``preset = "..."``
applies one to the defaults before the explicit keys of the file override it.

``config_hash`` is the SHA-256 of a canonical JSON rendering of every value in core
units; the audit log records it with every transition, so a run can be tied to the
exact limits it ran under. Two files that differ only in how a number is written
(``500`` or ``500.0``) have the same hash.

This module is pure (no file or environment access): reading the file and the secrets
is the shell's job (``mmfsm.settings``). Secrets never appear here.
"""

from __future__ import annotations

import difflib
import enum
import hashlib
import json
import math
import tomllib
from collections.abc import Callable, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar, cast

import attrs
from attrs import frozen

from mmfsm.core.ticks import (
    MONEY_SCALE,
    PRICE_SCALE,
    SIZE_SCALE,
    GridError,
    money_from_usd,
    parse_price,
    parse_size,
)

__all__ = [
    "PRESETS",
    "Config",
    "ConfigError",
    "MarketConfig",
    "MicroPrice",
    "Preset",
    "QuoteModel",
    "RiskConfig",
    "RunConfig",
    "StrategyConfig",
    "Venue",
    "apply_preset",
    "config_hash",
    "config_to_dict",
    "default_config",
    "parse_config",
    "parse_config_text",
]

_HASH_SCHEMA = "mmfsm.config/1"
"""Part of the hashed text, so a change in the meaning of the fields changes every hash."""


class ConfigError(ValueError):
    """A configuration value that is missing, mistyped, unknown or out of range.

    ``key`` is the full TOML key (``risk.max_spread``, ``markets[2].yes_token``) so the
    operator can find the line; ``problem`` says what is wrong in human units.
    """

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


class QuoteModel(enum.Enum):
    AVELLANEDA_STOIKOV = "avellaneda-stoikov"
    GLFT = "glft"


class MicroPrice(enum.Enum):
    VWMP = "vwmp"
    STOIKOV = "stoikov"


class Venue(enum.Enum):
    EMULATOR = "emulator"
    POLYMARKET = "polymarket"
    PAPER = "paper"


def _show(value: object) -> str:
    """A value as the operator wrote it, short enough for one error line."""
    if isinstance(value, str):
        text = json.dumps(value)
    elif isinstance(value, Decimal):
        text = format(value, "f") if value.is_finite() else str(value)
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _to_decimal(key: str, value: object) -> Decimal:
    # bool is an int in Python but never a number in a config: `capital_usd = true`.
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        hint = " (write numbers without quotes)" if isinstance(value, str) else ""
        raise ConfigError(key, f"{_show(value)} is not a number{hint}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError(key, f"{_show(value)} is not finite")
        return Decimal(repr(value))
    if isinstance(value, Decimal) and not value.is_finite():
        raise ConfigError(key, f"{_show(value)} is not finite")
    return Decimal(value)


def _human_text(value: Decimal) -> str:
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


@frozen
class _Bounds:
    """An interval in human units; ``None`` is unbounded on that side."""

    lo: Decimal | None = None
    lo_open: bool = False
    hi: Decimal | None = None
    hi_open: bool = False

    def describe(self) -> str:
        lo = "" if self.lo is None else _human_text(self.lo)
        hi = "" if self.hi is None else _human_text(self.hi)
        if self.lo is not None and self.hi is not None:
            return f"outside {'(' if self.lo_open else '['}{lo}, {hi}{')' if self.hi_open else ']'}"
        if self.lo is not None:
            return f"not {'>' if self.lo_open else '>='} {lo}"
        return f"not {'<' if self.hi_open else '<='} {hi}"

    def problem(self, value: Decimal) -> str | None:
        low = self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo)
        high = self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi)
        return f"{_human_text(value)} is {self.describe()}" if low or high else None


def _bounds(gt: str | None, ge: str | None, lt: str | None, le: str | None) -> _Bounds:
    lo, hi = gt if gt is not None else ge, lt if lt is not None else le
    return _Bounds(
        lo=None if lo is None else Decimal(lo),
        lo_open=gt is not None,
        hi=None if hi is None else Decimal(hi),
        hi_open=lt is not None,
    )


def _scaled(scale: int) -> Callable[[Decimal], int]:
    def parse(value: Decimal) -> int:
        units = value * scale
        if units != units.to_integral_value():
            raise GridError(f"{value} has more precision than 1/{scale}")
        return int(units)

    return parse


@frozen
class _Unit:
    """How a human-unit TOML number becomes an exact int in core units, and back."""

    scale: int
    parse: Callable[[Decimal], int]
    whole_only: bool = False  # a count: 3.0 retries is a typo, not a number of retries

    def step(self) -> str:
        return _human_text(Decimal(1) / self.scale)


_USD = _Unit(scale=MONEY_SCALE, parse=money_from_usd)
_SHARES = _Unit(scale=SIZE_SCALE, parse=parse_size)
_PRICE = _Unit(scale=PRICE_SCALE, parse=parse_price)
_SECONDS = _Unit(scale=1000, parse=_scaled(1000))  # held as milliseconds
_MILLIS = _Unit(scale=1, parse=_scaled(1))
_PERCENT = _Unit(scale=100, parse=_scaled(100))  # held as basis points
_COUNT = _Unit(scale=1, parse=_scaled(1), whole_only=True)


@frozen
class _Number:
    """A numeric key: ``unit`` None is a float model parameter, else an int in core units."""

    unit: _Unit | None
    bounds: _Bounds

    def from_toml(self, key: str, value: object) -> int | float:
        if self.unit is None:
            return float(_to_decimal(key, value))
        if self.unit.whole_only and not (isinstance(value, int) and not isinstance(value, bool)):
            raise ConfigError(key, f"{_show(value)} is not a whole number")
        exact = _to_decimal(key, value)
        try:
            return self.unit.parse(exact)
        except GridError:
            raise ConfigError(
                key, f"{_show(value)} is finer than the smallest step {self.unit.step()}"
            ) from None

    def human(self, core: int | float) -> Decimal:
        if self.unit is None:
            return Decimal(repr(float(core)))
        return Decimal(core) / self.unit.scale

    def to_toml(self, core: object) -> object:
        if self.unit is None:
            return core
        assert isinstance(core, int)
        value = self.human(core)
        if value == value.to_integral_value():
            return int(value)
        as_float = float(value)
        # TOML has no exact decimals: keep the float only if it reads back to the same units.
        return as_float if Decimal(repr(as_float)) == value else value

    def check(self, key: str, core: object) -> None:
        if self.unit is None:
            if isinstance(core, bool) or not isinstance(core, float):
                raise ConfigError(key, f"{_show(core)} is not a number")
            if not math.isfinite(core):
                raise ConfigError(key, f"{_show(core)} is not finite")
        elif isinstance(core, bool) or not isinstance(core, int):
            raise ConfigError(key, f"{_show(core)} is not an int in core units")
        problem = self.bounds.problem(self.human(core))
        if problem is not None:
            raise ConfigError(key, problem)


@frozen
class _Text:
    """A string key; ``choices`` (an enum) restricts it; ``optional`` allows it absent."""

    choices: type[enum.Enum] | None = None
    optional: bool = False

    def from_toml(self, key: str, value: object) -> object:
        if not isinstance(value, str):
            hint = " (put it in quotes)" if isinstance(value, int | float) else ""
            raise ConfigError(key, f"{_show(value)} is not a string{hint}")
        if self.choices is None:
            return value
        try:
            return self.choices(value)
        except ValueError:
            valid = ", ".join(json.dumps(c.value) for c in self.choices)
            raise ConfigError(key, f"{_show(value)} is not one of {valid}") from None

    def to_toml(self, core: object) -> object:
        return core.value if isinstance(core, enum.Enum) else core

    def check(self, key: str, core: object) -> None:
        if core is None and self.optional:
            return
        if self.choices is not None:
            if not isinstance(core, self.choices):
                raise ConfigError(key, f"{_show(core)} is not a {self.choices.__name__}")
            return
        if not isinstance(core, str):
            raise ConfigError(key, f"{_show(core)} is not a string")
        if not core.strip():
            raise ConfigError(key, "must not be empty")


_Kind = _Number | _Text
_KEY = "mmfsm.toml_key"
_KIND = "mmfsm.kind"


def _kind_of(field: attrs.Attribute[Any]) -> _Kind:
    kind = field.metadata[_KIND]
    assert isinstance(kind, _Number | _Text)
    return kind


def _validate(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    section: str = getattr(type(inst), "SECTION", type(inst).__name__)
    _kind_of(attribute).check(f"{section}.{attribute.metadata[_KEY]}", value)


def _to_float(value: object) -> object:
    # A hand-built config may say gamma=1; hold 1.0 so the hash does not depend on it.
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _num(
    key: str,
    unit: _Unit,
    default: str,
    *,
    gt: str | None = None,
    ge: str | None = None,
    lt: str | None = None,
    le: str | None = None,
) -> Any:
    """A field held in core units (int) whose TOML ``key`` and bounds are in human units."""
    kind = _Number(unit=unit, bounds=_bounds(gt, ge, lt, le))
    return attrs.field(
        default=kind.from_toml(key, int(default) if unit.whole_only else Decimal(default)),
        validator=_validate,
        metadata={_KEY: key, _KIND: kind},
    )


def _float(key: str, default: float, *, gt: str | None = None, ge: str | None = None) -> Any:
    """A quote-model parameter: dimensionless, so a float is allowed (never money or price)."""
    kind = _Number(unit=None, bounds=_bounds(gt, ge, None, None))
    return attrs.field(
        default=default,
        converter=_to_float,
        validator=_validate,
        metadata={_KEY: key, _KIND: kind},
    )


def _text(
    key: str, default: object = attrs.NOTHING, *, choices: type[enum.Enum] | None = None
) -> Any:
    kind = _Text(choices=choices, optional=default is None)
    return attrs.field(default=default, validator=_validate, metadata={_KEY: key, _KIND: kind})


@frozen(kw_only=True)
class StrategyConfig:
    """How much to quote and how to price it (``[strategy]``).

    ``max_market_exposure`` is the worst case per market, counted at $1 per share of net
    YES/NO delta including every working order that would add to it (INV-EXPOSURE);
    ``capital`` caps the sum of those worst cases over every market (INV-CAPITAL).
    ``size_tolerance_bps``: a resting order within this fraction of the desired size is
    kept rather than replaced, since a replace loses queue priority.
    """

    SECTION: ClassVar[str] = "strategy"

    capital: int = _num("capital_usd", _USD, "500", gt="0")
    order_size: int = _num("order_size_shares", _SHARES, "10", gt="0")
    max_market_exposure: int = _num("max_market_exposure_usd", _USD, "100", gt="0")
    size_tolerance_bps: int = _num("size_tolerance_pct", _PERCENT, "20", ge="0", le="100")
    # RUF009: _text builds an attrs field; the enum default is immutable, nothing is shared.
    quote_model: QuoteModel = _text(  # noqa: RUF009
        "quote_model", QuoteModel.AVELLANEDA_STOIKOV, choices=QuoteModel
    )
    micro_price: MicroPrice = _text("micro_price", MicroPrice.VWMP, choices=MicroPrice)  # noqa: RUF009
    gamma: float = _float("gamma", 5.0, gt="0")
    k: float = _float("k", 150.0, gt="0")
    horizon_ms: int = _num("horizon_s", _SECONDS, "60", gt="0")
    glft_a: float = _float("glft_a", 1.0, gt="0")
    glft_k: float = _float("glft_k", 0.5, gt="0")
    min_half_spread: int = _num("min_half_spread", _PRICE, "0.005", ge="0", lt="0.5")
    sigma_halflife_ms: int = _num("sigma_halflife_s", _SECONDS, "60", gt="0")
    sigma_floor: float = _float("sigma_floor", 0.0001, ge="0")
    sigma_prior: float = _float("sigma_prior", 0.0005, gt="0")

    def __attrs_post_init__(self) -> None:
        if self.max_market_exposure > self.capital:
            raise ConfigError(
                "strategy.max_market_exposure_usd",
                f"{_usd(self.max_market_exposure)} is above strategy.capital_usd "
                f"({_usd(self.capital)}): one market cannot risk more than the capital",
            )


def _usd(money: int) -> str:
    return _human_text(Decimal(money) / MONEY_SCALE)


def _price(units: int) -> str:
    return _human_text(Decimal(units) / PRICE_SCALE)


@frozen(kw_only=True)
class RiskConfig:
    """The risk table (``[risk]``): the limits the machines enforce.

    ``gap_hysteresis``: a gapped market resumes only once its spread is at or below
    ``max_spread - gap_hysteresis`` for ``gap_recovery_ms``, so a flickering spread does
    not churn orders. ``force_exit_max_slippage``: how far through the best opposite
    price a marketable force-exit order may reach.
    """

    SECTION: ClassVar[str] = "risk"

    max_position_loss: int = _num("max_position_loss_usd", _USD, "3", gt="0")
    max_position_age_ms: int = _num("max_position_age_s", _SECONDS, "3600", gt="0")
    max_adverse_move_bps: int = _num("max_adverse_move_pct", _PERCENT, "15", gt="0", le="100")
    unwind_timeout_ms: int = _num("unwind_timeout_s", _SECONDS, "300", gt="0")
    max_spread: int = _num("max_spread", _PRICE, "0.08", gt="0", lt="1")
    gap_hysteresis: int = _num("gap_hysteresis", _PRICE, "0.01", ge="0", lt="1")
    gap_recovery_ms: int = _num("gap_recovery_s", _SECONDS, "5", ge="0")
    global_daily_loss: int = _num("global_daily_loss_usd", _USD, "50", gt="0")
    post_only_max_retries: int = _num("post_only_max_retries", _COUNT, "3", ge="0", le="10")
    post_only_backoff_ms: int = _num("post_only_backoff_ms", _MILLIS, "250", ge="0")
    force_exit_max_slippage: int = _num("force_exit_max_slippage", _PRICE, "0.05", gt="0", lt="1")
    book_stale_ms: int = _num("book_stale_s", _SECONDS, "30", gt="0")
    fill_sync_interval_ms: int = _num("fill_sync_interval_s", _SECONDS, "1", gt="0", le="5")

    def __attrs_post_init__(self) -> None:
        if self.gap_hysteresis >= self.max_spread:
            raise ConfigError(
                "risk.gap_hysteresis",
                f"{_price(self.gap_hysteresis)} must be below risk.max_spread "
                f"({_price(self.max_spread)}), or a gapped market could never resume",
            )


@frozen(kw_only=True)
class MarketConfig:
    """One market to trade (``[[markets]]``); its tick size comes from the venue, not here."""

    SECTION: ClassVar[str] = "markets"

    condition_id: str = _text("condition_id")
    yes_token: str = _text("yes_token")
    no_token: str = _text("no_token")
    name: str | None = _text("name", None)

    def __attrs_post_init__(self) -> None:
        if self.yes_token == self.no_token:
            raise ConfigError("markets.no_token", "is the same token as yes_token")


@frozen(kw_only=True)
class RunConfig:
    """How to run (``[run]``). ``duration_ms`` is always finite; run-forever is a CLI flag."""

    SECTION: ClassVar[str] = "run"

    venue: Venue = _text("venue", Venue.EMULATOR, choices=Venue)  # noqa: RUF009 (see strategy)
    duration_ms: int = _num("duration_s", _SECONDS, "60", gt="0")
    audit_path: str = _text("audit_path", "mmfsm-audit.sqlite")
    log_path: str | None = _text("log_path", None)


def _check_markets(_inst: object, _attr: object, markets: object) -> None:
    if not isinstance(markets, tuple) or not all(isinstance(m, MarketConfig) for m in markets):
        raise ConfigError("markets", "must be a tuple of MarketConfig")
    seen_tokens: dict[str, int] = {}
    seen_ids: dict[str, int] = {}
    for i, market in enumerate(markets):
        if market.condition_id in seen_ids:
            raise ConfigError(
                f"markets[{i}].condition_id",
                f"{_show(market.condition_id)} is already markets[{seen_ids[market.condition_id]}]",
            )
        seen_ids[market.condition_id] = i
        for key in ("yes_token", "no_token"):
            token: str = getattr(market, key)
            if token in seen_tokens:
                raise ConfigError(
                    f"markets[{i}].{key}",
                    f"{_show(token)} is already a token of markets[{seen_tokens[token]}]",
                )
            seen_tokens[token] = i


@frozen(kw_only=True)
class Config:
    """The whole configuration; ``default_config()`` is the strategy document's table."""

    strategy: StrategyConfig = attrs.field(
        factory=StrategyConfig, validator=attrs.validators.instance_of(StrategyConfig)
    )
    risk: RiskConfig = attrs.field(
        factory=RiskConfig, validator=attrs.validators.instance_of(RiskConfig)
    )
    markets: tuple[MarketConfig, ...] = attrs.field(default=(), validator=_check_markets)
    run: RunConfig = attrs.field(
        factory=RunConfig, validator=attrs.validators.instance_of(RunConfig)
    )


def _positive_money(inst: Preset, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"preset.{attribute.name}", f"{_show(value)} is not > 0 money units")


@frozen(kw_only=True)
class Preset:
    """A capital tier of the strategy document: capital and global daily loss, money units."""

    capital: int = attrs.field(validator=_positive_money)
    global_daily_loss: int = attrs.field(validator=_positive_money)


PRESETS: Mapping[str, Preset] = MappingProxyType(
    {
        "starter-50": Preset(capital=money_from_usd(50), global_daily_loss=money_from_usd(25)),
        "tier-100": Preset(capital=money_from_usd(100), global_daily_loss=money_from_usd(50)),
        "tier-500": Preset(capital=money_from_usd(500), global_daily_loss=money_from_usd(100)),
        "institutional-5000": Preset(
            capital=money_from_usd(5000), global_daily_loss=money_from_usd(500)
        ),
    }
)
"""The strategy document's capital tiers. Note tier-500's $100 daily loss is *not* the
default config's $50: the defaults are the risk table, the presets the deployment plan."""

_EXPOSURE_SHARE = 5
"""A preset caps per-market exposure at capital / 5, so the capital spans five markets."""


def apply_preset(cfg: Config, name: str) -> Config:
    """Set capital and global daily loss from a tier; never raise per-market exposure.

    The rule: ``max_market_exposure`` becomes ``min(current, capital / 5)``. A preset
    therefore lowers exposure when capital shrinks (starter-50 -> $10) but never raises
    it when capital grows (institutional-5000 keeps $100): taking more risk per market
    is an explicit ``max_market_exposure_usd``, not a side effect of a tier name.
    """
    preset = PRESETS.get(name)
    if preset is None:
        valid = ", ".join(json.dumps(n) for n in PRESETS)
        raise ConfigError("preset", f"{_show(name)} is not one of {valid}")
    exposure = min(cfg.strategy.max_market_exposure, preset.capital // _EXPOSURE_SHARE)
    return attrs.evolve(
        cfg,
        strategy=attrs.evolve(cfg.strategy, capital=preset.capital, max_market_exposure=exposure),
        risk=attrs.evolve(cfg.risk, global_daily_loss=preset.global_daily_loss),
    )


def default_config() -> Config:
    return Config()


_T = TypeVar("_T", StrategyConfig, RiskConfig, MarketConfig, RunConfig)
_TOP_KEYS = ("preset", "strategy", "risk", "markets", "run")


def _unknown(key: str, name: str, valid: tuple[str, ...], what: str) -> ConfigError:
    close = difflib.get_close_matches(name, valid, n=1)
    hint = f"did you mean {close[0]}?" if close else f"expected one of {', '.join(valid)}"
    return ConfigError(key, f"unknown {what} ({hint})")


def _parse_section(cls: type[_T], prefix: str, raw: object, base: _T | None) -> _T:
    """Build ``cls`` from the keys in ``raw``, taking the rest from ``base`` (or defaults)."""
    if not isinstance(raw, Mapping):
        raise ConfigError(prefix, f"{_show(raw)} is not a table")
    fields = attrs.fields(cls)
    by_key = {f.metadata[_KEY]: f for f in fields}
    for name in raw:
        if name not in by_key:
            raise _unknown(f"{prefix}.{name}", str(name), tuple(by_key), "key")
    kwargs: dict[str, Any] = {}
    for key, field in by_key.items():
        if key in raw:
            kwargs[field.name] = _kind_of(field).from_toml(f"{prefix}.{key}", raw[key])
        elif base is not None:
            kwargs[field.name] = getattr(base, field.name)
        elif field.default is attrs.NOTHING:
            raise ConfigError(f"{prefix}.{key}", "missing (required)")
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        # A class knows its section, not its place in the list: name the entry.
        # A cross-field check may blame a key the file never set: say where it came from.
        _, _, leaf = exc.key.partition(".")
        problem = exc.problem
        if leaf not in raw and base is not None:
            problem += f" ({leaf} is not set here: it is the default or the preset's value)"
        raise ConfigError(f"{prefix}.{leaf}", problem) from None


def parse_config(data: Mapping[str, object]) -> Config:
    """Validate a TOML-shaped mapping (human units) into a ``Config`` (core units).

    Keys not given keep their defaults, or the preset's values when ``preset`` is set.
    """
    if not isinstance(data, Mapping):
        raise ConfigError("<config>", f"{_show(data)} is not a table")
    for name in data:
        if name not in _TOP_KEYS:
            raise _unknown(str(name), str(name), _TOP_KEYS, "section")
    base = default_config()
    if "preset" in data:
        preset = data["preset"]
        if not isinstance(preset, str):
            raise ConfigError("preset", f"{_show(preset)} is not a string")
        base = apply_preset(base, preset)
    raw_markets = data.get("markets", [])
    if not isinstance(raw_markets, list | tuple):
        raise ConfigError("markets", "must be an array of tables ([[markets]])")
    return Config(
        strategy=_parse_section(
            StrategyConfig, "strategy", data.get("strategy", {}), base.strategy
        ),
        risk=_parse_section(RiskConfig, "risk", data.get("risk", {}), base.risk),
        markets=tuple(
            _parse_section(MarketConfig, f"markets[{i}]", m, None)
            for i, m in enumerate(raw_markets)
        ),
        run=_parse_section(RunConfig, "run", data.get("run", {}), base.run),
    )


def parse_config_text(text: str) -> Config:
    """Parse TOML text; floats are read as ``Decimal`` so no price passes through binary."""
    try:
        data = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("<toml>", f"not valid TOML: {exc}") from None
    return parse_config(data)


def _section_to_dict(obj: StrategyConfig | RiskConfig | MarketConfig | RunConfig) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in attrs.fields(type(obj)):
        value = getattr(obj, field.name)
        if value is not None:  # TOML has no null: an absent optional key is None
            out[field.metadata[_KEY]] = _kind_of(field).to_toml(value)
    return out


def config_to_dict(cfg: Config) -> dict[str, Any]:
    """The config in TOML shape and human units; ``parse_config`` reads it back equal.

    Numbers are ints when whole, else floats when the float reads back exactly, else
    ``Decimal`` (only for values with more than about 15 significant digits).
    """
    return {
        "strategy": _section_to_dict(cfg.strategy),
        "risk": _section_to_dict(cfg.risk),
        "markets": [_section_to_dict(m) for m in cfg.markets],
        "run": _section_to_dict(cfg.run),
    }


def _canonical(value: object) -> object:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, float):
        # repr is the shortest round-tripping decimal, identical across CPython >= 3.1.
        return {"float": repr(value)}
    if isinstance(value, tuple | list):
        return [_canonical(v) for v in value]
    if attrs.has(type(value)):
        fields = attrs.fields(cast("type[attrs.AttrsInstance]", type(value)))
        return {f.name: _canonical(getattr(value, f.name)) for f in fields}
    return value


def config_hash(cfg: Config) -> str:
    """SHA-256 hex of every value in core units; the same config gives the same hash."""
    text = json.dumps(
        {"schema": _HASH_SCHEMA, "config": _canonical(cfg)},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        allow_nan=False,
    )
    return hashlib.sha256(text.encode("ascii")).hexdigest()
