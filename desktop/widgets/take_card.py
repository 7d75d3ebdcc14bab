"""The analysis card shown after each take: scores, feedback in plain words, per-note timeline.

The card renders a stored analysis (the dict the database worker read back after saving it), so
what the student sees is exactly what is in the database, never a separate in-memory copy.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QLabel,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from desktop.notes import cents_colour

# (field, label, kind): kind "pct" shows 0..1 as a percentage, "cents", "int", "text".
SCORE_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("overall_score", "Overall", "pct"),
    ("pitch_accuracy", "Pitch", "pct"),
    ("rhythm_accuracy", "Rhythm", "pct"),
    ("dynamics_range", "Dynamics", "pct"),
    ("avg_pitch_deviation_cents", "Avg. deviation", "cents"),
    ("timing_consistency", "Timing consistency", "pct"),
    ("tempo_stability", "Tempo stability", "pct"),
    ("note_accuracy_rate", "Right notes", "pct"),
    ("total_notes_detected", "Notes", "int"),
    ("difficulty_estimate", "Level", "text"),
    ("genre_match_score", "Genre fit", "pct"),
)


def format_value(value: Any, kind: str) -> str:
    """How a stored number reads on the card; None reads as "n/a" (not measurable here)."""
    if value is None:
        return "n/a"
    if kind == "pct":
        return f"{100.0 * float(value):.0f} %"
    if kind == "cents":
        return f"{float(value):.1f} ¢"
    if kind == "int":
        return str(int(value))
    return str(value)


def parse_feedback(feedback_json: str | None) -> dict[str, Any]:
    if not feedback_json:
        return {}
    try:
        data = json.loads(feedback_json)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _num(entry: Mapping[str, Any], *keys: str) -> float | None:
    for k in keys:
        v = entry.get(k)
        if isinstance(v, int | float):
            return float(v)
    return None


class NoteTimeline(pg.PlotWidget):  # type: ignore[misc]  # pyqtgraph is untyped
    """One bar per note at its time, its colour saying how far it was from its target;
    ▲/▼ marks above a note that came early/late."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent=parent)
        self.setMenuEnabled(False)
        self.hideButtons()
        self.setMouseEnabled(x=True, y=False)
        self.setLabel("bottom", "time in take", units="s")
        self.getPlotItem().hideAxis("left")
        self.setMinimumHeight(90)
        self.tolerance_cents = 25.0
        self.timing_tolerance_ms = 50.0
        self.bars = 0
        self.early = 0
        self.late = 0

    def set_notes(self, per_note: Sequence[Mapping[str, Any]]) -> None:
        self.clear()
        self.bars = self.early = self.late = 0
        xs, widths, brushes = [], [], []
        marks_x, marks_sym = [], []
        for entry in per_note:
            onset = _num(entry, "onset_s", "t_s", "time_s")
            if onset is None:
                continue
            offset = _num(entry, "offset_s")
            dur = max(0.05, (offset - onset) if offset is not None else 0.25)
            cents = _num(entry, "cents", "cents_off")
            xs.append(onset + dur / 2)
            widths.append(dur * 0.9)
            brushes.append(pg.mkBrush(cents_colour(cents, self.tolerance_cents)))
            timing = _num(entry, "timing_ms", "timing_deviation_ms", "onset_deviation_ms")
            if timing is not None and abs(timing) > self.timing_tolerance_ms:
                marks_x.append(onset)
                marks_sym.append("t1" if timing < 0 else "t")
                if timing < 0:
                    self.early += 1
                else:
                    self.late += 1
        if xs:
            self.addItem(pg.BarGraphItem(x=xs, height=1.0, width=widths, brushes=brushes))
            self.bars = len(xs)
        if marks_x:
            self.addItem(
                pg.ScatterPlotItem(
                    x=marks_x,
                    y=[1.25] * len(marks_x),
                    symbol=marks_sym,
                    size=9,
                    brush=pg.mkBrush(200, 120, 30),
                    pen=None,
                )
            )
        self.setYRange(0, 1.5, padding=0)


class TakeCard(QFrame):
    """Scores + strengths + tips + the per-note timeline of one stored analysis."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAccessibleName("Take analysis")
        lay = QVBoxLayout(self)
        self.title = QLabel("No take yet. Press R during practice to record one.")
        self.title.setStyleSheet("font-weight: bold;")
        lay.addWidget(self.title)
        grid = QGridLayout()
        self.value_labels: dict[str, QLabel] = {}
        for i, (field, label, _kind) in enumerate(SCORE_FIELDS):
            name = QLabel(label)
            name.setStyleSheet("color: palette(mid);")
            val = QLabel("–")
            val.setObjectName(f"score_{field}")
            val.setStyleSheet("font-size: 15px; font-weight: bold;")
            grid.addWidget(name, (i // 4) * 2, i % 4)
            grid.addWidget(val, (i // 4) * 2 + 1, i % 4)
            self.value_labels[field] = val
        lay.addLayout(grid)
        self.feedback = QLabel("")
        self.feedback.setWordWrap(True)
        self.feedback.setTextFormat(Qt.TextFormat.RichText)
        self.feedback.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        # A wrapped label squeezed by the layout is cut off mid-sentence; in a scroll area every
        # strength and tip stays readable however small the card gets.
        self.feedback_area = QScrollArea(self)
        self.feedback_area.setWidget(self.feedback)
        self.feedback_area.setWidgetResizable(True)
        self.feedback_area.setFrameShape(QFrame.Shape.NoFrame)
        self.feedback_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.feedback_area.setMinimumHeight(44)
        lay.addWidget(self.feedback_area, 1)
        self.timeline = NoteTimeline(self)
        lay.addWidget(self.timeline, 1)
        from desktop.widgets.comments import CommentsLabel

        # The teacher's comments on this take (hidden without any).
        self.comments = CommentsLabel(self)
        lay.addWidget(self.comments)

    def show_analysis(self, analysis: Mapping[str, Any], title: str = "") -> None:
        """``analysis``: the stored AnalysisResult's columns as a dict."""
        self.title.setText(title or "Last take")
        for field, _label, kind in SCORE_FIELDS:
            self.value_labels[field].setText(format_value(analysis.get(field), kind))
        fb = parse_feedback(analysis.get("feedback_json"))
        self.feedback.setText(feedback_html(fb, self.timeline.tolerance_cents))
        notes = fb.get("timeline") or []
        self.timeline.set_notes([n for n in notes if isinstance(n, Mapping)])


def _as_lines(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence):
        return [str(v) for v in value]
    return []


def feedback_html(fb: Mapping[str, Any], tolerance_cents: float = 25.0) -> str:
    """Strengths, tips and the notes that were out of tune, as short HTML lines."""
    parts = []
    if fb.get("not_measurable"):
        parts.append("<b>Not measurable:</b> " + _esc(str(fb["not_measurable"])))
    strengths = _as_lines(fb.get("strengths"))
    tips = _as_lines(fb.get("tips"))
    if strengths:
        parts.append("<b>Going well:</b> " + " ".join(_esc(s) for s in strengths))
    if tips:
        parts.append("<b>Try next:</b> " + " ".join(_esc(s) for s in tips))
    off = []
    for row in fb.get("per_note") or []:
        if not isinstance(row, Mapping):
            continue
        cents = _num(row, "mean_cents")
        if cents is not None and abs(cents) > tolerance_cents:
            off.append(f"{_esc(str(row.get('note', '?')))} {cents:+.0f} ¢")
    if off:
        parts.append("<b>Out of tune:</b> " + ", ".join(off))
    return "<br>".join(parts)


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


__all__ = ["NoteTimeline", "TakeCard", "format_value", "parse_feedback"]
