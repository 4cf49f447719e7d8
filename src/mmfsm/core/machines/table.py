"""The machines as lookup tables compiled from their python-statemachine declarations.

Theory of operation
-------------------
The python-statemachine classes in ``bot``, ``market`` and ``position`` are the single
declaration of each machine: they draw the diagrams, python-statemachine validates them
at class creation (no unreachable or trap states), and ``specs/machines.toml`` is checked
against them. Executing them costs about 120 µs a transition and 0.4 ms an instance here,
and an instance cannot be snapshotted as plainly as a string; the Engine holds one
machine per market and per position and must restart from the audit log. So at import
each class is compiled into a ``MachineTable``: ``state -> event -> [(guards, target)]``,
in declaration order. A ``Machine`` is then a name, an id and a state string, and firing
an event is a dict lookup. A differential test runs the class and the table side by side
on random event sequences and requires them to agree.

Semantics, shared with python-statemachine: the first transition of the event from the
current state whose guards all hold is taken. If none is taken the event is illegal
there and ``IllegalTransition`` is raised, naming machine, id, state and event: the Engine
only fires an event after its risk rules decided the transition, so an illegal one is a
bug in our code (h11's LocalProtocolError), never an exchange anomaly.

Every transition goes to the one ``TransitionListener`` the machine was built with; it
records, it never does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from typing import Any, Protocol

from attrs import frozen

from mmfsm.core.machines.bot import BotMachine
from mmfsm.core.machines.market import MarketMachine
from mmfsm.core.machines.position import PositionMachine

__all__ = [
    "BOT",
    "MACHINES",
    "MARKET",
    "POSITION",
    "IllegalTransition",
    "Machine",
    "MachineTable",
    "TransitionListener",
    "TransitionRecord",
]


class IllegalTransition(RuntimeError):
    """Our own code fired an event that the machine's current state does not allow."""


@frozen(kw_only=True)
class Edge:
    source: str
    event: str
    target: str
    guards: tuple[str, ...]


@frozen(kw_only=True)
class MachineTable:
    name: str
    states: tuple[str, ...]
    initial: str
    final: frozenset[str]
    edges: tuple[Edge, ...]
    lookup: Mapping[str, Mapping[str, tuple[tuple[tuple[str, ...], str], ...]]]

    @classmethod
    def compile(cls, name: str, declaration: Any) -> MachineTable:
        states = tuple(s.id for s in declaration.states)
        edges: list[Edge] = []
        for state in declaration.states:
            for transition in state.transitions:
                for event in transition.events:
                    edges.append(
                        Edge(
                            source=state.id,
                            event=str(event),
                            target=transition.target.id,
                            guards=tuple(str(c) for c in transition.cond),
                        )
                    )
        lookup: dict[str, dict[str, list[tuple[tuple[str, ...], str]]]] = {
            s: {} for s in states
        }
        for edge in edges:
            lookup[edge.source].setdefault(edge.event, []).append((edge.guards, edge.target))
        frozen_lookup = {
            s: {e: tuple(options) for e, options in by_event.items()}
            for s, by_event in lookup.items()
        }
        return cls(
            name=name,
            states=states,
            initial=declaration.initial_state.id,
            final=frozenset(s.id for s in declaration.final_states),
            edges=tuple(edges),
            lookup=frozen_lookup,
        )

    @property
    def events(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(e.event for e in self.edges))

    @property
    def guard_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(g for e in self.edges for g in e.guards))

    def next_state(self, state: str, event: str, guards: Set[str]) -> str | None:
        """The state ``event`` leads to with these guards holding, or None if illegal."""
        for needed, target in self.lookup[state].get(event, ()):
            if all(g in guards for g in needed):
                return target
        return None

    def allows(self, state: str, event: str) -> bool:
        return event in self.lookup[state]


@frozen(kw_only=True)
class TransitionRecord:
    """What the audit log keeps of one transition: enough to explain it to a human."""

    ts_ms: int
    machine: str
    id: str
    source: str
    target: str
    event: str
    inputs: tuple[tuple[str, str], ...]
    config_hash: str


class TransitionListener(Protocol):
    def on_transition(self, record: TransitionRecord) -> None: ...


class Machine:
    """One running machine: a table, an id, a state string and its one listener."""

    __slots__ = ("id", "listener", "state", "table")

    def __init__(
        self,
        table: MachineTable,
        id: str,
        listener: TransitionListener,
        state: str | None = None,
    ) -> None:
        self.table = table
        self.id = id
        self.listener = listener
        self.state = table.initial if state is None else state
        if self.state not in table.lookup:
            raise IllegalTransition(f"{table.name} {id}: unknown state {self.state!r}")

    def fire(
        self,
        event: str,
        *,
        ts_ms: int,
        config_hash: str,
        guards: Set[str] = frozenset(),
        inputs: Mapping[str, object] | None = None,
    ) -> str:
        """Take ``event`` now; raise, changing nothing, if this state does not allow it."""
        target = self.table.next_state(self.state, event, guards)
        if target is None:
            raise IllegalTransition(
                f"{self.table.name} {self.id}: event {event!r} is not allowed in state "
                f"{self.state!r} with guards {sorted(guards)}"
            )
        source = self.state
        self.state = target
        self.listener.on_transition(
            TransitionRecord(
                ts_ms=ts_ms,
                machine=self.table.name,
                id=self.id,
                source=source,
                target=target,
                event=event,
                inputs=tuple(sorted((k, str(v)) for k, v in (inputs or {}).items())),
                config_hash=config_hash,
            )
        )
        return target

    @property
    def is_final(self) -> bool:
        return self.state in self.table.final

    def __repr__(self) -> str:
        return f"<{self.table.name} {self.id} {self.state}>"


POSITION = MachineTable.compile("position", PositionMachine)
MARKET = MachineTable.compile("market", MarketMachine)
BOT = MachineTable.compile("bot", BotMachine)
MACHINES: Mapping[str, tuple[MachineTable, type[Any]]] = {
    "position": (POSITION, PositionMachine),
    "market": (MARKET, MarketMachine),
    "bot": (BOT, BotMachine),
}
