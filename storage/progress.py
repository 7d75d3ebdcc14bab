"""Progress roll-ups (the ``progress_metrics`` rows) and the series the progress window plots.

Periods are the profile's local calendar: a day is a local day in the profile's IANA timezone,
a week is an ISO week (Monday..Sunday), a month a calendar month. ``metric_date`` is the period's
first local midnight converted to aware UTC (so across a DST change consecutive daily rows are
23 or 25 hours apart in UTC, but each is that local day's midnight).

A session belongs to the local day it *started* on, and counts once it is no longer active
(completed or abandoned). For a period:

* ``total_sessions``: its counted sessions. ``total_practice_time_seconds``: the sum of their
  ``duration_seconds``.
* ``avg_pitch_accuracy``/``avg_rhythm_accuracy``/``avg_dynamics_range``/``avg_overall_score``:
  mean over every analysis of every take of those sessions (nulls ignored; null if none).
* ``improvement_rate``: this period's ``avg_overall_score`` minus that of the immediately
  preceding period of the same type (score units, -1..1); null when either is null.
* ``consistency_score``: 1 − 2·σ of the period's overall scores (σ = population standard
  deviation; σ is at most 0.5 for values in 0..1), clamped to 0..1; 1 means every take scored
  the same. Null with fewer than two overall scores.
* ``genre_breakdown_json``: ``{genre: {"sessions": n, "practice_time_seconds": s}}``, sessions
  without a genre under ``"unspecified"``.
* ``milestones_json``: a list of ``{"milestone": key, "date": "YYYY-MM-DD"}`` reached on the
  period's days, by local date. Keys: ``first_session`` (the profile's first counted session);
  ``streak_3``/``streak_7``/``streak_30`` (the day a run of consecutive practice days reaches 3, 7
  or 30 days — reached again by each new run); ``hours_10``/``hours_50``/``hours_100`` (the day
  the profile's all-time practice time reaches 10, 50 or 100 hours); ``first_pitch_90`` (the day
  of the first session with an analysis whose pitch_accuracy is at least 0.9).

Rows exist only for periods with at least one counted session.
"""

from __future__ import annotations

import json
import math
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, insert, or_, select
from sqlalchemy.orm import Session

from storage.errors import NotFoundError, ValidationError
from storage.models import (
    PERIOD_TYPES,
    AnalysisResult,
    Performance,
    ProgressMetric,
    RealtimeSession,
    Tombstone,
    User,
    progress_row_id,
    utcnow,
)
from storage.validation import check_moment, check_uuid

STREAK_MILESTONES = (3, 7, 30)
_ONE_DAY = timedelta(days=1)
HOUR_MILESTONES = (10, 50, 100)
PITCH_MILESTONE = 0.9
_COUNTED = ("completed", "abandoned")


# --------------------------------------------------------------------------------------------
# Calendar helpers


def local_day(moment: datetime, tz: ZoneInfo) -> date:
    """The local calendar date of aware datetime ``moment`` in ``tz``."""
    return moment.astimezone(tz).date()


def period_start(day: date, period_type: str) -> date:
    """First local date of the daily/weekly (ISO, Monday)/monthly period holding ``day``."""
    if period_type == "daily":
        return day
    if period_type == "weekly":
        return day - timedelta(days=day.weekday())
    if period_type == "monthly":
        return day.replace(day=1)
    raise ValidationError("period_type", f"must be one of {', '.join(PERIOD_TYPES)}", period_type)


def next_period(start: date, period_type: str) -> date:
    """First local date of the period after the one starting on ``start``."""
    if period_type == "daily":
        return start + timedelta(days=1)
    if period_type == "weekly":
        return start + timedelta(days=7)
    if start.month == 12:
        return date(start.year + 1, 1, 1)
    return date(start.year, start.month + 1, 1)


def previous_period(start: date, period_type: str) -> date:
    """First local date of the period before the one starting on ``start``."""
    return period_start(start - timedelta(days=1), period_type)


def local_midnight_utc(day: date, tz: ZoneInfo) -> datetime:
    """Aware UTC instant of local midnight starting ``day`` in ``tz`` (the ``metric_date``)."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def streaks(starts: Iterable[datetime], timezone: str, now: datetime) -> tuple[int, int]:
    """(current, longest) runs of consecutive practice days, in days.

    A practice day is a local day (``timezone``) on which one of ``starts`` falls. The current
    run ends today or, when nothing was practised yet today, yesterday; 0 otherwise."""
    tz = ZoneInfo(timezone)
    days = sorted({local_day(s, tz) for s in starts})
    longest = run = 0
    prev: date | None = None
    for d in days:
        run = run + 1 if prev is not None and d - prev == timedelta(days=1) else 1
        longest = max(longest, run)
        prev = d
    today = local_day(now, tz)
    have = set(days)
    cursor = today if today in have else today - timedelta(days=1)
    current = 0
    while cursor in have:
        current += 1
        cursor -= timedelta(days=1)
    return current, longest


# --------------------------------------------------------------------------------------------
# Roll-ups


@dataclass
class _Acc:
    """Running sums for one period (or one session)."""

    sessions: int = 0
    seconds: int = 0
    sums: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    overall_sq: float = 0.0
    genres: dict[str, list[int]] = field(default_factory=dict)

    def mean(self, key: str) -> float | None:
        n = self.counts.get(key, 0)
        return self.sums[key] / n if n else None


_SCORE_KEYS = ("pitch", "rhythm", "dynamics", "overall")


def recompute_for_sessions(db: Session, user_id: uuid.UUID, starts: Sequence[datetime]) -> None:
    """Recompute the daily, weekly and monthly rows holding each of ``starts`` (session start
    times) and the period after each (whose improvement_rate depends on it)."""
    user = db.get(User, user_id)
    if user is None:
        raise NotFoundError("user", user_id)
    tz = ZoneInfo(user.timezone)
    touched: set[tuple[str, date]] = set()
    for s in starts:
        day = local_day(s, tz)
        for ptype in PERIOD_TYPES:
            p = period_start(day, ptype)
            touched.add((ptype, p))
            touched.add((ptype, next_period(p, ptype)))
    _rollup(db, user, touched)


def rebuild_user(db: Session, user_id: uuid.UUID) -> int:
    """Recompute every progress row of a profile from its sessions; returns the rows written."""
    user_id = check_uuid("user_id", user_id)
    user = db.get(User, user_id)
    if user is None:
        raise NotFoundError("user", user_id)
    tz = ZoneInfo(user.timezone)
    bounds = db.execute(
        select(func.min(RealtimeSession.started_at), func.max(RealtimeSession.started_at)).where(
            RealtimeSession.user_id == user.id, RealtimeSession.status.in_(_COUNTED)
        )
    ).one()
    existing = list(
        db.execute(
            select(ProgressMetric.period_type, ProgressMetric.metric_date).where(
                ProgressMetric.user_id == user.id
            )
        )
    )
    touched: set[tuple[str, date]] = set()
    if bounds[0] is not None:
        first, last = local_day(bounds[0], tz), local_day(bounds[1], tz)
        for ptype in PERIOD_TYPES:
            p = period_start(first, ptype)
            while p <= last:
                touched.add((ptype, p))
                p = next_period(p, ptype)
    written, kept = _rollup(db, user, touched, from_scratch=True)
    # Rows whose period no longer exists (e.g. the timezone changed) are removed.
    for period_type, metric_date in existing:
        if (period_type, metric_date) not in kept:
            row = db.scalar(
                select(ProgressMetric).where(
                    ProgressMetric.user_id == user.id,
                    ProgressMetric.period_type == period_type,
                    ProgressMetric.metric_date == metric_date,
                )
            )
            if row is not None:
                db.add(Tombstone(table_name="progress_metrics", row_id=row.id, user_id=user.id))
                db.delete(row)
    db.flush()
    return written


def rebuild_all(db: Session) -> int:
    """Rebuild the progress rows of every profile; returns the rows written."""
    return sum(rebuild_user(db, uid) for uid in list(db.scalars(select(User.id))))


def _rollup(
    db: Session, user: User, touched: set[tuple[str, date]], from_scratch: bool = False
) -> tuple[int, set[tuple[str, datetime]]]:
    """Recompute the ``touched`` (period type, local start) rows; returns the number written and
    the (period type, metric_date) keys of the rows that now exist among them."""
    kept: set[tuple[str, datetime]] = set()
    if not touched:
        return 0, kept
    tz = ZoneInfo(user.timezone)
    # Every previous period (for improvement_rate) starts at most 31 days before the earliest
    # touched period, which is also how far back a 30-day streak needs to look.
    first_start = min(p for _, p in touched)
    last_end = max(next_period(p, t) for t, p in touched)
    data_lo = first_start - timedelta(days=max(STREAK_MILESTONES) + 1)
    lo_utc, hi_utc = local_midnight_utc(data_lo, tz), local_midnight_utc(last_end, tz)

    window = (
        RealtimeSession.user_id == user.id,
        RealtimeSession.status.in_(_COUNTED),
        RealtimeSession.started_at >= lo_utc,
        RealtimeSession.started_at < hi_utc,
    )
    # One row per counted session with its analyses' sums. Grouping by (started_at, id), not
    # id alone, keeps SQLite on the (user_id, started_at) index; PostgreSQL needs the lower
    # random_page_cost set in storage.db to prefer the index lookups to a hash join.
    an = AnalysisResult
    rows = db.execute(
        select(
            RealtimeSession.started_at,
            RealtimeSession.duration_seconds,
            RealtimeSession.genre,
            func.count(an.pitch_accuracy),
            func.sum(an.pitch_accuracy),
            func.count(an.rhythm_accuracy),
            func.sum(an.rhythm_accuracy),
            func.count(an.dynamics_range),
            func.sum(an.dynamics_range),
            func.count(an.overall_score),
            func.sum(an.overall_score),
            func.sum(an.overall_score * an.overall_score),
            func.max(an.pitch_accuracy),
        )
        .select_from(RealtimeSession)
        .outerjoin(Performance, Performance.session_id == RealtimeSession.id)
        .outerjoin(an, an.performance_id == Performance.id)
        .where(*window)
        .group_by(RealtimeSession.started_at, RealtimeSession.id)
    ).all()

    # Aggregate by local day once; periods are sums of days.
    days: dict[date, _Acc] = defaultdict(_Acc)
    day_pitch_max: dict[date, float] = {}
    for started_at, duration, genre, *agg in rows:
        d = local_day(started_at, tz)
        acc = days[d]
        acc.sessions += 1
        secs = int(duration or 0)
        acc.seconds += secs
        g = acc.genres.setdefault(genre or "unspecified", [0, 0])
        g[0] += 1
        g[1] += secs
        for i, key in enumerate(_SCORE_KEYS):
            acc.counts[key] += int(agg[2 * i])
            acc.sums[key] += float(agg[2 * i + 1] or 0.0)
        acc.overall_sq += float(agg[8] or 0.0)
        if agg[9] is not None:
            day_pitch_max[d] = max(day_pitch_max.get(d, 0.0), float(agg[9]))

    milestones = _milestones(db, user, tz, days, day_pitch_max, data_lo, from_scratch)

    by_type_days: dict[str, dict[date, list[date]]] = {}
    for ptype in PERIOD_TYPES:
        grouped: dict[date, list[date]] = defaultdict(list)
        for d in days:
            grouped[period_start(d, ptype)].append(d)
        by_type_days[ptype] = grouped

    def fast_acc(ptype: str, start: date) -> _Acc:
        total = _Acc()
        for d in by_type_days[ptype].get(start, []):
            acc = days[d]
            total.sessions += acc.sessions
            total.seconds += acc.seconds
            for key in _SCORE_KEYS:
                total.sums[key] += acc.sums[key]
                total.counts[key] += acc.counts[key]
            total.overall_sq += acc.overall_sq
            for gname, (n, s) in acc.genres.items():
                g = total.genres.setdefault(gname, [0, 0])
                g[0] += n
                g[1] += s
        return total

    existing = {
        (r.period_type, r.metric_date): r
        for r in db.scalars(
            select(ProgressMetric).where(
                ProgressMetric.user_id == user.id,
                ProgressMetric.metric_date >= local_midnight_utc(first_start, tz),
                ProgressMetric.metric_date < hi_utc,
                # A handful of touched rows when a session ends (looked up by the unique key);
                # the whole range on a rebuild.
                *(
                    [
                        ProgressMetric.period_type.in_({t for t, _ in touched}),
                        ProgressMetric.metric_date.in_(
                            {local_midnight_utc(p, tz) for _, p in touched}
                        ),
                    ]
                    if len(touched) <= 50
                    else []
                ),
            )
        )
    }
    written = 0
    new_rows: list[dict[str, Any]] = []
    for ptype, start in sorted(touched):
        acc = fast_acc(ptype, start)
        metric_date = local_midnight_utc(start, tz)
        row = existing.get((ptype, metric_date))
        if acc.sessions == 0:
            if row is not None:
                db.add(Tombstone(table_name="progress_metrics", row_id=row.id, user_id=user.id))
                db.delete(row)
            continue
        prev = fast_acc(ptype, previous_period(start, ptype))
        values = _values(acc, prev, milestones, start, next_period(start, ptype))
        written += 1
        kept.add((ptype, metric_date))
        if row is None:
            new_rows.append(
                {
                    "id": progress_row_id(user.id, ptype, metric_date),
                    "user_id": user.id,
                    "period_type": ptype,
                    "metric_date": metric_date,
                    **values,
                }
            )
        else:
            for name, value in values.items():
                if getattr(row, name) != value:
                    setattr(row, name, value)
    if new_rows:
        db.flush()
        now = utcnow()
        for r in new_rows:
            r.setdefault("created_at", now)
            r.setdefault("updated_at", now)
            r.setdefault("usn", -1)
        db.execute(insert(ProgressMetric), new_rows)
    db.flush()
    return written, kept


def _values(
    acc: _Acc,
    prev: _Acc,
    milestones: dict[date, list[str]],
    start: date,
    end: date,
) -> dict[str, Any]:
    overall = acc.mean("overall")
    prev_overall = prev.mean("overall")
    n = acc.counts.get("overall", 0)
    consistency: float | None = None
    if n >= 2 and overall is not None:
        var = max(acc.overall_sq / n - overall * overall, 0.0)
        consistency = min(max(1.0 - 2.0 * math.sqrt(var), 0.0), 1.0)
    ms = [
        {"milestone": key, "date": d.isoformat()}
        for d in sorted(milestones)
        if start <= d < end
        for key in milestones[d]
    ]
    genres = {g: {"sessions": v[0], "practice_time_seconds": v[1]} for g, v in acc.genres.items()}
    return {
        "total_sessions": acc.sessions,
        "total_practice_time_seconds": acc.seconds,
        "avg_pitch_accuracy": acc.mean("pitch"),
        "avg_rhythm_accuracy": acc.mean("rhythm"),
        "avg_dynamics_range": acc.mean("dynamics"),
        "avg_overall_score": overall,
        "improvement_rate": (
            None if overall is None or prev_overall is None else overall - prev_overall
        ),
        "consistency_score": consistency,
        "genre_breakdown_json": json.dumps(genres, sort_keys=True, ensure_ascii=False),
        "milestones_json": json.dumps(ms, ensure_ascii=False),
    }


def _milestones(
    db: Session,
    user: User,
    tz: ZoneInfo,
    days: dict[date, _Acc],
    day_pitch_max: dict[date, float],
    data_lo: date,
    from_scratch: bool,
) -> dict[date, list[str]]:
    """Milestones reached on each loaded day. History before ``data_lo`` is read from the stored
    progress rows (monthly rows of whole months before, then daily rows) so that ending a
    session does not rescan years of sessions; ``from_scratch`` means nothing precedes
    ``data_lo`` (a full rebuild)."""
    out: dict[date, list[str]] = defaultdict(list)
    lo_utc = local_midnight_utc(data_lo, tz)
    cumulative = 0
    pitch_before = False
    session_before = False
    if not from_scratch:
        session_before = (
            db.scalar(
                select(RealtimeSession.id)
                .where(
                    RealtimeSession.user_id == user.id,
                    RealtimeSession.started_at < lo_utc,
                    RealtimeSession.status.in_(_COUNTED),
                )
                .limit(1)
            )
            is not None
        )
        month_utc = local_midnight_utc(period_start(data_lo, "monthly"), tz)
        pm = ProgressMetric
        earlier = or_(
            and_(pm.period_type == "monthly", pm.metric_date < month_utc),
            and_(pm.period_type == "daily", pm.metric_date >= month_utc, pm.metric_date < lo_utc),
        )
        seconds, pitch_rows = db.execute(
            select(
                func.sum(pm.total_practice_time_seconds),
                func.count(pm.id).filter(pm.milestones_json.contains('"first_pitch_90"')),
            ).where(pm.user_id == user.id, earlier)
        ).one()
        cumulative = int(seconds or 0)
        pitch_before = bool(pitch_rows)
    ordered = sorted(days)
    if ordered and not session_before:
        out[ordered[0]].append("first_session")
    # Streaks: the loaded days reach 31 days before the first recomputed period.
    run = 0
    prev: date | None = None
    for d in ordered:
        run = run + 1 if prev is not None and d - prev == _ONE_DAY else 1
        prev = d
        # A run touching data_lo may be longer than it looks; data_lo is 31 days before any
        # recomputed period, so such a day is never reported.
        if run in STREAK_MILESTONES and d - timedelta(days=run) >= data_lo:
            out[d].append(f"streak_{run}")
    for d in ordered:
        after = cumulative + days[d].seconds
        for hours in HOUR_MILESTONES:
            if cumulative < hours * 3600 <= after:
                out[d].append(f"hours_{hours}")
        cumulative = after
    hit_days = [d for d, m in day_pitch_max.items() if m >= PITCH_MILESTONE]
    if hit_days and not pitch_before:
        out[min(hit_days)].append("first_pitch_90")
    return out


# --------------------------------------------------------------------------------------------
# Series for the progress window (one backend function per graph)

SERIES_METRICS = (
    "total_sessions",
    "total_practice_time_seconds",
    "avg_pitch_accuracy",
    "avg_rhythm_accuracy",
    "avg_dynamics_range",
    "avg_overall_score",
    "improvement_rate",
    "consistency_score",
)


def progress_series(
    db: Session,
    user_id: uuid.UUID,
    period_type: str,
    metric: str,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[tuple[date, float | None]]:
    """(local period start date, value) of one progress metric, oldest first. metric: one of
    SERIES_METRICS (scores 0..1, improvement_rate -1..1, practice time in seconds); since and
    until: optional aware bounds on the period's start (within validation.moment_bounds)."""
    if not isinstance(period_type, str) or period_type not in PERIOD_TYPES:
        raise ValidationError(
            "period_type", f"must be one of {', '.join(PERIOD_TYPES)}", period_type
        )
    if not isinstance(metric, str) or metric not in SERIES_METRICS:
        raise ValidationError("metric", f"must be one of {', '.join(SERIES_METRICS)}", metric)
    user_id = check_uuid("user_id", user_id)
    since = check_moment("since", since)
    until = check_moment("until", until)
    user = db.get(User, user_id)
    if user is None:
        raise NotFoundError("user", user_id)
    tz = ZoneInfo(user.timezone)
    col = getattr(ProgressMetric, metric)
    stmt = select(ProgressMetric.metric_date, col).where(
        ProgressMetric.user_id == user_id, ProgressMetric.period_type == period_type
    )
    if since is not None:
        stmt = stmt.where(ProgressMetric.metric_date >= since)
    if until is not None:
        stmt = stmt.where(ProgressMetric.metric_date < until)
    out: list[tuple[date, float | None]] = []
    for metric_date, value in db.execute(stmt.order_by(ProgressMetric.metric_date)):
        out.append((local_day(metric_date, tz), None if value is None else float(value)))
    return out


def practice_time_series(
    db: Session, user_id: uuid.UUID, period_type: str = "weekly"
) -> list[tuple[date, float]]:
    """(local period start, practice time in minutes) per period with practice, oldest first."""
    return [
        (d, (v or 0.0) / 60.0)
        for d, v in progress_series(db, user_id, period_type, "total_practice_time_seconds")
    ]


def intonation_tendencies(
    db: Session, user_id: uuid.UUID, since: datetime | None = None
) -> dict[str, list[tuple[date, float, int]]]:
    """Per-note intonation by ISO week: ``{note: [(week Monday, mean cents, count), ...]}``.

    Read from the ``per_note`` list of analyses' feedback_json (items ``{"note": "F#5",
    "mean_cents": 18.0, "count": n}``; + = sharp). Weekly means are weighted by count. Analyses
    without per-note data, or with malformed items, are skipped. since: optional aware lower
    bound on the session's start (within validation.moment_bounds)."""
    user_id = check_uuid("user_id", user_id)
    since = check_moment("since", since)
    user = db.get(User, user_id)
    if user is None:
        raise NotFoundError("user", user_id)
    tz = ZoneInfo(user.timezone)
    stmt = (
        select(RealtimeSession.started_at, AnalysisResult.feedback_json)
        .join(Performance, AnalysisResult.performance_id == Performance.id)
        .join(RealtimeSession, Performance.session_id == RealtimeSession.id)
        .where(RealtimeSession.user_id == user_id, AnalysisResult.feedback_json.is_not(None))
    )
    if since is not None:
        stmt = stmt.where(RealtimeSession.started_at >= since)
    sums: dict[str, dict[date, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0.0, 0.0]))
    for started_at, text in db.execute(stmt):
        try:
            items = json.loads(text or "{}").get("per_note")
        except (ValueError, AttributeError, RecursionError):
            continue
        if not isinstance(items, list):
            continue
        week = period_start(local_day(started_at, tz), "weekly")
        for item in items:
            try:
                note = str(item["note"])
                cents = float(item["mean_cents"])
                count = int(item.get("count", 1))
            except (KeyError, TypeError, ValueError, AttributeError):
                continue
            if count <= 0 or not math.isfinite(cents):
                continue
            acc = sums[note][week]
            acc[0] += cents * count
            acc[1] += count
    return {
        note: [(w, s / n, int(n)) for w, (s, n) in sorted(weeks.items())]
        for note, weeks in sorted(sums.items())
    }
