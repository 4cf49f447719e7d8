"""Helpers for the emulator tests: an emulator on a free loopback port, official clients.

Tests are synchronous functions that run one ``asyncio.run`` each (no async plugin is a
dependency); the official client is synchronous, so it runs in a worker thread while
the emulator serves on the event loop, exactly as the adapter uses it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from eth_account import Account
from py_clob_client_v2.client import ClobClient

from mmfsm.emulator import Emulator, EmulatorConfig, ParticipantConfig

T = TypeVar("T")

QUIET = ParticipantConfig(enabled=False)


def run_with_emulator(
    body: Callable[[Emulator], Awaitable[T]], config: EmulatorConfig | None = None
) -> T:
    async def main() -> T:
        emu = Emulator(config or EmulatorConfig(markets=1, participants=QUIET))
        await emu.start()
        try:
            return await body(emu)
        finally:
            await emu.stop()

    return asyncio.run(main())


def client(emu: Emulator, key: str | None = None, *, creds: bool = True) -> ClobClient:
    """An official client with a throwaway wallet, API key derived if ``creds``."""
    c = ClobClient(emu.url, emu.config.chain_id, key=key or Account.create().key.hex())
    if creds:
        c.set_api_creds(c.create_or_derive_api_key())
    return c


async def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await asyncio.to_thread(fn, *args, **kwargs)
