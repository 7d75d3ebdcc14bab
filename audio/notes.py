"""Causal note tracking: turns a stream of pitch frames and onsets into notes.

Rules (all times in seconds, pitches in fractional MIDI; the constants are below):

* A note starts when frames become voiced. Its onset is the start of the level rise that led
  to it -- the earliest hop, at most ``START_LOOKBACK_S`` (0.1 s) before the first voiced frame,
  still above the quieter of ``RISE_DB`` (25 dB) under the note's peak and ``FLOOR_MARGIN_DB``
  (6 dB) over the background -- moved to an aubio onset when one lies within 30 ms before it.
* When voicing broke for at most ``REJOIN_BREAK_S`` (0.15 s) without the level falling
  ``REJOIN_DROP_DB`` (12 dB) under the notes -- the new one, the previous one's end and its
  median level -- (a legato change that scrambled the pitch detector), the new note began at an
  aubio onset in that break, else half a window before the previous note's last voiced frame.
* A note ends after ``END_GAP_S`` (35 ms) of unvoiced frames; its offset is its last voiced
  frame.
* Legato split: when frames more than ``SPLIT_SEMITONES`` (0.7) from the note's pitch have lasted
  ``SPLIT_HOLD_S`` (45 ms) and three quarters of the recent ones agree within
  ``SPLIT_SPREAD_SEMITONES`` (0.45), a new note starts where the crossfade began (the run of
  frames just before that already moved more than ``LEAN_SEMITONES`` off the old pitch, in
  either direction, at most 0.1 s back; or an aubio onset up to 0.1 s earlier). When that
  start lies within ``MIN_NOTE_S`` of the note's own onset (a scoop or glide into the note),
  the note keeps its onset and takes the new pitch instead. Vibrato (a swing around the pitch)
  and slides (frames that do not settle) never hold still long enough to split.
  A new note can sound under the old one before it outsounds it (a slow bow or breath attack
  under a ringing release): the frames keep the old pitch, but the old note's periodicity falls
  as the second pitch enters the window. When the periodicity at the split's start lies
  ``CLARITY_CHANGE`` (0.05) or more under the old note's best over 0.1 s ending
  ``CLARITY_LOOKBACK_S`` (0.2 s) before, the new note starts at the last frame, within those
  0.2 s, still within ``CLARITY_DROP`` (0.02) of that best -- unless the level climbs
  ``ATTACK_RISE_DB`` (9 dB) there (the new note's own attack marks it) or that frame lies less
  than ``ABOVE_FLOOR_DB`` (10 dB) over the quietest hop of the last ``FLOOR_SPAN_S`` (5 s)
  (a tail sinking into background noise loses periodicity too).
* Octave jumps (±12, ±19, ±24 semitones: the pitch detector's harmonic errors) are folded back
  into the note unless they last ``OCTAVE_HOLD_S`` (0.12 s). A note younger than
  ``SUBHARMONIC_MERGE_S`` (0.15 s) that turns out to be 12-31 semitones below the next pitch
  (reached by a split, or after a break of at most ``REJOIN_S``, 0.1 s) is the next note's
  attack and takes its pitch; frames of a change that lie 2-6 periods too low are folded up.
* Repeated notes: an onset inside a note (from aubio, or a V-shaped level dip of ``DIP_DB``,
  9 dB, within ``DIP_S``, 50 ms) splits the note when the level climbs ``REATTACK_DB`` (7.5 dB)
  within 40 ms from its bottom around the onset (the quietest hop, or on a flat floor such as a
  tail resting on background noise, the floor's last hop within ``FLOOR_FLUTTER_DB``, 1.5 dB,
  of the quietest) and that bottom lies at least ``REATTACK_DEPTH_DB`` (6 dB) under the median
  level over the 0.2 s that end ``DIP_S`` before the onset, even without a pitch change.
  (Ensemble swells climb as fast but dip only a few dB.)
  A note that has faded ``CLIMB_DB`` (15 dB) under its own peak is re-attacked, dip or not,
  when the level climbs that much again out of a flat stretch (a repeat after a long fade).
  Re-attacks count only once a note is ``REATTACK_MIN_AGE_S`` (0.12 s) old (a sung attack can
  swell twice), and not after the pitch has already begun to move (then the pitch change is
  the boundary).
* The level rules read an envelope, the mean hop energy over one period of the sounding pitch
  (1 to ``ENVELOPE_MAX_HOPS`` hops), so a low note's hop-to-hop flutter is not a dip.
* Notes shorter than ``MIN_NOTE_S`` (60 ms) are dropped: they are attack noise or release
  tails. An onset is published once its note has lasted that long.
* A note's pitch is the median of its frames after the first ``ATTACK_S`` (40 ms), counted from
  where its frames changed pitch when the periodicity rule dated its onset earlier; its level is
  the median hop level.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

MIN_NOTE_S = 0.06
END_GAP_S = 0.035
SPLIT_SEMITONES = 0.7
SPLIT_SPREAD_SEMITONES = 0.45
SPLIT_HOLD_S = 0.045
SETTLED_SHARE = 0.75
SUBHARMONIC_MERGE_S = 0.15
LEGATO_LOOKBACK_S = 0.1
REJOIN_S = 0.1
REJOIN_BREAK_S = 0.15
REJOIN_DROP_DB = 12.0
SUBHARMONIC_INTERVALS = (12, 19, 24, 28, 31)
# exact intervals of periods 2..6 times too long
SUBHARMONIC_SEMITONES = tuple(12.0 * math.log2(n) for n in range(2, 7))
LEAN_SEMITONES = 0.1
OCTAVE_HOLD_S = 0.12
ATTACK_S = 0.04
START_LOOKBACK_S = 0.1
RISE_DB = 25.0
FLOOR_MARGIN_DB = 6.0
REATTACK_DB = 7.5
REATTACK_MIN_AGE_S = 0.12
HISTORY_S = 0.3
DIP_DB = 9.0
DIP_S = 0.05
ENVELOPE_MAX_HOPS = 3
REATTACK_DEPTH_DB = 6.0
REATTACK_BEFORE_S = 0.25
CLIMB_DB = 15.0
FLOOR_FLUTTER_DB = 1.5
CLARITY_LOOKBACK_S = 0.2
CLARITY_DROP = 0.02
CLARITY_CHANGE = 0.05
CLARITY_PLATEAU_S = 0.1
ATTACK_RISE_DB = 9.0
ABOVE_FLOOR_DB = 10.0
FLOOR_SPAN_S = 5.0
FLOOR_BLOCK_S = 0.1
SILENT_DB = -120.0
# The periodicity rule reads CLARITY_LOOKBACK_S + CLARITY_PLATEAU_S before a start that a split
# dates up to LEGATO_LOOKBACK_S + OCTAVE_HOLD_S (and a few hops) back.
CLARITY_KEEP_S = CLARITY_LOOKBACK_S + CLARITY_PLATEAU_S + LEGATO_LOOKBACK_S + OCTAVE_HOLD_S + 0.05
LEVELS_KEEP_S = max(HISTORY_S, CLARITY_KEEP_S)


def _median(values: Sequence[float]) -> float:
    """Median of a non-empty sequence; sorting in Python beats numpy for the short lists here."""
    v = sorted(values)
    n = len(v)
    mid = n // 2
    return float(v[mid]) if n % 2 else 0.5 * (v[mid - 1] + v[mid])


def _floor_end(levels: Sequence[tuple[float, float]]) -> int:
    """Index of the bottom of a stretch of (time, level dB) points from which a re-attack's
    climb is measured: the quietest one, moved on through the points after it that stay within
    ``FLOOR_FLUTTER_DB`` of it. On a flat floor (a tail faded into background noise) the climb
    starts where the floor ends, not at whichever of its hops happened to be quietest."""
    j = min(range(len(levels)), key=lambda k: levels[k][1])
    bottom = levels[j][1]
    while j + 1 < len(levels) and levels[j + 1][1] <= bottom + FLOOR_FLUTTER_DB:
        j += 1
    return j


def _fold_subharmonic(midi: float, target: float) -> float:
    """A frame 2-6 periods too long (12, 19, 24, 28 or 31 semitones under ``target``) is
    raised to the pitch it is a subharmonic of."""
    for k in SUBHARMONIC_SEMITONES:
        if abs(target - midi - k) < SPLIT_SEMITONES:
            return midi + k
    return midi


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
class _Building:
    onset_s: float
    onset_final: bool
    first_voiced_s: float
    last_voiced_s: float
    times: list[float] = field(default_factory=list)
    midis: list[float] = field(default_factory=list)
    levels: list[float] = field(default_factory=list)
    announced: bool = False
    # Where the note's pitch frames begin to count (plus ATTACK_S): its onset, unless the onset
    # was dated back under the previous note's sound, whose frames still hold the old pitch.
    settle_s: float | None = None

    def add(self, t: float, midi: float, level: float) -> None:
        self.times.append(t)
        self.midis.append(midi)
        self.levels.append(level)
        self.last_voiced_s = t

    def pitch(self, recent: int | None = None) -> float:
        n = len(self.midis)
        start = 0
        for i, t in enumerate(self.times):
            if t >= (self.onset_s if self.settle_s is None else self.settle_s) + ATTACK_S:
                start = i
                break
        else:
            start = n // 2
        if n - start < 3:
            start = max(0, n - 3)
        if recent is not None:
            start = max(start, n - recent)
        return _median(self.midis[start:])


@dataclass(frozen=True, slots=True)
class TrackerEvent:
    """An onset (``note`` is None) or a finished note, published by :class:`NoteTracker`."""

    onset_s: float
    note: TrackedNote | None


class NoteTracker:
    """Feed frames in time order with :meth:`push`; collect onsets and finished notes.

    hop_s: seconds between frames (> 0).
    """

    def __init__(self, hop_s: float, window_s: float = 2048 / 44100) -> None:
        self.hop_s = hop_s
        self.window_s = window_s
        self._last_end_s = -1.0
        self._last_end_level = -120.0
        self._last_body_level = -120.0
        self._note: _Building | None = None
        self._pending: list[tuple[float, float, float]] = []
        self._anchor: float | None = None
        self._anchor_count = 0
        self._gap_s = 0.0
        self._onsets: deque[float] = deque()
        self._reattacks: list[float] = []
        self._levels: deque[tuple[float, float]] = deque()
        self._last_dip_s = -1.0
        self._held: _Building | None = None
        self._energies: deque[float] = deque()
        self._env_hops = 1
        self._clarity: deque[tuple[float, float]] = deque()
        # (block number, quietest hop level in it) for the last FLOOR_SPAN_S seconds
        self._floor_blocks: deque[tuple[int, float]] = deque()

    def push(
        self,
        t_s: float,
        midi: float | None,
        level_db: float,
        level_t_s: float,
        onset_t_s: float | None,
        capture_time_s: float,
        periodicity: float = 1.0,
    ) -> list[TrackerEvent]:
        """Take one frame; return onsets confirmed and notes finished by it.

        t_s: frame centre, seconds. midi: fractional MIDI pitch, None when unvoiced.
        level_db: hop level in dBFS at ``level_t_s`` seconds. onset_t_s: time of an aubio onset
        reported with this frame, seconds, or None. periodicity: the frame's normalised
        autocorrelation at its period, 0..1 (1, the default, disables the periodicity rule).
        """
        out: list[TrackerEvent] = []
        if midi is not None and not math.isfinite(midi):
            midi = None  # a pitch detector's NaN or infinity is no pitch
        if not math.isfinite(level_db):
            level_db = SILENT_DB if level_db < 0 or math.isnan(level_db) else 0.0
        if not math.isfinite(periodicity):
            periodicity = 0.0
        self._clarity.append((t_s, periodicity))
        while self._clarity[0][0] < t_s - CLARITY_KEEP_S:
            self._clarity.popleft()
        self._track_floor(level_t_s, level_db)
        # The level rules read an envelope: the mean energy over the hops that span one period
        # of the sounding pitch (1..ENVELOPE_MAX_HOPS). A single hop of a low note is shorter
        # than its period, so its RMS flutters with the waveform (9 dB hop to hop on a 92 Hz
        # cello), which the dip rule took for re-attacks; higher notes keep one-hop detail.
        if midi is not None:
            period_s = 1.0 / (440.0 * 2.0 ** ((midi - 69.0) / 12.0))
            self._env_hops = min(ENVELOPE_MAX_HOPS, max(1, math.ceil(period_s / self.hop_s)))
        self._energies.append(10.0 ** (level_db / 10.0))
        if len(self._energies) > ENVELOPE_MAX_HOPS:
            self._energies.popleft()
        if self._env_hops > 1:
            span = list(self._energies)[-self._env_hops :]
            energy = sum(span) / len(span)
            level_db = 10.0 * math.log10(energy) if energy > 1e-12 else level_db
        rising = bool(self._levels) and level_db > self._levels[-1][1]
        self._levels.append((level_t_s, level_db))
        while self._levels and self._levels[0][0] < level_t_s - LEVELS_KEEP_S:
            self._levels.popleft()
        if onset_t_s is None and rising:
            # a dip completes only on a hop that climbs
            onset_t_s = self._level_dip(level_t_s)
        if onset_t_s is not None:
            self._onsets.append(onset_t_s)
            if self._note is not None:
                self._reattacks.append(onset_t_s)
        while self._onsets and self._onsets[0] < t_s - HISTORY_S:
            self._onsets.popleft()

        self._check_reattacks(t_s, capture_time_s, out)

        note = self._note
        if midi is None:
            if note is not None:
                self._gap_s += self.hop_s
                if self._gap_s >= END_GAP_S:
                    self._flush_pending_into(note)
                    self._finish(capture_time_s, out, hold=True)
        elif note is None:
            self._start(t_s, midi, level_db)
        else:
            self._gap_s = 0.0
            self._continue(note, t_s, midi, level_db, capture_time_s, out)

        note = self._note
        held = self._held
        if held is not None and note is None and t_s - held.last_voiced_s > REJOIN_S:
            self._release_held(capture_time_s, out)
        if (
            note is not None
            and not note.onset_final
            and t_s - note.first_voiced_s >= MIN_NOTE_S
            and not self._merge_held(note)
        ):
            self._release_held(capture_time_s, out)
            note.onset_s = self._attack_time(note)
            note.onset_final = True
        if note is not None and (
            note.onset_final
            and not note.announced
            and note.last_voiced_s - note.onset_s >= MIN_NOTE_S
        ):
            note.announced = True
            out.append(TrackerEvent(note.onset_s, None))
        return out

    def finish(self, capture_time_s: float) -> list[TrackerEvent]:
        """End of stream: finish the current note, if any."""
        out: list[TrackerEvent] = []
        if self._note is not None and not self._note.onset_final:
            self._merge_held(self._note)
        self._release_held(capture_time_s, out)
        if self._note is not None:
            self._flush_pending_into(self._note)
            if not self._note.onset_final:
                self._note.onset_s = self._attack_time(self._note)
            self._finish(capture_time_s, out)
        return out

    # -- internals ----------------------------------------------------------------------

    def _start(self, t_s: float, midi: float, level_db: float) -> None:
        self._note = _Building(
            onset_s=t_s, onset_final=False, first_voiced_s=t_s, last_voiced_s=t_s
        )
        self._note.add(t_s, midi, level_db)
        self._pending = []
        self._anchor = None
        self._anchor_count = 0
        self._gap_s = 0.0
        self._reattacks = []

    def _level_dip(self, now_s: float) -> float | None:
        """A V-shaped dip in level (down and back up by ``DIP_DB`` within ``DIP_S``) is a
        re-attack that the spectral onset detector can miss when the notes are identical."""
        recent: list[tuple[float, float]] = []
        for item in reversed(self._levels):
            if item[0] < now_s - DIP_S:
                break
            recent.append(item)
        recent.reverse()
        if len(recent) < 3:
            return None
        j = min(range(len(recent)), key=lambda k: recent[k][1])
        if j == len(recent) - 1:
            return None
        bottom_t, bottom = recent[j]
        climb = recent[-1][1] - bottom
        note = self._note
        if note is not None and self._climbs_out_of_fade(note, bottom, climb):
            # Out of a faded tail the climb starts where its floor ends.
            bottom_t = recent[_floor_end(recent)][0]
        else:
            if j == 0:
                return None
            before = max(lv for _, lv in recent[:j])
            if before - bottom < DIP_DB or climb < DIP_DB:
                return None
        if bottom_t - self._last_dip_s < MIN_NOTE_S:
            return None
        self._last_dip_s = bottom_t
        return bottom_t

    @staticmethod
    def _climbs_out_of_fade(note: _Building, bottom_db: float, climb_db: float) -> bool:
        """The level climbs ``CLIMB_DB`` from ``bottom_db`` after ``note`` had faded that far
        under its own peak: a repeat after a long fade, which needs no V-shaped dip."""
        return (
            climb_db >= CLIMB_DB and bool(note.levels) and max(note.levels) - bottom_db >= CLIMB_DB
        )

    def _attack_time(self, note: _Building) -> float:
        """Where the note's sound began: the start of the level rise above the background
        (the quieter of 25 dB under the note's peak and 6 dB over the quietest recent hop),
        moved to an aubio onset when one lies close to it."""
        lo = note.first_voiced_s - START_LOOKBACK_S
        peak = max(note.levels) if note.levels else -60.0
        brk = note.first_voiced_s - self._last_end_s
        if 0.0 <= brk <= REJOIN_BREAK_S:
            gap = [lv for lt, lv in self._levels if self._last_end_s <= lt <= note.first_voiced_s]
            held = max(peak, self._last_end_level, self._last_body_level)
            if gap and min(gap) >= held - REJOIN_DROP_DB:
                # Voicing broke without the sound falling away: the new note's attack broke
                # it, and that attack already disturbed windows reaching half a window back
                # from the previous note's last clean frame. (A note that faded into the
                # background before the break is not that: its median level is far above.)
                near = [
                    o for o in self._onsets if self._last_end_s - 0.05 <= o <= note.first_voiced_s
                ]
                if near:
                    return near[0]
                return max(self._last_end_s - 0.5 * self.window_s, lo)
        floor = min((lv for lt, lv in self._levels if lt >= lo - 0.1), default=-120.0)
        threshold = max(peak - RISE_DB, floor + FLOOR_MARGIN_DB)
        rise = note.first_voiced_s
        for lt, lv in reversed(self._levels):
            if lt > note.first_voiced_s:
                continue
            if lt < lo or lv < threshold:
                break
            rise = lt
        cands = [o for o in self._onsets if rise - 0.03 <= o <= note.first_voiced_s + 0.02]
        if cands:
            return min(cands, key=lambda o: abs(o - rise))
        return rise

    def _current_anchor(self, note: _Building) -> float:
        n = len(note.midis)
        if self._anchor is None or n - self._anchor_count >= 8 or n < 8:
            # A recent window keeps this O(1) per frame on long notes.
            self._anchor = note.pitch(recent=48)
            self._anchor_count = n
        return self._anchor

    def _continue(
        self,
        note: _Building,
        t_s: float,
        midi: float,
        level_db: float,
        capture_time_s: float,
        out: list[TrackerEvent],
    ) -> None:
        anchor = self._current_anchor(note)
        if abs(midi - anchor) <= SPLIT_SEMITONES:
            self._flush_pending_into(note)
            note.add(t_s, midi, level_db)
            return
        if t_s - note.onset_s < ATTACK_S:
            # Attack transients wander in pitch; the note's pitch ignores them anyway.
            note.add(t_s, midi, level_db)
            return
        self._pending.append((t_s, midi, level_db))
        span = t_s - self._pending[0][0]
        if span < SPLIT_HOLD_S - 1e-9:
            return
        med = self._tail_median(t_s, SPLIT_HOLD_S)
        interval = med - anchor
        octave = any(abs(interval - k) < SPLIT_SEMITONES for k in (12, -12, 19, -19, 24, -24))
        # Octave errors are short: they are folded into the note unless they last.
        hold = OCTAVE_HOLD_S if octave else SPLIT_HOLD_S
        if span < hold - 1e-9 or abs(interval) <= SPLIT_SEMITONES:
            return
        if self._settled(t_s, hold):
            self._split(capture_time_s, out)

    def _tail(self, t_s: float, hold_s: float) -> list[float]:
        return [p[1] for p in self._pending if p[0] >= t_s - hold_s + 1e-9]

    def _tail_median(self, t_s: float, hold_s: float) -> float:
        return _median(self._tail(t_s, hold_s))

    def _settled(self, t_s: float, hold_s: float) -> bool:
        """Most of the recent deviating frames agree on one pitch (not a slide or vibrato)."""
        tail = self._tail(t_s, hold_s)
        med = _median(tail)
        close = sum(1 for m in tail if abs(m - med) <= SPLIT_SPREAD_SEMITONES)
        return close >= SETTLED_SHARE * len(tail)

    def _flush_pending_into(self, note: _Building) -> None:
        anchor = self._anchor if self._anchor is not None else note.pitch()
        for t, m, lv in self._pending:
            k = 12.0 * round((m - anchor) / 12.0)
            note.add(t, m - k, lv)
        self._pending = []

    def _split(self, capture_time_s: float, out: list[TrackerEvent]) -> None:
        pending = self._pending
        self._pending = []
        note = self._note
        assert note is not None
        # The pitch the recent frames settled on (the settle check's own window).
        recent = pending[-1][0] - SPLIT_HOLD_S + 1e-9
        new_pitch = _median([p[1] for p in pending if p[0] >= recent])
        pending = [(t, _fold_subharmonic(m, new_pitch), lv) for t, m, lv in pending]
        if self._is_subharmonic_attack(note, note.pitch(), new_pitch, pending[0][0]):
            self._take_new_pitch(note, [], pending)
            return
        # The frames just before the change that already moved off the old pitch are the
        # crossfade: the new note began with the first of them. They may move either way (a
        # player's finger or bow disturbs the old note before the new one sounds, and a
        # window holding both notes can read between or beside them).
        anchor = self._anchor if self._anchor is not None else note.pitch()
        k = len(note.times)
        while (
            k > 1
            and pending[0][0] - note.times[k - 1] <= LEGATO_LOOKBACK_S
            and abs(note.midis[k - 1] - anchor) > LEAN_SEMITONES
            and note.times[k - 1] - note.onset_s > ATTACK_S
        ):
            k -= 1
        moved = list(zip(note.times[k:], note.midis[k:], note.levels[k:], strict=True))
        if k < len(note.times):
            rest = _median(note.midis[:k])
            if self._is_subharmonic_attack(note, rest, new_pitch, note.times[k]):
                self._take_new_pitch(note, moved, pending)
                return
        del note.times[k:], note.midis[k:], note.levels[k:]
        if note.times:
            note.last_voiced_s = note.times[-1]
        change_t = moved[0][0] if moved else pending[0][0]
        start_t = self._legato_onset(change_t)
        onset_t = self._clarity_onset(start_t)
        if onset_t - note.onset_s < MIN_NOTE_S:
            # The change began with the note itself (its onset is the aubio onset the change
            # would start at): the note is the new one, not a note of its own.
            self._take_new_pitch(note, moved, pending)
            return
        self._finish(capture_time_s, out)
        self._note = _Building(
            onset_s=onset_t,
            onset_final=True,
            first_voiced_s=start_t,
            last_voiced_s=start_t,
            settle_s=start_t,
        )
        self._anchor = None
        self._reattacks = []
        for t, m, lv in moved + pending:
            self._note.add(t, m, lv)

    @staticmethod
    def _is_subharmonic_attack(
        note: _Building, pitch: float, new_pitch: float, change_t: float
    ) -> bool:
        """A short note 12-31 semitones below the next one is the pitch detector locking onto
        a common period while two notes overlap: it is the next note's attack."""
        if change_t - note.onset_s >= SUBHARMONIC_MERGE_S:
            return False
        interval = new_pitch - pitch
        return any(abs(interval - k) < SPLIT_SEMITONES for k in SUBHARMONIC_INTERVALS)

    def _take_new_pitch(
        self,
        note: _Building,
        moved: list[tuple[float, float, float]],
        pending: list[tuple[float, float, float]],
    ) -> None:
        """The note keeps its onset and continues with only the frames of the new pitch."""
        note.times.clear()
        note.midis.clear()
        note.levels.clear()
        for t, m, lv in moved + pending:
            note.add(t, m, lv)
        self._anchor = None

    def _legato_onset(self, change_t: float) -> float:
        """An aubio onset shortly before the pitch change marks the change more precisely."""
        cands = [o for o in self._onsets if change_t - LEGATO_LOOKBACK_S <= o <= change_t]
        return cands[-1] if cands else change_t

    def _track_floor(self, t_s: float, level_db: float) -> None:
        """Keep the quietest hop level of each ``FLOOR_BLOCK_S`` block over ``FLOOR_SPAN_S``."""
        block = int(t_s / FLOOR_BLOCK_S)
        blocks = self._floor_blocks
        if blocks and blocks[-1][0] == block:
            if level_db < blocks[-1][1]:
                blocks[-1] = (block, level_db)
            return
        blocks.append((block, level_db))
        if len(blocks) > FLOOR_SPAN_S / FLOOR_BLOCK_S:
            blocks.popleft()

    def _clarity_onset(self, start_t: float) -> float:
        """A legato change's start moved back to where the old note's periodicity began to
        fall, when a second pitch entered under it (see the module notes); else ``start_t``."""
        edge = start_t - CLARITY_LOOKBACK_S
        frames = [(t, c) for t, c in self._clarity if edge - CLARITY_PLATEAU_S <= t <= start_t]
        plateau = [c for t, c in frames if t <= edge]
        if len(plateau) < 0.5 * CLARITY_PLATEAU_S / self.hop_s:
            return start_t
        best = max(plateau)
        if frames[-1][1] > best - CLARITY_CHANGE:
            return start_t
        j = len(frames) - 1
        while frames[j][1] < best - CLARITY_DROP:
            j -= 1
            if frames[j][0] <= edge:
                return start_t  # it fell earlier than the window reaches: no clear start
        began = frames[j][0]
        before = [lv for lt, lv in self._levels if start_t - DIP_S - 0.01 <= lt <= start_t]
        after = [lv for lt, lv in self._levels if start_t - 0.01 <= lt <= start_t + 0.04]
        if before and after and max(after) - min(before) >= ATTACK_RISE_DB:
            return start_t
        at = [lv for lt, lv in self._levels if lt <= began]
        floor = min(lv for _, lv in self._floor_blocks)
        if not at or at[-1] < floor + ABOVE_FLOOR_DB:
            return start_t
        return began

    def _check_reattacks(self, t_s: float, capture_time_s: float, out: list[TrackerEvent]) -> None:
        note = self._note
        if note is None or not self._reattacks:
            self._reattacks = []
            return
        keep: list[float] = []
        for o in self._reattacks:
            if t_s < o + 0.04:
                keep.append(o)
                continue
            if o - note.onset_s < REATTACK_MIN_AGE_S or not note.onset_final:
                continue
            if self._pending and o >= self._pending[0][0]:
                # The pitch already moved before this dip: the pitch change is the boundary.
                continue
            # The level must climb from its lowest point around the onset (which can sit a
            # hop after the reported time) within 40 ms: a re-attack, not a fade or a drop.
            around = [(lt, lv) for lt, lv in self._levels if o - 0.05 <= lt < o + 0.012]
            if not around:
                continue
            bottom_t, bottom = around[_floor_end(around)]
            after = [lv for lt, lv in self._levels if bottom_t < lt <= bottom_t + 0.04]
            # The dip must also reach REATTACK_DEPTH_DB under the level the note held before
            # it: voices of an ensemble (choir, string section) beat by a few dB several
            # times a second, and those swells are not new notes.
            before = [lv for lt, lv in self._levels if o - REATTACK_BEFORE_S <= lt < o - DIP_S]
            if before and _median(before) - bottom < REATTACK_DEPTH_DB:
                # Too shallow for a dip; still a re-attack when the level climbs out of a flat
                # stretch of a faded note (a dip that came out of an attack is not that).
                climbed = max(after) - bottom if after else 0.0
                lead = [lv for lt, lv in self._levels if bottom_t - DIP_S <= lt < bottom_t]
                flat = not lead or max(lead) - bottom < DIP_DB
                if not (flat and self._climbs_out_of_fade(note, bottom, climbed)):
                    continue
            if after and max(after) - bottom >= REATTACK_DB:
                self._split_at(o, capture_time_s, out)
                note = self._note
                if note is None:
                    break
        self._reattacks = keep

    def _split_at(self, t_on: float, capture_time_s: float, out: list[TrackerEvent]) -> None:
        note = self._note
        assert note is not None
        self._flush_pending_into(note)
        idx = next((i for i, t in enumerate(note.times) if t >= t_on), len(note.times))
        times, midis, levels = note.times[idx:], note.midis[idx:], note.levels[idx:]
        del note.times[idx:], note.midis[idx:], note.levels[idx:]
        if note.times:
            note.last_voiced_s = note.times[-1]
            self._finish(capture_time_s, out)
        self._note = None
        self._anchor = None
        if not times:
            # No voiced frame followed the re-attack yet (the note was already breaking off:
            # with long hops, at 16 or 22.05 kHz, the re-attack is confirmed inside the
            # closing gap). A note without frames has no pitch: the next voiced frame starts
            # a note of its own, dated by its own rise.
            return
        new = _Building(onset_s=t_on, onset_final=True, first_voiced_s=t_on, last_voiced_s=t_on)
        for t, m, lv in zip(times, midis, levels, strict=True):
            new.add(t, m, lv)
        self._note = new

    def _finish(self, capture_time_s: float, out: list[TrackerEvent], hold: bool = False) -> None:
        note = self._note
        self._note = None
        self._gap_s = 0.0
        self._anchor = None
        if note is None or not note.midis:
            return
        self._release_held(capture_time_s, out)
        if note.last_voiced_s - note.onset_s < MIN_NOTE_S:
            return
        if hold and note.last_voiced_s - note.onset_s < SUBHARMONIC_MERGE_S:
            # A short note that broke off may be the subharmonic attack of the next one:
            # kept back until the next note's pitch is known (at most REJOIN_S + MIN_NOTE_S).
            self._held = note
            return
        self._emit(note, capture_time_s, out)

    def _release_held(self, capture_time_s: float, out: list[TrackerEvent]) -> None:
        held = self._held
        self._held = None
        if held is not None:
            self._emit(held, capture_time_s, out)

    def _merge_held(self, note: _Building) -> bool:
        """Fold a held short note into ``note`` when it lay 12-31 semitones below it."""
        held = self._held
        if held is None or note.first_voiced_s - held.last_voiced_s > REJOIN_S:
            return False
        interval = note.pitch() - held.pitch()
        if not any(abs(interval - k) < SPLIT_SEMITONES for k in SUBHARMONIC_INTERVALS):
            return False
        note.onset_s = held.onset_s
        note.onset_final = True
        note.announced = held.announced
        self._held = None
        return True

    def _emit(self, note: _Building, capture_time_s: float, out: list[TrackerEvent]) -> None:
        self._last_end_s = note.last_voiced_s
        self._last_end_level = note.levels[-1] if note.levels else -120.0
        self._last_body_level = _median(note.levels) if note.levels else -120.0
        if not note.announced:
            out.append(TrackerEvent(note.onset_s, None))
        out.append(
            TrackerEvent(
                note.onset_s,
                TrackedNote(
                    onset_s=note.onset_s,
                    offset_s=note.last_voiced_s,
                    midi=note.pitch(),
                    level_db=_median(note.levels),
                    capture_time_s=capture_time_s,
                ),
            )
        )
