"""Helpers for bot-on-emulator tests: fast settings, waiting, venue-side truth."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import attrs

from mmfsm.core.config import Config, default_config
from mmfsm.emulator import Emulator, EmulatorConfig, ParticipantConfig

T = TypeVar("T")

# Quote at once (no gap-recovery wait), settle trades quickly, notice a dead bot in 2 s.
FAST_EMULATOR = EmulatorConfig(
    markets=2,
    mined_ms=100,
    confirmed_ms=300,
    heartbeat_timeout_s=2.0,
    participants=ParticipantConfig(taker_rate=3.0),
)
FAST_ADAPTER: dict[str, Any] = {
    "heartbeat_s": 0.5,
    "heartbeat_timeout_s": 2.0,
    "resync_s": 1.0,
    "ping_s": 2.0,
    "poll_s": 0.5,
}


def fast_config(**risk: Any) -> Config:
    base = default_config()
    return attrs.evolve(base, risk=attrs.evolve(base.risk, gap_recovery_ms=0, **risk))


def run_with_emulator(
    body: Callable[[Emulator], Awaitable[T]], config: EmulatorConfig = FAST_EMULATOR
) -> T:
    """Run ``body`` against a fresh emulator; bots it left running are killed first."""

    async def main() -> T:
        emu = Emulator(config)
        await emu.start()
        try:
            return await body(emu)
        finally:
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task() and "LiveRunner.run" in repr(task.get_coro()):
                    task.cancel()
            await asyncio.sleep(0)
            await emu.stop()

    return asyncio.run(main())


async def wait_for(pred: Callable[[], bool], timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout}s waiting for: {what}")
        await asyncio.sleep(0.05)


def stop_takers(emu: Emulator) -> None:
    emu.participants.config = attrs.evolve(emu.participants.config, taker_rate=0.0)


def open_orders(
    emu: Emulator, address: str, condition_id: str | None = None
) -> list[dict[str, Any]]:
    return [
        o for o in emu.open_orders(address) if condition_id is None or o["market"] == condition_id
    ]
