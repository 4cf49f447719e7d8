"""Books as the Engine must see them: the venue's levels minus our own resting orders.

Theory of operation
-------------------
A live book contains our own quotes. An Engine that prices from it chases itself: our
bid improves the touch, the micro-price moves toward it, the model re-quotes, the
cancel moves it back, and the volatility estimate, fed by that oscillation, blows the
spread up to the edges of the grid (observed against the emulator within seconds). The
gap rule is blinded the same way: our own two quotes make any market look tight. The
synthetic venue never showed our orders in its books, so the Engine assumes books
without them. The Engine now subtracts its own orders itself, so by default this class
passes the venue's levels through unchanged (``subtract_own=False``); the netting below
is kept for a venue whose books the Engine cannot net (set ``subtract_own=True``).

``NetBooks`` keeps, per token, the venue's raw levels (from snapshots and deltas), our
own resting size per level, and what the Engine was last shown. Our order on token T at
(side, p) rests in T's book at (side, p) and, because Polymarket matches the two tokens
of a market against each other, in the other token's book at (other side, 1 - p). The
Engine sees ``max(0, raw - own)`` per level; a change of either side emits a
``PriceChange`` for the levels whose shown size changed, and only those, so a level the
Engine never had is never "removed".

Our own size is added when the venue acknowledges an order that rests, reduced by each
fill, and removed when the order ends. The venue's messages and our acknowledgements
race (a ``price_change`` with our order can come before or after the ``POST`` answer),
so a level can be shown up to one of our order sizes off for one message; the next
message at that level, or the next snapshot, puts it right.
"""

from __future__ import annotations

from attrs import define, field

from mmfsm.core.events import BookSnapshot, PriceChange
from mmfsm.core.ticks import PRICE_SCALE, Side
from mmfsm.venues.wire import TokenIndex

__all__ = ["NetBooks"]

_Level = tuple[Side, int]


@define(slots=True)
class _Token:
    raw: dict[_Level, int] = field(factory=dict)
    own: dict[_Level, int] = field(factory=dict)
    shown: dict[_Level, int] = field(factory=dict)
    known: bool = False  # a raw snapshot has arrived


class NetBooks:
    def __init__(self, index: TokenIndex, *, subtract_own: bool = False) -> None:
        self.index = index
        self.subtract_own = subtract_own
        self.tokens: dict[str, _Token] = {}

    def _token(self, token: str) -> _Token:
        return self.tokens.setdefault(token, _Token())

    def _net(self, t: _Token, level: _Level) -> int:
        return max(0, t.raw.get(level, 0) - t.own.get(level, 0))

    def snapshot(self, snap: BookSnapshot) -> BookSnapshot:
        t = self._token(snap.token)
        t.raw = {(Side.BUY, p): s for p, s in snap.bids if s > 0}
        t.raw.update({(Side.SELL, p): s for p, s in snap.asks if s > 0})
        t.known = True
        t.shown = {lv: n for lv in t.raw if (n := self._net(t, lv)) > 0}
        bids = sorted(
            ((p, s) for (side, p), s in t.shown.items() if side is Side.BUY), reverse=True
        )
        asks = sorted((p, s) for (side, p), s in t.shown.items() if side is Side.SELL)
        return BookSnapshot(
            ts_ms=snap.ts_ms,
            market=snap.market,
            token=snap.token,
            bids=tuple(bids),
            asks=tuple(asks),
        )

    def change(self, pc: PriceChange) -> PriceChange | None:
        t = self._token(pc.token)
        for side, price, size in pc.changes:
            if size > 0:
                t.raw[(side, price)] = size
            else:
                t.raw.pop((side, price), None)
        return self._diff(pc.token, pc.market, pc.ts_ms, [(s, p) for s, p, _ in pc.changes])

    def _diff(
        self, token: str, market: str, ts_ms: int, levels: list[_Level]
    ) -> PriceChange | None:
        t = self._token(token)
        out: list[tuple[Side, int, int]] = []
        for level in dict.fromkeys(levels):
            net = self._net(t, level)
            if net == t.shown.get(level, 0):
                continue
            if net:
                t.shown[level] = net
            else:
                t.shown.pop(level, None)
            out.append((level[0], level[1], net))
        if not out or not t.known:
            return None
        return PriceChange(ts_ms=ts_ms, market=market, token=token, changes=tuple(out))

    def own(self, token: str, side: Side, price: int, delta: int, ts_ms: int) -> list[PriceChange]:
        """Our resting size at (token, side, price) changed by ``delta``; emit corrections.

        Off unless ``subtract_own`` is set: the Engine now takes its own orders out of
        the books itself (``Engine._others_top``, where the invariant suite sees it), and
        taking them out twice would shrink the others' levels.
        """
        market = self.index.by_token.get(token)
        if market is None or delta == 0 or not self.subtract_own:
            return []
        other = market.no_token if token == market.yes_token else market.yes_token
        out = []
        for tok, level in ((token, (side, price)), (other, (side.opposite, PRICE_SCALE - price))):
            t = self._token(tok)
            size = t.own.get(level, 0) + delta
            if size > 0:
                t.own[level] = size
            else:
                t.own.pop(level, None)
            change = self._diff(tok, market.key, ts_ms, [level])
            if change is not None:
                out.append(change)
        return out
