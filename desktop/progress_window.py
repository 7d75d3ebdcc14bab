"""The progress window: it only draws. One storage function per graph computes each series
(storage.progress), all read in a single database operation off the GUI thread."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

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
    QVBoxLayout,
    QWidget,
)

from desktop.context import AppContext

STAT_WINDOWS_DAYS = (7, 30, 90, 365)
SCORE_SERIES = (
    ("avg_overall_score", "Overall", (40, 40, 40)),
    ("avg_pitch_accuracy", "Pitch", (30, 120, 220)),
    ("avg_rhythm_accuracy", "Rhythm", (46, 170, 90)),
    ("avg_dynamics_range", "Dynamics", (220, 120, 30)),
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
PERIOD_DAYS = {"daily": 1.0, "weekly": 7.0, "monthly": 30.0}


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


@dataclass
class ProgressData:
    period_type: str
    scores: dict[str, list[tuple[date, float | None]]] = field(default_factory=dict)
    practice_minutes: list[tuple[date, float]] = field(default_factory=list)
    stats: dict[int, Any] = field(default_factory=dict)
    milestones: list[tuple[date, str]] = field(default_factory=list)
    intonation: dict[str, list[tuple[date, float, int]]] = field(default_factory=dict)


def load_progress(db: Any, user_id: uuid.UUID, period_type: str) -> ProgressData:
    """Everything the window draws, in one database operation."""
    from storage import progress
    from storage.progress_metrics import get_user_progress
    from storage.stats import calculate_user_stats

    data = ProgressData(period_type)
    for metric, _label, _colour in SCORE_SERIES:
        data.scores[metric] = progress.progress_series(db, user_id, period_type, metric)
    data.practice_minutes = progress.practice_time_series(db, user_id, period_type)
    for days in STAT_WINDOWS_DAYS:
        data.stats[days] = calculate_user_stats(db, user_id, days)
    for row in get_user_progress(db, user_id, "monthly", limit=1000):
        for item in json.loads(row.milestones_json or "[]"):
            try:
                data.milestones.append((date.fromisoformat(item["date"]), str(item["milestone"])))
            except (KeyError, TypeError, ValueError):
                continue
    data.milestones.sort()
    since = datetime.now().astimezone() - timedelta(weeks=26)
    data.intonation = progress.intonation_tendencies(db, user_id, since=since)
    return data


def _ts(d: date) -> float:
    return datetime.combine(d, time(12)).timestamp()


class ChartBox(QFrame):
    """A titled pyqtgraph chart with its own "Export PNG…" button."""

    def __init__(self, title: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.plot = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem()})
        self.plot.setMenuEnabled(False)
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.setMinimumHeight(200)
        # Fixed axis sizes: when the data arrives, new tick labels would otherwise resize the
        # axes, relayout the chart and paint it again (the bulk of a first open's time).
        self.plot.getAxis("left").setWidth(48)
        self.plot.getAxis("bottom").setHeight(32)
        self.title = title
        head = QHBoxLayout()
        label = QLabel(title)
        label.setStyleSheet("font-weight: bold;")
        head.addWidget(label, 1)
        self.export_button = QPushButton("Export PNG…")
        self.export_button.clicked.connect(self._export_dialog)
        head.addWidget(self.export_button)
        lay = QVBoxLayout(self)
        lay.addLayout(head)
        lay.addWidget(self.plot, 1)

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
        lay = QVBoxLayout(self)
        lay.addWidget(self.head)
        lay.addWidget(self.body)

    def set_stats(self, st: Any) -> None:
        overall = "n/a" if st.avg_overall_score is None else f"{100 * st.avg_overall_score:.0f} %"
        self.body.setText(
            f"{st.total_sessions} sessions\n{st.total_practice_hours:.1f} h practised\n"
            f"{st.total_analyses} takes analysed\noverall {overall}"
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

        self.scores = ChartBox("Scores over time")
        self.scores.plot.setYRange(0, 1.0)
        self.scores.plot.addLegend(offset=(10, 10))
        self.score_curves = {}
        for metric, label, colour in SCORE_SERIES:
            self.score_curves[metric] = self.scores.plot.plot(
                [], [], pen=pg.mkPen(colour, width=2), name=label, connect="finite"
            )
        self.practice = ChartBox("Practice time")
        self.practice.plot.setLabel("left", "minutes")
        self.practice_bars: pg.BarGraphItem | None = None
        self.intonation = ChartBox("Intonation by note")
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
        pid = profile.id  # type: ignore[attr-defined]
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
        for metric, curve in self.score_curves.items():
            pts = data.scores.get(metric, [])
            x = np.array([_ts(d) for d, _ in pts], dtype=float)
            y = np.array([np.nan if v is None else v for _, v in pts], dtype=float)
            curve.setData(x, y, connect="finite")
        if self.practice_bars is not None:
            self.practice.plot.removeItem(self.practice_bars)
            self.practice_bars = None
        if data.practice_minutes:
            x = np.array([_ts(d) for d, _ in data.practice_minutes])
            h = np.array([m for _, m in data.practice_minutes])
            width = PERIOD_DAYS[data.period_type] * 86400 * 0.8
            self.practice_bars = pg.BarGraphItem(
                x=x, height=h, width=width, brush=pg.mkBrush(30, 120, 220, 180), pen=None
            )
            self.practice.plot.addItem(self.practice_bars)
        self.practice.plot.autoRange()
        self.scores.plot.enableAutoRange(axis="x")
        self._draw_intonation(data.intonation)
        st = data.stats.get(365) or data.stats.get(max(data.stats, default=0))
        if st is not None:
            self.streak.setText(
                f"Streak: {st.current_streak_days} days (longest {st.longest_streak_days})"
            )
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
            (90, 90, 90),
        ]
        for (note, pts), colour in zip(busiest, palette, strict=False):
            x = [_ts(d) for d, _, _ in pts]
            y = [c for _, c, _ in pts]
            plot.plot(
                x,
                y,
                pen=pg.mkPen(colour, width=2),
                symbol="o",
                symbolSize=5,
                symbolBrush=colour,
                name=note,
            )
        plot.addItem(
            pg.InfiniteLine(
                pos=0, angle=0, pen=pg.mkPen((120, 120, 120), style=Qt.PenStyle.DashLine)
            )
        )
