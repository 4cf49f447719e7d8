"""The shell's side of configuration: read the config file, and read the secrets.

Theory of operation
-------------------
``mmfsm.core.config`` turns TOML into validated values and touches nothing outside the
process; this module does the reading it cannot: the config file from a path, the
secrets from the environment or from a secrets file.

Secrets are kept apart from ``Config`` on purpose: the config is hashed, logged and
written to the audit log with every transition, and a key must never reach any of those.
``Secrets`` therefore never shows its values: its repr and str print ``<redacted>`` or
``<unset>``, and every error in this module names a variable, a path, a line number or a
file mode, never a value or a line's text (a malformed line may be a pasted key).

Where secrets come from
~~~~~~~~~~~~~~~~~~~~~~~
* The environment: ``MMFSM_PRIVATE_KEY``, ``MMFSM_API_KEY``, ``MMFSM_API_SECRET``,
  ``MMFSM_API_PASSPHRASE``. An empty variable counts as unset.
* A secrets file, in ``KEY=VALUE`` lines with the same variable names (so the one
  format serves both the file and ``set -a; . file``): blank lines and ``#`` comments
  are skipped, an ``export`` prefix and one pair of matching quotes around the value are
  allowed. The file must be a regular file owned by the current user with mode exactly
  0600 or 0400; anything looser is refused before a byte is read, since a key that other
  users can read is already compromised.

A variable set in both places is an error rather than a silent precedence: signing with
the wrong account's key is worse than not starting.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import attrs
from attrs import frozen

from mmfsm.core.config import Config, ConfigError, default_config, parse_config_text

__all__ = [
    "ENV_VARS",
    "Secrets",
    "SecretsError",
    "load_config",
    "load_secrets",
]

ENV_VARS: Mapping[str, str] = MappingProxyType(
    {
        "private_key": "MMFSM_PRIVATE_KEY",
        "api_key": "MMFSM_API_KEY",
        "api_secret": "MMFSM_API_SECRET",
        "api_passphrase": "MMFSM_API_PASSPHRASE",
    }
)
"""``Secrets`` field -> the variable (in the environment or the secrets file) that sets it."""

_ALLOWED_MODES = (0o600, 0o400)


class SecretsError(ValueError):
    """A secret is missing, malformed, or its file is unsafe. Never carries a value."""


def load_config(path: Path | None) -> Config:
    """Read and validate the TOML config at ``path``; ``None`` gives the defaults."""
    if path is None:
        return default_config()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), "no such config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), f"cannot read the config file: {exc}") from None
    try:
        return parse_config_text(text)
    except ConfigError as exc:
        # Name the file as well as the key, compiler style: "cfg.toml: risk.max_spread: ...".
        key = str(path) if exc.key == "<toml>" else f"{path}: {exc.key}"
        raise ConfigError(key, exc.problem) from None


def _check_secret(_inst: object, attribute: attrs.Attribute[str | None], value: object) -> None:
    if value is None:
        return
    var = ENV_VARS[attribute.name]
    if not isinstance(value, str):
        raise SecretsError(f"{var}: must be a string, got {type(value).__name__}")
    if not value or value != value.strip():
        raise SecretsError(f"{var}: is empty or has leading or trailing whitespace")


def _secret() -> str | None:
    value: str | None = attrs.field(default=None, validator=_check_secret)
    return value


@frozen(kw_only=True)
class Secrets:
    """Credentials for the live venue; each is ``None`` when not provided.

    Only the live Polymarket venue needs them; it asks with ``require`` so a missing one
    fails at start-up naming the variable to set.
    """

    private_key: str | None = _secret()
    api_key: str | None = _secret()
    api_secret: str | None = _secret()
    api_passphrase: str | None = _secret()

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={'<unset>' if getattr(self, name) is None else '<redacted>'}"
            for name in ENV_VARS
        )
        return f"Secrets({shown})"

    __str__ = __repr__

    def require(self, name: str) -> str:
        """The value of secret ``name``, or a SecretsError naming its variable."""
        if name not in ENV_VARS:
            raise SecretsError(f"unknown secret {name!r}: expected one of {', '.join(ENV_VARS)}")
        value: str | None = getattr(self, name)
        if value is None:
            raise SecretsError(
                f"{ENV_VARS[name]} is not set (set it in the environment or the secrets file)"
            )
        return value


def _read_private_file(path: Path) -> bytes:
    """The file's bytes, after checking on the open descriptor that only we can read it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise SecretsError(f"{path}: no such secrets file") from None
    except OSError as exc:
        raise SecretsError(f"{path}: cannot open the secrets file ({exc.strerror})") from None
    try:
        # fstat the descriptor we read from, not the path: no window to swap the file.
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SecretsError(f"{path}: the secrets file is not a regular file")
        mode = stat.S_IMODE(st.st_mode)
        if mode not in _ALLOWED_MODES:
            raise SecretsError(
                f"{path}: mode {mode:04o} is refused; a secrets file must be 0600 or 0400 "
                f"(chmod 600 {path})"
            )
        if st.st_uid != os.geteuid():
            raise SecretsError(
                f"{path}: owned by uid {st.st_uid}, not by the current user (uid {os.geteuid()})"
            )
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return fh.read()
    finally:
        os.close(fd)


def _parse_secrets_file(path: Path, data: bytes) -> dict[str, str]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretsError(f"{path}: the secrets file is not UTF-8 text") from None
    by_var = {var: name for name, var in ENV_VARS.items()}
    found: dict[str, str] = {}
    seen: set[str] = set()
    for lineno, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        var, sep, value = line.partition("=")
        var = var.strip()
        if not sep or var not in by_var:
            # Never echo the line: without a known KEY= it may be a pasted secret.
            raise SecretsError(
                f"{path}:{lineno}: expected KEY=VALUE with KEY one of {', '.join(by_var)}"
            )
        if var in seen:
            raise SecretsError(f"{path}:{lineno}: {var} is set twice")
        seen.add(var)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1].strip()
        if value:
            found[by_var[var]] = value
    return found


def load_secrets(env: Mapping[str, str], path: Path | None) -> Secrets:
    """Collect secrets from ``env`` and, if given, the secrets file at ``path``."""
    values: dict[str, str] = {}
    for name, var in ENV_VARS.items():
        value = env.get(var, "").strip()
        if value:
            values[name] = value
    if path is not None:
        for name, value in _parse_secrets_file(path, _read_private_file(path)).items():
            if name in values:
                raise SecretsError(
                    f"{ENV_VARS[name]} is set both in the environment and in {path}; "
                    "remove one (mmfsm does not guess which is meant)"
                )
            values[name] = value
    return Secrets(**values)
