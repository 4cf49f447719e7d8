"""Mutation testing of the risk rules and the machines: does the test suite notice a bug?

Usage::

    python tools/mutation.py [--module PATH ...] [--tests ARG ...] [--jobs N]
                             [--timeout S] [--list]

For each module (default: ``risk.py`` and the machine modules), every mutation point is
found with the stdlib ``ast`` module and applied, one at a time, to a fresh parse of the
module:

* comparisons: ``<`` to ``<=`` and ``>=``, ``<=`` to ``<`` and ``>``, ``>`` to ``>=``
  and ``<=``, ``>=`` to ``>`` and ``<``, ``==``/``!=``, ``is``/``is not``,
  ``in``/``not in``;
* arithmetic: ``+``/``-``, ``*``/``//``;
* boolean: ``and``/``or``, ``not x`` to ``x``, ``-x`` to ``x``;
* constants: ``True``/``False``, an integer ``n`` to ``n + 1`` and ``n - 1``.

Docstrings and annotations are not mutated. Each mutant runs the chosen pytest selection
(``-x -q -p no:cacheprovider``) in a subprocess of its own, from the repository root.
The mutant replaces the real module through a ``sitecustomize`` placed first on
``PYTHONPATH`` that installs a meta-path finder for that one module name, so nothing in
``src/`` is written and subprocesses the tests start see the mutant too. Each subprocess
gets its own Hypothesis storage directory (no example database shared between mutants or
with the working tree). A mutant is *killed* when pytest exits non-zero (a test failed
or the mutated module failed to import), *timeout* when it runs past ``--timeout``
(counted as detected, as mutmut does), *survived* when the selection passes.

Before the mutants, two controls run per module: the unmutated module as re-emitted by
``ast.unparse`` must pass (else the tool, not the tests, is at fault and the module is
skipped), and a canary whose body raises on import must fail (proving the substitution
really happens). The unmutated run's time also sets the default timeout.

Not in CI: it takes minutes. Score = (killed + timeout) / total.
"""

from __future__ import annotations

import argparse
import ast
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"

DEFAULT_MODULES = [
    "src/mmfsm/core/risk.py",
    "src/mmfsm/core/machines/table.py",
    "src/mmfsm/core/machines/bot.py",
    "src/mmfsm/core/machines/market.py",
    "src/mmfsm/core/machines/position.py",
    "src/mmfsm/core/machines/guards.py",
]
# Fast unit-level files first, so -x stops most mutants within seconds.
DEFAULT_TESTS = [
    "tests/core/test_engine_rules.py",
    "tests/core/test_specs.py",
    "tests/core/test_engine_breaker_floor.py",
    "tests/core/test_engine_story.py",
    "tests/invariants",
]
PYTEST_FLAGS = ["-x", "-q", "-p", "no:cacheprovider"]

SITECUSTOMIZE = '''\
"""Written by tools/mutation.py: load one module from a mutated source file."""
import importlib.abc
import importlib.util
import os
import sys

_NAME = os.environ.get("MMFSM_MUTANT_MODULE")
_SOURCE = os.environ.get("MMFSM_MUTANT_SOURCE")
_ORIGIN = os.environ.get("MMFSM_MUTANT_ORIGIN")


class _MutantLoader(importlib.abc.Loader):
    def create_module(self, spec):
        return None

    def exec_module(self, module):
        with open(_SOURCE, encoding="utf-8") as f:
            code = compile(f.read(), _ORIGIN, "exec")
        exec(code, module.__dict__)


class _MutantFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname != _NAME:
            return None
        return importlib.util.spec_from_file_location(
            fullname, _ORIGIN, loader=_MutantLoader()
        )


if _NAME and _SOURCE and _ORIGIN:
    sys.meta_path.insert(0, _MutantFinder())
'''

COMPARE_SWAPS: dict[type[ast.cmpop], tuple[type[ast.cmpop], ...]] = {
    ast.Lt: (ast.LtE, ast.GtE),
    ast.LtE: (ast.Lt, ast.Gt),
    ast.Gt: (ast.GtE, ast.LtE),
    ast.GtE: (ast.Gt, ast.Lt),
    ast.Eq: (ast.NotEq,),
    ast.NotEq: (ast.Eq,),
    ast.Is: (ast.IsNot,),
    ast.IsNot: (ast.Is,),
    ast.In: (ast.NotIn,),
    ast.NotIn: (ast.In,),
}
BINOP_SWAPS: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.FloorDiv,
    ast.FloorDiv: ast.Mult,
}
BOOLOP_SWAPS: dict[type[ast.boolop], type[ast.boolop]] = {ast.And: ast.Or, ast.Or: ast.And}

Mutate = Callable[[ast.AST], ast.AST]


@dataclass(frozen=True)
class Mutant:
    module: Path
    index: int  # position of the node in ast.walk order of a fresh parse
    variant: int  # which of that node's mutations
    line: int
    before: str
    after: str
    source: str

    @property
    def label(self) -> str:
        return f"{self.module.relative_to(ROOT)}:{self.line}: {self.before}  ->  {self.after}"


@dataclass(frozen=True)
class Outcome:
    mutant: Mutant | None
    status: str  # killed | survived | timeout
    seconds: float
    tail: str


def _skipped_nodes(tree: ast.AST) -> set[int]:
    """Ids of nodes inside annotations and docstrings: never mutated."""
    skip: set[int] = set()

    def mark(node: ast.AST | None) -> None:
        if node is not None:
            skip.update(id(n) for n in ast.walk(node))

    for node in ast.walk(tree):
        if isinstance(node, ast.arg | ast.AnnAssign):
            mark(node.annotation)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            mark(node.returns)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                mark(body[0])
    return skip


def _mutations(node: ast.AST) -> list[Mutate]:
    """The mutations of one node, each a function returning the replacement node."""
    out: list[Mutate] = []
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            for new in COMPARE_SWAPS.get(type(op), ()):

                def swap_cmp(n: ast.AST, i: int = i, new: type[ast.cmpop] = new) -> ast.AST:
                    assert isinstance(n, ast.Compare)
                    n.ops[i] = new()
                    return n

                out.append(swap_cmp)
    elif isinstance(node, ast.BinOp) and type(node.op) in BINOP_SWAPS:

        def swap_bin(n: ast.AST) -> ast.AST:
            assert isinstance(n, ast.BinOp)
            n.op = BINOP_SWAPS[type(n.op)]()
            return n

        out.append(swap_bin)
    elif isinstance(node, ast.BoolOp):

        def swap_bool(n: ast.AST) -> ast.AST:
            assert isinstance(n, ast.BoolOp)
            n.op = BOOLOP_SWAPS[type(n.op)]()
            return n

        out.append(swap_bool)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not | ast.USub):

        def drop_unary(n: ast.AST) -> ast.AST:
            assert isinstance(n, ast.UnaryOp)
            return n.operand

        out.append(drop_unary)
    elif isinstance(node, ast.Constant):
        if isinstance(node.value, bool):

            def flip(n: ast.AST) -> ast.AST:
                assert isinstance(n, ast.Constant)
                return ast.Constant(value=not n.value)

            out.append(flip)
        elif isinstance(node.value, int):
            for delta in (1, -1):

                def shift(n: ast.AST, delta: int = delta) -> ast.AST:
                    assert isinstance(n, ast.Constant)
                    return ast.Constant(value=n.value + delta)

                out.append(shift)
    return out


class _Apply(ast.NodeTransformer):
    def __init__(self, tree: ast.AST, index: int, mutate: Mutate) -> None:
        self.order = {id(n): i for i, n in enumerate(ast.walk(tree))}
        self.index = index
        self.mutate = mutate
        self.before = ""
        self.after = ""
        self.line = 0

    def visit(self, node: ast.AST) -> ast.AST:
        if self.order.get(id(node)) == self.index:
            self.before = ast.unparse(node)
            self.line = getattr(node, "lineno", 0)
            new = self.mutate(node)
            self.after = ast.unparse(new)
            return ast.copy_location(new, node)
        return self.generic_visit(node)


def enumerate_mutants(module: Path) -> Iterator[Mutant]:
    text = module.read_text(encoding="utf-8")
    tree = ast.parse(text)
    skip = _skipped_nodes(tree)
    for index, node in enumerate(ast.walk(tree)):
        if id(node) in skip:
            continue
        for variant, _ in enumerate(_mutations(node)):
            fresh = ast.parse(text)
            target = list(ast.walk(fresh))[index]
            applier = _Apply(fresh, index, _mutations(target)[variant])
            mutated = ast.fix_missing_locations(applier.visit(fresh))
            yield Mutant(
                module=module,
                index=index,
                variant=variant,
                line=applier.line,
                before=applier.before,
                after=applier.after,
                source=ast.unparse(mutated) + "\n",
            )


def module_name(module: Path) -> str:
    rel = module.resolve().relative_to(SRC).with_suffix("")
    return ".".join(rel.parts)


def run_one(
    module: Path, source: str, tests: list[str], timeout: float, workdir: Path
) -> tuple[str, float, str]:
    """Run the selection against ``source`` in place of ``module``; (status, secs, tail)."""
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        tmp_path = Path(tmp)
        (tmp_path / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
        mutant_file = tmp_path / "mutant_source.py"
        mutant_file.write_text(source, encoding="utf-8")
        (tmp_path / "hypothesis").mkdir()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(tmp_path), env.get("PYTHONPATH", "")) if p
        )
        env["MMFSM_MUTANT_MODULE"] = module_name(module)
        env["MMFSM_MUTANT_SOURCE"] = str(mutant_file)
        env["MMFSM_MUTANT_ORIGIN"] = str(module.resolve())
        env["HYPOTHESIS_STORAGE_DIRECTORY"] = str(tmp_path / "hypothesis")
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        cmd = [sys.executable, "-m", "pytest", *PYTEST_FLAGS, *tests]
        start = time.monotonic()
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
            return "timeout", time.monotonic() - start, (out or "")[-2000:]
        seconds = time.monotonic() - start
        status = "survived" if proc.returncode == 0 else "killed"
        return status, seconds, (out or "")[-2000:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--module",
        action="append",
        type=Path,
        help="module to mutate (repeatable); default: risk and machines",
    )
    parser.add_argument(
        "--tests",
        nargs="+",
        help="pytest selection (files, dirs, -k ...); default: see DEFAULT_TESTS",
    )
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--timeout", type=float, help="per-mutant seconds; default max(30, 3 x unmutated run)"
    )
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument("--verbose", action="store_true", help="print every outcome")
    args = parser.parse_args(argv)

    modules = [
        (m if m.is_absolute() else ROOT / m).resolve()
        for m in (args.module or [Path(p) for p in DEFAULT_MODULES])
    ]
    tests = args.tests or DEFAULT_TESTS
    started = time.monotonic()
    results: dict[Path, list[Outcome]] = {}
    exit_code = 0

    with tempfile.TemporaryDirectory(prefix="mmfsm-mutation-") as work:
        workdir = Path(work)
        for module in modules:
            mutants = sorted(enumerate_mutants(module), key=lambda m: (m.line, m.index, m.variant))
            rel = module.relative_to(ROOT)
            if args.list:
                print(f"{rel}: {len(mutants)} mutants")
                for m in mutants:
                    print("  " + m.label)
                continue
            roundtrip = ast.unparse(ast.parse(module.read_text(encoding="utf-8"))) + "\n"
            status, base_secs, tail = run_one(module, roundtrip, tests, 600, workdir)
            if status != "survived":
                print(f"{rel}: unmutated run did not pass ({status}); skipping\n{tail}")
                exit_code = 2
                continue
            canary, _, _ = run_one(
                module, roundtrip + "raise ImportError('mutation canary')\n", tests, 600, workdir
            )
            if canary != "killed":
                print(f"{rel}: canary was not detected ({canary}): substitution is broken")
                exit_code = 2
                continue
            timeout = args.timeout or max(30.0, 3 * base_secs)
            print(
                f"{rel}: {len(mutants)} mutants, unmutated run {base_secs:.1f}s, "
                f"timeout {timeout:.0f}s, {args.jobs} jobs",
                flush=True,
            )

            def job(m: Mutant, timeout: float = timeout) -> Outcome:
                status, secs, tail = run_one(m.module, m.source, tests, timeout, workdir)
                if args.verbose:
                    print(f"  {status:8} {secs:5.1f}s  {m.label}", flush=True)
                return Outcome(m, status, secs, tail)

            with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
                results[module] = list(pool.map(job, mutants))

    if args.list:
        return 0
    print()
    print(f"{'module':45} {'killed':>6} {'timeout':>7} {'survived':>8} {'total':>5} {'score':>7}")
    all_detected = all_total = 0
    for module, outcomes in results.items():
        killed = sum(o.status == "killed" for o in outcomes)
        timed = sum(o.status == "timeout" for o in outcomes)
        survived = sum(o.status == "survived" for o in outcomes)
        total = len(outcomes)
        all_detected += killed + timed
        all_total += total
        score = f"{100 * (killed + timed) / total:.1f}%" if total else "n/a"
        print(
            f"{module.relative_to(ROOT)!s:45} {killed:6} {timed:7} {survived:8} "
            f"{total:5} {score:>7}"
        )
    if all_total:
        print(
            f"{'all':45} {'':6} {'':7} {all_total - all_detected:8} {all_total:5} "
            f"{100 * all_detected / all_total:6.1f}%"
        )
    survivors = [
        o.mutant
        for outs in results.values()
        for o in outs
        if o.status == "survived" and o.mutant is not None
    ]
    if survivors:
        print("\nsurviving mutants:")
        for m in survivors:
            print("  " + m.label)
    print(f"\nwall time {time.monotonic() - started:.0f}s")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
