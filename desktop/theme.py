"""Light/dark theme that follows the system unless the student picks one."""

from __future__ import annotations

import sys

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication


def system_is_dark() -> bool:
    hints = QGuiApplication.styleHints()
    return bool(hints.colorScheme() == Qt.ColorScheme.Dark)


def is_dark(theme: str) -> bool:
    if theme == "dark":
        return True
    if theme == "light":
        return False
    return system_is_dark()


def _dark_palette() -> QPalette:
    p = QPalette()
    base, alt, text = QColor(37, 37, 38), QColor(50, 50, 52), QColor(230, 230, 230)
    p.setColor(QPalette.ColorRole.Window, alt)
    p.setColor(QPalette.ColorRole.WindowText, text)
    p.setColor(QPalette.ColorRole.Base, base)
    p.setColor(QPalette.ColorRole.AlternateBase, alt)
    p.setColor(QPalette.ColorRole.ToolTipBase, base)
    p.setColor(QPalette.ColorRole.ToolTipText, text)
    p.setColor(QPalette.ColorRole.Text, text)
    p.setColor(QPalette.ColorRole.Button, alt)
    p.setColor(QPalette.ColorRole.ButtonText, text)
    p.setColor(QPalette.ColorRole.Highlight, QColor(42, 130, 218))
    p.setColor(QPalette.ColorRole.HighlightedText, QColor(255, 255, 255))
    p.setColor(QPalette.ColorRole.Mid, QColor(150, 150, 150))
    return p


_applied = {"dark": False}  # the theme applied last, for charts created later


def apply_theme(theme: str) -> bool:
    """Apply the palette and pyqtgraph colours; returns True when dark. Plots created before a
    change keep their colours until the window is reopened (pyqtgraph reads them at creation).
    pyqtgraph itself is not imported here (over a second at start-up): its colours are set now
    if it is loaded, else by :func:`apply_chart_colours` when the first chart is built."""
    app = QApplication.instance()
    dark = is_dark(theme)
    _applied["dark"] = dark
    if isinstance(app, QApplication):
        app.setStyle("Fusion")
        app.setPalette(_dark_palette() if dark else app.style().standardPalette())
    if "pyqtgraph" in sys.modules:
        apply_chart_colours()
    return dark


def apply_chart_colours() -> None:
    """Set pyqtgraph's colours for the theme applied last; call before creating charts."""
    import pyqtgraph as pg

    dark = _applied["dark"]
    pg.setConfigOptions(
        background=(37, 37, 38) if dark else "w",
        foreground=(220, 220, 220) if dark else (40, 40, 40),
        antialias=True,
    )


class ThemeFollower:
    """Re-applies the palette when the system switches light/dark, if the student chose
    "Follow the system" (the charts pick the new colours up when next opened)."""

    def __init__(self, theme: str) -> None:
        self.theme = theme
        QGuiApplication.styleHints().colorSchemeChanged.connect(self._changed)

    def _changed(self, _scheme: object) -> None:
        if self.theme == "system":
            apply_theme("system")
