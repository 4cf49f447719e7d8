"""What ``mmfsm status`` shows: the Engine's state as one JSON object, and as text.

Why a plain dict: it crosses a socket and a thread (the run loop publishes it, the
control server answers with the latest one), so it must be immutable data, built in the
run loop's own thread, never a reference into the live Engine. Money, prices and sizes
are exact decimal strings in human units, as in the log lines; the text a person reads
(``render_status``) writes every dollar amount with ``mmfsm.text.usd``, as the run
summaries do.
"""

from __future__ import annotations

from typing import Any

from mmfsm.core.engine import Engine
from mmfsm.core.ticks import format_money, format_size, money_from_usd
from mmfsm.text import usd

__all__ = ["engine_status", "render_status"]


def engine_status(engine: Engine) -> dict[str, Any]:
    """Every machine's state, inventory, exposure, P&L today and the breaker."""
    risk = engine.config.risk
    markets = []
    worst_total = 0
    unrealized = 0
    for name, ms in sorted(engine.markets.items()):
        exposure = engine.exposure(name)
        worst_total += exposure.worst
        unrealized += ms.unrealized
        markets.append(
            {
                "market": name,
                "state": ms.machine.state,
                "position": ms.position.state,
                "position_id": ms.position.id,
                "yes_held": format_size(ms.ledger.yes_held),
                "no_held": format_size(ms.ledger.no_held),
                "net_delta": format_size(ms.ledger.delta),
                "exposure_long": format_size(exposure.long),
                "exposure_short": format_size(exposure.short),
                "exposure_worst": format_size(exposure.worst),
                "exposure_limit": format_size(exposure.limit),
                "realized": format_money(ms.ledger.realized),
                "unrealized": format_money(ms.unrealized),
                "live_orders": sum(1 for o in engine.orders.in_market(name) if o.live),
            }
        )
    daily = engine.daily_pnl()
    trip_at = engine.breaker_floor - risk.global_daily_loss
    return {
        "bot": engine.bot.state,
        "halt_reason": engine.halt_reason,
        "now_ms": engine.now_ms,
        "config_hash": engine.config_hash,
        "pnl": {
            "realized_today": format_money(engine.realized_today),
            "unrealized": format_money(unrealized),
            "daily": format_money(daily),
        },
        "breaker": {
            # The bot's halt latch (breaker, operator or fault): only a resume clears it.
            "latched": engine.bot.state == "halted",
            "tripped": engine.bot.state == "halted" and engine.halt_cause == "breaker_trip",
            "daily_loss_limit": format_money(risk.global_daily_loss),
            "floor": format_money(engine.breaker_floor),
            "trips_at": format_money(trip_at),
            "headroom": format_money(daily - trip_at),
        },
        "exposure": {"worst_total": format_size(worst_total)},
        "actions": {
            "places": engine.actions.places,
            "cancels": engine.actions.cancels,
            "kept": engine.actions.kept,
        },
        "markets": markets,
    }


def _usd(exact: str) -> str:
    """An exact dollar string of the status as the text writes every amount."""
    return usd(money_from_usd(exact))


def render_status(status: dict[str, Any]) -> str:
    if "pnl" not in status:  # the run loop has not published yet
        return f"bot {status.get('bot', 'unknown')}"
    pnl, breaker = status["pnl"], status["breaker"]
    lines = [
        f"bot {status['bot']}"
        + (f" ({status['halt_reason']})" if status.get("halt_reason") else ""),
        f"P&L today {_usd(pnl['daily'])} USD (realized {_usd(pnl['realized_today'])}, "
        f"unrealized {_usd(pnl['unrealized'])})",
        f"breaker {'TRIPPED' if breaker.get('tripped') else 'armed'}: trips at "
        f"{_usd(breaker['trips_at'])} USD (limit {_usd(breaker['daily_loss_limit'])}, floor "
        f"{_usd(breaker['floor'])}), headroom {_usd(breaker['headroom'])} USD",
        f"worst-case exposure {status['exposure']['worst_total']} shares in total",
    ]
    audit = status.get("audit")
    if isinstance(audit, dict):
        lines.append(f"audit log at record {audit.get('seq')}, {audit.get('path')}")
    for m in status["markets"]:
        lines.append(
            f"  {m['market']}: market {m['state']}, position {m['position']} "
            f"({m['position_id']}), YES {m['yes_held']} NO {m['no_held']} net delta "
            f"{m['net_delta']}, worst-case exposure {m['exposure_worst']}/"
            f"{m['exposure_limit']} shares, realized {_usd(m['realized'])} unrealized "
            f"{_usd(m['unrealized'])} USD, {m['live_orders']} live orders"
        )
    return "\n".join(lines)
