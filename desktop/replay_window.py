"""Replay a take: its pitch contour and notes with a playhead that follows the sound, a click
on the plot plays from there; and a comparison with another take of the same piece (scores
side by side, contours overlaid from their first note)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.context import AppContext
from desktop.notes import cents_colour
from desktop.player import Player
from desktop.usecases.messages import failure_reason
from desktop.usecases.replay import Contour, PieceTake, same_piece_takes, take_contour
from desktop.widgets.pitch_view import NoteAxis
from desktop.widgets.take_card import SCORE_FIELDS, format_value, parse_feedback
from desktop.widgets.take_indicator import format_take_time

if TYPE_CHECKING:
    from audio.playback import Playback
    from desktop.usecases.takes import SavedTake

COMPARE_PEN = (230, 120, 30)  # the other take: orange, dashed


def take_label(pt: PieceTake) -> str:
    """ "Take 2 · 2026-12-01 14:05 · 78 %" """
    a = pt.take.analysis
    score = format_value(a.overall_score if a else None, "pct")
    return f"Take {pt.number} · {pt.session_started_at.astimezone():%Y-%m-%d %H:%M} · {score}"


class ContourPlot(pg.PlotWidget):  # type: ignore[misc]  # pyqtgraph is untyped
    """A whole take's contour and notes; a playhead line; a click says where (seconds)."""

    clicked_at = Signal(float)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent=parent, axisItems={"left": NoteAxis("left")})
        self.setAccessibleName("Take's pitch contour")
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.showGrid(x=False, y=True, alpha=0.25)
        self.setLabel("bottom", "seconds into the take")
        self.tolerance_cents = 25.0
        self.curve = self.plot([], [], pen=pg.mkPen((40, 110, 200), width=2), connect="finite")
        self.other = self.plot(
            [], [], pen=pg.mkPen(COMPARE_PEN, width=2, style=Qt.PenStyle.DashLine), connect="finite"
        )
        self.notes_item: Any = None
        self.playhead = pg.InfiniteLine(pos=0.0, angle=90, pen=pg.mkPen((200, 30, 60), width=2))
        self.addItem(self.playhead)
        self.scene().sigMouseClicked.connect(self._clicked)

    def set_take(self, contour: Contour, timeline: list[dict[str, Any]]) -> None:
        t = np.array(contour.t_s, dtype=float)
        m = np.array(contour.midi, dtype=float)
        self.curve.setData(t, m)
        if self.notes_item is not None:
            self.removeItem(self.notes_item)
            self.notes_item = None
        xs, ys, widths, brushes = [], [], [], []
        for e in timeline:
            onset, offset, target = e.get("onset_s"), e.get("offset_s"), e.get("target_midi")
            if not isinstance(onset, int | float) or not isinstance(target, int | float):
                continue
            end = offset if isinstance(offset, int | float) else onset + 0.25
            xs.append((onset + end) / 2)
            widths.append(max(0.05, end - onset))
            ys.append(float(target))
            cents = e.get("cents")
            brushes.append(
                pg.mkBrush(
                    *cents_colour(cents if isinstance(cents, int | float) else None, 25.0), 90
                )
            )
        if xs:
            self.notes_item = pg.BarGraphItem(
                x=xs, y=ys, height=0.8, width=widths, brushes=brushes, pens=[None] * len(xs)
            )
            self.addItem(self.notes_item)
        voiced = m[np.isfinite(m)]
        lo = min([*voiced.tolist(), *ys], default=60.0)
        hi = max([*voiced.tolist(), *ys], default=72.0)
        self.setYRange(math.floor(lo) - 1, math.ceil(hi) + 1, padding=0)
        self.setXRange(0, max(contour.duration_s, 0.5), padding=0.01)

    def set_other(self, contour: Contour | None, shift_s: float = 0.0) -> None:
        if contour is None:
            self.other.setData([], [])
            return
        self.other.setData(np.array(contour.t_s) + shift_s, np.array(contour.midi, dtype=float))

    def set_playhead(self, seconds: float) -> None:
        self.playhead.setValue(seconds)

    def _clicked(self, event: Any) -> None:
        pos = event.scenePos()
        if self.plotItem.vb.sceneBoundingRect().contains(pos):
            self.clicked_at.emit(float(self.plotItem.vb.mapSceneToView(pos).x()))


class ReplayWindow(QWidget):
    """One take replayed, optionally beside another take of the same piece."""

    loaded = Signal()  # the take's contour is drawn
    compared = Signal()  # the other take's contour and scores are shown

    def __init__(self, ctx: AppContext, player: Player, parent: QWidget | None = None):
        super().__init__(parent, Qt.WindowType.Window)
        self.ctx = ctx
        self.player = player
        self.setWindowTitle("Etude — replay a take")
        self.resize(900, 560)
        self.take: SavedTake | None = None
        self.label = ""
        self.contour: Contour | None = None
        self.others: list[PieceTake] = []
        self.title = QLabel("")
        self.title.setStyleSheet("font-weight: bold; font-size: 15px;")
        self.plot = ContourPlot()
        self.plot.clicked_at.connect(self.play_from)
        self.play_button = QPushButton("▶ Play")
        self.play_button.clicked.connect(self.toggle_play)
        self.time_label = QLabel("0:00")
        self.compare = QComboBox()
        self.compare.setMinimumWidth(280)
        self.compare.currentIndexChanged.connect(self._compare_chosen)
        self.scores = QTableWidget(0, 2)
        self.scores.setHorizontalHeaderLabels(["This take", "Compared with"])
        self.scores.setFixedWidth(400)
        self.scores.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.scores.verticalHeader().setDefaultSectionSize(22)
        self.message = QLabel("Click on the contour to play from there.")
        self.message.setWordWrap(True)
        bar = QHBoxLayout()
        bar.addWidget(self.play_button)
        bar.addWidget(self.time_label)
        bar.addStretch(1)
        bar.addWidget(QLabel("Compare with:"))
        bar.addWidget(self.compare)
        middle = QHBoxLayout()
        middle.addWidget(self.plot, 1)
        middle.addWidget(self.scores)
        lay = QVBoxLayout(self)
        lay.addWidget(self.title)
        lay.addLayout(middle, 1)
        lay.addLayout(bar)
        lay.addWidget(self.message)
        player.position_changed.connect(self._position)
        player.stopped.connect(self._stopped)
        player.started.connect(self._started)

    # -- loading -----------------------------------------------------------------------------

    def open_take(self, take: SavedTake, title: str) -> None:
        """Show ``take`` (its contour is analysed off the GUI thread) and list the other takes
        of the same piece to compare with."""
        if self.playing:
            self.player.stop()
        self.take, self.contour = take, None
        self.label = f"replay {take.performance.id}"  # what the shared player is playing
        self.title.setText(title)
        self.plot.set_other(None)
        self.plot.set_playhead(0.0)
        self.time_label.setText(f"0:00 / {format_take_time(take.performance.recording_duration)}")
        self._fill_scores(None)
        self._load_contour(take, "This take", lambda c: self._contour_loaded(take, c))
        self.compare.blockSignals(True)
        self.compare.clear()
        self.compare.addItem("nothing", None)
        self.compare.blockSignals(False)
        profile = self.ctx.profile
        if profile is not None:
            pid, sid = profile.id, take.performance.session_id
            self.ctx.db.submit(
                "takes of the piece",
                lambda s: same_piece_takes(s, pid, sid),
                self._others_loaded,
            )

    def _contour_loaded(self, take: SavedTake, contour: Contour) -> None:
        if take is not self.take:
            return
        self.contour = contour
        a = take.analysis
        timeline = parse_feedback(a.feedback_json if a else None).get("timeline") or []
        self.plot.set_take(contour, [e for e in timeline if isinstance(e, dict)])
        self.loaded.emit()

    def _others_loaded(self, others: list[PieceTake]) -> None:
        me = self.take.performance.id if self.take else None
        self.others = [o for o in others if o.take.performance.id != me]
        self.compare.blockSignals(True)
        for i, o in enumerate(self.others):
            self.compare.addItem(take_label(o), i)
        self.compare.blockSignals(False)

    def compare_with(self, index: int) -> None:
        """Overlay the ``index``-th other take (None-like -1 clears)."""
        self.compare.setCurrentIndex(index + 1)

    def _compare_chosen(self, _row: int) -> None:
        i = self.compare.currentData()
        if not isinstance(i, int) or not 0 <= i < len(self.others):
            self.plot.set_other(None)
            self._fill_scores(None)
            return
        other = self.others[i]
        self._fill_scores(other)
        self._load_contour(other.take, "That take", lambda c: self._other_loaded(other, c))

    def _load_contour(self, take: SavedTake, which: str, done: Callable[[Contour], None]) -> None:
        """Read a take's pitch contour on the compute runner; ``which`` names it in messages."""
        path = Path(take.performance.audio_path or "")
        if not path.is_file():
            self.message.setText(f"{which}'s recording is no longer on this computer.")
            return
        a4 = self.ctx.prefs.a4_hz
        self.ctx.compute.submit(
            f"{which} contour",
            lambda: take_contour(path, a4),
            done,
            lambda exc: self.message.setText(f"{which} could not be read: {failure_reason(exc)}"),
        )

    def _other_loaded(self, other: PieceTake, contour: Contour) -> None:
        i = self.compare.currentData()
        if not isinstance(i, int) or i >= len(self.others) or self.others[i] is not other:
            return
        # Both start where their first note does, so the same notes sit over each other.
        mine = self.contour.first_onset_s if self.contour else 0.0
        self.plot.set_other(contour, mine - contour.first_onset_s)
        self.message.setText(
            f"Dashed orange: {take_label(other)}. Both contours start at their first note."
        )
        self.compared.emit()

    def _fill_scores(self, other: PieceTake | None) -> None:
        rows = [(f, label, kind) for f, label, kind in SCORE_FIELDS if kind == "pct"]
        self.scores.setRowCount(len(rows))
        self.scores.setVerticalHeaderLabels([label for _f, label, _k in rows])
        mine = self.take.analysis if self.take else None
        theirs = other.take.analysis if other else None
        for r, (field, _label, kind) in enumerate(rows):
            for c, a in enumerate((mine, theirs)):
                text = (
                    ""
                    if (c == 1 and other is None)
                    else format_value(getattr(a, field) if a else None, kind)
                )
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.scores.setItem(r, c, item)

    # -- playing -----------------------------------------------------------------------------

    @property
    def playing(self) -> bool:
        return self.player.is_playing and self.player.label == self.label

    def toggle_play(self) -> None:
        if self.playing:
            self.player.stop()
        else:
            self.play_from(0.0 if self._at_end() else self.plot.playhead.value())

    def _at_end(self) -> bool:
        duration = self.take.performance.recording_duration if self.take else 0.0
        return float(self.plot.playhead.value()) >= duration - 0.05

    def play_from(self, seconds: float) -> None:
        """Play the take from ``seconds`` (a click on the plot); seeks when already playing."""
        if self.take is None:
            return
        seconds = max(0.0, seconds)
        if self.playing:
            self.player.seek(seconds)
            return
        path = Path(self.take.performance.audio_path or "")
        if not path.is_file():
            self.message.setText("This take's recording is no longer on this computer.")
            return

        def make() -> Playback:
            import soundfile as sf

            from audio.playback import Playback

            data, sr = sf.read(str(path), dtype="float32", always_2d=False)
            return Playback(data, int(sr), start_s=seconds)

        self.plot.set_playhead(seconds)
        self.player.play(self.label, make)

    def _position(self, seconds: float) -> None:
        if self.player.label != self.label or self.take is None:
            return
        self.plot.set_playhead(seconds)
        total = format_take_time(self.take.performance.recording_duration)
        self.time_label.setText(f"{format_take_time(seconds)} / {total}")

    def _started(self, label: str) -> None:
        if label == self.label:
            self.play_button.setText("■ Stop")

    def _stopped(self, label: str) -> None:
        if label == self.label:
            self.play_button.setText("▶ Play")

    def closeEvent(self, event: Any) -> None:
        if self.playing:
            self.player.stop()
        super().closeEvent(event)
