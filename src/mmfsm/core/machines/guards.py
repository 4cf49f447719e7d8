"""Guard methods for the python-statemachine declarations.

The Engine decides every guard with a pure risk rule (``mmfsm.core.risk``) and passes the
names of the guards that hold as ``guards``; a declared guard only looks its name up. So
the machine class and the compiled table read the same decision, and the model checker
can enumerate guard outcomes without a market.
"""

from __future__ import annotations

from collections.abc import Callable, Set
from typing import Any

__all__ = ["guard"]


def guard(name: str) -> Callable[[Any, Set[str]], bool]:
    def check(self: Any, guards: Set[str] = frozenset()) -> bool:
        return name in guards

    check.__name__ = name
    check.__doc__ = f"True when the Engine's risk rule {name!r} holds for this event."
    return check
