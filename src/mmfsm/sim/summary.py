"""The end of a run in words: a plain-text table for the terminal and the metrics document.

Theory of operation
-------------------
The summary is plain text on purpose: it is what a trader reads first and what a test
compares byte for byte, so it must not depend on the terminal's width or colours (the
progress bar, which does, is only drawn on a TTY and erased). Every figure comes from
the metrics dict (``metrics``), so the table and ``--json`` can never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from mmfsm.core.config import config_hash
from mmfsm.core.ticks import money_from_usd
from mmfsm.sim.loop import RunResult
from mmfsm.text import usd

__all__ = ["ROWS", "document", "render_table"]

ROWS: tuple[tuple[str, str], ...] = (
    ("events", "events"),
    ("orders placed", "orders_placed"),
    ("orders filled", "orders_filled"),
    ("fill rate (filled / placed)", "fill_rate"),
    ("fills", "fills"),
    ("round trips (flat to flat)", "round_trips"),
    ("round-trip shares (FIFO)", "round_trip_shares"),
    ("spread captured / round trip, USD/share", "spread_captured_per_round_trip_usd"),
    ("rebates USD (not modelled)", "rebates_usd"),
    ("realized P&L USD", "realized_pnl_usd"),
    ("unrealized P&L USD", "unrealized_pnl_usd"),
    ("total P&L USD", "total_pnl_usd"),
    ("max drawdown USD", "max_drawdown_usd"),
    ("max worst-case exposure, shares", "max_worst_case_exposure_shares"),
    ("exposure limit, shares", "exposure_limit_shares"),
    ("API actions (places + cancels)", "api_actions"),
    ("keep decisions (queue priority)", "orders_kept"),
    ("post-only rejects", "post_only_rejects"),
    ("post-only retries", "post_only_retries"),
    ("exits to flat", "exits"),
    ("of which force exits", "force_exits"),
    ("venue faults", "venue_faults"),
    ("failed trades", "failed_trades"),
    ("invariant violations", "invariant_violations_total"),
)


# Dollar amounts, written as every USD amount of the shell is (``mmfsm.text.usd``).
_MONEY = frozenset(
    {"rebates_usd", "realized_pnl_usd", "unrealized_pnl_usd", "total_pnl_usd", "max_drawdown_usd"}
)


def _cell(value: object, key: str = "") -> str:
    """Ratios to 4 places, dollars to 4 rounded down, shares to at most 4 (the JSON is exact)."""
    if value is None:
        return "-"
    if key in _MONEY and isinstance(value, str):
        return usd(money_from_usd(value))
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, str) and "." in value:
        try:
            exact = Decimal(value)
        except InvalidOperation:
            return value
        if exact.as_tuple().exponent < -4:  # type: ignore[operator]
            return f"{exact.quantize(Decimal('0.0001'))}"
    return str(value)


def render_table(mm: Mapping[str, object], base: Mapping[str, object] | None = None) -> str:
    """Metric | mmfsm | baseline, one row per headline figure."""
    header = ["metric", "mmfsm"] + (["baseline"] if base is not None else [])
    rows = [header]
    for label, key in ROWS:
        row = [label, _cell(mm.get(key), key)]
        if base is not None:
            engine_only = key in ("orders_kept", "exposure_limit_shares")
            row.append("-" if engine_only else _cell(base.get(key), key))
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = []
    for i, row in enumerate(rows):
        lines.append(
            "  ".join(
                c.ljust(w) if j == 0 else c.rjust(w)
                for j, (c, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
        )
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def document(
    mm: RunResult, base: RunResult | None, *, kind: str, attribution: str | None = None
) -> dict[str, object]:
    """The ``--json`` document: the run, mmfsm's metrics and, if asked, the baseline's."""
    setup = mm.setup
    doc: dict[str, object] = {
        "run": {
            "name": setup.name,
            "kind": kind,
            "seed": setup.seed,
            "start_ms": setup.start_ms,
            "duration_s": setup.duration_ms // 1000,
            "config_hash": config_hash(setup.config),
        },
        "mmfsm": mm.metrics,
        "baseline": base.metrics if base is not None else None,
    }
    if attribution is not None:
        doc["data_attribution"] = attribution
    return doc
