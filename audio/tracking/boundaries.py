"""Note boundaries: where a note starts and ends, and what a note is while it is tracked.

A note starts when frames become voiced. Its onset is the start of the level rise that led to
it -- the earliest hop, at most ``start_lookback_s`` before the first voiced frame, still above
the quieter of ``rise_db`` under the note's peak and ``floor_margin_db`` over the background --
moved to an aubio onset when one lies within 30 ms before it. The look-back stops at unpitched
sound: beyond half a window before the first voiced frame (what the pitch window's own latency
explains), a second hop whose frame's periodicity is under ``noise_periodicity`` ends it -- a
consonant or breath before a sung vowel, loud as it may be, is not the note; an instrument's
attack, periodic as it grows, keeps its onset. When voicing broke for at most
``rejoin_break_s`` without the level falling ``rejoin_drop_db`` under the notes (a legato change
that scrambled the pitch detector), the new note began at an aubio onset in that break, else
half a window before the previous note's last voiced frame. A note ends after ``end_gap_s`` of
unvoiced frames; its offset is its last voiced frame. Notes shorter than ``min_note_s`` are
dropped (attack noise, release tails). A note's pitch is the median of its frames after the
first ``attack_s``; its level the median hop level.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from audio.tracking.levels import median


@dataclass(frozen=True, slots=True)
class BoundaryParams:
    """Where notes start and end."""

    min_note_s: float = 0.06
    """Shorter notes are dropped; an onset is published once its note has lasted this long."""
    end_gap_s: float = 0.035
    """A note ends after this long without a voiced frame."""
    attack_s: float = 0.04
    """A note's pitch ignores its first frames, this long (attack transients wander)."""
    start_lookback_s: float = 0.1
    """A note's onset is dated at most this far before its first voiced frame ..."""
    rise_db: float = 25.0
    """... to the start of the level rise over the quieter of this much under its peak ..."""
    floor_margin_db: float = 6.0
    """... and this much over the background, ..."""
    noise_periodicity: float = 0.5
    """... stopping, beyond half a window before it, at the second hop whose frame is less
    periodic than this (unpitched sound: a consonant, a breath)."""
    rejoin_break_s: float = 0.15
    """A voicing break at most this long ..."""
    rejoin_drop_db: float = 12.0
    """... without the level falling this far under the notes is a legato change."""


@dataclass(slots=True)
class TrackedNote:
    """A note being tracked or just finished.

    onset_s, offset_s: seconds from the stream start. midi: median fractional MIDI pitch after
    the attack. level_db: median hop level in dBFS. capture_time_s: capture time of the hop that
    finished it.
    """

    onset_s: float
    offset_s: float
    midi: float
    level_db: float
    capture_time_s: float


@dataclass(slots=True)
class Building:
    """A note being built: its onset, its voiced frames (time, pitch, level) so far."""

    onset_s: float
    onset_final: bool
    first_voiced_s: float
    last_voiced_s: float
    attack_s: float
    times: list[float] = field(default_factory=list)
    midis: list[float] = field(default_factory=list)
    levels: list[float] = field(default_factory=list)
    announced: bool = False
    # Where the note's pitch frames begin to count (plus attack_s): its onset, unless the onset
    # was dated back under the previous note's sound, whose frames still hold the old pitch.
    settle_s: float | None = None

    def add(self, t: float, midi: float, level: float) -> None:
        self.times.append(t)
        self.midis.append(midi)
        self.levels.append(level)
        self.last_voiced_s = t

    def pitch(self, recent: int | None = None) -> float:
        """The median pitch of the frames after the attack (of the last ``recent`` frames at
        most). The note must hold a frame."""
        n = len(self.midis)
        start = 0
        since = (self.onset_s if self.settle_s is None else self.settle_s) + self.attack_s
        for i, t in enumerate(self.times):
            if t >= since:
                start = i
                break
        else:
            start = n // 2
        if n - start < 3:
            start = max(0, n - 3)
        if recent is not None:
            start = max(start, n - recent)
        return median(self.midis[start:])


def attack_time(
    note: Building,
    points: Sequence[tuple[float, float]],
    onsets: Sequence[float],
    last_end_s: float,
    last_end_level: float,
    last_body_level: float,
    window_s: float,
    params: BoundaryParams,
    clarity: Sequence[tuple[float, float]] = (),
) -> float:
    """Where ``note``'s pitched sound began: the start of the level rise above the background
    (the quieter of ``rise_db`` under the note's peak and ``floor_margin_db`` over the quietest
    recent hop) back to where unpitched sound stops it, moved to an aubio onset when one lies
    close to it. ``points``: recent (time, level dB) hops; ``last_end_s``/``last_end_level``/
    ``last_body_level``: the previous note's last voiced frame, its level there and its median
    level; ``clarity``: recent (time, periodicity) frames."""
    lo = note.first_voiced_s - params.start_lookback_s
    peak = max(note.levels) if note.levels else -60.0
    brk = note.first_voiced_s - last_end_s
    if 0.0 <= brk <= params.rejoin_break_s:
        gap = [lv for lt, lv in points if last_end_s <= lt <= note.first_voiced_s]
        held = max(peak, last_end_level, last_body_level)
        if gap and min(gap) >= held - params.rejoin_drop_db:
            # Voicing broke without the sound falling away: the new note's attack broke
            # it, and that attack already disturbed windows reaching half a window back
            # from the previous note's last clean frame. (A note that faded into the
            # background before the break is not that: its median level is far above.)
            near = [o for o in onsets if last_end_s - 0.05 <= o <= note.first_voiced_s]
            if near:
                return near[0]
            return max(last_end_s - 0.5 * window_s, lo)
    floor = min((lv for lt, lv in points if lt >= lo - 0.1), default=-120.0)
    threshold = max(peak - params.rise_db, floor + params.floor_margin_db)
    rise = note.first_voiced_s
    latency_edge = note.first_voiced_s - 0.5 * window_s
    unpitched = 0
    for lt, lv in reversed(points):
        if lt > note.first_voiced_s:
            continue
        if lt < lo or lv < threshold:
            break
        if lt < latency_edge:
            # The window centred here no longer reaches the first voiced frame's pitch: a hop
            # whose frame is not periodic is sound before the note (a consonant, a breath).
            c = _nearest(clarity, lt)
            if c is not None and c < params.noise_periodicity:
                unpitched += 1
                if unpitched >= 2:
                    break
        rise = lt
    cands = [o for o in onsets if rise - 0.03 <= o <= note.first_voiced_s + 0.02]
    if cands:
        return min(cands, key=lambda o: abs(o - rise))
    return rise


def _nearest(frames: Sequence[tuple[float, float]], t: float) -> float | None:
    """The value of the (time, value) frame nearest ``t``; None when there is none."""
    best: tuple[float, float] | None = None
    for ft, v in frames:
        if best is None or abs(ft - t) < abs(best[0] - t):
            best = (ft, v)
    return None if best is None else best[1]
