"""Guards against the Qt binding bug that made the app abort (see the pin in pyproject.toml)."""

from __future__ import annotations

import sys

from PySide6.QtGui import QColor, QImage, QPainter, QPen


def test_void_qt_calls_do_not_drain_the_reference_count_of_none(qapp):
    # PySide6 6.12.0 on Python 3.11 drops one reference to None per void call; after a few
    # thousand paint calls None is freed and the interpreter aborts ("none_dealloc").
    img = QImage(16, 16, QImage.Format.Format_ARGB32)
    painter = QPainter(img)
    pen = QPen(QColor(10, 20, 30))
    before = sys.getrefcount(None)
    for _ in range(20_000):
        painter.setPen(pen)
    after = sys.getrefcount(None)
    painter.end()
    assert after - before > -100, f"None lost {before - after} references in 20000 calls"
