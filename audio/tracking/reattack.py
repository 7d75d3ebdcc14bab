"""Re-attacks: a repeated note (same pitch or not) found from the level, not the pitch.

An onset inside a note (from aubio, or a V-shaped level dip) splits the note when the level
climbs again from its bottom around the onset, and that bottom lies clearly under the level the
note held before (ensemble swells climb as fast but dip only a few dB). A note that has faded
far under its own peak is re-attacked, dip or not, when the level climbs that much again out of
a flat stretch (a repeat after a long fade).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from audio.tracking.levels import LevelParams, floor_end, median


@dataclass(frozen=True, slots=True)
class ReattackParams:
    """When a dip or an onset inside a note is a new note."""

    climb_db: float = 7.5
    """The level must climb this much within 40 ms from its bottom around the onset."""
    min_age_s: float = 0.12
    """Re-attacks count only once a note is this old (a sung attack can swell twice)."""
    history_s: float = 0.3
    """Onsets are kept this long."""
    dip_db: float = 9.0
    """A V-shaped dip: down and back up by this much ..."""
    dip_s: float = 0.05
    """... within this long."""
    depth_db: float = 6.0
    """The dip's bottom must lie this far under the median level of the 0.2 s that end
    ``dip_s`` before the onset."""
    before_s: float = 0.25
    """Where that median level window starts, before the onset."""
    fade_climb_db: float = 15.0
    """A faded note: this far under its own peak; it is re-attacked when the level climbs this
    much again out of a flat stretch."""


def climbs_out_of_fade(
    note_levels: Sequence[float], bottom_db: float, climb_db: float, params: ReattackParams
) -> bool:
    """The level climbs ``fade_climb_db`` from ``bottom_db`` after the note (its hop levels
    ``note_levels``) had faded that far under its own peak: a repeat after a long fade, which
    needs no V-shaped dip."""
    return (
        climb_db >= params.fade_climb_db
        and bool(note_levels)
        and max(note_levels) - bottom_db >= params.fade_climb_db
    )


def level_dip(
    points: Sequence[tuple[float, float]],
    now_s: float,
    note_levels: Sequence[float] | None,
    last_dip_s: float,
    min_note_s: float,
    params: ReattackParams,
    levels: LevelParams,
) -> float | None:
    """A V-shaped dip in level (down and back up by ``dip_db`` within ``dip_s``) ending at
    ``now_s``: a re-attack that the spectral onset detector can miss when the notes are
    identical. Returns the dip's time, or None. ``note_levels``: the sounding note's hop levels
    (None without a note); ``last_dip_s``: the previous dip (dips closer than ``min_note_s``
    are one)."""
    recent: list[tuple[float, float]] = []
    since = now_s - params.dip_s
    for item in reversed(points):
        if item[0] < since:
            break
        recent.append(item)
    if len(recent) < 3:
        return None
    recent.reverse()
    # the first of the quietest points (what min() over the indices keyed by level gives)
    recent_levels = [lv for _, lv in recent]
    bottom = min(recent_levels)
    j = recent_levels.index(bottom)
    if j == len(recent) - 1:
        return None
    bottom_t = recent[j][0]
    climb = recent[-1][1] - bottom
    if note_levels is not None and climbs_out_of_fade(note_levels, bottom, climb, params):
        # Out of a faded tail the climb starts where its floor ends.
        bottom_t = recent[floor_end(recent, levels.floor_flutter_db)][0]
    else:
        if j == 0:
            return None
        before = max(recent_levels[:j])
        if before - bottom < params.dip_db or climb < params.dip_db:
            return None
    if bottom_t - last_dip_s < min_note_s:
        return None
    return bottom_t


def is_reattack(
    onset_s: float,
    points: Sequence[tuple[float, float]],
    note_levels: Sequence[float],
    params: ReattackParams,
    levels: LevelParams,
) -> bool:
    """The onset at ``onset_s`` inside a note (hop levels ``note_levels``) is a re-attack: the
    level climbs ``climb_db`` within 40 ms from its lowest point around the onset (which can sit
    a hop after the reported time), and that bottom lies ``depth_db`` under the level the note
    held before (or the level climbs out of a flat stretch of a faded note)."""
    around = [(lt, lv) for lt, lv in points if onset_s - 0.05 <= lt < onset_s + 0.012]
    if not around:
        return False
    bottom_t, bottom = around[floor_end(around, levels.floor_flutter_db)]
    after = [lv for lt, lv in points if bottom_t < lt <= bottom_t + 0.04]
    # The dip must also reach depth_db under the level the note held before it: voices of an
    # ensemble (choir, string section) beat by a few dB several times a second, and those
    # swells are not new notes.
    before = [lv for lt, lv in points if onset_s - params.before_s <= lt < onset_s - params.dip_s]
    if before and median(before) - bottom < params.depth_db:
        # Too shallow for a dip; still a re-attack when the level climbs out of a flat
        # stretch of a faded note (a dip that came out of an attack is not that).
        climbed = max(after) - bottom if after else 0.0
        lead = [lv for lt, lv in points if bottom_t - params.dip_s <= lt < bottom_t]
        flat = not lead or max(lead) - bottom < params.dip_db
        if not (flat and climbs_out_of_fade(note_levels, bottom, climbed, params)):
            return False
    return bool(after) and max(after) - bottom >= params.climb_db
