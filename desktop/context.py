"""What every window of the app shares: the background runners, preferences, app-wide events."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication, QEventLoop, QObject, Signal

from desktop.dbworker import DbWorker, Runner, TaskRunner
from desktop.settings import Preferences, SettingsStore

if TYPE_CHECKING:  # SQLAlchemy loads on the database worker, after the window is shown
    from storage.db import Database
    from storage.records import Profile
from desktop.usecases.open_sessions import OpenSessions


class AppEvents(QObject):
    """App-wide events, so windows refresh without knowing about each other."""

    take_saved = Signal(object)  # desktop.usecases.takes.SavedTake
    session_changed = Signal(object)  # SessionRecord
    profile_changed = Signal(object)  # Profile or None
    preferences_changed = Signal(object)  # Preferences
    theme_changed = Signal(bool)  # the theme in force is now dark (True) or light


@dataclass
class AppContext:
    """db: the database worker. compute: long work without the database (file analysis,
    playback). audio: opening and closing the input, takes and the metronome's output (calls
    that may block; one thread, so they apply in the order asked)."""

    db: DbWorker
    compute: TaskRunner
    audio: TaskRunner
    store: SettingsStore
    prefs: Preferences
    data_dir: Path
    recordings_dir: Path
    db_url: str
    open_sessions: OpenSessions
    events: AppEvents = field(default_factory=AppEvents)
    profile: Profile | None = None  # the chosen student
    database: Database | None = None  # once the database worker has opened it
    # Set when the window closes and settling has timed out: work that waits for a busy
    # database (a take being stored) gives up and keeps what it holds on disk for the next start.
    stopping: threading.Event = field(default_factory=threading.Event)

    def runners(self) -> tuple[Runner, ...]:
        return (self.audio, self.db, self.compute)

    def is_busy(self) -> bool:
        """True while any runner has work queued or results not yet handed back."""
        return any(r.is_busy() for r in self.runners())

    def settle(self, timeout_s: float = 20.0) -> bool:
        """Let queued work, and the work its results start, run to the end: at shutdown, so a
        take being finished is saved and its session ended. The results are handed back on
        this (GUI) thread, so this keeps processing events meanwhile. False on timeout."""
        deadline = time.monotonic() + timeout_s
        while self.is_busy():
            if time.monotonic() > deadline:
                return False
            QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
            time.sleep(0.005)
        return True

    def save_preferences(self, prefs: Preferences) -> None:
        self.store.save(prefs)
        self.prefs = prefs
        self.events.preferences_changed.emit(prefs)
