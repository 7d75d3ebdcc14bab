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
    Assignment,
    Base,
    CommentRead,
    Performance,
    ProgressMetric,
    RealtimeSession,
    TakeComment,
    Tombstone,
    User,
)

# How a row is tied to its student:
#   "self":        the row is the student's profile (users.id)
#   "user":        a user_id column
#   "session":     a session_id column (realtime_sessions.user_id)
#   "performance": a performance_id column (performances -> realtime_sessions.user_id)
OwnerPath = Literal["self", "user", "session", "performance"]
# Who writes a table's rows on the server: the student (pushed from their computers) or their
# teacher (written on the server, pulled by the student's computers, read-only there).
Writer = Literal["student", "teacher"]


@dataclass(frozen=True)
class SyncedTable:
    """One synced table. ``owner`` says how its rows belong to a student; ``fk`` is the column
    naming the parent row (None for users); ``parent`` the parent table's name; ``writer`` who
    writes its rows on the server."""

    name: str
    owner: OwnerPath
    fk: str | None
    parent: str | None = None
    writer: Writer = "student"

    @property
    def table(self) -> Table:
        """The SQLAlchemy table."""
        return Base.metadata.tables[self.name]

    @property
    def columns(self) -> tuple[str, ...]:
        """Column names in table order."""
        return tuple(c.name for c in self.table.columns)


USERS = SyncedTable(User.__tablename__, "self", None)
ASSIGNMENTS = SyncedTable(Assignment.__tablename__, "user", "user_id", "users", "teacher")
SESSIONS = SyncedTable(RealtimeSession.__tablename__, "user", "user_id", "users")
PERFORMANCES = SyncedTable(Performance.__tablename__, "session", "session_id", "realtime_sessions")
ANALYSES = SyncedTable(
    AnalysisResult.__tablename__, "performance", "performance_id", "performances"
)
PROGRESS = SyncedTable(ProgressMetric.__tablename__, "user", "user_id", "users")
COMMENTS = SyncedTable(
    TakeComment.__tablename__, "user", "performance_id", "performances", "teacher"
)
COMMENT_READS = SyncedTable(CommentRead.__tablename__, "user", "comment_id", "take_comments")
TOMBSTONES = SyncedTable(Tombstone.__tablename__, "user", "user_id")

# Parents before children: an upsert never names a parent that is not there yet (a session may
# name the assignment it was practised for; a comment its take; a read mark its comment).
DATA_TABLES: tuple[SyncedTable, ...] = (
    USERS,
    ASSIGNMENTS,
    SESSIONS,
    PERFORMANCES,
    ANALYSES,
    PROGRESS,
    COMMENTS,
    COMMENT_READS,
)
# The tables a student's computer pushes (the teacher's are read-only there).
STUDENT_TABLES: tuple[SyncedTable, ...] = tuple(t for t in DATA_TABLES if t.writer == "student")
TEACHER_TABLES: tuple[SyncedTable, ...] = tuple(t for t in DATA_TABLES if t.writer == "teacher")
BY_NAME: dict[str, SyncedTable] = {t.name: t for t in (*DATA_TABLES, TOMBSTONES)}

# Columns that never travel: usn is each side's own bookkeeping.
LOCAL_ONLY_COLUMNS = frozenset({"usn"})


def synced_columns(table: SyncedTable) -> tuple[str, ...]:
    """The columns a sync copies (all but ``usn``)."""
    return tuple(c for c in table.columns if c not in LOCAL_ONLY_COLUMNS)
