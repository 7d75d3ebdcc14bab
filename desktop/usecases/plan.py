"""What a practice session is about, as the student declares it (the "New session" form, or
``etude analyze --save``'s options)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from audio.settings import LIMITS

DIFFICULTIES = ("beginner", "intermediate", "advanced")
NAME_MAX_CHARS = 255
# Words that stay lower case inside a title made from a file name.
_SMALL_WORDS = frozenset({"a", "an", "and", "at", "by", "for", "in", "of", "on", "the", "to"})


def genre_words(genre: str) -> str:
    """A genre as a student reads it: "jazz_ballad" -> "Jazz ballad" (a genre typed by the
    student, with spaces or capitals of its own, is shown as typed)."""
    if not genre or " " in genre or genre != genre.lower():
        return genre
    words = genre.replace("_", " ").replace("-", " ").split()
    return " ".join(words)[:1].upper() + " ".join(words)[1:]


def title_from_file_name(stem: str) -> str:
    """A piece's name from its file's: "ode_to_joy" -> "Ode to Joy"."""
    words = stem.replace("_", " ").replace("-", " ").split()
    out = [
        w if w != w.lower() else (w if i and w in _SMALL_WORDS else w[:1].upper() + w[1:])
        for i, w in enumerate(words)
    ]
    return " ".join(out)


@dataclass(frozen=True)
class SessionPlan:
    """What a session is about. piece_name and genre at most 255 characters; target_tempo_bpm
    20..300 or None; difficulty_level one of DIFFICULTIES or None (the student's own choice,
    never the analysis's estimate); reference_path a MIDI file or None; assignment_id the
    teacher's assignment the session is practised for (None: free practice)."""

    piece_name: str | None = None
    genre: str | None = None
    target_tempo_bpm: int | None = None
    difficulty_level: str | None = None
    reference_path: Path | None = None
    assignment_id: uuid.UUID | None = None

    def validated(self) -> SessionPlan:
        """Return self, or raise ValueError naming the first field that is out of range."""
        if self.piece_name and len(self.piece_name) > NAME_MAX_CHARS:
            raise ValueError(f"The piece name is too long (at most {NAME_MAX_CHARS} characters).")
        if self.genre and len(self.genre) > NAME_MAX_CHARS:
            raise ValueError(f"The genre is too long (at most {NAME_MAX_CHARS} characters).")
        tempo = LIMITS["target_tempo_bpm"]
        if self.target_tempo_bpm is not None and not tempo.allows(self.target_tempo_bpm):
            raise ValueError(
                f"The target tempo must be {tempo.lo:g}–{tempo.hi:g} BPM, "
                f"not {self.target_tempo_bpm}."
            )
        if self.difficulty_level is not None and self.difficulty_level not in DIFFICULTIES:
            raise ValueError(
                f"The difficulty must be one of {', '.join(DIFFICULTIES)}, "
                f"not {self.difficulty_level!r}."
            )
        if self.reference_path is not None and not self.reference_path.is_file():
            raise ValueError(f"The reference file {self.reference_path} does not exist.")
        return self

    def describe(self) -> str:
        parts = [self.piece_name or "Free practice"]
        if self.assignment_id is not None:
            parts[0] = f"Assignment: {parts[0]}"
        if self.genre:
            parts.append(genre_words(self.genre))
        if self.target_tempo_bpm:
            parts.append(f"♩ = {self.target_tempo_bpm}")
        if self.difficulty_level:
            parts.append(self.difficulty_level)
        if self.reference_path:
            parts.append(f"reference: {self.reference_path.name}")
        return " · ".join(parts)
