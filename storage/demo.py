"""Realistic practice history, for the demo profile and for the benchmark.

``etude demo --days N`` replaces the history of the profile "Demo student" with N days ending
today: a student who practises most days in the evening (1–3 sessions, some days and whole
holidays skipped), rotates through a repertoire of pieces in several genres and tempos, records
1–4 takes a session with 1–2 analyses each, and improves slowly (scores follow a saturating
learning curve with day-to-day noise). Feedback carries strengths, tips and a ``per_note`` list
whose sharp F♯5 slowly comes into tune. Rows are bulk-inserted, then progress is rebuilt.

The generator is seeded, so the same arguments give the same history.
"""

from __future__ import annotations

import json
import math
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from storage import progress
from storage.errors import ValidationError
from storage.models import AnalysisResult, Performance, RealtimeSession, Tombstone, User
from storage.profiles import DEMO_PROFILE_NAME, create_profile

ENGINE_VERSION = "demo-1"

# (piece, genre, tempo BPM, difficulty)
REPERTOIRE: tuple[tuple[str, str, int, str], ...] = (
    ("Amazing Grace", "gospel", 72, "beginner"),
    ("Ode to Joy", "classical", 108, "beginner"),
    ("Minuet in G", "classical", 112, "beginner"),
    ("Autumn Leaves", "jazz", 132, "intermediate"),
    ("Blue Bossa", "jazz", 150, "intermediate"),
    ("Scarborough Fair", "folk", 96, "beginner"),
    ("Czardas", "classical", 160, "advanced"),
    ("Oh Happy Day", "gospel", 100, "intermediate"),
    ("Salut d'Amour", "classical", 66, "intermediate"),
    ("Donna Lee", "jazz", 220, "advanced"),
    ("Scales: G major, 3 octaves", "technique", 80, "beginner"),
    ("Etude No. 1", "classical", 126, "advanced"),
)
NOTES = ("D5", "E5", "F#5", "G5", "A5", "B5", "C#6")


@dataclass(frozen=True, slots=True)
class DemoResult:
    """What was generated: the profile id and row counts, and seconds spent."""

    user_id: uuid.UUID
    sessions: int
    performances: int
    analyses: int
    progress_rows: int
    seconds: float


def generate_history(
    db: Session,
    user_id: uuid.UUID,
    days: int,
    *,
    end: datetime | None = None,
    sessions_per_day: int | None = None,
    takes_per_session: int | None = None,
    analyses_per_take: int | None = None,
    seed: int = 7,
) -> tuple[int, int, int]:
    """Bulk-insert ``days`` (1..36500) days of completed sessions ending at ``end`` (default
    now) for profile ``user_id``. The three counts, when given, make every day/session/take
    the same (the benchmark's heavy use, practising every day); otherwise they vary as the
    module docstring says. Progress rows are not built here. Returns (sessions, takes,
    analyses) inserted."""
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 36500:
        raise ValidationError("days", "must be a whole number of days between 1 and 36500", days)
    user = db.get(User, user_id)
    if user is None:
        raise ValidationError("user_id", "no such profile", user_id)
    tz = ZoneInfo(user.timezone)
    rng = random.Random(seed)
    now = end or datetime.now(UTC)
    last_day = now.astimezone(tz).date() - timedelta(days=1)
    first_day = last_day - timedelta(days=days - 1)
    fixed = sessions_per_day is not None

    sessions: list[dict[str, Any]] = []
    perfs: list[dict[str, Any]] = []
    analyses: list[dict[str, Any]] = []
    holiday_left = 0
    for i in range(days):
        day = first_day + timedelta(days=i)
        skill = 1.0 - math.exp(-i / max(days / 3.0, 30.0))  # 0 → ~0.95 over the history
        if fixed:
            n_sessions = sessions_per_day or 0
        else:
            if holiday_left > 0:
                holiday_left -= 1
                continue
            if rng.random() < 0.006:
                holiday_left = rng.randint(4, 14)
                continue
            if rng.random() < 0.22:
                continue
            n_sessions = rng.choices((1, 2, 3), weights=(6, 3, 1))[0]
        hour = 16.0
        for _ in range(n_sessions):
            hour += rng.uniform(0.2, 2.0)
            start_local = datetime.combine(day, time(0), tzinfo=tz) + timedelta(hours=hour)
            started = start_local.astimezone(UTC)
            piece, genre, tempo, level = REPERTOIRE[rng.randrange(len(REPERTOIRE))]
            n_takes = takes_per_session if takes_per_session is not None else rng.randint(1, 4)
            sid = uuid.uuid4()
            cursor = started + timedelta(seconds=rng.uniform(30, 120))
            for _ in range(n_takes):
                length = rng.uniform(45.0, 240.0)
                pid = uuid.uuid4()
                perfs.append(
                    {
                        "id": pid,
                        "session_id": sid,
                        "recording_started_at": cursor,
                        "recording_duration": round(length, 3),
                        "audio_path": f"recordings/demo/{pid.hex}.flac",
                        "midi_path": None,
                        "sample_rate": 48000,
                        "audio_format": "flac",
                        "notes": None,
                        "recovered": False,
                        "created_at": cursor,
                        "updated_at": cursor,
                        "usn": -1,
                    }
                )
                n_an = analyses_per_take if analyses_per_take is not None else rng.randint(1, 2)
                for k in range(n_an):
                    created = cursor + timedelta(seconds=length + 2 + 30 * k)
                    analyses.append(_analysis(rng, pid, created, skill, tempo, level))
                cursor += timedelta(seconds=length + rng.uniform(20, 180))
            ended = cursor + timedelta(seconds=rng.uniform(10, 60))
            hour += (ended - started).total_seconds() / 3600.0
            sessions.append(
                {
                    "id": sid,
                    "user_id": user.id,
                    "piece_name": piece,
                    "genre": genre,
                    "target_tempo": tempo,
                    "difficulty_level": level,
                    "started_at": started,
                    "ended_at": ended,
                    "duration_seconds": int((ended - started).total_seconds()),
                    "websocket_session_id": None,
                    "chunks_processed": int((ended - started).total_seconds() * 48000 / 256),
                    "status": "completed",
                    "created_at": started,
                    "updated_at": ended,
                    "usn": -1,
                }
            )
    for model, rows in (
        (RealtimeSession, sessions),
        (Performance, perfs),
        (AnalysisResult, analyses),
    ):
        for chunk in range(0, len(rows), 5000):
            db.execute(insert(model), rows[chunk : chunk + 5000])
    db.flush()
    return len(sessions), len(perfs), len(analyses)


def _analysis(
    rng: random.Random, pid: uuid.UUID, created: datetime, skill: float, tempo: int, level: str
) -> dict[str, Any]:
    def score(base: float, spread: float) -> float:
        return round(min(max(rng.gauss(base, spread), 0.0), 1.0), 4)

    pitch = score(0.55 + 0.38 * skill, 0.06)
    rhythm = score(0.5 + 0.4 * skill, 0.08)
    dynamics = score(0.35 + 0.35 * skill, 0.1)
    overall = round((0.4 * pitch + 0.4 * rhythm + 0.2 * dynamics), 4)
    sharp = 25.0 * (1.0 - skill) + rng.gauss(0, 3)
    per_note = [
        {
            "note": n,
            "mean_cents": round(sharp if n == "F#5" else rng.gauss(0, 6 * (1.2 - skill)), 1),
            "count": rng.randint(3, 20),
        }
        for n in [*rng.sample(NOTES, 4), "F#5"]
    ]
    tips = []
    if sharp > 10:
        tips.append("Your F♯5 runs sharp; place the finger a little lower.")
    if rhythm < 0.7:
        tips.append("Practise with the metronome at a slower tempo first.")
    strengths = ["Steady tone."] if dynamics > 0.5 else []
    if pitch > 0.85:
        strengths.append("Notes are well in tune.")
    feedback = {"strengths": strengths, "tips": tips, "per_note": per_note}
    notes = rng.randint(40, 400)
    return {
        "id": uuid.uuid4(),
        "performance_id": pid,
        "pitch_accuracy": pitch,
        "rhythm_accuracy": rhythm,
        "dynamics_range": dynamics,
        "overall_score": overall,
        "avg_pitch_deviation_cents": round(abs(rng.gauss(30 * (1.0 - skill) + 5, 3)), 2),
        "timing_consistency": score(0.5 + 0.4 * skill, 0.07),
        "tempo_stability": score(0.55 + 0.4 * skill, 0.07),
        "note_accuracy_rate": None,
        "total_notes_detected": notes,
        "total_onsets_detected": notes + rng.randint(-5, 5) if notes > 5 else notes,
        "total_dynamics_events": rng.randint(2, 30),
        "feedback_json": json.dumps(feedback, ensure_ascii=False, separators=(",", ":")),
        "difficulty_estimate": level,
        "genre_match_score": score(0.6 + 0.3 * skill, 0.1),
        "analysis_engine_version": ENGINE_VERSION,
        "processing_time_ms": rng.randint(20, 400),
        "created_at": created,
        "updated_at": created,
        "usn": -1,
    }


def refresh_statistics(db: Session) -> None:
    """Refresh the query planner's statistics after a bulk insert (PostgreSQL's autovacuum would
    do it later; until then its plans for the new rows can be far off)."""
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("ANALYZE realtime_sessions, performances, analysis_results"))
    else:
        db.execute(text("ANALYZE"))


def create_demo(db: Session, days: int, timezone: str = "UTC", *, seed: int = 7) -> DemoResult:
    """Replace the "Demo student" profile with ``days`` (1..36500) days of history ending
    yesterday (profile in IANA ``timezone``), then rebuild its progress rows."""
    import time as _time

    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 36500:
        raise ValidationError("days", "must be a whole number of days between 1 and 36500", days)
    service_tz = timezone
    t0 = _time.perf_counter()
    old = db.scalar(select(User).where(User.display_name == DEMO_PROFILE_NAME))
    if old is not None:
        db.add(Tombstone(table_name="users", row_id=old.id))
        db.delete(old)
        db.flush()
    profile = create_profile(db, DEMO_PROFILE_NAME, service_tz, {"demo": True})
    counts = generate_history(db, profile.id, days, seed=seed)
    refresh_statistics(db)
    rows = progress.rebuild_user(db, profile.id)
    return DemoResult(profile.id, *counts, rows, _time.perf_counter() - t0)
