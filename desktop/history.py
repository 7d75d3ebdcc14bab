"""History: the profile's sessions, filterable, with a session's complete data beside them."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING

from PySide6.QtCore import QDate, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.context import AppContext
from desktop.usecases.plan import genre_words
from desktop.usecases.sessions import complete_session, list_sessions

if TYPE_CHECKING:
    from storage.records import SessionCompleteData, SessionRecord
from desktop.widgets.take_card import SCORE_FIELDS, format_value, parse_feedback

STATUS_WORDS = {
    "active": "in progress",
    "completed": "completed",
    "abandoned": "abandoned (recovered after a crash)",
}


def session_matches(
    s: SessionRecord,
    piece: str,
    genre: str,
    status: str,
    since: date | None,
    until: date | None,
) -> bool:
    """The history filter: substring match on piece and genre, exact status, local dates."""
    if piece and piece.lower() not in (s.piece_name or "").lower():
        return False
    if genre and not any(
        genre.lower() in text.lower() for text in (s.genre or "", genre_words(s.genre or ""))
    ):
        return False
    if status and s.status != status:
        return False
    day = s.started_at.astimezone().date()
    if since and day < since:
        return False
    return not (until and day > until)


def session_length(seconds: int | None) -> str:
    """A session's length for the list: a 45-second session is "45 s", not "0 min"."""
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds} s"
    hours, minutes = divmod(seconds // 60, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def _qdate(d: date) -> QDate:
    return QDate(d.year, d.month, d.day)


def _local(dt: datetime | None) -> str:
    return dt.astimezone().strftime("%Y-%m-%d %H:%M") if dt else "–"


class HistoryPage(QWidget):
    session_opened = Signal(object)  # storage.records.SessionCompleteData

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.sessions: list[SessionRecord] = []
        self.shown: list[SessionRecord] = []
        # The session in the detail pane, cleared when the filter hides it.
        self.detail_session_id: uuid.UUID | None = None
        # The local date, asked each time the filter applies (the app stays open past midnight).
        self.today: Callable[[], date] = date.today
        # "to" follows today until the student picks a day of their own.
        self.until_follows_today = True
        self.piece = QLineEdit()
        self.piece.setPlaceholderText("piece")
        self.genre = QLineEdit()
        self.genre.setPlaceholderText("genre")
        self.status = QComboBox()
        self.status.addItem("any status", "")
        for st in ("completed", "active", "abandoned"):
            self.status.addItem(st, st)
        self.since = QDateEdit()
        self.since.setCalendarPopup(True)
        self.since.setDisplayFormat("yyyy-MM-dd")
        self.since.setSpecialValueText("from any date")
        self.since.setMinimumDate(QDate(2000, 1, 1))
        self.since.setDate(self.since.minimumDate())
        self.until = QDateEdit()
        self.until.setCalendarPopup(True)
        self.until.setDisplayFormat("yyyy-MM-dd")
        self.until.setDate(_qdate(self.today()))
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.reload)
        for w in (self.piece, self.genre):
            w.textChanged.connect(self.apply_filter)
        self.status.currentIndexChanged.connect(self.apply_filter)
        self.since.dateChanged.connect(self.apply_filter)
        self.until.dateChanged.connect(self._until_changed)
        filters = QHBoxLayout()
        for widget in (
            self.piece,
            self.genre,
            self.status,
            QLabel("from"),
            self.since,
            QLabel("to"),
            self.until,
            refresh,
        ):
            filters.addWidget(widget)

        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Started", "Piece", "Genre", "Tempo", "Length", "Status"])
        self.tree.setRootIsDecorated(False)
        self.tree.itemSelectionChanged.connect(self._open_selected)
        self.detail = QTextBrowser()
        self.detail.setOpenExternalLinks(False)
        self.detail.setPlaceholderText("Choose a session to see its takes and scores.")
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.tree)
        split.addWidget(self.detail)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        self.count_label = QLabel("")
        lay = QVBoxLayout(self)
        lay.addLayout(filters)
        lay.addWidget(split, 1)
        lay.addWidget(self.count_label)
        ctx.events.session_changed.connect(lambda _s: self.reload())
        ctx.events.take_saved.connect(lambda _s: self.reload())
        ctx.events.profile_changed.connect(lambda _p: self.reload())

    def reload(self) -> None:
        profile = self.ctx.profile
        if profile is None:
            self._loaded([])
            return
        pid = profile.id
        self.ctx.db.submit("history", lambda s: list_sessions(s, pid), self._loaded)

    def _loaded(self, sessions: list[SessionRecord]) -> None:
        self.sessions = sessions
        self.apply_filter()

    def _until_changed(self) -> None:
        self.until_follows_today = self.until.date() == _qdate(self.today())
        self.apply_filter()

    def apply_filter(self) -> None:
        today = _qdate(self.today())
        if self.until_follows_today and self.until.date() != today:
            self.until.blockSignals(True)
            self.until.setDate(today)
            self.until.blockSignals(False)
        since_q = self.since.date()
        since: date | None = (
            None if since_q == self.since.minimumDate() else since_q.toPython()  # type: ignore[assignment]
        )
        until: date = self.until.date().toPython()  # type: ignore[assignment]
        status = str(self.status.currentData() or "")
        self.shown = [
            s
            for s in self.sessions
            if session_matches(
                s, self.piece.text().strip(), self.genre.text().strip(), status, since, until
            )
        ]
        self.tree.blockSignals(True)
        self.tree.clear()
        keep: QTreeWidgetItem | None = None
        for i, s in enumerate(self.shown):
            length = session_length(s.duration_seconds)
            item = QTreeWidgetItem(
                [
                    _local(s.started_at),
                    s.piece_name or "Free practice",
                    genre_words(s.genre or ""),
                    str(s.target_tempo or ""),
                    length,
                    STATUS_WORDS.get(s.status, s.status),
                ]
            )
            item.setData(0, Qt.ItemDataRole.UserRole, i)
            self.tree.addTopLevelItem(item)
            if s.id == self.detail_session_id:
                keep = item
        if keep is not None:
            self.tree.setCurrentItem(keep)
        elif self.detail_session_id is not None:
            # The filter hides the session on the right: do not keep showing it.
            self.clear_detail()
        self.tree.blockSignals(False)
        self.tree.resizeColumnToContents(0)
        self.count_label.setText(f"{len(self.shown)} of {len(self.sessions)} sessions")

    def _open_selected(self) -> None:
        items = self.tree.selectedItems()
        if items:
            self.open_session(self.shown[int(items[0].data(0, Qt.ItemDataRole.UserRole))].id)

    def open_session(self, session_id: uuid.UUID) -> None:
        self.ctx.db.submit(
            "session detail", lambda s: complete_session(s, session_id), self._show_detail
        )

    def _show_detail(self, data: SessionCompleteData) -> None:
        self.detail_session_id = data.session.id
        self.detail.setHtml(detail_html(data))
        self.session_opened.emit(data)

    def clear_detail(self) -> None:
        self.detail_session_id = None
        self.detail.clear()


def detail_html(data: SessionCompleteData) -> str:
    """The seed's complete session data as readable HTML."""
    s = data.session
    out = [
        f"<h3>{_e(s.piece_name or 'Free practice')}</h3>",
        f"<p>{_local(s.started_at)} → {_local(s.ended_at)} · "
        f"<b>{_e(STATUS_WORDS.get(s.status, s.status))}</b><br>",
        f"genre: {_e(genre_words(s.genre or '') or '–')} · tempo: {s.target_tempo or '–'} BPM · "
        f"difficulty: {_e(s.difficulty_level or '–')} · "
        f"analysis hops: {s.chunks_processed}</p>",
        f"<p>{data.total_performances} takes, {data.total_analyses} analyses</p>",
    ]
    for i, pwa in enumerate(data.performances, 1):
        p = pwa.performance
        tag = " <b>(recovered after a crash)</b>" if p.recovered else ""
        out.append(
            f"<h4>Take {i}{tag}</h4><p>{_local(p.recording_started_at)} · "
            f"{p.recording_duration:.1f} s · {_e(p.audio_path or '')}"
            + (f"<br><i>{_e(p.notes)}</i>" if p.notes else "")
            + "</p>"
        )
        for a in pwa.analysis_results:
            cells = " · ".join(
                f"{label}: {format_value(getattr(a, field), kind)}"
                for field, label, kind in SCORE_FIELDS
            )
            out.append(f"<p>{_e(cells)}</p>")
            fb = parse_feedback(a.feedback_json)
            tips = fb.get("tips") or []
            if tips:
                out.append("<ul>" + "".join(f"<li>{_e(str(t))}</li>" for t in tips) + "</ul>")
    return "".join(out)


def _e(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
