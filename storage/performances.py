"""Takes (``performances``, the seed's operations 6-7): register, list, mark recovered, delete.

Conventions as in :mod:`storage.rows`: a caller-owned Session, validation before any write,
frozen records back.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from storage import progress
from storage.errors import NotFoundError, ValidationError
from storage.models import Performance, RealtimeSession, utcnow
from storage.records import PerformanceRecord, snapshot
from storage.rows import (
    insert_record,
    performance_row,
    select_record,
    session_row,
    tombstone_performances,
)
from storage.validation import (
    check_aware,
    check_duration,
    check_int,
    check_path,
    check_text,
    check_uuid,
)

MAX_SAMPLE_RATE_HZ = 768_000


def create_performance(
    db: Session,
    session_id: uuid.UUID | str,
    audio_path: str | None = None,
    midi_path: str | None = None,
    sample_rate: int = 44100,
    audio_format: str | None = None,
    notes: str | None = None,
    recording_started_at: datetime | None = None,
    recording_duration: float = 0.0,
    recovered: bool = False,
) -> PerformanceRecord:
    """Register a take of a session. sample_rate: 1..768000 Hz; paths <= 500 characters;
    audio_format <= 32 characters (e.g. "wav", "flac"); notes: free text <= 10000 characters;
    recording_duration: seconds >= 0; recovered: the take was repaired after a crash."""
    sid = check_uuid("session_id", session_id)
    check_path("audio_path", audio_path)
    check_path("midi_path", midi_path)
    check_int("sample_rate", sample_rate, 1, MAX_SAMPLE_RATE_HZ, required=True)
    check_text("audio_format", audio_format, 32)
    check_text("notes", notes, 10_000)
    check_aware("recording_started_at", recording_started_at)
    check_duration("recording_duration", recording_duration)
    if not isinstance(recovered, bool):
        raise ValidationError("recovered", "must be true or false", recovered)
    now = utcnow()
    record = PerformanceRecord(
        id=uuid.uuid4(),
        session_id=sid,
        recording_started_at=(recording_started_at or now).astimezone(UTC),
        recording_duration=float(recording_duration),
        audio_path=audio_path,
        midi_path=midi_path,
        sample_rate=sample_rate,
        audio_format=audio_format,
        notes=notes,
        recovered=recovered,
        created_at=now,
        updated_at=now,
    )
    if not insert_record(db, record, RealtimeSession, "session_id"):
        raise NotFoundError("session", sid)
    return record


def get_session_performances(db: Session, session_id: uuid.UUID | str) -> list[PerformanceRecord]:
    """A session's takes, oldest first; NotFoundError for an unknown session."""
    sid = check_uuid("session_id", session_id)
    stmt = (
        select_record(PerformanceRecord)
        .where(Performance.session_id == sid)
        .order_by(Performance.recording_started_at, Performance.id)
    )
    rows = [PerformanceRecord(*r) for r in db.execute(stmt)]
    if not rows:
        session_row(db, sid)
    return rows


def mark_performance_recovered(
    db: Session, performance_id: uuid.UUID | str, recording_duration: float | None = None
) -> PerformanceRecord:
    """Flag a take as recovered after a crash; recording_duration (seconds >= 0) is the length
    of the repaired file, when known."""
    pid = check_uuid("performance_id", performance_id)
    if recording_duration is not None:
        check_duration("recording_duration", recording_duration)
    row = performance_row(db, pid)
    row.recovered = True
    if recording_duration is not None:
        row.recording_duration = float(recording_duration)
    db.flush()
    return snapshot(PerformanceRecord, row)


def delete_performance(db: Session, performance_id: uuid.UUID | str) -> None:
    """Delete a take and its analyses (tombstoned). The recording file is left alone."""
    row = performance_row(db, check_uuid("performance_id", performance_id))
    owner = session_row(db, row.session_id)
    tombstone_performances(db, [row.id])
    db.delete(row)
    db.flush()
    progress.recompute_for_sessions(db, owner.user_id, [owner.started_at])
