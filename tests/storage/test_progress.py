"""Progress roll-ups: local days, ISO weeks, months, DST changes, the figures and milestones."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from storage import progress
from storage.analyses import create_analysis_result
from storage.db import Database
from storage.errors import ValidationError
from storage.performances import create_performance
from storage.profiles import create_profile, set_profile_timezone
from storage.progress_metrics import get_user_progress
from storage.sessions import create_session, delete_session, end_session
from storage.stats import calculate_user_stats

PARIS = "Europe/Paris"


def _z(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def _practice(
    s: Session,
    uid: uuid.UUID,
    start: datetime,
    minutes: float = 30,
    scores: tuple[float | None, ...] = (),
    genre: str | None = "classical",
    pitch: float | None = None,
    feedback: dict[str, Any] | None = None,
) -> uuid.UUID:
    sid = create_session(s, uid, "Piece", genre, started_at=start).id
    pid = create_performance(s, sid, recording_started_at=start).id
    for sc in scores:
        create_analysis_result(s, pid, pitch, overall_score=sc, feedback_json=feedback)
    end_session(s, sid, start + timedelta(minutes=minutes))
    return sid


def _rows(s: Session, uid: uuid.UUID, ptype: str) -> dict[datetime, Any]:
    return {r.metric_date: r for r in get_user_progress(s, uid, ptype, limit=1000)}


def test_day_week_month_boundaries_use_the_local_calendar(store: Database) -> None:
    with store.transaction() as s:
        uid = create_profile(s, "Ann", PARIS).id
        _practice(s, uid, _z(2024, 12, 31, 22, 30), 20)  # Tue 31 Dec 23:30 local
        _practice(s, uid, _z(2024, 12, 31, 23, 30), 40)  # Wed 1 Jan 00:30 local
        _practice(s, uid, _z(2025, 1, 5, 22, 59), 10)  # Sun 5 Jan 23:59 local
        _practice(s, uid, _z(2025, 1, 5, 23, 10), 5)  # Mon 6 Jan 00:10 local
    with store.transaction() as s:
        daily = _rows(s, uid, "daily")
        weekly = _rows(s, uid, "weekly")
        monthly = _rows(s, uid, "monthly")
    assert sorted(daily) == [
        _z(2024, 12, 30, 23),
        _z(2024, 12, 31, 23),
        _z(2025, 1, 4, 23),
        _z(2025, 1, 5, 23),
    ]
    assert [daily[k].total_practice_time_seconds for k in sorted(daily)] == [1200, 2400, 600, 300]
    # ISO week 1 of 2025 starts Monday 30 Dec 2024 and holds both year-end sessions.
    assert sorted(weekly) == [_z(2024, 12, 29, 23), _z(2025, 1, 5, 23)]
    assert weekly[_z(2024, 12, 29, 23)].total_sessions == 3
    assert weekly[_z(2025, 1, 5, 23)].total_sessions == 1
    assert sorted(monthly) == [_z(2024, 11, 30, 23), _z(2024, 12, 31, 23)]
    assert monthly[_z(2024, 11, 30, 23)].total_sessions == 1
    assert monthly[_z(2024, 12, 31, 23)].total_sessions == 3
    assert monthly[_z(2024, 12, 31, 23)].total_practice_time_seconds == 3300


def test_dst_changes_move_local_midnight(store: Database) -> None:
    with store.transaction() as s:
        uid = create_profile(s, "Ann", PARIS).id
        # Spring forward on Sun 30 Mar 2025: local midnight of 31 Mar is 22:00 UTC on 30 Mar.
        _practice(s, uid, _z(2025, 3, 29, 23, 30))  # 30 Mar 00:30 CET
        _practice(s, uid, _z(2025, 3, 30, 21, 30))  # 30 Mar 23:30 CEST
        _practice(s, uid, _z(2025, 3, 30, 22, 30))  # 31 Mar 00:30 CEST
        # Fall back on Sun 26 Oct 2025: a 25-hour day; 27 Oct starts at 23:00 UTC.
        _practice(s, uid, _z(2025, 10, 25, 22, 30))  # 26 Oct 00:30 CEST
        _practice(s, uid, _z(2025, 10, 26, 22, 30))  # 26 Oct 23:30 CET
        _practice(s, uid, _z(2025, 10, 26, 23, 10))  # 27 Oct 00:10 CET
    with store.transaction() as s:
        daily = _rows(s, uid, "daily")
        weekly = _rows(s, uid, "weekly")
    assert {k: r.total_sessions for k, r in daily.items()} == {
        _z(2025, 3, 29, 23): 2,
        _z(2025, 3, 30, 22): 1,
        _z(2025, 10, 25, 22): 2,
        _z(2025, 10, 26, 23): 1,
    }
    # Weeks: Mon 24 Mar (CET midnight), Mon 31 Mar (CEST), Mon 20 Oct (CEST), Mon 27 Oct (CET).
    assert {k: r.total_sessions for k, r in weekly.items()} == {
        _z(2025, 3, 23, 23): 2,
        _z(2025, 3, 30, 22): 1,
        _z(2025, 10, 19, 22): 2,
        _z(2025, 10, 26, 23): 1,
    }
    with store.transaction() as s:
        series = progress.progress_series(s, uid, "daily", "total_sessions")
    assert series == [
        (date(2025, 3, 30), 2.0),
        (date(2025, 3, 31), 1.0),
        (date(2025, 10, 26), 2.0),
        (date(2025, 10, 27), 1.0),
    ]


def test_figures_averages_consistency_improvement_genres(store: Database) -> None:
    with store.transaction() as s:
        uid = create_profile(s, "Ann", "UTC").id
        _practice(s, uid, _z(2025, 5, 5, 10), 30, (0.5, 0.7), "jazz", pitch=0.6)
        _practice(s, uid, _z(2025, 5, 5, 15), 10, (0.6,), None, pitch=0.8)
        _practice(s, uid, _z(2025, 5, 6, 10), 20, (0.9, 0.9), "jazz", pitch=0.95)
        _practice(s, uid, _z(2025, 5, 8, 10), 15, (), "folk")
    with store.transaction() as s:
        daily = _rows(s, uid, "daily")
        weekly = _rows(s, uid, "weekly")
    d5 = daily[_z(2025, 5, 5)]
    assert d5.total_sessions == 2 and d5.total_practice_time_seconds == 2400
    assert d5.avg_overall_score == pytest.approx(0.6)
    assert d5.avg_pitch_accuracy == pytest.approx((0.6 + 0.6 + 0.8) / 3)
    assert d5.avg_rhythm_accuracy is None
    # Scores 0.5, 0.7, 0.6: population sigma = 0.0816..., consistency = 1 - 2 sigma.
    assert d5.consistency_score == pytest.approx(1 - 2 * (0.02 / 3) ** 0.5)
    assert d5.improvement_rate is None  # nothing the day before
    assert json.loads(d5.genre_breakdown_json) == {
        "jazz": {"sessions": 1, "practice_time_seconds": 1800},
        "unspecified": {"sessions": 1, "practice_time_seconds": 600},
    }
    d6 = daily[_z(2025, 5, 6)]
    assert d6.improvement_rate == pytest.approx(0.3)
    assert d6.consistency_score == pytest.approx(1.0)
    d8 = daily[_z(2025, 5, 8)]
    assert d8.avg_overall_score is None and d8.consistency_score is None
    assert d8.improvement_rate is None  # 7 May had no practice
    week = weekly[_z(2025, 5, 5)]
    assert week.total_sessions == 4 and week.total_practice_time_seconds == 75 * 60
    assert week.avg_overall_score == pytest.approx((0.5 + 0.7 + 0.6 + 0.9 + 0.9) / 5)
    ms = json.loads(week.milestones_json)
    assert {"milestone": "first_session", "date": "2025-05-05"} in ms
    assert {"milestone": "first_pitch_90", "date": "2025-05-06"} in ms


def test_milestones_streaks_and_hours(store: Database) -> None:
    with store.transaction() as s:
        uid = create_profile(s, "Ann", "UTC").id
        # 8 consecutive days of 100 minutes: 10 hours is reached on day 6.
        for i in range(8):
            _practice(s, uid, _z(2025, 2, 1, 9) + timedelta(days=i), 100)
        # After a gap, a new run reaches 3 days again.
        for i in range(3):
            _practice(s, uid, _z(2025, 2, 20, 9) + timedelta(days=i), 10)
    with store.transaction() as s:
        daily = _rows(s, uid, "daily")
        monthly = _rows(s, uid, "monthly")

    def keys(d: datetime) -> list[str]:
        return [m["milestone"] for m in json.loads(daily[d].milestones_json)]

    assert keys(_z(2025, 2, 1)) == ["first_session"]
    assert keys(_z(2025, 2, 2)) == []
    assert keys(_z(2025, 2, 3)) == ["streak_3"]
    assert keys(_z(2025, 2, 6)) == ["hours_10"]
    assert keys(_z(2025, 2, 7)) == ["streak_7"]
    assert keys(_z(2025, 2, 8)) == []
    assert keys(_z(2025, 2, 22)) == ["streak_3"]
    month = [m["milestone"] for m in json.loads(monthly[_z(2025, 2, 1)].milestones_json)]
    assert month == ["first_session", "streak_3", "hours_10", "streak_7", "streak_3"]
    with store.transaction() as s:
        stats = calculate_user_stats(s, uid, 30, now=_z(2025, 2, 22, 20))
    assert (stats.current_streak_days, stats.longest_streak_days) == (3, 8)


def test_incremental_updates_equal_a_full_rebuild(sqlite_store: Database) -> None:
    with sqlite_store.transaction() as s:
        uid = create_profile(s, "Ann", "America/Los_Angeles").id
        start = _z(2025, 1, 27, 3)
        for i in range(0, 45, 2):
            _practice(
                s,
                uid,
                start + timedelta(days=i, hours=i % 5),
                25 + i,
                (0.4 + i / 100, 0.5 + i / 120),
                "jazz" if i % 4 else "folk",
                pitch=min(0.5 + i / 50, 1.0),
            )
        # Deleting a session recomputes too.
        victim = _practice(s, uid, start + timedelta(days=11), 60, (0.1,))
        delete_session(s, victim)

    def values(s: Session) -> dict[tuple[str, datetime], tuple[Any, ...]]:
        out = {}
        for ptype in ("daily", "weekly", "monthly"):
            for r in get_user_progress(s, uid, ptype, limit=1000):
                out[(ptype, r.metric_date)] = (
                    r.total_sessions,
                    r.total_practice_time_seconds,
                    r.avg_pitch_accuracy,
                    r.avg_overall_score,
                    r.improvement_rate,
                    r.consistency_score,
                    r.genre_breakdown_json,
                    r.milestones_json,
                )
        return out

    with sqlite_store.transaction() as s:
        incremental = values(s)
        written = progress.rebuild_user(s, uid)
    with sqlite_store.transaction() as s:
        rebuilt = values(s)
    assert written == len(rebuilt)
    assert incremental.keys() == rebuilt.keys()
    for key in incremental:
        assert incremental[key] == pytest.approx(rebuilt[key]), key


def test_changing_timezone_rebuilds_local_days(sqlite_store: Database) -> None:
    with sqlite_store.transaction() as s:
        uid = create_profile(s, "Ann", "UTC").id
        _practice(s, uid, _z(2025, 7, 1, 2))  # 1 Jul in UTC, 30 Jun in New York
        assert sorted(_rows(s, uid, "daily")) == [_z(2025, 7, 1)]
        assert sorted(_rows(s, uid, "monthly")) == [_z(2025, 7, 1)]
        set_profile_timezone(s, uid, "America/New_York")
        assert sorted(_rows(s, uid, "daily")) == [_z(2025, 6, 30, 4)]
        assert sorted(_rows(s, uid, "monthly")) == [_z(2025, 6, 1, 4)]


def test_active_sessions_do_not_count(sqlite_store: Database) -> None:
    with sqlite_store.transaction() as s:
        uid = create_profile(s, "Ann", "UTC").id
        create_session(s, uid, started_at=_z(2025, 7, 1, 9))
        _practice(s, uid, _z(2025, 7, 1, 10), 10)
        day = _rows(s, uid, "daily")[_z(2025, 7, 1)]
    assert day.total_sessions == 1


def test_series_helpers_and_intonation(sqlite_store: Database) -> None:
    per_note = {
        "per_note": [
            {"note": "F#5", "mean_cents": 20.0, "count": 3},
            {"note": "A4", "mean_cents": -4.0, "count": 1},
        ]
    }
    later = {"per_note": [{"note": "F#5", "mean_cents": 8.0, "count": 1}, {"bad": 1}]}
    with sqlite_store.transaction() as s:
        uid = create_profile(s, "Ann", "UTC").id
        _practice(s, uid, _z(2025, 9, 1, 9), 60, (0.5,), feedback=per_note)
        _practice(s, uid, _z(2025, 9, 3, 9), 30, (0.7,), feedback=later)
        _practice(s, uid, _z(2025, 9, 9, 9), 90, (0.9,), feedback={"tips": []})
        _practice(s, uid, _z(2025, 9, 10, 9), 30, (0.8,))
        _practice(s, uid, _z(2025, 9, 11, 9), 30, (0.8,), feedback={"per_note": "oops"})
        weekly = progress.progress_series(s, uid, "weekly", "avg_overall_score")
        minutes = progress.practice_time_series(s, uid, "weekly")
        tendencies = progress.intonation_tendencies(s, uid)
        with pytest.raises(ValidationError, match="metric"):
            progress.progress_series(s, uid, "weekly", "nonsense")
    assert weekly == [
        (date(2025, 9, 1), pytest.approx(0.6)),
        (date(2025, 9, 8), pytest.approx((0.9 + 0.8 + 0.8) / 3)),
    ]
    assert minutes == [(date(2025, 9, 1), 90.0), (date(2025, 9, 8), 150.0)]
    assert tendencies == {
        "A4": [(date(2025, 9, 1), -4.0, 1)],
        "F#5": [(date(2025, 9, 1), pytest.approx((20 * 3 + 8) / 4), 4)],
    }


def test_late_analysis_of_an_ended_session_updates_progress(sqlite_store: Database) -> None:
    with sqlite_store.transaction() as s:
        uid = create_profile(s, "Ann", "UTC").id
        sid = create_session(s, uid, started_at=_z(2025, 8, 1, 9)).id
        pid = create_performance(s, sid, recording_started_at=_z(2025, 8, 1, 9)).id
        create_analysis_result(s, pid, overall_score=0.4)
        end_session(s, sid, _z(2025, 8, 1, 10))
        assert _rows(s, uid, "daily")[_z(2025, 8, 1)].avg_overall_score == pytest.approx(0.4)
        create_analysis_result(s, pid, overall_score=0.8)  # re-analysed later
        day = _rows(s, uid, "daily")[_z(2025, 8, 1)]
    assert day.avg_overall_score == pytest.approx(0.6)
