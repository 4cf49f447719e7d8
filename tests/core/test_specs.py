"""The machines in code and the tables in specs/machines.toml must be the same machines."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from statemachine.exceptions import TransitionNotAllowed

from mmfsm.core import risk
from mmfsm.core.machines import MACHINES, IllegalTransition, Machine, TransitionRecord

ROOT = Path(__file__).resolve().parents[2]
SPECS = tomllib.loads((ROOT / "specs" / "machines.toml").read_text())


class _Sink:
    def __init__(self) -> None:
        self.records: list[TransitionRecord] = []

    def on_transition(self, record: TransitionRecord) -> None:
        self.records.append(record)


@pytest.mark.parametrize("name", sorted(MACHINES))
def test_code_matches_specs(name: str) -> None:
    table, cls = MACHINES[name]
    spec = SPECS[name]
    assert list(table.states) == spec["states"]
    assert [s.id for s in cls.states] == spec["states"]
    assert table.initial == spec["initial"] == cls.initial_state.id
    assert sorted(table.final) == sorted(spec["final"])
    in_code = [(e.source, e.event, e.target, list(e.guards)) for e in table.edges]
    in_spec = [(t["source"], t["event"], t["target"], t["guards"]) for t in spec["transitions"]]
    assert in_code == in_spec


def test_specs_name_every_machine() -> None:
    assert set(SPECS) == set(MACHINES)


def test_every_guard_is_a_risk_rule() -> None:
    guards = {g for name in MACHINES for g in MACHINES[name][0].guard_names}
    missing = sorted(g for g in guards if not callable(getattr(risk, g, None)))
    assert missing == []


@pytest.mark.parametrize("name", sorted(MACHINES))
def test_library_defaults_that_hide_errors_are_off(name: str) -> None:
    _table, cls = MACHINES[name]
    assert cls.allow_event_without_transition is False
    assert cls.catch_errors_as_events is False


@pytest.mark.parametrize("name", sorted(MACHINES))
def test_an_unlisted_event_raises_in_both(name: str) -> None:
    table, cls = MACHINES[name]
    for state in table.states:
        for event in table.events:
            if table.allows(state, event):
                continue
            with pytest.raises(TransitionNotAllowed):
                cls(start_value=state).send(event, guards=frozenset(table.guard_names))
            machine = Machine(table, "x", _Sink(), state=state)
            with pytest.raises(IllegalTransition, match=f"{event!r} is not allowed"):
                machine.fire(event, ts_ms=0, config_hash="h", guards=set(table.guard_names))
            assert machine.state == state  # refused: nothing changed


def test_closed_is_final_and_cannot_be_left() -> None:
    table, _cls = MACHINES["position"]
    machine = Machine(table, "p", _Sink(), state="closed")
    assert machine.is_final
    assert table.lookup["closed"] == {}
    for event in table.events:
        with pytest.raises(IllegalTransition):
            machine.fire(event, ts_ms=0, config_hash="h", guards=set(table.guard_names))


def test_halted_is_left_only_by_an_acknowledged_resume() -> None:
    for name in ("bot", "market"):
        table, _cls = MACHINES[name]
        exits = [e for e in table.edges if e.source == "halted"]
        assert exits, name
        assert all(e.event == "resume" and "acknowledged" in e.guards for e in exits)


def _steps(name: str) -> st.SearchStrategy[list[tuple[str, frozenset[str]]]]:
    table, _cls = MACHINES[name]
    return st.lists(
        st.tuples(
            st.sampled_from(table.events),
            st.frozensets(st.sampled_from(table.guard_names or ("none",))),
        ),
        max_size=30,
    )


@pytest.mark.parametrize("name", sorted(MACHINES))
def test_table_and_library_agree_on_random_sequences(name: str) -> None:
    """Differential test: the compiled table executes exactly the declared machine."""
    table, cls = MACHINES[name]

    @given(_steps(name))
    def run(steps: list[tuple[str, frozenset[str]]]) -> None:
        lib: Any = cls()
        sink = _Sink()
        ours = Machine(table, "x", sink)
        for event, guards in steps:
            try:
                lib.send(event, guards=guards)
                lib_ok = True
            except TransitionNotAllowed:
                lib_ok = False
            try:
                ours.fire(event, ts_ms=0, config_hash="h", guards=guards)
                ours_ok = True
            except IllegalTransition:
                ours_ok = False
            assert lib_ok == ours_ok, (event, guards)
            [lib_state] = [s.id for s in lib.configuration]
            assert lib_state == ours.state

    run()


def test_transition_records_name_machine_event_and_inputs() -> None:
    table, _cls = MACHINES["bot"]
    sink = _Sink()
    bot = Machine(table, "bot", sink)
    bot.fire(
        "breaker_trip",
        ts_ms=5,
        config_hash="abc",
        guards={"daily_loss_beyond_limit"},
        inputs={"daily_pnl": "-50.01"},
    )
    [record] = sink.records
    assert (record.machine, record.id, record.source, record.target, record.event) == (
        "bot",
        "bot",
        "running",
        "halted",
        "breaker_trip",
    )
    assert record.inputs == (("daily_pnl", "-50.01"),)
    assert record.config_hash == "abc"


def test_committed_diagrams_match_the_code() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "diagrams.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
