"""The emulator on a background thread with its own event loop.

For whoever needs the emulator while the main thread is busy with something that owns
its own loop or blocks: a CLI run started in-process (``cli.main`` calls
``asyncio.run``), or a harness that drives bot subprocesses. The emulator's state is only
read on its loop (``read``), never from another thread directly.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TypeVar

from mmfsm.emulator.config import EmulatorConfig
from mmfsm.emulator.server import Emulator

__all__ = ["EmulatorThread"]

T = TypeVar("T")


class EmulatorThread:
    """An emulator started on its own thread; ``stop`` ends both."""

    def __init__(self, config: EmulatorConfig, *, start_timeout_s: float = 30.0) -> None:
        self.emulator = Emulator(config)
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(self.emulator.start())
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        if not ready.wait(start_timeout_s):
            raise RuntimeError("the emulator did not start")

    def read(self, fn: Callable[[Emulator], T]) -> T:
        """``fn(emulator)`` run on the emulator's loop, between its own callbacks."""

        async def call() -> T:
            return fn(self.emulator)

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.emulator.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
