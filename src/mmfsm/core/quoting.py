"""What one market should have resting right now, given its state: pure, no commands.

Theory of operation
-------------------
A desired order is an ``Intent``. Quoting works in YES terms (a bid adds long YES delta,
an ask adds short) and only at the end picks the token: the exchange lets us sell only
what we hold, so an ask is "sell YES" when we hold enough YES and otherwise "buy NO at
1 - ask"; a bid is "sell NO at 1 - bid" when we hold enough NO and otherwise "buy YES".

Prices leave the quote model through ``ticks.snap`` only, which rounds bids down and asks
up, clamps into [tick, 1 - tick] and keeps a post-only order strictly off the opposite
best; a post-only retry then moves further away, never closer. Sizes are cut to the room
left under the market's worst-case exposure limit (``room_long``/``room_short``, which
already count every order that could still fill) and dropped below the minimum size.

By position state:
* quoting / inventory_held: both sides, skewed by the binary net delta;
* passive_unwind: only the side that reduces the delta, at or one tick inside the best
  price without crossing, for the whole position;
* force_exit: one marketable FAK order, never adding, no worse than the best price minus
  the configured slippage. A net delta below the minimum order size cannot be sold as
  one order; when both tokens are held enough, it goes as two FAK sells at once, one of
  each token, each at least the minimum and bounded the same way, that end flat
  together (``exit_pair_intents``).
"""

from __future__ import annotations

from attrs import define
from mypy_extensions import mypyc_attr

from mmfsm.core.commands import (
    FAK,
    GTC,
    TimeInForce,
)
from mmfsm.core.config import Config
from mmfsm.core.market_state import MarketState
from mmfsm.core.orders import (
    ASK,
    BID,
    EXIT,
    Purpose,
)
from mmfsm.core.quotes import QuoteParams, quote_bid_ask, weighted_mid
from mmfsm.core.ticks import (
    BUY,
    PRICE_SCALE,
    SELL,
    Side,
    TickSize,
    clamp_to_range,
    snap,
    snap_to_grid,
)

__all__ = ["Intent", "exit_intent", "exit_pair_intents", "quote_intents", "unwind_intents"]


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
@define(kw_only=True)
class Intent:
    """A desired order; lives for one quoting pass (not frozen: that costs per field)."""

    purpose: Purpose
    token: str
    side: Side
    price: int
    size: int
    tif: TimeInForce = GTC
    post_only: bool = True


def _as_token_order(
    ms: MarketState, purpose: Purpose, yes_price: int, size: int, tif: TimeInForce, post_only: bool
) -> Intent:
    """Express a YES-terms bid or ask as an order on a token we are allowed to trade."""
    if purpose is BID or (purpose is EXIT and size > 0):
        # Adds long YES delta: sell NO we hold, else buy YES.
        if ms.no_free >= abs(size):
            return Intent(purpose=purpose, token=ms.no_token, side=SELL,
                          price=PRICE_SCALE - yes_price, size=abs(size), tif=tif,
                          post_only=post_only)
        return Intent(purpose=purpose, token=ms.yes_token, side=BUY, price=yes_price,
                      size=abs(size), tif=tif, post_only=post_only)
    if ms.yes_free >= abs(size):
        return Intent(purpose=purpose, token=ms.yes_token, side=SELL, price=yes_price,
                      size=abs(size), tif=tif, post_only=post_only)
    return Intent(purpose=purpose, token=ms.no_token, side=BUY,
                  price=PRICE_SCALE - yes_price, size=abs(size), tif=tif, post_only=post_only)


def _retry_offset(
    ms: MarketState, purpose: Purpose, now_ms: int, opposite: int, max_retries: int
) -> int | None:
    """Ticks to move away after post-only rejects, or None if this side must rest now.

    The count survives acks on purpose: resetting it when a retry rests would send the
    next quote back to the crossing price and loop reject -> retry -> reject for ever.
    Only a move of the opposite best starts it again.
    """
    retry = ms.retry[purpose]
    if now_ms < retry.cooldown_until_ms:
        return None  # rejected for balance, size or tick: do not answer with the same order
    if not retry.attempts:
        return 0
    if retry.ref != opposite:
        retry.attempts = 0
        return 0
    if retry.attempts > max_retries or now_ms < retry.due_ms:
        return None
    return retry.attempts


def quote_intents(
    ms: MarketState,
    params: QuoteParams,
    order_size: int,
    now_ms: int,
    room_long: int,
    room_short: int,
    max_retries: int,
) -> tuple[Intent | None, Intent | None]:
    """Two-sided skewed quotes for quoting / inventory_held."""
    fair = ms.fair
    book = ms.yes_book
    top_bid, top_ask = book.best_bid, book.best_ask
    if fair is None or top_bid is None or top_ask is None:
        return None, None
    if ms.stoikov is not None:
        mid = ms.stoikov.price(fair.bid, fair.bid_size, fair.ask, fair.ask_size, int(ms.tick))
    else:
        mid = weighted_mid(fair.bid, fair.bid_size, fair.ask, fair.ask_size)
    time_left = None if ms.end_ms is None else (ms.end_ms - now_ms) / 1000.0
    tick = ms.tick
    quote_bid, quote_ask = quote_bid_ask(
        params,
        mid,
        ms.sigma.sigma,
        ms.ledger.delta / order_size,
        time_left,
        int(tick) / PRICE_SCALE,
    )
    bid = _side_intent(
        ms, BID, quote_bid, top_ask, tick, now_ms, room_long, order_size, max_retries
    )
    ask = _side_intent(
        ms, ASK, quote_ask, top_bid, tick, now_ms, room_short, order_size, max_retries
    )
    return bid, ask


def _side_intent(
    ms: MarketState,
    purpose: Purpose,
    model_price: float,
    opposite: int,
    tick: TickSize,
    now_ms: int,
    room: int,
    order_size: int,
    max_retries: int,
) -> Intent | None:
    buy = purpose is BID
    side = BUY if buy else SELL
    offset = _retry_offset(ms, purpose, now_ms, opposite, max_retries)
    if offset is None:
        return None
    price = snap(model_price, side, tick, opposite_best=opposite)
    if price is None:
        return None
    t = int(tick)
    if offset:
        price = price - t * offset if buy else price + t * offset
    if not t <= price <= PRICE_SCALE - t:
        return None
    size = order_size if order_size < room else room  # min/max as comparisons: per side
    if size < 1 or size < ms.min_size:
        return None
    # ``_as_token_order`` for a GTC post-only bid or ask (size > 0), written out.
    if buy:
        if ms.no_free >= size:
            return Intent(purpose=purpose, token=ms.no_token, side=SELL,
                          price=PRICE_SCALE - price, size=size)
        return Intent(purpose=purpose, token=ms.yes_token, side=BUY, price=price, size=size)
    if ms.yes_free >= size:
        return Intent(purpose=purpose, token=ms.yes_token, side=SELL, price=price, size=size)
    return Intent(purpose=purpose, token=ms.no_token, side=BUY,
                  price=PRICE_SCALE - price, size=size)


def unwind_intents(
    ms: MarketState, now_ms: int, max_retries: int
) -> tuple[Intent | None, Intent | None]:
    """Passive unwind: only the reducing side, at or one tick inside the best."""
    fair = ms.fair
    top = ms.yes_book.top()
    delta = ms.ledger.delta
    if fair is None or top is None or delta == 0:
        return None, None
    t = int(ms.tick)
    if delta > 0:
        # One tick inside the others' best ask (ours is not the price to beat), but
        # never onto or through the best bid of the full book.
        # Snapped up onto the grid: after a tick change the book may still hold
        # levels of the old, finer grid.
        price = snap_to_grid(max(fair.ask - t, top.bid + t), SELL, ms.tick)
        offset = _retry_offset(ms, ASK, now_ms, top.bid, max_retries)
        if offset is None:
            return None, None
        price += offset * t
        if price > PRICE_SCALE - t or delta < ms.min_size:
            return None, None
        return None, _as_token_order(ms, ASK, price, delta, GTC, True)
    price = snap_to_grid(min(fair.bid + t, top.ask - t), BUY, ms.tick)
    offset = _retry_offset(ms, BID, now_ms, top.ask, max_retries)
    if offset is None:
        return None, None
    price -= offset * t
    if price < t or -delta < ms.min_size:
        return None, None
    return _as_token_order(ms, BID, price, -delta, GTC, True), None


def _exit_worst(ms: MarketState, config: Config, sell_yes: bool) -> int | None:
    """The worst YES price a force exit accepts: the best minus (plus) the slippage."""
    top = ms.fair  # our own resting orders are not liquidity we can take
    if top is None:
        return None
    slip = config.risk.force_exit_max_slippage
    # Onto the grid toward the best (less slippage), then into [tick, 1 - tick]:
    # after a change to a coarser tick, rounding up can reach 1.0.
    if sell_yes:
        worst = snap_to_grid(max(int(ms.tick), top.bid - slip), SELL, ms.tick)
    else:
        worst = snap_to_grid(top.ask + slip, BUY, ms.tick)
    return clamp_to_range(worst, ms.tick)


def exit_intent(ms: MarketState, config: Config) -> Intent | None:
    """Force exit: a marketable FAK for the whole delta, bounded by the worst price."""
    delta = ms.ledger.delta
    if delta == 0:
        return None
    worst = _exit_worst(ms, config, delta > 0)
    if worst is None:
        return None
    return _as_token_order(ms, EXIT, worst, -delta, FAK, False)


def exit_pair_intents(ms: MarketState, config: Config) -> tuple[Intent, Intent] | None:
    """Force exit of a net delta below the minimum order size: two FAK sells that end flat.

    With YES 6 and NO 8 (delta -2, minimum 5) no single order may sell 2, but selling 5
    YES and 7 NO together may: each is at least the minimum, and if both fill the
    position is flat (YES 1 and NO 1 left, a hedged pair worth $1 whatever the outcome).
    The smaller sale is the minimum itself, so the least is taken across the spread and
    the least is in flight should one fill and the other not. Each is bounded by the
    worst price of its token, as the single exit is. None when the tokens free to sell
    are not enough for two such orders: the position cannot be reduced with allowed
    orders.
    """
    delta = ms.ledger.delta
    gap = abs(delta)
    if delta == 0 or gap >= ms.min_size:
        return None
    counter = max(ms.min_size, 1)  # the sale that adds to the delta, undone by the other
    reduce = counter + gap
    yes_sale, no_sale = (reduce, counter) if delta > 0 else (counter, reduce)
    if ms.yes_free < yes_sale or ms.no_free < no_sale:
        return None
    sell_yes_at = _exit_worst(ms, config, True)
    buy_yes_at = _exit_worst(ms, config, False)
    if sell_yes_at is None or buy_yes_at is None:
        return None
    yes = Intent(purpose=EXIT, token=ms.yes_token, side=SELL, price=sell_yes_at,
                 size=yes_sale, tif=FAK, post_only=False)
    # Selling NO at 1 - p is buying YES at p: the NO sale's worst is the YES buy's.
    no = Intent(purpose=EXIT, token=ms.no_token, side=SELL, price=PRICE_SCALE - buy_yes_at,
                size=no_sale, tif=FAK, post_only=False)
    return (yes, no) if delta > 0 else (no, yes)
