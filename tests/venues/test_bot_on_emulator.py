"""The bot, through the official client, against the emulator on loopback: end to end.

Each test starts an emulator on a free port and a ``BotSession`` (Engine + ``ClobVenue``
+ run loop, the code ``mmfsm run`` uses), and checks the venue's own view of the
account, not the bot's opinion of it: open orders and balances are read from the
emulator.
"""

from __future__ import annotations

import asyncio

import attrs
import pytest
from venue_helpers import (
    FAST_ADAPTER,
    FAST_EMULATOR,
    fast_config,
    open_orders,
    run_with_emulator,
    stop_takers,
    wait_for,
)

from mmfsm.core.commands import Alert, CancelAll, Place, Severity
from mmfsm.core.engine import Step
from mmfsm.core.events import Event
from mmfsm.core.ticks import SIZE_SCALE, TickSize, format_price
from mmfsm.emulator import Emulator, FaultConfig
from mmfsm.trade import BotSession
from mmfsm.venues.base import StartupRefused


def _holdings_match(bot: BotSession, emu: Emulator) -> list[str]:
    problems = []
    for m in bot.venue.markets:
        ms = bot.engine.markets.get(m.key)
        if ms is None:
            problems.append(f"{m.key}: not listed in the Engine yet")
            continue
        venue = (emu.balance(bot.address, m.yes_token), emu.balance(bot.address, m.no_token))
        if (ms.ledger.yes_held, ms.ledger.no_held) != venue:
            problems.append(
                f"{m.key}: engine {(ms.ledger.yes_held, ms.ledger.no_held)} venue {venue}"
            )
    return problems


def test_fills_reach_inventory_and_shutdown_leaves_nothing_open() -> None:
    async def body(emu: Emulator) -> None:
        bot = BotSession(emu, fast_config(), **FAST_ADAPTER)
        await bot.start()
        await wait_for(lambda: bot.venue.fills >= 3, 20, "three fills")
        stop_takers(emu)
        await wait_for(
            lambda: not _holdings_match(bot, emu), 5, "engine inventory == venue balances"
        )
        assert any(ms.ledger.yes_held or ms.ledger.no_held for ms in bot.engine.markets.values())
        summary = await bot.stop()
        assert summary.fills >= 3
        assert summary.shutdown is not None
        assert summary.shutdown.still_open == 0
        assert open_orders(emu, bot.address) == []

    run_with_emulator(body)


def test_gap_rule_cancels_resting_orders_on_the_venue() -> None:
    async def body(emu: Emulator) -> None:
        bot = BotSession(emu, fast_config(), **FAST_ADAPTER)
        await bot.start()
        market = bot.venue.markets[0]
        await wait_for(
            lambda: len(open_orders(emu, bot.address, market.condition_id)) > 0,
            10,
            "quotes resting",
        )
        emu.gap(market.condition_id, 30, sweep=None)  # the market maker pulls back to +-0.20
        await wait_for(
            lambda: bot.engine.markets[market.key].machine.state == "gapped_skip", 5, "gapped_skip"
        )
        await wait_for(
            lambda: open_orders(emu, bot.address, market.condition_id) == [],
            5,
            "no resting order of ours in the gapped market",
        )
        await asyncio.sleep(1.0)
        assert open_orders(emu, bot.address, market.condition_id) == []  # and none came back
        await bot.stop()

    run_with_emulator(body)


def test_breaker_leaves_zero_open_orders_on_the_venue() -> None:
    async def body(emu: Emulator) -> None:
        config = fast_config(global_daily_loss=10**10 // 5)  # $0.20 (money units are 1e-10 USD)
        cancel_alls: list[Step] = []

        def on_step(event: Event, step: Step, t: float) -> None:
            if any(isinstance(c, CancelAll) for c in step.commands):
                cancel_alls.append(step)

        bot = BotSession(emu, config, on_step=on_step, **FAST_ADAPTER)
        await bot.start()
        await wait_for(
            lambda: any(
                abs(ms.ledger.delta) >= 5 * SIZE_SCALE for ms in bot.engine.markets.values()
            ),
            20,
            "a position of 5 shares",
        )
        stop_takers(emu)
        for m in bot.venue.markets:  # move every fair price 0.25 against our position
            delta = bot.engine.markets[m.key].ledger.delta
            if delta:
                emu.participants.fair[m.condition_id] += -0.25 if delta > 0 else 0.25
        await wait_for(lambda: bot.engine.halted, 10, "the global daily loss breaker")
        assert cancel_alls
        await wait_for(lambda: open_orders(emu, bot.address) == [], 5, "zero open orders")
        await asyncio.sleep(1.0)
        assert open_orders(emu, bot.address) == []  # a halted bot places nothing
        await bot.stop()

    run_with_emulator(body)


def test_killed_bot_orders_are_cancelled_by_the_heartbeat_switch() -> None:
    async def body(emu: Emulator) -> None:
        bot = BotSession(emu, fast_config(), **FAST_ADAPTER)
        await bot.start()
        await wait_for(lambda: len(open_orders(emu, bot.address)) > 0, 10, "quotes resting")
        stop_takers(emu)  # nothing but the switch may take our orders away
        await bot.kill()  # no cancel-all, no goodbye
        assert open_orders(emu, bot.address)
        await wait_for(
            lambda: open_orders(emu, bot.address) == [], 5, "the venue's dead-man switch"
        )
        assert emu.exchange.heartbeat_cancels > 0

    run_with_emulator(body)


def test_restarted_bot_reconciles_orders_and_inventory() -> None:
    async def body(emu: Emulator) -> None:
        first = BotSession(emu, fast_config(), **FAST_ADAPTER)
        await first.start()
        await wait_for(lambda: first.venue.fills >= 2, 20, "fills")
        stop_takers(emu)
        # A still market: with no taker and no fair-price walk the bot has no reason to
        # re-quote, so the orders resting when it is killed stay there for the restart.
        emu.participants.config = attrs.evolve(emu.participants.config, fair_vol=0.0)
        await asyncio.sleep(1.0)
        await wait_for(lambda: len(open_orders(emu, first.address)) > 0, 10, "quotes resting")
        await first.kill()
        left = {o["id"] for o in open_orders(emu, first.address)}
        assert left
        second = BotSession(emu, fast_config(), key=first.key, **FAST_ADAPTER)
        await second.start()
        assert second.venue.cancelled_at_start >= 1
        assert not left & {o["id"] for o in open_orders(emu, first.address)}  # old ones gone
        assert second.venue.restored_trades >= 2
        await wait_for(
            lambda: not _holdings_match(second, emu), 5, "inventory restored from trades"
        )
        await second.stop()

    # The venue's dead-man switch must not beat the restart to the old orders (a slow
    # start-up on a loaded machine would take more than FAST_EMULATOR's 2 s): here it is
    # start-up reconciliation that has to find and cancel them.
    run_with_emulator(body, attrs.evolve(FAST_EMULATOR, heartbeat_timeout_s=60.0))


def test_restart_refuses_holdings_it_cannot_explain() -> None:
    async def body(emu: Emulator) -> None:
        first = BotSession(emu, fast_config(), **FAST_ADAPTER)
        await first.start()
        await first.stop()
        token = emu.markets[0].yes_token
        emu.exchange.account(first.address).tokens[token] = 7 * SIZE_SCALE  # bought elsewhere
        second = BotSession(emu, fast_config(), key=first.key, **FAST_ADAPTER)
        with pytest.raises(StartupRefused, match="cannot explain"):
            await second.start()

    run_with_emulator(body)


def test_tick_size_change_is_followed_at_once() -> None:
    async def body(emu: Emulator) -> None:
        bot = BotSession(emu, fast_config(), **FAST_ADAPTER)
        await bot.start()
        market = bot.venue.markets[0]
        # The client caches each token's tick once it has signed an order on it (the
        # cache ``ClobRest.forget_tick`` drops): wait until both tokens hold the old one,
        # so the change below has a stale cache to clear.
        cache = bot.rest._client._ClobClient__tick_sizes
        await wait_for(
            lambda: cache.get(market.yes_token) == "0.01" and cache.get(market.no_token) == "0.01",
            10,
            "the client's cached ticks",
        )
        emu.flip_tick(market.condition_id)
        await wait_for(
            lambda: bot.engine.markets[market.key].tick is TickSize.MILLI, 3, "the Engine's tick"
        )
        # The adapter's own tick, which every price is checked against, moved too.
        assert bot.venue.ticks[market.yes_token] is TickSize.MILLI
        assert bot.venue.ticks[market.no_token] is TickSize.MILLI
        # The client's cached tick was dropped: a 0.001-grid order is signed and accepted.
        placed = await bot.rest.post_order(
            token=market.yes_token,
            side="BUY",
            price=format_price(1_050),  # 0.105: on the new grid only
            size="5",
            tick="0.001",
            neg_risk=False,
            order_type="GTC",
            post_only=True,
        )
        assert placed.response["status"] == "live"
        await bot.stop()

    run_with_emulator(body, attrs.evolve(FAST_EMULATOR, markets=1))


def test_fault_modes_keep_the_invariants() -> None:
    faults = FaultConfig(
        ws_drop=0.1,
        ws_delay_ms=30,
        ws_disconnect_s=3.0,
        http_5xx=0.03,
        http_429=0.03,
        lost_ack=0.05,
        slow_ack_ms=50,
        trade_delay_ms=200,
        trade_fail=0.2,
        tick_change_s=4.0,
    )

    async def body(emu: Emulator) -> None:
        violations: list[str] = []

        def on_step(event: Event, step: Step, t: float) -> None:
            for name in bot.engine.markets:
                exp = bot.engine.exposure(name)
                if exp.worst > exp.limit:
                    violations.append(f"INV-EXPOSURE {name}: {exp}")
            for c in step.commands:
                if isinstance(c, Alert) and c.severity is Severity.CRITICAL:
                    violations.append(c.message)
                if isinstance(c, Place) and bot.engine.halted:
                    violations.append(f"INV-HALT: {c}")

        bot = BotSession(emu, fast_config(), on_step=on_step, **FAST_ADAPTER)
        await bot.start()
        emu.faults = faults
        await asyncio.sleep(10)
        emu.faults = FaultConfig()
        stop_takers(emu)
        await wait_for(lambda: not _holdings_match(bot, emu), 8, "inventory converges after faults")
        summary = await bot.stop()
        assert summary.shutdown is not None
        assert summary.shutdown.still_open == 0
        assert open_orders(emu, bot.address) == []
        assert not violations, violations[:5]
        assert emu.hub.disconnects >= 2
        assert bot.venue.fills > 0

    run_with_emulator(body)
