"""The compiled core and the interpreted core are one program.

``setup.py`` compiles the per-event core modules with mypyc; the rest of this suite runs
against whichever build is installed (compiled in CI). These tests hold the two builds
to each other: the same decisions, byte for byte, on every scenario and on a replay of
recorded books; audit logs written by one build verify and replay under the other; the
tests that patch the core pass on the interpreted sources; and an extension built from
another source is never run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import mmfsm
from mmfsm import native
from mmfsm.sim.scenarios import SCENARIOS

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "polymarket-btc-15m"
PURE = {native.PURE_ENV: "1"}
COMPILED_CORE = native.build().startswith("compiled")

needs_compiled = pytest.mark.skipif(
    not COMPILED_CORE, reason=f"the core is not compiled here: {native.build()}"
)


def _python(code: str, *args: str, env: dict[str, str] | None = None, cwd: Path = REPO,
            timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """``python -c code args`` with the build chosen by ``env`` alone (never inherited)."""
    full_env = {k: v for k, v in os.environ.items() if k != native.PURE_ENV}
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env={**full_env, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _mmfsm(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    code = f"import sys; from mmfsm.cli import main; sys.exit(main({list(args)!r}))"
    return _python(code, env=env)


@pytest.mark.skipif(os.environ.get("MMFSM_PURE") == "1", reason="installed with MMFSM_PURE=1")
def test_the_installed_core_is_the_compiled_one() -> None:
    """CI installs with the compiler: a build that silently fell back would be slower
    and would leave the compiled code untested."""
    assert native.build() == "compiled (mypyc)"
    from mmfsm.core import book, engine

    for module in (book, engine):
        assert module.__file__ is not None
        assert not module.__file__.endswith(".py"), module.__file__


@needs_compiled
def test_the_patching_tests_pass_on_the_interpreted_core() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-o", "addopts=", "-q", "-p", "no:cacheprovider", "-m",
         "interpreted_core", "tests"],
        env={**os.environ, **PURE},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    # The summary line; tests may print lines of their own after it under -q.
    [summary] = [x for x in proc.stdout.splitlines() if re.search(r"\d+ passed.* in ", x)]
    passed = re.search(r"(\d+) passed", summary)
    assert passed is not None, summary
    assert int(passed.group(1)) >= 10, summary
    assert "skipped" not in summary, summary


_DECIDE = """
import sys
from pathlib import Path
from mmfsm import native
from mmfsm.cli import main
out = Path(sys.argv[1])
for name in sys.argv[2].split(","):
    assert main(["simulate", "--scenario", name, "--json", str(out / f"{name}.json"),
                 "--log-file", str(out / f"{name}.log")]) == 0
if sys.argv[3]:
    assert main(["simulate", "--replay", sys.argv[3], "--max-markets", "2", "--baseline",
                 "--json", str(out / "replay.json"), "--log-file", str(out / "replay.log")]) == 0
print(native.build())
"""


@needs_compiled
def test_both_builds_decide_alike_on_every_scenario_and_a_replay(tmp_path: Path) -> None:
    replay = str(DATA) if DATA.is_dir() else ""
    outputs = {}
    for build, env in (("compiled", None), ("interpreted", PURE)):
        out = tmp_path / build
        out.mkdir()
        proc = _python(_DECIDE, str(out), ",".join(SCENARIOS), replay, env=env, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert proc.stdout.strip().splitlines()[-1].startswith(build), proc.stdout
        outputs[build] = {p.name: p.read_bytes() for p in sorted(out.iterdir())}
    compiled, interpreted = outputs["compiled"], outputs["interpreted"]
    assert sorted(compiled) == sorted(interpreted)
    assert len(compiled) == 2 * len(SCENARIOS) + (2 if replay else 0)
    for name in compiled:
        assert compiled[name] == interpreted[name], f"{name} differs between the builds"
    # The runs did something worth comparing: orders were placed and filled.
    calm = json.loads(compiled["calm.json"])["mmfsm"]
    assert calm["fills"] > 0
    assert calm["api_actions"] > 0


@needs_compiled
def test_an_audit_log_of_one_build_replays_under_the_other(tmp_path: Path) -> None:
    """Snapshots are pickled Engines: each build must read the other's, state for state."""
    for writer, reader in ((None, PURE), (PURE, None)):
        log = tmp_path / f"{'pure' if writer else 'compiled'}.sqlite"
        ran = _mmfsm("run", "--venue", "synthetic", "--seconds", "300", "--quiet",
                     "--audit", str(log), env=writer)
        assert ran.returncode == 0, ran.stderr[-3000:]
        # The run says which build decided.
        said = "interpreted: MMFSM_PURE_CORE=1" if writer else "compiled (mypyc)"
        assert f"mmfsm core: {said}" in ran.stdout
        replayed = _mmfsm("audit", "replay", str(log), env=reader)
        assert replayed.returncode == 0, replayed.stdout + replayed.stderr[-3000:]
        assert "every transition and command matches" in replayed.stdout
        assert re.search(r"[1-9]\d* snapshots? match(es)? the replayed state", replayed.stdout)


def _copy_package(tmp_path: Path) -> Path:
    """The installed package, extensions and digest record included, on a path of its own."""
    site = tmp_path / "site"
    shutil.copytree(Path(mmfsm.__file__).parent, site / "mmfsm",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return site


_WHICH = """
import warnings
warnings.simplefilter("always")
import mmfsm.core.book as book, mmfsm.core.engine as engine
from mmfsm import native
print(native.build())
print(book.__file__)
print(engine.__file__)
"""


@needs_compiled
def test_an_extension_built_from_another_source_is_never_run(tmp_path: Path) -> None:
    site = _copy_package(tmp_path)
    env = {"PYTHONPATH": str(site)}

    fresh = _python(_WHICH, env=env, cwd=tmp_path)
    assert fresh.returncode == 0, fresh.stderr
    build, book_file, _engine_file = fresh.stdout.split("\n")[:3]
    assert build == "compiled (mypyc)"
    assert book_file.startswith(str(site))
    assert not book_file.endswith(".py")

    # An edit after the build: every compiled module now loads from its source.
    book_py = site / "mmfsm" / "core" / "book.py"
    book_py.write_text(book_py.read_text() + "\n# edited after the build\n")
    edited = _python(_WHICH, env=env, cwd=tmp_path)
    assert edited.returncode == 0, edited.stderr
    build, book_file, engine_file = edited.stdout.split("\n")[:3]
    assert build.startswith("interpreted: book.py changed since it was compiled")
    assert book_file == str(book_py)
    assert engine_file.endswith("engine.py")
    assert "mmfsm.core runs interpreted" in edited.stderr

    # No digest record (a build that failed half way): nothing compiled runs either.
    book_py.write_text(book_py.read_text().replace("\n# edited after the build\n", ""))
    (site / "mmfsm" / "core" / native.MANIFEST).unlink()
    unrecorded = _python(_WHICH, env=env, cwd=tmp_path)
    assert unrecorded.returncode == 0, unrecorded.stderr
    build, book_file, _ = unrecorded.stdout.split("\n")[:3]
    assert build.startswith(f"interpreted: {native.MANIFEST} is missing")
    assert book_file.endswith("book.py")


@needs_compiled
def test_the_interpreted_core_can_be_chosen_at_run_time(tmp_path: Path) -> None:
    proc = _python(_WHICH, env=PURE, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    build, book_file, engine_file = proc.stdout.split("\n")[:3]
    assert build == f"interpreted: {native.PURE_ENV}=1"
    assert book_file.endswith("book.py")
    assert engine_file.endswith("engine.py")
    assert "RuntimeWarning" not in proc.stderr  # asked for, so not warned about
