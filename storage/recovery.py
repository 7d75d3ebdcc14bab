"""Sessions left "active" by a crash: closed as "abandoned" at the next start.

Conventions as in :mod:`storage.rows`: a caller-owned Session, validation first.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage import progress
from storage.models import Performance, RealtimeSession, utcnow
from storage.validation import check_aware, check_uuid


def recover_abandoned_sessions(
    db: Session, now: datetime | None = None, session_ids: Collection[uuid.UUID] | None = None
) -> list[uuid.UUID]:
    """Mark every session still "active" as "abandoned" (call once at start-up: a session can
    only be active across a start-up if the app crashed or was killed). Its ended_at becomes the
    end of its last take (or started_at if it has none) and duration_seconds is set from that,
    so the practice time that was recorded still counts. Returns the ids recovered.

    session_ids: only these sessions (those this computer left behind, on a database that other
    computers share and may be practising on right now); None = every active session."""
    check_aware("now", now)
    limit_at = now or utcnow()
    query = select(RealtimeSession).where(RealtimeSession.status == "active")
    if session_ids is not None:
        ids = [check_uuid("session_ids", sid) for sid in session_ids]
        if not ids:
            return []
        query = query.where(RealtimeSession.id.in_(ids))
    rows = list(db.scalars(query))
    touched: dict[uuid.UUID, list[datetime]] = {}
    for row in rows:
        if row.started_at > limit_at:
            continue
        last_end = row.started_at
        for perf in db.scalars(select(Performance).where(Performance.session_id == row.id)):
            end = perf.recording_started_at + timedelta(seconds=perf.recording_duration)
            last_end = max(last_end, min(end, limit_at))
        row.status = "abandoned"
        row.ended_at = last_end
        row.duration_seconds = int((last_end - row.started_at).total_seconds())
        touched.setdefault(row.user_id, []).append(row.started_at)
    db.flush()
    for user_id, starts in touched.items():
        progress.recompute_for_sessions(db, user_id, starts)
    return [r.id for r in rows if r.status == "abandoned"]
