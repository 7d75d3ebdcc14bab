"""Subharmonic handling: the pitch detector's octave and period-multiple errors.

Octave jumps inside a note are folded back unless they last (``SplitParams.octave_hold_s``); a
short note 12-31 semitones under the next pitch is that note's attack (the detector locked onto
a common period while two notes overlapped); frames of a change lying 2-6 periods too low are
folded up to the pitch they are a subharmonic of.
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
