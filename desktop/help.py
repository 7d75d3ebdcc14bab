"""The Help menu (keyboard shortcuts, About Etude) and the keys every secondary window closes
with (Esc, Ctrl+W), as students know them from other desktop apps."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QMessageBox, QWidget

# (keys, what they do), in the order a student meets them. The keys are Qt's portable text:
# QKeySequence shows "Ctrl" as "⌘" on a Mac.
SHORTCUTS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("Space",), "Start or stop listening"),
    (("R",), "Record a take, or end the take being recorded"),
    (("Ctrl+N",), "New session (what you are about to practise)"),
    (("Ctrl+,",), "Settings"),
    (("Esc", "Ctrl+W"), "Close the progress window or a dialog"),
    (("Ctrl+Q",), "Quit (a take being recorded is saved first)"),
)
NEW_SESSION_KEYS = "Ctrl+N"
SETTINGS_KEYS = "Ctrl+,"


def app_version() -> str:
    """Etude's installed version, or "development" when run from a checkout without one."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("etude")
    except PackageNotFoundError:
        return "development"


def _e(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _native(keys: tuple[str, ...]) -> str:
    """The keys as this platform writes them ("Ctrl+N", or "⌘N" on a Mac)."""
    native = QKeySequence.SequenceFormat.NativeText
    return " or ".join(QKeySequence(k).toString(native) or k for k in keys)


def shortcuts_html() -> str:
    rows = "".join(
        f"<tr><td style='padding-right:18px'><b>{_e(_native(k))}</b></td><td>{_e(what)}</td></tr>"
        for k, what in SHORTCUTS
    )
    return f"<table>{rows}</table>"


def about_html(version: str, data_dir: Path, database: str) -> str:
    return (
        f"<h3>Etude {_e(version)}</h3>"
        "<p>A practice companion: play or sing, and see at once whether each note is in tune "
        "and on time. Everything you record stays on this computer.</p>"
        f"<p><b>Data folder</b><br>{_e(str(data_dir))}</p>"
        f"<p><b>Database</b><br>{_e(database)}</p>"
    )


def show_text(parent: QWidget, title: str, html: str) -> QMessageBox:
    """A non-blocking message box (tests and the student can keep using the window)."""
    box = QMessageBox(parent)
    box.setWindowTitle(title)
    box.setTextFormat(Qt.TextFormat.RichText)
    box.setText(html)
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    box.setStandardButtons(QMessageBox.StandardButton.Close)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    add_close_keys(box)
    box.open()
    return box


def add_close_keys(window: QWidget) -> None:
    """Esc and Ctrl+W (⌘W) close ``window`` (a dialog already closes on Esc; Ctrl+W is added)."""
    # Ctrl+W is ⌘W on a Mac; the platform's own Close keys (Ctrl+F4 on Windows) as well.
    wanted = [QKeySequence(Qt.Key.Key_Escape), QKeySequence("Ctrl+W")]
    wanted += QKeySequence.keyBindings(QKeySequence.StandardKey.Close)
    done: set[str] = set()
    for keys in wanted:
        if keys.isEmpty() or keys.toString() in done:
            continue
        done.add(keys.toString())
        shortcut = QShortcut(keys, window)
        shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
        shortcut.activated.connect(window.close)
