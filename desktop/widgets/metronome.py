"""Metronome at the target tempo: an audible click through sounddevice and a visual beat.

The click is mixed sample-accurately inside the output callback (a counter of samples, no timer),
so it does not drift with the GUI's event loop. The visual beat is a QTimer that only flashes.
With no output device the metronome stays visual and says so once.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from PySide6.QtCore import QElapsedTimer, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QWidget

from audio.preview import click_samples  # one click sound for the metronome and the preview

__all__ = ["BeatLight", "ClickStream", "click_samples"]


class ClickStream:
    """The audible part. ``start`` raises whatever sounddevice raises when there is no output."""

    def __init__(
        self,
        bpm: float,
        beats_per_bar: int = 4,
        sample_rate_hz: int = 48000,
        max_beats: int | None = None,
    ):
        """max_beats: click this many beats then stay silent (a count-in); None = go on."""
        self.bpm = bpm
        self.max_beats = max_beats
        self.beats_per_bar = beats_per_bar
        self.sr = sample_rate_hz
        self._clicks = (click_samples(self.sr, True), click_samples(self.sr, False))
        self._pos = 0  # samples since start
        self._lock = threading.Lock()
        self._stream: Any = None

    def _callback(self, outdata: np.ndarray, frames: int, time: Any, status: Any) -> None:
        outdata.fill(0)
        period = round(self.sr * 60.0 / self.bpm)
        start = self._pos
        end = start + frames
        # Each click that overlaps this block is copied in at its exact offset.
        first_beat = start // period
        last = end // period + 1
        if self.max_beats is not None:
            last = min(last, self.max_beats)
        for beat in range(max(0, first_beat - 1), last):
            click = self._clicks[0 if beat % self.beats_per_bar == 0 else 1]
            b0 = beat * period
            lo, hi = max(b0, start), min(b0 + len(click), end)
            if lo < hi:
                outdata[lo - start : hi - start, 0] += click[lo - b0 : hi - b0]
        self._pos = end

    def start(self) -> None:
        import sounddevice as sd

        self._stream = sd.OutputStream(
            samplerate=self.sr, channels=1, dtype="float32", callback=self._callback
        )
        self._stream.start()

    def stop(self) -> None:
        if self._stream is not None:
            stream, self._stream = self._stream, None
            try:
                stream.stop()
            finally:
                stream.close(ignore_errors=True)


class BeatLight(QWidget):
    """A round light that flashes on each beat (brighter on the first beat of the bar)."""

    beat = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMinimumSize(28, 28)
        self.setToolTip("Metronome beat")
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)
        self._clock = QElapsedTimer()
        self._period_ms = 500.0
        self._beat_index = -1
        self._flash = 0.0
        self._fade = QTimer(self)
        self._fade.setInterval(30)
        self._fade.timeout.connect(self._decay)
        self.beats_per_bar = 4

    def start(self, bpm: float) -> None:
        self._period_ms = 60000.0 / bpm
        self._beat_index = -1
        self._clock.start()
        self._timer.start(10)
        self._fade.start()

    def stop(self) -> None:
        self._timer.stop()
        self._fade.stop()
        self._flash = 0.0
        self.update()

    def _tick(self) -> None:
        # Derive the beat from elapsed time so late timer ticks never accumulate drift.
        idx = int(self._clock.elapsed() // self._period_ms)
        if idx != self._beat_index:
            self._beat_index = idx
            self._flash = 1.0 if idx % self.beats_per_bar == 0 else 0.6
            self.beat.emit(idx)
            self.update()

    def flash(self, accent: bool = False) -> None:
        """One flash now (the count-in's beats, when the metronome is off)."""
        self._flash = 1.0 if accent else 0.6
        if not self._fade.isActive():
            self._fade.start()
        self.update()

    def _decay(self) -> None:
        if self._flash > 0:
            self._flash = max(0.0, self._flash - 0.12)
            self.update()
        elif not self._timer.isActive():
            self._fade.stop()

    def paintEvent(self, event: object) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        s = min(self.width(), self.height()) - 4
        base = QColor(90, 90, 90)
        lit = QColor(240, 180, 40)
        f = self._flash
        c = QColor(
            int(base.red() + (lit.red() - base.red()) * f),
            int(base.green() + (lit.green() - base.green()) * f),
            int(base.blue() + (lit.blue() - base.blue()) * f),
        )
        p.setBrush(c)
        p.setPen(Qt.PenStyle.NoPen)
        p.drawEllipse(QRectF((self.width() - s) / 2, (self.height() - s) / 2, s, s))
