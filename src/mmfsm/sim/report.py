"""The HTML report: one self-contained page of hand-written inline SVG a trader can scan.

Theory of operation
-------------------
For each market the page draws, on a shared time axis (minutes from the start):

1. price: the other participants' best bid and ask (grey steps), our best resting bid
   and ask (green and red steps), our fills (triangles: up for a buy, down for a sell,
   in YES terms);
2. inventory: the true net delta in shares (fills not yet reported included);
3. P&L: the market's total P&L (realized plus marked), and on the first panel the whole
   run's total for mmfsm and, if it ran, the baseline;
4. the state timeline of the market machine and the position machine as coloured bands.

No plotting library: the SVG is built from strings, coordinates rounded to 0.1 px, and
series thinned to at most ``MAX_POINTS`` points (every k-th sample plus the last), so the
page stays small and the same run gives the same bytes. Text is HTML-escaped.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from mmfsm.core.ticks import MONEY_SCALE, PRICE_SCALE, SIZE_SCALE
from mmfsm.sim.loop import RunResult
from mmfsm.sim.summary import render_table

__all__ = ["MAX_POINTS", "render_report"]

MAX_POINTS = 1500
W, H, PAD_L, PAD_R, PAD_T, PAD_B = 960, 180, 64, 16, 14, 22
STATE_COLOURS = {
    "running": "#4caf50",
    "gapped_skip": "#ff9800",
    "halted": "#e53935",
    "quoting": "#90caf9",
    "inventory_held": "#1e88e5",
    "passive_unwind": "#ffb300",
    "force_exit": "#d81b60",
    "closed": "#9e9e9e",
}
Point = tuple[int, float]
Series = tuple[str, str, list[Point]]


def _thin(points: list[Point]) -> list[Point]:
    if len(points) <= MAX_POINTS:
        return points
    k = -(-len(points) // MAX_POINTS)
    out = points[::k]
    if out[-1] != points[-1]:
        out.append(points[-1])
    return out


class _Axes:
    def __init__(self, t0: int, t1: int, lo: float, hi: float) -> None:
        if hi <= lo:
            hi, lo = lo + 1.0, lo - 1.0
        margin = (hi - lo) * 0.05
        self.t0, self.t1 = t0, max(t1, t0 + 1)
        self.lo, self.hi = lo - margin, hi + margin

    def x(self, t: int) -> float:
        return PAD_L + (t - self.t0) / (self.t1 - self.t0) * (W - PAD_L - PAD_R)

    def y(self, v: float) -> float:
        return PAD_T + (self.hi - v) / (self.hi - self.lo) * (H - PAD_T - PAD_B)


def _frame(ax: _Axes, title: str, y_fmt: str) -> list[str]:
    out = [f'<text x="{PAD_L}" y="11" class="t">{html.escape(title)}</text>']
    for i in range(5):
        v = ax.lo + (ax.hi - ax.lo) * i / 4
        y = ax.y(v)
        out.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{y:.1f}" y2="{y:.1f}" class="g"/>')
        out.append(
            f'<text x="{PAD_L - 4}" y="{y + 3:.1f}" class="a" text-anchor="end">'
            f"{format(v, y_fmt)}</text>"
        )
    span = (ax.t1 - ax.t0) / 60_000
    for i in range(7):
        t = ax.t0 + (ax.t1 - ax.t0) * i // 6
        out.append(
            f'<text x="{ax.x(t):.1f}" y="{H - 6}" class="a" text-anchor="middle">'
            f"{span * i / 6:.1f}m</text>"
        )
    return out


def _step_path(ax: _Axes, points: list[Point], colour: str, width: float = 1.2) -> str:
    """A step line through the (thinned) points: hold each value until the next change."""
    parts: list[str] = []
    thinned = _thin(points)
    last_y: float | None = None
    for i, (t, v) in enumerate(thinned):
        x, y = ax.x(t), ax.y(v)
        if not parts:
            parts.append(f"M{x:.1f},{y:.1f}")
        elif y != last_y or i == len(thinned) - 1:
            parts.append(f"H{x:.1f}V{y:.1f}")
        last_y = y
    if not parts:
        return ""
    return f'<path d="{"".join(parts)}" fill="none" stroke="{colour}" stroke-width="{width}"/>'


def _chart(title: str, series: Sequence[Series], t0: int, t1: int, y_fmt: str) -> str:
    values = [v for _, _, pts in series for _, v in pts]
    ax = _Axes(t0, t1, min(values, default=0.0), max(values, default=1.0))
    body = _frame(ax, title, y_fmt)
    for _, colour, pts in series:
        body.append(_step_path(ax, pts, colour))
    for i, (name, colour, _) in enumerate(reversed(series)):
        body.append(
            f'<text x="{W - PAD_R - 10 - i * 110}" y="11" class="a" '
            f'text-anchor="end" fill="{colour}">{html.escape(name)}</text>'
        )
    return f'<svg viewBox="0 0 {W} {H}" width="{W}" height="{H}">' + "".join(body) + "</svg>"


def _price_chart(result: RunResult, market: str, t0: int, t1: int) -> str:
    samples = result.collector.samples.get(market, [])

    def pts(attr: str) -> list[Point]:
        return [
            (s.t, getattr(s, attr) / PRICE_SCALE) for s in samples if getattr(s, attr) is not None
        ]

    series: list[Series] = [
        ("crowd bid", "#9e9e9e", pts("bid")),
        ("crowd ask", "#616161", pts("ask")),
        ("our bid", "#2e7d32", pts("our_bid")),
        ("our ask", "#c62828", pts("our_ask")),
    ]
    values = [v for _, _, p in series for _, v in p]
    ax = _Axes(t0, t1, min(values, default=0.0), max(values, default=1.0))
    marks = []
    for f in result.venue.fills:
        if f.market != market or f.failed:
            continue
        x, y = ax.x(f.ts_ms), ax.y(f.yes_price / PRICE_SCALE)
        if f.delta > 0:
            marks.append(f'<path d="M{x:.1f},{y - 5:.1f}l4,8h-8z" fill="#2e7d32"/>')
        else:
            marks.append(f'<path d="M{x:.1f},{y + 5:.1f}l4,-8h-8z" fill="#c62828"/>')
    body = _frame(ax, f"price, YES terms: {market}", ".3f")
    for _, colour, p in series:
        body.append(_step_path(ax, p, colour))
    for i, (name, colour, _) in enumerate(reversed(series)):
        body.append(
            f'<text x="{W - PAD_R - 10 - i * 80}" y="11" class="a" text-anchor="end" '
            f'fill="{colour}">{html.escape(name)}</text>'
        )
    body.extend(marks)
    return f'<svg viewBox="0 0 {W} {H}" width="{W}" height="{H}">' + "".join(body) + "</svg>"


def _timeline(result: RunResult, market: str, t0: int, t1: int) -> str:
    ax = _Axes(t0, t1, 0.0, 1.0)
    rows: dict[str, list[tuple[int, str]]] = {"market": [], "position": [], "bot": []}
    first = result.collector.samples.get(market, [])
    start = first[0].t if first else t0
    rows["market"].append((start, "gapped_skip"))
    rows["position"].append((start, "quoting"))
    rows["bot"].append((t0, "running"))
    for t, machine, ident, state in result.collector.states:
        owner = ident.rsplit("#", 1)[0] if machine == "position" else ident
        if machine == "bot" or owner == market:
            rows[machine].append((t, state))
    height = 16 * 3 + 20
    body = []
    for r, (name, changes) in enumerate(rows.items()):
        y = 14 + r * 16
        body.append(f'<text x="{PAD_L - 4}" y="{y + 11}" class="a" text-anchor="end">{name}</text>')
        for i, (t, state) in enumerate(changes):
            end = changes[i + 1][0] if i + 1 < len(changes) else t1
            x0, x1 = ax.x(t), ax.x(end)
            colour = STATE_COLOURS.get(state, "#000")
            body.append(
                f'<rect x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 0.5):.1f}" height="14" '
                f'fill="{colour}"><title>{name}: {state}</title></rect>'
            )
    legend = "".join(f'<tspan fill="{c}">&#9632;</tspan> {s} ' for s, c in STATE_COLOURS.items())
    body.append(f'<text x="{PAD_L}" y="10" class="a">{legend}</text>')
    return (
        f'<svg viewBox="0 0 {W} {height}" width="{W}" height="{height}">' + "".join(body) + "</svg>"
    )


def render_report(
    mm: RunResult, base: RunResult | None = None, *, title: str, attribution: str | None = None
) -> str:
    t0 = mm.setup.start_ms
    t1 = max(t0 + mm.setup.duration_ms, t0 + 1)
    totals: list[Series] = [
        ("mmfsm total P&L", "#1565c0", [(t, v / MONEY_SCALE) for t, v in mm.collector.totals])
    ]
    if base is not None:
        totals.append(
            (
                "baseline total P&L",
                "#8d6e63",
                [(t, v / MONEY_SCALE) for t, v in base.collector.totals],
            )
        )
    sections = [f"<h2>Whole run</h2>{_chart('total P&L, USD', totals, t0, t1, '.2f')}"]
    for market in sorted(mm.collector.samples):
        samples = mm.collector.samples[market]
        inventory: list[Series] = [
            ("net delta", "#6a1b9a", [(s.t, s.delta / SIZE_SCALE) for s in samples])
        ]
        pnl: list[Series] = [
            ("market P&L", "#1565c0", [(s.t, s.pnl / MONEY_SCALE) for s in samples])
        ]
        sections.append(
            f"<h2>{html.escape(market)}</h2>"
            + _price_chart(mm, market, t0, t1)
            + _chart("inventory: true net delta, shares", inventory, t0, t1, ".0f")
            + _chart("P&L, USD", pnl, t0, t1, ".2f")
            + _timeline(mm, market, t0, t1)
        )
    table = html.escape(render_table(mm.metrics, base.metrics if base else None))
    note = f"<p class='n'>{html.escape(attribution)}</p>" if attribution else ""
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>"
        "body{font:13px sans-serif;margin:16px;color:#212121}"
        "svg{display:block;margin:4px 0;background:#fafafa}"
        ".t{font:bold 11px sans-serif}.a{font:10px sans-serif}.g{stroke:#e0e0e0}"
        ".n{color:#616161}pre{background:#f5f5f5;padding:8px}"
        "</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{note}<pre>{table}</pre>"
        + "".join(sections)
        + "</body></html>\n"
    )
