"""Subharmonic handling: the pitch detector's octave and period-multiple errors.

Octave jumps inside a note are folded back unless they last (``SplitParams.octave_hold_s``); a
short note 12-31 semitones under the next pitch is that note's attack (the detector locked onto
a common period while two notes overlapped); frames of a change lying 2-6 periods too low are
folded up to the pitch they are a subharmonic of. A short note joined to the notes either side
of it that lies an octave or more away from both, on the same side, at a harmonic interval from
one of them, is the detector reading a harmonic or a common period while two notes cross-fade
(a room's reverberation holds the old note under the new one): it is the next note's attack.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SubharmonicParams:
    """When a low reading is a subharmonic, not a note."""

    merge_s: float = 0.15
    """A note younger than this that lies a subharmonic interval under the next pitch is the
    next note's attack and takes its pitch."""
    rejoin_s: float = 0.1
    """... also when the next note follows it after a voicing break at most this long."""
    intervals: tuple[int, ...] = (12, 19, 24, 28, 31)
    """The subharmonic intervals, semitones (periods 2, 3, 4, 5 and 6 times too long)."""
    tolerance_semitones: float = 0.7
    """How close an interval must come to one of ``intervals``."""
    spike_s: float = 0.45
    """A note shorter than this, joined to the note before it and to the next one (legato: at
    most ``join_s`` between their voiced frames, the level staying within
    ``BoundaryParams.rejoin_drop_db`` of the note before all through), ..."""
    join_s: float = 0.15
    """... (see ``spike_s``) ..."""
    spike_semitones: float = 11.3
    """... lying at least this far from both of them on the same side (both above it or both
    below it), at one of ``intervals`` (either way) from one of them, is the next note's attack
    read at a harmonic or a common period while the two notes cross-fade."""

    @property
    def exact_semitones(self) -> tuple[float, ...]:
        """The exact intervals of periods 2..6 times too long."""
        return _EXACT_SEMITONES


OCTAVE_INTERVALS = (12, -12, 19, -19, 24, -24)
# worked out once: fold() reads them for every frame of a pitch change
_EXACT_SEMITONES = tuple(12.0 * math.log2(n) for n in range(2, 7))


def fold(midi: float, target: float, params: SubharmonicParams) -> float:
    """A frame 2-6 periods too long (12, 19, 24, 28 or 31 semitones under ``target``) is
    raised to the pitch it is a subharmonic of."""
    for k in params.exact_semitones:
        if abs(target - midi - k) < params.tolerance_semitones:
            return midi + k
    return midi


def is_subharmonic_interval(interval: float, params: SubharmonicParams) -> bool:
    """``interval`` (semitones, upper minus lower) is one of the subharmonic intervals."""
    return any(abs(interval - k) < params.tolerance_semitones for k in params.intervals)


def is_octave_error(interval: float, params: SubharmonicParams) -> bool:
    """``interval`` (semitones, either way) is an octave, a twelfth or two octaves."""
    return any(abs(interval - k) < params.tolerance_semitones for k in OCTAVE_INTERVALS)


def is_crossfade_spike(
    before: float, pitch: float, after: float, params: SubharmonicParams
) -> bool:
    """A note at ``pitch`` between notes at ``before`` and ``after`` (joined to both) lies
    ``spike_semitones`` or more from both on the same side, a harmonic interval from one of
    them: the pitch detector's misreading while they cross-fade (see ``spike_s``)."""
    up, down = before - pitch, after - pitch
    if up * down <= 0 or min(abs(up), abs(down)) < params.spike_semitones:
        return False
    return any(
        abs(abs(d) - k) < params.tolerance_semitones for d in (up, down) for k in params.intervals
    )
