"""specs/invariants.toml and the stateful suite must name the same invariants.

Each invariant in specs/ is checked by exactly one ``@invariant()`` method of the
state machine, named after it (INV-HALT <-> ``inv_halt``), and by the same-named
function in ``inv_checks.CHECKS`` that the replay uses; no check exists without a spec.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from hypothesis.stateful import INVARIANT_MARKER
from inv_checks import CHECKS
from test_engine_stateful import EngineMachine

ROOT = Path(__file__).resolve().parents[2]
SPECS = tomllib.loads((ROOT / "specs" / "invariants.toml").read_text())["invariant"]


def _check_name(spec_name: str) -> str:
    return spec_name.lower().replace("-", "_")


def _stateful_checks() -> set[str]:
    return {
        name
        for name in dir(EngineMachine)
        if name.startswith("inv_") and getattr(getattr(EngineMachine, name), INVARIANT_MARKER,
                                               None) is not None
    }


def test_every_spec_has_a_check_and_every_check_a_spec() -> None:
    specs = {_check_name(s["name"]) for s in SPECS}
    assert specs == _stateful_checks()
    assert specs == set(CHECKS)


def test_every_inv_method_is_an_invariant() -> None:
    """An ``inv_*`` method that hypothesis does not run as an invariant checks nothing."""
    methods = {n for n in dir(EngineMachine) if n.startswith("inv_")}
    assert methods == _stateful_checks()


def test_specs_are_well_formed() -> None:
    names = [s["name"] for s in SPECS]
    assert len(names) == len(set(names))
    machines = set(tomllib.loads((ROOT / "specs" / "machines.toml").read_text()))
    for spec in SPECS:
        assert spec["name"].startswith("INV-")
        assert spec["text"].strip()
        assert isinstance(spec["model_checked"], bool)
        assert set(spec["about"]) <= machines | {"ledger", "orders", "engine"}, spec["name"]
