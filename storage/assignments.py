"""The teacher's studio in storage: assignments, comments on takes and their read marks.

A teacher writes assignments and comments on the studio server (through her own role, under
row-level security: :mod:`storage.sync.server`); a sync brings them to the student's computers,
where they are read-only. The student writes read marks. Every function takes a caller-owned
Session, so the same reads serve the student's local database and the teacher's connection to
the server; the writing ones validate everything first and change nothing on bad input.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.errors import NotFoundError, ValidationError
from storage.models import (
    DIFFICULTY_LEVELS,
    AnalysisResult,
    Assignment,
    CommentRead,
    Performance,
    RealtimeSession,
    TakeComment,
    User,
    comment_read_id,
    utcnow,
)
from storage.validation import (
    MAX_IDS,
    check_enum,
    check_finite,
    check_int,
    check_score,
    check_tempo,
    check_text,
    check_uuid,
)

MAX_MIDI_BYTES = 1_000_000
MAX_COMMENT_CHARS = 4000
MAX_INSTRUCTIONS_CHARS = 4000


@dataclass(frozen=True, slots=True)
class AssignmentRecord:
    """An assignment as read back (the reference MIDI's bytes apart: :func:`reference_midi`).
    target_tempo in BPM, min_minutes in minutes, target_score 0..1, due_on a local day."""

    id: uuid.UUID
    user_id: uuid.UUID
    teacher_name: str
    title: str
    reference_name: str | None
    target_tempo: int | None
    genre: str | None
    difficulty_level: str | None
    due_on: date | None
    min_minutes: int | None
    target_score: float | None
    instructions: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AssignmentStatus:
    """Where a student stands on an assignment: seconds practised in sessions started from it,
    takes and best overall score (0..1, None without a scored take), whether every goal is met
    (``done``; an assignment without goals is never done by itself), and a label in plain words:
    "not started", "practised 25 min, best 82 %" or "done"."""

    assignment_id: uuid.UUID
    user_id: uuid.UUID
    seconds: int
    takes: int
    best_score: float | None
    done: bool

    @property
    def label(self) -> str:
        if self.done:
            return "done"
        if self.seconds == 0 and self.takes == 0:
            return "not started"
        text = f"practised {round(self.seconds / 60)} min"
        if self.best_score is not None:
            text += f", best {round(self.best_score * 100)} %"
        return text


@dataclass(frozen=True, slots=True)
class CommentRecord:
    """A teacher's comment on a take; at_seconds into the take (None: the whole take);
    read_at: when the student opened it (None: unread)."""

    id: uuid.UUID
    user_id: uuid.UUID
    performance_id: uuid.UUID
    author_name: str
    body: str
    at_seconds: float | None
    created_at: datetime
    read_at: datetime | None

    @property
    def unread(self) -> bool:
        return self.read_at is None


_ASSIGNMENT_COLUMNS = tuple(
    Assignment.__table__.c[name] for name in AssignmentRecord.__dataclass_fields__
)


def _assignment(row: Any) -> AssignmentRecord:
    return AssignmentRecord(*row)


# --------------------------------------------------------------------------------------------
# Teacher's writes


def create_assignments(
    db: Session,
    student_ids: Sequence[uuid.UUID | str],
    *,
    teacher_name: str,
    title: str,
    reference_name: str | None = None,
    reference_midi: bytes | None = None,
    target_tempo: int | None = None,
    genre: str | None = None,
    difficulty_level: str | None = None,
    due_on: date | None = None,
    min_minutes: int | None = None,
    target_score: float | None = None,
    instructions: str | None = None,
) -> list[AssignmentRecord]:
    """Set one piece to one or several students (one assignment row each). title and names
    <= 255 characters; reference_midi at most 1 MB and starting like a MIDI file (MThd);
    target_tempo 20..300 BPM; min_minutes 1..10000; target_score 0..1; instructions <= 4000
    characters. Runs as the teacher on the server (row-level security lets her write only her
    own students' rows)."""
    if not student_ids:
        raise ValidationError("student_ids", "must name at least one student", student_ids)
    if len(student_ids) > MAX_IDS:
        raise ValidationError("student_ids", f"must name at most {MAX_IDS} students", student_ids)
    ids = [check_uuid("student_ids", sid) for sid in student_ids]
    if len(set(ids)) != len(ids):
        raise ValidationError("student_ids", "names a student twice", student_ids)
    check_text("teacher_name", teacher_name, required=True)
    check_text("title", title, required=True)
    check_text("reference_name", reference_name)
    if reference_midi is not None:
        if not isinstance(reference_midi, bytes) or not reference_midi.startswith(b"MThd"):
            raise ValidationError("reference_midi", "must be a MIDI file", None)
        if len(reference_midi) > MAX_MIDI_BYTES:
            raise ValidationError("reference_midi", "must be at most 1 MB", len(reference_midi))
    check_tempo("target_tempo", target_tempo)
    check_text("genre", genre)
    check_enum("difficulty_level", difficulty_level, DIFFICULTY_LEVELS)
    if due_on is not None and (not isinstance(due_on, date) or isinstance(due_on, datetime)):
        raise ValidationError("due_on", "must be a date", due_on)
    check_int("min_minutes", min_minutes, 1, 10_000)
    check_score("target_score", target_score)
    check_text("instructions", instructions, MAX_INSTRUCTIONS_CHARS)
    # A student who has not synced yet has no profile on the server to hold an assignment.
    present = set(db.scalars(select(User.id).where(User.id.in_(ids))))
    for uid in ids:
        if uid not in present:
            raise NotFoundError("student profile", uid)
    now = utcnow()
    rows = [
        Assignment(
            id=uuid.uuid4(),
            user_id=uid,
            teacher_name=teacher_name.strip(),
            title=title.strip(),
            reference_name=reference_name,
            reference_midi=reference_midi,
            target_tempo=target_tempo,
            genre=genre,
            difficulty_level=difficulty_level,
            due_on=due_on,
            min_minutes=min_minutes,
            target_score=target_score,
            instructions=instructions,
            created_at=now,
            updated_at=now,
            usn=0,  # the server stamps the student's counter
        )
        for uid in ids
    ]
    db.add_all(rows)
    db.flush()
    return [get_assignment(db, r.id) for r in rows]


def add_comment(
    db: Session,
    performance_id: uuid.UUID | str,
    body: str,
    *,
    author_name: str,
    at_seconds: float | None = None,
) -> CommentRecord:
    """A teacher's comment on a take (optionally at ``at_seconds``, 0 .. the take's length).
    body 1..4000 characters. NotFoundError when the take is not one the caller can see."""
    pid = check_uuid("performance_id", performance_id)
    check_text("body", body, MAX_COMMENT_CHARS, required=True)
    check_text("author_name", author_name, required=True)
    check_finite("at_seconds", at_seconds)
    take = db.execute(
        select(RealtimeSession.user_id, Performance.recording_duration)
        .join(Performance, Performance.session_id == RealtimeSession.id)
        .where(Performance.id == pid)
    ).first()
    if take is None:
        raise NotFoundError("take", pid)
    if at_seconds is not None and not 0 <= at_seconds <= max(float(take[1] or 0.0), 0.0):
        raise ValidationError("at_seconds", "must lie within the take", at_seconds)
    now = utcnow()
    row = TakeComment(
        id=uuid.uuid4(),
        user_id=take[0],
        performance_id=pid,
        author_name=author_name.strip(),
        body=body.strip(),
        at_seconds=at_seconds,
        created_at=now,
        updated_at=now,
        usn=0,
    )
    db.add(row)
    db.flush()
    return CommentRecord(row.id, row.user_id, pid, row.author_name, row.body, at_seconds, now, None)


# --------------------------------------------------------------------------------------------
# Reads (student and teacher alike)


def get_assignment(db: Session, assignment_id: uuid.UUID | str) -> AssignmentRecord:
    """One assignment; NotFoundError when there is none (or the caller may not see it)."""
    aid = check_uuid("assignment_id", assignment_id)
    row = db.execute(select(*_ASSIGNMENT_COLUMNS).where(Assignment.id == aid)).first()
    if row is None:
        raise NotFoundError("assignment", aid)
    return _assignment(row)


def get_user_assignments(db: Session, user_id: uuid.UUID | str) -> list[AssignmentRecord]:
    """A student's assignments: those with a due day first (soonest first), then the newest."""
    uid = check_uuid("user_id", user_id)
    stmt = (
        select(*_ASSIGNMENT_COLUMNS)
        .where(Assignment.user_id == uid)
        .order_by(Assignment.due_on.is_(None), Assignment.due_on, Assignment.created_at.desc())
    )
    return [_assignment(r) for r in db.execute(stmt)]


def reference_midi(db: Session, assignment_id: uuid.UUID | str) -> bytes | None:
    """The assignment's reference MIDI file (bytes), or None."""
    aid = check_uuid("assignment_id", assignment_id)
    return db.scalar(select(Assignment.reference_midi).where(Assignment.id == aid))


def assignment_statuses(
    db: Session, assignments: Sequence[AssignmentRecord]
) -> dict[uuid.UUID, AssignmentStatus]:
    """The status of each assignment (see :class:`AssignmentStatus`), by assignment id. Time
    counts sessions once they ended (completed or abandoned), as progress does."""
    if not assignments:
        return {}
    ids = [a.id for a in assignments]
    seconds = dict(
        db.execute(
            select(RealtimeSession.assignment_id, func.sum(RealtimeSession.duration_seconds))
            .where(RealtimeSession.assignment_id.in_(ids))
            .group_by(RealtimeSession.assignment_id)
        ).all()
    )
    scores = {
        r[0]: (int(r[1] or 0), r[2])
        for r in db.execute(
            select(
                RealtimeSession.assignment_id,
                func.count(func.distinct(Performance.id)),
                func.max(AnalysisResult.overall_score),
            )
            .join(Performance, Performance.session_id == RealtimeSession.id)
            .outerjoin(AnalysisResult, AnalysisResult.performance_id == Performance.id)
            .where(RealtimeSession.assignment_id.in_(ids))
            .group_by(RealtimeSession.assignment_id)
        )
    }
    out: dict[uuid.UUID, AssignmentStatus] = {}
    for a in assignments:
        secs = int(seconds.get(a.id) or 0)
        takes, best = scores.get(a.id, (0, None))
        goals = [
            *([secs >= a.min_minutes * 60] if a.min_minutes else []),
            *([best is not None and best >= a.target_score] if a.target_score is not None else []),
        ]
        done = bool(goals) and all(goals)
        out[a.id] = AssignmentStatus(a.id, a.user_id, secs, takes, best, done)
    return out


def get_take_comments(db: Session, performance_id: uuid.UUID | str) -> list[CommentRecord]:
    """A take's comments in the order they were written, each with its read mark."""
    pid = check_uuid("performance_id", performance_id)
    return _comments(db, TakeComment.performance_id == pid)


def get_user_comments(
    db: Session, user_id: uuid.UUID | str, *, unread_only: bool = False
) -> list[CommentRecord]:
    """Every comment on a student's takes (oldest first), or only those not yet opened."""
    uid = check_uuid("user_id", user_id)
    cond: Any = TakeComment.user_id == uid
    if unread_only:
        cond = cond & CommentRead.id.is_(None)
    return _comments(db, cond)


def unread_by_session(db: Session, user_id: uuid.UUID | str) -> dict[uuid.UUID, int]:
    """Unread comments per session of a student (for History's list)."""
    uid = check_uuid("user_id", user_id)
    stmt = (
        select(Performance.session_id, func.count())
        .select_from(TakeComment)
        .join(Performance, Performance.id == TakeComment.performance_id)
        .outerjoin(CommentRead, CommentRead.comment_id == TakeComment.id)
        .where(TakeComment.user_id == uid, CommentRead.id.is_(None))
        .group_by(Performance.session_id)
    )
    return {r[0]: int(r[1]) for r in db.execute(stmt)}


def _comments(db: Session, cond: Any) -> list[CommentRecord]:
    stmt = (
        select(
            TakeComment.id,
            TakeComment.user_id,
            TakeComment.performance_id,
            TakeComment.author_name,
            TakeComment.body,
            TakeComment.at_seconds,
            TakeComment.created_at,
            CommentRead.read_at,
        )
        .outerjoin(CommentRead, CommentRead.comment_id == TakeComment.id)
        .where(cond)
        .order_by(TakeComment.created_at, TakeComment.id)
    )
    return [CommentRecord(*r) for r in db.execute(stmt)]


# --------------------------------------------------------------------------------------------
# Student's writes


def mark_comments_read(
    db: Session, user_id: uuid.UUID | str, comment_ids: Sequence[uuid.UUID | str]
) -> int:
    """Mark the student's comments opened (a read mark each, pending sync); comments already
    read are left as they are. Returns how many were newly marked. NotFoundError for a comment
    that is not on one of the student's takes."""
    uid = check_uuid("user_id", user_id)
    if len(comment_ids) > MAX_IDS:
        raise ValidationError("comment_ids", f"must name at most {MAX_IDS} comments", None)
    ids = [check_uuid("comment_ids", c) for c in comment_ids]
    if not ids:
        return 0
    found = set(
        db.scalars(
            select(TakeComment.id).where(TakeComment.id.in_(ids), TakeComment.user_id == uid)
        )
    )
    missing = [c for c in ids if c not in found]
    if missing:
        raise NotFoundError("comment", missing[0])
    already = set(db.scalars(select(CommentRead.comment_id).where(CommentRead.comment_id.in_(ids))))
    now = utcnow()
    new = [c for c in dict.fromkeys(ids) if c not in already]
    db.add_all(
        CommentRead(
            id=comment_read_id(c),
            user_id=uid,
            comment_id=c,
            read_at=now,
            created_at=now,
            updated_at=now,
        )
        for c in new
    )
    db.flush()
    return len(new)
