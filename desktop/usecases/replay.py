"""Replaying a take: its pitch contour (from its audio file, through the same analysis as live)
and the other takes of the same piece to compare it with."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from desktop.usecases.takes import SavedTake

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.orm import Session

COMPARE_SESSIONS_MAX = 30  # how far back "compare with" looks for takes of the same piece


@dataclass(frozen=True)
class Contour:
    """A take's pitch over time: t_s seconds from the file's first sample, midi fractional
    MIDI or NaN where unvoiced; first_onset_s: the first note's start (0.0 without notes)."""

    t_s: tuple[float, ...]
    midi: tuple[float, ...]
    duration_s: float
    first_onset_s: float


def take_contour(path: Path, a4_hz: float = 440.0) -> Contour:
    """Analyse the take's audio file; raises audio.fileanalysis.AudioFileError when it cannot
    be read."""
    from audio.fileanalysis import analyze_file
    from audio.settings import AnalysisSettings

    found = analyze_file(path, AnalysisSettings(a4_hz=a4_hz))
    frames = found.frames
    midi = tuple(
        12.0 * math.log2(f / a4_hz) + 69.0 if v and f > 0 else math.nan
        for f, v in zip(frames.f0_hz.tolist(), frames.voiced.tolist(), strict=True)
    )
    first = found.notes[0].onset_s if found.notes else 0.0
    return Contour(tuple(frames.t_s.tolist()), midi, found.duration_s, first)


@dataclass(frozen=True)
class PieceTake:
    """A take of a piece with when its session started and its number in that session."""

    take: SavedTake
    session_started_at: datetime
    number: int


def same_piece_takes(db: Session, profile_id: uuid.UUID, session_id: uuid.UUID) -> list[PieceTake]:
    """The takes of the piece practised in ``session_id`` (same piece name; none for free
    practice) in the profile's last COMPARE_SESSIONS_MAX sessions of it, newest session first,
    takes in the order played."""
    from desktop.usecases.sessions import list_sessions, session_takes
    from storage.sessions import get_session

    piece = get_session(db, session_id).piece_name
    if not piece:
        return []
    sessions = [s for s in list_sessions(db, profile_id) if s.piece_name == piece]
    out: list[PieceTake] = []
    for s in sessions[:COMPARE_SESSIONS_MAX]:
        for i, take in enumerate(session_takes(db, s.id), 1):
            out.append(PieceTake(take, s.started_at, i))
    return out
