"""The teacher's studio: what the studio window, ``etude studio`` and the tests do, once.

Every function takes a SQLAlchemy Session connected to the studio server as the teacher
(:func:`storage.sync.studio.open_studio`), so what she sees is decided by the server's
row-level security. Qt-free. Where the teacher's studio is (server, account, certificate) is
kept in ``<data folder>/studio.json``; her password in the OS keyring, never in a file.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from storage.assignments import AssignmentRecord, AssignmentStatus, CommentRecord
    from storage.records import SessionRecord
    from storage.sync.client import ServerAddress
    from storage.sync.studio import StudentRow, Teacher

from desktop.usecases.takes import SavedTake

STUDIO_FILE = "studio.json"


# --------------------------------------------------------------------------------------------
# Where the studio is


def save_studio_address(data_dir: Path, address: ServerAddress) -> Path:
    """Remember the teacher's server and account (no password) in ``studio.json``."""
    path = data_dir / STUDIO_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.part")
    tmp.write_text(json.dumps(asdict(address), indent=1), encoding="utf-8")
    tmp.replace(path)
    return path


def load_studio_address(data_dir: Path) -> ServerAddress | None:
    """The remembered studio, or None when this computer has none (or the file is damaged)."""
    from storage.sync.client import ServerAddress

    try:
        raw = json.loads((data_dir / STUDIO_FILE).read_text(encoding="utf-8"))
        return ServerAddress(
            str(raw["host"]),
            int(raw["port"]),
            str(raw["dbname"]),
            str(raw["role"]),
            raw.get("ca_cert_path"),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


# --------------------------------------------------------------------------------------------
# The studio's data


@dataclass(frozen=True)
class AssignmentLine:
    """One assignment of one student, with its status (the Assignments table)."""

    assignment: AssignmentRecord
    student: str
    status: AssignmentStatus


@dataclass(frozen=True)
class StudioData:
    """Everything the studio window shows at first: the teacher, one row per student, and
    every assignment with its status."""

    teacher: Teacher
    students: list[StudentRow]
    assignments: list[AssignmentLine]


def load_studio(db: Session, *, now: datetime | None = None, inactive_days: int = 7) -> StudioData:
    """The studio's students and assignments, in one database operation."""
    teacher, rows = load_students(db, now=now, inactive_days=inactive_days)
    return StudioData(teacher, rows, studio_assignments(db, rows))


def load_students(
    db: Session, *, now: datetime | None = None, inactive_days: int = 7
) -> tuple[Teacher, list[StudentRow]]:
    """The teacher and one row per student: what the studio window shows first."""
    from storage.sync.studio import studio_overview, whoami

    teacher = whoami(db)
    return teacher, studio_overview(db, now=now or datetime.now(UTC), inactive_days=inactive_days)


def studio_assignments(db: Session, rows: list[StudentRow]) -> list[AssignmentLine]:
    """Every assignment of the teacher's students, newest first, with its status."""
    from sqlalchemy import select

    from storage.assignments import AssignmentRecord, assignment_statuses
    from storage.models import Assignment

    names = {r.user_id: r.name for r in rows if r.user_id is not None}
    cols = [Assignment.__table__.c[n] for n in AssignmentRecord.__dataclass_fields__]
    items = [
        AssignmentRecord(*r)
        for r in db.execute(select(*cols).order_by(Assignment.created_at.desc(), Assignment.id))
    ]
    statuses = assignment_statuses(db, items)
    return [AssignmentLine(a, names.get(a.user_id, "?"), statuses[a.id]) for a in items]


@dataclass(frozen=True)
class TakeView:
    """A take as the teacher opens it: the take with its latest analysis, and its comments."""

    take: SavedTake
    comments: list[CommentRecord]


def student_sessions(db: Session, user_id: uuid.UUID) -> list[SessionRecord]:
    """A student's sessions, newest first."""
    from desktop.usecases.sessions import list_sessions

    return list_sessions(db, user_id)


def session_take_views(db: Session, session_id: uuid.UUID) -> list[TakeView]:
    """A session's takes, each with its latest analysis and the teacher's comments on it."""
    from desktop.usecases.sessions import session_takes
    from storage.assignments import get_take_comments

    return [
        TakeView(t, get_take_comments(db, t.performance.id)) for t in session_takes(db, session_id)
    ]


def assign(
    db: Session,
    student_ids: list[uuid.UUID],
    *,
    title: str,
    reference: Path | None = None,
    target_tempo: int | None = None,
    genre: str | None = None,
    difficulty_level: str | None = None,
    due_on: date | None = None,
    min_minutes: int | None = None,
    target_score: float | None = None,
    instructions: str | None = None,
) -> list[AssignmentRecord]:
    """Set a piece to one or several students (the reference MIDI file is read and stored
    with the assignment). ValueError in plain words for a bad field; nothing is written."""
    from storage.assignments import create_assignments
    from storage.sync.studio import whoami

    midi = None
    if reference is not None:
        try:
            midi = reference.read_bytes()
        except OSError as exc:
            raise ValueError(f"the reference file {reference} cannot be read") from exc
    return create_assignments(
        db,
        student_ids,
        teacher_name=whoami(db).display_name,
        title=title,
        reference_name=reference.name if reference is not None else None,
        reference_midi=midi,
        target_tempo=target_tempo,
        genre=genre,
        difficulty_level=difficulty_level,
        due_on=due_on,
        min_minutes=min_minutes,
        target_score=target_score,
        instructions=instructions,
    )


def comment(
    db: Session, performance_id: uuid.UUID, body: str, at_seconds: float | None = None
) -> CommentRecord:
    """The teacher's comment on a take, optionally at a moment of it (seconds)."""
    from storage.assignments import add_comment
    from storage.sync.studio import whoami

    return add_comment(
        db, performance_id, body, author_name=whoami(db).display_name, at_seconds=at_seconds
    )


def fetch_take_audio(db: Session, performance_id: uuid.UUID, folder: Path) -> Path | None:
    """The take's audio from the server, written to ``folder`` (named by its content hash, so
    a take already fetched is not fetched again); None when the server does not hold it."""
    from storage.models import Performance
    from storage.sync.studio import take_audio

    sha = db.get(Performance, performance_id)
    if sha is None or sha.audio_sha256 is None:
        return None
    suffix = f".{sha.audio_format}" if sha.audio_format else ".audio"
    path = folder / f"{sha.audio_sha256}{suffix}"
    if path.is_file():
        return path
    got = take_audio(db, performance_id)
    if got is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(suffix + ".part")
    tmp.write_bytes(got[0])
    tmp.replace(path)
    return path
