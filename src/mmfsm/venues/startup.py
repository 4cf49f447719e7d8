"""Start-up on a CLOB venue: which markets, at what tick, and what an earlier run left.

Theory of operation
-------------------
Before the first quote the adapter must know two things from the venue itself, never
from a cache or the config: each market's tick size and minimum order size (read from
its books), and what the account already has there. ``list_markets`` answers the first;
``reconcile_at_start`` the second, with the rules of ``reconcile``: our earlier open
orders are cancelled and confirmed gone, foreign open orders or token holdings our
trades cannot explain refuse the start, and our earlier fills come back to be replayed
into the Engine so inventory and today's P&L survive a restart. Every read that fails
refuses the start (``StartupRefused``) with what to do about it: an answer we did not
get is never read as an empty one.

``earlier_activity`` asks, before a live run opens a new audit log, whether the account
has a past in the markets to trade (trades, or open orders): then the day's loss budget
and any breaker halt of that past are in another log, and ``mmfsm run`` refuses to start
a new one unless told to (``trade._run_live``).
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from attrs import frozen

from mmfsm.core.config import MarketConfig
from mmfsm.core.events import TradeStatus
from mmfsm.core.ticks import GridError, TickSize, parse_size
from mmfsm.venues.base import MarketInfo, StartupRefused, VenueError
from mmfsm.venues.clob import ClobRest
from mmfsm.venues.reconcile import explain_holdings, holdings, split_open_orders
from mmfsm.venues.wire import Fill, TokenIndex, WireError, parse_fills

__all__ = [
    "EarlierActivity",
    "MarketReader",
    "Reconciled",
    "earlier_activity",
    "list_markets",
    "reconcile_at_start",
]

log = logging.getLogger("mmfsm.venue")


class MarketReader(Protocol):
    """The public reads ``list_markets`` needs: ``ClobRest`` or the key-less
    ``public.PublicData`` of paper trading."""

    async def markets(self) -> list[dict[str, Any]]: ...

    async def book(self, token: str) -> dict[str, Any]: ...


@frozen(kw_only=True)
class Reconciled:
    """What start-up found: fills to replay, their orders, and what it cancelled."""

    fills: tuple[Fill, ...]
    restored: dict[str, tuple[str, MarketInfo]]  # venue order id -> (client id, market)
    cancelled: int
    trades: int


@frozen(kw_only=True)
class EarlierActivity:
    """The account's past in the configured markets, as the venue tells it."""

    trades: int
    open_orders: int

    def __bool__(self) -> bool:
        return bool(self.trades or self.open_orders)

    def describe(self) -> str:
        return f"{self.trades} earlier trade(s) and {self.open_orders} open order(s)"


async def earlier_activity(
    rest: ClobRest, configured: tuple[MarketConfig, ...]
) -> EarlierActivity:
    """Trades and open orders of the account in ``configured``, read only (nothing is
    placed or cancelled). A read that fails refuses the start: not knowing is no
    answer."""
    conditions = {m.condition_id for m in configured}
    tokens = {t for m in configured for t in (m.yes_token, m.no_token)}
    try:
        await rest.ensure_creds()
        orders = [
            o
            for o in await rest.open_orders()
            if o.get("market") in conditions or str(o.get("asset_id")) in tokens
        ]
        trades = 0
        for cid in sorted(conditions):
            trades += len(await rest.trades(market=cid))
    except VenueError as err:
        raise StartupRefused(
            f"cannot read the account's trades and open orders ({err}); refusing to "
            "start on a new audit log without knowing whether an earlier run's log exists"
        ) from None
    return EarlierActivity(trades=trades, open_orders=len(orders))


async def list_markets(
    rest: MarketReader, configured: tuple[MarketConfig, ...]
) -> tuple[list[MarketInfo], list[dict[str, Any]]]:
    """The markets to trade with the venue's tick and minimum size, and their books.

    ``configured`` empty means every active market the venue lists (the emulator).
    """
    wanted: list[tuple[str, str, str, str]] = []  # key, condition id, yes, no
    for mc in configured:
        wanted.append((mc.name or mc.condition_id, mc.condition_id, mc.yes_token, mc.no_token))
    if not configured:
        for i, raw in enumerate(m for m in await rest.markets() if m.get("active", True)):
            tokens = {str(t.get("outcome", "")).lower(): str(t["token_id"]) for t in raw["tokens"]}
            wanted.append((f"m{i + 1}", str(raw["condition_id"]), tokens["yes"], tokens["no"]))
    markets: list[MarketInfo] = []
    books: list[dict[str, Any]] = []
    for key, cid, yes, no in wanted:
        yes_book = await rest.book(yes)
        no_book = await rest.book(no)
        if yes_book.get("market") != cid or no_book.get("market") != cid:
            raise StartupRefused(
                f"market {key}: the venue says token {yes} / {no} belongs to "
                f"{yes_book.get('market')} / {no_book.get('market')}, not {cid}; "
                "fix [[markets]]"
            )
        try:
            tick = TickSize.parse(str(yes_book["tick_size"]))
            min_size = parse_size(str(yes_book["min_order_size"]))
        except (KeyError, GridError) as exc:
            raise StartupRefused(f"market {key}: unreadable tick or minimum size ({exc})") from None
        markets.append(
            MarketInfo(
                key=key,
                condition_id=cid,
                yes_token=yes,
                no_token=no,
                tick=tick,
                min_size=min_size,
                neg_risk=bool(yes_book.get("neg_risk", False)),
            )
        )
        yes_book["event_type"] = no_book["event_type"] = "book"
        books += [yes_book, no_book]
    if not markets:
        raise StartupRefused("the venue lists no market to trade")
    return markets, books


async def reconcile_at_start(
    rest: ClobRest, markets: list[MarketInfo], index: TokenIndex
) -> Reconciled:
    """Cancel our leftovers, refuse what we cannot explain, return the fills to replay."""
    try:
        venue_orders = await rest.open_orders()
    except VenueError as err:
        raise StartupRefused(
            f"cannot read open orders from the venue ({err}); refusing to start: reading "
            "a failed answer as 'no orders' could leave a duplicate set resting"
        ) from None
    ours, foreign = split_open_orders(venue_orders, index.by_token)
    if foreign:
        raise StartupRefused(
            f"{len(foreign)} open order(s) in markets this bot does not trade "
            f"(e.g. {', '.join(foreign[:3])}); cancel them or add their markets: our "
            "heartbeats and cancel-all would cancel them"
        )
    cancelled = 0
    if ours:
        log.warning(
            "Reconcile: %d open order(s) from an earlier run in our markets; cancelling "
            "them (the Engine does not adopt orders)",
            len(ours),
        )
        try:
            await rest.cancel(ours)
            left = [o for o in await rest.open_orders() if o.get("id") in set(ours)]
        except VenueError as err:
            raise StartupRefused(f"could not cancel earlier open orders ({err})") from None
        if left:
            raise StartupRefused(
                f"{len(left)} earlier order(s) still open after cancelling "
                f"({', '.join(str(o.get('id')) for o in left[:3])}); refusing to start"
            )
        cancelled = len(ours)
    fills: list[Fill] = []
    balances: dict[str, int] = {}
    names: dict[str, str] = {}
    api_key = rest.creds.api_key
    try:
        for m in markets:
            for trade in await rest.trades(market=m.condition_id):
                fills += [f for f in parse_fills(trade, api_key) if f.token in index]
            for token, side in ((m.yes_token, "YES"), (m.no_token, "NO")):
                balances[token] = await rest.balance(token)
                names[token] = f"{m.key} {side}"
    except (VenueError, WireError) as err:
        raise StartupRefused(f"cannot read trades or balances at start-up ({err})") from None
    problems = explain_holdings(holdings(fills), balances, names)
    if problems:
        raise StartupRefused(
            "token holdings this bot cannot explain from its trades; refusing to start:\n  "
            + "\n  ".join(problems)
        )
    fills.sort(key=lambda f: (f.match_time, f.trade_id))
    restored = {f.order_id: (f"restored-{f.order_id[:12]}", index.by_token[f.token]) for f in fills}
    if fills:
        log.warning("Reconcile: replaying %d fill(s) of earlier runs into the Engine", len(fills))
    return Reconciled(
        fills=tuple(f for f in fills if f.status is not TradeStatus.FAILED),
        restored=restored,
        cancelled=cancelled,
        trades=len({f.trade_id for f in fills}),
    )
