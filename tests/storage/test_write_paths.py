"""The single-statement write paths: what they return is what the database holds, a missing
parent writes nothing, and the side effects the ORM version had (progress recompute, fresh
objects in the caller's Session) still happen. On a SQLite file and on the PostgreSQL server."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from storage.analyses import create_analysis_result, get_performance_analysis
from storage.db import Database
from storage.errors import NotFoundError, ValidationError
from storage.models import RealtimeSession
from storage.performances import create_performance, get_session_performances
from storage.profiles import create_profile
from storage.progress_metrics import create_or_update_progress_metric, get_user_progress
from storage.sessions import create_session, end_session, get_session
from storage.stats import calculate_user_stats
from tests.storage.conftest import table_snapshot

T0 = datetime(2025, 3, 10, 18, 0, 0, 250_000, tzinfo=UTC)
PARIS_SUMMER = timezone(timedelta(hours=2))


def _profile(db: Database) -> uuid.UUID:
    with db.transaction() as s:
        return create_profile(s, "Ann", "Europe/Paris").id


def test_returned_records_equal_what_is_stored(store: Database) -> None:
    uid = _profile(store)
    with store.transaction() as s:
        made = create_session(
            s,
            uid,
            "Études op. 10",
            "classical",
            96,
            "advanced",
            "ws-1",
            started_at=(T0 + timedelta(microseconds=7)).astimezone(PARIS_SUMMER),
        )
        take = create_performance(
            s,
            made.id,
            "/takes/a.flac",
            None,
            48000,
            "flac",
            "left hand",
            recording_started_at=(T0 + timedelta(seconds=5)).astimezone(PARIS_SUMMER),
            recording_duration=12,
        )
        analysis = create_analysis_result(
            s,
            take.id,
            1,
            0.5,
            0,
            0.75,
            {"tips": ["slower"]},
            avg_pitch_deviation_cents=12,
            total_notes_detected=40,
            difficulty_estimate="advanced",
            analysis_engine_version="aubio 0.4",
            processing_time_ms=9,
        )
    # Aware input in another zone comes back as UTC, whole numbers as floats, like a read.
    assert made.started_at.utcoffset() == timedelta(0)
    assert made.started_at == T0 + timedelta(microseconds=7)
    assert analysis.pitch_accuracy == 1.0 and isinstance(analysis.pitch_accuracy, float)
    assert isinstance(take.recording_duration, float)
    assert made.created_at == made.updated_at and made.created_at.tzinfo is not None
    with store.transaction() as s:
        assert get_session(s, made.id) == made
        assert get_session_performances(s, made.id) == [take]
        assert get_performance_analysis(s, take.id) == [analysis]
        ended = end_session(s, made.id, T0 + timedelta(minutes=30))
    with store.transaction() as s:
        assert get_session(s, made.id) == ended
    assert ended.status == "completed" and ended.created_at == made.created_at
    assert ended.updated_at > made.updated_at


@pytest.mark.parametrize(
    ("elapsed", "expected"),
    [
        (timedelta(seconds=3599, microseconds=999_999), 3599),
        (timedelta(seconds=3600), 3600),
        (timedelta(seconds=3600, microseconds=1), 3600),
        (timedelta(0), 0),
    ],
)
def test_end_session_duration_is_truncated_whole_seconds(
    store: Database, elapsed: timedelta, expected: int
) -> None:
    uid = _profile(store)
    with store.transaction() as s:
        sid = create_session(s, uid, started_at=T0).id
    with store.transaction() as s:
        ended = end_session(s, sid, T0 + elapsed, update_progress=False)
    assert ended.duration_seconds == expected
    assert ended.ended_at == T0 + elapsed
    with store.transaction() as s:
        assert get_session(s, sid).duration_seconds == expected


def test_end_session_refusals_change_nothing(store: Database) -> None:
    uid = _profile(store)
    with store.transaction() as s:
        sid = create_session(s, uid, started_at=T0).id
    before = table_snapshot(store)
    with store.transaction() as s, pytest.raises(ValidationError, match="ended_at"):
        end_session(s, sid, T0 - timedelta(microseconds=1))
    with store.transaction() as s, pytest.raises(NotFoundError):
        end_session(s, uuid.uuid4())
    assert table_snapshot(store) == before
    with store.transaction() as s:
        end_session(s, sid, T0 + timedelta(hours=1))
    after_end = table_snapshot(store)
    with store.transaction() as s, pytest.raises(ValidationError, match="completed"):
        end_session(s, sid, T0 + timedelta(hours=2))
    assert table_snapshot(store) == after_end


def test_end_session_refreshes_an_object_the_session_already_holds(store: Database) -> None:
    uid = _profile(store)
    with store.transaction() as s:
        sid = create_session(s, uid, started_at=T0).id
    with store.transaction() as s:
        loaded = s.get(RealtimeSession, sid)
        assert loaded is not None and loaded.status == "active"
        end_session(s, sid, T0 + timedelta(seconds=90), update_progress=False)
        assert loaded.status == "completed" and loaded.duration_seconds == 90


def test_missing_parent_writes_nothing(store: Database) -> None:
    _profile(store)
    before = table_snapshot(store)
    ghost = uuid.uuid4()
    with store.transaction() as s, pytest.raises(NotFoundError, match="user"):
        create_session(s, ghost)
    with store.transaction() as s, pytest.raises(NotFoundError, match="session"):
        create_performance(s, ghost)
    with store.transaction() as s, pytest.raises(NotFoundError, match="performance"):
        create_analysis_result(s, ghost, 0.5)
    with store.transaction() as s, pytest.raises(NotFoundError, match="user"):
        create_or_update_progress_metric(s, ghost, T0, "daily", total_sessions=1)
    assert table_snapshot(store) == before


def test_parent_added_in_the_same_session_is_found(store: Database) -> None:
    from storage.models import User

    with store.transaction() as s:
        user = User(id=uuid.uuid4(), display_name="Pending", timezone="UTC", settings_json="{}")
        s.add(user)  # not flushed: the insert must still see it
        made = create_session(s, user.id, started_at=T0)
    with store.transaction() as s:
        assert get_session(s, made.id).user_id == user.id


def test_late_analysis_recomputes_progress_and_live_one_does_not(store: Database) -> None:
    uid = _profile(store)
    with store.transaction() as s:
        sid = create_session(s, uid, started_at=T0).id
        pid = create_performance(s, sid, recording_started_at=T0).id
        create_analysis_result(s, pid, 0.5, 0.5, 0.5, 0.4)
        # The session is live: its analyses leave the progress rows alone until it ends.
        assert get_user_progress(s, uid, "daily") == []
        end_session(s, sid, T0 + timedelta(minutes=20))
        first = get_user_progress(s, uid, "daily")
    assert len(first) == 1 and first[0].avg_overall_score == pytest.approx(0.4)
    with store.transaction() as s:
        create_analysis_result(s, pid, 0.9, 0.9, 0.9, 0.8, created_at=T0 + timedelta(hours=1))
        again = get_user_progress(s, uid, "daily")
    assert len(again) == 1 and again[0].id == first[0].id
    assert again[0].avg_overall_score == pytest.approx(0.6)


def test_progress_upsert_inserts_then_updates_only_given_fields(store: Database) -> None:
    uid = _profile(store)
    day = datetime(2025, 3, 9, 23, 0, tzinfo=UTC)
    with store.transaction() as s:
        made = create_or_update_progress_metric(
            s, uid, day.astimezone(PARIS_SUMMER), "daily", avg_overall_score=0.5
        )
    assert (made.total_sessions, made.total_practice_time_seconds) == (0, 0)
    assert made.metric_date == day and made.avg_overall_score == 0.5
    with store.transaction() as s:
        assert get_user_progress(s, uid, "daily", since=day) == [made]
        same = create_or_update_progress_metric(s, uid, day, "daily")
        assert same == made  # nothing to change: untouched, updated_at included
        changed = create_or_update_progress_metric(
            s, uid, day, "daily", total_sessions=3, milestones_json=["first_session"]
        )
    assert changed.id == made.id and changed.created_at == made.created_at
    assert changed.total_sessions == 3 and changed.avg_overall_score == 0.5
    assert changed.milestones_json == '["first_session"]'
    assert changed.updated_at > made.updated_at
    with store.transaction() as s:
        assert get_user_progress(s, uid, "daily") == [changed]
        weekly = create_or_update_progress_metric(s, uid, day, "weekly", total_sessions=1)
    assert weekly.id != made.id


def test_stats_tell_an_unknown_profile_from_one_without_sessions_in_the_window(
    store: Database,
) -> None:
    uid = _profile(store)
    with store.transaction() as s:
        sid = create_session(s, uid, started_at=T0).id
        end_session(s, sid, T0 + timedelta(minutes=45))
    with store.transaction() as s:
        with pytest.raises(NotFoundError, match="user"):
            calculate_user_stats(s, uuid.uuid4(), 30, now=T0)
        outside = calculate_user_stats(s, uid, 7, now=T0 + timedelta(days=30))
        inside = calculate_user_stats(s, uid, 7, now=T0 + timedelta(days=1))
    assert (outside.total_sessions, outside.total_practice_hours) == (0, 0.0)
    assert (inside.total_sessions, inside.total_practice_hours) == (1, 0.75)
    assert inside.current_streak_days == 1
