"""Exhaustive model checker for mmfsm's machines: every reachable state, breadth first.

Usage: python tools/model_check.py [--depth N] [--markets K] [--out FILE]
                                   [--mutant NAME] [--replay FILE]

Theory of operation
-------------------
The Engine decides every guard with a pure risk rule and the machines only look the
guard names up (``mmfsm.core.machines.guards``). So a machine can be explored without a
market: an abstract event is a machine event plus a *guard outcome* (the set of guard
names that hold), and ``MachineTable.next_state`` says where it leads. Enumerating every
event with every guard outcome, breadth first from the initial state, visits every
reachable state of a table, and the first path found to any state is a shortest one.

Two levels are explored:

1. *Each machine alone* (``position``, ``market``, ``bot``), from its table.
2. *The product* bot x K markets x (market machine, operator-halt flag, position), with
   the coupling rules the Engine implements around the tables:

   * C1 bot halt: when the bot enters ``halted`` (breaker_trip, operator_halt, fault),
     every market not halted fires ``halt`` in the same step;
   * C2 bot resume: when the bot leaves ``halted``, every halted market that the
     operator did not halt by name fires ``resume`` with the bot's ``acknowledged``
     outcome and one of ``book_quotable`` / ``book_not_quotable`` (each market chooses);
   * C3 market resume needs a running bot: an acknowledged resume of one market clears
     its operator flag, but while the bot is halted the market stays halted;
   * C4 operator market halt sets the market's operator flag and fires ``halt`` unless
     the market is already halted;
   * C5 positions move independently of market and bot (the Engine judges positions in
     every market state); a position entering a final state is replaced by a fresh
     machine in its initial state (the market's next episode);
   * G1 ``book_quotable`` and ``book_not_quotable`` are complementary: exactly one holds.

Invariants checked on every transition / state:

* INV-LIFECYCLE: every transition taken is an edge of specs/machines.toml; no
  transition leaves a final state (``closed`` is final); every state of every machine
  in specs/ is reached (failure if not reached within the depth); no reachable
  non-final state is a trap (has no way out at all).
* INV-LATCH: a machine leaves ``halted`` only on ``resume`` with ``acknowledged`` in
  the guard outcome.
* INV-HALT (coupling): no product state has the bot halted and a market not halted, or
  a market flagged operator-halted that is not halted.

Each level prints its counts (and whether it explored every reachable state, stopped
at the depth limit, or stopped at a violation), then one line per property: held,
violated, held only to the depth reached, or not decided because the search stopped at
a violation of another. On a violation the shortest path (BFS) is printed and, with
``--out``, written as JSON that ``--replay`` (or ``replay_path`` from a test) runs
again to the same violation.
``--mutant`` seeds a known bug (see ``MUTANTS``) to show the checker finds it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
import tomllib
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import attrs

from mmfsm.core.machines import BOT, MARKET, POSITION, MachineTable
from mmfsm.core.machines.table import Edge

__all__ = [
    "MACHINE_PROPERTIES",
    "MUTANTS",
    "PRODUCT_PROPERTIES",
    "Label",
    "Product",
    "Result",
    "check_machine",
    "check_product",
    "main",
    "replay_path",
    "with_extra_edge",
]

ROOT = Path(__file__).resolve().parents[1]
SPECS: Mapping[str, Any] = tomllib.loads((ROOT / "specs" / "machines.toml").read_text())
COMPLEMENTARY = (frozenset({"book_quotable", "book_not_quotable"}),)
HALTED = "halted"


# ------------------------------------------------------------------ tables


def with_extra_edge(
    table: MachineTable, source: str, event: str, target: str, guards: Sequence[str] = ()
) -> MachineTable:
    """A copy of ``table`` with one more edge, tried after the existing ones."""
    edges = (*table.edges, Edge(source=source, event=event, target=target, guards=tuple(guards)))
    lookup: dict[str, dict[str, list[tuple[tuple[str, ...], str]]]] = {s: {} for s in table.states}
    for edge in edges:
        lookup[edge.source].setdefault(edge.event, []).append((edge.guards, edge.target))
    return attrs.evolve(
        table,
        edges=edges,
        lookup={s: {e: tuple(o) for e, o in by.items()} for s, by in lookup.items()},
    )


MUTANTS: Mapping[str, tuple[str, tuple[str, str, str, tuple[str, ...]]]] = {
    # A resume that forgot its guard: halted -> running without an acknowledgement.
    "bot-resume-unacknowledged": ("bot", (HALTED, "resume", "running", ())),
    "market-resume-unacknowledged": ("market", (HALTED, "resume", "running", ("book_quotable",))),
    # A new episode reusing the closed machine instead of a fresh one.
    "position-closed-reopens": ("position", ("closed", "opened", "inventory_held", ())),
}


def tables(mutant: str | None = None) -> dict[str, MachineTable]:
    out = {"position": POSITION, "market": MARKET, "bot": BOT}
    if mutant is not None:
        name, (source, event, target, guards) = MUTANTS[mutant]
        out[name] = with_extra_edge(out[name], source, event, target, guards)
    return out


def guard_outcomes(table: MachineTable, event: str) -> list[frozenset[str]]:
    """Every set of guards of ``event`` that can hold together (G1 respected)."""
    names = sorted({g for e in table.edges if e.event == event for g in e.guards})
    out = []
    for bits in itertools.product((False, True), repeat=len(names)):
        held = frozenset(n for n, b in zip(names, bits, strict=True) if b)
        if all(len(held & pair) in (0, 1) for pair in COMPLEMENTARY) and all(
            not (pair <= set(names)) or len(held & pair) == 1 for pair in COMPLEMENTARY
        ):
            out.append(held)
    return out


def spec_edges(name: str) -> frozenset[tuple[str, str, str]]:
    return frozenset((t["source"], t["event"], t["target"]) for t in SPECS[name]["transitions"])


# ------------------------------------------------------------------ results


# What each level checks, in the order it is reported (module docstring for the rules).
MACHINE_PROPERTIES = ("INV-LIFECYCLE", "INV-LATCH")
PRODUCT_PROPERTIES = (*MACHINE_PROPERTIES, "INV-HALT")
PROPERTY_TEXT = {
    "INV-LIFECYCLE": "edges in specs/, final states final, every state reached, no trap",
    "INV-LATCH": "halted is left only on resume + acknowledged",
    "INV-HALT": "bot halted => every market halted; operator flag => market halted",
}


@dataclass
class Result:
    level: str
    properties: tuple[str, ...] = MACHINE_PROPERTIES
    states: int = 0
    transitions: int = 0
    depth: int = 0
    exhausted: bool = False
    stopped: bool = False  # the search stopped at a violation, before its end
    seconds: float = 0.0
    violation: str | None = None
    path: list[dict[str, Any]] = field(default_factory=list)
    reached: dict[str, set[str]] = field(default_factory=dict)

    def summary(self) -> str:
        if self.stopped:
            done = "stopped at a violation"
        else:
            done = "all reachable states" if self.exhausted else "depth limit"
        return (
            f"{self.level}: states explored {self.states}, transitions {self.transitions}, "
            f"depth {self.depth} ({done}), time {self.seconds:.3f}s"
        )

    def verdict(self, prop: str) -> str:
        """``held``, ``violated``, or why neither can be said."""
        if self.violation is not None and self.violation.startswith(prop + ":"):
            return "violated"
        if self.stopped:
            return "not decided: the search stopped at the violation below"
        if self.exhausted:
            return "held"
        return f"held to depth {self.depth} (depth limit: not every state explored)"

    def verdicts(self) -> list[str]:
        """One line per property checked at this level."""
        return [f"{p} ({PROPERTY_TEXT[p]}): {self.verdict(p)}" for p in self.properties]


# ------------------------------------------------------------------ one machine


def check_machine(name: str, table: MachineTable, depth: int) -> Result:
    """BFS over one table with every event and guard outcome."""
    start = time.perf_counter()
    result = Result(level=name)
    allowed = spec_edges(name)
    parent: dict[str, tuple[str, dict[str, Any]] | None] = {table.initial: None}
    frontier = deque([(table.initial, 0)])
    cut = False
    labels: list[dict[str, Any]] = [
        {"machine": name, "event": e, "guards": sorted(g)}
        for e in table.events
        for g in guard_outcomes(table, e)
    ]

    def path_to(state: str) -> list[dict[str, Any]]:
        out = []
        while (p := parent[state]) is not None:
            state, label = p
            out.append(label)
        return out[::-1]

    while frontier and result.violation is None:
        state, d = frontier.popleft()
        result.depth = max(result.depth, d)
        if d >= depth:
            # Not expanded: the search is cut short if it would have found a new state.
            cut = cut or any(
                (t := table.next_state(state, lb["event"], frozenset(lb["guards"]))) is not None
                and t not in parent
                for lb in labels
            )
            continue
        moves = 0
        for label in labels:
            target = table.next_state(state, label["event"], frozenset(label["guards"]))
            if target is None:
                continue
            moves += 1
            result.transitions += 1
            problem = _edge_problem(name, table, state, label, target, allowed)
            if problem is not None:
                result.violation = problem
                result.path = [*path_to(state), label]
                result.stopped = True
                break
            if target not in parent:
                parent[target] = (state, label)
                frontier.append((target, d + 1))
        if result.violation is None and moves == 0 and state not in table.final:
            result.violation = f"INV-LIFECYCLE: {name} state {state!r} is a trap: no way out"
            result.path = path_to(state)
            result.stopped = True
    result.states = len(parent)
    result.exhausted = not frontier and not cut
    result.reached = {name: set(parent)}
    if result.violation is None:
        missing = sorted(set(SPECS[name]["states"]) - set(parent))
        if missing:
            result.violation = f"INV-LIFECYCLE: {name} states {missing} not reached within depth"
    result.seconds = time.perf_counter() - start
    return result


def _edge_problem(
    name: str,
    table: MachineTable,
    source: str,
    label: Mapping[str, Any],
    target: str,
    allowed: frozenset[tuple[str, str, str]],
) -> str | None:
    event = label["event"]
    if (source, event, target) not in allowed:
        return f"INV-LIFECYCLE: {name} {source} -{event}-> {target} is not in specs/machines.toml"
    if source in table.final:
        return f"INV-LIFECYCLE: {name} left final state {source!r} on {event}"
    if source == HALTED and target != HALTED and not (
        event == "resume" and "acknowledged" in label["guards"]
    ):
        return (
            f"INV-LATCH: {name} left halted on {event} with guards {label['guards']} "
            "(needs resume + acknowledged)"
        )
    return None


# ------------------------------------------------------------------ the product

Market = tuple[str, bool, str]  # (market machine, operator-halted flag, position)
State = tuple[str, tuple[Market, ...]]
Label = dict[str, Any]


@dataclass
class Product:
    """bot x markets x positions with the coupling rules C1-C5 (module docstring)."""

    markets: int
    tables: Mapping[str, MachineTable]
    allowed: Mapping[str, frozenset[tuple[str, str, str]]] = field(init=False)

    def __post_init__(self) -> None:
        self.allowed = {name: spec_edges(name) for name in self.tables}

    @property
    def initial(self) -> State:
        m = (self.tables["market"].initial, False, self.tables["position"].initial)
        return (self.tables["bot"].initial, tuple(m for _ in range(self.markets)))

    def labels(self) -> Iterator[Label]:
        bot, market, position = self.tables["bot"], self.tables["market"], self.tables["position"]
        choices = list(itertools.product(("book_quotable", "book_not_quotable"),
                                         repeat=self.markets))
        for event in bot.events:
            for guards in guard_outcomes(bot, event):
                if event == "resume":
                    for books in choices:
                        yield {"scope": "bot", "event": event, "guards": sorted(guards),
                               "books": list(books)}
                else:
                    yield {"scope": "bot", "event": event, "guards": sorted(guards)}
        for i in range(self.markets):
            for event in market.events:
                for guards in guard_outcomes(market, event):
                    yield {"scope": "market", "index": i, "event": event,
                           "guards": sorted(guards)}
            for event in position.events:
                for guards in guard_outcomes(position, event):
                    yield {"scope": "position", "index": i, "event": event,
                           "guards": sorted(guards)}

    def apply(self, state: State, label: Label) -> tuple[State, list[tuple[str, str, str, str]]]:
        """The next state and the transitions taken: (machine, source, event, target)."""
        bot_state, markets_t = state
        machines = [m[0] for m in markets_t]
        operator = [m[1] for m in markets_t]
        positions = [m[2] for m in markets_t]
        fired: list[tuple[str, str, str, str]] = []
        guards = frozenset(label["guards"])

        def fire(machine: str, source: str, event: str, held: frozenset[str]) -> str | None:
            target = self.tables[machine].next_state(source, event, held)
            if target is not None:
                fired.append((machine, source, event, target))
            return target

        scope = label["scope"]
        if scope == "bot":
            target = fire("bot", bot_state, label["event"], guards)
            if target is not None:
                if target == HALTED and bot_state != HALTED:  # C1
                    for i, machine in enumerate(machines):
                        if machine != HALTED:
                            machines[i] = fire("market", machine, "halt", frozenset()) or machine
                if bot_state == HALTED and target != HALTED:  # C2
                    for i, book in enumerate(label["books"]):
                        if machines[i] == HALTED and not operator[i]:
                            held = frozenset((guards & {"acknowledged"}) | {book})
                            machines[i] = fire("market", HALTED, "resume", held) or HALTED
                bot_state = target
        elif scope == "market":
            i = label["index"]
            event = label["event"]
            if event == "halt":  # C4: an operator halt of this market
                operator[i] = True
                if machines[i] != HALTED:
                    machines[i] = fire("market", machines[i], "halt", guards) or machines[i]
            elif event == "resume":  # C3
                if machines[i] == HALTED and "acknowledged" in guards:
                    operator[i] = False
                if bot_state != HALTED:
                    machines[i] = fire("market", machines[i], "resume", guards) or machines[i]
            else:
                machines[i] = fire("market", machines[i], event, guards) or machines[i]
        else:
            i = label["index"]
            target = fire("position", positions[i], label["event"], guards)
            if target is not None:  # C5: a final state starts the next episode
                final = self.tables["position"].final
                positions[i] = self.tables["position"].initial if target in final else target
        new_markets = tuple(zip(machines, operator, positions, strict=True))
        return (bot_state, new_markets), fired

    def problem(self, state: State, label: Label, fired: list[tuple[str, str, str, str]],
                after: State) -> str | None:
        for machine, source, event, target in fired:
            allowed = self.allowed[machine]
            if (source, event, target) not in allowed:
                return (f"INV-LIFECYCLE: {machine} {source} -{event}-> {target} is not in "
                        "specs/machines.toml")
            if source in self.tables[machine].final:
                return f"INV-LIFECYCLE: {machine} left final state {source!r}"
            if source == HALTED and target != HALTED and not (
                label["event"] == "resume" and "acknowledged" in label["guards"]
            ):
                return (f"INV-LATCH: {machine} left halted on {label['scope']} "
                        f"{label['event']} with guards {label['guards']}")
        bot_state, markets = after
        for i, (machine, operator, _position) in enumerate(markets):
            if bot_state == HALTED and machine != HALTED:
                return f"INV-HALT: bot halted but market {i} is {machine}"
            if operator and machine != HALTED:
                return f"INV-HALT: market {i} halted by the operator but {machine}"
        return None


def check_product(markets: int, depth: int, mutant: str | None = None) -> Result:
    start = time.perf_counter()
    product = Product(markets=markets, tables=tables(mutant))
    result = Result(
        level=f"product bot x {markets} x (market, position)", properties=PRODUCT_PROPERTIES
    )
    labels = list(product.labels())
    parent: dict[State, tuple[State, Label] | None] = {product.initial: None}
    reached: dict[str, set[str]] = {"bot": set(), "market": set(), "position": set()}

    def note(state: State) -> None:
        reached["bot"].add(state[0])
        for machine, _flag, position in state[1]:
            reached["market"].add(machine)
            reached["position"].add(position)

    def path_to(state: State) -> list[Label]:
        out = []
        while (p := parent[state]) is not None:
            state, label = p
            out.append(label)
        return out[::-1]

    note(product.initial)
    frontier = deque([(product.initial, 0)])
    cut = False
    while frontier and result.violation is None:
        state, d = frontier.popleft()
        result.depth = max(result.depth, d)
        if d >= depth:
            # Not expanded: the search is cut short if it would have found a new state.
            cut = cut or any(
                (step := product.apply(state, lb))[1] and step[0] not in parent for lb in labels
            )
            continue
        for label in labels:
            after, fired = product.apply(state, label)
            if not fired:
                continue
            result.transitions += 1
            for machine, _s, _e, target in fired:
                reached[machine].add(target)
            problem = product.problem(state, label, fired, after)
            if problem is not None:
                result.violation = problem
                result.path = [*path_to(state), label]
                result.stopped = True
                break
            if after not in parent:
                parent[after] = (state, label)
                note(after)
                frontier.append((after, d + 1))
    result.states = len(parent)
    result.exhausted = not frontier and not cut
    result.reached = reached
    if result.violation is None:
        for name, spec in SPECS.items():
            missing = sorted(set(spec["states"]) - reached[name])
            if missing:
                result.violation = (
                    f"INV-LIFECYCLE: {name} states {missing} not reached in the product "
                    f"within depth {depth}"
                )
                break
    result.seconds = time.perf_counter() - start
    return result


# ------------------------------------------------------------------ counterexamples


def write_path(path: Path, result: Result, *, markets: int, mutant: str | None) -> None:
    doc = {
        "format": "mmfsm-model-path/1",
        "level": result.level,
        "markets": markets,
        "mutant": mutant,
        "violation": result.violation,
        "path": result.path,
    }
    path.write_text(json.dumps(doc, indent=1) + "\n")


def replay_path(doc: Mapping[str, Any]) -> tuple[list[Any], str | None]:
    """Run a saved path again from the initial state: (states visited, violation)."""
    mutant = doc.get("mutant")
    level = doc["level"]
    if level.startswith("product"):
        product = Product(markets=doc["markets"], tables=tables(mutant))
        state: Any = product.initial
        states = [state]
        for label in doc["path"]:
            after, fired = product.apply(state, label)
            problem = product.problem(state, label, fired, after)
            states.append(after)
            if problem is not None:
                return states, problem
            state = after
        return states, None
    table = tables(mutant)[level]
    allowed = spec_edges(level)
    state = table.initial
    states = [state]
    for label in doc["path"]:
        target = table.next_state(state, label["event"], frozenset(label["guards"]))
        if target is None:
            raise ValueError(f"step {label} is not possible from {state!r}")
        problem = _edge_problem(level, table, state, label, target, allowed)
        states.append(target)
        if problem is not None:
            return states, problem
        state = target
    return states, None


def _show(result: Result) -> None:
    print(result.summary())
    for line in result.verdicts():
        print(f"  {line}")
    if result.violation is not None:
        print(f"  VIOLATION {result.violation}")
        if result.path:  # an unreached state has no path to show
            print(f"  shortest path ({len(result.path)} steps):")
        for i, label in enumerate(result.path, 1):
            print(f"    {i}. {json.dumps(label, sort_keys=True)}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--depth", type=int, default=12, help="BFS depth limit (default 12)")
    parser.add_argument("--markets", type=int, default=2, help="markets in the product (2)")
    parser.add_argument("--out", type=Path, help="write the shortest failing path as JSON")
    parser.add_argument("--mutant", choices=sorted(MUTANTS), help="seed a known bug")
    parser.add_argument("--replay", type=Path, help="replay a saved path and exit")
    args = parser.parse_args(argv)
    if args.replay is not None:
        doc = json.loads(args.replay.read_text())
        states, problem = replay_path(doc)
        for i, state in enumerate(states):
            print(f"  {i}. {state}")
        print(f"replayed {len(doc['path'])} steps: {problem or 'no violation'}")
        return 1 if problem else 0
    start = time.perf_counter()
    failed = None
    for name, table in tables(args.mutant).items():
        result = check_machine(name, table, args.depth)
        _show(result)
        if result.violation is not None and failed is None:
            failed = result
    result = check_product(args.markets, args.depth, args.mutant)
    _show(result)
    if result.violation is not None and failed is None:
        failed = result
    print(f"total time {time.perf_counter() - start:.3f}s")
    if failed is not None:
        if args.out is not None:
            write_path(args.out, failed, markets=args.markets, mutant=args.mutant)
            print(f"counterexample written to {args.out}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
