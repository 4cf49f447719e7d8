"""Which build of ``mmfsm.core`` runs: the mypyc-compiled modules, or their Python sources.

``setup.py`` compiles the modules in ``COMPILED`` to C extensions that sit beside their
sources, and records a digest of each source in ``_native.json``. CPython imports an
extension before a source of the same name, so an extension built from an older source
(a checkout edited after ``pip install -e .``) would run code nobody is reading. Before
any of those modules is imported, ``select`` compares the digests and, if a source has
changed, the record is missing, or ``MMFSM_PURE_CORE=1`` is set, makes every compiled
module load from its source instead. The two builds decide identically (the test suite
holds them to each other), so falling back costs speed, never behaviour.

It lives outside the core, whose modules do no I/O, and runs from ``mmfsm/__init__.py``,
which Python imports before any ``mmfsm.core`` module.

Every class in a compiled module carries ``@mypyc_attr(serializable=True,
allow_interpreted_subclasses=True)``, spelled out on each because mypyc reads it from the
source: ``serializable`` so that Engines pickle (audit snapshots) the same in both builds,
``allow_interpreted_subclasses`` so that tests and tools can subclass the Engine, and
because with ``serializable`` alone mypyc 2.4 never runs ``__init__`` for an instance made
from interpreted code.

Only the standard library is used: ``setup.py`` loads this file on its own, before the
package or its dependencies are importable.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

__all__ = ["COMPILED", "MANIFEST", "PURE_ENV", "build", "digests", "select"]

# The modules every book update runs through. The rest of the core stays interpreted:
# config, events, commands and the ledger hold attrs fields with validators or
# factories, which mypyc cannot compile, and the machines use python-statemachine's
# metaclass; none of them is on the per-update path.
COMPILED = (
    "book",
    "engine",
    "market_state",
    "orders",
    "quotes",
    "quoting",
    "reconcile",
    "risk",
    "ticks",
)
MANIFEST = "_native.json"
PURE_ENV = "MMFSM_PURE_CORE"
_PACKAGE = "mmfsm.core"

_build = "interpreted: not compiled"


def digests(core_dir: Path) -> dict[str, str]:
    """SHA-256 of each compiled module's source, as ``setup.py`` records them."""
    return {
        name: hashlib.sha256((core_dir / f"{name}.py").read_bytes()).hexdigest()
        for name in COMPILED
    }


def _has_extension(core_dir: Path, name: str) -> bool:
    return any((core_dir / f"{name}{s}").exists() for s in importlib.machinery.EXTENSION_SUFFIXES)


def _pure_reason(core_dir: Path) -> str | None:
    """Why the sources must run instead of the extensions; None if the extensions may."""
    if os.environ.get(PURE_ENV) == "1":
        return f"{PURE_ENV}=1"
    try:
        recorded = json.loads((core_dir / MANIFEST).read_text())
    except (OSError, ValueError):
        return f"{MANIFEST} is missing or unreadable: cannot tell what the extensions hold"
    if not isinstance(recorded, dict):
        return f"{MANIFEST} is not a table of digests"
    for name, digest in digests(core_dir).items():
        if recorded.get(name) != digest:
            return f"{name}.py changed since it was compiled (rebuild: pip install -e .)"
    return None


class _SourcesFirst:
    """A meta-path finder that loads the listed core modules from their ``.py`` files."""

    def __init__(self, core_dir: Path) -> None:
        self._paths = {f"{_PACKAGE}.{name}": core_dir / f"{name}.py" for name in COMPILED}

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        source = self._paths.get(fullname)
        if source is None:
            return None
        return importlib.util.spec_from_file_location(fullname, source)


def select(core_dir: Path) -> str:
    """Decide the build before any compiled module is imported; return what was chosen."""
    global _build
    if not any(_has_extension(core_dir, name) for name in COMPILED):
        _build = "interpreted: not compiled (installed with MMFSM_PURE=1 or without a C compiler)"
        return _build
    reason = _pure_reason(core_dir)
    if reason is None:
        _build = "compiled (mypyc)"
        return _build
    if not any(isinstance(f, _SourcesFirst) for f in sys.meta_path):
        sys.meta_path.insert(0, _SourcesFirst(core_dir))
    _build = f"interpreted: {reason}"
    if not reason.startswith(PURE_ENV):
        warnings.warn(f"mmfsm.core runs interpreted: {reason}", RuntimeWarning, stacklevel=2)
    return _build


def build() -> str:
    """What ``select`` chose, for status lines and benchmark reports."""
    return _build
