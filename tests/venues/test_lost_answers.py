"""An order whose fate the bot does not know is never assumed gone.

The failure this guards against: a ``POST /order`` is handled but its answer is lost
(``lost_ack``), and the lookup by the id the order was signed with says "not found"
because the venue's reads lag its writes (``read_lag_ms``). A bot that concludes
"not placed" from that lookup leaves an order resting that it neither counts in its
exposure nor cancels, quotes a second one beside it, and drops the fills of the first,
so its inventory and P&L drift from the venue's. The same lagging read must not end
an acknowledged order either, and whatever the bot takes for done while the venue still
lists it open, the resync sweep cancels.

The tests read the truth from the emulator (open orders, balances), not from the bot.
"""

from __future__ import annotations

import asyncio
from typing import Any

import attrs
from venue_helpers import (
    FAST_ADAPTER,
    FAST_EMULATOR,
    fast_config,
    open_orders,
    run_with_emulator,
    stop_takers,
    wait_for,
)

from mmfsm.core.commands import Place
from mmfsm.core.engine import Step
from mmfsm.core.events import Event, Trade, VenueFault
from mmfsm.core.ticks import SIZE_SCALE, Side
from mmfsm.emulator import Emulator, FaultConfig
from mmfsm.trade import BotSession

ONE_MARKET = attrs.evolve(FAST_EMULATOR, markets=1, heartbeat_timeout_s=60.0)
LAG = FaultConfig(read_lag_ms=1500)  # longer than a resync period (FAST_ADAPTER: 1 s)


def _calm(emu: Emulator) -> None:
    """No takers and a fixed fair price: every fill and every requote is the test's."""
    stop_takers(emu)
    emu.participants.config = attrs.evolve(emu.participants.config, fair_vol=0.0)


def _untracked(bot: BotSession, emu: Emulator) -> set[str]:
    """Our orders resting on the venue that the bot does not count as working."""
    working = {t.venue_id for t in bot.venue.tracker.live() if t.venue_id}
    return {str(o["id"]) for o in open_orders(emu, bot.address)} - working


def _holdings(bot: BotSession, emu: Emulator) -> tuple[tuple[int, int], tuple[int, int]]:
    m = bot.venue.markets[0]
    ms = bot.engine.markets[m.key]
    venue = (emu.balance(bot.address, m.yes_token), emu.balance(bot.address, m.no_token))
    return (ms.ledger.yes_held, ms.ledger.no_held), venue


def test_a_lost_answer_and_a_lagging_lookup_neither_forget_nor_duplicate_the_order() -> None:
    async def body(emu: Emulator) -> None:
        unknown_faults: list[str] = []
        places_while_unknown: list[Place] = []
        trades: list[Trade] = []

        def on_step(event: Event, step: Step, t: float) -> None:
            if isinstance(event, VenueFault) and "placement outcome unknown" in event.what:
                unknown_faults.append(event.what)
            if isinstance(event, Trade):
                trades.append(event)
            unknown = {tr.market.key for tr in bot.venue.tracker.live() if tr.unresolved}
            places_while_unknown.extend(
                c
                for c in step.commands
                if isinstance(c, Place) and bot.venue.index.by_token[c.token].key in unknown
            )

        bot = BotSession(emu, fast_config(), on_step=on_step, **FAST_ADAPTER)
        await bot.start()
        _calm(emu)
        await wait_for(lambda: len(open_orders(emu, bot.address)) >= 2, 10, "quotes resting")
        await wait_for(lambda: not _untracked(bot, emu), 5, "every quote acknowledged")

        # The next placement of the bot rests, a taker at once takes half of it, and the
        # bot's POST gets a 500. Its first lookups miss it: the reads lag the write.
        lost: list[str] = []
        place = emu.exchange.place

        def place_then_take(*args: Any) -> dict[str, Any]:
            result = place(*args)
            rec = emu.exchange.orders[args[1]]
            if not lost and rec.account.address.lower() == bot.address.lower():
                lost.append(rec.book.order_id)
                taker_side = Side.SELL if rec.book.side is Side.BUY else Side.BUY
                emu.exchange.place_internal(
                    "taker-test", rec.book.token, taker_side, rec.book.price, 5 * SIZE_SCALE, "FAK"
                )
            return result

        emu.exchange.place = place_then_take  # type: ignore[method-assign]
        emu.faults = attrs.evolve(LAG, lost_ack=1.0)
        # Someone cancels one of our quotes on the venue: the bot quotes it again, at the
        # top of the book (where a taker reaches it first).
        first = emu.exchange.orders[str(open_orders(emu, bot.address)[0]["id"])]
        emu.exchange.cancel(first.owner, bot.address, [first.book.order_id])
        await wait_for(lambda: bool(lost), 5, "a placement whose answer is lost")
        await wait_for(lambda: emu.requests["POST /order -> 500"] >= 1, 5, "the lost answer sent")
        emu.faults = LAG  # answers come back; reads still lag
        lost_id = lost[0]
        assert emu.exchange.orders[lost_id].book.matched == 5 * SIZE_SCALE, "taker missed it"
        tracked = next(t for t in bot.venue.tracker.by_client.values() if t.expected_id == lost_id)

        # The bot held the market while it did not know, and placed nothing there.
        await wait_for(lambda: bool(unknown_faults), 5, "the market held: placement unknown")
        await wait_for(lambda: tracked.venue_id == lost_id, 10, "the lost order found (adopted)")
        await wait_for(
            lambda: not any(t.unresolved for t in bot.venue.tracker.live()),
            10,
            "every placement resolved",
        )
        await wait_for(lambda: not _untracked(bot, emu), 10, "no order resting untracked")
        assert not places_while_unknown, places_while_unknown[:3]
        # The fill on the lost order reached the Engine, under the order's client id.
        await wait_for(
            lambda: any(tr.client_id == tracked.client_id for tr in trades),
            5,
            "the lost order's fill reported to the Engine",
        )
        await wait_for(
            lambda: _holdings(bot, emu)[0] == _holdings(bot, emu)[1],
            5,
            "engine inventory == venue balances",
        )
        engine, venue = _holdings(bot, emu)
        assert engine == venue, f"engine {engine} venue {venue}"
        # Still quoting afterwards, with no second set beside the first.
        await wait_for(lambda: len(open_orders(emu, bot.address)) >= 2, 10, "quoting again")
        await asyncio.sleep(2.0)
        assert not _untracked(bot, emu)
        tokens = [str(o["asset_id"]) for o in open_orders(emu, bot.address)]
        assert len(tokens) == len(set(tokens)), f"two orders resting on one token: {tokens}"
        summary = await bot.stop()
        assert summary.shutdown is not None
        assert summary.shutdown.still_open == 0

    run_with_emulator(body, ONE_MARKET)


def test_the_resync_sweep_cancels_an_open_order_the_bot_considers_done() -> None:
    async def body(emu: Emulator) -> None:
        bot = BotSession(emu, fast_config(), **FAST_ADAPTER)
        await bot.start()
        _calm(emu)
        await wait_for(lambda: len(open_orders(emu, bot.address)) >= 2, 10, "quotes resting")
        await wait_for(lambda: not _untracked(bot, emu), 5, "every quote acknowledged")
        victim = next(t for t in bot.venue.tracker.live() if t.venue_id)
        assert victim.venue_id is not None
        rec = emu.exchange.orders[victim.venue_id]
        # The user channel announces a cancel the venue did not do: the bot takes the
        # order for done, but it still rests (and could still fill).
        emu.exchange._publish_order(rec, "CANCELLATION")
        await wait_for(lambda: victim.done, 5, "the bot believes the order ended")
        assert rec.status == "LIVE"
        await wait_for(lambda: rec.status == "CANCELED", 6, "the sweep cancels it")
        await wait_for(lambda: not _untracked(bot, emu), 5, "no order resting untracked")
        summary = await bot.stop()
        assert summary.shutdown is not None
        assert summary.shutdown.still_open == 0

    run_with_emulator(body, ONE_MARKET)


def test_lagging_reads_do_not_end_an_acknowledged_order() -> None:
    async def body(emu: Emulator) -> None:
        bot = BotSession(emu, fast_config(), **FAST_ADAPTER)
        await bot.start()
        _calm(emu)
        await wait_for(lambda: len(open_orders(emu, bot.address)) >= 2, 10, "quotes resting")
        await wait_for(lambda: not _untracked(bot, emu), 5, "every quote acknowledged")
        emu.faults = LAG
        before = {t.client_id for t in bot.venue.tracker.by_client.values()}
        first = emu.exchange.orders[str(open_orders(emu, bot.address)[0]["id"])]
        emu.exchange.cancel(first.owner, bot.address, [first.book.order_id])  # the bot requotes

        def replacement() -> bool:
            return any(
                t.venue_id
                for t in bot.venue.tracker.by_client.values()
                if t.client_id not in before
            )

        await wait_for(replacement, 5, "the quote placed again and acknowledged")
        new = next(t for t in bot.venue.tracker.by_client.values() if t.client_id not in before)
        assert new.venue_id is not None
        # Two resyncs read the open orders and look the order up before the venue shows
        # it: neither "not found" ends it.
        await asyncio.sleep(2.5)
        assert not new.done, "an acknowledged order taken for ended on a lagging read"
        assert emu.exchange.orders[new.venue_id].status == "LIVE"
        assert not _untracked(bot, emu)
        summary = await bot.stop()
        assert summary.shutdown is not None
        assert summary.shutdown.still_open == 0

    run_with_emulator(body, ONE_MARKET)
