"""The pure, deterministic core: no I/O, no wall clock, no threads, no asyncio.

Everything here is a function of the events it is given; time is a field of each event.
The per-event modules may be compiled with mypyc (``setup.py``); ``native.select`` runs
first so that an extension built from another source never runs in place of the source.
"""

from pathlib import Path

from mmfsm.core import native

native.select(Path(__file__).resolve().parent)

__all__: list[str] = []
