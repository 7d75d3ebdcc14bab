"""The seed's 13 operations plus profiles, deletions, recovery and progress upserts.

Conventions (every function):

* The first argument is a caller-owned :class:`sqlalchemy.orm.Session`, one per user action.
  Functions flush but never commit: the caller commits (``with db.transaction() as s: ...``) or
  rolls back. Anything raised means the caller's transaction should be rolled back.
* Every argument is validated before anything is written; a bad one raises
  :class:`~storage.errors.ValidationError` (``field``, ``rule``), an unknown id raises
  :class:`~storage.errors.NotFoundError`. Either way nothing has been added to the Session.
* Results are frozen records from :mod:`storage.records` (safe after commit and across threads).
* Datetimes are aware; naive ones are refused. Stored and returned in UTC.
"""

from __future__ import annotations

import dataclasses
import functools
import getpass
import json
import typing
import uuid
from collections.abc import Collection, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Insert,
    Integer,
    Select,
    Table,
    and_,
    bindparam,
    cast,
    exists,
    extract,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from storage import progress
from storage.errors import NotFoundError, ValidationError
from storage.models import (
    DIFFICULTY_LEVELS,
    PERIOD_TYPES,
    SESSION_STATUSES,
    AnalysisResult,
    Base,
    Performance,
    ProgressMetric,
    RealtimeSession,
    Tombstone,
    User,
    id_in,
    progress_row_id,
    utcnow,
)
from storage.records import (
    AnalysisRecord,
    PerformanceRecord,
    PerformanceWithAnalysis,
    Profile,
    ProgressRecord,
    SessionCompleteData,
    SessionRecord,
    UserStats,
    snapshot,
)
from storage.validation import (
    MAX_LIMIT,
    MAX_NAME,
    check_aware,
    check_enum,
    check_finite,
    check_int,
    check_json_object,
    check_path,
    check_score,
    check_tempo,
    check_text,
    check_timezone,
    check_uuid,
)

MAX_SAMPLE_RATE_HZ = 768_000
MAX_CHUNKS_PER_CALL = 1_000_000
IN_LIST_MAX = 2000

# --------------------------------------------------------------------------------------------
# Profiles


def create_profile(
    db: Session,
    display_name: str,
    timezone: str = "UTC",
    settings: Mapping[str, Any] | str | None = None,
) -> Profile:
    """Create a student profile. display_name: 1..255 characters, unique; timezone: IANA name
    (defines the local day for progress); settings: a JSON object (dict or text)."""
    check_text("display_name", display_name, MAX_NAME, required=True)
    check_timezone("timezone", timezone)
    settings_json = check_json_object("settings_json", _plain(settings or {}), allow_none=False)
    _check_name_free(db, display_name.strip())
    user = User(display_name=display_name.strip(), timezone=timezone, settings_json=settings_json)
    db.add(user)
    db.flush()
    return snapshot(Profile, user)


def get_profile(db: Session, user_id: uuid.UUID | str) -> Profile:
    """The profile with id ``user_id``; NotFoundError if none."""
    return snapshot(Profile, _user(db, user_id))


def get_profile_by_name(db: Session, display_name: str) -> Profile:
    """The profile named exactly ``display_name``; NotFoundError if none."""
    check_text("display_name", display_name, MAX_NAME, required=True)
    user = db.scalar(select(User).where(User.display_name == display_name.strip()))
    if user is None:
        raise NotFoundError("profile", display_name)
    return snapshot(Profile, user)


def list_profiles(db: Session) -> list[Profile]:
    """Every profile, oldest first."""
    users = db.scalars(select(User).order_by(User.created_at, User.display_name))
    return [snapshot(Profile, u) for u in users]


def default_profile_name() -> str:
    """The name given to the profile created on first start: the OS user's login name."""
    try:
        name = getpass.getuser().strip()
    except Exception:  # getuser raises different errors per platform when no name is known
        name = ""
    return name[:MAX_NAME] or "Student"


def ensure_default_profile(db: Session) -> Profile:
    """The first profile (oldest, the demo profile excluded when another exists); when there is
    none, create one named after the OS user (:func:`default_profile_name`)."""
    from storage.demo import DEMO_PROFILE_NAME

    users = list(db.scalars(select(User).order_by(User.created_at, User.display_name)))
    real = [u for u in users if u.display_name != DEMO_PROFILE_NAME]
    if real:
        return snapshot(Profile, real[0])
    return create_profile(db, default_profile_name(), local_timezone_name())


def rename_profile(db: Session, user_id: uuid.UUID | str, display_name: str) -> Profile:
    """Give a profile a new unique display_name (1..255 characters)."""
    check_text("display_name", display_name, MAX_NAME, required=True)
    user = _user(db, user_id)
    name = display_name.strip()
    if name != user.display_name:
        _check_name_free(db, name)
        user.display_name = name
        db.flush()
    return snapshot(Profile, user)


def update_profile_settings(
    db: Session, user_id: uuid.UUID | str, settings: Mapping[str, Any] | str
) -> Profile:
    """Replace a profile's settings with ``settings`` (a JSON object, dict or text)."""
    settings_json = check_json_object("settings_json", _plain(settings), allow_none=False)
    user = _user(db, user_id)
    assert settings_json is not None
    user.settings_json = settings_json
    db.flush()
    return snapshot(Profile, user)


def set_profile_timezone(db: Session, user_id: uuid.UUID | str, timezone: str) -> Profile:
    """Change a profile's IANA timezone; its progress rows are rebuilt for the new local days."""
    check_timezone("timezone", timezone)
    user = _user(db, user_id)
    if timezone != user.timezone:
        user.timezone = timezone
        db.flush()
        progress.rebuild_user(db, user.id)
    return snapshot(Profile, user)


def delete_profile(db: Session, user_id: uuid.UUID | str) -> None:
    """Delete a profile and (by cascade) everything it owns; a tombstone records the deletion.
    Recording files on disk are left alone."""
    user = _user(db, user_id)
    db.add(Tombstone(table_name="users", row_id=user.id, user_id=user.id))
    # passive_deletes: the database's ON DELETE CASCADE removes the children, unloaded.
    db.delete(user)
    db.flush()


# --------------------------------------------------------------------------------------------
# Sessions (seed operations 1-5)


def create_session(
    db: Session,
    user_id: uuid.UUID | str,
    piece_name: str | None = None,
    genre: str | None = None,
    target_tempo: int | None = None,
    difficulty_level: str | None = None,
    websocket_session_id: str | None = None,
    started_at: datetime | None = None,
) -> SessionRecord:
    """Start a practice session (status "active"). target_tempo: 20..300 BPM; names <= 255
    characters; difficulty_level: beginner/intermediate/advanced; started_at: aware, default now."""
    uid = check_uuid("user_id", user_id)
    check_text("piece_name", piece_name)
    check_text("genre", genre)
    check_tempo("target_tempo", target_tempo)
    check_enum("difficulty_level", difficulty_level, DIFFICULTY_LEVELS)
    check_text("websocket_session_id", websocket_session_id)
    check_aware("started_at", started_at)
    now = utcnow()
    record = SessionRecord(
        id=uuid.uuid4(),
        user_id=uid,
        piece_name=piece_name,
        genre=genre,
        target_tempo=target_tempo,
        difficulty_level=difficulty_level,
        started_at=(started_at or now).astimezone(UTC),
        ended_at=None,
        duration_seconds=None,
        websocket_session_id=websocket_session_id,
        chunks_processed=0,
        status="active",
        created_at=now,
        updated_at=now,
    )
    if not _insert_record(db, record, User, "user_id"):
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
    check_aware("ended_at", ended_at)
    end = (ended_at or utcnow()).astimezone(UTC)
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
    _expire_loaded(db, RealtimeSession, sid)
    record = SessionRecord(*row)
    if update_progress:
        progress.recompute_for_sessions(db, record.user_id, [record.started_at])
    return record


def get_session(db: Session, session_id: uuid.UUID | str) -> SessionRecord:
    """The session with id ``session_id``; NotFoundError if none."""
    sid = check_uuid("session_id", session_id)
    row = db.execute(_get_session_stmt(), {"sid": sid}).first()
    if row is None:
        raise NotFoundError("session", sid)
    return SessionRecord(*row)


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
        _user(db, uid)
    return rows


def update_chunks_processed(db: Session, session_id: uuid.UUID | str, chunks: int) -> int:
    """Add ``chunks`` (0..1,000,000) to an active session's chunks_processed in one atomic
    UPDATE, so concurrent callers lose no increment. Returns the new total."""
    sid = check_uuid("session_id", session_id)
    check_int("chunks", chunks, 0, MAX_CHUNKS_PER_CALL, required=True)
    db.flush()
    params = {"sid": sid, "chunks": chunks, "now": utcnow()}
    total = db.connection().execute(_add_chunks_stmt(), params).scalar_one_or_none()
    if total is None:
        row = _session(db, sid)
        raise ValidationError(
            "status", f"chunks can only be added to an active session (it is {row.status})", sid
        )
    return int(total)


def delete_session(db: Session, session_id: uuid.UUID | str) -> None:
    """Delete a session with its takes and analyses (tombstoned) and recompute the progress rows
    it touched. Recording files on disk are left alone."""
    row = _session(db, check_uuid("session_id", session_id))
    user_id, started_at = row.user_id, row.started_at
    perf_ids = list(db.scalars(select(Performance.id).where(Performance.session_id == row.id)))
    _tombstone_performances(db, perf_ids, user_id)
    db.add(Tombstone(table_name="realtime_sessions", row_id=row.id, user_id=user_id))
    db.delete(row)
    db.flush()
    progress.recompute_for_sessions(db, user_id, [started_at])


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


# --------------------------------------------------------------------------------------------
# Performances (seed operations 6-7)


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
    _check_duration("recording_duration", recording_duration)
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
    if not _insert_record(db, record, RealtimeSession, "session_id"):
        raise NotFoundError("session", sid)
    return record


def get_session_performances(db: Session, session_id: uuid.UUID | str) -> list[PerformanceRecord]:
    """A session's takes, oldest first; NotFoundError for an unknown session."""
    sid = check_uuid("session_id", session_id)
    stmt = (
        _select_record(PerformanceRecord, Performance)
        .where(Performance.session_id == sid)
        .order_by(Performance.recording_started_at, Performance.id)
    )
    rows = [PerformanceRecord(*r) for r in db.execute(stmt)]
    if not rows:
        _session(db, sid)
    return rows


def mark_performance_recovered(
    db: Session, performance_id: uuid.UUID | str, recording_duration: float | None = None
) -> PerformanceRecord:
    """Flag a take as recovered after a crash; recording_duration (seconds >= 0) is the length
    of the repaired file, when known."""
    pid = check_uuid("performance_id", performance_id)
    if recording_duration is not None:
        _check_duration("recording_duration", recording_duration)
    row = _performance(db, pid)
    row.recovered = True
    if recording_duration is not None:
        row.recording_duration = float(recording_duration)
    db.flush()
    return snapshot(PerformanceRecord, row)


def delete_performance(db: Session, performance_id: uuid.UUID | str) -> None:
    """Delete a take and its analyses (tombstoned). The recording file is left alone."""
    row = _performance(db, check_uuid("performance_id", performance_id))
    session_row = _session(db, row.session_id)
    _tombstone_performances(db, [row.id], session_row.user_id)
    db.delete(row)
    db.flush()
    progress.recompute_for_sessions(db, session_row.user_id, [session_row.started_at])


# --------------------------------------------------------------------------------------------
# Analysis results (seed operations 8-10)

_SCORE_FIELDS = (
    "pitch_accuracy",
    "rhythm_accuracy",
    "dynamics_range",
    "overall_score",
    "timing_consistency",
    "tempo_stability",
    "note_accuracy_rate",
    "genre_match_score",
)
_COUNT_FIELDS = ("total_notes_detected", "total_onsets_detected", "total_dynamics_events")


def create_analysis_result(
    db: Session,
    performance_id: uuid.UUID | str,
    pitch_accuracy: float | None = None,
    rhythm_accuracy: float | None = None,
    dynamics_range: float | None = None,
    overall_score: float | None = None,
    feedback_json: Mapping[str, Any] | str | None = None,
    *,
    avg_pitch_deviation_cents: float | None = None,
    timing_consistency: float | None = None,
    tempo_stability: float | None = None,
    note_accuracy_rate: float | None = None,
    total_notes_detected: int | None = None,
    total_onsets_detected: int | None = None,
    total_dynamics_events: int | None = None,
    difficulty_estimate: str | None = None,
    genre_match_score: float | None = None,
    analysis_engine_version: str | None = None,
    processing_time_ms: int | None = None,
    created_at: datetime | None = None,
) -> AnalysisRecord:
    """Store the analysis of a take. Scores 0..1 or None; avg_pitch_deviation_cents: 0..1200
    cents; counts >= 0; feedback_json: a JSON object as dict or text; difficulty_estimate:
    beginner/intermediate/advanced; analysis_engine_version <= 64 characters;
    processing_time_ms >= 0; created_at: aware, default now. Adding an analysis to a session
    that has ended recomputes its progress rows."""
    pid = check_uuid("performance_id", performance_id)
    values: dict[str, Any] = {
        "pitch_accuracy": pitch_accuracy,
        "rhythm_accuracy": rhythm_accuracy,
        "dynamics_range": dynamics_range,
        "overall_score": overall_score,
        "timing_consistency": timing_consistency,
        "tempo_stability": tempo_stability,
        "note_accuracy_rate": note_accuracy_rate,
        "genre_match_score": genre_match_score,
        "total_notes_detected": total_notes_detected,
        "total_onsets_detected": total_onsets_detected,
        "total_dynamics_events": total_dynamics_events,
    }
    for name in _SCORE_FIELDS:
        check_score(name, values[name])
    for name in _COUNT_FIELDS:
        check_int(name, values[name], 0)
    check_finite("avg_pitch_deviation_cents", avg_pitch_deviation_cents)
    if avg_pitch_deviation_cents is not None and not 0 <= avg_pitch_deviation_cents <= 1200:
        raise ValidationError(
            "avg_pitch_deviation_cents",
            "must be between 0 and 1200 cents",
            avg_pitch_deviation_cents,
        )
    feedback_text = check_json_object("feedback_json", _plain(feedback_json))
    check_enum("difficulty_estimate", difficulty_estimate, DIFFICULTY_LEVELS)
    check_text("analysis_engine_version", analysis_engine_version, 64)
    check_int("processing_time_ms", processing_time_ms, 0)
    check_aware("created_at", created_at)
    now = utcnow()
    scores_and_counts: dict[str, Any] = {name: _opt_float(values[name]) for name in _SCORE_FIELDS}
    scores_and_counts.update((name, values[name]) for name in _COUNT_FIELDS)
    record = AnalysisRecord(
        id=uuid.uuid4(),
        performance_id=pid,
        avg_pitch_deviation_cents=_opt_float(avg_pitch_deviation_cents),
        feedback_json=feedback_text,
        difficulty_estimate=difficulty_estimate,
        analysis_engine_version=analysis_engine_version,
        processing_time_ms=processing_time_ms,
        created_at=(created_at or now).astimezone(UTC),
        updated_at=now,
        **scores_and_counts,
    )
    # One statement: the insert, guarded by the take's existence, returns its session's status.
    db.flush()
    inserted = db.connection().execute(_analysis_insert(), _insert_params(record)).first()
    if inserted is None:
        raise NotFoundError("performance", pid)
    # A late (re-)analysis of an ended session changes that session's progress rows.
    if inserted[1] != "active":
        owner = db.execute(
            select(RealtimeSession.user_id, RealtimeSession.started_at)
            .join(Performance, Performance.session_id == RealtimeSession.id)
            .where(Performance.id == pid)
        ).one()
        progress.recompute_for_sessions(db, owner.user_id, [owner.started_at])
    return record


def get_performance_analysis(db: Session, performance_id: uuid.UUID | str) -> list[AnalysisRecord]:
    """A take's analyses, oldest first; NotFoundError for an unknown take."""
    pid = check_uuid("performance_id", performance_id)
    stmt = (
        _select_record(AnalysisRecord, AnalysisResult)
        .where(AnalysisResult.performance_id == pid)
        .order_by(AnalysisResult.created_at, AnalysisResult.id)
    )
    rows = [AnalysisRecord(*r) for r in db.execute(stmt)]
    if not rows:
        _performance(db, pid)
    return rows


def get_latest_analysis(db: Session, performance_id: uuid.UUID | str) -> AnalysisRecord | None:
    """A take's newest analysis, None if it has none; NotFoundError for an unknown take."""
    pid = check_uuid("performance_id", performance_id)
    row = db.execute(
        _select_record(AnalysisRecord, AnalysisResult)
        .where(AnalysisResult.performance_id == pid)
        .order_by(AnalysisResult.created_at.desc(), AnalysisResult.id.desc())
        .limit(1)
    ).first()
    if row is None:
        _performance(db, pid)
        return None
    return AnalysisRecord(*row)


# --------------------------------------------------------------------------------------------
# Progress and stats (seed operations 11-13 and the progress upsert)

_PROGRESS_FIELDS: dict[str, str] = {
    "total_sessions": "count",
    "total_practice_time_seconds": "count",
    "avg_pitch_accuracy": "score",
    "avg_rhythm_accuracy": "score",
    "avg_dynamics_range": "score",
    "avg_overall_score": "score",
    "improvement_rate": "signed_score",
    "consistency_score": "score",
    "genre_breakdown_json": "json",
    "milestones_json": "json_any",
}


def create_or_update_progress_metric(
    db: Session,
    user_id: uuid.UUID | str,
    metric_date: datetime,
    period_type: str,
    **metrics: Any,
) -> ProgressRecord:
    """Upsert the row (user_id, period_type, metric_date). metrics: any of total_sessions and
    total_practice_time_seconds (>= 0), avg_* and consistency_score (0..1), improvement_rate
    (-1..1), genre_breakdown_json (JSON object), milestones_json (JSON list or object)."""
    uid = check_uuid("user_id", user_id)
    check_aware("metric_date", metric_date, required=True)
    check_enum("period_type", period_type, PERIOD_TYPES, required=True)
    clean: dict[str, Any] = {}
    for name, value in metrics.items():
        kind = _PROGRESS_FIELDS.get(name)
        if kind is None:
            raise ValidationError(name, "is not a progress metric field", value)
        if kind == "count":
            check_int(name, value, 0, required=True)
        elif kind == "score":
            check_score(name, value)
        elif kind == "signed_score":
            check_finite(name, value)
            if value is not None and not -1.0 <= value <= 1.0:
                raise ValidationError(name, "must be between -1 and 1", value)
        elif kind == "json":
            value = check_json_object(name, _plain(value))
        else:
            value = _check_json_any(name, value)
        clean[name] = value
    now = utcnow()
    values: dict[str, Any] = {f.name: None for f in dataclasses.fields(ProgressRecord)}
    values.update(
        id=progress_row_id(uid, period_type, metric_date),
        user_id=uid,
        metric_date=metric_date,
        period_type=period_type,
        total_sessions=0,
        total_practice_time_seconds=0,
        created_at=now,
        updated_at=now,
        usn=-1,
    )
    values.update(clean)
    stmt = _progress_upsert(db.get_bind().dialect.name, tuple(sorted(clean)))
    db.flush()
    row = db.connection().execute(stmt, values).first()
    if row is None:
        raise NotFoundError("user", uid)
    _expire_loaded(db, ProgressMetric, row.id)
    return ProgressRecord(*row)


def get_user_progress(
    db: Session,
    user_id: uuid.UUID | str,
    period_type: str = "daily",
    limit: int = 30,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[ProgressRecord]:
    """A profile's progress rows of one period type, newest first. limit: 1..1000; since/until:
    optional aware bounds on metric_date (since inclusive, until exclusive)."""
    uid = check_uuid("user_id", user_id)
    check_enum("period_type", period_type, PERIOD_TYPES, required=True)
    check_int("limit", limit, 1, MAX_LIMIT, required=True)
    check_aware("since", since)
    check_aware("until", until)
    stmt = _select_record(ProgressRecord, ProgressMetric).where(
        ProgressMetric.user_id == uid, ProgressMetric.period_type == period_type
    )
    if since is not None:
        stmt = stmt.where(ProgressMetric.metric_date >= since)
    if until is not None:
        stmt = stmt.where(ProgressMetric.metric_date < until)
    stmt = stmt.order_by(ProgressMetric.metric_date.desc()).limit(limit)
    rows = [ProgressRecord(*r) for r in db.execute(stmt)]
    if not rows:
        _user(db, uid)
    return rows


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
    check_aware("now", now)
    end = now or utcnow()
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
        avg_pitch_accuracy=_opt_float(agg[1]),
        avg_rhythm_accuracy=_opt_float(agg[2]),
        avg_overall_score=_opt_float(agg[3]),
        period_days=days,
        current_streak_days=current,
        longest_streak_days=longest,
    )


def get_complete_session_data(db: Session, session_id: uuid.UUID | str) -> SessionCompleteData:
    """A session with all its takes (oldest first) and each take's analyses (oldest first)."""
    sid = check_uuid("session_id", session_id)
    row = _session(db, sid)
    perfs = [
        PerformanceRecord(*r)
        for r in db.execute(
            _select_record(PerformanceRecord, Performance)
            .where(Performance.session_id == sid)
            .order_by(Performance.recording_started_at, Performance.id)
        )
    ]
    by_perf: dict[uuid.UUID, list[AnalysisRecord]] = {p.id: [] for p in perfs}
    if perfs:
        analyses = db.execute(
            _select_record(AnalysisRecord, AnalysisResult)
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


# --------------------------------------------------------------------------------------------
# Helpers


# Writes of new rows are single Core statements: INSERT ... SELECT :values WHERE EXISTS (parent).
# The guard makes the parent check and the insert one round trip (the PostgreSQL server is a
# loopback hop away, so round trips dominate), and a missing parent inserts nothing, so nothing
# is written for an unknown id. The record returned is built from the very values inserted
# (ids, created_at/updated_at and usn generated here once), so no read-back is needed.


_INSERTS: dict[tuple[type[Any], type[Base], str], Insert] = {}


def _guarded_insert(record_cls: type[Any], parent: type[Base], fk: str) -> Insert:
    key = (record_cls, parent, fk)
    if key in _INSERTS:
        return _INSERTS[key]
    table = typing.cast(Table, _RECORD_MODELS[record_cls].__table__)
    names = [f.name for f in dataclasses.fields(record_cls)] + ["usn"]
    params = {n: bindparam(f"v_{n}", type_=table.c[n].type) for n in names}
    guard = exists().where(parent.__table__.c.id == params[fk])
    # RETURNING tells whether a row went in: psycopg reports no rowcount for INSERT ... SELECT.
    _INSERTS[key] = (
        insert(table)
        .from_select(names, select(*params.values()).where(guard))
        .returning(table.c.id)
    )
    return _INSERTS[key]


@functools.cache
def _analysis_insert() -> Insert:
    # RETURNING a subquery: the status of the take's session, read in the same round trip.
    # Nested single-table subqueries, not a join: SQLite renders RETURNING columns unqualified.
    session_id = (
        select(Performance.session_id)
        .where(Performance.id == bindparam("v_performance_id"))
        .scalar_subquery()
    )
    status = (
        select(RealtimeSession.status).where(RealtimeSession.id == session_id).scalar_subquery()
    )
    return _guarded_insert(AnalysisRecord, Performance, "performance_id").returning(status)


@functools.lru_cache(maxsize=128)
def _progress_upsert(dialect_name: str, changed: tuple[str, ...]) -> Any:
    """INSERT ... SELECT ... WHERE EXISTS (user) ON CONFLICT (user, period, date) DO UPDATE of
    the ``changed`` fields, RETURNING the row: one round trip for insert-or-update."""
    table = typing.cast(Table, ProgressMetric.__table__)
    names = [f.name for f in dataclasses.fields(ProgressRecord)] + ["usn"]
    params = {n: bindparam(n, type_=table.c[n].type) for n in names}
    guard = exists().where(User.__table__.c.id == params["user_id"])
    # SQLite needs the WHERE on the SELECT to parse ON CONFLICT as the upsert clause.
    dialect_insert = pg_insert if dialect_name == "postgresql" else sqlite_insert
    stmt = dialect_insert(table).from_select(names, select(*params.values()).where(guard))
    if changed:
        set_ = {n: stmt.excluded[n] for n in (*changed, "updated_at", "usn")}
    else:
        set_ = {"user_id": table.c.user_id}  # nothing to change: a no-op keeps updated_at
    return stmt.on_conflict_do_update(
        index_elements=[table.c.user_id, table.c.period_type, table.c.metric_date], set_=set_
    ).returning(*_record_columns(ProgressRecord, ProgressMetric))


@functools.cache
def _get_session_stmt() -> Select[Any]:
    return _select_record(SessionRecord, RealtimeSession).where(
        RealtimeSession.id == bindparam("sid")
    )


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
        .returning(*_record_columns(SessionRecord, RealtimeSession))
    )


def _explain_end_refused(
    db: Session, sid: uuid.UUID, end: datetime, ended_at: datetime | None
) -> typing.NoReturn:
    row = _session(db, sid)
    if row.status != "active":
        raise ValidationError("status", f"session must be active to end (it is {row.status})", sid)
    if end < row.started_at:
        raise ValidationError("ended_at", "must not be before started_at", ended_at)
    raise RuntimeError(f"session {sid} could not be ended")  # not reachable in one transaction


def _expire_loaded(db: Session, model: type[Base], row_id: uuid.UUID) -> None:
    """Expire the Session's copy of a row changed by a Core statement, if it holds one, so later
    ORM reads in the same Session see the new values."""
    obj = db.identity_map.get(identity_key(model, row_id))
    if obj is not None:
        db.expire(obj)


@functools.cache
def _add_chunks_stmt() -> Any:
    # A Core statement built once: the ORM bulk-UPDATE path cost more than the query on SQLite.
    table = typing.cast(Table, RealtimeSession.__table__)
    return (
        update(table)
        .where(table.c.id == bindparam("sid"), table.c.status == "active")
        .values(
            chunks_processed=table.c.chunks_processed + bindparam("chunks", type_=Integer()),
            updated_at=bindparam("now", type_=table.c.updated_at.type),
            usn=-1,
        )
        .returning(table.c.chunks_processed)
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


@functools.cache
def _user_sessions_stmt(by_status: bool) -> Select[Any]:
    # Built once with parameters for everything, so no per-call statement building and hashing.
    stmt = _select_record(SessionRecord, RealtimeSession).where(
        RealtimeSession.user_id == bindparam("uid")
    )
    if by_status:
        stmt = stmt.where(RealtimeSession.status == bindparam("status"))
    stmt = stmt.order_by(RealtimeSession.started_at.desc(), RealtimeSession.id)
    return stmt.limit(bindparam("limit", type_=Integer())).offset(
        bindparam("offset", type_=Integer())
    )


def _insert_params(record: Any) -> dict[str, Any]:
    values = {f"v_{f.name}": getattr(record, f.name) for f in dataclasses.fields(record)}
    values["v_usn"] = -1  # pending sync, as the models' default
    return values


def _insert_record(db: Session, record: Any, parent: type[Base], fk: str) -> bool:
    """Insert ``record`` if its parent row (``parent`` with id ``record.<fk>``) exists; whether
    it was inserted."""
    stmt = _guarded_insert(type(record), parent, fk)
    db.flush()  # a parent the caller added but has not flushed yet must be visible
    return db.connection().execute(stmt, _insert_params(record)).first() is not None


_RECORD_COLUMNS: dict[tuple[type[Any], type[Base]], tuple[Any, ...]] = {}


def _record_columns(cls: type[Any], model: type[Base]) -> tuple[Any, ...]:
    key = (cls, model)
    if key not in _RECORD_COLUMNS:
        _RECORD_COLUMNS[key] = tuple(model.__table__.c[f.name] for f in dataclasses.fields(cls))
    return _RECORD_COLUMNS[key]


_RECORD_MODELS: dict[type[Any], type[Base]] = {
    SessionRecord: RealtimeSession,
    PerformanceRecord: Performance,
    AnalysisRecord: AnalysisResult,
    ProgressRecord: ProgressMetric,
}


def _select_record(cls: type[Any], model: type[Base]) -> Select[Any]:
    """SELECT of exactly the columns of record ``cls``, in field order: plain rows are several
    times cheaper to read than ORM entities for list operations."""
    return select(*_record_columns(cls, model))


def _user(db: Session, user_id: uuid.UUID | str) -> User:
    uid = check_uuid("user_id", user_id)
    user = db.get(User, uid)
    if user is None:
        raise NotFoundError("user", uid)
    return user


def _session(db: Session, session_id: uuid.UUID) -> RealtimeSession:
    row = db.get(RealtimeSession, session_id)
    if row is None:
        raise NotFoundError("session", session_id)
    return row


def _performance(db: Session, performance_id: uuid.UUID) -> Performance:
    row = db.get(Performance, performance_id)
    if row is None:
        raise NotFoundError("performance", performance_id)
    return row


def _check_name_free(db: Session, name: str) -> None:
    if db.scalar(select(User.id).where(User.display_name == name)) is not None:
        raise ValidationError("display_name", "must be unique (a profile has that name)", name)


def _check_duration(field: str, value: Any) -> None:
    check_finite(field, value)
    if value is None or value < 0:
        raise ValidationError(field, "must be a number of seconds >= 0", value)


def _check_json_any(field: str, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValidationError(field, "must be valid JSON", value) from exc
        return value
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError(field, "must be serialisable as JSON", value) from exc


def _tombstone_performances(db: Session, perf_ids: list[uuid.UUID], user_id: uuid.UUID) -> None:
    if not perf_ids:
        return
    analysis_ids = db.scalars(
        select(AnalysisResult.id).where(AnalysisResult.performance_id.in_(perf_ids))
    )
    for aid in analysis_ids:
        db.add(Tombstone(table_name="analysis_results", row_id=aid, user_id=user_id))
    for pid in perf_ids:
        db.add(Tombstone(table_name="performances", row_id=pid, user_id=user_id))


def _plain(value: Any) -> Any:
    """A Mapping as a dict (for JSON checks); anything else unchanged, for the check to judge."""
    return dict(value) if isinstance(value, Mapping) else value


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def local_timezone_name() -> str:
    """The machine's IANA timezone name when it can be found, else "UTC"."""
    import os
    from pathlib import Path

    env = os.environ.get("TZ", "").lstrip(":")
    candidates = [env] if env else []
    localtime = Path("/etc/localtime")
    if localtime.is_symlink():
        target = str(localtime.resolve())
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    for name in candidates:
        try:
            check_timezone("timezone", name)
        except ValidationError:
            continue
        return name
    return "UTC"
