"""Tuner needle: the current note's name and how many cents it is off."""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from audio.records import PitchFrame
from desktop.notes import cents_colour, note_name

# How long (seconds of input) the dial keeps the last note through unvoiced frames: long enough
# to bridge a consonant or a bow change, short enough that silence reads as silence.
HOLD_S = 0.35


class TunerWidget(QWidget):
    """A half-dial from -50 to +50 cents with a needle, the note name and the signed cents."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._midi: float | None = None
        self._cents: float | None = None
        self._last_voiced_s: float | None = None
        self.tolerance_cents = 25.0
        self.setMinimumSize(200, 130)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.setAccessibleName("Tuner")

    def set_reading(self, target_midi: float | None, cents: float | None) -> None:
        if (target_midi, cents) != (self._midi, self._cents):
            self._midi, self._cents = target_midi, cents
            self.update()

    def clear(self) -> None:
        """No reading (listening stopped, or a new session starts)."""
        self._last_voiced_s = None
        self.set_reading(None, None)

    def follow(self, frames: list[PitchFrame]) -> None:
        """Show the newest voiced frame of ``frames`` (oldest first); after HOLD_S of unvoiced
        input the dial reads "—" again instead of keeping the last note through silence."""
        if not frames:
            return
        for f in reversed(frames):
            if f.voiced:
                self._last_voiced_s = f.t_s
                self.set_reading(f.target_midi, f.cents)
                return
        newest = frames[-1].t_s
        if self._last_voiced_s is None or newest - self._last_voiced_s > HOLD_S:
            self.set_reading(None, None)

    def reading_text(self) -> str:
        """What the dial says, in words (used by the accessible description and by tests)."""
        if self._midi is None or self._cents is None:
            return "—"
        return f"{note_name(self._midi)} {self._cents:+.0f} ¢"

    def paintEvent(self, event: object) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        w, h = self.width(), self.height()
        fg = self.palette().windowText().color()
        radius = float(min(w / 2 - 10, h - 40))
        centre = QPointF(w / 2, h - 28)
        arc = QRectF(centre.x() - radius, centre.y() - radius, 2 * radius, 2 * radius)
        # In-tune zone drawn as a green band so the target is visible without reading numbers.
        tol = max(1.0, min(self.tolerance_cents, 50.0))
        span = 180.0 * tol / 100.0
        p.setPen(QPen(QColor(46, 170, 90, 140), 10))
        p.drawArc(arc, int((90 - span) * 16), int(2 * span * 16))
        p.setPen(QPen(fg, 2))
        p.drawArc(arc, 0, 180 * 16)
        for c in range(-50, 51, 10):
            a = math.radians(90 - c * 1.8)
            inner = radius - (12 if c % 50 == 0 or c == 0 else 6)
            p.drawLine(
                QPointF(centre.x() + inner * math.cos(a), centre.y() - inner * math.sin(a)),
                QPointF(centre.x() + radius * math.cos(a), centre.y() - radius * math.sin(a)),
            )
        font = QFont(self.font())
        if font.pointSizeF() > 0:  # fonts sized in pixels report -1 here
            font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setBold(True)
        p.setFont(font)
        if self._midi is None or self._cents is None:
            p.drawText(QRectF(0, h - 26, w, 26), Qt.AlignmentFlag.AlignCenter, "—")
            return
        needle_cents = max(-50.0, min(50.0, self._cents))
        colour = QColor(*cents_colour(self._cents, self.tolerance_cents))
        a = math.radians(90 - needle_cents * 1.8)
        p.setPen(QPen(colour, 4, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        p.drawLine(
            centre,
            QPointF(
                centre.x() + (radius - 4) * math.cos(a), centre.y() - (radius - 4) * math.sin(a)
            ),
        )
        p.setPen(colour)
        p.drawText(QRectF(0, h - 26, w, 26), Qt.AlignmentFlag.AlignCenter, self.reading_text())
