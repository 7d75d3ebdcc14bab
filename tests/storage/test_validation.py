"""Every validation rule: the error names the field and the rule, and the database is unchanged."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from storage.analyses import create_analysis_result
from storage.db import Database
from storage.errors import ValidationError
from storage.performances import create_performance, mark_performance_recovered
from storage.profiles import (
    create_profile,
    rename_profile,
    set_profile_timezone,
    update_profile_settings,
)
from storage.progress_metrics import create_or_update_progress_metric, get_user_progress
from storage.sessions import (
    create_session,
    end_session,
    get_session,
    get_user_sessions,
    update_chunks_processed,
)
from storage.stats import calculate_user_stats
from tests.storage.conftest import table_snapshot

T0 = datetime(2025, 3, 10, 18, 0, tzinfo=UTC)
NAIVE = datetime(2025, 3, 10, 18, 0)


@pytest.fixture
def seeded(sqlite_store: Database) -> tuple[Database, dict[str, uuid.UUID]]:
    with sqlite_store.transaction() as s:
        uid = create_profile(s, "Ann").id
        create_profile(s, "Bob")
        sid = create_session(s, uid, "Piece", started_at=T0).id
        pid = create_performance(s, sid).id
        create_analysis_result(s, pid, 0.5)
        done = create_session(s, uid, started_at=T0 - timedelta(days=1)).id
        end_session(s, done, T0 - timedelta(days=1) + timedelta(minutes=5))
    return sqlite_store, {"user": uid, "session": sid, "perf": pid, "done": done}


Call = Callable[[Session, dict[str, uuid.UUID]], Any]


def _analysis_with(field: str, value: Any) -> Call:
    return lambda s, i: create_analysis_result(s, i["perf"], **{field: value})


CASES: list[tuple[str, Call, str, str]] = [
    # (case id, call, field named, words of the rule)
    ("name empty", lambda s, i: create_profile(s, "  "), "display_name", "empty"),
    ("name long", lambda s, i: create_profile(s, "x" * 256), "display_name", "255"),
    ("name type", lambda s, i: create_profile(s, 5), "display_name", "text"),  # type: ignore[arg-type]
    ("name dup", lambda s, i: create_profile(s, "Bob"), "display_name", "unique"),
    ("name NUL", lambda s, i: create_profile(s, "a\x00b"), "display_name", "NUL"),
    ("timezone", lambda s, i: create_profile(s, "Cy", "Mars/Olympus"), "timezone", "IANA"),
    (
        "settings json",
        lambda s, i: create_profile(s, "Cy", settings="{"),
        "settings_json",
        "valid JSON",
    ),
    (
        "settings type",
        lambda s, i: create_profile(s, "Cy", settings=[("a", 1)]),  # type: ignore[arg-type]
        "settings_json",
        "JSON object",
    ),
    (
        "feedback type",
        lambda s, i: create_analysis_result(s, i["perf"], feedback_json=[1]),  # type: ignore[arg-type]
        "feedback_json",
        "JSON object",
    ),
    (
        "settings list",
        lambda s, i: create_profile(s, "Cy", settings="[1]"),
        "settings_json",
        "JSON object",
    ),
    ("rename long", lambda s, i: rename_profile(s, i["user"], "y" * 300), "display_name", "255"),
    (
        "settings update",
        lambda s, i: update_profile_settings(s, i["user"], "nope"),
        "settings_json",
        "valid JSON",
    ),
    (
        "set timezone",
        lambda s, i: set_profile_timezone(s, i["user"], "Nowhere"),
        "timezone",
        "IANA",
    ),
    ("user id", lambda s, i: create_session(s, "not-a-uuid"), "user_id", "UUID"),
    ("piece long", lambda s, i: create_session(s, i["user"], "p" * 256), "piece_name", "255"),
    ("genre long", lambda s, i: create_session(s, i["user"], genre="g" * 256), "genre", "255"),
    (
        "tempo low",
        lambda s, i: create_session(s, i["user"], target_tempo=19),
        "target_tempo",
        "20 and 300",
    ),
    (
        "tempo high",
        lambda s, i: create_session(s, i["user"], target_tempo=301),
        "target_tempo",
        "20 and 300",
    ),
    (
        "tempo float",
        lambda s, i: create_session(s, i["user"], target_tempo=120.5),  # type: ignore[arg-type]
        "target_tempo",
        "whole number",
    ),
    (
        "difficulty",
        lambda s, i: create_session(s, i["user"], difficulty_level="expert"),
        "difficulty_level",
        "beginner, intermediate, advanced",
    ),
    (
        "ws id long",
        lambda s, i: create_session(s, i["user"], websocket_session_id="w" * 256),
        "websocket_session_id",
        "255",
    ),
    (
        "started naive",
        lambda s, i: create_session(s, i["user"], started_at=NAIVE),
        "started_at",
        "timezone-aware",
    ),
    (
        "end naive",
        lambda s, i: end_session(s, i["session"], NAIVE),
        "ended_at",
        "timezone-aware",
    ),
    (
        "end before start",
        lambda s, i: end_session(s, i["session"], T0 - timedelta(seconds=1)),
        "ended_at",
        "before started_at",
    ),
    ("end twice", lambda s, i: end_session(s, i["done"]), "status", "must be active"),
    ("limit 0", lambda s, i: get_user_sessions(s, i["user"], limit=0), "limit", "at least 1"),
    (
        "limit big",
        lambda s, i: get_user_sessions(s, i["user"], limit=1001),
        "limit",
        "at most 1000",
    ),
    (
        "offset neg",
        lambda s, i: get_user_sessions(s, i["user"], offset=-1),
        "offset",
        "negative",
    ),
    (
        "status",
        lambda s, i: get_user_sessions(s, i["user"], status="paused"),
        "status",
        "one of",
    ),
    (
        "chunks neg",
        lambda s, i: update_chunks_processed(s, i["session"], -1),
        "chunks",
        "negative",
    ),
    (
        "chunks type",
        lambda s, i: update_chunks_processed(s, i["session"], "3"),  # type: ignore[arg-type]
        "chunks",
        "integer",
    ),
    ("chunks ended", lambda s, i: update_chunks_processed(s, i["done"], 1), "status", "active"),
    (
        "audio path",
        lambda s, i: create_performance(s, i["session"], "/" + "a" * 500),
        "audio_path",
        "500",
    ),
    (
        "midi path",
        lambda s, i: create_performance(s, i["session"], midi_path="m" * 501),
        "midi_path",
        "500",
    ),
    (
        "sample rate 0",
        lambda s, i: create_performance(s, i["session"], sample_rate=0),
        "sample_rate",
        "at least 1",
    ),
    (
        "sample rate neg",
        lambda s, i: create_performance(s, i["session"], sample_rate=-44100),
        "sample_rate",
        "at least 1",
    ),
    (
        "format long",
        lambda s, i: create_performance(s, i["session"], audio_format="f" * 33),
        "audio_format",
        "32",
    ),
    (
        "duration neg",
        lambda s, i: create_performance(s, i["session"], recording_duration=-1),
        "recording_duration",
        ">= 0",
    ),
    (
        "duration nan",
        lambda s, i: create_performance(s, i["session"], recording_duration=float("nan")),
        "recording_duration",
        "finite",
    ),
    (
        "recovered type",
        lambda s, i: create_performance(s, i["session"], recovered=1),  # type: ignore[arg-type]
        "recovered",
        "true or false",
    ),
    (
        "recovered dur",
        lambda s, i: mark_performance_recovered(s, i["perf"], -3.0),
        "recording_duration",
        ">= 0",
    ),
    *[
        (
            f"{f} > 1",
            _analysis_with(f, 1.01),
            f,
            "between 0 and 1",
        )
        for f in (
            "pitch_accuracy",
            "rhythm_accuracy",
            "dynamics_range",
            "overall_score",
            "timing_consistency",
            "tempo_stability",
            "note_accuracy_rate",
            "genre_match_score",
        )
    ],
    (
        "score < 0",
        lambda s, i: create_analysis_result(s, i["perf"], -0.01),
        "pitch_accuracy",
        "between 0 and 1",
    ),
    (
        "score inf",
        lambda s, i: create_analysis_result(s, i["perf"], float("inf")),
        "pitch_accuracy",
        "finite",
    ),
    (
        "score text",
        lambda s, i: create_analysis_result(s, i["perf"], "0.5"),  # type: ignore[arg-type]
        "pitch_accuracy",
        "finite number",
    ),
    *[
        (
            f"{f} < 0",
            _analysis_with(f, -1),
            f,
            "negative",
        )
        for f in (
            "total_notes_detected",
            "total_onsets_detected",
            "total_dynamics_events",
            "processing_time_ms",
        )
    ],
    (
        "cents",
        lambda s, i: create_analysis_result(s, i["perf"], avg_pitch_deviation_cents=1500.0),
        "avg_pitch_deviation_cents",
        "0 and 1200",
    ),
    (
        "feedback bad",
        lambda s, i: create_analysis_result(s, i["perf"], feedback_json="{x"),
        "feedback_json",
        "valid JSON",
    ),
    (
        "feedback list",
        lambda s, i: create_analysis_result(s, i["perf"], feedback_json="[]"),
        "feedback_json",
        "JSON object",
    ),
    (
        "estimate",
        lambda s, i: create_analysis_result(s, i["perf"], difficulty_estimate="pro"),
        "difficulty_estimate",
        "one of",
    ),
    (
        "engine long",
        lambda s, i: create_analysis_result(s, i["perf"], analysis_engine_version="v" * 65),
        "analysis_engine_version",
        "64",
    ),
    (
        "period",
        lambda s, i: create_or_update_progress_metric(s, i["user"], T0, "yearly"),
        "period_type",
        "one of",
    ),
    (
        "metric date",
        lambda s, i: create_or_update_progress_metric(s, i["user"], NAIVE, "daily"),
        "metric_date",
        "timezone-aware",
    ),
    (
        "metric unknown",
        lambda s, i: create_or_update_progress_metric(s, i["user"], T0, "daily", bogus=1),
        "bogus",
        "not a progress metric",
    ),
    (
        "metric avg",
        lambda s, i: create_or_update_progress_metric(
            s, i["user"], T0, "daily", avg_overall_score=2.0
        ),
        "avg_overall_score",
        "0 and 1",
    ),
    (
        "metric count",
        lambda s, i: create_or_update_progress_metric(s, i["user"], T0, "daily", total_sessions=-2),
        "total_sessions",
        "negative",
    ),
    (
        "metric rate",
        lambda s, i: create_or_update_progress_metric(
            s, i["user"], T0, "daily", improvement_rate=1.5
        ),
        "improvement_rate",
        "-1 and 1",
    ),
    (
        "progress period",
        lambda s, i: get_user_progress(s, i["user"], "hourly"),
        "period_type",
        "one of",
    ),
    (
        "progress limit",
        lambda s, i: get_user_progress(s, i["user"], limit=0),
        "limit",
        "at least 1",
    ),
    ("stats days", lambda s, i: calculate_user_stats(s, i["user"], 0), "days", "at least 1"),
    (
        "stats days big",
        lambda s, i: calculate_user_stats(s, i["user"], 3651),
        "days",
        "at most 3650",
    ),
    ("session id", lambda s, i: get_session(s, 12), "session_id", "UUID"),  # type: ignore[arg-type]
    ("perf id", lambda s, i: create_analysis_result(s, "x"), "performance_id", "UUID"),
]


@pytest.mark.parametrize(
    ("call", "field", "rule"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_rule_names_field_and_changes_nothing(
    seeded: tuple[Database, dict[str, uuid.UUID]], call: Call, field: str, rule: str
) -> None:
    db, ids = seeded
    before = table_snapshot(db)
    with pytest.raises(ValidationError) as info, db.transaction() as s:
        call(s, ids)
    assert info.value.field == field
    assert field in str(info.value) and rule in str(info.value)
    assert table_snapshot(db) == before


def test_check_constraints_refuse_bad_enum_even_without_service(store: Database) -> None:
    """The database itself refuses a bad status (non-native enum + CHECK) on both backends."""
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    with store.transaction() as s:
        uid = create_profile(s, "Ann").id
        sid = create_session(s, uid, started_at=T0).id
    before = table_snapshot(store)
    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        conn.execute(
            text("UPDATE realtime_sessions SET status = 'paused' WHERE id = :id"),
            {"id": sid.hex if store.engine.dialect.name == "sqlite" else sid},
        )
    assert table_snapshot(store) == before


def test_error_messages_show_values_as_a_student_typed_them() -> None:
    """A date, an id or a very long text is shown readably, not as a Python repr."""
    when = datetime(2025, 1, 2, tzinfo=UTC)
    msg = str(ValidationError("until", "must be after since", when))
    assert msg == "invalid until: must be after since (got 2025-01-02T00:00:00+00:00)"
    uid = uuid.UUID(int=7)
    assert str(ValidationError("session_id", "is not active", uid)).endswith(f"(got {uid})")
    long = "/music/" + "x" * 600
    msg = str(ValidationError("audio_path", "must be at most 500 characters", long))
    assert "(got '/music/xxx" in msg and "… (607 characters))" in msg and len(msg) < 200
    assert str(ValidationError("genre", "must be text", 5)) == "invalid genre: must be text (got 5)"
