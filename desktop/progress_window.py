"""The progress window: it only draws. One storage function per graph computes each series
(storage.progress), all read in a single database operation off the GUI thread."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
import pyqtgraph.exporters
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.context import AppContext
from desktop.theme import palette_is_dark, style_plot
from desktop.widgets.date_axis import (
    LocalDateAxis,
    bar_width_x,
    period_middle_x,
    x_range,
)

if TYPE_CHECKING:
    from storage.records import UserStats

from desktop.usecases.progress import (
    SCORE_METRICS,
    STAT_WINDOWS_DAYS,
    ProgressData,
    load_progress,
)

# How each score series the use case loads (SCORE_METRICS) is drawn: its label and colour in
# the light and in the dark theme (Overall is the text colour of each: black on black was
# invisible).
SERIES_STYLE: dict[str, tuple[str, tuple[int, int, int], tuple[int, int, int]]] = {
    "avg_overall_score": ("Overall", (40, 40, 40), (235, 235, 235)),
    "avg_pitch_accuracy": ("Pitch", (30, 120, 220), (90, 165, 255)),
    "avg_rhythm_accuracy": ("Rhythm", (46, 170, 90), (80, 200, 120)),
    "avg_dynamics_range": ("Dynamics", (220, 120, 30), (240, 150, 60)),
}
# Fewer points than this get a marker each: a single point draws no line, and a line through
# a handful of points hides which days were measured.
MARKERS_BELOW = 40
EMPTY_SCORES = (
    "Your scores will appear here: record a take while practising (R), and when the session "
    "ends its pitch, rhythm and overall scores are drawn for that day."
)
EMPTY_PRACTICE = (
    "How long you practise each day, week or month will appear here after your first session."
)
EMPTY_INTONATION = (
    "How sharp or flat your most-played notes run will appear here after a few recorded takes."
)
MILESTONE_WORDS = {
    "first_session": "First session",
    "streak_3": "3 days in a row",
    "streak_7": "7 days in a row",
    "streak_30": "30 days in a row",
    "hours_10": "10 hours of practice",
    "hours_50": "50 hours of practice",
    "hours_100": "100 hours of practice",
    "first_pitch_90": "First take with 90 % pitch accuracy",
}


def plural(n: int, word: str) -> str:
    """ "1 day", "2 days", "0 days"."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def practice_time_text(hours: float, sessions: int = 0) -> str:
    """ "12 min" under an hour (a first week reads "0.0 h" otherwise), "3.5 h" above; sessions
    that add up to less than a minute are "under 1 min", not "0 min"."""
    if hours < 1 / 60 and (hours > 0 or sessions > 0):
        return "under 1 min"
    if hours < 1.0:
        return f"{round(hours * 60)} min"
    return f"{hours:.1f} h"


def streak_text(current: int, longest: int) -> str:
    if current == 0 and longest == 0:
        return "No streak yet: practise today to start one"
    if current == 0:
        return f"No streak today: practise to start a new one (longest {plural(longest, 'day')})"
    return f"Streak: {plural(current, 'day')} (longest {plural(longest, 'day')})"


def milestone_lines(milestones: list[tuple[date, str]]) -> list[str]:
    """One line per kind of milestone, most recently reached first. Streaks are reached again by
    every new run of days; listing each time would bury the rest, so repeats are counted."""
    by_kind: dict[str, list[date]] = {}
    for d, key in milestones:
        by_kind.setdefault(key, []).append(d)
    lines = []
    for key, dates in sorted(by_kind.items(), key=lambda kv: max(kv[1]), reverse=True):
        words = MILESTONE_WORDS.get(key, key)
        if len(dates) == 1:
            lines.append(f"{dates[0].isoformat()}  {words}")
        else:
            lines.append(
                f"{max(dates).isoformat()}  {words}: {len(dates)} times, "
                f"first on {min(dates).isoformat()}"
            )
    return lines


class ChartBox(QFrame):
    """A titled pyqtgraph chart with its own "Export PNG…" button, and words in its place
    while it has nothing to draw. The mouse neither zooms nor pans it: a wheel turned while
    scrolling the window zoomed charts with no visible way back, and the charts always show
    the whole history anyway."""

    def __init__(self, title: str, empty_text: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.plot = pg.PlotWidget(axisItems={"bottom": LocalDateAxis()})
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.setMinimumHeight(200)
        # Fixed axis sizes: when the data arrives, new tick labels would otherwise resize the
        # axes, relayout the chart and paint it again (the bulk of a first open's time).
        self.plot.getAxis("left").setWidth(48)
        # "minutes (x0.001)" for a first ten-second session: plain numbers instead.
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.plot.getAxis("bottom").setHeight(32)
        self.title = title
        head = QHBoxLayout()
        label = QLabel(title)
        label.setStyleSheet("font-weight: bold;")
        head.addWidget(label, 1)
        self.export_button = QPushButton("Export PNG…")
        self.export_button.clicked.connect(self._export_dialog)
        head.addWidget(self.export_button)
        self.empty = QLabel(empty_text)
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setMinimumHeight(200)
        self.empty.setContentsMargins(24, 0, 24, 0)
        # A widget, not a bare QStackedLayout: widgets put in a layout that has no parent yet
        # stay parentless, and showing one made it a window of its own that took the focus
        # from the practice window (Space and R stopped working).
        self.stack = QStackedWidget()
        self.stack.addWidget(self.plot)
        self.stack.addWidget(self.empty)
        lay = QVBoxLayout(self)
        lay.addLayout(head)
        lay.addWidget(self.stack, 1)

    def show_empty(self, empty: bool) -> None:
        """Words saying what will appear instead of an empty chart."""
        self.stack.setCurrentWidget(self.empty if empty else self.plot)
        self.export_button.setEnabled(not empty)

    @property
    def is_empty(self) -> bool:
        return self.stack.currentWidget() is self.empty

    def _export_dialog(self) -> None:
        name, _ = QFileDialog.getSaveFileName(
            self, f"Export {self.title}", f"{self.title.lower().replace(' ', '-')}.png", "*.png"
        )
        if name:
            self.export_png(Path(name))

    def export_png(self, path: Path, width: int = 1200) -> Path:
        exporter = pyqtgraph.exporters.ImageExporter(self.plot.getPlotItem())
        exporter.parameters()["width"] = width
        exporter.export(str(path))
        return path


class StatCard(QFrame):
    def __init__(self, days: int, parent: QWidget | None = None):
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.days = days
        self.head = QLabel(f"Last {days} days" if days != 365 else "Last year")
        self.head.setStyleSheet("font-weight: bold;")
        self.body = QLabel("–")
        # Room for its four lines from the start: the text arrives after the first layout, and
        # the charts below would otherwise take the height and clip it.
        self.body.setMinimumHeight(4 * self.body.fontMetrics().lineSpacing() + 2)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        lay = QVBoxLayout(self)
        lay.addWidget(self.head)
        lay.addWidget(self.body)

    def set_stats(self, st: UserStats) -> None:
        overall = "n/a" if st.avg_overall_score is None else f"{100 * st.avg_overall_score:.0f} %"
        self.body.setText(
            f"{plural(st.total_sessions, 'session')}\n"
            f"{practice_time_text(st.total_practice_hours, st.total_sessions)} practised\n"
            f"{plural(st.total_analyses, 'take')} analysed\noverall {overall}"
        )


class ProgressWindow(QWidget):
    """Separate top-level window; ``drawn`` fires once the series are on screen."""

    drawn = Signal()

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle("Etude — progress")
        self.resize(1100, 900)
        self.data: ProgressData | None = None
        self.period = QComboBox()
        for p in ("daily", "weekly", "monthly"):
            self.period.addItem(p, p)
        self.period.setCurrentIndex(1)
        self.period.currentIndexChanged.connect(self.reload)
        self.streak = QLabel("")
        self.streak.setStyleSheet("font-size: 15px; font-weight: bold;")
        self.message = QLabel("")
        head = QHBoxLayout()
        head.addWidget(QLabel("Show per"))
        head.addWidget(self.period)
        head.addWidget(self.streak, 1)
        head.addWidget(self.message)

        cards = QHBoxLayout()
        self.cards = {d: StatCard(d) for d in STAT_WINDOWS_DAYS}
        for c in self.cards.values():
            cards.addWidget(c)

        self.scores = ChartBox("Scores over time", EMPTY_SCORES)
        self.scores.plot.setYRange(0, 1.0)
        self.scores.plot.addLegend(offset=(10, 10))
        self.score_curves = {}
        for metric in SCORE_METRICS:
            label = SERIES_STYLE[metric][0]
            self.score_curves[metric] = self.scores.plot.plot([], [], name=label, connect="finite")
        self.practice = ChartBox("Practice time", EMPTY_PRACTICE)
        self.practice.plot.setLabel("left", "minutes")
        self.practice_bars: pg.BarGraphItem | None = None
        self.intonation = ChartBox("Intonation by note", EMPTY_INTONATION)
        self.intonation.plot.setLabel("left", "cents (+ sharp)")
        self.intonation.plot.addLegend(offset=(10, 10))
        self.milestones = QListWidget()
        self.milestones.setMaximumHeight(140)

        grid = QGridLayout()
        grid.addWidget(self.scores, 0, 0, 1, 2)
        grid.addWidget(self.practice, 1, 0)
        grid.addWidget(self.intonation, 1, 1)
        body = QWidget()
        blay = QVBoxLayout(body)
        blay.addLayout(cards)
        blay.addLayout(grid, 1)
        ms = QLabel("Milestones")
        ms.setStyleSheet("font-weight: bold;")
        blay.addWidget(ms)
        blay.addWidget(self.milestones)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)
        lay = QVBoxLayout(self)
        lay.addLayout(head)
        lay.addWidget(scroll, 1)
        ctx.events.take_saved.connect(self._reload_if_visible)
        # Ending a session is what rebuilds the progress rows.
        ctx.events.session_changed.connect(self._reload_if_visible)
        ctx.events.profile_changed.connect(self._reload_if_visible)
        ctx.events.theme_changed.connect(self.restyle)
        self._style_series()
        for box in (self.scores, self.practice, self.intonation):
            box.show_empty(True)

    def restyle(self, _dark: object = None) -> None:
        """The theme changed: the charts and their series take its colours now."""
        for box in self.charts():
            style_plot(box.plot)
        self._style_series()
        if self.data is not None:
            self.draw(self.data)

    def _style_series(self, points: dict[str, int] | None = None) -> None:
        dark = palette_is_dark()
        for metric, curve in self.score_curves.items():
            _label, light_colour, dark_colour = SERIES_STYLE[metric]
            colour = dark_colour if dark else light_colour
            curve.setPen(pg.mkPen(colour, width=2))
            if points is not None and 0 < points.get(metric, 0) < MARKERS_BELOW:
                curve.setSymbol("o")
                curve.setSymbolSize(7)
                curve.setSymbolBrush(colour)
                curve.setSymbolPen(colour)
            else:
                curve.setSymbol(None)

    def _reload_if_visible(self, _event: object) -> None:
        if self.isVisible():
            self.reload()

    def charts(self) -> list[ChartBox]:
        return [self.scores, self.practice, self.intonation]

    def reload(self) -> None:
        profile = self.ctx.profile
        if profile is None:
            self.message.setText("No profile chosen.")
            return
        pid = profile.id
        period = str(self.period.currentData())
        self.message.setText("Loading…")
        self.ctx.db.submit(
            "progress",
            lambda s: load_progress(s, pid, period),
            self.draw,
            lambda exc: self.message.setText(f"Could not load progress: {exc}"),
        )

    def draw(self, data: ProgressData) -> None:
        self.data = data
        self.message.setText("")
        period = data.period_type
        points: dict[str, int] = {}
        starts: set[date] = set()
        for metric, curve in self.score_curves.items():
            pts = data.scores.get(metric, [])
            x = np.array([period_middle_x(d, period) for d, _ in pts], dtype=float)
            y = np.array([np.nan if v is None else v for _, v in pts], dtype=float)
            curve.setData(x, y, connect="finite")
            points[metric] = int(np.isfinite(y).sum())
            starts.update(d for d, v in pts if v is not None)
        self._style_series(points)
        self.scores.show_empty(not any(points.values()))
        if self.practice_bars is not None:
            self.practice.plot.removeItem(self.practice_bars)
            self.practice_bars = None
        minutes = [(d, m) for d, m in data.practice_minutes if m > 0]
        if minutes:
            x = np.array([period_middle_x(d, period) for d, _ in minutes])
            h = np.array([m for _, m in minutes])
            self.practice_bars = pg.BarGraphItem(
                x=x,
                height=h,
                width=bar_width_x(period),
                brush=pg.mkBrush(30, 120, 220, 180),
                pen=None,
            )
            self.practice.plot.addItem(self.practice_bars)
            self.practice.plot.setYRange(0, float(h.max()) * 1.1, padding=0)
        self.practice.show_empty(not minutes)
        starts.update(d for d, _ in minutes)
        lo, hi = x_range(sorted(starts), period, date.today())
        for box in (self.scores, self.practice):
            box.plot.setXRange(lo, hi, padding=0)
        self._draw_intonation(data.intonation)
        st = data.stats.get(365) or data.stats.get(max(data.stats, default=0))
        if st is not None:
            self.streak.setText(streak_text(st.current_streak_days, st.longest_streak_days))
        for days, card in self.cards.items():
            if days in data.stats:
                card.set_stats(data.stats[days])
        self.milestones.clear()
        self.milestones.addItems(milestone_lines(data.milestones))
        self.drawn.emit()

    def _draw_intonation(self, tendencies: dict[str, list[tuple[date, float, int]]]) -> None:
        plot = self.intonation.plot
        plot.clear()
        legend = plot.getPlotItem().legend
        if legend is not None:
            legend.clear()
        # The six most-played notes; more lines than that is unreadable.
        busiest = sorted(tendencies.items(), key=lambda kv: -sum(c for _, _, c in kv[1]))[:6]
        palette = [
            (30, 120, 220),
            (220, 120, 30),
            (46, 170, 90),
            (170, 60, 170),
            (200, 50, 50),
            (140, 140, 140),
        ]
        days: list[date] = []
        for (note, pts), colour in zip(busiest, palette, strict=False):
            days.extend(d for d, _, _ in pts)
            x = [period_middle_x(d, "weekly") for d, _, _ in pts]
            y = [c for _, c, _ in pts]
            plot.plot(
                x,
                y,
                pen=pg.mkPen(colour, width=2),
                symbol="o",
                symbolSize=6,
                symbolBrush=colour,
                symbolPen=colour,
                name=note,
            )
        self.intonation.show_empty(not days)
        plot.setXRange(*x_range(sorted(set(days)), "weekly", date.today()), padding=0)
        plot.addItem(
            pg.InfiniteLine(
                pos=0, angle=0, pen=pg.mkPen((120, 120, 120), style=Qt.PenStyle.DashLine)
            )
        )
