"""Practice sessions (``realtime_sessions``, the seed's operations 1-5) and a session's
complete data.

Conventions as in :mod:`storage.rows`: a caller-owned Session, validation before any write,
frozen records back.
"""

from __future__ import annotations

import functools
import typing
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Select, Table, bindparam, cast, extract, func, select, update
from sqlalchemy.orm import Session

from storage import progress
from storage.errors import NotFoundError, ValidationError
from storage.models import (
    DIFFICULTY_LEVELS,
    SESSION_STATUSES,
    AnalysisResult,
    Assignment,
    Performance,
    RealtimeSession,
    Tombstone,
    User,
    utcnow,
)
from storage.records import (
    AnalysisRecord,
    PerformanceRecord,
    PerformanceWithAnalysis,
    SessionCompleteData,
    SessionRecord,
    snapshot,
)
from storage.rows import (
    expire_loaded,
    insert_record,
    record_columns,
    select_record,
    session_row,
    tombstone_performances,
    user_row,
)
from storage.validation import (
    MAX_INT32,
    MAX_LIMIT,
    check_bool,
    check_enum,
    check_int,
    check_moment,
    check_tempo,
    check_text,
    check_uuid,
)

MAX_CHUNKS_PER_CALL = 1_000_000


def create_session(
    db: Session,
    user_id: uuid.UUID | str,
    piece_name: str | None = None,
    genre: str | None = None,
    target_tempo: int | None = None,
    difficulty_level: str | None = None,
    websocket_session_id: str | None = None,
    started_at: datetime | None = None,
    assignment_id: uuid.UUID | str | None = None,
) -> SessionRecord:
    """Start a practice session (status "active"). target_tempo: 20..300 BPM; names <= 255
    characters; difficulty_level: beginner/intermediate/advanced; started_at: aware, default now;
    assignment_id: one of the profile's assignments (a teacher's), or None."""
    uid = check_uuid("user_id", user_id)
    aid = None if assignment_id is None else check_uuid("assignment_id", assignment_id)
    if aid is not None:
        owner = db.scalar(select(Assignment.user_id).where(Assignment.id == aid))
        if owner is None:
            raise NotFoundError("assignment", aid)
        if owner != uid:
            raise ValidationError("assignment_id", "is an assignment of another profile")
    check_text("piece_name", piece_name)
    check_text("genre", genre)
    check_tempo("target_tempo", target_tempo)
    check_enum("difficulty_level", difficulty_level, DIFFICULTY_LEVELS)
    check_text("websocket_session_id", websocket_session_id)
    started = check_moment("started_at", started_at)
    now = utcnow()
    record = SessionRecord(
        id=uuid.uuid4(),
        user_id=uid,
        piece_name=piece_name,
        genre=genre,
        target_tempo=target_tempo,
        difficulty_level=difficulty_level,
        started_at=started or now,
        ended_at=None,
        duration_seconds=None,
        websocket_session_id=websocket_session_id,
        chunks_processed=0,
        status="active",
        created_at=now,
        updated_at=now,
        assignment_id=aid,
    )
    if not insert_record(db, record, User, "user_id"):
        raise NotFoundError("user", uid)
    return record


def end_session(
    db: Session,
    session_id: uuid.UUID | str,
    ended_at: datetime | None = None,
    *,
    update_progress: bool = True,
) -> SessionRecord:
    """Mark an active session completed; duration_seconds = whole seconds from started_at to
    ended_at (aware, default now, not before started_at). Then recompute the daily, weekly and
    monthly progress rows it touches (unless ``update_progress`` is False)."""
    sid = check_uuid("session_id", session_id)
    end = check_moment("ended_at", ended_at) or utcnow()
    check_bool("update_progress", update_progress)
    postgres = db.get_bind().dialect.name == "postgresql"
    params: dict[str, Any] = {"sid": sid, "end": end, "now": utcnow()}
    if not postgres:
        # SQLite has no exact timestamp arithmetic; its round trips are cheap, so read first.
        started = db.connection().execute(_session_started_stmt(), {"sid": sid}).scalar()
        params["duration"] = 0 if started is None else int((end - started).total_seconds())
    db.flush()
    row = db.connection().execute(_end_session_stmt(postgres), params).first()
    if row is None:
        _explain_end_refused(db, sid, end, ended_at)
    expire_loaded(db, RealtimeSession, sid)
    record = SessionRecord(*row)
    if update_progress:
        progress.recompute_for_sessions(db, record.user_id, [record.started_at])
    return record


@functools.cache
def _session_started_stmt() -> Select[Any]:
    return select(RealtimeSession.started_at).where(RealtimeSession.id == bindparam("sid"))


@functools.cache
def _end_session_stmt(postgres: bool) -> Any:
    """One UPDATE that ends an active session and returns it; it matches no row (and changes
    nothing) when the session is unknown, not active or started after ``end``."""
    table = typing.cast(Table, RealtimeSession.__table__)
    end = bindparam("end", type_=table.c.ended_at.type)
    duration: Any
    if postgres:
        # Whole seconds, truncated like int(timedelta.total_seconds()); epoch of an interval is
        # an exact numeric on PostgreSQL >= 14, so exact second boundaries stay exact.
        duration = cast(func.floor(extract("epoch", end - table.c.started_at)), Integer)
    else:
        duration = bindparam("duration", type_=Integer())
    return (
        update(table)
        .where(table.c.id == bindparam("sid"), table.c.status == "active")
        .where(table.c.started_at <= end)
        .values(
            ended_at=end,
            duration_seconds=duration,
            status="completed",
            updated_at=bindparam("now", type_=table.c.updated_at.type),
            usn=-1,
        )
        .returning(*record_columns(SessionRecord))
    )


def _explain_end_refused(
    db: Session, sid: uuid.UUID, end: datetime, ended_at: datetime | None
) -> typing.NoReturn:
    row = session_row(db, sid)
    if row.status != "active":
        raise ValidationError("status", f"session must be active to end (it is {row.status})", sid)
    if end < row.started_at:
        raise ValidationError("ended_at", "must not be before started_at", ended_at)
    raise RuntimeError(f"session {sid} could not be ended")  # not reachable in one transaction


def get_session(db: Session, session_id: uuid.UUID | str) -> SessionRecord:
    """The session with id ``session_id``; NotFoundError if none."""
    sid = check_uuid("session_id", session_id)
    row = db.execute(_get_session_stmt(), {"sid": sid}).first()
    if row is None:
        raise NotFoundError("session", sid)
    return SessionRecord(*row)


@functools.cache
def _get_session_stmt() -> Select[Any]:
    return select_record(SessionRecord).where(RealtimeSession.id == bindparam("sid"))


def get_user_sessions(
    db: Session,
    user_id: uuid.UUID | str,
    limit: int = 50,
    offset: int = 0,
    status: str | None = None,
) -> list[SessionRecord]:
    """A profile's sessions, newest first. limit: 1..1000; offset >= 0; status: optional
    filter (active/completed/abandoned)."""
    uid = check_uuid("user_id", user_id)
    check_int("limit", limit, 1, MAX_LIMIT, required=True)
    check_int("offset", offset, 0, required=True)
    check_enum("status", status, SESSION_STATUSES)
    params = {"uid": uid, "status": status, "limit": limit, "offset": offset}
    stmt = _user_sessions_stmt(status is not None)
    rows = [SessionRecord(*r) for r in db.execute(stmt, params)]
    if not rows:
        user_row(db, uid)
    return rows


@functools.cache
def _user_sessions_stmt(by_status: bool) -> Select[Any]:
    # Built once with parameters for everything, so no per-call statement building and hashing.
    stmt = select_record(SessionRecord).where(RealtimeSession.user_id == bindparam("uid"))
    if by_status:
        stmt = stmt.where(RealtimeSession.status == bindparam("status"))
    stmt = stmt.order_by(RealtimeSession.started_at.desc(), RealtimeSession.id)
    return stmt.limit(bindparam("limit", type_=Integer())).offset(
        bindparam("offset", type_=Integer())
    )


def update_chunks_processed(db: Session, session_id: uuid.UUID | str, chunks: int) -> int:
    """Add ``chunks`` (0..1,000,000) to an active session's chunks_processed in one atomic
    UPDATE, so concurrent callers lose no increment; the total stays <= 2**31 - 1. Returns the
    new total."""
    sid = check_uuid("session_id", session_id)
    check_int("chunks", chunks, 0, MAX_CHUNKS_PER_CALL, required=True)
    db.flush()
    params = {"sid": sid, "chunks": chunks, "now": utcnow()}
    total = db.connection().execute(_add_chunks_stmt(), params).scalar_one_or_none()
    if total is None:
        row = session_row(db, sid)
        if row.status == "active":
            raise ValidationError("chunks", f"would take chunks_processed past {MAX_INT32}", chunks)
        raise ValidationError(
            "status", f"chunks can only be added to an active session (it is {row.status})", sid
        )
    return int(total)


@functools.cache
def _add_chunks_stmt() -> Any:
    # A Core statement built once: the ORM bulk-UPDATE path cost more than the query on SQLite.
    table = typing.cast(Table, RealtimeSession.__table__)
    return (
        update(table)
        .where(table.c.id == bindparam("sid"), table.c.status == "active")
        # The total stays a 32-bit integer: PostgreSQL would refuse more with an error.
        .where(table.c.chunks_processed <= MAX_INT32 - bindparam("chunks", type_=Integer()))
        .values(
            chunks_processed=table.c.chunks_processed + bindparam("chunks", type_=Integer()),
            updated_at=bindparam("now", type_=table.c.updated_at.type),
            usn=-1,
        )
        .returning(table.c.chunks_processed)
    )


def delete_session(db: Session, session_id: uuid.UUID | str) -> None:
    """Delete a session with its takes and analyses (tombstoned) and recompute the progress rows
    it touched. Recording files on disk are left alone."""
    row = session_row(db, check_uuid("session_id", session_id))
    user_id, started_at = row.user_id, row.started_at
    perf_ids = list(db.scalars(select(Performance.id).where(Performance.session_id == row.id)))
    tombstone_performances(db, perf_ids, user_id)
    db.add(Tombstone(table_name="realtime_sessions", row_id=row.id, user_id=user_id))
    db.delete(row)
    db.flush()
    progress.recompute_for_sessions(db, user_id, [started_at])


def get_complete_session_data(db: Session, session_id: uuid.UUID | str) -> SessionCompleteData:
    """A session with all its takes (oldest first) and each take's analyses (oldest first)."""
    sid = check_uuid("session_id", session_id)
    row = session_row(db, sid)
    perfs = [
        PerformanceRecord(*r)
        for r in db.execute(
            select_record(PerformanceRecord)
            .where(Performance.session_id == sid)
            .order_by(Performance.recording_started_at, Performance.id)
        )
    ]
    by_perf: dict[uuid.UUID, list[AnalysisRecord]] = {p.id: [] for p in perfs}
    if perfs:
        analyses = db.execute(
            select_record(AnalysisRecord)
            .join(Performance, AnalysisResult.performance_id == Performance.id)
            .where(Performance.session_id == sid)
            .order_by(AnalysisResult.created_at, AnalysisResult.id)
        )
        for r in analyses:
            a = AnalysisRecord(*r)
            by_perf[a.performance_id].append(a)
    items = tuple(PerformanceWithAnalysis(p, tuple(by_perf[p.id])) for p in perfs)
    return SessionCompleteData(
        session=snapshot(SessionRecord, row),
        performances=items,
        total_performances=len(items),
        total_analyses=sum(len(i.analysis_results) for i in items),
    )
