"""The analysis card shown after each take: the overall score large, the others grouped and
explained in tooltips, feedback in plain words, and a timeline of the notes with the ones the
feedback names marked on them.

The card renders a stored analysis (the dict the database worker read back after saving it), so
what the student sees is exactly what is in the database, never a separate in-memory copy.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QFont, QPalette
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from audio.feedback import clock
from desktop.notes import cents_colour, note_name
from desktop.theme import muted_text

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
    # The analysis's estimate of how hard the music is, never a judgement of the playing.
    ("difficulty_estimate", "Difficulty", "text"),
    ("genre_match_score", "Genre fit", "pct"),
)
MAIN_SCORE = "overall_score"
# The other scores, grouped as the card shows them (group title, fields).
SCORE_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Pitch", ("pitch_accuracy", "avg_pitch_deviation_cents", "note_accuracy_rate")),
    ("Timing", ("rhythm_accuracy", "timing_consistency", "tempo_stability")),
    ("Expression", ("dynamics_range", "genre_match_score")),
    ("The piece", ("difficulty_estimate", "total_notes_detected")),
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


# What each score means, for a student (shown as the tooltip of its label and value).
MEANING: dict[str, str] = {
    "overall_score": (
        "One number for the whole take. It mostly counts how in tune you were (40 %), then "
        "how well you kept to the beat (25 %), whether you played the right notes (20 %), how "
        "even your timing was (10 %) and your loud and soft (5 %). Parts that could not be "
        "measured are left out."
    ),
    "pitch_accuracy": (
        "How many of your notes were in tune: within ±{tol_c} cents of the right pitch. "
        "100 cents is one semitone, the step from one piano key to the next."
    ),
    "avg_pitch_deviation_cents": (
        "How far from the right pitch your notes were, on average, in cents (100 cents = one "
        "semitone). Under 10 is very good; most listeners hear 20 or more."
    ),
    "note_accuracy_rate": (
        "How many notes of the piece you played as the right note, at about the right time. "
        "Only measured when the session has a reference piece."
    ),
    "rhythm_accuracy": (
        "How many of your notes started on time: within ±{tol_ms} ms (a twentieth of a "
        "second) of the beat. Only measured with a target tempo or a reference piece."
    ),
    "timing_consistency": (
        "Whether your notes were early or late by the same amount each time. 100 % means "
        "always the same (even if a little behind); it drops when some notes rush and others "
        "drag."
    ),
    "tempo_stability": (
        "Whether you kept the same speed from start to end. 100 % means a steady speed all "
        "the way; it drops when you speed up or slow down, and a change of 15 % scores 0."
    ),
    "dynamics_range": (
        "How different your loudest and softest notes were. 100 % means 30 dB or more apart, "
        "from very soft to very loud."
    ),
    "genre_match_score": (
        "How well the speed and feel of your playing fit the style chosen for the session "
        "(for example, swung eighths for jazz). Only for a style Etude knows."
    ),
    "difficulty_estimate": (
        "How hard this music is to play, from how fast the notes come, how wide its range is "
        "and its tempo: beginner, intermediate or advanced. It is about the piece, not about "
        "how well you played it."
    ),
    "total_notes_detected": "How many notes Etude heard in this take.",
}
NOT_MEASURED = {
    "rhythm_accuracy": "n/a: set a target tempo or load a reference piece to measure it.",
    "note_accuracy_rate": "n/a: load a reference piece for the session to measure it.",
    "genre_match_score": "n/a: the session has no style Etude knows.",
}


def explain(
    field: str, value: Any, tolerance_cents: float = 25.0, tolerance_ms: float = 50.0
) -> str:
    """The tooltip of a score: what it means, then what this take's value says (why a low
    one is low), in words a 15-year-old understands."""
    text = MEANING.get(field, "").format(tol_c=round(tolerance_cents), tol_ms=round(tolerance_ms))
    if value is None:
        return f"{text}\n\n{NOT_MEASURED.get(field, 'n/a: not measurable in this take.')}"
    why = ""
    v = float(value) if isinstance(value, int | float) else None
    if field == "dynamics_range" and v is not None:
        apart = round(30.0 * v)
        why = f"Your loudest and softest notes were about {apart} dB apart"
        why += (
            ", so nearly everything sounded equally loud. Try playing some phrases clearly "
            "softer and others louder."
            if v < 0.3
            else "."
        )
    elif field == "tempo_stability" and v is not None and v < 0.5:
        why = "Your speed changed during the take: practise with the metronome on."
    elif field == "timing_consistency" and v is not None and v < 0.5:
        why = "Some notes came early and others late: listen for the beat and keep with it."
    elif field == "pitch_accuracy" and v is not None and v < 0.6:
        why = "Many notes were off: the tips below and the marks on the timeline show which."
    return f"{text}\n\n{why}" if why else text


class NoteTimeline(pg.PlotWidget):  # type: ignore[misc]  # pyqtgraph is untyped
    """One bar per note at its time, its colour saying how far it was from its target; the
    notes the feedback names carry their figure above them ("G4 +46¢", "late 160 ms"), and
    ▲/▼ under a note mark one that came early/late by more than the timing tolerance."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent=parent)
        self.setMenuEnabled(False)
        self.hideButtons()
        self.setMouseEnabled(x=True, y=False)
        self.getPlotItem().hideAxis("left")
        self.setMinimumHeight(72)
        self.tolerance_cents = 25.0
        self.timing_tolerance_ms = 50.0
        self.bars = 0
        self.early = 0
        self.late = 0
        self.labels: list[str] = []
        self.label_items: list[pg.TextItem] = []
        self._label_x: list[float] = []  # each label's note centre, s
        self._label_severity: list[float] = []
        self.tips: list[str] = []
        self._shown: tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]] = ([], [])
        # Labels are laid out in pixels: again whenever the plot is resized, zoomed or panned.
        view = self.getViewBox()
        view.sigResized.connect(self._place_labels)
        view.sigXRangeChanged.connect(self._place_labels)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        # A theme switch: the note labels are drawn again in the new foreground colour.
        shown = self.__dict__.get("_shown")  # None while the plot is still being built
        if event.type() == QEvent.Type.PaletteChange and shown is not None:
            if shown[0]:
                self.set_notes(*shown)
            elif self.__dict__.get("empty"):
                self.show_empty(True)

    def set_notes(
        self,
        per_note: Sequence[Mapping[str, Any]],
        findings: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        """``per_note``: the stored timeline (onset_s, offset_s, cents, timing_ms, number);
        ``findings``: the feedback's note_findings, drawn on the notes they name."""
        self.clear()
        self._shown = (list(per_note), list(findings))
        self.bars = self.early = self.late = 0
        self.labels = []
        self.label_items = []
        self._label_x = []
        self._label_severity = []
        told = {int(f["number"]): f for f in findings if isinstance(f.get("number"), int)}
        labelled = set(sorted(told, key=lambda k: -_severity(told[k]))[:MAX_LABELS])
        xs, widths, brushes = [], [], []
        marks_x, marks_sym = [], []
        tips_x: list[float] = []
        tips: list[str] = []
        for i, entry in enumerate(per_note, 1):
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
                marks_x.append(onset + dur / 2)
                marks_sym.append("t1" if timing < 0 else "t")
                if timing < 0:
                    self.early += 1
                else:
                    self.late += 1
            number = entry.get("number", i)
            finding = told.get(number) if isinstance(number, int) else None
            tips_x.append(onset + dur / 2)
            tips.append(note_tip(entry, number, finding))
            if finding is not None and number in labelled:
                self._label(onset + dur / 2, finding_text(finding), _severity(finding))
        if xs:
            self.addItem(pg.BarGraphItem(x=xs, height=1.0, width=widths, brushes=brushes))
            self.bars = len(xs)
            # The whole take, always: an empty card before it fixed the range at 0..1.
            left = min(x - w / 2 for x, w in zip(xs, widths, strict=True))
            right = max(x + w / 2 for x, w in zip(xs, widths, strict=True))
            self.setXRange(left, right, padding=0.02)
        if tips_x:
            # Hovering a note tells what is known about it (an invisible point per note).
            self.addItem(
                pg.ScatterPlotItem(
                    x=tips_x,
                    y=[0.5] * len(tips_x),
                    data=tips,
                    size=18,
                    brush=pg.mkBrush(0, 0, 0, 0),
                    pen=None,
                    hoverable=True,
                    tip=lambda x, y, data: data,
                )
            )
        self.tips = tips
        if marks_x:
            self.addItem(
                pg.ScatterPlotItem(
                    x=marks_x,
                    y=[-0.2] * len(marks_x),
                    symbol=marks_sym,
                    size=10,
                    brush=pg.mkBrush(*MARK_COLOUR),
                    pen=None,
                )
            )
        self.setYRange(-0.4, LABEL_TOP, padding=0)
        self._place_labels()

    def show_empty(self, empty: bool) -> None:
        """Without notes: no axis, a line saying what will appear instead."""
        self.empty = empty
        self.getPlotItem().showAxis("bottom", not empty)
        if empty:
            self.clear()
            self._shown = ([], [])
            self.bars = 0
            hint = pg.TextItem(
                "The notes of a take appear here, coloured by how in tune they were.",
                color=pg.getConfigOption("foreground"),
                anchor=(0.5, 0.5),
            )
            hint.setPos(0.5, 0.65)
            self.addItem(hint)
            self.setXRange(0, 1, padding=0)
            self.setYRange(-0.4, LABEL_TOP, padding=0)

    def _label(self, x: float, text: str, severity: float) -> None:
        """A finding's label over its note (placed by :meth:`_place_labels`)."""
        item = pg.TextItem(text, color=pg.getConfigOption("foreground"), anchor=(0.5, 1.0))
        self.addItem(item)
        self.labels.append(text)
        self.label_items.append(item)
        self._label_x.append(x)
        self._label_severity.append(severity)

    def _place_labels(self) -> None:
        """Lay the labels out in rows over the bars, in pixels: a label never overlaps another
        nor runs off either side of the plot; one that finds no free room is hidden (its note
        keeps its colour and hover text): the worst findings are placed first."""
        items = self.__dict__.get("label_items")
        if not items:
            return
        view = self.getViewBox()
        (x0, x1), (y0, _) = view.viewRange()
        w_px, h_px = view.width(), view.height()
        if w_px <= 0 or h_px <= 0 or x1 <= x0:
            return
        # Room over the bars for one or two rows of text, whatever the plot's height: the bars
        # keep at least BARS_MIN_SHARE of it.
        text_px = max(it.textItem.boundingRect().height() for it in items)
        n_rows = max(
            (k for k in range(MAX_LABEL_ROWS + 1) if h_px - k * text_px >= BARS_MIN_SHARE * h_px),
            default=0,
        )
        y_per_px = (BAR_TOP - y0) / max(1.0, h_px - n_rows * text_px)
        y1 = y0 + h_px * y_per_px
        self.setYRange(y0, y1, padding=0)
        s_per_px = (x1 - x0) / w_px
        rows: list[list[tuple[float, float]]] = []
        worst_first = sorted(range(len(items)), key=lambda i: -self._label_severity[i])
        for i in worst_first:
            item, x = items[i], self._label_x[i]
            box = item.textItem.boundingRect()
            half = (box.width() / 2 + LABEL_GAP_PX) * s_per_px
            height = box.height() * y_per_px
            cx = min(max(x, x0 + half), x1 - half)
            free = next(
                (
                    r
                    for r in range(n_rows)
                    if r >= len(rows) or all(b <= cx - half or a >= cx + half for a, b in rows[r])
                ),
                None,
            )
            if free is None or half * 2 > x1 - x0:
                item.setVisible(False)
                continue
            while len(rows) <= free:
                rows.append([])
            rows[free].append((cx - half, cx + half))
            item.setPos(cx, BAR_TOP + free * height)
            item.setVisible(True)


MARK_COLOUR = (200, 110, 20)
# The most notes labelled on the timeline (the furthest off); the rest keep colour and hover text.
MAX_LABELS = 10
BAR_TOP = 1.04  # where the rows of labels begin, over the bars (which end at 1.0)
LABEL_TOP = 1.75  # the top of the plot's y range
LABEL_GAP_PX = 4.0  # the least room between two labels on a row
MAX_LABEL_ROWS = 2
BARS_MIN_SHARE = 0.45  # the bars keep at least this share of the plot's height


def _severity(f: Mapping[str, Any]) -> float:
    """How far off a finding is, pitch and timing on one scale (a wrong note first)."""
    if f.get("pitch") == "wrong":
        return 1e9
    cents = abs(_num(f, "cents") or 0.0) if f.get("pitch") else 0.0
    ms = abs(_num(f, "timing_ms") or 0.0) if f.get("timing") else 0.0
    return max(cents, ms / 2.0)


def finding_text(f: Mapping[str, Any]) -> str:
    """What the timeline writes above a note the feedback names: "G4 +46¢", "E4 late 160 ms",
    "F4 for G4" (a wrong note)."""
    parts = [str(f.get("note", ""))]
    cents = _num(f, "cents")
    if f.get("pitch") == "wrong":
        parts = [f"{f.get('played', '?')} for {f.get('note', '?')}"]
    elif f.get("pitch") in ("sharp", "flat") and cents is not None:
        parts.append(f"{cents:+.0f}¢")
    ms = _num(f, "timing_ms")
    if f.get("timing") in ("early", "late") and ms is not None:
        parts.append(f"{f['timing']} {abs(ms):.0f} ms")
    return " ".join(parts)


def note_tip(entry: Mapping[str, Any], number: object, finding: Mapping[str, Any] | None) -> str:
    """A note's hover text: "Note 9 · G4 at 0:04 (bar 3) · 46 cents sharp"."""
    target = entry.get("target_midi")
    name = str(entry.get("note") or (note_name(target) if isinstance(target, int) else "?"))
    onset = _num(entry, "onset_s") or 0.0
    bar = entry.get("bar")
    where = f"{name} at {clock(onset)}" + (f" (bar {bar})" if bar is not None else "")
    cents = _num(entry, "cents") or 0.0
    parts = [f"Note {number}", where]
    if finding is not None and finding.get("pitch") == "wrong":
        parts.append(f"played {finding.get('played', '?')}")
    else:
        parts.append(f"{abs(cents):.0f} cents {'sharp' if cents > 0 else 'flat'}")
    ms = _num(entry, "timing_ms")
    if ms is not None:
        parts.append(f"{abs(ms):.0f} ms {'late' if ms > 0 else 'early'}")
    return " · ".join(parts)


def legend_html(tolerance_cents: float, tolerance_ms: float) -> str:
    """The timeline's legend: what the colours and the ▲/▼ marks mean."""

    def swatch(cents: float) -> str:
        r, g, b = cents_colour(cents, tolerance_cents)
        return f'<span style="color: rgb({r},{g},{b});">■</span>'

    r, g, b = MARK_COLOUR
    mark = f"color: rgb({r},{g},{b});"
    tol_c, tol_ms = round(tolerance_cents), round(tolerance_ms)
    return (
        f"{swatch(0)} in tune (±{tol_c} ¢) &nbsp;{swatch(1.5 * tolerance_cents)} a little off "
        f"&nbsp;{swatch(3 * tolerance_cents)} far off &nbsp;·&nbsp; "
        f'<span style="{mark}">▲</span> came early &nbsp;<span style="{mark}">▼</span> came '
        f"late (by more than {tol_ms} ms) &nbsp;·&nbsp; time in s"
    )


MAIN_SCORE_SCALE = 2.6  # the overall score's size against the card's text


def _bold(label: QLabel, scale: float = 1.0) -> None:
    # A font, not a style sheet: a widget styled by a sheet keeps the palette it had when the
    # sheet was applied, so it would miss a switch between the light and the dark theme.
    font = QFont(label.font())
    font.setBold(True)
    if scale != 1.0:
        font.setPointSizeF(font.pointSizeF() * scale)
    label.setFont(font)


class TakeCard(QFrame):
    """One stored analysis: the overall score large, the other scores in groups (each
    explained in its tooltip), feedback in plain words, and the timeline of the notes."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAccessibleName("Take analysis")
        self.analysis: Mapping[str, Any] = {}
        self.muted: list[QLabel] = []
        lay = QVBoxLayout(self)
        self.title = QLabel("No take yet. Press R during practice to record one.")
        _bold(self.title)
        lay.addWidget(self.title)
        scores = QHBoxLayout()
        self.name_labels: dict[str, QLabel] = {}
        self.value_labels: dict[str, QLabel] = {}
        labels = dict((f, label) for f, label, _k in SCORE_FIELDS)
        main = QVBoxLayout()
        main.setSpacing(0)
        main.addWidget(self._name(MAIN_SCORE, labels[MAIN_SCORE]))
        main.addWidget(self._value(MAIN_SCORE, MAIN_SCORE_SCALE))
        main.addStretch(1)
        scores.addLayout(main)
        scores.addSpacing(18)
        for title, fields in SCORE_GROUPS:
            grid = QGridLayout()
            grid.setHorizontalSpacing(10)
            grid.setVerticalSpacing(1)
            heading = QLabel(title)
            _bold(heading)
            grid.addWidget(heading, 0, 0, 1, 2)
            for r, field in enumerate(fields, 1):
                grid.addWidget(self._name(field, labels[field]), r, 0)
                grid.addWidget(self._value(field), r, 1)
            grid.setRowStretch(len(fields) + 1, 1)
            scores.addLayout(grid, 1)
        lay.addLayout(scores)
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
        self.feedback_area.setMinimumHeight(62)
        lay.addWidget(self.feedback_area, 3)
        self.timeline = NoteTimeline(self)
        # The plot's own size hint (a large default) would otherwise crowd out the feedback.
        self.timeline.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Ignored)
        lay.addWidget(self.timeline, 2)
        self.legend = QLabel("")
        self.legend.setWordWrap(True)
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setAccessibleName("Timeline legend")
        keep = self.legend.sizePolicy()
        keep.setRetainSizeWhenHidden(True)
        self.legend.setSizePolicy(keep)
        self.muted.append(self.legend)
        lay.addWidget(self.legend)
        from desktop.widgets.comments import CommentsLabel

        # The teacher's comments on this take (hidden without any).
        self.comments = CommentsLabel(self)
        lay.addWidget(self.comments)
        self._show_legend()
        self._show_timeline(False)
        self._apply_muted()
        self._explain()

    def _name(self, field: str, text: str) -> QLabel:
        label = QLabel(text)
        label.setObjectName(f"name_{field}")
        self.name_labels[field] = label
        self.muted.append(label)
        return label

    def _value(self, field: str, scale: float = 1.0) -> QLabel:
        label = QLabel("–")
        label.setObjectName(f"score_{field}")
        _bold(label, scale)
        self.value_labels[field] = label
        return label

    def _apply_muted(self) -> None:
        # The quieter colour is worked out from the palette in use (see theme.muted_text), so
        # it keeps 4.5:1 in the light and the dark theme and follows a switch between them.
        colour = muted_text(self.palette())
        for label in self.muted:
            pal = label.palette()
            pal.setColor(QPalette.ColorRole.WindowText, colour)
            label.setPalette(pal)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_muted()

    def _show_legend(self) -> None:
        self.legend.setText(
            legend_html(self.timeline.tolerance_cents, self.timeline.timing_tolerance_ms)
        )

    def set_tolerances(self, pitch_cents: float, timing_ms: float) -> None:
        """The student's tolerances (Settings), for the colours, marks, legend and tooltips."""
        self.timeline.tolerance_cents = pitch_cents
        self.timeline.timing_tolerance_ms = timing_ms
        self._show_legend()
        self._explain()

    def _explain(self) -> None:
        for field, _label, _kind in SCORE_FIELDS:
            tip = explain(
                field,
                self.analysis.get(field) if self.analysis else None,
                self.timeline.tolerance_cents,
                self.timeline.timing_tolerance_ms,
            )
            if not self.analysis:
                tip = MEANING[field].format(
                    tol_c=round(self.timeline.tolerance_cents),
                    tol_ms=round(self.timeline.timing_tolerance_ms),
                )
            for label in (self.name_labels[field], self.value_labels[field]):
                label.setToolTip(tip)
                label.setAccessibleDescription(tip)  # read by screen readers, no mouse needed

    def show_analysis(self, analysis: Mapping[str, Any], title: str = "") -> None:
        """``analysis``: the stored AnalysisResult's columns as a dict."""
        self.analysis = analysis
        self.title.setText(title or "Last take")
        for field, _label, kind in SCORE_FIELDS:
            self.value_labels[field].setText(format_value(analysis.get(field), kind))
        self._explain()
        fb = parse_feedback(analysis.get("feedback_json"))
        self.feedback.setText(feedback_html(fb))
        notes = fb.get("timeline") or []
        findings = fb.get("note_findings") or []
        self.timeline.set_notes(
            [n for n in notes if isinstance(n, Mapping)],
            [f for f in findings if isinstance(f, Mapping)],
        )
        self._show_timeline(self.timeline.bars > 0)

    def _show_timeline(self, shown: bool) -> None:
        # No notes (no take yet, silence, not measurable): no empty axis to puzzle over, but the
        # space stays, so the window's layout does not jump when the first take comes in.
        self.timeline.show_empty(not shown)
        self.legend.setVisible(shown)


def _as_lines(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence):
        return [str(v) for v in value]
    return []


def feedback_html(fb: Mapping[str, Any]) -> str:
    """Strengths and tips (which name the notes that went wrong) as short HTML lines."""
    parts = []
    if fb.get("not_measurable"):
        parts.append("<b>Not measurable:</b> " + _esc(str(fb["not_measurable"])))
    strengths = _as_lines(fb.get("strengths"))
    tips = _as_lines(fb.get("tips"))
    if strengths:
        parts.append("<b>Going well:</b> " + " ".join(_esc(s) for s in strengths))
    if tips:
        parts.append("<b>Try next:</b> " + " ".join(_esc(s) for s in tips))
    return "<br>".join(parts)


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


__all__ = ["NoteTimeline", "TakeCard", "explain", "format_value", "parse_feedback"]
