"""The student's side of the teacher's studio: assignments to practise (in the New-session
form), a session started from one, and the teacher's comments on takes (on the take's card and
in History, unread until opened). Qt-free; the window, the commands and the tests call these."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from desktop.usecases.plan import SessionPlan

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from storage.assignments import AssignmentRecord, AssignmentStatus, CommentRecord


@dataclass(frozen=True)
class StudentAssignment:
    """An assignment with where the student stands on it."""

    assignment: AssignmentRecord
    status: AssignmentStatus

    def describe(self) -> str:
        a = self.assignment
        parts = [a.title]
        if a.target_tempo:
            parts.append(f"♩ = {a.target_tempo}")
        if a.due_on:
            parts.append(f"due {a.due_on.isoformat()}")
        parts.append(self.status.label)
        return " · ".join(parts)


def student_assignments(db: Session, profile_id: uuid.UUID) -> list[StudentAssignment]:
    """The profile's assignments (due soonest first) with their status."""
    from storage.assignments import assignment_statuses, get_user_assignments

    items = get_user_assignments(db, profile_id)
    statuses = assignment_statuses(db, items)
    return [StudentAssignment(a, statuses[a.id]) for a in items]


def plan_for_assignment(db: Session, assignment_id: uuid.UUID, folder: Path) -> SessionPlan:
    """The session plan of an assignment: piece, genre, tempo, difficulty and its reference
    MIDI, which is written to ``folder``/<assignment id>.mid (the practice window loads a
    reference from a file). The plan names the assignment, so the session is linked to it."""
    from storage.assignments import get_assignment, reference_midi

    a = get_assignment(db, assignment_id)
    path: Path | None = None
    midi = reference_midi(db, assignment_id)
    if midi:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{a.id}.mid"
        if not path.is_file() or path.read_bytes() != midi:
            tmp = path.with_suffix(".mid.part")
            tmp.write_bytes(midi)
            tmp.replace(path)
    return SessionPlan(
        piece_name=a.title,
        genre=a.genre,
        target_tempo_bpm=a.target_tempo,
        difficulty_level=a.difficulty_level,
        reference_path=path,
        assignment_id=a.id,
    ).validated()


def take_comments(
    db: Session, profile_id: uuid.UUID, performance_id: uuid.UUID, *, mark_read: bool = True
) -> list[CommentRecord]:
    """The teacher's comments on a take, as they were before opening (unread ones flagged);
    with ``mark_read`` they are then marked read (the student has them in front of her)."""
    from storage.assignments import get_take_comments, mark_comments_read

    comments = get_take_comments(db, performance_id)
    if mark_read:
        mark_comments_read(db, profile_id, [c.id for c in comments if c.unread])
    return comments


def session_comments(
    db: Session, profile_id: uuid.UUID, session_id: uuid.UUID, *, mark_read: bool = True
) -> dict[uuid.UUID, list[CommentRecord]]:
    """The comments on every take of a session, by take id (History's detail pane); marked
    read once shown, as :func:`take_comments`."""
    from storage.assignments import get_take_comments, mark_comments_read
    from storage.performances import get_session_performances

    out = {p.id: get_take_comments(db, p.id) for p in get_session_performances(db, session_id)}
    if mark_read:
        unread = [c.id for cs in out.values() for c in cs if c.unread]
        mark_comments_read(db, profile_id, unread)
    return {k: v for k, v in out.items() if v}


def unread_comments_by_session(db: Session, profile_id: uuid.UUID) -> dict[uuid.UUID, int]:
    """Unread comments per session (History's list)."""
    from storage.assignments import unread_by_session

    return unread_by_session(db, profile_id)
