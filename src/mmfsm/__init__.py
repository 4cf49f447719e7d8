"""mmfsm: a safety-first market maker for Polymarket's CLOB, built as explicit state machines.

The package splits into a pure core (``mmfsm.core``: books, prices, quotes, machines, risk,
the Engine) that does no I/O and reads no clock, and a thin shell around it (CLI, venues,
audit log). The core never imports the shell; a test enforces it.
"""

from pathlib import Path

from mmfsm import native

# Before anything imports a core module: an extension built from another source never
# runs in place of its source (see native.py).
native.select(Path(__file__).resolve().parent / "core")

__all__ = ["__version__"]

__version__ = "0.1.0"
