"""What every window of the app shares: the database worker, the compute runner, preferences."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from desktop.dbworker import DbWorker
from desktop.settings import Preferences, SettingsStore
from desktop.usecases.open_sessions import OpenSessions


class AppEvents(QObject):
    """App-wide events, so windows refresh without knowing about each other."""

    take_saved = Signal(object)  # dict: {"performance": ..., "analysis": ...}
    session_changed = Signal(object)  # SessionRecord
    profile_changed = Signal(object)  # Profile or None
    preferences_changed = Signal(object)  # Preferences


@dataclass
class AppContext:
    db: DbWorker
    compute: DbWorker
    store: SettingsStore
    prefs: Preferences
    data_dir: Path
    recordings_dir: Path
    db_url: str
    open_sessions: OpenSessions
    events: AppEvents = field(default_factory=AppEvents)
    profile: object | None = None  # storage.records.Profile of the chosen student
    database: Any = None  # storage.db.Database once the database worker has opened it

    def save_preferences(self, prefs: Preferences) -> None:
        self.store.save(prefs)
        self.prefs = prefs
        self.events.preferences_changed.emit(prefs)
