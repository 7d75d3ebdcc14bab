"""Analyses of takes (``analysis_results``, the seed's operations 8-10).

Conventions as in :mod:`storage.rows`: a caller-owned Session, validation before any write,
frozen records back.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Insert, bindparam, select
from sqlalchemy.orm import Session

from storage import progress
from storage.errors import NotFoundError, ValidationError
from storage.models import DIFFICULTY_LEVELS, AnalysisResult, Performance, RealtimeSession, utcnow
from storage.records import AnalysisRecord
from storage.rows import guarded_insert, insert_params, opt_float, performance_row, select_record
from storage.validation import (
    check_aware,
    check_enum,
    check_finite,
    check_int,
    check_json_object,
    check_score,
    check_text,
    check_uuid,
)

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
    feedback_text = check_json_object("feedback_json", feedback_json)
    check_enum("difficulty_estimate", difficulty_estimate, DIFFICULTY_LEVELS)
    check_text("analysis_engine_version", analysis_engine_version, 64)
    check_int("processing_time_ms", processing_time_ms, 0)
    check_aware("created_at", created_at)
    now = utcnow()
    scores_and_counts: dict[str, Any] = {name: opt_float(values[name]) for name in _SCORE_FIELDS}
    scores_and_counts.update((name, values[name]) for name in _COUNT_FIELDS)
    record = AnalysisRecord(
        id=uuid.uuid4(),
        performance_id=pid,
        avg_pitch_deviation_cents=opt_float(avg_pitch_deviation_cents),
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
    inserted = db.connection().execute(_analysis_insert(), insert_params(record)).first()
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
    return guarded_insert(AnalysisResult, Performance, "performance_id").returning(status)


def get_performance_analysis(db: Session, performance_id: uuid.UUID | str) -> list[AnalysisRecord]:
    """A take's analyses, oldest first; NotFoundError for an unknown take."""
    pid = check_uuid("performance_id", performance_id)
    stmt = (
        select_record(AnalysisRecord)
        .where(AnalysisResult.performance_id == pid)
        .order_by(AnalysisResult.created_at, AnalysisResult.id)
    )
    rows = [AnalysisRecord(*r) for r in db.execute(stmt)]
    if not rows:
        performance_row(db, pid)
    return rows


def get_latest_analysis(db: Session, performance_id: uuid.UUID | str) -> AnalysisRecord | None:
    """A take's newest analysis, None if it has none; NotFoundError for an unknown take."""
    pid = check_uuid("performance_id", performance_id)
    row = db.execute(
        select_record(AnalysisRecord)
        .where(AnalysisResult.performance_id == pid)
        .order_by(AnalysisResult.created_at.desc(), AnalysisResult.id.desc())
        .limit(1)
    ).first()
    if row is None:
        performance_row(db, pid)
        return None
    return AnalysisRecord(*row)
