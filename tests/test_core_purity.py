"""The core imports nothing from the shell: no I/O, no clock, no asyncio, no venue."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "src" / "mmfsm" / "core"

ALLOWED_TOP = {
    "__future__",
    "abc",
    "attrs",
    "collections",
    "dataclasses",
    "decimal",
    "difflib",
    "enum",
    "fractions",
    "functools",
    "hashlib",
    "types",
    "heapq",
    "itertools",
    "json",
    "math",
    # mypyc_attr only: a no-op decorator when interpreted, compile hints for setup.py.
    "mypy_extensions",
    "operator",
    "re",
    "statemachine",
    "tomllib",
    "typing",
    "bisect",
}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_core_imports_only_pure_modules() -> None:
    offenders = []
    files = sorted(CORE.rglob("*.py"))
    assert len(files) > 10
    for path in files:
        for name in _imports(path):
            top = name.split(".")[0]
            if name.startswith("mmfsm."):
                if not name.startswith("mmfsm.core"):
                    offenders.append(f"{path.name}: {name}")
            elif top not in ALLOWED_TOP:
                offenders.append(f"{path.name}: {name}")
    assert offenders == []


def test_the_check_catches_a_shell_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import asyncio\nfrom time import time\nfrom mmfsm.cli import main\n")
    assert _imports(bad) == ["asyncio", "time", "mmfsm.cli"]
