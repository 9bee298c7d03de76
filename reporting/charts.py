"""Server-side SVG charts shared by the dashboard and the executive report.

Every chart is a pure function from plain values to an inline ``<svg>``
string (marked safe; every label is escaped here). No JavaScript, no external
file, no network: the same markup is embedded in the HTML pages and rendered
by WeasyPrint into the PDF, so both show the same picture.

Charts
------
- :func:`progress_by_category` -- horizontal bars of weighted progress with
  the expected (planned) progress as a tick.
- :func:`risk_heat_map` -- the 5x5 probability x impact matrix with counts.
- :func:`gantt` -- milestone bars, dependency connectors, the critical path
  highlighted and a today line.
- :func:`burn_up` -- completed milestones over time against the plan.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from html import escape as _html_escape
from typing import overload

from django.utils.safestring import SafeString, mark_safe

# Severity colours of DESIGN.md (Critical red, High orange, Medium yellow,
# Low green), chosen dark enough for white text where text sits on them.
SEVERITY_COLOURS = {
    "critical": "#c62828",
    "high": "#ef6c00",
    "medium": "#f9c623",
    "low": "#43a047",
}
STATUS_COLOURS = {
    "not_started": "#9e9e9e",
    "in_progress": "#1e88e5",
    "on_track": "#43a047",
    "at_risk": "#fb8c00",
    "delayed": "#e53935",
    "pending_validation": "#8e24aa",
    "completed": "#2e7d32",
    "cancelled": "#bdbdbd",
    # The one status of reporting.status (category bars).
    "green": "#43a047",
    "amber": "#fb8c00",
    "red": "#e53935",
    "no_data": "#9e9e9e",
}
INK = "#263238"
MUTED = "#78909c"
GRID = "#e0e0e0"
CRITICAL = "#c62828"
TODAY = "#d81b60"
FONT = "DejaVu Sans, Liberation Sans, Arial, sans-serif"


# --------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class CategoryBar:
    """One category: its progress and, if known, where the plan expects it."""

    label: str
    progress: float  # 0..100
    expected: float | None = None  # 0..100
    weight: float | None = None
    status: str | None = None  # a Status value, colours the bar


@dataclass(frozen=True)
class HeatCell:
    """One cell of the risk matrix: probability and impact 1..5."""

    probability: int
    impact: int
    count: int
    severity: str  # critical, high, medium, low


@dataclass(frozen=True)
class GanttRow:
    """One milestone on the timeline (dates outside ``CHART_FLOOR`` ..
    ``CHART_CEILING`` are drawn at the edge)."""

    id: int
    label: str
    start: date
    finish: date
    forecast: date | None = None
    percent: float = 0.0
    status: str = "not_started"
    critical: bool = False
    href: str | None = None


@dataclass(frozen=True)
class GanttLink:
    predecessor: int
    successor: int
    type: str = "FS"


# --------------------------------------------------------------------------
# SVG helpers
# --------------------------------------------------------------------------


def escape(value: object) -> str:
    """HTML-escaped text (``& < > " '``, as Django's ``escape``), without its
    safe-string machinery: a chart escapes hundreds of values."""
    return _html_escape(str(value), quote=True)


def _n(value: float) -> str:
    """A coordinate: short and deterministic."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _attrs(attrs: Mapping[str, object]) -> str:
    parts = []
    for key, value in attrs.items():
        if value is None:
            continue
        if isinstance(value, float):
            value = _n(value)
        parts.append(f'{key.rstrip("_").replace("_", "-")}="{escape(str(value))}"')
    return " ".join(parts)


def _el(tag: str, body: str = "", **attrs: object) -> str:
    attributes = _attrs(attrs)
    if body:
        return f"<{tag} {attributes}>{body}</{tag}>"
    return f"<{tag} {attributes}/>"


def _text(x: float, y: float, text: str, **attrs: object) -> str:
    attrs.setdefault("font_size", 11)
    attrs.setdefault("fill", INK)
    return _el("text", escape(text), x=float(x), y=float(y), **attrs)


def _svg(width: float, height: float, title: str, body: Iterable[str]) -> SafeString:
    content = "".join(body)
    return mark_safe(  # noqa: S308 - every value above went through escape()
        f'<svg xmlns="http://www.w3.org/2000/svg" class="cairn-chart" '
        f'viewBox="0 0 {_n(width)} {_n(height)}" width="{_n(width)}" '
        f'height="{_n(height)}" role="img" aria-label="{escape(title)}" '
        f'font-family="{FONT}"><title>{escape(title)}</title>{content}</svg>'
    )


def _clip(label: str, limit: int) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _empty(width: float, height: float, title: str, message: str) -> SafeString:
    return _svg(
        width,
        height,
        title,
        [
            _el(
                "rect",
                x=0.5,
                y=0.5,
                width=width - 1,
                height=height - 1,
                fill="#fafafa",
                stroke=GRID,
            ),
            _text(width / 2, height / 2, message, text_anchor="middle", fill=MUTED),
        ],
    )


# --------------------------------------------------------------------------
# Progress by category
# --------------------------------------------------------------------------


def progress_by_category(
    bars: Sequence[CategoryBar], *, title: str = "Progress by category"
) -> SafeString:
    """Horizontal bars (0-100 %), the expected progress as a dark tick."""
    width, label_w, row_h, top = 640.0, 190.0, 30.0, 26.0
    plot_w = width - label_w - 60
    height = top + row_h * max(len(bars), 1) + 26
    if not bars:
        return _empty(width, 80, title, "No categories")
    out = []
    for pct in (0, 25, 50, 75, 100):
        x = label_w + plot_w * pct / 100
        out.append(_el("line", x1=x, y1=top - 6, x2=x, y2=height - 22, stroke=GRID))
        out.append(
            _text(
                x, height - 8, f"{pct}%", font_size=9, fill=MUTED, text_anchor="middle"
            )
        )
    out.append(_text(label_w, 14, "weighted progress", font_size=9, fill=MUTED))
    for i, bar in enumerate(bars):
        y = top + i * row_h
        progress = max(0.0, min(100.0, float(bar.progress)))
        colour = STATUS_COLOURS.get(bar.status or "", "#1e88e5")
        label = bar.label if bar.weight is None else f"{bar.label} ({bar.weight:g}%)"
        out.append(_text(label_w - 8, y + 15, _clip(label, 30), text_anchor="end"))
        out.append(
            _el("rect", x=label_w, y=y + 4, width=plot_w, height=16, fill="#f1f3f4")
        )
        out.append(
            _el(
                "rect",
                x=label_w,
                y=y + 4,
                width=plot_w * progress / 100,
                height=16,
                fill=colour,
            )
        )
        if bar.expected is not None:
            ex = label_w + plot_w * max(0.0, min(100.0, float(bar.expected))) / 100
            out.append(
                _el(
                    "line",
                    x1=ex,
                    y1=y + 1,
                    x2=ex,
                    y2=y + 23,
                    stroke=INK,
                    stroke_width=2,
                )
            )
        out.append(_text(label_w + plot_w + 6, y + 16, f"{progress:.1f}%"))
    return _svg(width, height, title, out)


# --------------------------------------------------------------------------
# Risk heat map
# --------------------------------------------------------------------------

IMPACT_LABELS = ("Minimal", "Minor", "Moderate", "Major", "Severe")
PROBABILITY_LABELS = ("Rare", "Unlikely", "Possible", "Likely", "Almost certain")


def risk_heat_map(
    cells: Iterable[HeatCell],
    *,
    severity_of: Callable[[int], str] | None = None,
    title: str = "Risk heat map (probability × impact)",
) -> SafeString:
    """The 5x5 matrix: impact across, probability up, open risks counted.

    Cells missing from ``cells`` are drawn empty, coloured by
    ``severity_of(probability * impact)`` when given.
    """
    by_cell = {(c.probability, c.impact): c for c in cells}
    size, left, top = 58.0, 118.0, 14.0
    width = left + size * 5 + 12
    height = top + size * 5 + 48
    out = []
    for p in range(1, 6):
        y = top + (5 - p) * size
        out.append(
            _text(
                left - 8,
                y + size / 2 + 4,
                f"{p} {PROBABILITY_LABELS[p - 1]}",
                text_anchor="end",
                font_size=10,
            )
        )
        for i in range(1, 6):
            x = left + (i - 1) * size
            cell = by_cell.get((p, i))
            severity = cell.severity if cell else None
            if severity is None and severity_of is not None:
                severity = severity_of(p * i)
            fill = SEVERITY_COLOURS.get(severity or "", "#eeeeee")
            count = cell.count if cell else 0
            out.append(
                _el(
                    "rect",
                    x=x,
                    y=y,
                    width=size,
                    height=size,
                    fill=fill,
                    fill_opacity=1.0 if count else 0.35,
                    stroke="#ffffff",
                    stroke_width=2,
                )
            )
            if count:
                out.append(
                    _text(
                        x + size / 2,
                        y + size / 2 + 6,
                        str(count),
                        text_anchor="middle",
                        font_size=17,
                        font_weight="bold",
                        fill="#ffffff" if severity != "medium" else INK,
                    )
                )
    for i in range(1, 6):
        x = left + (i - 1) * size + size / 2
        out.append(_text(x, top + 5 * size + 14, str(i), text_anchor="middle"))
        out.append(
            _text(
                x,
                top + 5 * size + 26,
                IMPACT_LABELS[i - 1],
                text_anchor="middle",
                font_size=8,
                fill=MUTED,
            )
        )
    out.append(
        _text(
            left + size * 2.5,
            height - 4,
            "impact →",
            text_anchor="middle",
            font_size=10,
            fill=MUTED,
        )
    )
    out.append(_text(4, top + 8, "probability ↑", font_size=10, fill=MUTED))
    return _svg(width, height, title, out)


# --------------------------------------------------------------------------
# Gantt timeline
# --------------------------------------------------------------------------


def _month_ticks(start: date, end: date) -> list[date]:
    months = (end.year - start.year) * 12 + end.month - start.month
    step = 1 if months <= 14 else 3 if months <= 40 else 6
    day = date(start.year, start.month, 1)
    ticks = []
    while day <= end:
        if day >= start and (day.month - 1) % step == 0:
            ticks.append(day)
        day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return ticks


#: The dates a chart draws: a stored 9999-12-31 (or 0001-01-01) is drawn at
#: the edge rather than overflowing the axis arithmetic.
CHART_FLOOR = date(1900, 1, 1)
CHART_CEILING = date(2199, 12, 31)


@overload
def _on_axis(day: date) -> date: ...
@overload
def _on_axis(day: None) -> None: ...
@overload
def _on_axis(day: date | None) -> date | None: ...
def _on_axis(day: date | None) -> date | None:
    return None if day is None else min(max(day, CHART_FLOOR), CHART_CEILING)


def _gantt_bar(row: GanttRow, y: float, row_h: float, label_w: float, x_of):
    """The label, the planned bar (filled to the percent) and the hatched
    extension to a later scheduled finish of one timeline row."""
    parts: list[str] = []
    label = _clip(row.label, 34)
    label_el = _text(
        label_w - 6,
        y + 14,
        label,
        text_anchor="end",
        font_size=10,
        fill=CRITICAL if row.critical else INK,
        font_weight="bold" if row.critical else None,
    )
    if row.href:
        label_el = f'<a href="{escape(row.href)}">{label_el}</a>'
    parts.append(label_el)
    x0, x1 = x_of(row.start), x_of(row.finish)
    bar_w = max(x1 - x0, 2.0)
    colour = STATUS_COLOURS.get(row.status, "#1e88e5")
    if row.forecast and row.forecast > row.finish:
        parts.append(
            _el(
                "rect",
                x=x1,
                y=y + 5,
                width=x_of(row.forecast) - x1,
                height=10,
                fill="url(#cairn-forecast)",
            )
        )
    parts.append(
        _el(
            "rect",
            x=x0,
            y=y + 4,
            width=bar_w,
            height=12,
            fill="#ffffff",
            stroke=CRITICAL if row.critical else colour,
            stroke_width=2 if row.critical else 1,
            rx=2,
        )
    )
    done = bar_w * max(0.0, min(100.0, float(row.percent))) / 100
    if done > 0:
        parts.append(
            _el("rect", x=x0, y=y + 4, width=done, height=12, fill=colour, rx=2)
        )
    return parts


def gantt(
    rows: Sequence[GanttRow],
    links: Iterable[GanttLink] = (),
    *,
    today: date,
    title: str = "Milestone timeline",
    note: str = "",
) -> SafeString:
    """Bars from start to planned finish (filled to the percent complete), a
    hatched extension to a later forecast, connectors for dependencies, the
    critical path in red and a vertical line today."""
    width, label_w, row_h, top = 900.0, 230.0, 20.0, 34.0
    if not rows:
        return _empty(width, 80, title, "No milestones to show")
    originals = {r.id: r for r in rows}
    rows = [
        replace(
            r,
            start=_on_axis(r.start),
            finish=_on_axis(r.finish),
            forecast=_on_axis(r.forecast),
        )
        for r in rows
    ]
    today = _on_axis(today)
    plot_w = width - label_w - 16
    first = min(min(r.start for r in rows), today) - timedelta(days=7)
    last = max(max(max(r.finish, r.forecast or r.finish) for r in rows), today)
    last += timedelta(days=7)
    span = max((last - first).days, 1)
    height = top + row_h * len(rows) + (22 if note else 10)

    def x_of(day: date) -> float:
        return label_w + plot_w * (day - first).days / span

    out = [
        "<defs>"
        '<pattern id="cairn-forecast" width="6" height="6" '
        'patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
        f'<rect width="6" height="6" fill="#ffe0b2"/>'
        f'<line x1="0" y1="0" x2="0" y2="6" stroke="{TODAY}" stroke-width="2"/>'
        "</pattern></defs>"
    ]
    for tick in _month_ticks(first, last):
        x = x_of(tick)
        out.append(
            _el(
                "line", x1=x, y1=top - 14, x2=x, y2=top + row_h * len(rows), stroke=GRID
            )
        )
        out.append(
            _text(x + 3, top - 18, tick.strftime("%b %Y"), font_size=9, fill=MUTED)
        )
    index = {row.id: i for i, row in enumerate(rows)}
    for i, row in enumerate(rows):
        y = top + i * row_h
        if i % 2:
            out.append(_el("rect", x=0, y=y, width=width, height=row_h, fill="#fafafa"))
        # Each row names its milestone and its scheduled finish (the one the
        # schedule page and the API give), for assistive tools and checks.
        scheduled = originals[row.id].forecast or originals[row.id].finish
        out.append(
            _el(
                "g",
                "".join(_gantt_bar(row, y, row_h, label_w, x_of)),
                data_timeline_row=row.id,
                data_scheduled_finish=scheduled.isoformat(),
                data_critical="true" if row.critical else "false",
            )
        )
    for link in links:
        if link.predecessor not in index or link.successor not in index:
            continue
        p, s = rows[index[link.predecessor]], rows[index[link.successor]]
        from_x = x_of(p.start if link.type in ("SS", "SF") else p.finish)
        to_x = x_of(s.finish if link.type in ("FF", "SF") else s.start)
        y1 = top + index[link.predecessor] * row_h + row_h / 2
        y2 = top + index[link.successor] * row_h + row_h / 2
        colour = CRITICAL if p.critical and s.critical else MUTED
        mid = max(from_x + 4, to_x - 6) if to_x >= from_x + 10 else from_x + 4
        direction = 1 if y2 >= y1 else -1
        end_y = y2 - 7 * direction if mid == from_x + 4 and to_x < mid else y2
        points = [(from_x, y1), (mid, y1), (mid, end_y)]
        if end_y == y2:
            points.append((to_x - 4, y2))
            head = f"{_n(to_x)},{_n(y2)} {_n(to_x - 5)},{_n(y2 - 3)} " + (
                f"{_n(to_x - 5)},{_n(y2 + 3)}"
            )
        else:
            head = (
                f"{_n(mid)},{_n(end_y + 4 * direction)} {_n(mid - 3)},{_n(end_y)} "
                f"{_n(mid + 3)},{_n(end_y)}"
            )
        out.append(
            _el(
                "polyline",
                points=" ".join(f"{_n(a)},{_n(b)}" for a, b in points),
                fill="none",
                stroke=colour,
                stroke_width=1.2,
            )
        )
        out.append(_el("polygon", points=head, fill=colour))
    tx = x_of(today)
    out.append(
        _el(
            "line",
            x1=tx,
            y1=top - 8,
            x2=tx,
            y2=top + row_h * len(rows),
            stroke=TODAY,
            stroke_width=1.5,
            stroke_dasharray="4 3",
        )
    )
    out.append(
        _text(
            tx,
            top - 4,
            f"today {today:%d %b}",
            font_size=9,
            fill=TODAY,
            text_anchor="middle",
        )
    )
    if note:
        out.append(_text(4, height - 6, note, font_size=9, fill=MUTED))
    return _svg(width, height, title, out)


# --------------------------------------------------------------------------
# Burn-up
# --------------------------------------------------------------------------


def burn_up(
    completed: Sequence[tuple[date, int]],
    planned: Sequence[tuple[date, int]],
    *,
    total: int,
    today: date,
    title: str = "Completed milestones over time",
) -> SafeString:
    """Cumulative completed milestones (solid) against the cumulative planned
    completions (dashed), with the scope (total) as a line on top.

    Both series are ``(day, cumulative count)`` in date order; each is drawn
    as a step line starting from zero.
    """
    width, left, top, bottom, right = 640.0, 44.0, 18.0, 40.0, 16.0
    height = 240.0
    completed = [(_on_axis(d), n) for d, n in completed]
    planned = [(_on_axis(d), n) for d, n in planned]
    today = _on_axis(today)
    days = [d for d, _ in completed] + [d for d, _ in planned]
    if not days or total <= 0:
        return _empty(width, 80, title, "No milestones yet")
    first = min(*days, today)
    last = max(*days, today)
    span = max((last - first).days, 1)
    plot_w, plot_h = width - left - right, height - top - bottom
    ceiling = max(total, max((n for _, n in completed), default=0), 1)

    def x_of(day: date) -> float:
        return left + plot_w * (day - first).days / span

    def y_of(count: float) -> float:
        return top + plot_h * (1 - count / ceiling)

    out = []
    step = max(1, round(ceiling / 5))
    for value in range(0, ceiling + 1, step):
        y = y_of(value)
        out.append(_el("line", x1=left, y1=y, x2=width - right, y2=y, stroke=GRID))
        out.append(
            _text(
                left - 6, y + 3, str(value), font_size=9, fill=MUTED, text_anchor="end"
            )
        )
    for tick in _month_ticks(first, last):
        x = x_of(tick)
        out.append(
            _text(
                x,
                height - bottom + 14,
                tick.strftime("%b %y"),
                font_size=9,
                fill=MUTED,
                text_anchor="middle",
            )
        )
    out.append(
        _el(
            "line",
            x1=left,
            y1=y_of(total),
            x2=width - right,
            y2=y_of(total),
            stroke=INK,
            stroke_dasharray="2 2",
        )
    )
    out.append(
        _text(
            width - right,
            y_of(total) - 4,
            f"scope {total}",
            font_size=9,
            text_anchor="end",
        )
    )

    def steps(series: Sequence[tuple[date, int]], end: date) -> str:
        points = [(x_of(first), y_of(0))]
        level = 0
        for day, count in series:
            points.append((x_of(day), y_of(level)))
            level = count
            points.append((x_of(day), y_of(level)))
        points.append((x_of(end), y_of(level)))
        return " ".join(f"{_n(a)},{_n(b)}" for a, b in points)

    if planned:
        out.append(
            _el(
                "polyline",
                points=steps(planned, last),
                fill="none",
                stroke=MUTED,
                stroke_width=1.5,
                stroke_dasharray="5 3",
            )
        )
    out.append(
        _el(
            "polyline",
            points=steps(completed, min(today, last)),
            fill="none",
            stroke="#2e7d32",
            stroke_width=2.5,
        )
    )
    tx = x_of(today)
    out.append(
        _el(
            "line",
            x1=tx,
            y1=top,
            x2=tx,
            y2=height - bottom,
            stroke=TODAY,
            stroke_dasharray="4 3",
        )
    )
    legend_y = height - 8
    out.append(
        _el(
            "line",
            x1=left,
            y1=legend_y - 4,
            x2=left + 18,
            y2=legend_y - 4,
            stroke="#2e7d32",
            stroke_width=2.5,
        )
    )
    out.append(_text(left + 22, legend_y, "completed", font_size=9))
    out.append(
        _el(
            "line",
            x1=left + 90,
            y1=legend_y - 4,
            x2=left + 108,
            y2=legend_y - 4,
            stroke=MUTED,
            stroke_width=1.5,
            stroke_dasharray="5 3",
        )
    )
    out.append(_text(left + 112, legend_y, "planned", font_size=9))
    out.append(_text(x_of(today) + 3, top + 10, "today", font_size=9, fill=TODAY))
    return _svg(width, height, title, out)
