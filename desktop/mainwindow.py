"""The main window: profile selector, practice and history tabs, and the menus that open the
progress window, the export dialog, the settings and file analysis. Dropping a recording on the
window analyses it."""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QTabWidget,
    QToolBar,
    QWidget,
)

from desktop.context import AppContext
from desktop.help import (
    NEW_SESSION_KEYS,
    SETTINGS_KEYS,
    about_html,
    add_close_keys,
    app_version,
    shortcuts_html,
    show_text,
)
from desktop.history import HistoryPage
from desktop.practice import PracticePage
from desktop.usecases.messages import failure_reason
from desktop.usecases.profiles import create_profile, load_profiles
from desktop.usecases.takes import (
    AnalysedRecording,
    SavedTake,
    analyse_recording,
    store_recording,
)

if TYPE_CHECKING:  # each is loaded when first used, after the window is on screen
    from filelock import FileLock

    from audio.worker import AnalysisWorker
    from desktop.export_dialog import ExportDialog
    from desktop.progress_window import ProgressWindow
    from desktop.settings import Preferences
    from desktop.settings_dialog import SettingsDialog
    from desktop.sync_panel import SyncDialog
    from desktop.usecases.plan import SessionPlan
    from storage.records import Profile


log = logging.getLogger(__name__)
# How long closing waits for a take to be finished and saved and the session ended.
CLOSE_WAIT_S = 20.0


class MainWindow(QMainWindow):
    file_analysed = Signal(object)  # SavedTake
    profiles_loaded = Signal(list)
    storage_ready = Signal()  # the database is open and migrated
    startup_failed = Signal(str)  # the database cannot be used; the message says why

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle("Etude — practice")
        self.data_folder_lock: FileLock | None = None  # usecases.recovery.claim_data_folder's
        self.resize(1200, 820)
        self.setAcceptDrops(True)
        self.profiles: list[Profile] = []
        self.progress_window: ProgressWindow | None = None
        self.export_dialog: ExportDialog | None = None
        self._closing = False

        self.practice = PracticePage(ctx)
        self.history = HistoryPage(ctx, player=self.practice.player)
        self.history.practise_again.connect(self.practise_again)
        # A deleted take may be one of the practice page's list.
        self.history.deleted.connect(
            lambda _d: self.practice.takes.show_session(self.practice.takes.session_id)
        )
        self.tabs = QTabWidget()
        self.tabs.addTab(self.practice, "Practice")
        self.tabs.addTab(self.history, "History")
        self.setCentralWidget(self.tabs)

        bar = QToolBar("Main")
        bar.setMovable(False)
        self.addToolBar(bar)
        bar.addWidget(QLabel(" Profile: "))
        self.profile_combo = QComboBox()
        self.profile_combo.setMinimumWidth(160)
        self.profile_combo.currentIndexChanged.connect(self._profile_chosen)
        bar.addWidget(self.profile_combo)
        self.act_new_profile = bar.addAction("New profile…", self.new_profile_dialog)
        self.act_rename_profile = bar.addAction("Rename…", self.rename_profile_dialog)
        self.act_rename_profile.setToolTip("Rename this profile")
        bar.addSeparator()
        self.act_progress = bar.addAction("Progress", self.open_progress)
        self.act_export = bar.addAction("Export CSV…", self.open_export)
        self.act_analyse = bar.addAction("Analyse a recording…", self._analyse_dialog)
        self.act_settings = bar.addAction("Settings…", self.open_settings)
        self.act_sync = bar.addAction("Sync…", self.open_sync)
        self.act_studio = QAction("Teacher's studio…", self)
        self.act_studio.triggered.connect(self.open_studio)

        self.act_new_session = QAction("New session…", self)
        self.act_new_session.setShortcut(QKeySequence(NEW_SESSION_KEYS))
        self.act_new_session.triggered.connect(self.practice.edit_plan)
        # Not while listening, like the page's own "New session…" button.
        self.practice.live_changed.connect(lambda live: self.act_new_session.setEnabled(not live))
        self.act_settings.setShortcut(QKeySequence(SETTINGS_KEYS))
        menu = self.menuBar().addMenu("&File")
        menu.addAction(self.act_new_session)
        menu.addSeparator()
        menu.addAction(self.act_analyse)
        menu.addAction(self.act_export)
        menu.addAction(self.act_sync)
        menu.addAction(self.act_studio)
        menu.addSeparator()
        quit_action = QAction("Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        menu.addAction(quit_action)
        view = self.menuBar().addMenu("&View")
        view.addAction(self.act_progress)
        view.addAction(self.act_settings)
        self.help_menu = self.menuBar().addMenu("&Help")
        self.act_shortcuts = self.help_menu.addAction("Keyboard shortcuts", self.show_shortcuts)
        self.act_about = self.help_menu.addAction("About Etude", self.show_about)
        self.act_show_log = add_show_log_action(self, ctx.data_dir)

        self.busy = QLabel("")
        self.statusBar().addPermanentWidget(self.busy)
        self._wire_sync(ctx)
        self.statusBar().showMessage(f"Database: {_short_url(ctx.db_url)}")
        ctx.db.busy_changed.connect(lambda b: self.busy.setText("saving…" if b else ""))
        ctx.db.op_failed.connect(
            lambda label, exc: self.practice.show_problem(f"{label} failed: {failure_reason(exc)}")
        )
        self.practice.takes.take_selected.connect(self._show_take)
        # A session belongs to one student: no switching profiles while listening.
        self.practice.live_changed.connect(lambda live: self.profile_combo.setEnabled(not live))
        self.practice.live_changed.connect(lambda live: self.act_new_profile.setEnabled(not live))
        from desktop.theme import ThemeFollower

        self.theme_follower = ThemeFollower(ctx.prefs.theme, ctx.events.theme_changed.emit)

    # -- sync --------------------------------------------------------------------------------

    def _wire_sync(self, ctx: AppContext) -> None:
        from desktop.sync_panel import SyncController, SyncStatusLabel

        self.sync_dialog: SyncDialog | None = None
        self.sync = SyncController(ctx, self)
        self.sync_status = SyncStatusLabel(self.sync)
        self.statusBar().addPermanentWidget(self.sync_status)
        self.sync_status.clicked.connect(self.open_sync)
        ctx.events.profile_changed.connect(lambda _p: self.sync.refresh())
        ctx.events.take_saved.connect(lambda _t: self.sync.refresh())
        # Background sync once a session has ended (and is saved), never during practice.
        self.practice.practice_stopped.connect(lambda _s: self.sync.sync_now(background=True))

    def open_sync(self) -> SyncDialog:
        from desktop.sync_panel import SyncDialog

        if self.sync_dialog is None:
            self.sync_dialog = SyncDialog(self.sync, self)
            add_close_keys(self.sync_dialog)
        else:
            self.sync.refresh()
        self.sync_dialog.show()
        self.sync_dialog.raise_()
        return self.sync_dialog

    # -- profiles ----------------------------------------------------------------------------

    def load_profiles(self) -> None:
        self.ctx.db.submit("profiles", load_profiles, self._profiles_loaded)

    def _profiles_loaded(self, profiles: list[Profile]) -> None:
        self.profiles = profiles
        self.profile_combo.blockSignals(True)
        self.profile_combo.clear()
        for p in profiles:
            self.profile_combo.addItem(p.display_name, str(p.id))
        i = self.profile_combo.findData(self.ctx.prefs.profile_id)
        self.profile_combo.setCurrentIndex(max(0, i))
        self.profile_combo.blockSignals(False)
        self._profile_chosen(self.profile_combo.currentIndex())
        self.profiles_loaded.emit(profiles)
        if self.progress_window is None:
            # Build the progress window while the student looks at the practice page, so the
            # first click on "Progress" only loads and draws (its widgets and native window
            # cost ~300 ms to create on a slow machine).
            QTimer.singleShot(300, self.prepare_progress_window)

    def _profile_chosen(self, index: int) -> None:
        if not 0 <= index < len(self.profiles):
            return
        profile = self.profiles[index]
        changed = self.ctx.profile is None or self.ctx.profile.id != profile.id
        self.ctx.profile = profile
        if self.ctx.prefs.profile_id != str(profile.id):
            self.ctx.save_preferences(replace(self.ctx.prefs, profile_id=str(profile.id)))
        if changed:
            self.ctx.events.profile_changed.emit(profile)

    def new_profile_dialog(self) -> None:
        name, ok = QInputDialog.getText(self, "New profile", "Student's name:")
        if ok and name.strip():
            self.create_profile(name)

    def rename_profile_dialog(self) -> None:
        profile = self.ctx.profile
        if profile is None:
            return
        name, ok = QInputDialog.getText(
            self, "Rename profile", "New name:", text=profile.display_name
        )
        if ok and name.strip() and name.strip() != profile.display_name:
            self.rename_profile(name)

    def rename_profile(self, name: str) -> None:
        from desktop.usecases.history import rename_profile

        profile = self.ctx.profile
        if profile is None:
            return
        pid = profile.id

        def done(renamed: Profile) -> None:
            self.ctx.profile = renamed
            self.load_profiles()

        self.ctx.db.submit(
            "rename profile",
            lambda s: rename_profile(s, pid, name),
            done,
            lambda exc: self.practice.show_problem(
                f"The profile was not renamed: {failure_reason(exc)}"
            ),
        )

    def practise_again(self, plan: SessionPlan) -> None:
        """History's "Practise again": a new session with that plan, listening at once."""
        if self.practice.is_live:
            self.practice.show_problem("Stop practising first (Space), then practise again.")
            return
        self.practice.end_session()  # a paused session of the same plan is not continued
        self.practice.set_plan(plan)
        self.tabs.setCurrentWidget(self.practice)
        self.practice.start_practice()

    def create_profile(self, name: str) -> None:
        def done(profile: Profile) -> None:
            self.ctx.save_preferences(replace(self.ctx.prefs, profile_id=str(profile.id)))
            self.load_profiles()

        self.ctx.db.submit(
            "new profile",
            lambda s: create_profile(s, name),
            done,
            lambda exc: self.practice.show_problem(
                f"The profile was not created: {failure_reason(exc)}"
            ),
        )

    # -- help ----------------------------------------------------------------------------------

    def show_shortcuts(self) -> QMessageBox:
        return show_text(self, "Keyboard shortcuts", shortcuts_html())

    def show_about(self) -> QMessageBox:
        html = about_html(app_version(), self.ctx.data_dir, _short_url(self.ctx.db_url))
        return show_text(self, "About Etude", html)

    # -- other windows -----------------------------------------------------------------------

    def prepare_progress_window(self) -> ProgressWindow:
        from desktop.progress_window import ProgressWindow

        if self.progress_window is None:
            win = ProgressWindow(self.ctx)
            add_close_keys(win)
            win.ensurePolished()
            layout = win.layout()
            if layout is not None:
                layout.activate()
            win.winId()  # creates the native window now, without showing it
            self.progress_window = win
            return win
        return self.progress_window

    def open_studio(self) -> None:
        """The teacher's studio window, for a teacher whose studio this computer remembers
        (``etude studio setup``); the password comes from the keyring or is asked for."""
        from PySide6.QtWidgets import QInputDialog, QLineEdit, QMessageBox

        from desktop.usecases.studio import load_studio_address

        address = load_studio_address(self.ctx.data_dir)
        if address is None:
            QMessageBox.information(
                self,
                "Teacher's studio",
                "This computer has no teacher's studio yet. A teacher sets it up once with "
                "`etude studio setup INVITATION` (the invitation from `etude server add-teacher`).",
            )
            return
        from storage.sync.link import load_password

        password = load_password(address)
        if not password:
            password, ok = QInputDialog.getText(
                self,
                "Teacher's studio",
                f"Password for {address.role}:",
                QLineEdit.EchoMode.Password,
            )
            if not ok or not password:
                return

        def opened(studio: Any) -> None:
            from desktop.studio_window import StudioWindow

            self.studio_window = StudioWindow(studio, self.ctx.data_dir)
            self.studio_window.show()

        from storage.sync.studio import open_studio

        self.ctx.compute.submit(
            "open studio",
            lambda: open_studio(address, password),
            opened,
            lambda exc: QMessageBox.warning(self, "Teacher's studio", str(exc)),
        )

    def open_progress(self) -> ProgressWindow:
        window = self.prepare_progress_window()
        window.show()
        window.raise_()
        window.reload()
        return window

    def open_export(self) -> ExportDialog:
        from desktop.export_dialog import ExportDialog

        if self.export_dialog is None:
            self.export_dialog = ExportDialog(self.ctx, self)
            add_close_keys(self.export_dialog)
        self.export_dialog.show()
        return self.export_dialog

    def settings_dialog(self) -> SettingsDialog:
        from desktop.settings_dialog import SettingsDialog

        devices: list[str] = []
        problem = None
        try:
            from audio.sources import distinct_input_devices, list_input_devices

            found = list_input_devices()
            devices = [d.name for d in distinct_input_devices(found)]
            saved = self.ctx.prefs.input_device
            if saved and saved not in devices and any(d.name == saved for d in found):
                devices.append(saved)  # the student's own earlier choice stays selectable
            if not found:
                problem = "No input device was found. Plug in a microphone and reopen settings."
        except Exception as exc:
            problem = str(exc)

        def probe(prefs: Preferences) -> AnalysisWorker:
            from audio.worker import AnalysisWorker
            from desktop.practice import microphone_source

            worker = AnalysisWorker(microphone_source(prefs), prefs.analysis_settings())
            worker.start()
            return worker

        dialog = SettingsDialog(
            self.ctx.prefs, devices, self.ctx.data_dir, probe, problem, parent=self
        )
        add_close_keys(dialog)
        return dialog

    def open_settings(self) -> None:
        dialog = self.settings_dialog()
        if dialog.exec():
            self.apply_settings(dialog.preferences())

    def apply_settings(self, prefs: Preferences) -> None:
        from desktop.theme import apply_theme

        before = self.ctx.prefs.theme
        self.ctx.save_preferences(prefs)
        self.theme_follower.theme = prefs.theme
        if prefs.theme != before:
            self.ctx.events.theme_changed.emit(apply_theme(prefs.theme))

    # -- analysing a file --------------------------------------------------------------------

    def _analyse_dialog(self) -> None:
        name, _ = QFileDialog.getOpenFileName(
            self, "Analyse a recording", "", "Audio (*.wav *.flac *.ogg *.aiff *.mp3)"
        )
        if name:
            self.analyse_file(Path(name))

    def analyse_file(self, path: Path) -> bool:
        """Analyse a recording off the GUI thread and store it as a take of a new session."""
        problem = audio_file_problem(path)
        if problem:
            self.practice.show_problem(problem)
            return False
        if self.ctx.profile is None:
            self.practice.show_problem("Choose or create a profile first.")
            return False
        pid = self.ctx.profile.id
        plan = self.practice.plan
        reference = self.practice.reference
        settings = self.ctx.prefs.analysis_settings(
            float(plan.target_tempo_bpm) if plan.target_tempo_bpm else None
        )
        self.tabs.setCurrentWidget(self.practice)
        self.practice.messages.show_message(f"Analysing {path.name}…", "info")
        midi_dir = self.ctx.recordings_dir

        def failed(exc: BaseException) -> None:
            self.practice.show_problem(f"{path.name} could not be analysed: {failure_reason(exc)}")

        def analysed(recording: AnalysedRecording) -> None:
            self.ctx.db.submit(
                "store analysed file",
                lambda s: store_recording(s, pid, plan, recording, midi_dir),
                self._file_stored,
                failed,
            )

        # Analysis runs on the compute runner so the database queue stays free meanwhile.
        self.ctx.compute.submit(
            "analyse file",
            lambda: analyse_recording(path, settings, reference, plan.genre),
            analysed,
            failed,
        )
        return True

    def _file_stored(self, saved: SavedTake) -> None:
        self.practice.messages.clear_message()
        if saved.analysis is not None:
            self.practice.card.show_analysis(asdict(saved.analysis), title=saved.label)
        self.practice.takes.show_session(saved.performance.session_id)
        self.ctx.events.take_saved.emit(saved)
        self.file_analysed.emit(saved)

    def _show_take(self, row: SavedTake) -> None:
        if row.analysis is not None:
            self.practice.card.show_analysis(asdict(row.analysis), title=row.label)
        self._show_take_comments(row.performance.id)

    def _show_take_comments(self, performance_id: uuid.UUID) -> None:
        """The teacher's comments on the take, on its card; opening them marks them read."""
        from desktop.usecases.assignments import take_comments

        profile = self.ctx.profile
        self.practice.card.comments.show_comments([])
        if profile is None:
            return
        pid = profile.id
        self.ctx.db.submit(
            "take comments",
            lambda s: take_comments(s, pid, performance_id),
            self.practice.card.comments.show_comments,
        )

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        for url in event.mimeData().urls():
            if url.isLocalFile():
                self.analyse_file(Path(url.toLocalFile()))
                event.acceptProposedAction()
                return
        self.practice.show_problem("Only files on this computer can be analysed.")

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._closing:
            event.accept()
            return
        self._closing = True
        self.practice.shutdown()
        if self.progress_window is not None:
            self.progress_window.close()
        # Let the take being finished be saved and the session ended, so nothing the student
        # recorded is lost (the window is going away: waiting here blocks no one).
        if not self.ctx.settle(CLOSE_WAIT_S):
            log.warning("closing with background work still running after %s s", CLOSE_WAIT_S)
            # A take waiting for a busy database gives up; it is kept on disk with its scores.
            self.ctx.stopping.set()
            self.ctx.settle(5.0)
        # A sync in flight is rolled back on both sides if it is cut short; give it a moment.
        self.sync.runner.wait_for_done(10_000)
        lock, self.data_folder_lock = self.data_folder_lock, None
        if lock is not None:
            lock.release()  # the next Etude started may now recover what this one left
        super().closeEvent(event)


def add_show_log_action(window: QMainWindow, data_dir: Path) -> QAction:
    """Help > Show log folder: opens the folder of the log file (desktop.logfile) in the file
    manager, where the details left out of the messages are. Adds the Help menu if missing."""
    from PySide6.QtCore import QUrl
    from PySide6.QtGui import QDesktopServices

    from desktop.logfile import log_folder

    bar = window.menuBar()
    menus = [m for a in bar.actions() if isinstance(m := a.menu(), QMenu)]
    help_menu = next((m for m in menus if m.title().replace("&", "") == "Help"), None)
    if help_menu is None:
        help_menu = bar.addMenu("&Help")

    def show() -> None:
        folder = log_folder(data_dir)
        folder.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    action = QAction("Show log folder", window)
    help_menu.addAction(action)
    action.setToolTip("The log holds the details of what went wrong, for whoever helps you.")
    action.triggered.connect(show)
    return action


def audio_file_problem(path: Path) -> str | None:
    """Why ``path`` cannot be analysed, in words; None when it is a readable audio file."""
    import soundfile as sf

    if not path.is_file():
        return f"{path} is not a file."
    try:
        info = sf.info(str(path))
    except Exception:
        kind = path.suffix or "without an extension"
        return (
            f"{path.name} is not an audio file Etude can read (a {kind} file). Drop a recording "
            "(WAV, FLAC, OGG, AIFF or MP3) to analyse it."
        )
    if info.frames == 0:
        return f"{path.name} contains no audio."
    return None


def _short_url(url: str) -> str:
    """The URL with any password replaced by ***."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


__all__ = ["MainWindow", "audio_file_problem"]
