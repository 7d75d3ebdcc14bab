"""Progress rows (``progress_metrics``, the seed's operations 11-12): the upsert of one row and
a profile's rows of one period type. :mod:`storage.progress` computes what goes in them.

Conventions as in :mod:`storage.rows`: a caller-owned Session, validation before any write,
frozen records back.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, exists, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from storage.errors import NotFoundError, ValidationError
from storage.models import PERIOD_TYPES, ProgressMetric, User, utcnow
from storage.records import ProgressRecord
from storage.rows import expire_loaded, record_columns, select_record, user_row
from storage.validation import (
    MAX_LIMIT,
    check_aware,
    check_enum,
    check_finite,
    check_int,
    check_json,
    check_json_object,
    check_score,
    check_uuid,
)

_PROGRESS_FIELDS: dict[str, str] = {
    "total_sessions": "count",
    "total_practice_time_seconds": "count",
    "avg_pitch_accuracy": "score",
    "avg_rhythm_accuracy": "score",
    "avg_dynamics_range": "score",
    "avg_overall_score": "score",
    "improvement_rate": "signed_score",
    "consistency_score": "score",
    "genre_breakdown_json": "json",
    "milestones_json": "json_any",
}


def create_or_update_progress_metric(
    db: Session,
    user_id: uuid.UUID | str,
    metric_date: datetime,
    period_type: str,
    **metrics: Any,
) -> ProgressRecord:
    """Upsert the row (user_id, period_type, metric_date). metrics: any of total_sessions and
    total_practice_time_seconds (>= 0), avg_* and consistency_score (0..1), improvement_rate
    (-1..1), genre_breakdown_json (JSON object), milestones_json (JSON list or object)."""
    uid = check_uuid("user_id", user_id)
    check_aware("metric_date", metric_date, required=True)
    check_enum("period_type", period_type, PERIOD_TYPES, required=True)
    clean: dict[str, Any] = {}
    for name, value in metrics.items():
        kind = _PROGRESS_FIELDS.get(name)
        if kind is None:
            raise ValidationError(name, "is not a progress metric field", value)
        if kind == "count":
            check_int(name, value, 0, required=True)
        elif kind == "score":
            check_score(name, value)
        elif kind == "signed_score":
            check_finite(name, value)
            if value is not None and not -1.0 <= value <= 1.0:
                raise ValidationError(name, "must be between -1 and 1", value)
        elif kind == "json":
            value = check_json_object(name, value)
        else:
            value = check_json(name, value)
        clean[name] = value
    now = utcnow()
    values: dict[str, Any] = {f.name: None for f in dataclasses.fields(ProgressRecord)}
    values.update(
        id=uuid.uuid4(),
        user_id=uid,
        metric_date=metric_date,
        period_type=period_type,
        total_sessions=0,
        total_practice_time_seconds=0,
        created_at=now,
        updated_at=now,
        usn=-1,
    )
    values.update(clean)
    stmt = _progress_upsert(db.get_bind().dialect.name, tuple(sorted(clean)))
    db.flush()
    row = db.connection().execute(stmt, values).first()
    if row is None:
        raise NotFoundError("user", uid)
    expire_loaded(db, ProgressMetric, row.id)
    return ProgressRecord(*row)


@functools.cache  # bounded: two dialects times the subsets of the ten fields above
def _progress_upsert(dialect_name: str, changed: tuple[str, ...]) -> Any:
    """INSERT ... SELECT ... WHERE EXISTS (user) ON CONFLICT (user, period, date) DO UPDATE of
    the ``changed`` fields, RETURNING the row: one round trip for insert-or-update."""
    table = typing.cast(Table, ProgressMetric.__table__)
    names = [f.name for f in dataclasses.fields(ProgressRecord)] + ["usn"]
    params = {n: bindparam(n, type_=table.c[n].type) for n in names}
    guard = exists().where(User.__table__.c.id == params["user_id"])
    # SQLite needs the WHERE on the SELECT to parse ON CONFLICT as the upsert clause.
    dialect_insert = pg_insert if dialect_name == "postgresql" else sqlite_insert
    stmt = dialect_insert(table).from_select(names, select(*params.values()).where(guard))
    if changed:
        set_ = {n: stmt.excluded[n] for n in (*changed, "updated_at", "usn")}
    else:
        set_ = {"user_id": table.c.user_id}  # nothing to change: a no-op keeps updated_at
    return stmt.on_conflict_do_update(
        index_elements=[table.c.user_id, table.c.period_type, table.c.metric_date], set_=set_
    ).returning(*record_columns(ProgressRecord))


def get_user_progress(
    db: Session,
    user_id: uuid.UUID | str,
    period_type: str = "daily",
    limit: int = 30,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[ProgressRecord]:
    """A profile's progress rows of one period type, newest first. limit: 1..1000; since/until:
    optional aware bounds on metric_date (since inclusive, until exclusive)."""
    uid = check_uuid("user_id", user_id)
    check_enum("period_type", period_type, PERIOD_TYPES, required=True)
    check_int("limit", limit, 1, MAX_LIMIT, required=True)
    check_aware("since", since)
    check_aware("until", until)
    stmt = select_record(ProgressRecord).where(
        ProgressMetric.user_id == uid, ProgressMetric.period_type == period_type
    )
    if since is not None:
        stmt = stmt.where(ProgressMetric.metric_date >= since)
    if until is not None:
        stmt = stmt.where(ProgressMetric.metric_date < until)
    stmt = stmt.order_by(ProgressMetric.metric_date.desc()).limit(limit)
    rows = [ProgressRecord(*r) for r in db.execute(stmt)]
    if not rows:
        user_row(db, uid)
    return rows
