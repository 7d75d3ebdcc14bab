"""Sessions left "active" by a crash: closed as "abandoned" at the next start.

Conventions as in :mod:`storage.rows`: a caller-owned Session, validation first.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Callable, Collection
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage import progress
from storage.errors import ValidationError
from storage.models import Performance, RealtimeSession, utcnow
from storage.validation import MAX_INT32, MAX_TAKE_SECONDS, check_ids, check_moment

log = logging.getLogger(__name__)


def recover_abandoned_sessions(
    db: Session,
    now: datetime | None = None,
    session_ids: Collection[uuid.UUID] | None = None,
    *,
    on_failure: Callable[[uuid.UUID, Exception], None] | None = None,
) -> list[uuid.UUID]:
    """Mark every session still "active" as "abandoned" (call once at start-up: a session can
    only be active across a start-up if the app crashed or was killed). Its ended_at becomes the
    end of its last take (or started_at if it has none; never after ``now``) and
    duration_seconds is set from that, so the practice time that was recorded still counts; its
    progress rows are recomputed. Returns the ids recovered.

    now: aware, within storage.validation.moment_bounds (default the current time); sessions
    started after it are left alone. session_ids: only these sessions (a list of at most 1000:
    those this computer left behind, on a database that other computers share and may be
    practising on right now); None = every active session.

    Each session is recovered in a savepoint of its own: it is closed with its progress rows or
    not at all. One that cannot be (a row no validation would let in today, written by an older
    Etude) is logged, told to ``on_failure`` (session id, the exception) when given, and left
    active for the next start; it never stops the others."""
    if on_failure is not None and not callable(on_failure):
        raise ValidationError("on_failure", "must be a function or None", on_failure)
    limit_at = check_moment("now", now) or utcnow()
    query = select(RealtimeSession.id).where(
        RealtimeSession.status == "active", RealtimeSession.started_at <= limit_at
    )
    if session_ids is not None:
        ids = check_ids("session_ids", session_ids)
        if not ids:
            return []
        query = query.where(RealtimeSession.id.in_(ids))
    recovered: list[uuid.UUID] = []
    for sid in list(db.scalars(query.order_by(RealtimeSession.started_at))):
        try:
            with db.begin_nested():
                _abandon(db, sid, limit_at)
        except Exception as exc:  # whatever one bad row raises, the others still recover
            log.exception("session %s could not be closed as abandoned; it stays active", sid)
            if on_failure is not None:
                on_failure(sid, exc)
            continue
        recovered.append(sid)
    return recovered


def _abandon(db: Session, session_id: uuid.UUID, limit_at: datetime) -> None:
    row = db.get(RealtimeSession, session_id)
    if row is None or row.status != "active":
        return  # ended meanwhile by its own Etude
    last_end = row.started_at
    takes = select(Performance.recording_started_at, Performance.recording_duration).where(
        Performance.session_id == session_id
    )
    for started, duration_s in db.execute(takes):
        last_end = max(last_end, _take_end(started, duration_s, limit_at))
    row.status = "abandoned"
    row.ended_at = last_end
    row.duration_seconds = min(int((last_end - row.started_at).total_seconds()), MAX_INT32)
    db.flush()
    progress.recompute_for_sessions(db, row.user_id, [row.started_at])


def _take_end(started: datetime, duration_s: float, limit_at: datetime) -> datetime:
    """When a stored take ended, never after ``limit_at``; a duration no take can have (an
    older Etude stored whatever it was given) counts as at most a day."""
    if not math.isfinite(duration_s) or duration_s < 0:
        duration_s = 0.0
    try:
        end = started + timedelta(seconds=min(duration_s, MAX_TAKE_SECONDS))
    except OverflowError:
        return limit_at
    return min(end, limit_at)
