"""The teacher's assignments in the New-session form: one line each (title, tempo, due day,
status) and a *Practise this* button that starts a session from the chosen one."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.usecases.assignments import StudentAssignment


class AssignmentList(QWidget):
    """Lists ``items``; ``practise_requested(assignment id)`` on *Practise this* or a double
    click."""

    practise_requested = Signal(object)  # uuid.UUID

    def __init__(self, items: Sequence[StudentAssignment], parent: QWidget | None = None):
        super().__init__(parent)
        self.items = list(items)
        title = QLabel("From your teacher")
        title.setStyleSheet("font-weight: bold;")
        self.list = QListWidget()
        self.list.setAccessibleName("Assignments")
        for item in self.items:
            row = QListWidgetItem(item.describe())
            row.setData(Qt.ItemDataRole.UserRole, item.assignment.id)
            if item.assignment.instructions:
                row.setToolTip(item.assignment.instructions)
            self.list.addItem(row)
        if self.items:
            self.list.setCurrentRow(0)
        self.list.setMaximumHeight(24 * min(max(len(self.items), 1), 5) + 8)
        self.list.itemDoubleClicked.connect(lambda _i: self._practise())
        self.button = QPushButton("Practise this")
        self.button.clicked.connect(self._practise)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(title)
        lay.addWidget(self.list)
        lay.addWidget(self.button, 0, Qt.AlignmentFlag.AlignRight)

    def selected_id(self) -> uuid.UUID | None:
        row = self.list.currentItem()
        if row is None:
            return None
        value = row.data(Qt.ItemDataRole.UserRole)
        return value if isinstance(value, uuid.UUID) else None

    def _practise(self) -> None:
        aid = self.selected_id()
        if aid is not None:
            self.practise_requested.emit(aid)
