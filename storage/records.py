"""Frozen snapshots the service returns.

The service hands back these immutable records, not live ORM objects: they stay valid after the
caller's Session commits or closes, and they can cross from the database worker thread to the GUI
thread safely. Field names are the seed's; datetimes are aware UTC.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, TypeVar

T = TypeVar("T")


def snapshot(cls: type[T], obj: Any) -> T:
    """Copy the attributes of ORM row ``obj`` named like the fields of dataclass ``cls``."""
    return cls(**{f.name: getattr(obj, f.name) for f in fields(cls)})  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Profile:
    """A student profile. timezone: IANA name; settings_json: a JSON object as text; is_demo:
    the generated demo profile (``etude demo``), not a student's."""

    id: uuid.UUID
    display_name: str
    timezone: str
    settings_json: str
    created_at: datetime
    updated_at: datetime
    is_demo: bool


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A practice session. target_tempo in BPM (20..300), duration_seconds >= 0 once ended."""

    id: uuid.UUID
    user_id: uuid.UUID
    piece_name: str | None
    genre: str | None
    target_tempo: int | None
    difficulty_level: str | None
    started_at: datetime
    ended_at: datetime | None
    duration_seconds: int | None
    websocket_session_id: str | None
    chunks_processed: int
    status: str
    created_at: datetime
    updated_at: datetime
    # The teacher's assignment it was practised for (None: free practice).
    assignment_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class PerformanceRecord:
    """A take. recording_duration in seconds, sample_rate in Hz."""

    id: uuid.UUID
    session_id: uuid.UUID
    recording_started_at: datetime
    recording_duration: float
    audio_path: str | None
    midi_path: str | None
    sample_rate: int
    audio_format: str | None
    notes: str | None
    recovered: bool | None
    created_at: datetime
    updated_at: datetime


# The fields of an analysis that are scores in 0..1 (None = not measurable here), and its
# counts (>= 0): the one table the service's checks, the command line and the tests share.
ANALYSIS_SCORE_FIELDS: tuple[str, ...] = (
    "pitch_accuracy",
    "rhythm_accuracy",
    "dynamics_range",
    "overall_score",
    "timing_consistency",
    "tempo_stability",
    "note_accuracy_rate",
    "genre_match_score",
)
ANALYSIS_COUNT_FIELDS: tuple[str, ...] = (
    "total_notes_detected",
    "total_onsets_detected",
    "total_dynamics_events",
)


@dataclass(frozen=True, slots=True)
class AnalysisRecord:
    """The analysis of a take. Scores 0..1 or None (not measurable)."""

    id: uuid.UUID
    performance_id: uuid.UUID
    pitch_accuracy: float | None
    rhythm_accuracy: float | None
    dynamics_range: float | None
    overall_score: float | None
    avg_pitch_deviation_cents: float | None
    timing_consistency: float | None
    tempo_stability: float | None
    note_accuracy_rate: float | None
    total_notes_detected: int | None
    total_onsets_detected: int | None
    total_dynamics_events: int | None
    feedback_json: str | None
    difficulty_estimate: str | None
    genre_match_score: float | None
    analysis_engine_version: str | None
    processing_time_ms: int | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ProgressRecord:
    """One rolled-up period; see storage.progress for the definition of each figure."""

    id: uuid.UUID
    user_id: uuid.UUID
    metric_date: datetime
    period_type: str
    total_sessions: int
    total_practice_time_seconds: int
    avg_pitch_accuracy: float | None
    avg_rhythm_accuracy: float | None
    avg_dynamics_range: float | None
    avg_overall_score: float | None
    improvement_rate: float | None
    consistency_score: float | None
    genre_breakdown_json: str | None
    milestones_json: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class UserStats:
    """Stats over the last ``period_days`` days (seed fields plus the two streaks).

    total_practice_hours: sum of ended sessions' durations in hours (2 decimals). Averages: mean
    over every analysis of the window's takes, None without any. Streaks in local days.
    """

    total_sessions: int
    total_practice_hours: float
    total_analyses: int
    avg_pitch_accuracy: float | None
    avg_rhythm_accuracy: float | None
    avg_overall_score: float | None
    period_days: int
    current_streak_days: int
    longest_streak_days: int


@dataclass(frozen=True, slots=True)
class PerformanceWithAnalysis:
    """A take with its analyses, oldest analysis first."""

    performance: PerformanceRecord
    analysis_results: tuple[AnalysisRecord, ...]


@dataclass(frozen=True, slots=True)
class SessionCompleteData:
    """A session with every take and analysis (seed: complete-data)."""

    session: SessionRecord
    performances: tuple[PerformanceWithAnalysis, ...]
    total_performances: int
    total_analyses: int
