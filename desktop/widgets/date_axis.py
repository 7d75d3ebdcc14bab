"""A date axis for charts of days, weeks and months: ticks on local calendar dates, labels that
never collide, and a visible span that stays readable from a student's first day to ten years.

pyqtgraph's own DateAxisItem picks the tick level from the visible span alone, so a chart
holding a single day zooms in to seconds ("59.600 … 12:00:00 … 00.399"). Here each x value is a
local calendar day (drawn at that day's local noon, :func:`day_x`), ticks are always whole days,
months or years, and the spacing is chosen from the width a label needs in the axis's font.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import pyqtgraph as pg
from PySide6.QtGui import QFontMetrics

DAY_S = 86400.0
# The least a chart shows, in periods of its own kind: one practice day is a bar among a week
# of days, not a bar the width of the chart.
MIN_PERIODS_SHOWN = 7
PERIOD_DAYS = {"daily": 1.0, "weekly": 7.0, "monthly": 30.44}
# Pixels of air between two tick labels.
LABEL_GAP_PX = 14


def day_x(d: date) -> float:
    """The x value (POSIX seconds) of local day ``d``: its local noon, so a DST change or the
    machine's UTC offset never moves a point onto the neighbouring day."""
    return datetime.combine(d, time(12)).timestamp()


def x_day(x: float) -> date:
    """The local day an x value falls on (inverse of :func:`day_x`)."""
    return datetime.fromtimestamp(x).date()


def period_middle_x(start: date, period_type: str) -> float:
    """Where a period's point or bar goes: the middle of its days (a week's bar covers the
    week it counts, not the week before and after its Monday)."""
    days = PERIOD_DAYS.get(period_type, 1.0)
    return day_x(start) + (days - 1.0) / 2.0 * DAY_S


def bar_width_x(period_type: str) -> float:
    """A bar's width: 80 % of its period, leaving a gap between neighbours."""
    return PERIOD_DAYS.get(period_type, 1.0) * DAY_S * 0.8


def x_range(starts: Sequence[date], period_type: str, today: date) -> tuple[float, float]:
    """The x span a chart of ``starts`` (period start dates) shows: all of them, up to today,
    and at least MIN_PERIODS_SHOWN periods, with half a period of margin either side."""
    days = PERIOD_DAYS.get(period_type, 1.0)
    last = max([*starts, today]) if starts else today
    first = min(starts) if starts else today
    hi = period_middle_x(last, period_type) + 0.6 * days * DAY_S
    lo = period_middle_x(first, period_type) - 0.6 * days * DAY_S
    lo = min(lo, hi - MIN_PERIODS_SHOWN * days * DAY_S)
    return lo, hi


@dataclass(frozen=True)
class TickPlan:
    """One level of ticks: every ``step`` days, months or years."""

    unit: str  # "day", "month" or "year"
    step: int


# From the finest to the coarsest; the finest whose labels fit is used.
TICK_PLANS = (
    TickPlan("day", 1),
    TickPlan("day", 2),
    TickPlan("day", 7),
    TickPlan("day", 14),
    TickPlan("month", 1),
    TickPlan("month", 2),
    TickPlan("month", 3),
    TickPlan("month", 6),
    TickPlan("year", 1),
    TickPlan("year", 2),
    TickPlan("year", 5),
    TickPlan("year", 10),
    TickPlan("year", 25),
)
_APPROX_DAYS = {"day": 1.0, "month": 30.44, "year": 365.25}


def tick_days(lo: date, hi: date, plan: TickPlan) -> list[date]:
    """The tick dates of ``plan`` from ``lo`` to ``hi`` inclusive. Weekly steps fall on
    Mondays (the progress rows' weeks start there), months on the 1st, years on 1 January."""
    out: list[date] = []
    if plan.unit == "day":
        d = lo
        if plan.step == 7 or plan.step == 14:
            d = lo + timedelta(days=(7 - lo.weekday()) % 7)
            if plan.step == 14 and d.isocalendar()[1] % 2:
                d += timedelta(days=7)
        elif plan.step > 1:
            d = lo + timedelta(days=(-lo.toordinal()) % plan.step)
        while d <= hi:
            out.append(d)
            d += timedelta(days=plan.step)
        return out
    if plan.unit == "month":
        index = lo.year * 12 + lo.month - 1
        if lo.day > 1:
            index += 1
        index += (-index) % plan.step
        while True:
            d = date(index // 12, index % 12 + 1, 1)
            if d > hi:
                return out
            out.append(d)
            index += plan.step
    year = lo.year + (1 if (lo.month, lo.day) > (1, 1) else 0)
    year += (-year) % plan.step
    while year <= hi.year:
        out.append(date(year, 1, 1))
        year += plan.step
    return out


def tick_label(d: date, plan: TickPlan, with_year: bool) -> str:
    """A tick's words: "3 Dec" (or "3 Dec 2026" when the chart spans years) for days,
    "Dec 2026" for months, "2026" for years."""
    if plan.unit == "day":
        text = f"{d.day} {d.strftime('%b')}"
        return f"{text} {d.year}" if with_year else text
    if plan.unit == "month":
        return d.strftime("%b %Y")
    return str(d.year)


def choose_plan(
    lo: date, hi: date, width_px: float, label_px: Callable[[TickPlan], float]
) -> TickPlan:
    """The finest tick level whose labels (``label_px(plan)`` wide each) fit in ``width_px``
    with LABEL_GAP_PX between them."""
    span_days = max(1.0, (hi - lo).days + 1.0)
    for plan in TICK_PLANS:
        n = span_days / (_APPROX_DAYS[plan.unit] * plan.step)
        if n <= 1 or width_px / n >= label_px(plan) + LABEL_GAP_PX:
            return plan
    return TICK_PLANS[-1]


class LocalDateAxis(pg.AxisItem):  # type: ignore[misc]  # pyqtgraph is untyped
    """Bottom axis of local calendar days; x values are :func:`day_x` seconds."""

    def __init__(self, orientation: str = "bottom", **kwargs: object) -> None:
        super().__init__(orientation, **kwargs)
        self.enableAutoSIPrefix(False)
        self._plan = TICK_PLANS[0]
        self._with_year = False

    def _label_px(self, plan: TickPlan, with_year: bool) -> float:
        # The widest label of its kind (a two-digit day, a wide month name).
        sample = tick_label(date(2028, 12, 28), plan, with_year and plan.unit == "day")
        font = self.style.get("tickFont") or self.font()
        return float(QFontMetrics(font).horizontalAdvance(sample))

    def tickValues(
        self, minVal: float, maxVal: float, size: float
    ) -> list[tuple[float, list[float]]]:
        if not (maxVal > minVal) or size <= 0:
            return []
        lo, hi = x_day(minVal), x_day(maxVal)
        with_year = lo.year != hi.year
        plan = choose_plan(lo, hi, size, lambda p: self._label_px(p, with_year))
        self._plan = plan
        self._with_year = with_year and plan.unit == "day"
        days = tick_days(lo, hi, plan)
        values = [day_x(d) for d in days]
        values = [v for v in values if minVal <= v <= maxVal]
        return [(_APPROX_DAYS[plan.unit] * plan.step * DAY_S, values)]

    def tickStrings(self, values: Sequence[float], scale: float, spacing: float) -> list[str]:
        return [tick_label(x_day(v), self._plan, self._with_year) for v in values]
