"""L2 order books, one per outcome token, that refuse to hold a state the exchange cannot be in.

Theory of operation
-------------------
A quote is only as safe as the book it was computed from. A book that is crossed, has a
price off the market's grid or outside (0, 1), or a negative size is not a market state but
evidence that we missed or misread a message. So every ``Book`` validates each update in
full *before* touching its levels (check, then mutate), and a refused update:

* raises ``BookError``, which names the market, the token and the offending field;
* leaves the levels exactly as they were;
* marks the book untrusted, with the reason, until the next good snapshot.

Incremental changes to an untrusted book still apply when they are valid (the levels stay
as close to the exchange as we can keep them), but only a full snapshot that passes every
check restores trust: after a refused delta we no longer know which messages we missed.
A new book starts untrusted, so nothing is quotable before its first snapshot.

Levels are ``dict[price, size]`` in exact integer units (see ``mmfsm.core.ticks``). The
best bid and ask are cached. Changes are the hot path, and the cache makes them cheap: a
change can only move the best price towards the touch when it adds size, which is a
comparison; only the removal of the best level forces a rescan of that side (books hold at
most a few hundred levels). Removing size can never cross a book, so only additions need
the crossed/locked check, against the cached opposite best.

A batch of changes (one ``price_change`` message) is atomic: it is judged by the book it
would produce. A batch whose intermediate steps touch the other side but whose result is
uncrossed is accepted, because the exchange publishes the message as one state.

Grids change at run time (``set_tick``). Levels already in the book were valid on the grid
they arrived on and are kept; new levels must be on the current grid. A removal (size 0)
of a level the book still holds is accepted whatever its grid, so an old level can always
be taken out.

``parse_levels`` turns the exchange's JSON level lists into exact integers and checks only
their shape and number format; the grid and range checks belong to the ``Book``, which
knows the tick.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence

from attrs import frozen
from mypy_extensions import mypyc_attr

from mmfsm.core.ticks import (
    BUY,
    PRICE_SCALE,
    SELL,
    GridError,
    Side,
    TickSize,
    format_price,
    format_size,
    parse_price,
    parse_size,
)

__all__ = [
    "Book",
    "BookError",
    "BookSet",
    "Top",
    "parse_levels",
]

Level = tuple[int, int]

# What the exchange sends: plain decimals. ``Decimal`` also reads " 0.5", "0.4_9", "NaN"
# and "Infinity"; none of those comes from a healthy feed, so they are refused here.
_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


class BookError(ValueError):
    """An order-book message that cannot describe a real book; names what was wrong.

    It is an exchange anomaly, not a bug of ours: the caller turns it into an untrusted
    book (the ``Book`` has already done so) and an alert, and keeps running.
    """

    def __init__(self, market: str, token: str, field: str, detail: str) -> None:
        super().__init__(f"book for market {market} token {token}: {field} {detail}")
        self.market = market
        self.token = token
        self.field = field
        self.detail = detail

    def __reduce__(self) -> tuple[type[BookError], tuple[str, str, str, str]]:
        # The default would call __init__ with the message alone.
        return (BookError, (self.market, self.token, self.field, self.detail))


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
@frozen(kw_only=True)
class Top:
    """Best bid and ask with their sizes, taken together so they come from one state."""

    bid: int
    bid_size: int
    ask: int
    ask_size: int


def _number(value: object, *, size: bool, market: str, token: str, field: str) -> int:
    # bool is an int subclass; True must not read as a price of 0.0001 * 10_000.
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise BookError(market, token, field, f"{value!r} is not a decimal number")
    if isinstance(value, str) and _DECIMAL_TEXT.fullmatch(value) is None:
        raise BookError(market, token, field, f"{value!r} is not a decimal number")
    text: str | float = str(value) if isinstance(value, int) else value
    try:
        return parse_size(text) if size else parse_price(text)
    except GridError as exc:
        raise BookError(market, token, field, f"{value!r} is not exact: {exc}") from None


def parse_levels(raw: object, *, market: str, token: str, side_name: str) -> tuple[Level, ...]:
    """Read ``[[price, size], ...]`` or ``[{"price": .., "size": ..}, ...]`` exactly.

    Both forms occur: recorded books use pairs, the WebSocket and REST feeds use objects.
    Only shape and number format are checked here, so that the ``Book`` can report a
    grid or range problem against the tick it holds.
    """
    if not isinstance(raw, list | tuple):
        raise BookError(market, token, side_name, f"is a {type(raw).__name__}, not a list")
    out: list[Level] = []
    for i, entry in enumerate(raw):
        where = f"{side_name}[{i}]"
        if isinstance(entry, Mapping):
            if "price" not in entry:
                raise BookError(market, token, f"{where}.price", "is missing")
            if "size" not in entry:
                raise BookError(market, token, f"{where}.size", "is missing")
            price_raw, size_raw = entry["price"], entry["size"]
        elif isinstance(entry, list | tuple) and len(entry) == 2:
            price_raw, size_raw = entry
        else:
            raise BookError(market, token, where, f"{entry!r} is not a [price, size] level")
        price = _number(price_raw, size=False, market=market, token=token, field=f"{where}.price")
        size = _number(size_raw, size=True, market=market, token=token, field=f"{where}.size")
        out.append((price, size))
    return tuple(out)


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
class Book:
    """The L2 book of one outcome token, with cached touch and a trust flag.

    Attributes are public for reading; change them only through the methods, which keep
    the cache and the trust flag consistent with the levels.
    """

    def __init__(self, market: str, token: str, tick: TickSize) -> None:
        self.market = market
        self.token = token
        self.tick = tick
        # The grid incoming prices must fit: the tick, or for a while after a change to
        # a coarser tick the finer old one, because orders resting on the old grid stay
        # on the book until they trade or are cancelled. A snapshot whose every price
        # fits the new tick ends the grace.
        self.grid = int(tick)
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.best_bid: int | None = None
        self.best_ask: int | None = None
        self.best_bid_size = 0
        self.best_ask_size = 0
        self.trusted = False
        self.last_update_ms: int | None = None
        self.untrusted_reason: str | None = "no snapshot yet"
        # The level sequences the current ``bids``/``asks`` were built from by the last
        # snapshot, and the grid they were checked on; a change clears them. A snapshot
        # repeating the very same (immutable) sequence object needs no second check.
        self._snap_bids: object = None
        self._snap_asks: object = None
        self._snap_grid = 0

    def __repr__(self) -> str:
        return (
            f"Book(market={self.market!r}, token={self.token!r}, tick={self.tick}, "
            f"bid={self.best_bid}, ask={self.best_ask}, trusted={self.trusted})"
        )

    # -- refusal ---------------------------------------------------------------------

    def _refuse(self, field: str, detail: str) -> BookError:
        """Distrust the book and build the error; the caller raises it."""
        error = BookError(self.market, self.token, field, detail)
        self.trusted = False
        self.untrusted_reason = str(error)
        return error

    def _check_level(
        self, kind: str, i: int, price: object, size: object, held: dict[int, int] | None
    ) -> tuple[int, int]:
        """Refuse a level that no exchange book can contain; ``held`` allows old removals.

        Takes ``object`` and returns the checked ints: in the compiled core a parameter
        typed ``int`` would refuse a bad value with a bare TypeError before this check
        could name the field.
        """
        if type(price) is not int:
            raise self._refuse(f"{kind}[{i}].price", f"{price!r} is not an int")
        if type(size) is not int:
            raise self._refuse(f"{kind}[{i}].size", f"{size!r} is not an int")
        if size < 0:
            raise self._refuse(f"{kind}[{i}].size", f"{format_size(size)} is negative")
        if not 0 < price < PRICE_SCALE:
            raise self._refuse(f"{kind}[{i}].price", f"{format_price(price)} is outside (0, 1)")
        if price % self.grid and not (size == 0 and held is not None and price in held):
            raise self._refuse(
                f"{kind}[{i}].price",
                f"{format_price(price)} is off the {format_price(self.grid)} grid",
            )
        return price, size

    def _check_uncrossed(self, bid: int | None, ask: int | None) -> None:
        if bid is not None and ask is not None and bid >= ask:
            how = "crossed" if bid > ask else "locked"
            raise self._refuse(
                "bids/asks",
                f"{how}: best bid {format_price(bid)} >= best ask {format_price(ask)}",
            )

    # -- updates ---------------------------------------------------------------------

    def apply_snapshot(
        self, bids: Sequence[Level] | Sequence[object], asks: Sequence[Level] | Sequence[object],
        ts_ms: int,
    ) -> None:
        """Replace the whole book; the only way back to trusted after a refusal."""
        same_grid = self._snap_grid == self.grid
        if bids is self._snap_bids and same_grid:
            new_bids = self.bids
            best_bid = self.best_bid
        else:
            new_bids = _fast_side(bids, self.grid) or self._validated_side("bids", bids)
            best_bid = max(new_bids, default=None)
        if asks is self._snap_asks and same_grid:
            new_asks = self.asks
            best_ask = self.best_ask
        else:
            new_asks = _fast_side(asks, self.grid) or self._validated_side("asks", asks)
            best_ask = min(new_asks, default=None)
        self._check_uncrossed(best_bid, best_ask)
        self.bids = new_bids
        self.asks = new_asks
        self.best_bid = best_bid
        self.best_ask = best_ask
        self.best_bid_size = new_bids[best_bid] if best_bid is not None else 0
        self.best_ask_size = new_asks[best_ask] if best_ask is not None else 0
        # Only an immutable sequence of immutable levels can be trusted to be unchanged
        # when it is seen again; anything else is checked again next time.
        self._snap_bids = bids if type(bids) is tuple else None
        self._snap_asks = asks if type(asks) is tuple else None
        self._snap_grid = self.grid
        self.trusted = True
        self.untrusted_reason = None
        self.last_update_ms = ts_ms
        t = int(self.tick)
        if self.grid != t and all(p % t == 0 for side in (new_bids, new_asks) for p in side):
            self.grid = t
            self._snap_grid = 0

    def _validated_side(self, kind: str, levels: Sequence[object]) -> dict[int, int]:
        out: dict[int, int] = {}
        seen: set[int] = set()
        for i, level in enumerate(levels):
            if type(level) is not tuple or len(level) != 2:
                raise self._refuse(f"{kind}[{i}]", f"{level!r} is not a (price, size) pair")
            price, size = self._check_level(kind, i, level[0], level[1], None)
            if price in seen:
                raise self._refuse(f"{kind}[{i}].price", f"{format_price(price)} is repeated")
            seen.add(price)
            if size:  # a zero-size level in a snapshot is no level
                out[price] = size
        return out

    def apply_changes(
        self, changes: Sequence[tuple[Side, int, int]] | Sequence[tuple[object, object, object]],
        ts_ms: int,
    ) -> None:
        """Apply one ``price_change`` message atomically: all of it, or none and distrust.

        An empty message is a no-op and does not count as an update for staleness.
        """
        if not changes:
            return
        # The levels no longer are the last snapshot's, whatever happens below.
        self._snap_bids = self._snap_asks = None
        if len(changes) == 1:
            self._apply_one(changes[0], ts_ms)
            return
        overlays: tuple[dict[int, int], dict[int, int]] = ({}, {})
        for i, (side, raw_price, raw_size) in enumerate(changes):
            if side is BUY:
                price, size = self._check_level("changes", i, raw_price, raw_size, self.bids)
                overlays[0][price] = size
            elif side is SELL:
                price, size = self._check_level("changes", i, raw_price, raw_size, self.asks)
                overlays[1][price] = size
            else:
                raise self._refuse(f"changes[{i}].side", f"{side!r} is not a Side")
        bid_overlay, ask_overlay = overlays
        best_bid = _best_after(self.bids, self.best_bid, bid_overlay, higher=True)
        best_ask = _best_after(self.asks, self.best_ask, ask_overlay, higher=False)
        self._check_uncrossed(best_bid, best_ask)
        for levels, overlay in ((self.bids, bid_overlay), (self.asks, ask_overlay)):
            for price, size in overlay.items():
                if size:
                    levels[price] = size
                else:
                    levels.pop(price, None)
        self.best_bid = best_bid
        self.best_ask = best_ask
        self.best_bid_size = self.bids[best_bid] if best_bid is not None else 0
        self.best_ask_size = self.asks[best_ask] if best_ask is not None else 0
        self.last_update_ms = ts_ms

    def _apply_one(self, change: tuple[object, object, object], ts_ms: int) -> None:
        """The common single-level message, without the batch's overlay dicts."""
        side, raw_price, raw_size = change
        if side is BUY:
            bids = self.bids
            price, size = self._check_level("changes", 0, raw_price, raw_size, bids)
            best = self.best_bid
            if size:
                if best is None or price > best:
                    self._check_uncrossed(price, self.best_ask)
                    best = self.best_bid = price
                bids[price] = size
            else:
                bids.pop(price, None)
                if price == best:
                    best = self.best_bid = max(bids, default=None)
            self.best_bid_size = bids[best] if best is not None else 0
        elif side is SELL:
            asks = self.asks
            price, size = self._check_level("changes", 0, raw_price, raw_size, asks)
            best = self.best_ask
            if size:
                if best is None or price < best:
                    self._check_uncrossed(self.best_bid, price)
                    best = self.best_ask = price
                asks[price] = size
            else:
                asks.pop(price, None)
                if price == best:
                    best = self.best_ask = min(asks, default=None)
            self.best_ask_size = asks[best] if best is not None else 0
        else:
            raise self._refuse("changes[0].side", f"{side!r} is not a Side")
        self.last_update_ms = ts_ms

    def set_tick(self, tick: TickSize) -> None:
        """A ``tick_size_change``: held levels stay, new ones must fit the new grid.

        Going finer takes effect at once; going coarser keeps accepting the finer old
        grid until a snapshot shows that nothing rests on it any more.
        """
        new = int(tick)
        if new <= self.grid or all(p % new == 0 for side in (self.bids, self.asks) for p in side):
            self.grid = new
        self.tick = tick

    # -- reading ---------------------------------------------------------------------

    def is_stale(self, now_ms: int, max_age_ms: int) -> bool:
        """No update for longer than ``max_age_ms`` (exactly ``max_age_ms`` is fresh)."""
        last = self.last_update_ms
        return last is None or now_ms - last > max_age_ms

    def quotable(self, now_ms: int, max_age_ms: int) -> bool:
        """Whether a quote may be computed from this book at ``now_ms``."""
        return (
            self.trusted
            and self.best_bid is not None
            and self.best_ask is not None
            and not self.is_stale(now_ms, max_age_ms)
        )

    def top(self) -> Top | None:
        if self.best_bid is None or self.best_ask is None:
            return None
        return Top(
            bid=self.best_bid,
            bid_size=self.best_bid_size,
            ask=self.best_ask,
            ask_size=self.best_ask_size,
        )

    def spread(self) -> int | None:
        if self.best_bid is None or self.best_ask is None:
            return None
        return self.best_ask - self.best_bid

    def size_at(self, side: Side, price: int) -> int:
        return (self.bids if side is BUY else self.asks).get(price, 0)

    def levels(self, side: Side, depth: int | None = None) -> list[Level]:
        """Levels best first (bids high to low, asks low to high), at most ``depth``."""
        if depth is not None and depth < 0:
            raise ValueError(f"depth must be >= 0, got {depth}")
        book = self.bids if side is BUY else self.asks
        prices = sorted(book, reverse=side is BUY)
        if depth is not None:
            prices = prices[:depth]
        return [(p, book[p]) for p in prices]


def _fast_side(levels: Sequence[Level] | Sequence[object], grid: int) -> dict[int, int] | None:
    """The levels as a dict if every one is a plain, valid, non-zero level; else None.

    One loop of cheap checks for the healthy feed. Anything unusual (a zero size, a
    repeated price, a bad type, a level off the grid or out of range, a malformed level)
    returns None, and the caller runs the full check, which names the first problem
    exactly as it always has.
    """
    if type(levels) is not tuple and type(levels) is not list:
        return None
    out: dict[int, int] = {}
    top = PRICE_SCALE
    plain = tuple
    whole = int
    try:
        for level in levels:
            if type(level) is not plain:
                return None
            price, size = level
            if type(price) is not whole or type(size) is not whole:
                return None
            if size <= 0 or not 0 < price < top or price % grid:
                return None
            out[price] = size
    except (TypeError, ValueError):
        return None
    if len(out) != len(levels):
        return None  # a repeated price
    return out


def _best_after(
    levels: dict[int, int], best: int | None, overlay: dict[int, int], *, higher: bool
) -> int | None:
    """The best price of ``levels`` once ``overlay`` (price -> size, 0 removes) is applied."""
    if not overlay:
        return best
    if best is not None and overlay.get(best, 1) == 0:
        rest = [p for p in levels if overlay.get(p, 1) != 0]
        best = (max(rest) if higher else min(rest)) if rest else None
    for price, size in overlay.items():
        if size and (best is None or (price > best if higher else price < best)):
            best = price
    return best


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
class BookSet:
    """The books of every token we know, by token id (the exchange's ``asset_id``)."""

    def __init__(self) -> None:
        self._books: dict[str, Book] = {}

    def add(self, market: str, token: str, tick: TickSize) -> Book:
        """Register a token; listing it again (a reconnect) keeps its book, updates the tick."""
        book = self._books.get(token)
        if book is None:
            book = self._books[token] = Book(market, token, tick)
        elif book.market != market:
            raise BookError(
                market, token, "asset_id", f"{token} already belongs to market {book.market}"
            )
        else:
            book.set_tick(tick)
        return book

    def get(self, token: str, *, market: str = "?") -> Book:
        """The book of ``token``; ``market`` is what the message claimed, for the error."""
        book = self._books.get(token)
        if book is None:
            raise BookError(market, token, "asset_id", f"{token} is not a known token")
        if market != "?" and market != book.market:
            raise BookError(
                market, token, "market", f"{market} is not the token's market {book.market}"
            )
        return book

    def __contains__(self, token: object) -> bool:
        return token in self._books

    def __iter__(self) -> Iterator[Book]:
        return iter(self._books.values())

    def __len__(self) -> int:
        return len(self._books)

    def for_market(self, market: str) -> list[Book]:
        return [b for b in self._books.values() if b.market == market]
