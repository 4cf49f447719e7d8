"""Tests for mmfsm.settings: reading the config file and the secrets, never leaking them."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import attrs
import pytest

from mmfsm.core.config import ConfigError, default_config, parse_config
from mmfsm.settings import ENV_VARS, Secrets, SecretsError, load_config, load_secrets

EXAMPLE = Path(__file__).resolve().parents[1] / "config" / "mmfsm.example.toml"

PLANTED = "0xPLANTEDSECRETdeadbeef4242"
"""A value that must never show up in any repr, str or error message."""


def assert_no_leak(*texts: object) -> None:
    for text in texts:
        assert PLANTED not in str(text)
        assert PLANTED[2:12] not in str(text)


# --- config file ----------------------------------------------------------------------------


def test_no_path_gives_the_defaults() -> None:
    assert load_config(None) == default_config()


def test_example_file_loads_as_the_defaults() -> None:
    assert load_config(EXAMPLE) == default_config()


def test_a_config_file(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        'preset = "starter-50"\n[risk]\nmax_spread = 0.05\n'
        '[[markets]]\ncondition_id = "0xc"\nyes_token = "1"\nno_token = "2"\n',
        encoding="utf-8",
    )
    cfg = load_config(path)
    assert cfg.risk.max_spread == 500
    assert cfg.strategy == parse_config({"preset": "starter-50"}).strategy
    assert [m.yes_token for m in cfg.markets] == ["1"]


def test_missing_config_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="no such config file") as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_unreadable_config_path_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read") as info:
        load_config(tmp_path)  # a directory
    assert str(tmp_path) in str(info.value)


def test_errors_in_the_file_name_the_file_and_the_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[risk]\nmax_spread = 1.5\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: risk.max_spread: 1.5 is outside (0, 1)"


def test_toml_syntax_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[risk\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: ")


# --- secrets from the environment -------------------------------------------------------------


def test_secrets_from_the_environment() -> None:
    env = {
        "MMFSM_PRIVATE_KEY": PLANTED,
        "MMFSM_API_KEY": "key",
        "MMFSM_API_SECRET": " secret \n",
        "MMFSM_API_PASSPHRASE": "",
        "UNRELATED": "x",
    }
    s = load_secrets(env, None)
    assert s.private_key == PLANTED
    assert s.api_key == "key"
    assert s.api_secret == "secret"  # surrounding whitespace is never part of a key
    assert s.api_passphrase is None  # empty means unset
    assert load_secrets({}, None) == Secrets()


def test_require_names_the_variable_never_a_value() -> None:
    s = Secrets(api_key=PLANTED)
    assert s.require("api_key") == PLANTED
    with pytest.raises(SecretsError) as info:
        s.require("private_key")
    assert "MMFSM_PRIVATE_KEY" in str(info.value)
    assert_no_leak(info.value)
    with pytest.raises(SecretsError, match="unknown secret"):
        s.require("password")


@pytest.mark.parametrize("name", list(ENV_VARS))
def test_repr_and_str_never_show_a_value(name: str) -> None:
    s = Secrets(**{name: PLANTED})
    texts = [repr(s), str(s), f"{s}", f"{s!r}", repr([s]), repr({"s": s}), str((s,))]
    assert_no_leak(*texts)
    assert f"{name}=<redacted>" in repr(s)
    assert repr(s).count("<unset>") == 3
    assert repr(Secrets()) == (
        "Secrets(private_key=<unset>, api_key=<unset>, api_secret=<unset>, api_passphrase=<unset>)"
    )
    assert pickle.loads(pickle.dumps(s)) == s


@pytest.mark.parametrize("bad", [f" {PLANTED}", f"{PLANTED}\n", ""])
def test_malformed_values_are_refused_without_showing_them(bad: str) -> None:
    with pytest.raises(SecretsError) as info:
        Secrets(api_secret=bad)
    assert "MMFSM_API_SECRET" in str(info.value)
    assert_no_leak(info.value, repr(info.value))


def test_non_string_secret_is_refused() -> None:
    with pytest.raises(SecretsError, match="MMFSM_API_KEY: must be a string"):
        Secrets(api_key=42)  # type: ignore[arg-type]


# --- secrets from a file ----------------------------------------------------------------------


def write_secrets(path: Path, text: str, mode: int) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_private_file_is_read(tmp_path: Path, mode: int) -> None:
    path = write_secrets(
        tmp_path / "secrets.env",
        "# credentials\n\n"
        f"MMFSM_PRIVATE_KEY={PLANTED}\n"
        "export MMFSM_API_KEY = 'quoted key'\n"
        'MMFSM_API_SECRET="s3cr3t=="\n'
        "MMFSM_API_PASSPHRASE=\n",
        mode,
    )
    s = load_secrets({}, path)
    assert s == Secrets(private_key=PLANTED, api_key="quoted key", api_secret="s3cr3t==")
    assert_no_leak(repr(s), str(s))


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o700, 0o666, 0o610, 0o4600])
def test_loose_modes_are_refused_without_reading_the_secret(tmp_path: Path, mode: int) -> None:
    path = write_secrets(tmp_path / "secrets.env", f"MMFSM_PRIVATE_KEY={PLANTED}\n", mode)
    with pytest.raises(SecretsError) as info:
        load_secrets({}, path)
    message = str(info.value)
    assert str(path) in message
    assert f"{mode & 0o7777:04o}" in message
    assert "0600" in message
    assert_no_leak(message, repr(info.value))


def test_file_owned_by_someone_else_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_secrets(tmp_path / "secrets.env", f"MMFSM_PRIVATE_KEY={PLANTED}\n", 0o600)
    owner = path.stat().st_uid
    monkeypatch.setattr(os, "geteuid", lambda: owner + 1)
    with pytest.raises(SecretsError, match="not by the current user") as info:
        load_secrets({}, path)
    assert str(path) in str(info.value)
    assert_no_leak(info.value)


def test_missing_secrets_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "none.env"
    with pytest.raises(SecretsError, match="no such secrets file") as info:
        load_secrets({}, path)
    assert str(path) in str(info.value)


def test_a_directory_is_not_a_secrets_file(tmp_path: Path) -> None:
    with pytest.raises(SecretsError, match="not a regular file"):
        load_secrets({}, tmp_path)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (f"{PLANTED}\n", ":1: expected KEY=VALUE"),  # a pasted key on its own line
        (f"# ok\n{PLANTED}==\n", ":2: expected KEY=VALUE"),  # base64 padding is not a KEY=
        (f"MMFSM_PRIVATEKEY={PLANTED}\n", ":1: expected KEY=VALUE"),
        (f"MMFSM_API_KEY=a\nMMFSM_API_KEY={PLANTED}\n", ":2: MMFSM_API_KEY is set twice"),
    ],
)
def test_malformed_files_never_echo_a_line(tmp_path: Path, text: str, match: str) -> None:
    path = write_secrets(tmp_path / "secrets.env", text, 0o600)
    with pytest.raises(SecretsError, match=match) as info:
        load_secrets({}, path)
    assert_no_leak(info.value, repr(info.value))


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "secrets.env"
    path.write_bytes(b"MMFSM_API_KEY=\xff\xfe\n")
    path.chmod(0o600)
    with pytest.raises(SecretsError, match="not UTF-8"):
        load_secrets({}, path)


def test_file_and_environment_combine_but_may_not_both_set_a_key(tmp_path: Path) -> None:
    path = write_secrets(tmp_path / "secrets.env", f"MMFSM_PRIVATE_KEY={PLANTED}\n", 0o600)
    s = load_secrets({"MMFSM_API_KEY": "k"}, path)
    assert (s.private_key, s.api_key) == (PLANTED, "k")
    with pytest.raises(SecretsError) as info:
        load_secrets({"MMFSM_PRIVATE_KEY": "other-" + PLANTED}, path)
    assert "MMFSM_PRIVATE_KEY" in str(info.value)
    assert str(path) in str(info.value)
    assert_no_leak(info.value)


def test_secrets_are_not_part_of_the_config() -> None:
    cfg = load_config(EXAMPLE)
    assert_no_leak(repr(cfg))
    for section in ("strategy", "risk", "run"):
        names = {f.name for f in attrs.fields(type(getattr(cfg, section)))}
        assert not names & set(ENV_VARS)
