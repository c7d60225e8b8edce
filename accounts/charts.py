"""Usage charts: report rows turned into the geometry of server-rendered SVG bar charts.

The template (accounts/partials/chart.html) draws what this computes; no script and no style
attribute, so the charts render under `style-src 'self'`, and colours come from CSS classes
(static/css/charts.css), so dark mode recolours them. Coordinates are plain text, never
localized numbers; labels and dates are formatted in the active language.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_CEILING, Decimal

from django.utils.formats import date_format, number_format
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from .money import decimal_text, usd
from .usage import USAGE_FIELDS

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 72, 12, 28, 36  # room for value labels left and day labels below
# A chart of more days than this shows the last MAX_DAYS of its range: a bar under a few
# pixels says nothing and a year of them is a blur.
MAX_DAYS = 92
# Colour classes chart-series-0..7 in charts.css; more models than that reuse them in turn.
PALETTE_SIZE = 8
DAY_LABELS = 7  # at most this many day labels under the axis, so they never overlap
VALUE_TICKS = 4

Number = Decimal | int


@dataclass(frozen=True)
class Series:
    name: str
    colour: int


@dataclass(frozen=True)
class Bar:
    """One rectangle: one series on one day (a stacked bar is one per series that day)."""

    day: date
    series: str
    colour: int
    value: str  # plain decimal text, for tests and data attributes
    title: str  # shown on hover
    x: str
    y: str
    width: str
    height: str


@dataclass(frozen=True)
class Tick:
    position: str
    label: str


@dataclass
class BarChart:
    key: str
    title: str
    unit: str
    days: list[date] = field(default_factory=list)
    series: list[Series] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    value_ticks: list[Tick] = field(default_factory=list)
    day_ticks: list[Tick] = field(default_factory=list)
    baseline: str = ""
    table: list[dict] = field(default_factory=list)
    truncated: bool = False
    width: int = WIDTH
    height: int = HEIGHT
    plot_left: int = LEFT
    plot_right: int = WIDTH - RIGHT
    plot_top: int = TOP
    plot_bottom: int = HEIGHT - BOTTOM

    @property
    def empty(self) -> bool:
        return not self.bars


def _coordinate(value: float) -> str:
    return f"{value:.1f}"


def nice_step(span: Decimal, ticks: int = VALUE_TICKS) -> Decimal:
    """A round step (1, 2, 2.5 or 5 times a power of ten) that covers `span` in about `ticks`."""
    if span <= 0:
        return Decimal(1)
    raw = span / ticks
    power = Decimal(10) ** raw.adjusted()
    for factor in (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10)):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def chart_days(since: date | None, until: date | None, seen: Iterable[date]) -> list[date]:
    """Every day from `since` (or the first day with usage) to `until` (or the last), so a day
    without usage shows as a gap; at most the last MAX_DAYS."""
    seen = sorted(seen)
    first = since or (seen[0] if seen else None)
    last = until or (seen[-1] if seen else None)
    if first is None or last is None or first > last:
        return []
    first = max(first, last - timedelta(days=MAX_DAYS - 1))
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def bar_chart(
    *,
    key: str,
    title: str,
    unit: str,
    days: list[date],
    values: Mapping[tuple[date, str], Number],
    fmt: Callable[[Number], str],
    truncated: bool = False,
    least_step: Decimal = Decimal(0),
) -> BarChart:
    """Stacked bars, one per day, one segment per series (positives up, negatives down)."""
    chart = BarChart(key=key, title=title, unit=unit, days=days, truncated=truncated)
    in_range = set(days)
    shown = {(day, name): v for (day, name), v in values.items() if day in in_range and v}
    totals: dict[str, Number] = {}
    for (_day, name), value in shown.items():
        totals[name] = totals.get(name, 0) + abs(value)
    names = sorted(totals, key=lambda name: (-totals[name], name))
    chart.series = [Series(name, n % PALETTE_SIZE) for n, name in enumerate(names)]
    if not shown:
        return chart
    high = max(Decimal(0), *(_stack(shown, day, names, positive=True) for day in days))
    low = min(Decimal(0), *(-_stack(shown, day, names, positive=False) for day in days))
    step = nice_step(high - low)
    if least_step:
        # Whole tokens: a step of 2.5 would label 2 and 5 as "2" and "5" but draw 2.5 and 5.
        step = _ceil_to(step, least_step)
    top = _ceil_to(high, step)
    bottom = -_ceil_to(-low, step)
    height = chart.plot_bottom - chart.plot_top

    def y_of(value: Number) -> float:
        return chart.plot_top + float((top - Decimal(value)) / (top - bottom)) * height

    _value_ticks(chart, bottom, top, step, y_of, fmt)
    slot = (chart.plot_right - chart.plot_left) / len(days)
    every = -(-len(days) // DAY_LABELS)
    for n, day in enumerate(days):
        middle = chart.plot_left + slot * (n + 0.5)
        if n % every == 0:
            chart.day_ticks.append(Tick(_coordinate(middle), axis_day(day)))
        _stack_bars(chart, shown, day, names, middle, slot * 0.7, y_of, fmt)
        row = [fmt(shown[(day, name)]) if (day, name) in shown else "" for name in names]
        if any(row):
            total = sum((shown.get((day, name), 0) for name in names), Decimal(0))
            chart.table.append({"day": day, "cells": row, "total": fmt(total)})
    return chart


def _value_ticks(chart: BarChart, bottom, top, step, y_of, fmt) -> None:
    tick = bottom
    while tick <= top:
        chart.value_ticks.append(Tick(_coordinate(y_of(tick)), fmt(tick)))
        tick += step
    chart.baseline = _coordinate(y_of(0))


def _stack(shown: Mapping, day: date, names: list[str], *, positive: bool) -> Decimal:
    values = (shown.get((day, name), 0) for name in names)
    return sum((abs(v) for v in values if (v > 0) == positive and v), Decimal(0))


def _ceil_to(value: Decimal, step: Decimal) -> Decimal:
    """`value` rounded up to a whole number of steps (a step at least, when above 0)."""
    steps = (value / step).to_integral_value(rounding=ROUND_CEILING)
    return max(steps, Decimal(1) if value > 0 else Decimal(0)) * step


def _stack_bars(chart: BarChart, shown, day, names, middle, width, y_of, fmt) -> None:
    up, down = Decimal(0), Decimal(0)
    for series in chart.series:
        value = shown.get((day, series.name))
        if not value:
            continue
        if value > 0:
            start, up = up, up + Decimal(value)
            y1, y2 = y_of(up), y_of(start)
        else:
            start, down = down, down + Decimal(value)
            y1, y2 = y_of(start), y_of(down)
        label = _("%(day)s · %(series)s: %(value)s") % {
            "day": date_format(day, "DATE_FORMAT"),
            "series": series.name,
            "value": fmt(value),
        }
        chart.bars.append(
            Bar(
                day=day,
                series=series.name,
                colour=series.colour,
                value=decimal_text(Decimal(value)),
                title=label,
                x=_coordinate(middle - width / 2),
                y=_coordinate(y1),
                width=_coordinate(width),
                height=_coordinate(max(y2 - y1, 0.5)),  # the smallest charge still shows
            )
        )


def axis_day(day: date) -> str:
    """A day under the axis, short, in the active language's order ("Dec 3", "12月3日")."""
    # Translators: a PHP-style date format (Django's `date` filter) for a chart's day labels.
    return date_format(day, pgettext("chart day label", "M j"))


def tokens_text(value: Number) -> str:
    return number_format(value, decimal_pos=0, use_l10n=True, force_grouping=True)


def usage_charts(
    rows: Iterable[dict], *, since: date | None = None, until: date | None = None
) -> list[BarChart]:
    """Spend and tokens per day by model, and what caching saved per day, from `usage_rows`
    grouped by ("day", "model") with savings, over the range `since` to `until`."""
    rows = list(rows)
    savings: dict[date, Decimal] = {}
    for row in rows:
        savings[row["day"]] = savings.get(row["day"], Decimal(0)) + row["caching_saved"]
    every_day = chart_days(since, until, [*(row["day"] for row in rows), *savings])
    seen_from = min([row["day"] for row in rows] + list(savings), default=None)
    truncated = bool(every_day) and seen_from is not None and seen_from < every_day[0]
    spend = {(row["day"], row["model"] or "-"): row["cost_usd"] for row in rows}
    tokens = {(row["day"], row["model"] or "-"): sum(row[f] for f in USAGE_FIELDS) for row in rows}
    saved_name = _("Saved by prompt caching")
    saved = {(day, saved_name): value for day, value in savings.items()}
    common = {"days": every_day, "truncated": truncated}
    return [
        bar_chart(
            key="spend",
            title=_("Spend per day, by model"),
            unit=_("USD"),
            values=spend,
            fmt=usd,
            **common,
        ),
        bar_chart(
            key="tokens",
            title=_("Tokens per day, by model"),
            unit=_("Tokens"),
            values=tokens,
            fmt=tokens_text,
            least_step=Decimal(1),
            **common,
        ),
        bar_chart(
            key="caching",
            title=_("Saved by prompt caching, per day"),
            unit=_("USD"),
            values=saved,
            fmt=usd,
            **common,
        ),
    ]
