"""Row helpers every service module shares: record SELECTs, guarded INSERTs, lookups by id.

The service modules (:mod:`storage.profiles`, :mod:`storage.sessions`,
:mod:`storage.performances`, :mod:`storage.analyses`, :mod:`storage.progress_metrics`,
:mod:`storage.stats`, :mod:`storage.recovery`) follow one set of conventions:

* The first argument is a caller-owned :class:`sqlalchemy.orm.Session`, one per user action.
  Functions flush but never commit: the caller commits (``with db.transaction() as s: ...``) or
  rolls back. Anything raised means the caller's transaction should be rolled back.
* Every argument is validated before anything is written; a bad one raises
  :class:`~storage.errors.ValidationError` (``field``, ``rule``), an unknown id raises
  :class:`~storage.errors.NotFoundError`. Either way nothing has been added to the Session.
* Results are frozen records from :mod:`storage.records` (safe after commit and across threads).
* Datetimes are aware; naive ones are refused. Stored and returned in UTC.

Statements that do not depend on the call's values are built once, by a function decorated
with :func:`functools.cache` that sits beside the service function using it; the cache key is
the function's arguments (a record class, a dialect name, a flag), so each cache is small and
bounded.

Writes of new rows are single Core statements: INSERT ... SELECT :values WHERE EXISTS (parent).
The guard makes the parent check and the insert one round trip (the PostgreSQL server is a
loopback hop away, so round trips dominate), and a missing parent inserts nothing, so nothing
is written for an unknown id. The record returned is built from the very values inserted (ids,
created_at/updated_at and usn generated here once), so no read-back is needed.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
import uuid
from typing import Any

from sqlalchemy import Insert, Select, Table, bindparam, exists, insert, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from storage.errors import NotFoundError
from storage.models import (
    AnalysisResult,
    Base,
    Performance,
    ProgressMetric,
    RealtimeSession,
    Tombstone,
    User,
)
from storage.records import AnalysisRecord, PerformanceRecord, ProgressRecord, SessionRecord
from storage.validation import check_uuid

# A record that is one row of one table, and the table of each.
Record = SessionRecord | PerformanceRecord | AnalysisRecord | ProgressRecord
RECORD_MODELS: dict[type[Record], type[Base]] = {
    SessionRecord: RealtimeSession,
    PerformanceRecord: Performance,
    AnalysisRecord: AnalysisResult,
    ProgressRecord: ProgressMetric,
}


# The record class of each table (frozen dataclass classes are not Hashable to mypy, so the
# caches below are keyed by table).
_RECORD_OF: dict[type[Base], type[Record]] = {model: cls for cls, model in RECORD_MODELS.items()}


def record_columns(cls: type[Record]) -> tuple[Any, ...]:
    """The columns of record class ``cls``'s table, in the record's field order."""
    return _columns_of(RECORD_MODELS[cls])


@functools.cache
def _columns_of(model: type[Base]) -> tuple[Any, ...]:
    return tuple(model.__table__.c[f.name] for f in dataclasses.fields(_RECORD_OF[model]))


def select_record(cls: type[Record]) -> Select[Any]:
    """SELECT of exactly the columns of record ``cls``, in field order: plain rows are several
    times cheaper to read than ORM entities for list operations."""
    return select(*record_columns(cls))


@functools.cache
def guarded_insert(model: type[Base], parent: type[Base], fk: str) -> Insert:
    """INSERT of one row of ``model`` (parameters ``v_<field>`` of its record class, and
    ``v_usn``) that inserts nothing unless the ``parent`` row with id ``v_<fk>`` exists;
    RETURNING the new id."""
    table = typing.cast(Table, model.__table__)
    names = [f.name for f in dataclasses.fields(_RECORD_OF[model])] + ["usn"]
    params = {n: bindparam(f"v_{n}", type_=table.c[n].type) for n in names}
    guard = exists().where(parent.__table__.c.id == params[fk])
    # RETURNING tells whether a row went in: psycopg reports no rowcount for INSERT ... SELECT.
    return (
        insert(table)
        .from_select(names, select(*params.values()).where(guard))
        .returning(table.c.id)
    )


def insert_params(record: Record) -> dict[str, Any]:
    """The parameters of :func:`guarded_insert` for ``record`` (pending sync: usn -1)."""
    values = {f"v_{f.name}": getattr(record, f.name) for f in dataclasses.fields(record)}
    values["v_usn"] = -1  # pending sync, as the models' default
    return values


def insert_record(db: Session, record: Record, parent: type[Base], fk: str) -> bool:
    """Insert ``record`` if its parent row (``parent`` with id ``record.<fk>``) exists; whether
    it was inserted."""
    stmt = guarded_insert(RECORD_MODELS[type(record)], parent, fk)
    db.flush()  # a parent the caller added but has not flushed yet must be visible
    return db.connection().execute(stmt, insert_params(record)).first() is not None


def expire_loaded(db: Session, model: type[Base], row_id: uuid.UUID) -> None:
    """Expire the Session's copy of a row changed by a Core statement, if it holds one, so later
    ORM reads in the same Session see the new values."""
    obj = db.identity_map.get(identity_key(model, row_id))
    if obj is not None:
        db.expire(obj)


def user_row(db: Session, user_id: uuid.UUID | str) -> User:
    """The profile row ``user_id`` (a UUID or its text); ValidationError for a malformed id,
    NotFoundError for an unknown one."""
    uid = check_uuid("user_id", user_id)
    user = db.get(User, uid)
    if user is None:
        raise NotFoundError("user", uid)
    return user


def session_row(db: Session, session_id: uuid.UUID) -> RealtimeSession:
    """The session row ``session_id``; NotFoundError if none."""
    row = db.get(RealtimeSession, session_id)
    if row is None:
        raise NotFoundError("session", session_id)
    return row


def performance_row(db: Session, performance_id: uuid.UUID) -> Performance:
    """The take row ``performance_id``; NotFoundError if none."""
    row = db.get(Performance, performance_id)
    if row is None:
        raise NotFoundError("performance", performance_id)
    return row


def tombstone_performances(db: Session, perf_ids: list[uuid.UUID]) -> None:
    """Record the deletion of takes ``perf_ids`` and of their analyses, for a later sync."""
    if not perf_ids:
        return
    analysis_ids = db.scalars(
        select(AnalysisResult.id).where(AnalysisResult.performance_id.in_(perf_ids))
    )
    for aid in analysis_ids:
        db.add(Tombstone(table_name="analysis_results", row_id=aid))
    for pid in perf_ids:
        db.add(Tombstone(table_name="performances", row_id=pid))


def opt_float(value: Any) -> float | None:
    """``value`` as a float, None kept (database numerics arrive as Decimal on PostgreSQL)."""
    return None if value is None else float(value)
