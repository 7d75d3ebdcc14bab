"""Takes of a session: playback, show in folder, export the take's notes as MIDI."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.context import AppContext
from desktop.usecases.sessions import session_takes
from desktop.usecases.takes import SavedTake


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.0f} %"


def play_file(path: Path) -> float:
    """Play an audio file on the default output (blocking until started); returns seconds."""
    import sounddevice as sd
    import soundfile as sf

    data, sr = sf.read(str(path), dtype="float32", always_2d=False)
    sd.play(data, sr)
    return float(len(data)) / float(sr)


class TakesList(QWidget):
    take_selected = Signal(object)  # SavedTake

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.session_id: uuid.UUID | None = None
        self.rows: list[SavedTake] = []
        self.title = QLabel("Takes of this session")
        self.title.setStyleSheet("font-weight: bold;")
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Take", "Length", "Overall", "Pitch", "Rhythm", "Note"])
        self.tree.setRootIsDecorated(False)
        self.tree.itemSelectionChanged.connect(self._selected)
        self.play_button = QPushButton("Play")
        self.play_button.clicked.connect(self.play_selected)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop_playback)
        self.folder_button = QPushButton("Show in folder")
        self.folder_button.clicked.connect(self.show_in_folder)
        self.midi_button = QPushButton("Export MIDI…")
        self.midi_button.clicked.connect(self._export_midi_dialog)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        buttons = QHBoxLayout()
        for b in (self.play_button, self.stop_button, self.folder_button, self.midi_button):
            buttons.addWidget(b)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.title)
        lay.addWidget(self.tree, 1)
        lay.addLayout(buttons)
        lay.addWidget(self.message)
        ctx.events.take_saved.connect(self._on_take_saved)

    def show_session(self, session_id: uuid.UUID | None) -> None:
        self.session_id = session_id
        if session_id is None:
            self._fill([])
            return
        self.ctx.db.submit("list takes", lambda s: session_takes(s, session_id), self._fill)

    def _on_take_saved(self, saved: SavedTake) -> None:
        if saved.performance.session_id == self.session_id:
            self.show_session(self.session_id)

    def _fill(self, rows: list[SavedTake]) -> None:
        self.rows = rows
        self.tree.clear()
        for i, row in enumerate(rows):
            p, a = row.performance, row.analysis
            name = row.label
            flag = ""
            if p.recovered:
                flag = "recovered after a crash"
            elif p.notes:
                flag = str(p.notes)
            item = QTreeWidgetItem(
                [
                    name,
                    f"{p.recording_duration:.1f} s",
                    _pct(a.overall_score if a else None),
                    _pct(a.pitch_accuracy if a else None),
                    _pct(a.rhythm_accuracy if a else None),
                    flag,
                ]
            )
            item.setData(0, Qt.ItemDataRole.UserRole, i)
            self.tree.addTopLevelItem(item)
        for c in range(self.tree.columnCount()):
            self.tree.resizeColumnToContents(c)

    def selected_row(self) -> SavedTake | None:
        items = self.tree.selectedItems()
        if not items:
            return self.rows[-1] if self.rows else None
        return self.rows[int(items[0].data(0, Qt.ItemDataRole.UserRole))]

    def _selected(self) -> None:
        row = self.selected_row()
        if row is not None:
            self.take_selected.emit(row)

    def _audio_path(self) -> Path | None:
        row = self.selected_row()
        if row is None or not row.performance.audio_path:
            self.message.setText("Select a take first.")
            return None
        path = Path(row.performance.audio_path)
        if not path.is_file():
            self.message.setText(f"The recording {path} is no longer on disk.")
            return None
        return path

    def play_selected(self) -> bool:
        path = self._audio_path()
        if path is None:
            return False

        def failed(exc: BaseException) -> None:
            self.message.setText(f"Cannot play the take: {exc}")

        row = self.selected_row()
        self.message.setText(f"Playing {row.label if row else path.name}…")
        self.ctx.compute.submit("play", lambda: play_file(path), None, failed)
        return True

    def stop_playback(self) -> None:
        try:
            import sounddevice as sd

            sd.stop()
        except Exception as exc:
            self.message.setText(f"Cannot stop playback: {exc}")

    def show_in_folder(self) -> bool:
        path = self._audio_path()
        if path is None:
            return False
        return bool(QDesktopServices.openUrl(QUrl.fromLocalFile(str(path.parent))))

    def _export_midi_dialog(self) -> None:
        row = self.selected_row()
        if row is None:
            self.message.setText("Select a take first.")
            return
        suggested = Path(row.performance.audio_path or "take").with_suffix(".mid").name
        name, _ = QFileDialog.getSaveFileName(self, "Export notes as MIDI", suggested, "*.mid")
        if name:
            self.export_midi(Path(name))

    def export_midi(self, target: Path) -> bool:
        """Copy the selected take's notes (MIDI written when it was saved) to ``target``."""
        row = self.selected_row()
        midi = row.performance.midi_path if row else None
        if not midi or not Path(midi).is_file():
            self.message.setText("This take has no notes to export (nothing was detected).")
            return False
        try:
            shutil.copyfile(midi, target)
        except OSError as exc:
            self.message.setText(f"Could not write {target}: {exc}")
            return False
        self.message.setText(f"Notes exported to {target}.")
        return True
