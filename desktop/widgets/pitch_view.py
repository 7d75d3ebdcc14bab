"""Scrolling pitch contour against its target: reference bars or a note-name grid, onset ticks.

The view never touches the audio thread: the practice window's timer drains the analysis
worker's outbox, :meth:`PitchView.add_records` stores the records in numpy rings, and
:meth:`PitchView.repaint_now` (called by the same timer) hands the visible window to pyqtgraph
once per frame, however many audio blocks arrived in between.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QWidget

from audio.records import Note, Onset, PitchFrame
from desktop.notes import cents_colour, note_name

WINDOW_S = 8.0
_RING = 4096  # frames: 8 s at 48 kHz / 256-sample hops is 1500, so this is ample


# Which notes get a label, from the densest to the sparsest (pitch classes, C = 0), and the
# smallest gap in semitones between two labels of each.
NOTE_LABEL_LEVELS: tuple[tuple[frozenset[int], int], ...] = (
    (frozenset(range(12)), 1),
    (frozenset((0, 2, 4, 5, 7, 9, 11)), 1),  # the naturals
    (frozenset((0, 4, 7)), 3),  # C, E, G
    (frozenset((0, 7)), 5),  # C, G
    (frozenset((0,)), 12),  # C only
)


def note_ticks(lo: float, hi: float, size_px: float, label_px: float) -> list[int]:
    """The semitones (MIDI numbers) labelled on an axis of ``size_px`` pixels showing ``lo`` to
    ``hi``: the densest level whose closest labels are at least ``label_px`` apart (a short
    pitch view at 1280x680 is about 130 px tall for two octaves)."""
    first, last = int(np.ceil(lo)), int(np.floor(hi))
    px_per_semitone = size_px / max(hi - lo, 1e-6)
    for classes, gap in NOTE_LABEL_LEVELS:
        if gap * px_per_semitone >= label_px:
            return [m for m in range(first, last + 1) if m % 12 in classes]
    # Even octaves collide (a tiny view): one label per two octaves at most.
    step = int(np.ceil(label_px / (12 * px_per_semitone))) * 12
    return [m for m in range(first, last + 1) if m % step == 0]


class NoteAxis(pg.AxisItem):  # type: ignore[misc]  # pyqtgraph is untyped
    """Left axis labelled with note names: every semitone when there is room, fewer (naturals,
    then C E G, then C G, then the Cs) as the view gets shorter, so labels never overlap."""

    def label_px(self) -> float:
        """The height a label needs, with a little air."""
        font = self.style.get("tickFont") or self.font()
        return float(QFontMetrics(font).height()) + 2.0

    def tickValues(
        self, minVal: float, maxVal: float, size: float
    ) -> list[tuple[float, list[int]]]:
        return [(1.0, note_ticks(minVal, maxVal, size, self.label_px()))]

    def tickStrings(self, values: Sequence[float], scale: float, spacing: float) -> list[str]:
        return [note_name(v) for v in values]


class PitchView(pg.PlotWidget):  # type: ignore[misc]  # pyqtgraph is untyped
    """Live pitch (fractional MIDI) over the last eight seconds."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent=parent, axisItems={"left": NoteAxis("left")})
        self.setAccessibleName("Pitch contour")
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.showGrid(x=False, y=True, alpha=0.25)
        # x is "seconds before now": the axis never moves, so pyqtgraph does not rebuild and
        # repaint its ticks 50 times a second (that was most of the live view's CPU).
        self.setLabel("bottom", "seconds ago")
        self.tolerance_cents = 25.0
        self._t = np.full(_RING, np.nan)
        self._m = np.full(_RING, np.nan)
        self._n = 0  # frames written in total; index = n % _RING
        self._onsets: deque[float] = deque(maxlen=256)
        self._notes: deque[Note] = deque(maxlen=256)
        self._reference: list[tuple[float, float, int]] = []  # (onset_s, offset_s, midi)
        # Where the piece sits on the stream's time axis: the student starts when they like, so
        # the bars are anchored at their first onset, then kept on the median offset of the notes
        # the live follower matched to the piece (None: not anchored yet, bars from t = 0).
        self._ref_onsets: list[float] = []  # in the piece's own order (Note.ref_index)
        self._ref_offset_s: float | None = None
        self._ref_matches: deque[float] = deque(maxlen=8)
        self._now_s = 0.0
        self._dirty = False
        self.frames_painted = 0
        self.last_capture_time_s: float | None = None  # newest frame handed to the scene
        # Capture time of the newest frame handed over but not yet on screen; paintEvent turns
        # it into a capture -> painted latency (kept for the benchmark and the status line).
        self._unpainted_capture_s: float | None = None
        self.paint_latencies_ms: deque[float] = deque(maxlen=100_000)

        self._ref_item = pg.PlotDataItem(
            pen=pg.mkPen((120, 140, 220, 170), width=8), connect="pairs"
        )
        # Finished notes as short bars at their pitch, in three colour buckets (in tune, off by
        # up to two tolerances, further): a pairs-connected curve has one pen, so one per bucket.
        self._note_items = [
            pg.PlotDataItem(pen=pg.mkPen(cents_colour(c, 1.0), width=4), connect="pairs")
            for c in (0.0, 2.0, 3.0)
        ]
        self._curve = pg.PlotDataItem(
            pen=pg.mkPen((30, 120, 220), width=2), connect="finite", antialias=False
        )
        self._curve.setClipToView(True)
        self._onset_item = pg.PlotDataItem(pen=pg.mkPen((200, 120, 30), width=1), connect="pairs")
        for item in (self._ref_item, *self._note_items, self._curve, self._onset_item):
            self.addItem(item)
        self._y_range = (55.0, 79.0)
        self.setYRange(*self._y_range, padding=0)
        self.setXRange(-WINDOW_S, 0.25, padding=0)

    def set_reference(self, notes: Iterable[tuple[float, float, int]]) -> None:
        """Reference notes as (onset_s, offset_s, midi) bars, in the piece's order; empty for a
        note-name grid only. The bars wait for the student's first onset to anchor them."""
        given = list(notes)
        self._ref_onsets = [a for a, _, _ in given]
        self._reference = sorted(given)
        self.reanchor_reference()
        if self._reference:
            lo = min(m for _, _, m in self._reference)
            hi = max(m for _, _, m in self._reference)
            self._y_range = (lo - 3.0, hi + 3.0)
            self.setYRange(*self._y_range, padding=0)
        self._dirty = True

    def reanchor_reference(self) -> None:
        """The student starts the piece again (a new take): anchor the bars at the next onset."""
        self._ref_offset_s = None
        self._ref_matches.clear()
        self._dirty = True

    @property
    def reference_offset_s(self) -> float:
        """Seconds from the stream's start to the piece's time zero, as drawn."""
        return self._ref_offset_s or 0.0

    def _follow_reference(self, r: object) -> None:
        if not self._ref_onsets:
            return
        if isinstance(r, Onset) and self._ref_offset_s is None:
            self._ref_offset_s = r.t_s - self._ref_onsets[0]
        elif isinstance(r, Note) and r.ref_index is not None:
            if r.ref_index >= len(self._ref_onsets):
                return
            self._ref_matches.append(r.onset_s - self._ref_onsets[r.ref_index])
            self._ref_offset_s = float(np.median(self._ref_matches))

    def reset(self) -> None:
        """Forget everything shown (a new practice run starts at t = 0)."""
        self.reanchor_reference()
        self._t[:] = np.nan
        self._m[:] = np.nan
        self._n = 0
        self._onsets.clear()
        self._notes.clear()
        self._now_s = 0.0
        self._dirty = True

    def add_records(self, records: Iterable[object]) -> None:
        for r in records:
            if isinstance(r, PitchFrame):
                i = self._n % _RING
                self._t[i] = r.t_s
                self._m[i] = r.midi if (r.voiced and r.midi is not None) else np.nan
                self._n += 1
                self._now_s = max(self._now_s, r.t_s)
                self.last_capture_time_s = r.capture_time_s
            elif isinstance(r, Onset):
                self._onsets.append(r.t_s)
                self._follow_reference(r)
            elif isinstance(r, Note):
                self._notes.append(r)
                self._follow_reference(r)
            self._dirty = True

    def drawn_points(self) -> int:
        """Voiced points of the contour currently in the scene (0 if the curve is detached)."""
        if self._curve.scene() is None:
            return 0
        _x, y = self._curve.getData()
        return 0 if y is None else int(np.isfinite(y).sum())

    def repaint_now(self) -> bool:
        """Push the visible window to pyqtgraph; returns False when nothing changed."""
        if not self._dirty:
            return False
        self._dirty = False
        now = self._now_s
        lo = now - WINDOW_S
        count = min(self._n, _RING)
        if count:
            start = self._n - count
            idx = np.arange(start, self._n) % _RING
            t, m = self._t[idx], self._m[idx]
            keep = t >= lo
            self._curve.setData(t[keep] - now, m[keep], connect="finite")
            finite = m[keep][np.isfinite(m[keep])]
            if finite.size and not self._reference:
                # Follow the player when they leave the visible octave and a half.
                y0, y1 = self._y_range
                top, bottom = float(finite.max()), float(finite.min())
                if top > y1 - 1 or bottom < y0 + 1:
                    mid = round(float(np.median(finite)))
                    self._y_range = (mid - 12.0, mid + 12.0)
                    self.setYRange(*self._y_range, padding=0)
        else:
            self._curve.setData([], [])
        y0, y1 = self._y_range
        ons = [o for o in self._onsets if o >= lo]
        if ons:
            xs = np.repeat(np.asarray(ons) - now, 2)
            ys = np.tile([y0, y0 + 0.08 * (y1 - y0)], len(ons))
            self._onset_item.setData(xs, ys, connect="pairs")
        else:
            self._onset_item.setData([], [])
        shift = self.reference_offset_s
        ref = [
            (a, b, m) for a, b, m in self._reference if b + shift >= lo and a + shift <= now + 2.0
        ]
        if ref:
            xs = np.array([[a, b] for a, b, _ in ref]).ravel() + (shift - now)
            ys = np.repeat([float(m) for _, _, m in ref], 2)
            self._ref_item.setData(xs, ys, connect="pairs")
        else:
            self._ref_item.setData([], [])
        notes = [n for n in self._notes if n.offset_s >= lo]
        tol = max(self.tolerance_cents, 1e-6)
        buckets: list[list[Note]] = [[], [], []]
        for n in notes:
            x = abs(n.cents) / tol
            buckets[0 if x <= 1.0 else 1 if x <= 2.0 else 2].append(n)
        for item, bucket in zip(self._note_items, buckets, strict=True):
            if bucket:
                xs = np.array([[n.onset_s, n.offset_s] for n in bucket]).ravel() - now
                ys = np.repeat([float(n.target_midi) + n.cents / 100.0 for n in bucket], 2)
                item.setData(xs, ys, connect="pairs")
            else:
                item.setData([], [])
        self.frames_painted += 1
        self._unpainted_capture_s = self.last_capture_time_s
        return True

    def paintEvent(self, ev: object) -> None:
        super().paintEvent(ev)
        cap = self._unpainted_capture_s
        if cap is not None and cap > 0:
            self._unpainted_capture_s = None
            self.paint_latencies_ms.append((time.perf_counter() - cap) * 1000.0)
