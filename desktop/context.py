"""What every window of the app shares: the database worker, the compute runner, preferences."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from desktop.dbworker import DbWorker, TaskRunner
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


@dataclass
class AppContext:
    db: DbWorker
    compute: TaskRunner
    store: SettingsStore
    prefs: Preferences
    data_dir: Path
    recordings_dir: Path
    db_url: str
    open_sessions: OpenSessions
    events: AppEvents = field(default_factory=AppEvents)
    profile: Profile | None = None  # the chosen student
    database: Database | None = None  # once the database worker has opened it

    def save_preferences(self, prefs: Preferences) -> None:
        self.store.save(prefs)
        self.prefs = prefs
        self.events.preferences_changed.emit(prefs)
