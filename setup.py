"""Build mmfsm, compiling the core's per-event modules to C with mypyc.

Why: the Engine's decision latency is a product figure (issue #9), and the same typed
code compiled by mypyc runs about twice as fast as interpreted. mypyc ships with mypy,
which the project already uses for ``--strict``; compiling needs a C compiler and the
Python headers, which the supported machines have.

What is compiled is ``mmfsm.native.COMPILED``: the modules every book update runs
through; the rest of the core stays interpreted (``native.py`` says why). The digest of
each compiled source goes to ``mmfsm/core/_native.json`` beside the extensions.

``MMFSM_PURE=1`` at install time builds no extension. At run time ``mmfsm.core``
loads the interpreted modules instead when ``MMFSM_PURE_CORE=1`` is set or when a
compiled module was built from a different source than the one beside it (an edited
checkout), so stale machine code never runs: see ``mmfsm/native.py``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from types import ModuleType

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError, CompileError, ExecError, PlatformError

CORE = Path(__file__).resolve().parent / "src" / "mmfsm" / "core"


def _native() -> ModuleType:
    """``mmfsm.native``, loaded on its own: the package's dependencies may be absent."""
    spec = importlib.util.spec_from_file_location("_mmfsm_native", CORE.parent / "native.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


NATIVE = _native()


class _BuildExt(build_ext):
    """Records the digests of the compiled sources once their extensions are built.

    The old record goes first: a failed build leaves none, and an extension with no
    record is never run (``mmfsm.native``).
    """

    def run(self) -> None:
        record = Path(self.get_ext_fullpath("mmfsm.core.engine")).parent / NATIVE.MANIFEST
        record.unlink(missing_ok=True)
        (CORE / NATIVE.MANIFEST).unlink(missing_ok=True)
        digests = NATIVE.digests(CORE)  # of the sources mypyc is about to compile
        try:
            super().run()
        except (CCompilerError, CompileError, ExecError, PlatformError) as exc:
            # No C compiler (or no Python headers): install the interpreted core, which
            # decides the same at half the speed, and say so; `mmfsm run` says it too.
            # Whatever the failed build left has no record, so it never runs.
            print(
                f"mmfsm: the core was not compiled ({type(exc).__name__}: {exc}); installing "
                "the interpreted core. Install a C compiler and the Python headers and "
                "reinstall for the compiled one, or set MMFSM_PURE=1 to skip compiling.",
                file=sys.stderr,
            )
            self.extensions = []
            return
        if self.extensions:
            record.parent.mkdir(parents=True, exist_ok=True)
            record.write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")

    def get_outputs(self) -> list[str]:
        return list(super().get_outputs()) if self.extensions else []


def _ext_modules() -> list[Extension]:
    if os.environ.get("MMFSM_PURE") == "1":
        (CORE / NATIVE.MANIFEST).unlink(missing_ok=True)
        return []
    from mypyc.build import mypycify

    return list(
        mypycify(
            # A cache of this build's own: one left in the tree by another environment
            # (other libraries installed) must not stand in for checking the imports.
            ["--cache-dir=build/mypy-cache"]
            + [str(CORE / f"{name}.py") for name in NATIVE.COMPILED],
            opt_level="3",
            group_name="mmfsm.core._native",
        )
    )


setup(ext_modules=_ext_modules(), cmdclass={"build_ext": _BuildExt})
