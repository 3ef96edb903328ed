"""Server-side SVG: the step graph and line charts. Colours come from the stylesheet through
`data-status` and `series-N` classes (no inline styles: the console's Content-Security-Policy
allows none), so the markup stays small, deterministic and testable over plain HTTP."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from markupsafe import Markup, escape

from emulator.ui.layout import NODE_H, NODE_W, Layout

LABEL_CHARS = 24


@dataclass
class StepNode:
    name: str
    type: str
    status: str            # a StepStatus, or NotStarted
    href: str              # the step panel (plain link, and htmx target)
    cache_hit: bool = False
    branch: str = ""       # "true"/"false" when the step belongs to a Condition branch


def _short(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _path(points: Sequence[tuple[float, float]], vertical: bool) -> str:
    """A smooth path through the points: each segment a cubic leaving and entering along the layer axis."""
    out = [f"M{points[0][0]:.1f},{points[0][1]:.1f}"]
    for (x0, y0), (x1, y1) in pairwise(points):
        if vertical:
            mid = (y0 + y1) / 2
            out.append(f"C{x0:.1f},{mid:.1f} {x1:.1f},{mid:.1f} {x1:.1f},{y1:.1f}")
        else:
            mid = (x0 + x1) / 2
            out.append(f"C{mid:.1f},{y0:.1f} {mid:.1f},{y1:.1f} {x1:.1f},{y1:.1f}")
    return " ".join(out)


def dag(layout: Layout, nodes: dict[str, StepNode], *, interactive: bool = True,
        target: str = "#step-panel") -> Markup:
    """The step graph. Interactive: each step is a link to its panel, loaded into `target` by htmx
    (and a plain link without it); otherwise a drawing of a definition."""
    parts = [(f'<svg class="dag" width="{layout.width}" height="{layout.height}" '
              f'viewBox="0 0 {layout.width} {layout.height}" role="img" aria-label="pipeline step graph">'),
             ('<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
              'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrowhead"/></marker></defs>')]
    for u, v, points in layout.edges:
        parts.append(f'<path class="edge" data-from="{escape(u)}" data-to="{escape(v)}" '
                     f'd="{_path(points, layout.vertical)}" marker-end="url(#arrow)"/>')
    for name, (x, y) in sorted(layout.boxes.items()):
        node = nodes[name]
        hit = ' data-cache="hit"' if node.cache_hit else ""
        caption = f"{node.type} · {node.status}" + (" · cached" if node.cache_hit else "")
        branch = f" ({node.branch} branch)" if node.branch else ""
        inner = (f'<title>{escape(name)}{escape(branch)}: {escape(caption)}</title>'
                 f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="8"/>'
                 f'<text class="name" x="{x + 12}" y="{y + 21}">{escape(_short(name))}</text>'
                 f'<text class="caption" x="{x + 12}" y="{y + 39}">{escape(_short(caption, 30))}</text>')
        attributes = f'class="step" data-step="{escape(name)}" data-status="{escape(node.status)}"{hit}'
        if interactive:
            href = escape(node.href)
            parts.append(f'<a {attributes} href="{href}" hx-get="{href}&amp;fragment=1" hx-target="{target}" '
                         f'hx-swap="innerHTML" hx-push-url="{href}">{inner}</a>')
        else:
            parts.append(f'<g {attributes}>{inner}</g>')
    parts.append("</svg>")
    return Markup("".join(parts))


# --- charts ------------------------------------------------------------------------------------

@dataclass
class Series:
    name: str
    points: list[tuple[float, float]]      # (x, y), x ascending


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (1, 2, 5 x 10^n steps)."""
    if not math.isfinite(low) or not math.isfinite(high):
        return []
    if high == low:
        return [low]
    raw = (high - low) / max(1, count)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    ticks, value = [], first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


def _label(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1e5 or abs(value) < 1e-3:
        return f"{value:.2e}"
    return f"{value:.4g}"


def line_chart(series: Sequence[Series], *, title: str, x_label: str, width: int = 560, height: int = 240,
               marks: int = 400, highlight: int | None = None, threshold: float | None = None) -> Markup:
    """Overlaid lines, one per series, with every point in the polyline (`data-points` counts them);
    points are also drawn as dots while a series has at most `marks` of them. `highlight` rings one
    point (index into the first series), e.g. the best trial; `threshold` draws a dashed horizontal line
    (an alarm's threshold), kept inside the plotted range."""
    left, right, top, bottom = 64, 16, 28, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    xs = [x for s in series for x, _ in s.points]
    ys = [y for s in series for _, y in s.points]
    parts = [(f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
              f'role="img" aria-label="{escape(title)}" data-title="{escape(title)}">'),
             f'<text class="title" x="{left}" y="18">{escape(title)}</text>']
    if not xs:
        parts.append(f'<text class="empty" x="{left}" y="{top + plot_h / 2}">no points yet</text></svg>')
        return Markup("".join(parts))
    x0, x1 = min(xs), max(xs)
    levels = ys + ([threshold] if threshold is not None else [])
    y0, y1 = min(levels), max(levels)
    if x0 == x1:
        x0, x1 = x0 - 1, x1 + 1
    if y0 == y1:
        pad = abs(y0) * 0.05 or 1
        y0, y1 = y0 - pad, y1 + pad

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * plot_w

    def py(y: float) -> float:
        return top + plot_h - (y - y0) / (y1 - y0) * plot_h

    sx, sy, bottom_y = plot_w / (x1 - x0), plot_h / (y1 - y0), top + plot_h
    parts.append(f'<rect class="plot" x="{left}" y="{top}" width="{plot_w}" height="{plot_h}"/>')
    for tick in nice_ticks(y0, y1):
        parts.append(f'<line class="grid" x1="{left}" x2="{left + plot_w}" y1="{py(tick):.1f}" y2="{py(tick):.1f}"/>'
                     f'<text class="tick" x="{left - 6}" y="{py(tick) + 4:.1f}" text-anchor="end">{_label(tick)}</text>')
    for tick in nice_ticks(x0, x1):
        parts.append(f'<text class="tick" x="{px(tick):.1f}" y="{top + plot_h + 16}" '
                     f'text-anchor="middle">{_label(tick)}</text>')
    parts.append(f'<text class="axis" x="{left + plot_w / 2}" y="{height - 6}" '
                 f'text-anchor="middle">{escape(x_label)}</text>')
    for index, s in enumerate(series):
        cls = f"series-{index % 8}"
        # Every point, in whole pixels (a few bytes each: a 20,000-point series stays small).
        coords = " ".join(f"{left + (x - x0) * sx:.0f},{bottom_y - (y - y0) * sy:.0f}" for x, y in s.points)
        parts.append(f'<g class="{cls}" data-series="{escape(s.name)}">'
                     f'<polyline class="line" data-points="{len(s.points)}" points="{coords}"/>')
        if len(s.points) <= marks:
            for x, y in s.points:
                parts.append(f'<circle class="dot" cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.5">'
                             f'<title>{escape(s.name)}: {_label(y)} at {_label(x)}</title></circle>')
        parts.append("</g>")
    if threshold is not None:
        parts.append(f'<line class="threshold" data-threshold="{_label(threshold)}" x1="{left}" x2="{left + plot_w}" '
                     f'y1="{py(threshold):.1f}" y2="{py(threshold):.1f}"><title>threshold {_label(threshold)}</title>'
                     '</line>')
    if highlight is not None and series and 0 <= highlight < len(series[0].points):
        x, y = series[0].points[highlight]
        parts.append(f'<circle class="best" cx="{px(x):.1f}" cy="{py(y):.1f}" r="6"/>')
    if len(series) > 1:
        for index, s in enumerate(series):
            y = top + 4 + index * 14
            parts.append(f'<g class="legend series-{index % 8}"><line class="line" x1="{left + plot_w - 130}" '
                         f'x2="{left + plot_w - 114}" y1="{y + 4}" y2="{y + 4}"/><text x="{left + plot_w - 110}" '
                         f'y="{y + 8}">{escape(_short(s.name, 18))}</text></g>')
    parts.append("</svg>")
    return Markup("".join(parts))
