"""tools/model_check.py: exhaustive at CI depth, finds seeded bugs, paths replay."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest
from inv_checks import Checker

from mmfsm.core.config import parse_config
from mmfsm.core.engine import Engine
from mmfsm.core.events import BookSnapshot, ClockTick, MarketListed, OperatorHalt, OperatorResume
from mmfsm.core.ticks import SIZE_SCALE, TickSize
from mmfsm.harness import T0

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "model_check.py"
CI_DEPTH = 12


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("model_check", TOOL)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["model_check"] = module
    spec.loader.exec_module(module)
    return module


mc = _load()


@pytest.mark.parametrize("name", ["position", "market", "bot"])
def test_each_machine_is_clean_and_fully_explored(name: str) -> None:
    result = mc.check_machine(name, mc.tables()[name], CI_DEPTH)
    assert result.violation is None, result.violation
    assert result.exhausted
    assert result.reached[name] == set(mc.SPECS[name]["states"])


@pytest.mark.parametrize("markets", [2, 3])
def test_product_is_clean_and_exhausted_at_ci_depth(markets: int) -> None:
    result = mc.check_product(markets, CI_DEPTH)
    print(result.summary())
    assert result.violation is None, result.violation
    assert result.exhausted, "raise CI_DEPTH: the product was not explored to the end"
    # bot running: each market (gapped_skip|running|halted by operator) x 4 live
    # positions; bot halted: each market halted (flag either way) x 4 positions.
    assert result.states == 12**markets + 8**markets
    for name, spec in mc.SPECS.items():
        assert result.reached[name] == set(spec["states"]), name


@pytest.mark.parametrize(
    ("mutant", "violation", "length"),
    [
        ("bot-resume-unacknowledged", "INV-LATCH: bot left halted", 2),
        ("market-resume-unacknowledged", "INV-LATCH: market left halted", 2),
        ("position-closed-reopens", "INV-LIFECYCLE: position", 4),
    ],
)
def test_seeded_bug_is_found_with_a_shortest_path(mutant: str, violation: str,
                                                  length: int) -> None:
    results = [mc.check_machine(n, t, CI_DEPTH) for n, t in mc.tables(mutant).items()]
    results.append(mc.check_product(2, CI_DEPTH, mutant))
    found = [r for r in results if r.violation is not None]
    assert found, f"{mutant} not found"
    assert found[0].violation.startswith(violation), found[0].violation
    assert len(found[0].path) == length  # BFS: no shorter path exists
    _states, problem = mc.replay_path(
        {"level": found[0].level, "markets": 2, "mutant": mutant, "path": found[0].path}
    )
    assert problem == found[0].violation


def test_cli_writes_a_counterexample_that_replays(tmp_path: Path) -> None:
    out = tmp_path / "path.json"
    run = subprocess.run(
        [sys.executable, str(TOOL), "--depth", "6", "--mutant", "bot-resume-unacknowledged",
         "--out", str(out)],
        capture_output=True, text=True, check=False,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "shortest path (2 steps)" in run.stdout
    assert re.search(r"states explored \d+, transitions \d+, depth \d+", run.stdout)
    doc = json.loads(out.read_text())
    _states, problem = mc.replay_path(doc)
    assert problem is not None
    assert problem.startswith("INV-LATCH")
    again = subprocess.run([sys.executable, str(TOOL), "--replay", str(out)],
                           capture_output=True, text=True, check=False)
    assert again.returncode == 1
    assert "INV-LATCH" in again.stdout


def test_cli_passes_on_the_real_tables() -> None:
    run = subprocess.run([sys.executable, str(TOOL), "--depth", str(CI_DEPTH)],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "VIOLATION" not in run.stdout


def test_the_seeded_counterexample_does_not_reproduce_on_the_real_engine() -> None:
    """The market mutant's path, made concrete: operator halts m1, resumes it unacked."""
    result = mc.check_product(1, CI_DEPTH, "market-resume-unacknowledged")
    labels = [(step["scope"], step["event"], step["guards"]) for step in result.path]
    assert labels == [("market", "halt", []), ("market", "resume", ["book_quotable"])]
    checker = Checker(Engine(parse_config({})), tolerate=frozenset())
    for event in (
        MarketListed(ts_ms=T0, market="m1", yes_token="y", no_token="n", tick=TickSize.CENT,
                     min_size=5 * SIZE_SCALE),
        BookSnapshot(ts_ms=T0, market="m1", token="y", bids=((4800, 100 * SIZE_SCALE),),
                     asks=((5200, 100 * SIZE_SCALE),)),
        ClockTick(ts_ms=T0 + 5_000),
        OperatorHalt(ts_ms=T0 + 5_000, reason="test", market="m1"),
        OperatorResume(ts_ms=T0 + 5_000, ack="", market="m1"),  # book quotable, no ack
    ):
        checker.check_all(checker.feed(event))
    assert checker.engine.markets["m1"].machine.state == "halted"


def test_model_checked_invariants_are_the_ones_specs_say() -> None:
    specs = tomllib.loads((ROOT / "specs" / "invariants.toml").read_text())["invariant"]
    claimed = {s["name"] for s in specs if s["model_checked"]}
    checked = set(re.findall(r'f?"(INV-[A-Z]+):', TOOL.read_text()))
    assert claimed == checked


def test_cli_says_each_property_held_on_the_real_tables() -> None:
    run = subprocess.run([sys.executable, str(TOOL), "--depth", str(CI_DEPTH)],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    verdicts = re.findall(r"^  (INV-[A-Z]+) \(.*\): (.*)$", run.stdout, re.MULTILINE)
    # Three machines with two properties each, the product with three.
    assert [name for name, _ in verdicts] == [*mc.MACHINE_PROPERTIES * 3,
                                              *mc.PRODUCT_PROPERTIES]
    assert {verdict for _, verdict in verdicts} == {"held"}
    assert run.stdout.count("(all reachable states)") == 4


def test_cli_says_it_stopped_at_a_violation_not_at_the_depth_limit() -> None:
    run = subprocess.run(
        [sys.executable, str(TOOL), "--mutant", "bot-resume-unacknowledged"],
        capture_output=True, text=True, check=False,
    )
    assert run.returncode == 1
    assert "depth limit" not in run.stdout
    assert re.search(r"^bot: .* \(stopped at a violation\)", run.stdout, re.MULTILINE)
    assert re.search(r"^  INV-LATCH \(.*\): violated$", run.stdout, re.MULTILINE)
    assert re.search(r"^  INV-HALT \(.*\): not decided", run.stdout, re.MULTILINE)


def test_a_search_cut_by_the_depth_limit_is_not_called_exhausted() -> None:
    result = mc.check_product(2, 3)
    assert not result.exhausted
    assert "(depth limit)" in result.summary()
    assert result.verdict("INV-HALT").startswith("held to depth 3")
    machine = mc.check_machine("position", mc.tables()["position"], 2)
    assert not machine.exhausted
    assert machine.verdict("INV-LIFECYCLE") == "violated"  # closed is not reached
    assert machine.verdict("INV-LATCH").startswith("held to depth 2")
