"""The three machines of mmfsm, declared with python-statemachine and run from a table.

``position``, ``market`` and ``bot`` each own one machine class; ``table`` compiles those
classes, once at import, into the lookup tables the Engine executes.
"""

from mmfsm.core.machines.bot import BotMachine
from mmfsm.core.machines.market import MarketMachine
from mmfsm.core.machines.position import PositionMachine
from mmfsm.core.machines.table import (
    BOT,
    MACHINES,
    MARKET,
    POSITION,
    IllegalTransition,
    Machine,
    MachineTable,
    TransitionListener,
    TransitionRecord,
)

__all__ = [
    "BOT",
    "MACHINES",
    "MARKET",
    "POSITION",
    "BotMachine",
    "IllegalTransition",
    "Machine",
    "MachineTable",
    "MarketMachine",
    "PositionMachine",
    "TransitionListener",
    "TransitionRecord",
]
