"""The studio's report dialog: a student, a range of days, and where to write the one-page HTML
report and the readable CSV (desktop.usecases.reports does the work, on the studio's worker)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QDate, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QDateEdit,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
)

from desktop.usecases.reports import ReportData, load_report, write_log_csv, write_report

if TYPE_CHECKING:
    from desktop.studio_window import StudioWindow
    from storage.sync.studio import StudentRow


class ReportDialog(QDialog):
    def __init__(self, window: StudioWindow, row: StudentRow) -> None:
        super().__init__(window)
        assert row.user_id is not None
        self.window_ = window
        self.row = row
        self.setWindowTitle(f"Report: {row.name}")
        self.since = QDateEdit(QDate.currentDate().addMonths(-3))
        self.until = QDateEdit(QDate.currentDate())
        for d in (self.since, self.until):
            d.setCalendarPopup(True)
            d.setDisplayFormat("yyyy-MM-dd")
        self.message = QLabel("")
        self.message.setWordWrap(True)
        html_button = QPushButton("Save report (HTML)…")
        html_button.clicked.connect(self._save_html)
        csv_button = QPushButton("Save takes (CSV)…")
        csv_button.clicked.connect(self._save_csv)
        form = QFormLayout()
        form.addRow("From", self.since)
        form.addRow("To", self.until)
        buttons = QHBoxLayout()
        buttons.addWidget(html_button)
        buttons.addWidget(csv_button)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addLayout(buttons)
        lay.addWidget(self.message)

    def make(self, path: Path, kind: str) -> None:
        """Write the report (``kind`` "html") or the CSV ("csv") to ``path``, off the GUI
        thread."""
        uid = self.row.user_id
        assert uid is not None
        since = self.since.date().toPython()
        until = self.until.date().toPython()

        def work(s: object) -> Path:
            data: ReportData = load_report(s, uid, since, until)  # type: ignore[arg-type]
            if kind == "html":
                return write_report(data, path)
            write_log_csv(data, path)
            return path

        def done(out: Path) -> None:
            self.message.setText(f"Saved {out}")
            if kind == "html":
                QDesktopServices.openUrl(QUrl.fromLocalFile(str(out)))

        self.window_.db.submit(
            "report", work, done, lambda exc: self.message.setText(f"Not saved: {exc}")
        )

    def _save_html(self) -> None:
        name, _ = QFileDialog.getSaveFileName(
            self, "Save report", f"{self.row.name} report.html", "HTML (*.html)"
        )
        if name:
            self.make(Path(name), "html")

    def _save_csv(self) -> None:
        name, _ = QFileDialog.getSaveFileName(
            self, "Save takes", f"{self.row.name} takes.csv", "CSV (*.csv)"
        )
        if name:
            self.make(Path(name), "csv")
