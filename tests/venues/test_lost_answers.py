"""An order whose fate the bot does not know is never assumed gone.

The failure this guards against: a ``POST /order`` is handled but its answer is lost
(``lost_ack``), and the lookup by the id the order was signed with says "not found"
because the venue's reads lag its writes (``read_lag_ms``). A bot that concludes
"not placed" from that lookup leaves an order resting that it neither counts in its
exposure nor cancels, quotes a second one beside it, and drops the fills of the first,
so its inventory and P&L drift from the venue's.

Both tests read the truth from the emulator (open orders, balances), not from the bot.
"""

from __future__ import annotations

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
