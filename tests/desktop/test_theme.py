"""A theme switch restyles the windows on screen at once and a hidden one when it is shown."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QApplication, QVBoxLayout, QWidget

from desktop.theme import apply_theme


def _window_with_chart(qtbot: Any) -> tuple[QWidget, Any]:
    import pyqtgraph as pg

    win = QWidget()
    qtbot.addWidget(win)
    plot = pg.PlotWidget()
    QVBoxLayout(win).addWidget(plot)
    win.show()
    qtbot.waitExposed(win)
    return win, plot


def _background(plot: Any) -> str:
    return str(plot.backgroundBrush().color().name())


def test_a_theme_switch_restyles_the_charts_on_screen_at_once(qtbot: Any) -> None:
    apply_theme("light")
    try:
        _win, plot = _window_with_chart(qtbot)
        light = _background(plot)
        apply_theme("dark")
        assert _background(plot) != light
    finally:
        apply_theme("light")


def test_a_hidden_window_is_restyled_when_it_is_shown_again(qtbot: Any) -> None:
    apply_theme("light")
    try:
        win, plot = _window_with_chart(qtbot)
        light = _background(plot)
        win.hide()
        apply_theme("dark")
        assert _background(plot) == light  # not walked while hidden ...
        win.show()
        QApplication.processEvents()
        assert _background(plot) != light  # ... but as it comes back on screen
        apply_theme("light")  # and the next switch, on screen, at once
        assert _background(plot) == light
    finally:
        apply_theme("light")
