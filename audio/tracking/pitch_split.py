"""The pitch-change split: a legato change of note, found from the pitch frames.

When frames far from the note's pitch have lasted long enough and most of them agree on one
pitch, a new note starts where the crossfade began (the frames just before that already moved
off the old pitch, or an aubio onset shortly before). Vibrato (a swing around the pitch) and
slides (frames that do not settle) never hold still long enough to split; a change that begins
with the note itself (a scoop or glide into it) gives the note its new pitch instead. A change
that begins by bending away from the new pitch (more than ``semitones`` beyond the old pitch on
the far side, at least ``release_windows`` of frames: a singer's release rising or falling off the
old note) starts after that bend (:func:`release_end`), at an aubio onset after it if there is
one; the bend belongs to neither note.

A new note can sound under the old one before it outsounds it (a slow bow or breath attack
under a ringing release): the frames keep the old pitch, but the old note's periodicity falls
as the second pitch enters the window. Then the new note starts where that periodicity began to
fall (:func:`clarity_onset`), unless the level climbs there (the new note's own attack marks
it) or that point lies near the background (a tail sinking into noise loses periodicity too).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from audio.tracking.levels import median


@dataclass(frozen=True, slots=True)
class SplitParams:
    """When a pitch change is a new note, and where it starts."""

    semitones: float = 0.7
    """Frames further than this from the note's pitch are a candidate change."""
    spread_semitones: float = 0.3
    """A settled change: ``settled_share`` of its recent frames lie this close to their median."""
    settled_share: float = 0.75
    """See ``spread_semitones``."""
    hold_s: float = 0.085
    """The changed frames must have lasted this long."""
    octave_hold_s: float = 0.12
    """An octave, twelfth or two-octave jump must last this long (shorter ones are the pitch
    detector's harmonic errors, folded back into the note)."""
    legato_lookback_s: float = 0.1
    """The crossfade reaches at most this far back from the change (frames that already moved
    ``lean_semitones`` off, or an aubio onset)."""
    lean_semitones: float = 0.1
    """A frame of the crossfade: this far off the old pitch, either way."""
    attack_hold: float = 0.5
    """An onset where the level climbs ``attack_rise_db``, after the pitch began to move and
    more than this share of ``hold_s`` before the change was confirmed, is the new note's
    attack when the pitch had left the old note before it (``attack_glide_windows`` of frames
    more than ``semitones`` off the old pitch and ``spread_semitones`` off the new one: a
    singer's glide or fall) and the frames of the ``release_s`` before it are not all on the
    new pitch already (the new note sounding before its onset was reported). The new note
    starts there, and the frames before it are the old note's release."""
    attack_glide_windows: float = 1.0
    """See ``attack_hold``: how long the pitch must have left the old note, in pitch windows
    (a window passing from one note to the next reads between them for about half its
    length: a crossfade, not a glide)."""
    release_s: float = 0.015
    """See ``attack_hold``: the frames read just before the onset."""
    release_windows: float = 1.0
    """Frames that bend more than ``semitones`` (and at most ``release_max_semitones``) off
    the old pitch away from the new one, this many pitch windows long in all, are the old
    note's release: the new note starts after them (a window passing from one note to the
    next can read beside both for about half its length)."""
    release_max_semitones: float = 4.0
    """A bend, not the pitch detector's error: octave, twelfth and period-multiple errors lie
    12 or more semitones off, a 4:3 partial read 5."""
    clarity_lookback_s: float = 0.2
    """The periodicity rule compares the split's start with the old note's best periodicity
    over ``clarity_plateau_s`` ending this long before it ..."""
    clarity_plateau_s: float = 0.1
    """... (see ``clarity_lookback_s``)."""
    clarity_change: float = 0.05
    """... and applies when the periodicity at the start lies this far under that best ..."""
    clarity_drop: float = 0.02
    """... dating the new note to the last frame still within this much of that best ..."""
    attack_rise_db: float = 9.0
    """... unless the level climbs this much there (the new note's own attack) ..."""
    above_background_db: float = 10.0
    """... or that frame lies less than this over the background."""

    @property
    def clarity_keep_s(self) -> float:
        """How long periodicity (and level) history the rule reads: it looks
        ``clarity_lookback_s + clarity_plateau_s`` before a start that a split dates up to
        ``legato_lookback_s + octave_hold_s`` (and a few hops) back."""
        return (
            self.clarity_lookback_s
            + self.clarity_plateau_s
            + self.legato_lookback_s
            + self.octave_hold_s
            + 0.05
        )


def settled(tail: Sequence[float], params: SplitParams) -> bool:
    """Most of the recent deviating frames agree on one pitch (not a slide or vibrato)."""
    med = median(tail)
    close = sum(1 for m in tail if abs(m - med) <= params.spread_semitones)
    return close >= params.settled_share * len(tail)


def is_release(midi: float, old_pitch: float, new_pitch: float, params: SplitParams) -> bool:
    """A frame at ``midi`` lies more than ``semitones`` beyond ``old_pitch`` on the side away
    from ``new_pitch``: a bend of the old note's release (a singer's pitch falls or rises off a
    note before the next), not the new note's crossfade."""
    away = (midi - old_pitch) * math.copysign(1.0, old_pitch - new_pitch)
    return params.semitones < away <= params.release_max_semitones


def release_end(
    frames: Sequence[tuple[float, float, float]],
    old_pitch: float,
    new_pitch: float,
    hop_s: float,
    window_s: float,
    params: SplitParams,
) -> float | None:
    """The time of the last of the changed frames (time, pitch, level) that is a release
    (:func:`is_release`), when such frames last ``release_windows`` pitch windows (of
    ``window_s``) in all; else None (a stray frame or a crossfade is no bend)."""
    times = [t for t, m, _ in frames if is_release(m, old_pitch, new_pitch, params)]
    if not times or len(times) * hop_s < params.release_windows * window_s - 1e-9:
        return None
    return times[-1]


def climbs(points: Sequence[tuple[float, float]], t: float, dip_s: float, rise_db: float) -> bool:
    """The level climbs ``rise_db`` at ``t``: from the quietest hop of the ``dip_s`` (and a hop)
    before it to the loudest of the 40 ms after it. ``points``: (time, level dB) hops."""
    before = [lv for lt, lv in points if t - dip_s - 0.01 <= lt <= t]
    after = [lv for lt, lv in points if t - 0.01 <= lt <= t + 0.04]
    return bool(before and after) and max(after) - min(before) >= rise_db


def attack_in_change(
    onsets: Sequence[float],
    points: Sequence[tuple[float, float]],
    first_t: float,
    last_t: float,
    hop_s: float,
    dip_s: float,
    params: SplitParams,
) -> float | None:
    """The last onset (an aubio onset or a re-attack) after a change's first moved frame
    (``first_t``, a hop later at least) and before its new pitch settled (``attack_hold``
    of ``hold_s`` before its newest frame, ``last_t``) where the level climbs
    ``attack_rise_db`` (:func:`climbs`: a new articulation, not the spectral change of a
    slur); None when there is none."""
    until = last_t - params.attack_hold * params.hold_s
    cands = [
        o
        for o in onsets
        if first_t + hop_s < o <= until and climbs(points, o, dip_s, params.attack_rise_db)
    ]
    return cands[-1] if cands else None


def legato_onset(onsets: Sequence[float], change_t: float, params: SplitParams) -> float:
    """An aubio onset shortly before the pitch change marks the change more precisely."""
    cands = [o for o in onsets if change_t - params.legato_lookback_s <= o <= change_t]
    return cands[-1] if cands else change_t


def clarity_onset(
    start_t: float,
    clarity: Sequence[tuple[float, float]],
    points: Sequence[tuple[float, float]],
    background_db: float,
    hop_s: float,
    dip_s: float,
    params: SplitParams,
) -> float:
    """A legato change's start moved back to where the old note's periodicity began to fall,
    when a second pitch entered under it (see the module notes); else ``start_t``.
    ``clarity``: (time, periodicity) frames; ``points``: (time, level dB) hops."""
    edge = start_t - params.clarity_lookback_s
    frames = [(t, c) for t, c in clarity if edge - params.clarity_plateau_s <= t <= start_t]
    plateau = [c for t, c in frames if t <= edge]
    if len(plateau) < 0.5 * params.clarity_plateau_s / hop_s:
        return start_t
    best = max(plateau)
    if frames[-1][1] > best - params.clarity_change:
        return start_t
    j = len(frames) - 1
    while frames[j][1] < best - params.clarity_drop:
        j -= 1
        if frames[j][0] <= edge:
            return start_t  # it fell earlier than the window reaches: no clear start
    began = frames[j][0]
    if climbs(points, start_t, dip_s, params.attack_rise_db):
        return start_t
    at = [lv for lt, lv in points if lt <= began]
    if not at or at[-1] < background_db + params.above_background_db:
        return start_t
    return began
