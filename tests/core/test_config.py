"""Tests for mmfsm.core.config: bounds of every key, strictness, presets, hash, round trip."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mmfsm.core.config import (
    PRESETS,
    Config,
    ConfigError,
    MarketConfig,
    MicroPrice,
    QuoteModel,
    RiskConfig,
    RunConfig,
    StrategyConfig,
    Venue,
    apply_preset,
    config_hash,
    config_to_dict,
    default_config,
    parse_config,
    parse_config_text,
)
from mmfsm.core.ticks import MONEY_SCALE, PRICE_SCALE, SIZE_SCALE, money_from_usd

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "mmfsm.example.toml"

DEFAULT_HASH = "402e0948ab244fd6a4d5d3b0181fd6fd37297be1dc65541f6f1ff46780680141"
"""Pinned on purpose: if a change to the config's fields or defaults moves it, update it
knowingly, since audit logs tie runs to their config by this hash."""

USD = MONEY_SCALE


def market(i: int, **kw: Any) -> dict[str, Any]:
    return {"condition_id": f"0xc{i}", "yes_token": f"y{i}", "no_token": f"n{i}", **kw}


# --- defaults are the strategy document's risk table, in core units ---------------------


def test_defaults_are_the_risk_table_in_core_units() -> None:
    cfg = default_config()
    s, r, run = cfg.strategy, cfg.risk, cfg.run
    assert s.capital == 500 * USD
    assert s.order_size == 10 * SIZE_SCALE
    assert s.max_market_exposure == 100 * USD
    assert s.size_tolerance_bps == 2000
    assert s.quote_model is QuoteModel.AVELLANEDA_STOIKOV
    assert s.micro_price is MicroPrice.VWMP
    assert (s.gamma, s.k, s.glft_a, s.glft_k) == (5.0, 150.0, 1.0, 0.5)
    assert s.horizon_ms == 60_000
    assert s.min_half_spread == 50
    assert s.sigma_halflife_ms == 60_000
    assert (s.sigma_floor, s.sigma_prior) == (0.0001, 0.0005)
    assert r.max_position_loss == 3 * USD
    assert r.max_position_age_ms == 3_600_000
    assert r.max_adverse_move_bps == 1500
    assert r.unwind_timeout_ms == 300_000
    assert r.max_spread == 800
    assert r.gap_hysteresis == 100
    assert r.gap_recovery_ms == 5_000
    assert r.global_daily_loss == 50 * USD
    assert r.post_only_max_retries == 3
    assert r.post_only_backoff_ms == 250
    assert r.force_exit_max_slippage == 500
    assert r.book_stale_ms == 30_000
    assert r.fill_sync_interval_ms == 1_000
    assert cfg.markets == ()
    assert run == RunConfig(
        venue=Venue.EMULATOR, duration_ms=60_000, audit_path="mmfsm-audit.sqlite"
    )
    assert run.log_path is None
    assert default_config() == Config() == parse_config({}) == parse_config_text("")


# --- every key at and around its bounds ---------------------------------------------------

# (section, key, TOML literal, extra keys that make the rest valid, core value or None=error)
BOUNDS: list[tuple[str, str, str, str, Any]] = [
    ("strategy", "capital_usd", "0", "", None),
    ("strategy", "capital_usd", "-1", "", None),
    ("strategy", "capital_usd", "0.0000000001", "max_market_exposure_usd = 0.0000000001", 1),
    ("strategy", "capital_usd", "0.00000000001", "", None),
    ("strategy", "capital_usd", "99.99", "", None),  # below the default exposure of 100
    ("strategy", "capital_usd", "100", "", 100 * USD),
    ("strategy", "order_size_shares", "0", "", None),
    ("strategy", "order_size_shares", "-1", "", None),
    ("strategy", "order_size_shares", "0.000001", "", 1),
    ("strategy", "order_size_shares", "0.0000001", "", None),
    ("strategy", "max_market_exposure_usd", "0", "", None),
    ("strategy", "max_market_exposure_usd", "0.0000000001", "", 1),
    ("strategy", "max_market_exposure_usd", "500", "", 500 * USD),
    ("strategy", "max_market_exposure_usd", "500.0000000001", "", None),
    ("strategy", "size_tolerance_pct", "-0.01", "", None),
    ("strategy", "size_tolerance_pct", "0", "", 0),
    ("strategy", "size_tolerance_pct", "0.01", "", 1),
    ("strategy", "size_tolerance_pct", "0.001", "", None),
    ("strategy", "size_tolerance_pct", "100", "", 10_000),
    ("strategy", "size_tolerance_pct", "100.01", "", None),
    ("strategy", "gamma", "0", "", None),
    ("strategy", "gamma", "-0.1", "", None),
    ("strategy", "gamma", "1e-9", "", 1e-9),
    ("strategy", "gamma", "2", "", 2.0),
    ("strategy", "gamma", "inf", "", None),
    ("strategy", "gamma", "nan", "", None),
    ("strategy", "k", "0", "", None),
    ("strategy", "k", "1e-9", "", 1e-9),
    ("strategy", "glft_a", "0", "", None),
    ("strategy", "glft_a", "1e-9", "", 1e-9),
    ("strategy", "glft_k", "0", "", None),
    ("strategy", "glft_k", "1e-9", "", 1e-9),
    ("strategy", "horizon_s", "0", "", None),
    ("strategy", "horizon_s", "0.001", "", 1),
    ("strategy", "horizon_s", "0.0005", "", None),
    ("strategy", "min_half_spread", "-0.0001", "", None),
    ("strategy", "min_half_spread", "0", "", 0),
    ("strategy", "min_half_spread", "0.4999", "", 4999),
    ("strategy", "min_half_spread", "0.5", "", None),
    ("strategy", "min_half_spread", "0.00005", "", None),
    ("strategy", "sigma_halflife_s", "0", "", None),
    ("strategy", "sigma_halflife_s", "0.001", "", 1),
    ("strategy", "sigma_floor", "-1e-12", "", None),
    ("strategy", "sigma_floor", "0", "", 0.0),
    ("strategy", "sigma_prior", "0", "", None),
    ("strategy", "sigma_prior", "1e-9", "", 1e-9),
    ("risk", "max_position_loss_usd", "0", "", None),
    ("risk", "max_position_loss_usd", "0.0000000001", "", 1),
    ("risk", "max_position_age_s", "0", "", None),
    ("risk", "max_position_age_s", "0.001", "", 1),
    ("risk", "max_adverse_move_pct", "0", "", None),
    ("risk", "max_adverse_move_pct", "0.01", "", 1),
    ("risk", "max_adverse_move_pct", "100", "", 10_000),
    ("risk", "max_adverse_move_pct", "100.01", "", None),
    ("risk", "unwind_timeout_s", "0", "", None),
    ("risk", "unwind_timeout_s", "0.001", "", 1),
    ("risk", "max_spread", "0", "", None),
    ("risk", "max_spread", "0.0001", "gap_hysteresis = 0", 1),
    ("risk", "max_spread", "0.9999", "", 9999),
    ("risk", "max_spread", "1", "", None),
    ("risk", "max_spread", "1.5", "", None),
    ("risk", "max_spread", "0.01", "", None),  # not above the default hysteresis 0.01
    ("risk", "gap_hysteresis", "-0.0001", "", None),
    ("risk", "gap_hysteresis", "0", "", 0),
    ("risk", "gap_hysteresis", "0.0799", "", 799),
    ("risk", "gap_hysteresis", "0.08", "", None),
    ("risk", "gap_hysteresis", "0.5", "max_spread = 0.9999", 5000),
    ("risk", "gap_recovery_s", "-0.001", "", None),
    ("risk", "gap_recovery_s", "0", "", 0),
    ("risk", "global_daily_loss_usd", "0", "", None),
    ("risk", "global_daily_loss_usd", "0.0000000001", "", 1),
    ("risk", "post_only_max_retries", "-1", "", None),
    ("risk", "post_only_max_retries", "0", "", 0),
    ("risk", "post_only_max_retries", "10", "", 10),
    ("risk", "post_only_max_retries", "11", "", None),
    ("risk", "post_only_max_retries", "3.0", "", None),
    ("risk", "post_only_backoff_ms", "-1", "", None),
    ("risk", "post_only_backoff_ms", "0", "", 0),
    ("risk", "post_only_backoff_ms", "0.5", "", None),
    ("risk", "force_exit_max_slippage", "0", "", None),
    ("risk", "force_exit_max_slippage", "0.0001", "", 1),
    ("risk", "force_exit_max_slippage", "0.9999", "", 9999),
    ("risk", "force_exit_max_slippage", "1", "", None),
    ("risk", "book_stale_s", "0", "", None),
    ("risk", "book_stale_s", "0.001", "", 1),
    ("risk", "fill_sync_interval_s", "0", "", None),
    ("risk", "fill_sync_interval_s", "0.001", "", 1),
    ("risk", "fill_sync_interval_s", "0.25", "", 250),
    ("risk", "fill_sync_interval_s", "5", "", 5000),
    ("risk", "fill_sync_interval_s", "5.001", "", None),
    ("run", "duration_s", "0", "", None),
    ("run", "duration_s", "-1", "", None),
    ("run", "duration_s", "0.001", "", 1),
]

FIELD_OF = {
    f"{cls.SECTION}.{f.metadata['mmfsm.toml_key']}": f.name
    for cls in (StrategyConfig, RiskConfig, RunConfig)
    for f in attrs.fields(cls)
}


CROSS = {
    "strategy.capital_usd": "strategy.max_market_exposure_usd",
    "risk.max_spread": "risk.gap_hysteresis",
}


@pytest.mark.parametrize(("section", "key", "literal", "extra", "expected"), BOUNDS)
def test_bounds(section: str, key: str, literal: str, extra: str, expected: Any) -> None:
    text = f"[{section}]\n{key} = {literal}\n{extra}\n"
    if expected is None:
        with pytest.raises(ConfigError) as info:
            parse_config_text(text)
        # A cross-field check blames the dependent key and names the other one.
        full = f"{section}.{key}"
        assert info.value.key in {full, CROSS.get(full)}
        assert full in str(info.value)
    else:
        cfg = parse_config_text(text)
        got = getattr(getattr(cfg, section), FIELD_OF[f"{section}.{key}"])
        assert got == expected
        assert type(got) is type(expected)


def test_every_numeric_key_has_bound_cases() -> None:
    covered = {f"{s}.{k}" for s, k, *_ in BOUNDS}
    numeric = {
        key
        for key, name in FIELD_OF.items()
        if isinstance(getattr(getattr(default_config(), key.split(".")[0]), name), int | float)
    }
    assert numeric <= covered


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[risk]\nmax_spread = 1.5", "risk.max_spread: 1.5 is outside (0, 1)"),
        ('[strategy]\ncapital_usd = "abc"', 'strategy.capital_usd: "abc" is not a number'),
        ("[strategy]\ngamma = 0", "strategy.gamma: 0 is not > 0"),
        (
            "[strategy]\nsize_tolerance_pct = 101",
            "strategy.size_tolerance_pct: 101 is outside [0, 100]",
        ),
        ("[risk]\nfill_sync_interval_s = 6", "risk.fill_sync_interval_s: 6 is outside (0, 5]"),
        (
            "[risk]\nmax_spread = 0.00001",
            "risk.max_spread: 0.00001 is finer than the smallest step 0.0001",
        ),
        (
            "[risk]\ngap_hysteresis = 0.09",
            "risk.gap_hysteresis: 0.09 must be below risk.max_spread (0.08)",
        ),
        (
            "[strategy]\nmax_market_exposure_usd = 600",
            "strategy.max_market_exposure_usd: 600 is above strategy.capital_usd (500)",
        ),
    ],
)
def test_error_messages_name_key_and_range(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config_text(text)
    assert str(info.value).startswith(message)


def test_cross_check_blames_an_inherited_default_helpfully() -> None:
    with pytest.raises(ConfigError, match="is not set here") as info:
        parse_config_text("[strategy]\ncapital_usd = 50")
    assert info.value.key == "strategy.max_market_exposure_usd"


def test_python_floats_are_read_by_their_shortest_repr_never_their_binary_value() -> None:
    cfg = parse_config({"risk": {"max_spread": 0.08}, "strategy": {"capital_usd": 0.1 * 3000}})
    assert cfg.risk.max_spread == 800
    assert cfg.strategy.capital == 300 * USD
    with pytest.raises(ConfigError, match="finer"):
        parse_config({"risk": {"max_spread": 0.1 + 0.2}})  # 0.30000000000000004
    assert parse_config({"risk": {"max_spread": Decimal("0.08")}}).risk.max_spread == 800


def test_equivalent_spellings_give_equal_configs() -> None:
    a = parse_config_text("[strategy]\ncapital_usd = 500\ngamma = 1\n[run]\nduration_s = 60")
    b = parse_config_text(
        "[strategy]\ncapital_usd = 500.0\ngamma = 1.0\n[run]\nduration_s = 60.000"
    )
    assert a == b
    assert config_hash(a) == config_hash(b)


# --- unknown keys and sections, wrong types ---------------------------------------------


@pytest.mark.parametrize(
    ("data", "key", "hint"),
    [
        ({"riks": {}}, "riks", "did you mean risk?"),
        ({"logging": {}}, "logging", "expected one of"),
        (
            {"risk": {"max_positon_loss_usd": 3}},
            "risk.max_positon_loss_usd",
            "max_position_loss_usd",
        ),
        ({"strategy": {"capital": 3}}, "strategy.capital", "capital_usd"),
        ({"run": {"tick_size": 0.01}}, "run.tick_size", "expected one of"),
        ({"markets": [market(0, tick_size=0.01)]}, "markets[0].tick_size", "expected one of"),
    ],
)
def test_unknown_keys_and_sections_are_errors(data: dict[str, Any], key: str, hint: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    assert info.value.key == key
    assert "unknown" in info.value.problem
    assert hint in info.value.problem


NUMBER_KEYS = [k for k, n in FIELD_OF.items() if k != "run.venue" and "path" not in k]
NUMBER_KEYS = [k for k in NUMBER_KEYS if not k.endswith(("quote_model", "micro_price"))]
TEXT_KEYS = ["strategy.quote_model", "strategy.micro_price", "run.venue", "run.audit_path"]


@pytest.mark.parametrize("key", NUMBER_KEYS)
@pytest.mark.parametrize("value", [True, False, "abc", "1", [1], {"a": 1}, None])
def test_numbers_refuse_other_types(key: str, value: object) -> None:
    section, name = key.split(".")
    with pytest.raises(ConfigError) as info:
        parse_config({section: {name: value}})
    assert info.value.key == key
    assert "not a" in info.value.problem


@pytest.mark.parametrize("key", [*TEXT_KEYS, "run.log_path"])
@pytest.mark.parametrize("value", [1, 1.5, True, ["emulator"], {"a": "b"}, None])
def test_strings_refuse_other_types(key: str, value: object) -> None:
    section, name = key.split(".")
    with pytest.raises(ConfigError, match="is not a string") as info:
        parse_config({section: {name: value}})
    assert info.value.key == key


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("strategy.quote_model", "glft", QuoteModel.GLFT),
        ("strategy.quote_model", "avellaneda-stoikov", QuoteModel.AVELLANEDA_STOIKOV),
        ("strategy.micro_price", "stoikov", MicroPrice.STOIKOV),
        ("strategy.micro_price", "vwmp", MicroPrice.VWMP),
        ("run.venue", "polymarket", Venue.POLYMARKET),
        ("run.venue", "paper", Venue.PAPER),
        ("run.venue", "emulator", Venue.EMULATOR),
    ],
)
def test_choices(key: str, value: str, expected: object) -> None:
    section, name = key.split(".")
    cfg = parse_config({section: {name: value}})
    assert getattr(getattr(cfg, section), FIELD_OF[key]) is expected


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("strategy.quote_model", "GLFT"),
        ("strategy.quote_model", "avellaneda_stoikov"),
        ("strategy.micro_price", "mid"),
        ("run.venue", "binance"),
        ("run.venue", ""),
    ],
)
def test_choices_refuse_others_and_list_the_valid_ones(key: str, value: str) -> None:
    section, name = key.split(".")
    with pytest.raises(ConfigError, match="is not one of") as info:
        parse_config({section: {name: value}})
    assert info.value.key == key


@pytest.mark.parametrize("value", ["", "   "])
def test_paths_must_not_be_empty(value: str) -> None:
    for key in ("audit_path", "log_path"):
        with pytest.raises(ConfigError, match="must not be empty") as info:
            parse_config({"run": {key: value}})
        assert info.value.key == f"run.{key}"


def test_run_paths() -> None:
    cfg = parse_config({"run": {"audit_path": "a.sqlite", "log_path": "x.log"}})
    assert (cfg.run.audit_path, cfg.run.log_path) == ("a.sqlite", "x.log")


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"strategy": 3}, "strategy"),
        ({"risk": [1]}, "risk"),
        ({"run": "emulator"}, "run"),
        ({"markets": {"condition_id": "x"}}, "markets"),
        ({"markets": [1]}, "markets[0]"),
        ({"preset": 500}, "preset"),
    ],
)
def test_sections_of_the_wrong_shape(data: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    assert info.value.key == key


def test_toml_syntax_error() -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_config_text("[risk\nmax_spread = ")


# --- markets ------------------------------------------------------------------------------


def test_markets_parse_in_order() -> None:
    cfg = parse_config({"markets": [market(0, name="first"), market(1)]})
    assert cfg.markets == (
        MarketConfig(condition_id="0xc0", yes_token="y0", no_token="n0", name="first"),
        MarketConfig(condition_id="0xc1", yes_token="y1", no_token="n1"),
    )
    assert cfg.markets[1].name is None


@pytest.mark.parametrize("missing", ["condition_id", "yes_token", "no_token"])
def test_market_keys_are_required(missing: str) -> None:
    entry = market(0)
    del entry[missing]
    with pytest.raises(ConfigError, match="missing") as info:
        parse_config({"markets": [market(9), entry]})
    assert info.value.key == f"markets[1].{missing}"


@pytest.mark.parametrize(
    ("entry", "key", "match"),
    [
        (market(0, yes_token=123), "markets[0].yes_token", "put it in quotes"),
        (market(0, no_token=""), "markets[0].no_token", "must not be empty"),
        (market(0, condition_id=" "), "markets[0].condition_id", "must not be empty"),
        (market(0, name=5), "markets[0].name", "not a string"),
        (market(0, no_token="y0"), "markets[0].no_token", "same token"),
    ],
)
def test_market_values(entry: dict[str, Any], key: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        parse_config({"markets": [entry]})
    assert info.value.key == key


@pytest.mark.parametrize(
    ("second", "key"),
    [
        (market(1, yes_token="y0"), "markets[1].yes_token"),
        (market(1, no_token="y0"), "markets[1].no_token"),
        (market(1, yes_token="n0"), "markets[1].yes_token"),
        (market(1, condition_id="0xc0"), "markets[1].condition_id"),
    ],
)
def test_tokens_and_markets_are_unique(second: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=r"already .*markets\[0\]") as info:
        parse_config({"markets": [market(0), second]})
    assert info.value.key == key


# --- direct construction validates too -----------------------------------------------------


def test_hand_built_values_are_validated_in_core_units() -> None:
    with pytest.raises(ConfigError, match=r"^strategy\.capital_usd: 0 is not > 0"):
        StrategyConfig(capital=0)
    with pytest.raises(ConfigError, match=r"^risk\.max_spread: 1 is outside \(0, 1\)"):
        RiskConfig(max_spread=PRICE_SCALE)
    with pytest.raises(ConfigError, match="not an int"):
        RiskConfig(max_spread=800.0)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="not an int"):
        RiskConfig(post_only_max_retries=True)
    with pytest.raises(ConfigError, match="not a number"):
        StrategyConfig(gamma=True)
    with pytest.raises(ConfigError, match="not a Venue"):
        RunConfig(venue="emulator")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="markets"):
        Config(markets=[MarketConfig(condition_id="c", yes_token="y", no_token="n")])  # type: ignore[arg-type]
    assert StrategyConfig(gamma=1).gamma == 1.0
    assert type(StrategyConfig(gamma=1).gamma) is float


def test_config_is_frozen() -> None:
    cfg = default_config()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        cfg.risk.max_spread = 1  # type: ignore[misc]


# --- presets --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "capital", "daily", "exposure"),
    [
        ("starter-50", 50, 25, 10),
        ("tier-100", 100, 50, 20),
        ("tier-500", 500, 100, 100),
        ("institutional-5000", 5000, 500, 100),  # never raised above what it was
    ],
)
def test_presets(name: str, capital: int, daily: int, exposure: int) -> None:
    assert PRESETS[name].capital == capital * USD
    assert PRESETS[name].global_daily_loss == daily * USD
    cfg = apply_preset(default_config(), name)
    assert cfg.strategy.capital == capital * USD
    assert cfg.risk.global_daily_loss == daily * USD
    assert cfg.strategy.max_market_exposure == exposure * USD
    assert cfg.strategy.max_market_exposure <= cfg.strategy.capital // 5
    # Only those three change.
    rest = attrs.evolve(
        cfg,
        strategy=attrs.evolve(cfg.strategy, capital=500 * USD, max_market_exposure=100 * USD),
        risk=attrs.evolve(cfg.risk, global_daily_loss=50 * USD),
    )
    assert rest == default_config()
    assert parse_config({"preset": name}) == cfg


def test_preset_lowers_a_small_exposure_no_further() -> None:
    small = parse_config({"strategy": {"max_market_exposure_usd": 5}})
    assert apply_preset(small, "starter-50").strategy.max_market_exposure == 5 * USD


def test_tier_500_is_not_the_default() -> None:
    assert apply_preset(default_config(), "tier-500") != default_config()
    assert apply_preset(default_config(), "tier-500").risk.global_daily_loss == 100 * USD
    assert default_config().risk.global_daily_loss == 50 * USD


def test_explicit_keys_override_the_preset() -> None:
    cfg = parse_config_text(
        'preset = "starter-50"\n[strategy]\nmax_market_exposure_usd = 20\n'
        "[risk]\nglobal_daily_loss_usd = 10\n"
    )
    assert cfg.strategy.capital == 50 * USD
    assert cfg.strategy.max_market_exposure == 20 * USD
    assert cfg.risk.global_daily_loss == 10 * USD


def test_preset_then_explicit_keys_still_cross_checked() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config_text('preset = "starter-50"\n[strategy]\nmax_market_exposure_usd = 60')
    assert info.value.key == "strategy.max_market_exposure_usd"


def test_unknown_preset_lists_the_valid_names() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"preset": "tier-50"})
    assert info.value.key == "preset"
    for name in PRESETS:
        assert name in str(info.value)
    with pytest.raises(ConfigError, match="starter-50"):
        apply_preset(default_config(), "nope")


# --- hash -------------------------------------------------------------------------------------


def test_hash_is_pinned_and_stable_across_processes() -> None:
    assert config_hash(default_config()) == DEFAULT_HASH
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    code = "from mmfsm.core.config import *; print(config_hash(default_config()))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == DEFAULT_HASH


def _changed(value: object) -> object:
    if isinstance(value, bool):
        raise AssertionError("no bool fields expected")
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value * 2
    if isinstance(value, QuoteModel | MicroPrice | Venue):
        return next(m for m in type(value) if m is not value)
    if isinstance(value, str):
        return value + "x"
    if value is None:
        return "other.log"
    raise AssertionError(value)


SECTIONS = {"strategy": StrategyConfig, "risk": RiskConfig, "run": RunConfig}


@pytest.mark.parametrize(
    ("section", "name"),
    [(s, f.name) for s, cls in SECTIONS.items() for f in attrs.fields(cls)],
)
def test_hash_changes_when_any_value_changes(section: str, name: str) -> None:
    base = default_config()
    part = getattr(base, section)
    changed = attrs.evolve(
        base, **{section: attrs.evolve(part, **{name: _changed(getattr(part, name))})}
    )
    assert changed != base
    assert config_hash(changed) != config_hash(base)


def test_hash_covers_markets() -> None:
    one = parse_config({"markets": [market(0)]})
    hashes = {
        config_hash(default_config()),
        config_hash(one),
        config_hash(parse_config({"markets": [market(0, name="x")]})),
        config_hash(parse_config({"markets": [market(0), market(1)]})),
        config_hash(parse_config({"markets": [market(1), market(0)]})),
        config_hash(parse_config({"markets": [market(0, yes_token="n0", no_token="y0")]})),
    }
    assert len(hashes) == 6
    assert re.fullmatch(r"[0-9a-f]{64}", config_hash(one))


# --- round trip ---------------------------------------------------------------------------------


def test_to_dict_is_human_units() -> None:
    d = config_to_dict(parse_config({"markets": [market(0, name="n")]}))
    assert d["strategy"]["capital_usd"] == 500
    assert d["risk"]["max_spread"] == 0.08
    assert d["risk"]["fill_sync_interval_s"] == 1
    assert d["strategy"]["quote_model"] == "avellaneda-stoikov"
    assert d["markets"] == [market(0, name="n")]
    assert "log_path" not in d["run"]
    assert "preset" not in d


def test_default_round_trips() -> None:
    assert parse_config(config_to_dict(default_config())) == default_config()


def _money(lo: int = 1, hi: int = 10**16) -> st.SearchStrategy[int]:
    return st.integers(lo, hi)


positive_floats = st.floats(min_value=1e-12, max_value=1e6, allow_nan=False, allow_infinity=False)


@st.composite
def configs(draw: st.DrawFn) -> Config:
    capital = draw(_money())
    max_spread = draw(st.integers(1, PRICE_SCALE - 1))
    strategy = StrategyConfig(
        capital=capital,
        order_size=draw(st.integers(1, 10**12)),
        max_market_exposure=draw(st.integers(1, capital)),
        size_tolerance_bps=draw(st.integers(0, 10_000)),
        quote_model=draw(st.sampled_from(QuoteModel)),
        micro_price=draw(st.sampled_from(MicroPrice)),
        gamma=draw(positive_floats),
        k=draw(positive_floats),
        horizon_ms=draw(st.integers(1, 10**10)),
        glft_a=draw(positive_floats),
        glft_k=draw(positive_floats),
        min_half_spread=draw(st.integers(0, PRICE_SCALE // 2 - 1)),
        sigma_halflife_ms=draw(st.integers(1, 10**10)),
        sigma_floor=draw(st.just(0.0) | positive_floats),
        sigma_prior=draw(positive_floats),
    )
    risk = RiskConfig(
        max_position_loss=draw(_money()),
        max_position_age_ms=draw(st.integers(1, 10**10)),
        max_adverse_move_bps=draw(st.integers(1, 10_000)),
        unwind_timeout_ms=draw(st.integers(1, 10**10)),
        max_spread=max_spread,
        gap_hysteresis=draw(st.integers(0, max_spread - 1)),
        gap_recovery_ms=draw(st.integers(0, 10**10)),
        global_daily_loss=draw(_money()),
        post_only_max_retries=draw(st.integers(0, 10)),
        post_only_backoff_ms=draw(st.integers(0, 10**7)),
        force_exit_max_slippage=draw(st.integers(1, PRICE_SCALE - 1)),
        book_stale_ms=draw(st.integers(1, 10**10)),
        fill_sync_interval_ms=draw(st.integers(1, 5000)),
    )
    n = draw(st.integers(0, 3))
    text = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12).filter(str.strip)
    markets = tuple(
        MarketConfig(
            condition_id=f"c{i}-{draw(text)}",
            yes_token=f"y{i}-{draw(text)}",
            no_token=f"n{i}-{draw(text)}",
            name=draw(st.none() | text),
        )
        for i in range(n)
    )
    run = RunConfig(
        venue=draw(st.sampled_from(Venue)),
        duration_ms=draw(st.integers(1, 10**10)),
        audit_path=draw(text),
        log_path=draw(st.none() | text),
    )
    return Config(strategy=strategy, risk=risk, markets=markets, run=run)


@given(configs())
def test_any_valid_config_round_trips_with_the_same_hash(cfg: Config) -> None:
    again = parse_config(config_to_dict(cfg))
    assert again == cfg
    assert config_hash(again) == config_hash(cfg)


@given(_money(), _money())
def test_money_round_trips_through_human_units(capital: int, loss: int) -> None:
    cfg = attrs.evolve(
        default_config(),
        strategy=attrs.evolve(default_config().strategy, capital=capital, max_market_exposure=1),
        risk=attrs.evolve(default_config().risk, max_position_loss=loss),
    )
    assert parse_config(config_to_dict(cfg)) == cfg


# --- the example file -----------------------------------------------------------------------------


def test_example_file_is_the_defaults() -> None:
    assert parse_config_text(EXAMPLE.read_text(encoding="utf-8")) == default_config()


def test_example_file_documents_every_key() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    for cls in (StrategyConfig, RiskConfig, MarketConfig, RunConfig):
        for f in attrs.fields(cls):
            key = f.metadata["mmfsm.toml_key"]
            assert re.search(rf"^#? ?{key} = ", text, re.MULTILINE), key
    assert re.search(r"^# preset = ", text, re.MULTILINE)
    for name in PRESETS:
        assert f'"{name}"' in text


def test_money_scale_sanity() -> None:
    assert money_from_usd(1) == USD
