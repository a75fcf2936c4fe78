"""Charts drawn on the server as inline SVG: no script, no downloaded asset, legible in a screenshot.

Each chart is an ``<svg role="img">`` named by its ``<title>`` and summarised by its ``<desc>``
for screen readers, with its numbers written next to the bars; the page puts the same figures
in a table beside it. Colours come from presentation attributes, which the ``.chart`` classes of
app.css refine; no ``style`` attribute is used.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 680
FONT = 12
BRAND = "#1f4e79"
ALT = "#8fb3d9"
LINE = "#c2410c"
INK = "#1c2430"
SOFT = "#4a5565"
GRID = "#e9edf2"
AXIS = "#b8c1cc"


@dataclass(frozen=True)
class Series:
    """One set of bars: its name (legend) and one value per category (None: no value)."""

    name: str
    values: Sequence[float | None]
    fill: str = BRAND
    css: str = "chart__bar"


def text_width(text: str, size: float = FONT) -> float:
    """An estimate of the drawn width: full-width (CJK) characters are one em, others about half."""
    return sum(size if unicodedata.east_asian_width(ch) in ("W", "F") else size * 0.58 for ch in text)


def _fmt(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def _ticks(maximum: float, count: int = 4) -> list[float]:
    """Round tick values from 0 to at least ``maximum``: steps of 1, 2 or 5 times a power of ten."""
    if maximum <= 0:
        return [0.0, 1.0]
    raw = maximum / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    if maximum >= 1 and step < 1:
        step = 1.0
    top = math.ceil(maximum / step - 1e-9) * step
    n = round(top / step)
    return [i * step for i in range(n + 1)]


def _svg(chart_id: str, title: str, desc: str, height: float, body: list[str]) -> Markup:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{escape(chart_id)}" role="img" '
        f'viewBox="0 0 {WIDTH} {math.ceil(height)}" aria-labelledby="{escape(chart_id)}-title '
        f'{escape(chart_id)}-desc" font-size="{FONT}">'
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>'
        f'<desc id="{escape(chart_id)}-desc">{escape(desc)}</desc>'
    )
    return Markup(head + "".join(body) + "</svg>")  # noqa: S704 - every text above is escaped


def _text(
    x: float,
    y: float,
    text: str,
    *,
    anchor: str = "start",
    css: str = "chart__label",
    fill: str | None = None,
    **attrs: str,
) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{escape(v)}"' for k, v in attrs.items())
    fill = fill or (SOFT if css == "chart__value" else INK)
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" class="{css}" fill="{fill}"{extra}>'
        f"{escape(text)}</text>"
    )


def _legend(items: Sequence[tuple[str, str, str]], y: float) -> list[str]:
    """Swatches and names in a row: (name, fill, css class)."""
    out, x = [], 8.0
    for name, fill, css in items:
        out.append(f'<rect x="{x:.1f}" y="{y - 10:.1f}" width="12" height="12" fill="{fill}" class="{css}"/>')
        out.append(_text(x + 17, y, name))
        x += 17 + text_width(name) + 20
    return out


def bar_chart(
    *,
    chart_id: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[Series],
    value_text: Callable[[float], str] = _fmt,
    empty_text: str = "—",
) -> Markup:
    """Horizontal bars, one group per category, one bar per series, each with its value written."""
    legend = len(series) > 1
    top = 30.0 if legend else 6.0
    label_w = min(230.0, max((text_width(lb) for lb in labels), default=0) + 14)
    value_w = 76.0
    plot_x = label_w
    plot_w = WIDTH - label_w - value_w - 6
    bar_h, bar_gap, group_gap = 16.0, 3.0, 12.0
    group_h = len(series) * (bar_h + bar_gap) - bar_gap + group_gap
    height = top + len(labels) * group_h + 22
    values = [v for sr in series for v in sr.values if v is not None]
    ticks = _ticks(max(values, default=0))
    scale = plot_w / ticks[-1]
    body: list[str] = []
    if legend:
        body += _legend([(sr.name, sr.fill, sr.css) for sr in series], 16)
    axis_y = top + len(labels) * group_h
    for t in ticks:
        x = plot_x + t * scale
        body.append(
            f'<line x1="{x:.1f}" y1="{top - 4:.1f}" x2="{x:.1f}" y2="{axis_y:.1f}" stroke="{GRID}" class="chart__grid"/>'
        )
        body.append(_text(x, axis_y + 15, _fmt(t), anchor="middle", css="chart__value"))
    for i, lb in enumerate(labels):
        y0 = top + i * group_h
        body.append(_text(plot_x - 8, y0 + (group_h - group_gap) / 2 + 4, lb, anchor="end"))
        for j, sr in enumerate(series):
            v = sr.values[i]
            y = y0 + j * (bar_h + bar_gap)
            shown = empty_text if v is None else value_text(v)
            w = 0.0 if v is None else max(v * scale, 0.0)
            body.append(
                f'<rect x="{plot_x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{bar_h:.1f}" '
                f'fill="{sr.fill}" class="{sr.css}"><title>{escape(lb)} · {escape(sr.name)}: '
                f"{escape(shown)}</title></rect>"
            )
            body.append(_text(plot_x + w + 5, y + bar_h - 4, shown, css="chart__value"))
    body.append(
        f'<line x1="{plot_x:.1f}" y1="{top - 4:.1f}" x2="{plot_x:.1f}" y2="{axis_y:.1f}" stroke="{AXIS}" class="chart__axis"/>'
    )
    return _svg(chart_id, title, desc, height, body)


def column_chart(
    *,
    chart_id: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    values: Sequence[float],
    series_name: str,
    value_text: Callable[[float], str] = _fmt,
    line: Sequence[float] | None = None,
    line_name: str = "",
) -> Markup:
    """Vertical columns; with ``line`` (percentages, 0–100, on the right axis) a Pareto chart."""
    left, right = 46.0, (46.0 if line is not None else 14.0)
    top = 40.0 if line is not None else 22.0
    plot_w = WIDTH - left - right
    col_w = plot_w / max(len(labels), 1)
    widest = max((text_width(lb) for lb in labels), default=0)
    rotate = widest > col_w - 6
    bottom = min(150.0, widest * 0.62 + 26) if rotate else 26.0
    plot_h = 200.0
    height = top + plot_h + bottom
    ticks = _ticks(max(values, default=0))
    scale = plot_h / ticks[-1]
    base = top + plot_h
    body: list[str] = []
    if line is not None:
        body += _legend([(series_name, BRAND, "chart__bar"), (line_name, LINE, "chart__dot")], 16)
    for t in ticks:
        y = base - t * scale
        body.append(
            f'<line x1="{left:.1f}" y1="{y:.1f}" x2="{left + plot_w:.1f}" y2="{y:.1f}" stroke="{GRID}" class="chart__grid"/>'
        )
        body.append(_text(left - 6, y + 4, _fmt(t), anchor="end", css="chart__value"))
    if line is not None:
        for pct in (0, 25, 50, 75, 100):
            y = base - pct / 100 * plot_h
            body.append(_text(left + plot_w + 6, y + 4, f"{pct}%", css="chart__value"))
    for i, (lb, v) in enumerate(zip(labels, values, strict=True)):
        cx = left + col_w * (i + 0.5)
        w = min(col_w * 0.62, 64.0)
        h = max(v * scale, 0.0)
        shown = value_text(v)
        body.append(
            f'<rect x="{cx - w / 2:.1f}" y="{base - h:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{BRAND}" '
            f'class="chart__bar"><title>{escape(lb)}: {escape(shown)}</title></rect>'
        )
        if h >= 20:  # inside the column, at its foot: clear of a cumulative line's labels
            body.append(_text(cx, base - 6, shown, anchor="middle", css="chart__value-in", fill="#ffffff"))
        else:
            body.append(_text(cx, base - h - 5, shown, anchor="middle", css="chart__value"))
        if rotate:
            body.append(
                _text(
                    cx + 4, base + 14, lb, anchor="end", transform=f"rotate(-35 {cx + 4:.1f} {base + 14:.1f})"
                )
            )
        else:
            body.append(_text(cx, base + 17, lb, anchor="middle"))
    body.append(
        f'<line x1="{left:.1f}" y1="{base:.1f}" x2="{left + plot_w:.1f}" y2="{base:.1f}" stroke="{AXIS}" class="chart__axis"/>'
    )
    if line is not None and line:
        points = [(left + col_w * (i + 0.5), base - pct / 100 * plot_h) for i, pct in enumerate(line)]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        body.append(
            f'<polyline points="{path}" fill="none" stroke="{LINE}" stroke-width="2" class="chart__line"/>'
        )
        for (x, y), pct, lb in zip(points, line, labels, strict=True):
            body.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{LINE}" class="chart__dot">'
                f"<title>{escape(lb)} · {escape(line_name)}: {pct:.1f}%</title></circle>"
            )
            body.append(
                _text(
                    x,
                    y - 8,
                    f"{pct:.0f}%",
                    anchor="middle",
                    css="chart__line-label",
                    fill=LINE,
                    stroke="#ffffff",
                    stroke_width="3",
                    paint_order="stroke",
                )
            )
    return _svg(chart_id, title, desc, height, body)
