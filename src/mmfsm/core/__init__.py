"""The pure, deterministic core: no I/O, no wall clock, no threads, no asyncio.

Everything here is a function of the events it is given; time is a field of each event.
"""

__all__: list[str] = []
