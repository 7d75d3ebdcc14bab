"""What ``etude sync``, the app's Sync… dialog and its background sync all call: hash new takes,
sync the data, upload audio, and remember the outcome for the status line."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update

from storage.db import Database
from storage.models import SyncLink
from storage.sync import audio, protocol
from storage.sync.client import ServerAddress, SyncError


@dataclass(frozen=True)
class SyncOutcome:
    """One sync: the data moved, and the audio upload (None when audio is off)."""

    result: protocol.SyncResult
    audio: audio.AudioResult | None

    def summary(self) -> str:
        """One line for a student."""
        text = self.result.summary()
        if self.audio is not None:
            a = self.audio
            if a.files:
                text += f"; uploaded the audio of {a.files} take(s) ({a.bytes_sent / 1e6:.1f} MB)"
            if a.error:
                text += f"; audio upload stopped ({a.error}), it resumes at the next sync"
        return text


@dataclass(frozen=True)
class SyncStatus:
    """A profile's sync state for the always-visible status: linked at all, where, when it
    last synced, how many changes wait, and the last error in plain words (None when the last
    sync went through)."""

    linked: bool
    server: str | None
    last_synced_at: datetime | None
    pending: int
    last_error: str | None
    upload_audio: bool


def sync_now(
    db: Database,
    user_id: uuid.UUID,
    password: str,
    *,
    upload_audio: bool | None = None,
    report: protocol.ProgressCallback | None = None,
) -> SyncOutcome:
    """Sync a linked profile now. ``upload_audio`` None follows the profile's setting. A
    SyncError is raised (and kept as the profile's last error) when the data sync fails; an
    audio upload that stops is reported in the outcome and resumes at the next sync."""
    link = protocol.get_link(db, user_id)
    address = protocol.link_address(link)
    with_audio = link.upload_audio if upload_audio is None else upload_audio
    try:
        if with_audio:
            audio.hash_takes(db, user_id)
        result = protocol.sync(db, user_id, password, report=report)
    except SyncError as exc:
        record_error(db, user_id, str(exc))
        raise
    sent = audio.upload_audio(db, user_id, address, password) if with_audio else None
    if sent is not None and sent.error:
        record_error(db, user_id, f"audio: {sent.error}")
    return SyncOutcome(result, sent)


def record_error(db: Database, user_id: uuid.UUID, message: str) -> None:
    """Keep a failed sync's message (plain words) for the status line."""
    with db.transaction() as s:
        s.execute(update(SyncLink).where(SyncLink.user_id == user_id).values(last_error=message))


def status(db: Database, user_id: uuid.UUID) -> SyncStatus:
    """The profile's sync state (not linked: ``linked`` False and nothing else)."""
    with db.session() as s:
        link = s.get(SyncLink, user_id)
        if link is None:
            return SyncStatus(False, None, None, 0, None, False)
        server = ServerAddress(link.host, link.port, link.dbname, link.role_name).describe()
        last, error, with_audio = link.last_synced_at, link.last_error, link.upload_audio
    return SyncStatus(True, server, last, protocol.pending_count(db, user_id), error, with_audio)


def set_upload_audio(db: Database, user_id: uuid.UUID, on: bool) -> None:
    """Turn the audio upload of a linked profile on or off (on by default)."""
    with db.transaction() as s:
        s.execute(update(SyncLink).where(SyncLink.user_id == user_id).values(upload_audio=on))
