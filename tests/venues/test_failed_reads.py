"""A failed venue read is an error that stops quoting, never an empty answer.

The peer failure this guards against: a bot asks for its open orders, the request fails,
the bot reads that as "no orders" and places a second set beside the first. Here the
emulator answers 503 on ``GET /data/orders`` only (``FaultConfig.fail_paths``) while the
rest of the venue works, so the bot could place orders if it wanted to.
"""

from __future__ import annotations

import asyncio

import attrs
import pytest
from venue_helpers import FAST_ADAPTER, fast_config, open_orders, run_with_emulator, wait_for

from mmfsm.core.engine import Step
from mmfsm.core.events import Event, VenueFault
from mmfsm.emulator import Emulator, FaultConfig
from mmfsm.trade import BotSession
from mmfsm.venues.base import StartupRefused

OUTAGE = FaultConfig(fail_paths=("/data/orders",))


def _order_posts(emu: Emulator) -> int:
    return sum(n for key, n in emu.requests.items() if key.startswith("POST /order"))


def test_an_unreadable_open_orders_list_refuses_the_start_and_places_nothing() -> None:
    async def body(emu: Emulator) -> None:
        emu.faults = OUTAGE
        bot = BotSession(emu, fast_config(), **FAST_ADAPTER)
        with pytest.raises(StartupRefused, match="open orders"):
            await bot.start()
        assert _order_posts(emu) == 0
        assert open_orders(emu, bot.address) == []

    run_with_emulator(body)


def test_an_open_orders_outage_mid_run_stops_quoting_and_never_duplicates() -> None:
    async def body(emu: Emulator) -> None:
        faults: list[float] = []

        def on_step(event: Event, step: Step, t: float) -> None:
            if isinstance(event, VenueFault) and "open orders" in event.what:
                faults.append(t)

        bot = BotSession(emu, fast_config(), on_step=on_step, **FAST_ADAPTER)
        await bot.start()
        await wait_for(lambda: len(open_orders(emu, bot.address)) > 0, 10, "quotes resting")
        emu.faults = OUTAGE
        await wait_for(lambda: bool(faults), 5, "a VenueFault for the unreadable open orders")
        await asyncio.sleep(0.3)  # commands of the faulting step reach the venue
        posts = _order_posts(emu)
        resting = len(open_orders(emu, bot.address))
        await asyncio.sleep(2.5)  # two more failed resyncs
        assert _order_posts(emu) == posts, "placed orders while the open orders were unknown"
        assert len(open_orders(emu, bot.address)) <= resting
        emu.faults = FaultConfig()
        await wait_for(lambda: _order_posts(emu) > posts, 10, "quoting resumes after the outage")
        # No orphan set: every order resting on the venue is one the bot tracks (and so
        # counts in its worst-case exposure); none was placed by a bot that forgot its own.
        def orphans() -> set[str]:
            tracked = {t.venue_id for t in bot.venue.tracker.live() if t.venue_id}
            return {str(o["id"]) for o in open_orders(emu, bot.address)} - tracked

        await wait_for(lambda: not orphans(), 3, "every venue order tracked by the bot")
        assert open_orders(emu, bot.address), "no quotes after the outage"
        summary = await bot.stop()
        assert summary.shutdown is not None
        assert summary.shutdown.still_open == 0

    run_with_emulator(body)


def test_fail_paths_is_validated() -> None:
    from mmfsm.emulator.config import EmulatorConfigError

    with pytest.raises(EmulatorConfigError, match="fail_paths"):
        FaultConfig(fail_paths="/data/orders")  # type: ignore[arg-type]
    with pytest.raises(EmulatorConfigError, match="not a REST path"):
        attrs.evolve(OUTAGE, fail_paths=("data/orders",))
