"""History that acts: delete a take or a session (rows tombstoned for sync, audio moved to the
data folder's trash, never removed), rename a profile, each session's best score, and the plan
to practise a session again. The window and the ``etude`` command call these."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from desktop.usecases.plan import SessionPlan

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from storage.records import Profile, SessionRecord

TRASH_FOLDER = "trash"
REFERENCES_FILE = "session-references.json"


@dataclass(frozen=True)
class Deleted:
    """What a deletion did: ``takes`` rows removed (tombstoned), files moved to ``trashed``."""

    takes: int
    trashed: tuple[Path, ...]
    session_deleted: bool = False


def trash_dir(data_dir: Path) -> Path:
    """``<data folder>/trash``: where deleted takes' files go (empty it by hand)."""
    return data_dir / TRASH_FOLDER


def move_to_trash(paths: list[Path], data_dir: Path, now: datetime | None = None) -> list[Path]:
    """Move each existing file of ``paths`` into ``<data folder>/trash/<date-time>/``; returns
    where they went. All or nothing: if one move fails, those already moved are put back and
    the OSError is raised."""
    existing = [p for p in paths if p.is_file()]
    if not existing:
        return []
    folder = trash_dir(data_dir) / (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    moved: list[tuple[Path, Path]] = []
    try:
        for src in existing:
            dst = folder / src.name
            n = 1
            while dst.exists():  # two takes of the same name in one second
                dst = folder / f"{src.stem}.{n}{src.suffix}"
                n += 1
            shutil.move(str(src), str(dst))
            moved.append((src, dst))
    except OSError:
        for src, dst in reversed(moved):
            shutil.move(str(dst), str(src))
        raise
    return [dst for _src, dst in moved]


def _files_of(perfs: list[tuple[str | None, str | None]]) -> list[Path]:
    return [Path(p) for pair in perfs for p in pair if p]


def delete_take(db: Session, performance_id: uuid.UUID, data_dir: Path) -> Deleted:
    """Delete one take and its analyses (tombstones record it for sync; progress recomputed),
    then move its audio and MIDI files to the trash. Any failure raises with nothing moved (the
    caller's transaction is rolled back)."""
    from storage.performances import delete_performance
    from storage.rows import performance_row

    row = performance_row(db, performance_id)
    files = _files_of([(row.audio_path, row.midi_path)])
    delete_performance(db, performance_id)
    return Deleted(1, tuple(move_to_trash(files, data_dir)))


def delete_session(db: Session, session_id: uuid.UUID, data_dir: Path) -> Deleted:
    """Delete a session with its takes and analyses (tombstoned), then move its takes' files to
    the trash. An active session (being practised) is refused with ValueError."""
    from storage import sessions
    from storage.performances import get_session_performances

    if sessions.get_session(db, session_id).status == "active":
        raise ValueError("This session is still being practised; end it first.")
    perfs = get_session_performances(db, session_id)
    files = _files_of([(p.audio_path, p.midi_path) for p in perfs])
    sessions.delete_session(db, session_id)
    forget_reference(data_dir, session_id)
    return Deleted(len(perfs), tuple(move_to_trash(files, data_dir)), session_deleted=True)


def rename_profile(db: Session, profile_id: uuid.UUID, name: str) -> Profile:
    """Give a profile a new name (surrounding spaces dropped); the service refuses an empty,
    too long or taken name."""
    from storage import profiles

    return profiles.rename_profile(db, profile_id, name.strip())


def best_scores(db: Session, profile_id: uuid.UUID) -> dict[uuid.UUID, float]:
    """Each session's best overall score (0..1), for History's score column."""
    from storage.stats import best_overall_by_session

    return best_overall_by_session(db, profile_id)


# -- the reference each session was practised against ------------------------------------------
# A reference is a file on this computer, so where it is is kept here, beside the database, not
# in the (synced) session row.


def _references(data_dir: Path) -> dict[str, str]:
    try:
        loaded = json.loads((data_dir / REFERENCES_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}


def _write_references(data_dir: Path, refs: dict[str, str]) -> None:
    path = data_dir / REFERENCES_FILE
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(refs, indent=0, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)  # a crash leaves the old file or the new one, never half of one


def remember_reference(data_dir: Path, session_id: uuid.UUID, reference: Path | None) -> None:
    """Note which reference MIDI ``session_id`` was practised against (nothing without one)."""
    if reference is None:
        return
    refs = _references(data_dir)
    refs[str(session_id)] = str(reference)
    _write_references(data_dir, refs)


def forget_reference(data_dir: Path, session_id: uuid.UUID) -> None:
    refs = _references(data_dir)
    if refs.pop(str(session_id), None) is not None:
        _write_references(data_dir, refs)


def plan_again(session: SessionRecord, data_dir: Path) -> SessionPlan:
    """The plan of ``session`` to practise it again: same piece, genre, tempo, difficulty, and
    its reference when that file is still there."""
    ref = _references(data_dir).get(str(session.id))
    reference = Path(ref) if ref and Path(ref).is_file() else None
    return SessionPlan(
        piece_name=session.piece_name,
        genre=session.genre,
        target_tempo_bpm=session.target_tempo,
        difficulty_level=session.difficulty_level,
        reference_path=reference,
    )
