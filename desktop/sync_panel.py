"""Sync in the window: the *Sync…* dialog, the always-visible status, background syncs.

The controller runs every sync (and linking) on a runner thread of its own, never on the GUI
thread nor on the database worker (a first sync can take seconds and must not hold up saving a
take). It syncs after each practice session ends and on demand; the status label always says
in plain words whether the profile is synced, how many changes wait, or why it is not.
Passwords come from the OS keyring; without one, the dialog asks and the password is kept in
memory only until Etude closes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop.dbworker import TaskRunner

# A sync that moves at least this many rows shows a progress bar (a first sync of years).
PROGRESS_BAR_ROWS = 200


class PasswordNeeded(Exception):
    """No keyring entry and no password typed in this run of the app."""


@dataclass(frozen=True)
class SyncView:
    """What the status label shows: ``state`` is off, pending (never synced), syncing, synced,
    offline or problem."""

    state: str
    text: str
    status: Any = None  # storage.sync.run.SyncStatus


def describe(status: Any, error: BaseException | None = None, running: bool = False) -> SyncView:
    """Plain words for a profile's sync state."""
    from storage.sync.client import OfflineError

    if status is None or not status.linked:
        return SyncView("off", "Sync: off", status)
    if running:
        return SyncView("syncing", "Syncing…", status)
    waiting = f"{status.pending} change(s) waiting" if status.pending else "up to date"
    if isinstance(error, OfflineError):
        return SyncView("offline", f"Offline: {waiting}, they will sync later", status)
    if isinstance(error, PasswordNeeded):
        return SyncView("problem", "Sync: password needed (Sync…)", status)
    if error is not None or status.last_error:
        message = str(error) if error is not None else status.last_error
        return SyncView("problem", f"Sync problem: {message}", status)
    if status.last_synced_at is None:
        return SyncView("pending", f"Not synced yet: {waiting}", status)
    when = _local_time(status.last_synced_at)
    return SyncView("synced", f"Synced {when}: {waiting}", status)


def _local_time(moment: datetime) -> str:
    local = moment.astimezone()
    if local.date() == datetime.now().astimezone().date():
        return local.strftime("%H:%M")
    return local.strftime("%Y-%m-%d %H:%M")


class SyncController(QObject):
    """Runs syncs for the chosen profile; ``view_changed`` carries the status to show."""

    view_changed = Signal(object)  # SyncView
    progress = Signal(str, int, int)  # phase, done, total (emitted from the runner thread)
    synced = Signal(object)  # storage.sync.run.SyncOutcome
    failed = Signal(object)  # BaseException
    linked = Signal(object)  # storage.sync.link.LinkResult

    def __init__(self, ctx: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.runner = TaskRunner(parent=self)
        self.running = False
        self.view = SyncView("off", "Sync: off")
        self._typed: dict[uuid.UUID, str] = {}  # passwords typed in this run, memory only

    def _profile_id(self) -> uuid.UUID | None:
        profile = self.ctx.profile
        return None if profile is None else profile.id

    def refresh(self) -> None:
        """Read the status again (after a profile change, a take, a session)."""
        uid, database = self._profile_id(), self.ctx.database
        if uid is None or database is None:
            return
        from storage.sync.run import status

        self.runner.submit(
            "sync status", lambda: status(database, uid), lambda st: self._show(describe(st))
        )

    def _show(self, view: SyncView) -> None:
        self.view = view
        self.view_changed.emit(view)

    def remember_password(self, password: str) -> None:
        uid = self._profile_id()
        if uid is not None:
            self._typed[uid] = password

    def sync_now(self, *, background: bool = False) -> bool:
        """Start a sync of the chosen profile (False when one runs or it is not linked)."""
        uid, database = self._profile_id(), self.ctx.database
        if self.running or uid is None or database is None:
            return False
        if background and self.view.state == "off":
            return False
        from storage.sync import protocol, run
        from storage.sync.link import load_password

        typed = self._typed.get(uid)

        def op() -> Any:
            st = run.status(database, uid)
            if not st.linked:
                return None
            password = typed or load_password(
                protocol.link_address(protocol.get_link(database, uid))
            )
            if password is None:
                raise PasswordNeeded()
            outcome = run.sync_now(database, uid, password, report=self.progress.emit)
            return outcome, run.status(database, uid)

        def done(result: Any) -> None:
            self.running = False
            if result is None:
                self.refresh()
                return
            outcome, st = result
            self._show(describe(st))
            self.synced.emit(outcome)

        def failed(exc: BaseException) -> None:
            self.running = False
            st_op = run.status
            self.runner.submit(
                "sync status",
                lambda: st_op(database, uid),
                lambda st: self._show(describe(st, exc)),
            )
            self.failed.emit(exc)

        self.running = True
        self._show(describe(self.view.status, running=True))
        self.runner.submit("sync", op, done, failed)
        return True

    def link(self, address: Any, password: str, upload_audio: bool) -> None:
        """Link the chosen profile to an account, then sync it once."""
        uid, database = self._profile_id(), self.ctx.database
        if uid is None or database is None or self.running:
            return
        from storage.sync.link import link_profile

        def op() -> Any:
            return link_profile(
                database, address, password, profile_id=uid, upload_audio=upload_audio
            )

        def done(result: Any) -> None:
            self.running = False
            if not result.password_stored:
                self._typed[result.user_id] = password
            self.linked.emit(result)
            self.refresh()
            self.sync_now()

        def failed(exc: BaseException) -> None:
            self.running = False
            self.failed.emit(exc)

        self.running = True
        self.runner.submit("link", op, done, failed)

    def unlink(self) -> None:
        uid, database = self._profile_id(), self.ctx.database
        if uid is None or database is None or self.running:
            return
        from storage.sync.link import unlink_profile

        self._typed.pop(uid, None)
        self.runner.submit(
            "unlink", lambda: unlink_profile(database, uid), lambda _: self.refresh()
        )


class SyncStatusLabel(QLabel):
    """The status bar's sync state; a click opens the Sync… dialog."""

    clicked = Signal()

    def __init__(self, controller: SyncController, parent: QWidget | None = None) -> None:
        super().__init__(controller.view.text, parent)
        self.setObjectName("syncStatus")
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        controller.view_changed.connect(self._show)

    def _show(self, view: SyncView) -> None:
        self.setText(view.text)
        self.setToolTip(view.text)
        self.setProperty("syncState", view.state)

    def mousePressEvent(self, event: Any) -> None:
        self.clicked.emit()
        super().mousePressEvent(event)


class SyncDialog(QDialog):
    """Link the profile with the teacher's invitation, see its state, sync now, unlink."""

    def __init__(self, controller: SyncController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.setWindowTitle("Sync with your teacher's server")
        self.setMinimumWidth(520)
        layout = QVBoxLayout(self)

        self.link_box = QGroupBox("Link this profile")
        form = QFormLayout(self.link_box)
        self.invitation = QLineEdit()
        self.invitation.setPlaceholderText("paste the invitation your teacher sent (etude1:…)")
        form.addRow("Invitation:", self.invitation)
        form.addRow(QLabel("or enter the details:"))
        self.host = QLineEdit()
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(5432)
        self.dbname = QLineEdit("postgres")
        self.role = QLineEdit()
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        form.addRow("Server:", self.host)
        form.addRow("Port:", self.port)
        form.addRow("Database:", self.dbname)
        form.addRow("Account:", self.role)
        form.addRow("Password:", self.password)
        cert_row = QHBoxLayout()
        self.ca_cert = QLineEdit()
        self.ca_cert.setPlaceholderText("your teacher's certificate (not needed on this computer)")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        cert_row.addWidget(self.ca_cert)
        cert_row.addWidget(browse)
        form.addRow("Certificate:", cert_row)
        self.audio = QCheckBox("Upload my recordings so my teacher can listen")
        self.audio.setChecked(True)
        form.addRow(self.audio)
        self.link_button = QPushButton("Link and sync")
        self.link_button.clicked.connect(self._link)
        form.addRow(self.link_button)
        layout.addWidget(self.link_box)

        self.state_box = QGroupBox("Sync")
        state = QFormLayout(self.state_box)
        self.server_label = QLabel("-")
        self.last_label = QLabel("-")
        self.pending_label = QLabel("-")
        self.problem_label = QLabel("")
        self.problem_label.setWordWrap(True)
        state.addRow("Server:", self.server_label)
        state.addRow("Last synced:", self.last_label)
        state.addRow("Waiting:", self.pending_label)
        state.addRow(self.problem_label)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        state.addRow(self.progress)
        buttons = QHBoxLayout()
        self.sync_button = QPushButton("Sync now")
        self.sync_button.clicked.connect(self._sync)
        self.unlink_button = QPushButton("Unlink…")
        self.unlink_button.clicked.connect(self._unlink)
        buttons.addWidget(self.sync_button)
        buttons.addStretch(1)
        buttons.addWidget(self.unlink_button)
        state.addRow(buttons)
        layout.addWidget(self.state_box)

        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout.addWidget(close)

        controller.view_changed.connect(self.show_view)
        controller.progress.connect(self._progress)
        controller.failed.connect(self._failed)
        self.show_view(controller.view)
        controller.refresh()

    def show_view(self, view: SyncView) -> None:
        st = view.status
        linked = st is not None and st.linked
        self.link_box.setVisible(not linked)
        self.state_box.setVisible(linked)
        busy = view.state == "syncing"
        self.sync_button.setEnabled(linked and not busy)
        self.unlink_button.setEnabled(linked and not busy)
        self.link_button.setEnabled(not busy)
        if not busy:
            self.progress.setVisible(False)
        self.adjustSize()  # the hidden group's room goes
        if linked:
            self.server_label.setText(st.server or "-")
            self.last_label.setText(
                _local_time(st.last_synced_at) if st.last_synced_at else "never"
            )
            self.pending_label.setText(f"{st.pending} change(s)")
            quiet = view.state in ("synced", "syncing", "pending")
            self.problem_label.setText("" if quiet else view.text)

    def _progress(self, phase: str, done: int, total: int) -> None:
        if total < PROGRESS_BAR_ROWS:
            return
        self.progress.setVisible(True)
        self.progress.setFormat(f"{phase}: %v of %m")
        self.progress.setMaximum(total)
        self.progress.setValue(done)

    def _failed(self, exc: BaseException) -> None:
        if isinstance(exc, PasswordNeeded):
            text, ok = QInputDialog.getText(
                self,
                "Password",
                "The password of your sync account (kept until Etude closes):",
                QLineEdit.EchoMode.Password,
            )
            if ok and text:
                self.controller.remember_password(text)
                self.controller.sync_now()
            return
        self.problem_label.setText(str(exc))
        self.link_button.setEnabled(True)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Your teacher's certificate", "", "Certificates (*.crt *.pem);;All files (*)"
        )
        if path:
            self.ca_cert.setText(path)

    def _link(self) -> None:
        from storage.sync.client import ServerAddress
        from storage.sync.invite import InvitationError, decode

        cert = self.ca_cert.text().strip() or None
        try:
            if self.invitation.text().strip():
                inv = decode(self.invitation.text())
                address = ServerAddress(inv.host, inv.port, inv.dbname, inv.role, cert)
                password = inv.password
            else:
                host, role = self.host.text().strip(), self.role.text().strip()
                if not (host and role and self.password.text()):
                    raise InvitationError(
                        "paste the invitation, or fill in server, account and password"
                    )
                address = ServerAddress(
                    host, self.port.value(), self.dbname.text().strip(), role, cert
                )
                password = self.password.text()
        except InvitationError as exc:
            self.problem_label.setText(str(exc))
            QMessageBox.warning(self, "Sync", str(exc))
            return
        self.link_button.setEnabled(False)
        self.controller.link(address, password, self.audio.isChecked())

    def _sync(self) -> None:
        self.controller.sync_now()

    def _unlink(self) -> None:
        answer = QMessageBox.question(
            self,
            "Unlink",
            "Stop syncing this profile? Its practice stays on this computer and on the server.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.controller.unlink()
