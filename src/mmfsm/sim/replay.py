"""Replay of recorded L2 books (``books.jsonl.gz`` + ``markets.jsonl``) through the venue.

Theory of operation
-------------------
The bundled recording (``shared/data/polymarket-btc-15m``: sample data of the
``resolvedkit`` package, (c) Resolved Markets, CC BY 4.0; keep this attribution with any
copy or slice) holds nine settled "Bitcoin Up or Down" 15-minute markets, both tokens,
top 20 levels, about one snapshot a second a token, and no trades. A replay maps:

* UP to the YES token and DOWN to the NO token (token ids ``<slug>-up``/``-down``, the
  market id is the condition id). A market is listed at its first snapshot with a
  minimum order size of 5 shares (Polymarket's usual minimum for these markets).
* Each row to one ``BookSnapshot`` of its token, published at its recorded time with
  our resting orders added (as the live feed shows them). Crossed, locked and one-sided
  records are published as they are: the Engine must reject or sit them out.
* The tick per snapshot: the coarsest of 0.01/0.001/0.0001 on which every price of the
  row lies. When a row needs a finer grid than the market has, ``TickSizeChanged`` goes
  out just before it (as Polymarket does near 0.04/0.96). The recording never returns
  to a coarser grid within a market, so neither does the replay.
* The end of the window to a resolution: the venue cancels our resting orders, closes
  the market (later orders are rejected) and settles the inventory at the recorded
  payout; the strategy receives ``OperatorHalt(market, "market resolved")``, which is
  what a live shell would send today (the Engine has no resolution event). Rows after
  the end are dropped.

Fill inference (``Venue.replay_book``), since the recording has no trades. For our
resting bid at YES price p (asks mirror it):

* Trade-through: when a later YES snapshot (not crossed or locked) has its best ask at
  or below p, everything at p has gone and sellers now stand at p or lower, which they
  could not while our bid rested there: our whole remaining size fills, at p.
* Queue: we joined behind the recorded size at p. A decrease of the recorded size at p
  moves us forward by the probabilistic queue model (``queue``); it never fills us.

Bias: optimistic on trade-throughs (the move is assumed to have traded at least our
size; our orders are 5-10 shares against levels of hundreds) and pessimistic at the
touch (trades that eat part of a level without clearing it are read as cancels, so a
bid at the front of a level that is being traded into is not filled until the level is
cleared). Our own trades never change the recorded book (no market impact), and FAK
exits take the recorded liquidity until the next snapshot replaces it.

Damaged input (a missing file, a truncated or corrupt gzip, a line that is not JSON, a
row without a key, of the wrong type, or with an outcome other than UP/DOWN) raises
``ReplayError``, a ``ValueError`` naming the file and the line: ``<file>:<line>: <what>``.
The checks sit on the general reader and on what runs once per file, never on the fast
reader's per-row path: it only takes rows it vouches for and hands any other to the
general reader, and the line number is found by reading the file again, on error only.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import operator
import re
import zlib
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

from attrs import frozen

from mmfsm.core.book import parse_levels
from mmfsm.core.events import OperatorHalt
from mmfsm.core.ticks import PRICE_SCALE, SIZE_SCALE, TickSize, format_price, parse_price
from mmfsm.sim.crowd import Levels
from mmfsm.sim.latency import Wire
from mmfsm.sim.schedule import Kind, Scheduler
from mmfsm.sim.venue import Venue

__all__ = [
    "ATTRIBUTION",
    "RecordedBook",
    "RecordedMarket",
    "Recording",
    "ReplayError",
    "ReplayFeed",
    "load_recording",
]

ATTRIBUTION = (
    "Recorded books: sample data of the resolvedkit package (PyPI), (c) Resolved Markets, "
    "licensed CC BY 4.0."
)
MIN_SIZE = 5 * SIZE_SCALE


@frozen(kw_only=True)
class RecordedMarket:
    market: str
    slug: str
    question: str
    start_ms: int
    end_ms: int
    payout_up: int  # price units
    payout_down: int


@frozen(kw_only=True)
class RecordedBook:
    """One recorded row. ``bids_text``/``asks_text``, when set, vouch that the side is
    canonical (best first, distinct prices, sizes above 0, so the venue may publish it
    as it is) and hold each level's JSON text (``[price,size]``), from which the venue
    builds the published side's text for the audit log without formatting numbers."""

    ts_ms: int
    market: str
    up: bool
    bids: Levels
    asks: Levels
    bids_text: tuple[str, ...] | None = None
    asks_text: tuple[str, ...] | None = None
    tick: TickSize | None = None  # ``row_tick``, when the reader worked it out already


@frozen(kw_only=True)
class Recording:
    markets: tuple[RecordedMarket, ...]
    books: tuple[RecordedBook, ...]

    @property
    def start_ms(self) -> int:
        return self.books[0].ts_ms if self.books else 0

    @property
    def end_ms(self) -> int:
        return max((m.end_ms for m in self.markets), default=self.start_ms)


class ReplayError(ValueError):
    """A recording that cannot be read: ``<file>:<line>: <what>`` (or ``<path>: <what>``)."""


# What a damaged line or file raises, from json, dict access, int(), the level parser or
# the gzip stream (``gzip.BadGzipFile`` is an ``OSError``, ``UnicodeDecodeError`` a
# ``ValueError``).
_ROW_ERRORS = (ValueError, KeyError, TypeError)
_READ_ERRORS = (EOFError, gzip.BadGzipFile, zlib.error, UnicodeDecodeError)


def _what(exc: BaseException) -> str:
    """A damaged line's problem in words (the exception's own text, named)."""
    if isinstance(exc, KeyError):
        return f"missing key {exc.args[0]!r}" if exc.args else "missing key"
    if isinstance(exc, json.JSONDecodeError):
        return f"not JSON ({exc.msg} at column {exc.colno})"
    if isinstance(exc, EOFError):
        return f"the file ends early, truncated? ({exc})"
    if isinstance(exc, gzip.BadGzipFile | zlib.error):
        return f"not a readable gzip file ({exc})"
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text ({exc.reason})"
    return str(exc) or type(exc).__name__


def _paths(path: Path) -> tuple[Path, Path]:
    if path.is_dir():
        return path / "books.jsonl.gz", path / "markets.jsonl"
    return path, path.with_name("markets.jsonl")


def _existing_paths(path: Path) -> tuple[Path, Path]:
    """``_paths``, each checked to be a file, so that the error names the path given."""
    if not path.exists():
        raise ReplayError(f"{path}: no such file or directory")
    books_path, markets_path = _paths(path)
    for p in (books_path, markets_path):
        if not p.is_file():
            raise ReplayError(
                f"{p}: no such file (a recording is books.jsonl.gz and markets.jsonl, side by side)"
            )
    return books_path, markets_path


def _recorded_market(m: object) -> RecordedMarket:
    if not isinstance(m, dict):
        raise TypeError(f"is a JSON {type(m).__name__}, not an object")
    for key in ("market_id", "slug", "question"):
        if not isinstance(m[key], str):
            raise TypeError(f"{key} is not a string")
    return RecordedMarket(
        market=m["market_id"],
        slug=m["slug"],
        question=m["question"],
        start_ms=int(m["start_ts"]),
        end_ms=int(m["end_ts"]),
        payout_up=parse_price(repr(float(m["payout_up"]))),
        payout_down=parse_price(repr(float(m["payout_down"]))),
    )


def load_recording(path: Path, *, max_markets: int | None = None) -> Recording:
    """Read a recording exactly (decimal strings to integer units); ``max_markets`` keeps
    the first n markets by window start, for quick runs and tests. A damaged recording
    raises ``ReplayError`` naming the file and line."""
    if max_markets is not None and max_markets < 1:
        raise ValueError(f"max_markets must be at least 1, not {max_markets}")
    books_path, markets_path = _existing_paths(path)
    markets: list[RecordedMarket] = []
    with markets_path.open(encoding="utf-8") as fh:
        number = 0
        try:
            for number, line in enumerate(fh, 1):  # noqa: B007 (read in the except)
                if line.strip():
                    markets.append(_recorded_market(json.loads(line)))
        except _READ_ERRORS as exc:  # while reading the line after ``number``
            raise ReplayError(f"{markets_path}:{number + 1}: {_what(exc)}") from None
        except _ROW_ERRORS as exc:
            raise ReplayError(f"{markets_path}:{number}: {_what(exc)}") from None
    markets.sort(key=lambda m: m.start_ms)
    if max_markets is not None:
        markets = markets[:max_markets]
    keep = {m.market for m in markets}
    books = tuple(_read_books(books_path, keep))
    return Recording(markets=tuple(markets), books=books)


class _LevelParser:
    """``parse_levels``, exact and checked, with each distinct price and size string
    parsed once (650k levels share a few hundred prices and ~50k sizes)."""

    __slots__ = ("prices", "sizes")

    def __init__(self) -> None:
        self.prices: dict[str, int] = {}
        self.sizes: dict[str, int] = {}

    def __call__(self, raw: object, *, market: str, token: str, side_name: str) -> Levels:
        if not isinstance(raw, list):
            return parse_levels(raw, market=market, token=token, side_name=side_name)
        out: list[tuple[int, int]] = []
        for i, entry in enumerate(raw):
            pair = isinstance(entry, list) and len(entry) == 2
            if pair:
                try:
                    price, size = self.prices.get(entry[0]), self.sizes.get(entry[1])
                except TypeError:  # an unhashable number: parse_levels names it below
                    price = size = None
                if price is not None and size is not None:
                    out.append((price, size))
                    continue
            ((price, size),) = parse_levels(
                [entry], market=market, token=token, side_name=f"{side_name}[{i}]"
            )
            if pair:  # (a {"price", "size"} object is parsed, not cached)
                self.prices[entry[0]] = price
                self.sizes[entry[1]] = size
            out.append((price, size))
        return tuple(out)


# A row as the recorder writes it: this head, then ``<side>,"asks":<side>}``, each side
# ``[]`` or ``[["price","size"],...]``, every price and size a plain decimal (``_NUM``).
# Any other line (other key order, spaces, escapes, numbers as JSON numbers) is read by
# json. (The full-row regex this replaces cost some 10-15 us a row on its own.)
_HEAD = re.compile(
    r'\{"market":"(0x[0-9a-f]+)","outcome":"(UP|DOWN)","ts_ms":([0-9]{1,18}),"bids":'
)
_ASKS = ',"asks":'
_NUM = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_DIGITS = b"0123456789."
_PRICE_DIGITS = len(str(PRICE_SCALE)) - 1
_SIZE_DIGITS = len(str(SIZE_SCALE)) - 1
assert 10**_PRICE_DIGITS == PRICE_SCALE
assert 10**_SIZE_DIGITS == SIZE_SCALE
_GRIDS = (TickSize.CENT, TickSize.MILLI, TickSize.TENTH_MILLI)  # coarsest first
_CENT, _MILLI = int(TickSize.CENT), int(TickSize.MILLI)


class _Fallback(Exception):
    """A row the fast reader does not vouch for: read it the general way."""


def _units(text: str, digits: int, scale: int) -> int:
    """``parse_price``/``parse_size`` of a plain decimal (``12``, ``0.49``: ``_NUM``): the
    digits after the point, trailing zeros aside, must fit the scale, as ``Decimal`` would
    require; anything else is the general reader's to accept or name."""
    if _NUM.fullmatch(text) is None:
        raise _Fallback
    whole, _, frac = text.partition(".")
    frac = frac.rstrip("0")
    if len(frac) > digits:
        raise _Fallback
    return int(whole) * scale + (int(frac.ljust(digits, "0")) if frac else 0)


class _Skeletons(dict[int, bytes]):
    """A well-formed side of n levels with its digits and points taken out, by length:
    ``[["",""]`` + ``,["",""]`` * (n - 1) + ``]``, 8n + 1 bytes (``b""`` for a length no
    side of levels has)."""

    def __missing__(self, length: int) -> bytes:
        n, rest = divmod(length - 1, 8)
        out = self[length] = b"[" + b",".join([b'["",""]'] * n) + b"]" if n and not rest else b""
        return out


_SKELETON = _Skeletons()


class _Learned(dict[str, str]):
    """A price's or size's string -> a level's JSON head (``[4900,``) or tail (``205000000]``),
    worked out on first sight (``__missing__``, called from C by the lookups below), so a
    side is looked up in one pass whether its numbers are known or not. Only a text that
    is a plain decimal (``_NUM``) gets in, so being in ``units`` vouches for a text."""

    __slots__ = ("digits", "head", "scale", "units")

    def __init__(self, units: dict[str, int], digits: int, scale: int, *, head: bool) -> None:
        super().__init__()
        self.units, self.digits, self.scale, self.head = units, digits, scale, head

    def __missing__(self, text: str) -> str:
        value = self.units.get(text)
        if value is None:
            value = self.units[text] = _units(text, self.digits, self.scale)
        out = self[text] = f"[{value}," if self.head else f"{value}]"
        return out


class _RowReader:
    """Reads rows without a JSON tree. A side is well formed when, its digits and points
    taken out, what is left is a side's skeleton (``_Skeletons``: the brackets, quotes and
    commas of n levels, nothing else); its numbers are then its texts between the quotes,
    prices and sizes alternately, each a plain decimal once ``_Learned`` let it in: the
    very rows and values of the full-row regex this replaces. Each distinct price or size
    string is converted once. A side identical to the same token's previous one is the
    previous side's very tuple, so whoever compares books (the Engine, the venue, the
    audit writer) can stop at ``is``. Anything unexpected raises ``_Fallback``: the row is
    then read by ``json`` and ``_LevelParser`` exactly as before, errors included."""

    __slots__ = ("previous", "price_head", "price_rank", "prices", "size_tail", "sizes")

    def __init__(self) -> None:
        # Its own tables, never the general reader's: those may hold texts (``5.``, JSON
        # numbers) that this reader must not accept.
        self.prices: dict[str, int] = {}
        self.sizes: dict[str, int] = {}
        self.price_head = _Learned(self.prices, _PRICE_DIGITS, PRICE_SCALE, head=True)
        self.size_tail = _Learned(self.sizes, _SIZE_DIGITS, SIZE_SCALE, head=False)
        self.price_rank: dict[str, int] = {}  # index in _GRIDS of the coarsest grid it is on
        self.previous: dict[tuple[str, bool], _Side] = {}

    def side(self, raw: str, key: tuple[str, bool]) -> tuple[Levels, tuple[str, ...] | None, int]:
        """The side's levels, their JSON texts (None unless the side is canonical: best
        first, distinct prices, sizes above 0) and its grid rank."""
        last = self.previous.get(key)
        if last is not None and last.raw == raw:
            return last.levels, last.texts, last.rank
        if raw == "[]":
            self.previous[key] = _Side(raw, (), (), 0, [], (), (), ordered=True)
            return (), (), 0
        if not (raw.isascii() and raw.startswith('[["') and raw.endswith('"]]')):
            raise _Fallback
        skeleton = raw.encode("ascii").translate(None, _DIGITS)
        if skeleton != _SKELETON[len(skeleton)]:
            raise _Fallback
        # '[["0.5","205"],["0.49","75"]]' -> ['0.5', '205', '0.49', '75']
        flat = raw[3:-3].replace('"],["', '","').split('","')
        price_texts, size_texts = flat[0::2], flat[1::2]
        tails = tuple(map(self.size_tail.__getitem__, size_texts))  # learns what is new
        sizes = tuple(map(self.sizes.__getitem__, size_texts))
        if last is not None and last.price_texts == price_texts:
            # The same price strings as the token's side last time (7 sides in 10: sizes
            # move, levels stay): checked then, and the same ints, heads, order and grid.
            prices, heads, ordered, rank = last.prices, last.heads, last.ordered, last.rank
        else:
            heads = tuple(map(self.price_head.__getitem__, price_texts))  # learns what is new
            prices = tuple(map(self.prices.__getitem__, price_texts))
            ordered = all(map(operator.gt if key[1] else operator.lt, prices, prices[1:]))
            rank = self._rank(price_texts)
        levels = tuple(zip(prices, sizes, strict=True))
        texts = tuple(map(operator.add, heads, tails)) if ordered and min(sizes) > 0 else None
        self.previous[key] = _Side(
            raw, levels, texts, rank, price_texts, prices, heads, ordered=ordered
        )
        return levels, texts, rank

    def _rank(self, price_texts: list[str]) -> int:
        """The index in ``_GRIDS`` of the coarsest grid every price is on."""
        try:
            return max(map(self.price_rank.__getitem__, price_texts))
        except KeyError:
            for text in price_texts:
                price = self.prices[text]
                self.price_rank[text] = (
                    0 if price % _CENT == 0 else (1 if price % _MILLI == 0 else 2)
                )
            return max(map(self.price_rank.__getitem__, price_texts))


class _Side:
    """A token's side as the reader last read it: what it returned, and what the next
    side with the same price strings can take over (``_RowReader.side``)."""

    __slots__ = ("heads", "levels", "ordered", "price_texts", "prices", "rank", "raw", "texts")

    def __init__(
        self,
        raw: str,
        levels: Levels,
        texts: tuple[str, ...] | None,
        rank: int,
        price_texts: list[str],
        prices: tuple[int, ...],
        heads: tuple[str, ...],
        *,
        ordered: bool,
    ) -> None:
        self.raw, self.levels, self.texts, self.rank = raw, levels, texts, rank
        self.price_texts, self.prices, self.heads, self.ordered = (
            price_texts,
            prices,
            heads,
            ordered,
        )


def _read_books(path: Path, keep: set[str], *, fast: bool = True) -> Iterator[RecordedBook]:
    """The rows of ``keep``'s markets; ``fast`` False reads every row the general way
    (json and ``_LevelParser``), for the tests that compare the two readers."""
    parse = _LevelParser()
    reader = _RowReader()
    head = _HEAD.match if fast else _no_match
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        try:
            for line in fh:
                m = head(line)
                if m is not None:
                    market, outcome, ts = m.groups()
                    # Lines come in universal-newline mode: the row is the line up to its
                    # final "\n", if any, and ends with "}" or is not the recorder's.
                    end = -2 if line.endswith("}\n") else -1 if line.endswith("}") else 0
                    split = line.find(_ASKS, m.end())
                    token = f"{market}:{outcome}"
                    try:
                        if not end or split < 0:
                            raise _Fallback
                        bids, bids_text, bids_rank = reader.side(
                            line[m.end() : split], (token, True)
                        )
                        raw_asks = line[split + len(_ASKS) : end]
                        asks, asks_text, asks_rank = reader.side(raw_asks, (token, False))
                    except _Fallback:
                        pass
                    else:
                        if market not in keep:
                            continue
                        yield RecordedBook(
                            ts_ms=int(ts),
                            market=market,
                            up=outcome == "UP",
                            bids=bids,
                            asks=asks,
                            bids_text=bids_text,
                            asks_text=asks_text,
                            tick=_GRIDS[max(bids_rank, asks_rank)],
                        )
                        continue
                if not line.strip():
                    continue
                try:
                    book = _general_row(json.loads(line), keep, parse)
                except _ROW_ERRORS as exc:
                    raise ReplayError(f"{path}:{_line_of(path, line)}: {_what(exc)}") from None
                if book is not None:
                    yield book
        except _READ_ERRORS as exc:
            raise ReplayError(f"{path}:{_lines_before_error(path) + 1}: {_what(exc)}") from None


def _general_row(row: object, keep: set[str], parse: _LevelParser) -> RecordedBook | None:
    """A row read by json, checked; None for a market not kept."""
    if not isinstance(row, dict):
        raise TypeError(f"is a JSON {type(row).__name__}, not an object")
    market, outcome, ts = row["market"], row["outcome"], row["ts_ms"]
    if not isinstance(market, str):
        raise TypeError(f"market is a {type(market).__name__}, not a string")
    if outcome not in ("UP", "DOWN"):
        raise ValueError(f"outcome {str(outcome)[:20]!r} is not UP or DOWN")
    if isinstance(ts, bool) or not isinstance(ts, int):
        raise TypeError(f"ts_ms is a {type(ts).__name__}, not an integer")
    if market not in keep:
        return None
    token = f"{market}:{outcome}"
    return RecordedBook(
        ts_ms=ts,
        market=market,
        up=outcome == "UP",
        bids=parse(row["bids"], market=market, token=token, side_name="bids"),
        asks=parse(row["asks"], market=market, token=token, side_name="asks"),
    )


def _line_of(path: Path, line: str) -> int:
    """The number of the line that failed, found on error only, so that the readers pay
    nothing per row for it. Reading is deterministic, so an earlier copy of the same
    text would have failed first: the failing line is the first one equal to it."""
    opener = gzip.open if path.suffix == ".gz" else open
    with contextlib.suppress(*_READ_ERRORS), opener(path, "rt", encoding="utf-8") as fh:
        for number, text in enumerate(fh, 1):
            if text == line:
                return number
    return 0  # the file changed under us


def _lines_before_error(path: Path) -> int:
    """How many lines can be read before the stream fails (truncated or corrupt gzip)."""
    opener = gzip.open if path.suffix == ".gz" else open
    number = 0
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            for number, _ in enumerate(fh, 1):  # noqa: B007 (the count is the answer)
                pass
    except _READ_ERRORS:
        pass
    return number


def _no_match(_line: str) -> None:
    return None


def row_tick(book: RecordedBook) -> TickSize:
    """The coarsest Polymarket tick (0.01 at most) on which every price of the row lies."""
    if book.tick is not None:
        return book.tick
    prices = [p for p, _ in book.bids] + [p for p, _ in book.asks]
    for tick in _GRIDS:
        if all(p % int(tick) == 0 for p in prices):
            return tick
    return TickSize.TENTH_MILLI


class ReplayFeed:
    """Schedules every recorded row and every resolution on the simulator's clock."""

    def __init__(
        self,
        recording: Recording,
        venue: Venue,
        wire: Wire,
        sched: Scheduler,
        on_row: Callable[[int, str], None] | None = None,
    ) -> None:
        self.recording = recording
        self.on_row = on_row
        self.venue = venue
        self.wire = wire
        self.sched = sched
        self.by_id = {m.market: m for m in recording.markets}
        self._token_ids: dict[str, tuple[str, str]] = {}
        self.used = 0  # YES rows used for matching
        self.skipped = 0  # crossed or locked YES rows

    def schedule(self) -> None:
        """Every row, then every resolution, in one preloaded stream (same order as pushing
        them one by one, see ``Scheduler.preload``)."""
        row, resolve, call = self._row, self._resolve, Kind.CALL
        items: list[tuple[int, Kind, Any]] = [
            (book.ts_ms, call, partial(row, book)) for book in self.recording.books
        ]
        items += [(m.end_ms, call, partial(resolve, m=m)) for m in self.recording.markets]
        self.sched.preload(items)

    def _tokens(self, m: RecordedMarket) -> tuple[str, str]:
        tokens = self._token_ids.get(m.market)
        if tokens is None:
            tokens = self._token_ids[m.market] = (f"{m.slug}-up", f"{m.slug}-down")
        return tokens

    def _row(self, book: RecordedBook, now: int) -> None:
        """One recorded row at its time (the book first: the scheduler's ``partial`` is
        then positional, cheaper to make and to call than one with a keyword)."""
        m = self.by_id[book.market]
        if now >= m.end_ms:
            return
        yes, no = self._tokens(m)
        tick = row_tick(book)
        vm = self.venue.markets.get(m.market)
        if vm is None:
            vm = self.venue.list_market(now, m.market, yes, no, tick, MIN_SIZE, m.end_ms)
        elif tick < vm.tick:
            self.venue.set_tick(now, m.market, tick)
        token = yes if book.up else no
        texts = (
            None
            if book.bids_text is None or book.asks_text is None
            else (book.bids_text, book.asks_text)
        )
        if self.venue.replay_book(now, m.market, token, book.bids, book.asks, texts):
            self.used += 1
        elif book.up:
            self.skipped += 1
        self.venue.publish(now, m.market, token)
        if book.up and self.on_row is not None:
            self.on_row(now, m.market)

    def _resolve(self, now: int, m: RecordedMarket) -> None:
        if m.market not in self.venue.markets:
            return
        self.venue.resolve(now, m.market, m.payout_up)
        self.wire.to_strategy(
            now,
            "local",
            OperatorHalt(
                ts_ms=now,
                market=m.market,
                reason=f"market resolved: UP pays {format_price(m.payout_up)}",
            ),
        )
