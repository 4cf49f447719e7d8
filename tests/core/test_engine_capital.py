"""The strategy capital caps the worst case summed over markets (INV-CAPITAL).

Each market's worst case is the one INV-EXPOSURE limits (net delta plus every order that
could still add to it), counted at $1 a share; the capital caps its sum over every
market. A quote that does not fit is cut to what fits, or not placed below the market's
minimum size; exits and cancels are never held back by it.
"""

from __future__ import annotations

from mmfsm.core.commands import Cancel, Command, Place, TimeInForce
from mmfsm.core.config import Config, parse_config
from mmfsm.core.events import ConfigReload, Event, OrderCancelled
from mmfsm.core.ticks import PRICE_SCALE, SIZE_SCALE
from mmfsm.harness import Harness

SHARE = SIZE_SCALE
QUIET = {"gamma": 1.0, "k": 100.0, "horizon_s": 1, "sigma_prior": 0.001}


def config(capital: float, exposure: float = 100, order: float = 100,
           **risk: object) -> Config:
    return parse_config({
        "strategy": {**QUIET, "capital_usd": capital, "max_market_exposure_usd": exposure,
                     "order_size_shares": order},
        "risk": risk,
    })


def total_worst(h: Harness) -> int:
    """The Engine's own per-market worst cases, summed: what the capital caps."""
    return sum(h.engine.exposure(m).worst for m in h.engine.markets)


def capital_units(h: Harness) -> int:
    return h.engine.config.strategy.capital // PRICE_SCALE


class Capped(Harness):
    """A harness that checks the capital after every step."""

    def send(self, event: Event) -> list[Command]:
        before = total_worst(self)
        out = super().send(event)
        after = total_worst(self)
        assert after <= capital_units(self) or after <= before, (
            f"worst case summed over markets {after / SHARE} > capital "
            f"{capital_units(self) / SHARE} after {event!r}"
        )
        return out


def places(commands: list[Command], market: str | None = None) -> list[Place]:
    return [c for c in commands if isinstance(c, Place)
            and (market is None or c.market == market)]


def test_many_markets_each_wanting_their_full_exposure_stay_within_the_capital() -> None:
    h = Capped(config(capital=500, exposure=100, order=100))
    quoted = {}
    for i in range(1, 9):
        market = f"m{i}"
        quoted[market] = sorted(p.size for p in places(h.start(market), market))
    # Five markets take their $100 each (one bid and one ask of 100: worst case 100);
    # the capital has nothing left for the other three.
    for i in range(1, 6):
        assert quoted[f"m{i}"] == [100 * SHARE, 100 * SHARE]
    for i in range(6, 9):
        assert quoted[f"m{i}"] == []
    assert total_worst(h) == 500 * SHARE
    # Time passing, books moving: still nothing more.
    for _ in range(3):
        h.advance(1_000)
        for i in range(1, 9):
            h.book(f"m{i}", bids=(("0.47", "100"),), asks=(("0.53", "100"),))
    assert total_worst(h) <= 500 * SHARE


def test_a_quote_that_does_not_fit_is_cut_to_what_fits() -> None:
    h = Capped(config(capital=250, exposure=100, order=100))
    h.start("m1")
    h.start("m2")
    sizes = sorted(p.size for p in places(h.start("m3"), "m3"))
    assert sizes == [50 * SHARE, 50 * SHARE]
    assert total_worst(h) == 250 * SHARE


def test_a_cut_below_the_minimum_size_is_not_placed() -> None:
    h = Capped(config(capital=203, exposure=100, order=100))
    h.start("m1")
    h.start("m2")
    assert places(h.start("m3")) == []  # 3 shares left, minimum 5
    assert total_worst(h) == 200 * SHARE


def test_capital_freed_by_one_market_goes_to_another() -> None:
    h = Capped(config(capital=200, exposure=100, order=100))
    first = h.start("m1")
    h.start("m2")
    assert places(h.start("m3")) == []
    # m1's quotes go (the market gaps); only the confirmed cancels free the capital.
    out = h.book("m1", bids=(("0.30", "100"),), asks=(("0.70", "100"),))
    cancels = [c for c in out if isinstance(c, Cancel)]
    assert len(cancels) == 2
    assert places(h.advance(1_000), "m3") == []  # cancels sent, not confirmed
    h.confirm_cancels(cancels)
    assert {p.client_id for p in places(first)} <= {c.client_id for c in cancels}
    sizes = sorted(p.size for p in places(h.advance(1_000), "m3"))
    assert sizes == [100 * SHARE, 100 * SHARE]


def test_a_fill_counts_as_it_did_as_an_order() -> None:
    """A filled bid moves from working order to inventory: the worst case is the same."""
    h = Capped(config(capital=200, exposure=100, order=100))
    bid = next(p for p in places(h.start("m1")) if p.token == "m1-yes")
    h.start("m2")
    h.fill(bid, 40 * SHARE)
    assert places(h.start("m3")) == []
    assert total_worst(h) == 200 * SHARE


def test_exits_and_cancels_are_never_held_back_by_the_capital() -> None:
    h = Capped(config(capital=300, exposure=100, order=100, max_position_loss_usd=3))
    bid = next(p for p in places(h.start("m1")) if p.token == "m1-yes")
    h.start("m2")
    h.start("m3")
    h.fill(bid, 100 * SHARE)
    # The capital is lowered under what is out: nothing new adds, but quotes that no
    # longer fit are cancelled and the force exit sells the whole position.
    lower = config(capital=100, exposure=100, order=100, max_position_loss_usd=3)
    out = h.send(ConfigReload(ts_ms=h.now_ms, config=lower))
    assert not [p for p in places(out) if p.post_only]
    out = h.book("m1", bids=(("0.40", "100"),), asks=(("0.42", "100"),))
    assert h.engine.markets["m1"].position.state == "force_exit"
    assert any(isinstance(c, Cancel) for c in out)  # the quote left
    # The exit waits for every cancelled quote of m1 to be gone (they could still sell).
    cancels = [c for st in h.steps for c in st.commands
               if isinstance(c, Cancel) and c.market == "m1"]
    out = h.confirm_cancels(cancels)
    exits = [p for p in places(out) if p.tif is TimeInForce.FAK]
    assert [(e.token, e.side.value, e.size) for e in exits] == [("m1-yes", "SELL", 100 * SHARE)]
    assert total_worst(h) > capital_units(h)  # over since the reload, and not growing


def test_cancelled_capital_is_not_free_until_the_venue_confirms() -> None:
    """A cancel we sent is not a cancel done: the order can still fill."""
    h = Capped(config(capital=200, exposure=100, order=100))
    first = places(h.start("m1"))
    h.start("m2")
    h.book("m1", bids=(("0.30", "100"),), asks=(("0.70", "100"),))  # gapped: cancels
    for p in first:
        h.send(OrderCancelled(ts_ms=h.now_ms, client_id=p.client_id, size_matched=30 * SHARE))
    # 30 of each matched, not yet reported: m1 still holds 30 of the capital.
    assert h.engine.exposure("m1").worst == 30 * SHARE
    assert sorted(p.size for p in places(h.start("m3"), "m3")) == [70 * SHARE, 70 * SHARE]


def test_a_binding_capital_settles_instead_of_requoting_in_a_loop() -> None:
    """50 markets of the default config just fill the $500 capital (10 shares a side
    each), so each market's room is what the others leave. Every command is answered at
    once, and every answer's commands too, at the same time: each book change must come
    to rest. Growing a cut order back to full size cancels one that still counts, the
    room left by that cancel cuts the replacement again, and so on forever: that loop
    placed and cancelled without end (found by the decision benchmark)."""
    import random

    from mmfsm.core.config import default_config
    from mmfsm.core.engine import Engine
    from mmfsm.core.events import (
        BookSnapshot,
        ClockTick,
        MarketListed,
        OrderAcked,
        PriceChange,
        Trade,
        TradeStatus,
    )
    from mmfsm.core.ticks import Side, TickSize
    from mmfsm.harness import T0

    engine = Engine(default_config())
    n = 50

    def settle(commands: tuple[Command, ...], ts: int) -> int:
        rounds = 0
        pending = list(commands)
        while pending:
            rounds += 1
            assert rounds <= 20, f"still requoting after 20 rounds: {pending[:4]}"
            replies: list[Event] = []
            for c in pending:
                if isinstance(c, Place):
                    replies.append(OrderAcked(ts_ms=ts, client_id=c.client_id))
                elif isinstance(c, Cancel):
                    order = engine.orders.get(c.client_id)
                    matched = order.filled if order is not None else 0
                    replies.append(
                        OrderCancelled(ts_ms=ts, client_id=c.client_id, size_matched=matched)
                    )
            pending = [c for r in replies for c in engine.step(r).commands]
        return rounds

    for i in range(n):
        m = f"m{i}"
        engine.step(MarketListed(ts_ms=T0, market=m, yes_token=f"{m}-y", no_token=f"{m}-n",
                                 tick=TickSize.CENT, min_size=5 * SHARE))
        engine.step(BookSnapshot(
            ts_ms=T0, market=m, token=f"{m}-y",
            bids=tuple((4800 - 100 * k, 200 * SHARE) for k in range(10)),
            asks=tuple((5200 + 100 * k, 200 * SHARE) for k in range(10)),
        ))
    ts = T0 + 10_000
    settle(engine.step(ClockTick(ts_ms=ts)).commands, ts)
    rng = random.Random(1)
    trades = 0
    for i in range(1500):
        ts += 5
        m = f"m{rng.randrange(n)}"
        resting = [o for o in engine.orders.in_market(m) if o.live and o.remaining]
        if i % 50 == 49 and resting:  # now and then a fill: inventory moves the room
            o = resting[0]
            trades += 1
            fill = Trade(ts_ms=ts, trade_id=f"t{trades}", client_id=o.client_id, market=m,
                         token=o.token, side=o.side, price=o.price,
                         size=min(o.remaining, 5 * SHARE), status=TradeStatus.MATCHED)
            settle(engine.step(fill).commands, ts)
            continue
        side = Side.BUY if rng.random() < 0.5 else Side.SELL
        price = rng.choice((4700, 4800)) if side is Side.BUY else rng.choice((5200, 5300))
        change = PriceChange(ts_ms=ts, market=m, token=f"{m}-y",
                             changes=((side, price, rng.randint(50, 400) * SHARE),))
        settle(engine.step(change).commands, ts)
    assert sum(engine.exposure(m).worst for m in engine.markets) <= 500 * SHARE
