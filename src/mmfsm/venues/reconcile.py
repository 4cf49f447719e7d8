"""Start-up reconciliation: what the venue says we have, against what our trades explain.

Theory of operation
-------------------
A restarted bot must not assume the venue is empty. Before it quotes, the adapter reads
the account's open orders, its trades in the traded markets and its token balances, and
this module decides, purely, what that means:

* open orders in a market we trade are ours from an earlier run: they are cancelled
  (the Engine cannot adopt an order it did not place yet), and start-up continues only
  once the venue confirms none is left;
* open orders in a market we do *not* trade belong to someone or something else. We
  refuse to start: our heartbeats and our cancel-all would cancel them, and cancelling
  orders we do not own is not ours to decide;
* our trades explain our token holdings: the holding must lie between what the
  CONFIRMED fills give and what every fill not FAILED could give (a MATCHED or MINED
  fill may or may not have settled yet). Anything else (tokens bought by hand, trades
  missing from the venue's answer) is a mismatch we cannot explain, and we refuse to
  start with the numbers rather than quote around an inventory we do not know;
* the trades that explain the holdings are replayed into the Engine, so inventory,
  average cost and today's realized P&L survive the restart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from attrs import frozen

from mmfsm.core.events import TradeStatus
from mmfsm.core.ticks import Side, format_size
from mmfsm.venues.wire import Fill

__all__ = ["Holding", "explain_holdings", "holdings", "split_open_orders"]


@frozen(kw_only=True)
class Holding:
    """Token holdings (micro-shares) our fills imply: settled, and the possible range."""

    confirmed: int
    low: int
    high: int


def holdings(fills: Iterable[Fill]) -> dict[str, Holding]:
    """Per token: the confirmed holding and the range pending fills could take it to."""
    confirmed: dict[str, int] = {}
    low: dict[str, int] = {}
    high: dict[str, int] = {}
    for fill in fills:
        if fill.status is TradeStatus.FAILED:
            continue
        signed = fill.size if fill.side is Side.BUY else -fill.size
        for d in (confirmed, low, high):
            d.setdefault(fill.token, 0)
        if fill.status is TradeStatus.CONFIRMED:
            confirmed[fill.token] += signed
            low[fill.token] += signed
            high[fill.token] += signed
        elif signed > 0:
            high[fill.token] += signed
        else:
            low[fill.token] += signed
    return {t: Holding(confirmed=confirmed[t], low=low[t], high=high[t]) for t in confirmed}


def explain_holdings(
    implied: Mapping[str, Holding], balances: Mapping[str, int], names: Mapping[str, str]
) -> list[str]:
    """Problems, one line each, where a venue balance is outside what our fills explain."""
    problems = []
    for token, balance in sorted(balances.items()):
        h = implied.get(token, Holding(confirmed=0, low=0, high=0))
        if not h.low <= balance <= h.high:
            problems.append(
                f"{names.get(token, token)}: the venue holds {format_size(balance)} shares but "
                f"this key's trades explain {format_size(h.low)}..{format_size(h.high)}"
            )
    return problems


def split_open_orders(
    orders: Iterable[Mapping[str, object]], our_tokens: Iterable[str]
) -> tuple[list[str], list[str]]:
    """(ids in markets we trade, ids elsewhere) of the venue's open orders."""
    tokens = set(our_tokens)
    ours: list[str] = []
    foreign: list[str] = []
    for order in orders:
        oid = str(order.get("id", ""))
        (ours if str(order.get("asset_id", "")) in tokens else foreign).append(oid)
    return ours, foreign
