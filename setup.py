"""Build mmfsm, compiling the core's per-event modules to C with mypyc.

Why: the Engine's decision latency is a product figure (issue #9), and the same typed
code compiled by mypyc runs about twice as fast as interpreted. mypyc ships with mypy,
which the project already uses for ``--strict``; compiling needs a C compiler and the
Python headers, which the supported machines have.

What is compiled is ``mmfsm.core.native.COMPILED``: the modules every book update runs
through; the rest of the core stays interpreted (``native.py`` says why). The digest of
each compiled source goes to ``mmfsm/core/_native.json`` beside the extensions.

``MMFSM_PURE=1`` at install time builds no extension. At run time ``mmfsm.core``
loads the interpreted modules instead when ``MMFSM_PURE_CORE=1`` is set or when a
compiled module was built from a different source than the one beside it (an edited
checkout), so stale machine code never runs: see ``mmfsm/core/__init__.py``.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from types import ModuleType

from setuptools import setup

CORE = Path(__file__).resolve().parent / "src" / "mmfsm" / "core"


def _native() -> ModuleType:
    """``mmfsm.core.native``, loaded on its own: the package's dependencies may be absent."""
    spec = importlib.util.spec_from_file_location("_mmfsm_native", CORE / "native.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _ext_modules() -> list[object]:
    native = _native()
    manifest = CORE / native.MANIFEST
    if os.environ.get("MMFSM_PURE") == "1":
        manifest.unlink(missing_ok=True)
        return []
    from mypyc.build import mypycify

    extensions = list(
        mypycify(
            [str(CORE / f"{name}.py") for name in native.COMPILED],
            opt_level="3",
            group_name="mmfsm.core._native",
        )
    )
    # Written after mypyc has read the sources: the record is of what was compiled.
    manifest.write_text(json.dumps(native.digests(CORE), indent=1, sort_keys=True) + "\n")
    return extensions


setup(ext_modules=_ext_modules())
