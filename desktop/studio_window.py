"""The teacher's studio window: one row per student, each student's progress, sessions and
takes (read from the studio server, read-only), assignments and comments. It only draws; its
data comes from desktop.usecases.studio, run on a database worker connected as the teacher."""

from __future__ import annotations

import tempfile
import uuid
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

from PySide6.QtCore import QDate, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QIcon, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTabBar,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QToolBar,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.context import AppContext, AppEvents
from desktop.dbworker import DbWorker, TaskRunner
from desktop.progress_window import ProgressWindow
from desktop.usecases.plan import DIFFICULTIES
from desktop.usecases.progress import load_progress
from desktop.usecases.studio import (
    StudioData,
    TakeView,
    assign,
    comment,
    fetch_take_audio,
    load_students,
    session_take_views,
    student_sessions,
    studio_assignments,
)
from desktop.usecases.takes import take_label
from desktop.widgets.comments import CommentsLabel
from desktop.widgets.take_card import TakeCard

if TYPE_CHECKING:
    from storage.db import Database
    from storage.records import SessionRecord
    from storage.sync.studio import StudentRow, Teacher

COLUMNS = (
    "Student",
    "Last practice",
    "Minutes this week",
    "Streak (days)",
    "Overall",
    "Pitch",
    "Rhythm",
    "Trend",
    "Last 12 weeks",
)
INACTIVE_BRUSH = QColor(250, 225, 200)


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{round(v * 100)} %"


class SortItem(QTableWidgetItem):
    """A cell that sorts by its number (Qt.UserRole), not its text; empty cells sort first."""

    def __init__(self, text: str, key: float | None) -> None:
        super().__init__(text)
        self.setData(Qt.ItemDataRole.UserRole, key)
        self.setFlags(self.flags() & ~Qt.ItemFlag.ItemIsEditable)

    def __lt__(self, other: QTableWidgetItem) -> bool:
        mine = self.data(Qt.ItemDataRole.UserRole)
        theirs = other.data(Qt.ItemDataRole.UserRole)
        if mine is None or theirs is None:
            return mine is None and theirs is not None
        return bool(mine < theirs)


def sparkline(values: tuple[float | None, ...], width: int = 96, height: int = 22) -> QPixmap:
    """The weekly overall scores as a small line (0..100 % bottom to top); gaps where a week
    has no score."""
    pix = QPixmap(width, height)
    pix.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pix)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(QPen(QColor(160, 160, 160), 1))
    painter.drawLine(0, height - 1, width, height - 1)
    painter.setPen(QPen(QColor(30, 120, 220), 2))
    n = max(len(values) - 1, 1)
    prev: tuple[float, float] | None = None
    for i, v in enumerate(values):
        if v is None:
            prev = None
            continue
        pt = (i * (width - 4) / n + 2, (height - 3) - v * (height - 6))
        if prev is not None:
            painter.drawLine(int(prev[0]), int(prev[1]), int(pt[0]), int(pt[1]))
        else:
            painter.drawEllipse(int(pt[0]) - 1, int(pt[1]) - 1, 2, 2)
        prev = pt
    painter.end()
    return pix


class StudentTable(QTableWidget):
    """One row per student, sortable by any column; students inactive for N days are tinted."""

    student_opened = Signal(object)  # StudentRow

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(list(COLUMNS))
        self.setSortingEnabled(True)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.verticalHeader().setVisible(False)
        self.rows: list[StudentRow] = []
        self.cellDoubleClicked.connect(self._opened)

    def show_rows(self, rows: list[StudentRow]) -> None:
        self.setSortingEnabled(False)
        self.rows = rows
        self.setRowCount(len(rows))
        for i, r in enumerate(rows):
            last = r.last_practice.astimezone().strftime("%Y-%m-%d") if r.last_practice else "never"
            if r.days_inactive is not None:
                last += f" ({r.days_inactive} d ago)" if r.days_inactive else " (today)"
            scored = [v for v in r.sparkline if v is not None]
            cells = [
                SortItem(r.name, None),
                SortItem(last, r.last_practice.timestamp() if r.last_practice else None),
                SortItem(f"{r.minutes_this_week:.0f}", r.minutes_this_week),
                SortItem(str(r.streak_days), r.streak_days),
                SortItem(_pct(r.overall), r.overall),
                SortItem(_pct(r.pitch), r.pitch),
                SortItem(_pct(r.rhythm), r.rhythm),
                SortItem(r.trend_arrow, r.trend),
                SortItem("", scored[-1] if scored else None),
            ]
            cells[0].setData(Qt.ItemDataRole.UserRole, r.name.casefold())
            cells[0].setData(Qt.ItemDataRole.UserRole + 1, i)
            cells[8].setIcon(QIcon(sparkline(r.sparkline)))
            for c, cell in enumerate(cells):
                if r.inactive:
                    cell.setBackground(QBrush(INACTIVE_BRUSH))
                    cell.setForeground(QBrush(QColor(20, 20, 20)))
                    cell.setToolTip(
                        "never practised"
                        if r.days_inactive is None
                        else f"no practice for {r.days_inactive} days"
                    )
                self.setItem(i, c, cell)
            font = cells[0].font()
            font.setBold(r.inactive)
            cells[0].setFont(font)
        self.setIconSize(sparkline(()).size())
        self.setSortingEnabled(True)
        self.resizeColumnsToContents()

    def row_at(self, table_row: int) -> StudentRow | None:
        item = self.item(table_row, 0)
        if item is None:
            return None
        return self.rows[int(item.data(Qt.ItemDataRole.UserRole + 1))]

    def _opened(self, table_row: int, _col: int) -> None:
        row = self.row_at(table_row)
        if row is not None and row.user_id is not None:
            self.student_opened.emit(row)


class ServerProgress(ProgressWindow):
    """The student's progress window, the same charts, read from the server (read-only)."""

    def __init__(self, db: DbWorker, user_id: uuid.UUID, parent: QWidget | None = None):
        # The progress window listens to the app's events; here nothing local changes.
        super().__init__(cast(AppContext, SimpleNamespace(events=AppEvents())), parent)
        self.studio_db = db
        self.user_id = user_id

    def reload(self) -> None:
        uid = self.user_id
        period = str(self.period.currentData())
        self.message.setText("Loading…")
        self.studio_db.submit(
            "student progress",
            lambda s: load_progress(s, uid, period),
            self.draw,
            lambda _exc: self.message.setText("Could not read the progress from the server."),
        )


class StudentView(QWidget):
    """One student: progress charts, sessions, takes with their analysis card, playback from
    the server and the teacher's comments."""

    def __init__(self, window: StudioWindow, row: StudentRow) -> None:
        super().__init__(window)
        assert row.user_id is not None
        self.window_ = window
        self.row = row
        self.user_id = row.user_id
        self.sessions: list[SessionRecord] = []
        self.takes: list[TakeView] = []
        self.progress = ServerProgress(window.db, row.user_id, self)
        self.session_list = QTreeWidget()
        self.session_list.setHeaderLabels(["Started", "Piece", "Length", "Status"])
        self.session_list.setRootIsDecorated(False)
        self.session_list.itemSelectionChanged.connect(self._session_chosen)
        self.take_list = QTreeWidget()
        self.take_list.setHeaderLabels(["Take", "Length", "Overall", "Comments"])
        self.take_list.setRootIsDecorated(False)
        self.take_list.itemSelectionChanged.connect(self._take_chosen)
        self.card = TakeCard()
        self.comments = CommentsLabel(None, "Comments", "not read yet")
        self.play_button = QPushButton("Play from the server")
        self.play_button.clicked.connect(self.play_selected)
        self.comment_text = QLineEdit()
        self.comment_text.setPlaceholderText("A comment for the student on this take")
        self.comment_at = QDoubleSpinBox()
        self.comment_at.setRange(-1, 86_400)
        self.comment_at.setSpecialValueText("whole take")
        self.comment_at.setValue(-1)
        self.comment_at.setSuffix(" s")
        self.comment_button = QPushButton("Add comment")
        self.comment_button.clicked.connect(self.add_comment)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.session_list)
        left.addWidget(self.take_list)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.addWidget(self.card, 1)
        rl.addWidget(self.comments)
        crow = QHBoxLayout()
        crow.addWidget(self.comment_text, 1)
        crow.addWidget(QLabel("at"))
        crow.addWidget(self.comment_at)
        crow.addWidget(self.comment_button)
        rl.addLayout(crow)
        rl.addWidget(self.play_button)
        rl.addWidget(self.message)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(1, 2)
        split.setSizes([420, 840])
        tabs = QTabWidget()
        tabs.addTab(self.progress, "Progress")
        tabs.addTab(split, "Sessions and takes")
        self.tabs = tabs
        report = QPushButton("Report…")
        report.clicked.connect(lambda: window.report_dialog(row))
        head = QHBoxLayout()
        title = QLabel(row.name)
        title.setStyleSheet("font-size: 16px; font-weight: bold;")
        head.addWidget(title, 1)
        head.addWidget(report)
        lay = QVBoxLayout(self)
        lay.addLayout(head)
        lay.addWidget(tabs, 1)
        self.progress.reload()
        self.reload_sessions()

    def reload_sessions(self) -> None:
        uid = self.user_id
        self.window_.db.submit("student sessions", lambda s: student_sessions(s, uid), self._show)

    def _show(self, sessions: list[SessionRecord]) -> None:
        self.sessions = sessions
        self.session_list.clear()
        for i, s in enumerate(sessions):
            item = QTreeWidgetItem(
                [
                    s.started_at.astimezone().strftime("%Y-%m-%d %H:%M"),
                    s.piece_name or "Free practice",
                    f"{(s.duration_seconds or 0) // 60} min",
                    s.status,
                ]
            )
            item.setData(0, Qt.ItemDataRole.UserRole, i)
            self.session_list.addTopLevelItem(item)
        self.session_list.resizeColumnToContents(0)

    def select_session(self, index: int) -> None:
        item = self.session_list.topLevelItem(index)
        if item is None:
            return
        if item.isSelected():
            self._session_chosen()  # chosen again: read its takes afresh
        else:
            self.session_list.setCurrentItem(item)

    def _session_chosen(self) -> None:
        items = self.session_list.selectedItems()
        if not items:
            return
        sid = self.sessions[int(items[0].data(0, Qt.ItemDataRole.UserRole))].id
        self.window_.db.submit("session takes", lambda s: session_take_views(s, sid), self._takes)

    def _takes(self, takes: list[TakeView]) -> None:
        self.takes = takes
        self.take_list.clear()
        for i, t in enumerate(takes):
            p, a = t.take.performance, t.take.analysis
            item = QTreeWidgetItem(
                [
                    take_label(i + 1, p.recording_started_at),
                    f"{p.recording_duration:.1f} s",
                    _pct(a.overall_score if a else None),
                    str(len(t.comments) or ""),
                ]
            )
            item.setData(0, Qt.ItemDataRole.UserRole, i)
            self.take_list.addTopLevelItem(item)
        first = self.take_list.topLevelItem(0)
        if first is not None:
            self.take_list.setCurrentItem(first)

    def selected_take(self) -> TakeView | None:
        items = self.take_list.selectedItems()
        if not items:
            return None
        return self.takes[int(items[0].data(0, Qt.ItemDataRole.UserRole))]

    def _take_chosen(self) -> None:
        t = self.selected_take()
        if t is None:
            return
        if t.take.analysis is not None:
            self.card.show_analysis(asdict(t.take.analysis), title=f"{self.row.name}'s take")
        self.comments.show_comments(t.comments)

    def add_comment(self) -> None:
        t = self.selected_take()
        body = self.comment_text.text().strip()
        if t is None or not body:
            self.message.setText("Choose a take and write a comment first.")
            return
        at = self.comment_at.value()
        pid = t.take.performance.id

        def done(_c: object) -> None:
            self.comment_text.clear()
            self.message.setText("Comment saved; the student sees it after their next sync.")
            self._session_chosen()

        self.window_.db.submit(
            "comment",
            lambda s: comment(s, pid, body, at if at >= 0 else None),
            done,
            lambda exc: self.message.setText(f"The comment was not saved: {exc}"),
        )

    def play_selected(self) -> None:
        t = self.selected_take()
        if t is None:
            return
        pid = t.take.performance.id
        folder = self.window_.audio_dir

        def fetched(path: Path | None) -> None:
            if path is None:
                self.message.setText("The server does not hold this take's audio.")
                return
            from desktop.takes import play_file

            self.message.setText(f"Playing {self.row.name}'s take.")
            self.window_.compute.submit(
                "play",
                lambda: play_file(path),
                None,
                lambda _exc: self.message.setText("This computer cannot play audio right now."),
            )

        self.window_.db.submit("fetch audio", lambda s: fetch_take_audio(s, pid, folder), fetched)


class AssignmentDialog(QDialog):
    """Set a piece to one or several students."""

    def __init__(self, rows: list[StudentRow], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("New assignment")
        self.students = QListWidget()
        for r in rows:
            if r.user_id is None:
                continue
            item = QListWidgetItem(r.name)
            item.setData(Qt.ItemDataRole.UserRole, r.user_id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            self.students.addItem(item)
        self.title = QLineEdit()
        self.reference = QLineEdit()
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._browse)
        ref_row = QHBoxLayout()
        ref_row.addWidget(self.reference, 1)
        ref_row.addWidget(browse)
        self.tempo = QSpinBox()
        self.tempo.setRange(0, 300)
        self.tempo.setSpecialValueText("no tempo")
        self.tempo.setSuffix(" BPM")
        self.genre = QLineEdit()
        self.difficulty = QComboBox()
        self.difficulty.addItem("not set", "")
        for d in DIFFICULTIES:
            self.difficulty.addItem(d, d)
        self.has_due = QCheckBox("due on")
        self.due = QDateEdit(QDate.currentDate().addDays(7))
        self.due.setCalendarPopup(True)
        due_row = QHBoxLayout()
        due_row.addWidget(self.has_due)
        due_row.addWidget(self.due, 1)
        self.min_minutes = QSpinBox()
        self.min_minutes.setRange(0, 10_000)
        self.min_minutes.setSpecialValueText("no minimum")
        self.min_minutes.setSuffix(" min")
        self.target = QSpinBox()
        self.target.setRange(0, 100)
        self.target.setSpecialValueText("no target")
        self.target.setSuffix(" %")
        self.instructions = QPlainTextEdit()
        self.instructions.setMaximumHeight(70)
        self.error = QLabel("")
        self.error.setStyleSheet("color: rgb(215,50,50);")
        form = QFormLayout()
        form.addRow("Students", self.students)
        form.addRow("Piece", self.title)
        form.addRow("Reference MIDI", ref_row)
        form.addRow("Target tempo", self.tempo)
        form.addRow("Genre", self.genre)
        form.addRow("Difficulty", self.difficulty)
        form.addRow("Due", due_row)
        form.addRow("Practise at least", self.min_minutes)
        form.addRow("Target score", self.target)
        form.addRow("Instructions", self.instructions)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.error)
        lay.addWidget(buttons)

    def _browse(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Reference MIDI", "", "MIDI (*.mid *.midi)")
        if name:
            self.reference.setText(name)

    def check(self, user_id: uuid.UUID) -> None:
        for i in range(self.students.count()):
            item = self.students.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == user_id:
                item.setCheckState(Qt.CheckState.Checked)

    def chosen(self) -> list[uuid.UUID]:
        out = []
        for i in range(self.students.count()):
            item = self.students.item(i)
            if item.checkState() == Qt.CheckState.Checked:
                out.append(item.data(Qt.ItemDataRole.UserRole))
        return out

    def fields(self) -> dict[str, Any]:
        """The assignment as keyword arguments of desktop.usecases.studio.assign."""
        ref = self.reference.text().strip()
        return {
            "title": self.title.text().strip(),
            "reference": Path(ref) if ref else None,
            "target_tempo": self.tempo.value() or None,
            "genre": self.genre.text().strip() or None,
            "difficulty_level": str(self.difficulty.currentData() or "") or None,
            "due_on": self.due.date().toPython() if self.has_due.isChecked() else None,
            "min_minutes": self.min_minutes.value() or None,
            "target_score": self.target.value() / 100 if self.target.value() else None,
            "instructions": self.instructions.toPlainText().strip() or None,
        }

    def _accept(self) -> None:
        if not self.chosen():
            self.error.setText("Choose at least one student.")
            return
        if not self.title.text().strip():
            self.error.setText("Name the piece.")
            return
        if 0 < self.tempo.value() < 20:
            self.error.setText("The target tempo must be 20–300 BPM.")
            return
        self.accept()


class StudioWindow(QMainWindow):
    """``loaded`` fires each time the students' table is on screen, ``assignments_loaded`` when
    the assignments and their status are (read after it: the table comes first)."""

    loaded = Signal(object)  # StudioData, its assignments not read yet
    assignments_loaded = Signal(object)  # StudioData, complete

    def __init__(self, studio: Database, data_dir: Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.studio = studio
        self.db = DbWorker(studio.sessionmaker, self)
        self.compute = TaskRunner(self)
        self.audio_dir = Path(tempfile.gettempdir()) / "etude-studio-audio"
        self.data_dir = data_dir
        self.data: StudioData | None = None
        self.setWindowTitle("Etude — studio")
        self.resize(1200, 760)
        self.inactive_days = QSpinBox()
        self.inactive_days.setRange(1, 365)
        self.inactive_days.setValue(7)
        self.inactive_days.setSuffix(" days")
        self.inactive_days.setPrefix("inactive after ")
        self.inactive_days.valueChanged.connect(lambda _v: self.reload())
        bar = QToolBar("Studio")
        bar.setMovable(False)
        bar.addAction("Refresh", self.reload)
        bar.addAction("New assignment…", self.new_assignment)
        bar.addWidget(self.inactive_days)
        self.addToolBar(bar)
        self.table = StudentTable()
        self.table.student_opened.connect(self.open_student)
        self.assignments = QTableWidget(0, 5)
        self.assignments.setHorizontalHeaderLabels(["Piece", "Student", "Due", "Goals", "Status"])
        self.assignments.verticalHeader().setVisible(False)
        self.assignments.setSortingEnabled(True)
        self.tabs = QTabWidget()
        self.tabs.setTabsClosable(True)
        self.tabs.tabCloseRequested.connect(self._close_tab)
        self.tabs.addTab(self.table, "Students")
        self.tabs.addTab(self.assignments, "Assignments")
        for i in (0, 1):  # these two stay open
            self.tabs.tabBar().setTabButton(i, QTabBar.ButtonPosition.RightSide, None)
        self.status = QLabel("Loading…")
        self.statusBar().addWidget(self.status, 1)
        self.setCentralWidget(self.tabs)
        self.student_views: dict[uuid.UUID, StudentView] = {}
        self.reload()

    def _close_tab(self, index: int) -> None:
        if index < 2:  # Students and Assignments stay
            return
        widget = self.tabs.widget(index)
        self.tabs.removeTab(index)
        for key, view in list(self.student_views.items()):
            if view is widget:
                del self.student_views[key]
        if widget is not None:
            widget.deleteLater()

    def reload(self) -> None:
        days = self.inactive_days.value()

        def failed(exc: BaseException) -> None:
            self.status.setText(f"Could not read the studio: {exc}")

        def students_shown(got: tuple[Teacher, list[StudentRow]]) -> None:
            self.show_students(StudioData(got[0], got[1], []))
            rows = got[1]
            self.db.submit(
                "studio assignments",
                lambda s: studio_assignments(s, rows),
                lambda lines: self.show_data(StudioData(got[0], rows, lines)),
                failed,
            )

        self.db.submit(
            "studio",
            lambda s: load_students(s, now=datetime.now(UTC), inactive_days=days),
            students_shown,
            failed,
        )

    def show_students(self, data: StudioData) -> None:
        self.data = data
        self.setWindowTitle(f"Etude — studio of {data.teacher.display_name}")
        self.table.show_rows(data.students)
        inactive = sum(r.inactive for r in data.students)
        self.status.setText(
            f"{len(data.students)} students, {inactive} inactive for "
            f"{self.inactive_days.value()} days or more"
        )
        self.loaded.emit(data)

    def show_data(self, data: StudioData) -> None:
        """The studio complete: the students (again, if they changed) and the assignments."""
        if self.data is None or self.data.students is not data.students:
            self.show_students(data)
        self.data = data
        self.assignments.setSortingEnabled(False)
        self.assignments.setRowCount(len(data.assignments))
        for i, line in enumerate(data.assignments):
            a = line.assignment
            goals = []
            if a.min_minutes:
                goals.append(f"{a.min_minutes} min")
            if a.target_score is not None:
                goals.append(f"{round(a.target_score * 100)} %")
            cells = [
                a.title,
                line.student,
                a.due_on.isoformat() if a.due_on else "",
                ", ".join(goals),
                line.status.label,
            ]
            for c, text in enumerate(cells):
                self.assignments.setItem(i, c, QTableWidgetItem(text))
        self.assignments.setSortingEnabled(True)
        self.assignments.resizeColumnsToContents()
        self.assignments_loaded.emit(data)

    def open_student(self, row: StudentRow) -> StudentView:
        assert row.user_id is not None
        view = self.student_views.get(row.user_id)
        if view is None:
            view = StudentView(self, row)
            self.student_views[row.user_id] = view
            self.tabs.addTab(view, row.name)
        self.tabs.setCurrentWidget(view)
        return view

    def new_assignment(self, preselect: uuid.UUID | None = None) -> AssignmentDialog | None:
        if self.data is None:
            return None
        dialog = AssignmentDialog(self.data.students, self)
        if preselect is not None:
            dialog.check(preselect)
        if dialog.exec():
            self.create_assignment(dialog.chosen(), dialog.fields())
        return dialog

    def create_assignment(self, student_ids: list[uuid.UUID], fields: dict[str, Any]) -> None:
        def done(made: list[Any]) -> None:
            self.status.setText(f"Assigned to {len(made)} student(s).")
            self.reload()

        self.db.submit(
            "assign",
            lambda s: assign(s, student_ids, **fields),
            done,
            lambda exc: self.status.setText(f"The assignment was not saved: {exc}"),
        )

    def report_dialog(self, row: StudentRow) -> None:
        from desktop.studio_report import ReportDialog

        ReportDialog(self, row).exec()


def run_studio(studio: Database, data_dir: Path) -> int:
    """``etude studio``: the studio window until it is closed; returns the exit code."""
    from desktop.app import ensure_app
    from desktop.theme import ThemeFollower

    app = ensure_app()
    follower = ThemeFollower("system")
    window = StudioWindow(studio, data_dir)
    window.show()
    try:
        return int(app.exec())
    finally:
        window.db.wait_for_done()
        studio.dispose()
        del follower
