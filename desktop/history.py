"""History: the profile's sessions, filterable, with a session's complete data beside them."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QDate, Qt, QUrl, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.context import AppContext
from desktop.usecases.history import Deleted, best_scores, delete_session, delete_take, plan_again
from desktop.usecases.messages import failure_reason
from desktop.usecases.plan import genre_words
from desktop.usecases.sessions import complete_session, list_sessions
from desktop.usecases.takes import take_label

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from audio.playback import Playback
    from desktop.player import Player
    from storage.assignments import CommentRecord
    from storage.records import PerformanceRecord, SessionCompleteData, SessionRecord
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
    practise_again = Signal(object)  # desktop.usecases.plan.SessionPlan
    deleted = Signal(object)  # desktop.usecases.history.Deleted

    def __init__(
        self, ctx: AppContext, player: Player | None = None, parent: QWidget | None = None
    ):
        super().__init__(parent)
        self.ctx = ctx
        self.player = player
        self.scores: dict[uuid.UUID, float] = {}
        self.opened: SessionCompleteData | None = None  # the session in the detail pane
        self.sessions: list[SessionRecord] = []
        # Unread teacher's comments per session (shown in the list until opened).
        self.unread: dict[uuid.UUID, int] = {}
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
        self.tree.setHeaderLabels(
            ["Started", "Piece", "Genre", "Tempo", "Length", "Best score", "Status"]
        )
        self.tree.setRootIsDecorated(False)
        self.tree.itemSelectionChanged.connect(self._open_selected)
        self.detail = QTextBrowser()
        self.detail.setOpenExternalLinks(False)
        self.detail.setOpenLinks(False)  # its links are actions on takes (play, delete)
        self.detail.anchorClicked.connect(self._take_link)
        self.detail.setPlaceholderText("Choose a session to see its takes and scores.")
        self.again_button = QPushButton("Practise again")
        self.again_button.setToolTip("A new session with the same piece, tempo and reference")
        self.again_button.clicked.connect(self._practise_again)
        self.delete_button = QPushButton("Delete session…")
        self.delete_button.clicked.connect(self._ask_delete_session)
        for b in (self.again_button, self.delete_button):
            b.setEnabled(False)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.tree)
        split.addWidget(self.detail)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        self.count_label = QLabel("")
        actions = QHBoxLayout()
        actions.addWidget(self.count_label, 1)
        actions.addWidget(self.again_button)
        actions.addWidget(self.delete_button)
        lay = QVBoxLayout(self)
        lay.addLayout(filters)
        lay.addWidget(split, 1)
        lay.addLayout(actions)
        lay.addWidget(self.message)
        ctx.events.session_changed.connect(lambda _s: self.reload())
        ctx.events.take_saved.connect(lambda _s: self.reload())
        ctx.events.profile_changed.connect(lambda _p: self.reload())

    def reload(self) -> None:
        profile = self.ctx.profile
        if profile is None:
            self._loaded([])
            return
        pid = profile.id
        self._reload_unread(pid)

        def load(s: Session) -> tuple[list[SessionRecord], dict[uuid.UUID, float]]:
            return list_sessions(s, pid), best_scores(s, pid)

        self.ctx.db.submit("history", load, lambda got: self._loaded(*got))

    def _reload_unread(self, profile_id: uuid.UUID) -> None:
        from desktop.usecases.assignments import unread_comments_by_session

        def loaded(unread: dict[uuid.UUID, int]) -> None:
            self.unread = unread
            self.apply_filter()

        self.ctx.db.submit(
            "unread comments", lambda s: unread_comments_by_session(s, profile_id), loaded
        )

    def _loaded(
        self, sessions: list[SessionRecord], scores: dict[uuid.UUID, float] | None = None
    ) -> None:
        self.sessions = sessions
        self.scores = scores or {}
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
                    (s.piece_name or "Free practice") + _unread_note(self.unread.get(s.id, 0)),
                    genre_words(s.genre or ""),
                    str(s.target_tempo or ""),
                    length,
                    _score(self.scores.get(s.id)),
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
        self.opened = data
        self.detail_session_id = data.session.id
        self.detail.setHtml(detail_html(data, actions=True))
        self.again_button.setEnabled(True)
        self.delete_button.setEnabled(data.session.status != "active")
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
            self.detail.setHtml(detail_html(data, comments, actions=True))
            if self.unread.pop(sid, 0):
                self.apply_filter()

        self.ctx.db.submit("session comments", lambda s: session_comments(s, pid, sid), shown)

    def clear_detail(self) -> None:
        """Empty the detail pane (its session was deleted or is hidden by the filter)."""
        self.opened = None
        self.detail_session_id = None
        self.detail.clear()
        self.again_button.setEnabled(False)
        self.delete_button.setEnabled(False)

    # -- acting on the history ---------------------------------------------------------------

    def confirm(self, title: str, text: str) -> bool:
        """Ask before deleting; only an explicit Delete goes ahead."""
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, parent=self)
        delete = box.addButton("Delete", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return box.clickedButton() is delete

    def _take_link(self, url: QUrl) -> None:
        action, _, value = url.toString().partition(":")
        try:
            take_id = uuid.UUID(value)
        except ValueError:
            return
        if action == "play":
            self.play_take(take_id)
        elif action == "delete":
            self.ask_delete_take(take_id)

    def _take(self, take_id: uuid.UUID) -> tuple[int, PerformanceRecord] | None:
        data = self.opened
        for i, pwa in enumerate(data.performances if data else (), 1):
            if pwa.performance.id == take_id:
                return i, pwa.performance
        return None

    def play_take(self, take_id: uuid.UUID) -> bool:
        """Play a take of the opened session (False, with a message, when its file is gone)."""
        found = self._take(take_id)
        if found is None or self.player is None:
            return False
        number, perf = found
        path = Path(perf.audio_path) if perf.audio_path else None
        if path is None or not path.is_file():
            self.message.setText(f"Take {number}'s recording is no longer on this computer.")
            return False

        def make() -> Playback:
            import soundfile as sf

            from audio.playback import Playback

            data, sr = sf.read(str(path), dtype="float32", always_2d=False)
            return Playback(data, int(sr))

        self.message.setText(f"Playing take {number}…")
        self.player.play(f"take {number}", make)
        return True

    def ask_delete_take(self, take_id: uuid.UUID) -> None:
        found = self._take(take_id)
        if found is None:
            return
        number, _perf = found
        if self.confirm(
            "Delete take",
            f"Delete take {number} and its scores? Its recording is moved to the trash folder "
            f"({self.ctx.data_dir / 'trash'}).",
        ):
            self.delete_take(take_id)

    def delete_take(self, take_id: uuid.UUID) -> None:
        data_dir = self.ctx.data_dir
        self.ctx.db.submit(
            "delete take",
            lambda s: delete_take(s, take_id, data_dir),
            self._deleted,
            lambda exc: self.message.setText(f"The take was not deleted: {failure_reason(exc)}"),
        )

    def _ask_delete_session(self) -> None:
        data = self.opened
        if data is None:
            return
        s = data.session
        if self.confirm(
            "Delete session",
            f"Delete the session “{s.piece_name or 'Free practice'}” of {_local(s.started_at)} "
            f"with its {data.total_performances} takes and their scores? The recordings are "
            f"moved to the trash folder ({self.ctx.data_dir / 'trash'}).",
        ):
            self.delete_session(s.id)

    def delete_session(self, session_id: uuid.UUID) -> None:
        data_dir = self.ctx.data_dir
        self.ctx.db.submit(
            "delete session",
            lambda s: delete_session(s, session_id, data_dir),
            self._deleted,
            lambda exc: self.message.setText(f"The session was not deleted: {failure_reason(exc)}"),
        )

    def _deleted(self, done: Deleted) -> None:
        moved = f" {len(done.trashed)} file(s) moved to the trash." if done.trashed else ""
        if done.session_deleted:
            self.clear_detail()
            self.message.setText(f"Session deleted ({done.takes} takes).{moved}")
        else:
            self.message.setText(f"Take deleted.{moved}")
            if self.opened is not None:
                self.open_session(self.opened.session.id)
        self.deleted.emit(done)
        self.reload()

    def _practise_again(self) -> None:
        if self.opened is not None:
            self.practise_again.emit(plan_again(self.opened.session, self.ctx.data_dir))


def _score(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f} %"


def _unread_note(count: int) -> str:
    return f"  ● {count} new comment{'s' if count > 1 else ''}" if count else ""


def detail_html(
    data: SessionCompleteData,
    comments: dict[uuid.UUID, list[CommentRecord]] | None = None,
    actions: bool = False,
) -> str:
    """The seed's complete session data as readable HTML, with the teacher's comments under
    each take; ``actions`` adds each take's Play and Delete links (``play:<id>``,
    ``delete:<id>``)."""
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
        links = (
            f' &nbsp; <a href="play:{p.id}">▶ Play</a> · <a href="delete:{p.id}">Delete…</a>'
            if actions
            else ""
        )
        out.append(
            f"<h4>{_e(take_label(i, p.recording_started_at))}{tag}{links}</h4>"
            f"<p>{_local(p.recording_started_at)} · "
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
