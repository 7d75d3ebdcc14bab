"""The tables a sync moves, in parent-before-child order, and how a row belongs to a student.

Every synced table is listed once here; the server's row-level security policies
(:mod:`storage.sync.server`) and the protocol (:mod:`storage.sync.protocol`) are both built from
this list, so a table added later (e.g. a teacher's assignments) gets its policies and its sync
by adding one entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Table

from storage.models import (
    AnalysisResult,
    Base,
    Performance,
    ProgressMetric,
    RealtimeSession,
    Tombstone,
    User,
)

# How a row is tied to its student:
#   "self":        the row is the student's profile (users.id)
#   "user":        a user_id column
#   "session":     a session_id column (realtime_sessions.user_id)
#   "performance": a performance_id column (performances -> realtime_sessions.user_id)
OwnerPath = Literal["self", "user", "session", "performance"]


@dataclass(frozen=True)
class SyncedTable:
    """One synced table. ``owner`` says how its rows belong to a student; ``fk`` is the column
    naming the parent row (None for users)."""

    name: str
    owner: OwnerPath
    fk: str | None

    @property
    def table(self) -> Table:
        """The SQLAlchemy table."""
        return Base.metadata.tables[self.name]

    @property
    def columns(self) -> tuple[str, ...]:
        """Column names in table order."""
        return tuple(c.name for c in self.table.columns)


USERS = SyncedTable(User.__tablename__, "self", None)
SESSIONS = SyncedTable(RealtimeSession.__tablename__, "user", "user_id")
PERFORMANCES = SyncedTable(Performance.__tablename__, "session", "session_id")
ANALYSES = SyncedTable(AnalysisResult.__tablename__, "performance", "performance_id")
PROGRESS = SyncedTable(ProgressMetric.__tablename__, "user", "user_id")
TOMBSTONES = SyncedTable(Tombstone.__tablename__, "user", "user_id")

# Parents before children: an upsert never names a parent that is not there yet.
DATA_TABLES: tuple[SyncedTable, ...] = (USERS, SESSIONS, PERFORMANCES, ANALYSES, PROGRESS)
BY_NAME: dict[str, SyncedTable] = {t.name: t for t in (*DATA_TABLES, TOMBSTONES)}

# Columns that never travel: usn is each side's own bookkeeping.
LOCAL_ONLY_COLUMNS = frozenset({"usn"})


def synced_columns(table: SyncedTable) -> tuple[str, ...]:
    """The columns a sync copies (all but ``usn``)."""
    return tuple(c for c in table.columns if c not in LOCAL_ONLY_COLUMNS)
