"""The teacher's studio, read from the server through the teacher's own role.

Everything here runs on a SQLAlchemy Session connected as the teacher (:func:`open_studio`), so
the server's row-level security decides what she sees: her own students' rows, nothing else.
The queries are written once, for the studio window, ``etude studio`` and the tests alike; the
student's own reads (progress, sessions, takes) are the storage functions the student's app
uses, run on this Session.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from storage.db import Database
from storage.models import Performance, ProgressMetric, RealtimeSession, SyncAccount, User
from storage.progress import local_day, period_start, streaks
from storage.sync.client import ServerAddress, SyncError, connection_kwargs, explain

SPARKLINE_WEEKS = 12
# Daily rows read for the current streak; a student whose streak fills them is read further.
STREAK_WINDOW_DAYS = 40
DEFAULT_INACTIVE_DAYS = 7
# A change of the weekly average overall score under this (0..1) is shown as flat.
TREND_EPSILON = 0.02


@dataclass(frozen=True)
class Teacher:
    """The signed-in teacher: her login role and name."""

    role: str
    display_name: str


@dataclass(frozen=True)
class StudentRow:
    """One row of the studio table. ``user_id`` None: the student has not synced yet.
    Scores are 0..1 (the latest practice day's averages); ``sparkline`` the weekly average
    overall scores of the last SPARKLINE_WEEKS weeks, oldest first (None: no scored take that
    week); ``trend`` +1 / 0 / -1 (the last week with scores against the one before);
    ``days_inactive`` whole local days since the last practice (None: never)."""

    role: str
    name: str
    user_id: uuid.UUID | None
    timezone: str
    last_practice: datetime | None
    minutes_this_week: float
    streak_days: int
    overall: float | None
    pitch: float | None
    rhythm: float | None
    trend: int
    sparkline: tuple[float | None, ...]
    days_inactive: int | None
    inactive: bool

    @property
    def trend_arrow(self) -> str:
        return {1: "↑", 0: "→", -1: "↓"}[self.trend]


@dataclass
class _Acc:
    daily: list[tuple[date, int, float | None, float | None, float | None]] = field(
        default_factory=list
    )
    weekly: dict[date, tuple[float, float | None]] = field(default_factory=dict)


def open_studio(address: ServerAddress, password: str) -> Database:
    """A connection pool to the studio server as the teacher (TLS verify-full off this computer,
    as for a student). Raises a SyncError in plain words when the server cannot be reached or
    refuses the account."""
    kwargs = {**connection_kwargs(address, password), "application_name": "etude-studio"}

    def connect() -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(**kwargs)
        except psycopg.OperationalError as exc:
            raise explain(exc, address) from exc

    engine = create_engine("postgresql+psycopg://", creator=connect, pool_size=2, max_overflow=2)
    url = f"postgresql+psycopg://{address.role}@{address.host}:{address.port}/{address.dbname}"
    db = Database(url=url, engine=engine, sessionmaker=sessionmaker(engine, expire_on_commit=False))
    try:
        with db.session() as s:
            s.execute(text("SELECT 1"))
    except BaseException:
        engine.dispose()
        raise
    return db


def whoami(s: Session) -> Teacher:
    """The teacher the Session is connected as; SyncError for any other account."""
    row = s.execute(
        select(SyncAccount.role_name, SyncAccount.display_name).where(
            SyncAccount.role_name == func.session_user(), SyncAccount.kind == "teacher"
        )
    ).first()
    if row is None:
        raise SyncError("this account is not a teacher's account on the studio server")
    return Teacher(str(row[0]), str(row[1]))


def students(s: Session) -> list[tuple[str, str, uuid.UUID | None, str]]:
    """(role, name, profile id or None, timezone) of the teacher's students, by name."""
    stmt = (
        select(SyncAccount.role_name, SyncAccount.display_name, SyncAccount.user_id, User.timezone)
        .outerjoin(User, User.id == SyncAccount.user_id)
        .where(SyncAccount.kind == "student", SyncAccount.teacher_role == func.session_user())
        .order_by(SyncAccount.display_name, SyncAccount.role_name)
    )
    return [(str(r[0]), str(r[1]), r[2], str(r[3] or "UTC")) for r in s.execute(stmt)]


def studio_overview(
    s: Session,
    *,
    now: datetime | None = None,
    inactive_days: int = DEFAULT_INACTIVE_DAYS,
) -> list[StudentRow]:
    """One row per student of the signed-in teacher (see :class:`StudentRow`), by name.
    Read from the students' progress rows and session starts: four queries whatever the number
    of students."""
    now = now or datetime.now(UTC)
    people = students(s)
    ids = [p[2] for p in people if p[2] is not None]
    last: dict[uuid.UUID, datetime] = {}
    accs: dict[uuid.UUID, _Acc] = defaultdict(_Acc)
    if ids:
        # Each student's latest start by a backward probe of (user_id, started_at), not a
        # grouping of every session of the studio.
        latest = (
            select(RealtimeSession.started_at)
            .where(RealtimeSession.user_id == SyncAccount.user_id)
            .order_by(RealtimeSession.started_at.desc())
            .limit(1)
            .scalar_subquery()
        )
        last = {
            r[0]: r[1]
            for r in s.execute(
                select(SyncAccount.user_id, latest).where(SyncAccount.user_id.in_(ids))
            )
            if r[0] is not None and r[1] is not None
        }
        _read_daily(s, ids, now - timedelta(days=STREAK_WINDOW_DAYS + 2), accs)
        weekly = s.execute(
            select(
                ProgressMetric.user_id,
                ProgressMetric.metric_date,
                ProgressMetric.total_practice_time_seconds,
                ProgressMetric.avg_overall_score,
            ).where(
                ProgressMetric.user_id.in_(ids),
                ProgressMetric.period_type == "weekly",
                ProgressMetric.metric_date >= now - timedelta(weeks=SPARKLINE_WEEKS + 1),
            )
        )
        tzs = {p[2]: ZoneInfo(p[3]) for p in people if p[2] is not None}
        for who, when, secs, overall in weekly:
            accs[who].weekly[local_day(when, tzs[who])] = (float(secs or 0), overall)
        # The few whose streak fills the window are read back to their streak's start.
        long = [i for i in ids if _streak_fills_window(accs[i], tzs[i], now)]
        for i in long:
            accs[i] = _Acc(weekly=accs[i].weekly)
            _read_daily(s, [i], datetime(1970, 1, 1, tzinfo=UTC), accs)
    rows = []
    for role, name, uid, tzname in people:
        tz = ZoneInfo(tzname)
        acc = accs.get(uid) if uid is not None else None
        rows.append(
            _row(
                role, name, uid, tz, tzname, last.get(uid) if uid else None, acc, now, inactive_days
            )
        )
    return rows


def _read_daily(
    s: Session, ids: list[uuid.UUID], since: datetime, accs: dict[uuid.UUID, _Acc]
) -> None:
    stmt = (
        select(
            ProgressMetric.user_id,
            ProgressMetric.metric_date,
            ProgressMetric.total_sessions,
            ProgressMetric.avg_overall_score,
            ProgressMetric.avg_pitch_accuracy,
            ProgressMetric.avg_rhythm_accuracy,
            User.timezone,
        )
        .join(User, User.id == ProgressMetric.user_id)
        .where(
            ProgressMetric.user_id.in_(ids),
            ProgressMetric.period_type == "daily",
            ProgressMetric.metric_date >= since,
        )
        .order_by(ProgressMetric.user_id, ProgressMetric.metric_date)
    )
    for uid, when, sessions, overall, pitch, rhythm, tzname in s.execute(stmt):
        accs[uid].daily.append(
            (local_day(when, ZoneInfo(tzname)), int(sessions or 0), overall, pitch, rhythm)
        )


def _streak_fills_window(acc: _Acc, tz: ZoneInfo, now: datetime) -> bool:
    days = [d for d, n, *_ in acc.daily if n > 0]
    if not days:
        return False
    current = _current_streak(days, tz, now)
    return current >= STREAK_WINDOW_DAYS


def _current_streak(days: list[date], tz: ZoneInfo, now: datetime) -> int:
    starts = [datetime.combine(d, datetime.min.time(), tzinfo=tz) for d in days]
    return streaks(starts, str(tz), now)[0]


def _row(
    role: str,
    name: str,
    uid: uuid.UUID | None,
    tz: ZoneInfo,
    tzname: str,
    last: datetime | None,
    acc: _Acc | None,
    now: datetime,
    inactive_days: int,
) -> StudentRow:
    today = local_day(now, tz)
    this_week = period_start(today, "weekly")
    acc = acc or _Acc()
    practice_days = [d for d, n, *_ in acc.daily if n > 0]
    streak = _current_streak(practice_days, tz, now) if practice_days else 0
    latest = next((r for r in reversed(acc.daily) if r[2] is not None), None)
    weeks = [this_week - timedelta(weeks=i) for i in range(SPARKLINE_WEEKS - 1, -1, -1)]
    spark = tuple(acc.weekly.get(w, (0.0, None))[1] for w in weeks)
    scored = [v for v in spark if v is not None]
    trend = 0
    if len(scored) >= 2:
        delta = scored[-1] - scored[-2]
        trend = 1 if delta > TREND_EPSILON else -1 if delta < -TREND_EPSILON else 0
    minutes = acc.weekly.get(this_week, (0.0, None))[0] / 60.0
    days_inactive = None if last is None else (today - local_day(last, tz)).days
    return StudentRow(
        role=role,
        name=name,
        user_id=uid,
        timezone=tzname,
        last_practice=last,
        minutes_this_week=minutes,
        streak_days=streak,
        overall=None if latest is None else latest[2],
        pitch=None if latest is None else latest[3],
        rhythm=None if latest is None else latest[4],
        trend=trend,
        sparkline=spark,
        days_inactive=days_inactive,
        inactive=days_inactive is None or days_inactive >= inactive_days,
    )


def take_audio(s: Session, performance_id: uuid.UUID) -> tuple[bytes, str | None] | None:
    """A take's audio file from the server (bytes and format, e.g. "flac"), None when the
    server does not hold it complete (audio upload off, or not synced yet)."""
    row = s.execute(
        select(RealtimeSession.user_id, Performance.audio_sha256, Performance.audio_format)
        .join(Performance, Performance.session_id == RealtimeSession.id)
        .where(Performance.id == performance_id)
    ).first()
    if row is None or row[1] is None:
        return None
    data = s.execute(
        text(
            "SELECT string_agg(c.data, ''::bytea ORDER BY c.chunk_index) FROM audio_chunks c "
            "JOIN audio_blobs b ON b.user_id = c.user_id AND b.sha256 = c.sha256 "
            "WHERE c.user_id = :u AND c.sha256 = :h AND b.complete"
        ),
        {"u": row[0], "h": row[1]},
    ).scalar()
    return None if data is None else (bytes(data), row[2])
