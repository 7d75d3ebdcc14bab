"""Export dialog: tables, profile and date range to CSV, written off the GUI thread with a
progress bar (storage.export does the writing and calls back with row counts)."""

from __future__ import annotations

import threading
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QDate, QObject, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.context import AppContext
from desktop.usecases.export import export_tables
from desktop.usecases.messages import failure_reason

if TYPE_CHECKING:
    from storage.export import ExportResult

TABLE_LABELS = (
    ("sessions", "Sessions"),
    ("performances", "Takes"),
    ("analyses", "Analyses"),
    ("progress", "Progress rows"),
)


class _ProgressRelay(QObject):
    # Emitted from the database worker thread; delivered queued on the GUI thread.
    rows = Signal(int, int)


def _local_bound(d: date, end: bool, tz: tzinfo | None = None) -> datetime:
    """Midnight starting day ``d`` (``end``: the next one, exclusive) in ``tz`` (a profile's
    zone, as `etude export` and the progress rows use), else in the computer's zone."""
    from datetime import timedelta

    day = d + timedelta(days=1) if end else d
    if tz is None:
        return datetime.combine(day, time.min).astimezone()
    return datetime.combine(day, time.min, tzinfo=tz)


class ExportDialog(QDialog):
    export_finished = Signal(object)  # storage.export.ExportResult

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle("Export to CSV")
        self.result_data: ExportResult | None = None
        self._cancel = threading.Event()
        self._relay = _ProgressRelay(self)
        self._relay.rows.connect(self._progress)
        form = QFormLayout()
        self.table_boxes: dict[str, QCheckBox] = {}
        trow = QHBoxLayout()
        for key, label in TABLE_LABELS:
            box = QCheckBox(label)
            box.setChecked(True)
            self.table_boxes[key] = box
            trow.addWidget(box)
        form.addRow("Tables", trow)
        self.profile = QComboBox()
        self.profile.addItem("All profiles", None)
        if ctx.profile is not None:
            self.profile.addItem(ctx.profile.display_name, ctx.profile.id)
            self.profile.setCurrentIndex(1)
        form.addRow("Profile", self.profile)
        self.all_dates = QCheckBox("All dates")
        self.all_dates.setChecked(True)
        self.since = QDateEdit(QDate.currentDate().addMonths(-1))
        self.until = QDateEdit(QDate.currentDate())
        for d in (self.since, self.until):
            d.setCalendarPopup(True)
            d.setDisplayFormat("yyyy-MM-dd")
            d.setEnabled(False)
        self.all_dates.toggled.connect(self._all_dates_toggled)
        drow = QHBoxLayout()
        drow.addWidget(self.all_dates)
        drow.addWidget(QLabel("from"))
        drow.addWidget(self.since)
        drow.addWidget(QLabel("to"))
        drow.addWidget(self.until)
        form.addRow("Dates", drow)
        self.folder = QLineEdit(str(Path.home() / "Etude export"))
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._browse)
        frow = QHBoxLayout()
        frow.addWidget(self.folder, 1)
        frow.addWidget(browse)
        form.addRow("Folder", frow)
        # On by default here: people who export from the window mostly open the files in a
        # spreadsheet, and Excel garbles accents in UTF-8 without a byte-order mark.
        self.excel_bom = QCheckBox("For Excel (UTF-8 with a byte-order mark)")
        self.excel_bom.setChecked(True)
        form.addRow("", self.excel_bom)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.export_button = QPushButton("Export")
        self.export_button.clicked.connect(self.start_export)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self._cancel_or_close)
        # Beside the full tables: one readable row per take, for a spreadsheet or a teacher.
        self.log_button = QPushButton("Practice log (readable CSV)")
        self.log_button.setToolTip(
            "One row per take: date and time, piece, assignment, length, scores in percent and "
            "the main tip"
        )
        self.log_button.clicked.connect(self.export_practice_log)
        brow = QHBoxLayout()
        brow.addWidget(self.log_button)
        brow.addStretch(1)
        brow.addWidget(self.export_button)
        brow.addWidget(self.cancel_button)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.bar)
        lay.addWidget(self.message)
        lay.addLayout(brow)

    def _all_dates_toggled(self, on: bool) -> None:
        self.since.setEnabled(not on)
        self.until.setEnabled(not on)

    def _browse(self) -> None:
        name = QFileDialog.getExistingDirectory(self, "Export folder", self.folder.text())
        if name:
            self.folder.setText(name)

    def chosen_tables(self) -> list[str]:
        return [k for k, box in self.table_boxes.items() if box.isChecked()]

    def start_export(self) -> bool:
        tables = self.chosen_tables()
        if not tables:
            self.message.setText("Choose at least one table to export.")
            return False
        text = self.folder.text().strip()
        if not text:
            self.message.setText("Choose a folder to export to.")
            return False
        folder = Path(text).expanduser()
        if folder.exists() and not folder.is_dir():
            self.message.setText(f"{folder} is a file; choose a folder.")
            return False
        since = until = None
        if not self.all_dates.isChecked():
            d0: date = self.since.date().toPython()  # type: ignore[assignment]
            d1: date = self.until.date().toPython()  # type: ignore[assignment]
            if d1 < d0:
                self.message.setText("The end date is before the start date.")
                return False
            tz = self._profile_zone()
            since, until = _local_bound(d0, False, tz), _local_bound(d1, True, tz)
        user_id = self.profile.currentData()
        self._cancel.clear()
        self.bar.setRange(0, 0)  # busy until the first count arrives
        self.export_button.setEnabled(False)
        self.cancel_button.setText("Cancel")
        self.message.setText("Exporting…")
        relay, cancel, bom = self._relay, self._cancel, self.excel_bom.isChecked()
        self.ctx.db.submit(
            "export",
            lambda s: export_tables(
                s, folder, tables, user_id, since, until, relay.rows.emit, cancel, bom
            ),
            self._done,
            self._failed,
        )
        return True

    def export_practice_log(self) -> bool:
        """Write ``<folder>/practice-log.csv`` for the chosen profile and dates."""
        from desktop.usecases.reports import practice_log

        user_id = self.profile.currentData()
        if user_id is None:
            self.message.setText("Choose one profile for its practice log.")
            return False
        text = self.folder.text().strip()
        if not text:
            self.message.setText("Choose a folder to export to.")
            return False
        target = Path(text).expanduser() / "practice-log.csv"
        if self.all_dates.isChecked():
            d0, d1 = date(1990, 1, 1), date.today() + timedelta(days=1)
        else:
            d0 = self.since.date().toPython()  # type: ignore[assignment]
            d1 = self.until.date().toPython()  # type: ignore[assignment]
        self.message.setText("Writing the practice log…")

        def done(n: int) -> None:
            self.message.setText(f"Practice log: {n} take(s) written to {target}")

        self.ctx.db.submit(
            "practice log",
            lambda s: practice_log(s, user_id, d0, d1, target),
            done,
            lambda _exc: self.message.setText(
                f"The practice log could not be written to {target}."
            ),
        )
        return True

    def _profile_zone(self) -> tzinfo | None:
        """The chosen profile's zone; None (the computer's) for "All profiles"."""
        profile = self.ctx.profile
        chosen = self.profile.currentData()
        if chosen is None or profile is None or profile.id != chosen:
            return None
        from zoneinfo import ZoneInfo

        return ZoneInfo(profile.timezone)

    def _progress(self, done: int, total: int) -> None:
        self.bar.setRange(0, max(total, 1))
        self.bar.setValue(min(done, max(total, 1)))

    def _done(self, result: ExportResult) -> None:
        self.result_data = result
        self.bar.setRange(0, 1)
        self.bar.setValue(1)
        self.export_button.setEnabled(True)
        self.cancel_button.setText("Close")
        rows = ", ".join(f"{n} {t}" for t, n in result.rows.items())
        folder = next(iter(result.files.values())).parent if result.files else ""
        self.message.setText(f"Exported {rows} to {folder}.")
        self.export_finished.emit(result)

    def _failed(self, exc: BaseException) -> None:
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.export_button.setEnabled(True)
        self.cancel_button.setText("Close")
        from storage.export import ExportCancelled

        if isinstance(exc, ExportCancelled):
            self.message.setText("Export cancelled; no file was left half-written.")
        else:
            self.message.setText(f"Export failed: {failure_reason(exc)}")

    def _cancel_or_close(self) -> None:
        if not self.export_button.isEnabled():
            self._cancel.set()
        else:
            self.reject()
