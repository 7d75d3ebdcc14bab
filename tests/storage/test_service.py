"""Every service operation, on a SQLite file and on the PostgreSQL server."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from storage.analyses import create_analysis_result, get_latest_analysis, get_performance_analysis
from storage.config import default_profile_name
from storage.db import Database
from storage.errors import NotFoundError, ValidationError
from storage.models import AnalysisResult, Performance, RealtimeSession, Tombstone, User
from storage.performances import (
    create_performance,
    delete_performance,
    get_session_performances,
    mark_performance_recovered,
)
from storage.profiles import (
    create_profile,
    delete_profile,
    ensure_default_profile,
    get_profile,
    get_profile_by_name,
    list_profiles,
    rename_profile,
    update_profile_settings,
)
from storage.progress_metrics import create_or_update_progress_metric, get_user_progress
from storage.sessions import (
    create_session,
    delete_session,
    end_session,
    get_complete_session_data,
    get_session,
    get_user_sessions,
    update_chunks_processed,
)
from storage.stats import calculate_user_stats

T0 = datetime(2025, 3, 10, 18, 0, tzinfo=UTC)


def _profile(db: Database, name: str = "Ann", tz: str = "UTC") -> uuid.UUID:
    with db.transaction() as s:
        return create_profile(s, name, tz).id


def test_profiles_create_get_list_rename_settings_delete(store: Database) -> None:
    with store.transaction() as s:
        ann = create_profile(s, "  Ann  ", "Europe/Paris", {"a4_hz": 442})
        bob = create_profile(s, "Bob")
    assert ann.display_name == "Ann" and ann.timezone == "Europe/Paris"
    assert json.loads(ann.settings_json) == {"a4_hz": 442}
    assert ann.created_at.tzinfo is not None and ann.created_at.utcoffset() == timedelta(0)
    with store.transaction() as s:
        assert get_profile(s, ann.id) == ann
        assert get_profile(s, str(ann.id)).id == ann.id
        assert get_profile_by_name(s, "Bob").id == bob.id
        assert [p.display_name for p in list_profiles(s)] == ["Ann", "Bob"]
        renamed = rename_profile(s, ann.id, "Annie")
        assert renamed.display_name == "Annie"
        updated = update_profile_settings(s, ann.id, '{"a4_hz": 440, "theme": "dark"}')
        assert json.loads(updated.settings_json) == {"a4_hz": 440, "theme": "dark"}
    with store.transaction() as s, pytest.raises(ValidationError, match="unique"):
        rename_profile(s, bob.id, "Annie")
    with store.transaction() as s:
        sid = create_session(s, bob.id, started_at=T0).id
        delete_profile(s, bob.id)
    with store.transaction() as s:
        with pytest.raises(NotFoundError):
            get_profile(s, bob.id)
        assert s.get(RealtimeSession, sid) is None  # ON DELETE CASCADE
        tomb = s.scalars(select(Tombstone)).all()
        assert [(t.table_name, t.row_id) for t in tomb] == [("users", bob.id)]
        with pytest.raises(NotFoundError, match="Nobody"):
            get_profile_by_name(s, "Nobody")


def test_default_profile_is_created_once_and_skips_demo(store: Database) -> None:
    with store.transaction() as s:
        create_profile(s, "Demo student")
        first = ensure_default_profile(s)
        again = ensure_default_profile(s)
    assert first.id == again.id
    assert first.display_name == default_profile_name()


def test_session_lifecycle(store: Database) -> None:
    uid = _profile(store)
    with store.transaction() as s:
        rec = create_session(
            s, uid, "Amazing Grace", "gospel", 120, "intermediate", "ws-1", started_at=T0
        )
    assert rec.status == "active" and rec.chunks_processed == 0 and rec.ended_at is None
    assert rec.started_at == T0
    with store.transaction() as s:
        assert update_chunks_processed(s, rec.id, 10) == 10
        assert update_chunks_processed(s, rec.id, 5) == 15
        ended = end_session(s, rec.id, T0 + timedelta(minutes=15, seconds=0.7))
    assert ended.status == "completed"
    assert ended.duration_seconds == 900
    assert ended.ended_at == T0 + timedelta(minutes=15, seconds=0.7)
    with store.transaction() as s:
        got = get_session(s, rec.id)
        assert got.chunks_processed == 15 and got.piece_name == "Amazing Grace"
        assert got.difficulty_level == "intermediate" and got.websocket_session_id == "ws-1"
        with pytest.raises(ValidationError, match="active"):
            end_session(s, rec.id)
    with store.transaction() as s, pytest.raises(ValidationError, match="active"):
        update_chunks_processed(s, rec.id, 1)
    with store.transaction() as s:
        with pytest.raises(NotFoundError):
            get_session(s, uuid.uuid4())
        with pytest.raises(NotFoundError):
            update_chunks_processed(s, uuid.uuid4(), 1)


def test_user_sessions_paging_and_status(store: Database) -> None:
    uid = _profile(store)
    other = _profile(store, "Other")
    with store.transaction() as s:
        ids = [
            create_session(s, uid, f"p{i}", started_at=T0 + timedelta(hours=i)).id for i in range(7)
        ]
        create_session(s, other, "not mine", started_at=T0)
        for sid in ids[:3]:
            end_session(s, sid, T0 + timedelta(days=1))
    with store.transaction() as s:
        page = get_user_sessions(s, uid, limit=3)
        assert [r.piece_name for r in page] == ["p6", "p5", "p4"]
        page2 = get_user_sessions(s, uid, limit=3, offset=3)
        assert [r.piece_name for r in page2] == ["p3", "p2", "p1"]
        done = get_user_sessions(s, uid, status="completed")
        assert [r.piece_name for r in done] == ["p2", "p1", "p0"]
        assert len(get_user_sessions(s, uid, status="active")) == 4
        assert get_user_sessions(s, uid, status="abandoned") == []
        assert get_user_sessions(s, uid, offset=100) == []
        with pytest.raises(NotFoundError):
            get_user_sessions(s, uuid.uuid4())


def test_performances_and_analyses(store: Database) -> None:
    uid = _profile(store)
    with store.transaction() as s:
        sid = create_session(s, uid, started_at=T0).id
        p1 = create_performance(
            s,
            sid,
            "/rec/a.wav",
            "/rec/a.mid",
            48000,
            "wav",
            "warm-up",
            recording_started_at=T0 + timedelta(minutes=1),
            recording_duration=61.5,
        )
        p2 = create_performance(s, sid, recording_started_at=T0 + timedelta(minutes=5))
    assert p1.sample_rate == 48000 and p1.recording_duration == 61.5 and p1.recovered is False
    assert p2.sample_rate == 44100 and p2.audio_path is None
    with store.transaction() as s:
        perfs = get_session_performances(s, sid)
        assert [p.id for p in perfs] == [p1.id, p2.id]
        assert get_latest_analysis(s, p1.id) is None
        assert get_performance_analysis(s, p1.id) == []
        a1 = create_analysis_result(
            s,
            p1.id,
            0.87,
            0.92,
            0.78,
            0.86,
            {"strengths": ["Good pitch"], "tips": ["Work on dynamics"]},
            avg_pitch_deviation_cents=12.5,
            timing_consistency=0.8,
            tempo_stability=0.7,
            note_accuracy_rate=0.9,
            total_notes_detected=45,
            total_onsets_detected=43,
            total_dynamics_events=7,
            difficulty_estimate="intermediate",
            genre_match_score=0.6,
            analysis_engine_version="1.0",
            processing_time_ms=18,
            created_at=T0 + timedelta(minutes=3),
        )
        a2 = create_analysis_result(
            s,
            p1.id,
            overall_score=0.9,
            feedback_json='{"tips": []}',
            created_at=T0 + timedelta(minutes=4),
        )
    assert json.loads(a1.feedback_json or "") == {
        "strengths": ["Good pitch"],
        "tips": ["Work on dynamics"],
    }
    assert a1.total_notes_detected == 45 and a1.processing_time_ms == 18
    assert a1.created_at == T0 + timedelta(minutes=3)
    with store.transaction() as s:
        assert [a.id for a in get_performance_analysis(s, p1.id)] == [a1.id, a2.id]
        latest = get_latest_analysis(s, p1.id)
        assert latest is not None and latest.id == a2.id
        with pytest.raises(NotFoundError):
            get_latest_analysis(s, uuid.uuid4())
        with pytest.raises(NotFoundError):
            get_performance_analysis(s, uuid.uuid4())
        with pytest.raises(NotFoundError):
            get_session_performances(s, uuid.uuid4())
        with pytest.raises(NotFoundError):
            create_performance(s, uuid.uuid4())
        with pytest.raises(NotFoundError):
            create_analysis_result(s, uuid.uuid4(), 0.5)
        full = get_complete_session_data(s, sid)
    assert full.session.id == sid
    assert full.total_performances == 2 and full.total_analyses == 2
    assert [len(p.analysis_results) for p in full.performances] == [2, 0]
    assert full.performances[0].analysis_results[1].overall_score == 0.9


def test_recovered_take_flag(store: Database) -> None:
    uid = _profile(store)
    with store.transaction() as s:
        sid = create_session(s, uid, started_at=T0).id
        pid = create_performance(s, sid, "/rec/x.wav").id
        rec = mark_performance_recovered(s, pid, 42.25)
        direct = create_performance(s, sid, "/rec/y.wav", recovered=True)
    assert rec.recovered is True and rec.recording_duration == 42.25
    assert direct.recovered is True


def test_delete_session_and_performance_leave_tombstones(store: Database) -> None:
    uid = _profile(store)
    with store.transaction() as s:
        sid = create_session(s, uid, started_at=T0).id
        p1 = create_performance(s, sid).id
        p2 = create_performance(s, sid).id
        a1 = create_analysis_result(s, p1, 0.5).id
        a2 = create_analysis_result(s, p2, 0.6).id
        end_session(s, sid, T0 + timedelta(minutes=10))
    with store.transaction() as s:
        delete_performance(s, p2)
    with store.transaction() as s:
        assert s.get(AnalysisResult, a2) is None
        assert s.get(AnalysisResult, a1) is not None
        delete_session(s, sid)
    with store.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Performance)) == 0
        assert s.scalar(select(func.count()).select_from(AnalysisResult)) == 0
        tombs = {(t.table_name, t.row_id) for t in s.scalars(select(Tombstone))}
        assert {
            ("performances", p2),
            ("analysis_results", a2),
            ("performances", p1),
            ("analysis_results", a1),
            ("realtime_sessions", sid),
        } <= tombs
        # The day's progress row is gone with its only session (and tombstoned).
        assert get_user_progress(s, uid) == []
        assert any(t == "progress_metrics" for t, _ in tombs)


def test_progress_metric_upsert_and_listing(store: Database) -> None:
    uid = _profile(store)
    d1 = datetime(2025, 1, 1, tzinfo=UTC)
    d2 = datetime(2025, 1, 2, tzinfo=UTC)
    with store.transaction() as s:
        first = create_or_update_progress_metric(
            s,
            uid,
            d1,
            "daily",
            total_sessions=2,
            total_practice_time_seconds=600,
            avg_pitch_accuracy=0.8,
            genre_breakdown_json={"jazz": 1},
            milestones_json=[],
        )
        again = create_or_update_progress_metric(
            s, uid, d1, "daily", avg_pitch_accuracy=0.9, improvement_rate=-0.1
        )
        create_or_update_progress_metric(s, uid, d2, "daily", total_sessions=1)
        create_or_update_progress_metric(s, uid, d1, "weekly", total_sessions=3)
    assert again.id == first.id
    assert again.avg_pitch_accuracy == 0.9 and again.total_sessions == 2
    assert again.improvement_rate == -0.1
    with store.transaction() as s:
        daily = get_user_progress(s, uid, "daily")
        assert [r.metric_date for r in daily] == [d2, d1]
        assert [r.metric_date for r in get_user_progress(s, uid, "daily", limit=1)] == [d2]
        assert len(get_user_progress(s, uid, "weekly")) == 1
        assert get_user_progress(s, uid, "monthly") == []
        assert [r.metric_date for r in get_user_progress(s, uid, since=d2)] == [d2]
        assert [r.metric_date for r in get_user_progress(s, uid, until=d2)] == [d1]


def test_user_stats_fields_and_window(store: Database) -> None:
    uid = _profile(store, "Stat", "America/New_York")
    now = datetime(2025, 6, 20, 20, 0, tzinfo=UTC)
    with store.transaction() as s:
        # Practice on local days Jun 15..17 and Jun 19..20 (two runs: 3 and 2 days).
        for day in (15, 16, 17, 19, 20):
            start = datetime(2025, 6, day, 14, 0, tzinfo=UTC)  # 10:00 in New York
            sid = create_session(s, uid, started_at=start).id
            pid = create_performance(s, sid).id
            create_analysis_result(s, pid, 0.8, 0.6, overall_score=0.7)
            create_analysis_result(s, pid, 0.6, None, overall_score=0.5)
            end_session(s, sid, start + timedelta(minutes=30))
        old = create_session(s, uid, started_at=now - timedelta(days=40)).id
        end_session(s, old, now - timedelta(days=40) + timedelta(hours=5))
        stats = calculate_user_stats(s, uid, 30, now=now)
        wide = calculate_user_stats(s, uid, 60, now=now)
    assert stats.total_sessions == 5
    assert stats.total_practice_hours == 2.5
    assert stats.total_analyses == 10
    assert stats.avg_pitch_accuracy == pytest.approx(0.7)
    assert stats.avg_rhythm_accuracy == pytest.approx(0.6)
    assert stats.avg_overall_score == pytest.approx(0.6)
    assert stats.period_days == 30
    assert (stats.current_streak_days, stats.longest_streak_days) == (2, 3)
    assert wide.total_sessions == 6 and wide.total_practice_hours == 7.5
    with store.transaction() as s:
        empty = calculate_user_stats(s, _profile(store, "Empty"), 7)
    assert empty.total_sessions == 0 and empty.avg_overall_score is None
    assert (empty.current_streak_days, empty.longest_streak_days) == (0, 0)


def test_naive_datetimes_are_refused(store: Database) -> None:
    uid = _profile(store)
    with store.transaction() as s, pytest.raises(ValidationError, match="timezone-aware"):
        create_session(s, uid, started_at=datetime(2025, 1, 1, 12, 0))


def test_user_table_has_uuid_ids(store: Database) -> None:
    uid = _profile(store)
    with store.transaction() as s:
        user = s.get(User, uid)
        assert user is not None and isinstance(user.id, uuid.UUID) and user.usn == -1
