"""History: the profile's sessions, filterable, with a session's complete data beside them."""

from __future__ import annotations

import uuid
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
from desktop.usecases.sessions import complete_session, list_sessions

if TYPE_CHECKING:
    from storage.assignments import CommentRecord
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
    if genre and genre.lower() not in (s.genre or "").lower():
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


def _local(dt: datetime | None) -> str:
    return dt.astimezone().strftime("%Y-%m-%d %H:%M") if dt else "–"


class HistoryPage(QWidget):
    session_opened = Signal(object)  # storage.records.SessionCompleteData

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.sessions: list[SessionRecord] = []
        # Unread teacher's comments per session (shown in the list until opened).
        self.unread: dict[uuid.UUID, int] = {}
        self.shown: list[SessionRecord] = []
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
        self.until.setDate(QDate.currentDate())
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.reload)
        for w in (self.piece, self.genre):
            w.textChanged.connect(self.apply_filter)
        self.status.currentIndexChanged.connect(self.apply_filter)
        self.since.dateChanged.connect(self.apply_filter)
        self.until.dateChanged.connect(self.apply_filter)
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
        self._reload_unread(pid)

    def _reload_unread(self, profile_id: uuid.UUID) -> None:
        from desktop.usecases.assignments import unread_comments_by_session

        def loaded(unread: dict[uuid.UUID, int]) -> None:
            self.unread = unread
            self.apply_filter()

        self.ctx.db.submit(
            "unread comments", lambda s: unread_comments_by_session(s, profile_id), loaded
        )

    def _loaded(self, sessions: list[SessionRecord]) -> None:
        self.sessions = sessions
        self.apply_filter()

    def apply_filter(self) -> None:
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
        self.tree.clear()
        for i, s in enumerate(self.shown):
            length = session_length(s.duration_seconds)
            item = QTreeWidgetItem(
                [
                    _local(s.started_at),
                    (s.piece_name or "Free practice") + _unread_note(self.unread.get(s.id, 0)),
                    s.genre or "",
                    str(s.target_tempo or ""),
                    length,
                    STATUS_WORDS.get(s.status, s.status),
                ]
            )
            item.setData(0, Qt.ItemDataRole.UserRole, i)
            self.tree.addTopLevelItem(item)
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
        self.detail.setHtml(detail_html(data))
        self.session_opened.emit(data)
        self._show_comments(data)

    def _show_comments(self, data: SessionCompleteData) -> None:
        """The teacher's comments under the session's takes; opening them marks them read."""
        from desktop.usecases.assignments import session_comments

        profile = self.ctx.profile
        if profile is None:
            return
        pid, sid = profile.id, data.session.id

        def shown(comments: dict[uuid.UUID, list[CommentRecord]]) -> None:
            if not comments:
                return
            self.detail.setHtml(detail_html(data, comments))
            if self.unread.pop(sid, 0):
                self.apply_filter()

        self.ctx.db.submit("session comments", lambda s: session_comments(s, pid, sid), shown)


def _unread_note(count: int) -> str:
    return f"  ● {count} new comment{'s' if count > 1 else ''}" if count else ""


def detail_html(
    data: SessionCompleteData, comments: dict[uuid.UUID, list[CommentRecord]] | None = None
) -> str:
    """The seed's complete session data as readable HTML, with the teacher's comments under
    each take."""
    s = data.session
    out = [
        f"<h3>{_e(s.piece_name or 'Free practice')}</h3>",
        f"<p>{_local(s.started_at)} → {_local(s.ended_at)} · "
        f"<b>{_e(STATUS_WORDS.get(s.status, s.status))}</b><br>",
        f"genre: {_e(s.genre or '–')} · tempo: {s.target_tempo or '–'} BPM · "
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
        if comments and comments.get(p.id):
            from desktop.widgets.comments import comments_html

            out.append(comments_html(comments[p.id]))
    return "".join(out)


def _e(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
