"""Practice stats over the last N days (the seed's operation 13, plus streaks).

Conventions as in :mod:`storage.rows`: a caller-owned Session, validation first, a frozen
:class:`~storage.records.UserStats` back.
"""

from __future__ import annotations

import functools
import typing
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, Table, and_, bindparam, func, select
from sqlalchemy.orm import Session

from storage import progress
from storage.errors import NotFoundError
from storage.models import AnalysisResult, Performance, RealtimeSession, User, id_in, utcnow
from storage.records import UserStats
from storage.rows import opt_float
from storage.validation import check_int, check_moment, check_uuid

# Above this many sessions in the window the analyses are found by a join instead of a list of
# session ids (a long IN list costs more to send and plan than the join).
IN_LIST_MAX = 2000


def calculate_user_stats(
    db: Session, user_id: uuid.UUID | str, days: int = 30, now: datetime | None = None
) -> UserStats:
    """Stats over sessions started in the last ``days`` (1..3650) days before ``now``.

    total_sessions: sessions started in the window (any status). total_practice_hours: their
    duration_seconds summed, in hours, 2 decimals. total_analyses and the three averages: every
    analysis of the window's takes. Streaks count practice days (local days of the profile with
    at least one session started) inside the window: current_streak_days ends today, or
    yesterday when there is no session yet today; longest_streak_days is the longest run."""
    uid = check_uuid("user_id", user_id)
    check_int("days", days, 1, 3650, required=True)
    end = check_moment("now", now) or utcnow()
    start = end - timedelta(days=days)
    window = (
        RealtimeSession.user_id == uid,
        RealtimeSession.started_at >= start,
        RealtimeSession.started_at <= end,
    )
    # The profile's timezone and its sessions in the window in one round trip; no row at all
    # means no such profile.
    rows = db.execute(_stats_sessions_stmt(), {"uid": uid, "start": start, "end": end}).all()
    if not rows:
        raise NotFoundError("user", uid)
    timezone = rows[0][0]
    found = [r[1:] for r in rows if r[1] is not None]
    starts = [r[1] for r in found]
    total_seconds = sum(r[2] or 0 for r in found)
    agg_stmt = select(
        func.count(AnalysisResult.id),
        func.avg(AnalysisResult.pitch_accuracy),
        func.avg(AnalysisResult.rhythm_accuracy),
        func.avg(AnalysisResult.overall_score),
    ).join(Performance, AnalysisResult.performance_id == Performance.id)
    if len(found) <= IN_LIST_MAX:
        # Naming the sessions keeps both planners on the session_id indexes; joining on the
        # window let PostgreSQL hash-join a full scan of performances.
        ids = [r[0] for r in found]
        agg_stmt = agg_stmt.where(id_in(Performance.session_id, ids, db.get_bind().dialect.name))
    else:
        agg_stmt = agg_stmt.join(
            RealtimeSession, Performance.session_id == RealtimeSession.id
        ).where(*window)
    agg = db.execute(agg_stmt).one()
    current, longest = progress.streaks(starts, timezone, end)
    return UserStats(
        total_sessions=len(starts),
        total_practice_hours=round((total_seconds or 0) / 3600.0, 2),
        total_analyses=int(agg[0]),
        avg_pitch_accuracy=opt_float(agg[1]),
        avg_rhythm_accuracy=opt_float(agg[2]),
        avg_overall_score=opt_float(agg[3]),
        period_days=days,
        current_streak_days=current,
        longest_streak_days=longest,
    )


@functools.cache
def _stats_sessions_stmt() -> Select[Any]:
    sessions = typing.cast(Table, RealtimeSession.__table__)
    users = typing.cast(Table, User.__table__)
    moment = sessions.c.started_at.type
    uid = bindparam("uid", type_=users.c.id.type)
    in_window = and_(
        sessions.c.user_id == users.c.id,
        sessions.c.started_at >= bindparam("start", type_=moment),
        sessions.c.started_at <= bindparam("end", type_=moment),
    )
    return (
        select(users.c.timezone, sessions.c.id, sessions.c.started_at, sessions.c.duration_seconds)
        .select_from(users.outerjoin(sessions, in_window))
        .where(users.c.id == uid)
    )


def best_overall_by_session(db: Session, user_id: uuid.UUID | str) -> dict[uuid.UUID, float]:
    """The best overall_score (0..1) among each session's analyses, for every session of
    profile ``user_id`` that has at least one scored take (sessions without one are absent)."""
    uid = check_uuid("user_id", user_id)
    stmt = (
        select(Performance.session_id, func.max(AnalysisResult.overall_score))
        .join(AnalysisResult, AnalysisResult.performance_id == Performance.id)
        .join(RealtimeSession, RealtimeSession.id == Performance.session_id)
        .where(RealtimeSession.user_id == uid, AnalysisResult.overall_score.is_not(None))
        .group_by(Performance.session_id)
    )
    return {sid: float(best) for sid, best in db.execute(stmt) if best is not None}
