"""Input level meter that warns when the input clips."""

from __future__ import annotations

import time

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

FLOOR_DB = -60.0
CLIP_DB = -1.0  # peaks this close to full scale are almost certainly clipping already
CLIP_HOLD_S = 1.5


class LevelMeter(QWidget):
    """A horizontal bar from -60 to 0 dBFS plus a warning line when the input clips."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._bar = _Bar(self)
        self.warning = QLabel("")
        self.warning.setStyleSheet("color: rgb(215,50,50); font-weight: bold;")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("Input"))
        row.addWidget(self._bar, 1)
        lay.addLayout(row)
        lay.addWidget(self.warning)
        self._clip_until = 0.0
        self.level_db = FLOOR_DB

    def set_level(self, level_db: float | None, now_s: float | None = None) -> None:
        now = time.monotonic() if now_s is None else now_s
        db = FLOOR_DB if level_db is None else max(FLOOR_DB, min(0.0, level_db))
        self.level_db = db
        if db >= CLIP_DB:
            self._clip_until = now + CLIP_HOLD_S
        clipping = now < self._clip_until
        text = "Too loud — the input is clipping. Move back or lower the gain." if clipping else ""
        if self.warning.text() != text:
            self.warning.setText(text)
        self._bar.set_value(db, clipping)

    def is_clipping(self) -> bool:
        return bool(self.warning.text())


class _Bar(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMinimumSize(120, 14)
        self._db = FLOOR_DB
        self._clip = False

    def set_value(self, db: float, clip: bool) -> None:
        if abs(db - self._db) > 0.2 or clip != self._clip:
            self._db, self._clip = db, clip
            self.update()

    def paintEvent(self, event: object) -> None:
        p = QPainter(self)
        w, h = self.width(), self.height()
        p.fillRect(QRectF(0, 0, w, h), self.palette().base())
        frac = (self._db - FLOOR_DB) / -FLOOR_DB
        if self._clip:
            colour = QColor(215, 50, 50)
        elif self._db > -12:
            colour = QColor(230, 170, 30)
        else:
            colour = QColor(46, 170, 90)
        p.fillRect(QRectF(0, 0, w * frac, h), colour)
        p.setPen(self.palette().windowText().color())
        p.drawRect(QRectF(0, 0, w - 1, h - 1))
        p.drawText(QRectF(0, 0, w - 4, h), Qt.AlignmentFlag.AlignRight, f"{self._db:.0f} dB")
