"""The progress window's data: every series it draws, read in one database operation (the
window only draws; storage.progress has one function per series)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from storage.records import UserStats

# The progress rows' score columns the window draws, each a 0..1 average per period.
SCORE_METRICS = (
    "avg_overall_score",
    "avg_pitch_accuracy",
    "avg_rhythm_accuracy",
    "avg_dynamics_range",
)
STAT_WINDOWS_DAYS = (7, 30, 90, 365)
INTONATION_WEEKS = 26


@dataclass
class ProgressData:
    """period_type: daily, weekly or monthly. scores: per metric, (period start, 0..1 or None).
    practice_minutes: (period start, minutes). stats: per window of days, the seed's stats.
    milestones: (local day reached, key). intonation: per note name, (day, mean cents, takes)
    over the last INTONATION_WEEKS weeks."""

    period_type: str
    scores: dict[str, list[tuple[date, float | None]]] = field(default_factory=dict)
    practice_minutes: list[tuple[date, float]] = field(default_factory=list)
    stats: dict[int, UserStats] = field(default_factory=dict)
    milestones: list[tuple[date, str]] = field(default_factory=list)
    intonation: dict[str, list[tuple[date, float, int]]] = field(default_factory=dict)


def load_progress(db: Session, user_id: uuid.UUID, period_type: str) -> ProgressData:
    """Everything the progress window draws for a profile, in one database operation."""
    from storage import progress
    from storage.progress_metrics import get_user_progress
    from storage.stats import calculate_user_stats

    data = ProgressData(period_type)
    for metric in SCORE_METRICS:
        data.scores[metric] = progress.progress_series(db, user_id, period_type, metric)
    data.practice_minutes = progress.practice_time_series(db, user_id, period_type)
    for days in STAT_WINDOWS_DAYS:
        data.stats[days] = calculate_user_stats(db, user_id, days)
    for row in get_user_progress(db, user_id, "monthly", limit=1000):
        for item in json.loads(row.milestones_json or "[]"):
            try:
                data.milestones.append((date.fromisoformat(item["date"]), str(item["milestone"])))
            except (KeyError, TypeError, ValueError):
                continue
    data.milestones.sort()
    since = datetime.now().astimezone() - timedelta(weeks=INTONATION_WEEKS)
    data.intonation = progress.intonation_tendencies(db, user_id, since=since)
    return data
