"""Light/dark theme that follows the system unless the student picks one.

Switching applies at once, everywhere: the palette (with its disabled colours, so a button that
does nothing looks it), every chart already drawn, and every widget styled by a style sheet
(Qt resolves those against the palette once, when the widget is polished, so they are polished
again). Windows that choose colours of their own listen to ``AppEvents.theme_changed``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QWidget

DARK_BACKGROUND = (37, 37, 38)
DARK_FOREGROUND = (220, 220, 220)
LIGHT_FOREGROUND = (40, 40, 40)

if TYPE_CHECKING:  # pyqtgraph loads after the window is shown (over a second at start-up)
    import pyqtgraph as pg


def system_is_dark() -> bool:
    hints = QGuiApplication.styleHints()
    return bool(hints.colorScheme() == Qt.ColorScheme.Dark)


def is_dark(theme: str) -> bool:
    if theme == "dark":
        return True
    if theme == "light":
        return False
    return system_is_dark()


# WCAG 2.1 AA: normal text needs a contrast ratio of at least 4.5:1 with its background.
AA_TEXT_CONTRAST = 4.5


def relative_luminance(colour: QColor) -> float:
    """WCAG 2.1 relative luminance of an sRGB colour, 0 (black) .. 1 (white)."""

    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    return (
        0.2126 * lin(colour.redF()) + 0.7152 * lin(colour.greenF()) + 0.0722 * lin(colour.blueF())
    )


def contrast_ratio(a: QColor, b: QColor) -> float:
    """WCAG 2.1 contrast ratio of two colours, 1 (same) .. 21 (black on white)."""
    la, lb = relative_luminance(a), relative_luminance(b)
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


def muted_text(palette: QPalette, share: float = 0.6) -> QColor:
    """A quieter text colour for labels beside the figures they name: ``share`` of the way
    from the window's colour to its text colour, moved further toward the text until it
    reads at AA_TEXT_CONTRAST (4.5:1) or more on the window, in light and dark themes alike
    (the grey it replaces, palette(mid), was 1.9:1 on the light window)."""
    bg = palette.color(QPalette.ColorRole.Window)
    fg = palette.color(QPalette.ColorRole.WindowText)
    while True:
        mixed = QColor.fromRgbF(
            bg.redF() + share * (fg.redF() - bg.redF()),
            bg.greenF() + share * (fg.greenF() - bg.greenF()),
            bg.blueF() + share * (fg.blueF() - bg.blueF()),
        )
        if share >= 1.0 or contrast_ratio(mixed, bg) >= AA_TEXT_CONTRAST + 0.1:
            return mixed
        share = min(1.0, share + 0.04)


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
    p.setColor(QPalette.ColorRole.PlaceholderText, QColor(150, 150, 150))
    # Disabled: grey text on a flatter button, so "Record take" before Start reads as
    # unavailable (Fusion's default for a custom palette is the same colour as enabled).
    disabled = QPalette.ColorGroup.Disabled
    grey = QColor(125, 125, 125)
    for role in (
        QPalette.ColorRole.WindowText,
        QPalette.ColorRole.Text,
        QPalette.ColorRole.ButtonText,
    ):
        p.setColor(disabled, role, grey)
    p.setColor(disabled, QPalette.ColorRole.Button, QColor(44, 44, 46))
    p.setColor(disabled, QPalette.ColorRole.Base, QColor(44, 44, 46))
    p.setColor(disabled, QPalette.ColorRole.Light, alt)
    return p


def palette_is_dark() -> bool:
    """True when the application's palette (the theme in force) is dark."""
    return bool(QGuiApplication.palette().window().color().lightness() < 128)


def style_plot(plot: pg.PlotWidget) -> None:
    """Give an existing chart the current theme's background, axes and legend text."""
    import pyqtgraph as pg

    plot.setBackground(pg.getConfigOption("background"))
    foreground = pg.getConfigOption("foreground")
    item = plot.getPlotItem()
    for name in ("left", "bottom", "right", "top"):
        axis = item.getAxis(name)
        axis.setPen()
        axis.setTextPen()
    if item.legend is not None:
        item.legend.setLabelTextColor(foreground)


_applied = {"dark": False}  # the theme applied last, for charts created later


def apply_theme(theme: str, restyle_open: bool = True) -> bool:
    """Apply the palette and pyqtgraph colours to the whole app, windows already open
    included; returns True when dark. pyqtgraph itself is not imported here: its colours are
    set now if it is loaded, else by :func:`apply_chart_colours` before the first chart.
    restyle_open=False when no window is open yet (at start-up): the widgets built afterwards
    take the palette themselves. Only the windows on screen are restyled at once; a hidden one
    (a dialog kept to be shown again, or a window closed and waiting for deletion, as tests
    leave them: walking those crashed) is restyled when it is next shown."""
    app = QApplication.instance()
    dark = is_dark(theme)
    _applied["dark"] = dark
    charts = "pyqtgraph" in sys.modules
    if charts:
        apply_chart_colours()
    if isinstance(app, QApplication):
        app.setStyle("Fusion")
        app.setPalette(_dark_palette() if dark else app.style().standardPalette())
        if restyle_open:
            for top in app.topLevelWidgets():
                if top.isVisible():
                    _restyle_window(top, charts)
                else:
                    top.installEventFilter(_restyle_on_show)
    return dark


def _restyle_window(top: QWidget, charts: bool) -> None:
    for widget in (top, *top.findChildren(QWidget)):
        _restyle(widget, charts)


class _RestyleOnShow(QObject):
    """Restyles a hidden window the first time it is shown after a theme switch."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Show and isinstance(watched, QWidget) and watched.isWindow():
            watched.removeEventFilter(self)
            _restyle_window(watched, "pyqtgraph" in sys.modules)
        return False


_restyle_on_show = _RestyleOnShow()


def apply_chart_colours() -> None:
    """Set pyqtgraph's colours for the theme applied last; call before creating charts."""
    import pyqtgraph as pg

    dark = _applied["dark"]
    pg.setConfigOptions(
        background=DARK_BACKGROUND if dark else "w",
        foreground=DARK_FOREGROUND if dark else LIGHT_FOREGROUND,
        antialias=True,
    )


def _restyle(widget: QWidget, charts: bool) -> None:
    if charts:
        import pyqtgraph as pg

        # A chart closed but not yet deleted has no plot item left to restyle.
        if isinstance(widget, pg.PlotWidget) and widget.getPlotItem() is not None:
            style_plot(widget)
    sheet = widget.styleSheet()
    if sheet:
        # Re-resolve the sheet against the new palette (setting the same text is a no-op).
        widget.setStyleSheet("")
        widget.setStyleSheet(sheet)


class ThemeFollower:
    """Re-applies the theme when the system switches light/dark, if the student chose
    "Follow the system"; ``on_change(dark)`` then tells the windows."""

    def __init__(self, theme: str, on_change: Callable[[bool], None] | None = None) -> None:
        self.theme = theme
        self.on_change = on_change
        QGuiApplication.styleHints().colorSchemeChanged.connect(self._changed)

    def _changed(self, _scheme: object) -> None:
        if self.theme == "system":
            dark = apply_theme("system")
            if self.on_change is not None:
                self.on_change(dark)
