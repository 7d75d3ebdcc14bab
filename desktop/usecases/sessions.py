"""Practice sessions: start one, end one, and read a profile's history."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from desktop.usecases.plan import SessionPlan
from desktop.usecases.takes import SavedTake

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from desktop.usecases.open_sessions import OpenSessions
    from storage.records import SessionCompleteData, SessionRecord

PAGE_SIZE = 500
RECENT_PIECES = 8


def start_session(
    db: Session,
    profile_id: uuid.UUID,
    plan: SessionPlan,
    open_sessions: OpenSessions | None = None,
) -> SessionRecord:
    """Create the session; it is noted in ``open_sessions`` before the caller commits it, so a
    crash at any later moment leaves it recoverable by this computer (see open_sessions.py)."""
    from storage.sessions import create_session

    session = create_session(
        db,
        profile_id,
        piece_name=plan.piece_name,
        genre=plan.genre,
        target_tempo=plan.target_tempo_bpm,
        difficulty_level=plan.difficulty_level,
        assignment_id=plan.assignment_id,
    )
    if open_sessions is not None:
        open_sessions.add(session.id)
    return session


def finish_session(db: Session, session_id: uuid.UUID, hops: int) -> SessionRecord:
    """End a session; ``hops`` (>= 0): the analysis hops processed while it ran."""
    from storage.sessions import end_session, update_chunks_processed

    if hops > 0:
        update_chunks_processed(db, session_id, hops)
    return end_session(db, session_id)


def session_takes(db: Session, session_id: uuid.UUID) -> list[SavedTake]:
    """The takes of a session in the order played, each with its latest analysis (or None)."""
    from storage.analyses import get_latest_analysis
    from storage.performances import get_session_performances

    return [
        SavedTake(perf, get_latest_analysis(db, perf.id), number=i)
        for i, perf in enumerate(get_session_performances(db, session_id), 1)
    ]


def complete_session(db: Session, session_id: uuid.UUID) -> SessionCompleteData:
    """A session with every take and analysis (History's detail pane)."""
    from storage.sessions import get_complete_session_data

    return get_complete_session_data(db, session_id)


def list_sessions(
    db: Session, profile_id: uuid.UUID, status: str | None = None
) -> list[SessionRecord]:
    """Every session of a profile, newest first (read in pages of PAGE_SIZE)."""
    from storage.sessions import get_user_sessions

    out: list[SessionRecord] = []
    offset = 0
    while True:
        batch = get_user_sessions(db, profile_id, limit=PAGE_SIZE, offset=offset, status=status)
        out.extend(batch)
        if len(batch) < PAGE_SIZE:
            return out
        offset += PAGE_SIZE


def recent_pieces(
    db: Session, profile_id: uuid.UUID, limit: int = RECENT_PIECES
) -> list[SessionPlan]:
    """The pieces a profile practised last, newest first, one plan per piece name (compared
    without case), each as it was last set up: genre, tempo, difficulty. Free practice (no
    name) is not a piece."""
    from storage.sessions import get_user_sessions

    out: list[SessionPlan] = []
    seen: set[str] = set()
    offset = 0
    while len(out) < limit:
        batch = get_user_sessions(db, profile_id, limit=PAGE_SIZE, offset=offset)
        for s in batch:
            key = (s.piece_name or "").strip().casefold()
            if not key or key in seen:
                continue
            seen.add(key)
            out.append(
                SessionPlan(
                    piece_name=s.piece_name,
                    genre=s.genre,
                    target_tempo_bpm=s.target_tempo,
                    difficulty_level=s.difficulty_level,
                )
            )
            if len(out) == limit:
                break
        if len(batch) < PAGE_SIZE:
            break
        offset += PAGE_SIZE
    return out
