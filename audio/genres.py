"""Genre profiles (resources/genres/genres.json) and the genre match score.

A profile gives its family (``voice`` for sung genres, whose feedback speaks to a singer;
``instrument`` otherwise), the usual tempo range (quarter-note BPM), swing ratio range (first
eighth of a beat divided by the second: 1.0 straight, 2.0 triplet swing) and note-loudness spread
(dB). The match score is the mean of the measurable sub-scores; each is 1 inside its range and falls
linearly to 0 at ``TEMPO_FALLOFF_BPM`` / ``SWING_FALLOFF`` / ``DYNAMICS_FALLOFF_DB`` outside.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

GENRES_FILE = Path(__file__).resolve().parents[1] / "resources" / "genres" / "genres.json"
TEMPO_FALLOFF_BPM = 30.0
SWING_FALLOFF = 0.5
DYNAMICS_FALLOFF_DB = 10.0
FAMILIES = ("instrument", "voice")


class UnknownGenreError(ValueError):
    """The genre name is not in the profile table; the message lists the known names."""


@dataclass(frozen=True, slots=True)
class GenreProfile:
    """One genre: ranges as (low, high) in BPM, ratio, and dB; family one of FAMILIES."""

    name: str
    description: str
    tempo_bpm: tuple[float, float]
    swing_ratio: tuple[float, float]
    dynamics_range_db: tuple[float, float]
    family: str = "instrument"


@cache
def genre_profiles() -> dict[str, GenreProfile]:
    """All shipped profiles by name."""
    raw = json.loads(GENRES_FILE.read_text(encoding="utf-8"))
    out: dict[str, GenreProfile] = {}
    for name, p in raw.items():
        out[name] = GenreProfile(
            name=name,
            description=str(p["description"]),
            tempo_bpm=(float(p["tempo_bpm"][0]), float(p["tempo_bpm"][1])),
            swing_ratio=(float(p["swing_ratio"][0]), float(p["swing_ratio"][1])),
            dynamics_range_db=(float(p["dynamics_range_db"][0]), float(p["dynamics_range_db"][1])),
            family=str(p.get("family", "instrument")),
        )
        if out[name].family not in FAMILIES:
            raise ValueError(f"genre {name!r}: family must be one of {FAMILIES}")
    return out


def get_genre(name: str) -> GenreProfile:
    """The profile called ``name`` (case-insensitive); UnknownGenreError if there is none."""
    profiles = genre_profiles()
    key = name.strip().lower().replace(" ", "_").replace("-", "_")
    if key not in profiles:
        known = ", ".join(sorted(profiles))
        raise UnknownGenreError(f"unknown genre {name!r}; known genres: {known}")
    return profiles[key]


def _fit(value: float, lo_hi: tuple[float, float], falloff: float) -> float:
    lo, hi = lo_hi
    dist = lo - value if value < lo else value - hi if value > hi else 0.0
    return max(0.0, 1.0 - dist / falloff)


def genre_match(
    profile: GenreProfile,
    tempo_bpm: float | None,
    swing_ratio: float | None,
    dynamics_spread_db: float | None,
) -> float | None:
    """Fit 0..1 of a take to a profile, None when none of the three can be measured.

    tempo_bpm: quarter-note tempo (20..300). swing_ratio: first/second eighth (0.5..3).
    dynamics_spread_db: 10th-to-90th percentile spread of note levels in dB (>= 0).
    """
    parts: list[float] = []
    if tempo_bpm is not None:
        parts.append(_fit(tempo_bpm, profile.tempo_bpm, TEMPO_FALLOFF_BPM))
    if swing_ratio is not None:
        parts.append(_fit(swing_ratio, profile.swing_ratio, SWING_FALLOFF))
    if dynamics_spread_db is not None:
        parts.append(_fit(dynamics_spread_db, profile.dynamics_range_db, DYNAMICS_FALLOFF_DB))
    if not parts:
        return None
    return sum(parts) / len(parts)
