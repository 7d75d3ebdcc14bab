"""Causal note tracking: turns a stream of pitch frames and onsets into notes.

The tracker is put together from parts, each with its own parameters (a frozen dataclass whose
fields say what they do):

* :mod:`audio.tracking.levels` -- the level envelope and the background (``LevelParams``);
* :mod:`audio.tracking.boundaries` -- where a note starts and ends, its pitch
  (``BoundaryParams``);
* :mod:`audio.tracking.pitch_split` -- a legato change of pitch is a new note (``SplitParams``);
* :mod:`audio.tracking.reattack` -- a re-articulation is a new note, on the same pitch too
  (``ReattackParams``);
* :mod:`audio.tracking.subharmonics` -- octave and period-multiple errors of the pitch detector
  (``SubharmonicParams``).

:class:`TrackerParams` holds one of each; :class:`NoteTracker` feeds every frame through them.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from audio.tracking.boundaries import BoundaryParams, Building, TrackedNote, attack_time
from audio.tracking.levels import SILENT_DB, LevelHistory, LevelParams, median
from audio.tracking.pitch_split import (
    SplitParams,
    attack_in_change,
    clarity_onset,
    legato_onset,
    release_end,
    settled,
)
from audio.tracking.reattack import ReattackParams, is_reattack, level_dip
from audio.tracking.subharmonics import (
    SubharmonicParams,
    fold,
    is_crossfade_spike,
    is_octave_error,
    is_subharmonic_interval,
)
from audio.tracking.voicing import FrameVoicing, VoicingParams


@dataclass(frozen=True, slots=True)
class TrackerParams:
    """Every parameter of the note tracker, by part."""

    levels: LevelParams = field(default_factory=LevelParams)
    boundaries: BoundaryParams = field(default_factory=BoundaryParams)
    split: SplitParams = field(default_factory=SplitParams)
    reattack: ReattackParams = field(default_factory=ReattackParams)
    subharmonics: SubharmonicParams = field(default_factory=SubharmonicParams)
    voicing: VoicingParams = field(default_factory=VoicingParams)


@dataclass(frozen=True, slots=True)
class TrackerEvent:
    """An onset (``note`` is None) or a finished note, published by :class:`NoteTracker`."""

    onset_s: float
    note: TrackedNote | None


class NoteTracker:
    """Feed frames in time order with :meth:`push`; collect onsets and finished notes.

    hop_s: seconds between frames (> 0). window_s: the pitch detector's window, seconds.
    params: the parts' parameters (the defaults are what Etude uses).
    """

    def __init__(
        self,
        hop_s: float,
        window_s: float = 2048 / 44100,
        params: TrackerParams = TrackerParams(),
    ) -> None:
        self.hop_s = hop_s
        self.window_s = window_s
        self.params = params
        self._lv = params.levels
        self._b = params.boundaries
        self._sp = params.split
        self._ra = params.reattack
        self._sh = params.subharmonics
        self._clarity_keep_s = self._sp.clarity_keep_s
        self._levels_keep_s = max(self._ra.history_s, self._clarity_keep_s)
        self._last_end_s = -1.0
        self._last_end_level = -120.0
        self._last_body_level = -120.0
        self._last_pitch: float | None = None
        # the last voiced frame and median level of the last note finished (emitted or held)
        self._prev_end_s = -1.0
        self._prev_level = SILENT_DB
        self._note: Building | None = None
        self._pending: list[tuple[float, float, float]] = []
        self._anchor: float | None = None
        self._anchor_count = 0
        self._gap_s = 0.0
        self._onsets: deque[float] = deque()
        self._reattacks: list[float] = []
        self._lh = LevelHistory(hop_s, self._levels_keep_s, self._lv)
        self._levels = self._lh.points  # (time, envelope level dB), read by every part
        self._last_dip_s = -1.0
        self._held: Building | None = None
        self._clarity: deque[tuple[float, float]] = deque()
        # (offset s, median level dB) of the notes published over the last phrase_s
        self._phrase: deque[tuple[float, float]] = deque()
        self._voicing = FrameVoicing(params.voicing, hop_s)
        self.frame_midi: float | None = None
        """The pitch the newest frame reports (see :mod:`audio.tracking.voicing`); None:
        unvoiced."""
        self.bridged = 0
        """How many frames just before the newest one, reported without a pitch, lie in a
        break of its note that is now bridged: they report ``bridged_midi``."""
        self.bridged_midi = 0.0

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
        clarity = self._clarity
        clarity.append((t_s, periodicity))
        since = t_s - self._clarity_keep_s
        while clarity[0][0] < since:
            clarity.popleft()
        level_db, rising = self._lh.push(level_t_s, level_db, midi)
        if onset_t_s is None and rising:
            # a dip completes only on a hop that climbs
            onset_t_s = self._level_dip(level_t_s)
        if onset_t_s is not None:
            self._onsets.append(onset_t_s)
            if self._note is not None:
                self._reattacks.append(onset_t_s)
        onsets = self._onsets
        if onsets:
            since = t_s - self._ra.history_s
            while onsets and onsets[0] < since:
                onsets.popleft()

        if self._reattacks:
            self._check_reattacks(t_s, capture_time_s, out)

        note = self._note
        if midi is None:
            if note is not None:
                self._gap_s += self.hop_s
                if self._gap_s >= self._b.end_gap_s:
                    self._flush_pending_into(note)
                    self._finish(capture_time_s, out, hold=True)
        elif note is None:
            self._start(t_s, midi, level_db)
        else:
            self._gap_s = 0.0
            self._continue(note, t_s, midi, level_db, capture_time_s, out)

        note = self._note
        held = self._held
        if held is not None and note is None and t_s - held.last_voiced_s > self._sh.rejoin_s:
            self._release_held(capture_time_s, out)
        if (
            note is not None
            and not note.onset_final
            and t_s - note.first_voiced_s >= self._b.min_note_s
            and not self._merge_held(note)
        ):
            self._release_held(capture_time_s, out)
            note.onset_s = self._attack_time(note)
            note.onset_final = True
        if note is not None and (
            note.onset_final
            and not note.announced
            and note.last_voiced_s - note.onset_s >= self._b.min_note_s
            and not self._in_background(note, t_s)
        ):
            note.announced = True
            out.append(TrackerEvent(note.onset_s, None))
        self.frame_midi = self._frame_pitch(t_s, midi, level_db, periodicity)
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
        self._note = Building(
            onset_s=t_s,
            onset_final=False,
            first_voiced_s=t_s,
            last_voiced_s=t_s,
            attack_s=self._b.attack_s,
            legato=self._legato_from_last(t_s),
        )
        self._note.add(t_s, midi, level_db)
        self._pending = []
        self._anchor = None
        self._anchor_count = 0
        self._gap_s = 0.0
        self._reattacks = []

    def _current_anchor(self, note: Building) -> float:
        n = len(note.midis)
        if self._anchor is None or n - self._anchor_count >= 8 or n < 8:
            # A recent window keeps this O(1) per frame on long notes.
            self._anchor = note.pitch(recent=48)
            self._anchor_count = n
        return self._anchor

    def _continue(
        self,
        note: Building,
        t_s: float,
        midi: float,
        level_db: float,
        capture_time_s: float,
        out: list[TrackerEvent],
    ) -> None:
        anchor = self._current_anchor(note)
        if abs(midi - anchor) <= self._sp.semitones:
            if self._pending:
                self._flush_pending_into(note)
            note.add(t_s, midi, level_db)
            return
        if t_s - note.onset_s < self._b.attack_s:
            # Attack transients wander in pitch; the note's pitch ignores them anyway.
            note.add(t_s, midi, level_db)
            return
        self._pending.append((t_s, midi, level_db))
        span = t_s - self._pending[0][0]
        if span < self._sp.hold_s - 1e-9:
            return
        med = self._tailmedian(t_s, self._sp.hold_s)
        interval = med - anchor
        octave = is_octave_error(interval, self._sh)
        # Octave errors are short: they are folded into the note unless they last.
        hold = self._sp.octave_hold_s if octave else self._sp.hold_s
        if span < hold - 1e-9 or abs(interval) <= self._sp.semitones:
            return
        if settled(self._tail(t_s, hold), self._sp):
            self._split(capture_time_s, out)

    def _tail(self, t_s: float, hold_s: float) -> list[float]:
        return [p[1] for p in self._pending if p[0] >= t_s - hold_s + 1e-9]

    def _tailmedian(self, t_s: float, hold_s: float) -> float:
        return median(self._tail(t_s, hold_s))

    def _flush_pending_into(self, note: Building) -> None:
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
        recent = pending[-1][0] - self._sp.hold_s + 1e-9
        new_pitch = median([p[1] for p in pending if p[0] >= recent])
        pending = [(t, fold(m, new_pitch, self._sh), lv) for t, m, lv in pending]
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
            and pending[0][0] - note.times[k - 1] <= self._sp.legato_lookback_s
            and abs(note.midis[k - 1] - anchor) > self._sp.lean_semitones
            and note.times[k - 1] - note.onset_s > self._b.attack_s
        ):
            k -= 1
        moved = list(zip(note.times[k:], note.midis[k:], note.levels[k:], strict=True))
        if k < len(note.times):
            rest = median(note.midis[:k])
            if self._is_subharmonic_attack(note, rest, new_pitch, note.times[k]):
                self._take_new_pitch(note, moved, pending)
                return
        legato_start = legato_onset(self._onsets, moved[0][0] if moved else pending[0][0], self._sp)
        if self._clarity_onset(legato_start) - note.onset_s < self._b.min_note_s:
            # The change began with the note itself (its onset is the aubio onset the change
            # would start at): the note is the new one, not a note of its own.
            self._take_new_pitch(note, moved, pending)
            return
        # (Only frames before the settled tail: one stray frame there is not a release.)
        before = [p for p in moved + pending if p[0] < recent]
        released = release_end(before, anchor, new_pitch, self.hop_s, self.window_s, self._sp)
        if released is not None:
            # The change began by bending away from the new pitch: that bend is the old
            # note's release, part of neither note, and the new note starts after it.
            pending = [p for p in moved + pending if p[0] > released]
            moved = []
        # An attack while the pitch moved (an aubio onset or a re-attack after the change began
        # and before the new pitch settled: a consonant, a breath, a tongued or bowed start)
        # is where the new note begins; the frames before it are the old note's release.
        changed = moved + pending
        attack = attack_in_change(
            self._onsets,
            self._levels,
            changed[0][0],
            pending[-1][0],
            self.hop_s,
            self._ra.dip_s,
            self._sp,
        )
        if attack is not None:
            left = [
                m
                for t, m, _ in changed
                if t < attack
                and self._sp.semitones < abs(m - anchor) <= self._sp.release_max_semitones
                and abs(m - new_pitch) > self._sp.spread_semitones
            ]
            last = [m for t, m, _ in changed if attack - self._sp.release_s <= t < attack]
            glide_s = self._sp.attack_glide_windows * self.window_s
            if len(left) * self.hop_s < glide_s - 1e-9 or (
                last and all(abs(m - new_pitch) <= self._sp.spread_semitones for m in last)
            ):
                # The pitch had not left the old note (a crossfade), or the new note already
                # sounded steadily before it (an onset reported late): a legato change.
                attack = None
        if attack is not None:
            pending = [p for p in changed if p[0] >= attack - 0.5 * self.hop_s]
            moved = []
        del note.times[k:], note.midis[k:], note.levels[k:]
        if note.times:
            note.last_voiced_s = note.times[-1]
        change_t = moved[0][0] if moved else pending[0][0]
        if attack is not None:
            start_t = onset_t = attack
        elif released is None:
            start_t = legato_onset(self._onsets, change_t, self._sp)
            onset_t = self._clarity_onset(start_t)
        else:
            after = [o for o in self._onsets if released < o <= change_t]
            start_t = onset_t = after[-1] if after else change_t
        if onset_t - note.onset_s < self._b.min_note_s:
            # The change began with the note itself (its onset is the aubio onset the change
            # would start at): the note is the new one, not a note of its own.
            self._take_new_pitch(note, moved, pending)
            return
        self._finish(capture_time_s, out)
        self._note = Building(
            onset_s=onset_t,
            onset_final=True,
            first_voiced_s=start_t,
            last_voiced_s=start_t,
            attack_s=self._b.attack_s,
            settle_s=start_t,
            legato=True,
        )
        self._anchor = None
        self._reattacks = []
        for t, m, lv in moved + pending:
            self._note.add(t, m, lv)

    def _take_new_pitch(
        self,
        note: Building,
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
            if o - note.onset_s < self._ra.min_age_s or not note.onset_final:
                continue
            if self._pending and o >= self._pending[0][0]:
                # The pitch already moved before this dip: the pitch change is the boundary.
                continue
            if is_reattack(o, self._levels, note.levels, self._ra, self._lv):
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
        new = Building(
            onset_s=t_on,
            onset_final=True,
            first_voiced_s=t_on,
            last_voiced_s=t_on,
            attack_s=self._b.attack_s,
        )
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
        if note.last_voiced_s - note.onset_s < self._b.min_note_s:
            return
        self._prev_end_s = note.last_voiced_s
        self._prev_level = median(note.levels)
        if hold and (
            note.last_voiced_s - note.onset_s < self._sh.merge_s or self._may_be_spike(note)
        ):
            # A short note that broke off may be the subharmonic attack of the next one, or a
            # cross-fade's misreading: kept back until the next note's pitch is known (at most
            # rejoin_s + min_note_s).
            self._held = note
            return
        self._emit(note, capture_time_s, out)

    def _release_held(self, capture_time_s: float, out: list[TrackerEvent]) -> None:
        held = self._held
        self._held = None
        if held is not None:
            self._emit(held, capture_time_s, out)

    def _merge_held(self, note: Building) -> bool:
        """Fold a held short note into ``note`` when it lay 12-31 semitones below it."""
        held = self._held
        if held is None or note.first_voiced_s - held.last_voiced_s > self._sh.rejoin_s:
            return False
        interval = note.pitch() - held.pitch()
        if not is_subharmonic_interval(interval, self._sh) and not (
            note.legato and self._is_spike(held, held.pitch(), note.pitch())
        ):
            return False
        note.onset_s = held.onset_s
        note.onset_final = True
        note.announced = held.announced
        self._held = None
        return True

    def _frame_pitch(
        self, t_s: float, midi: float | None, level_db: float, periodicity: float
    ) -> float | None:
        """What the frame reports, and which frames before it are bridged: see
        :mod:`audio.tracking.voicing`."""
        self.bridged = 0
        if midi is None:
            return self._voicing.unvoiced(level_db, periodicity)
        note = self._note
        if (note is None or not note.announced) and self._quiet(level_db, t_s):
            self._voicing.reset()
            return None
        held = self._anchor if self._note is not None and self._anchor is not None else midi
        self.bridged = self._voicing.voiced(midi, held, level_db)
        if self.bridged:
            self.bridged_midi = self._voicing.bridged_pitch
        return midi

    def _in_background(self, note: Building, now_s: float) -> bool:
        """The note is a breath or the room: close to the room's level and well under the
        notes of the phrase (see ``LevelParams.note_over_background_db``)."""
        return self._quiet(median(note.levels), now_s)

    def _quiet(self, level: float, now_s: float) -> bool:
        """A sound at ``level`` dB is a breath or the room (see ``_in_background``)."""
        if level >= self._lh.room_db() + self._lv.note_over_background_db:
            return False
        since = now_s - self._lv.phrase_s
        phrase = [lv for t, lv in self._phrase if t >= since]
        return bool(phrase) and level < median(phrase) - self._lv.under_phrase_db

    def _emit(self, note: Building, capture_time_s: float, out: list[TrackerEvent]) -> None:
        if not note.announced and self._in_background(note, note.last_voiced_s):
            return
        phrase = self._phrase
        while phrase and phrase[0][0] < note.last_voiced_s - self._lv.phrase_s:
            phrase.popleft()
        phrase.append((note.last_voiced_s, median(note.levels)))
        self._last_end_s = note.last_voiced_s
        self._last_end_level = note.levels[-1] if note.levels else -120.0
        self._last_body_level = median(note.levels) if note.levels else -120.0
        self._last_pitch = note.pitch()
        if not note.announced:
            out.append(TrackerEvent(note.onset_s, None))
        out.append(
            TrackerEvent(
                note.onset_s,
                TrackedNote(
                    onset_s=note.onset_s,
                    offset_s=note.last_voiced_s,
                    midi=note.pitch(),
                    level_db=median(note.levels),
                    capture_time_s=capture_time_s,
                ),
            )
        )

    def _level_dip(self, now_s: float) -> float | None:
        note = self._note
        dip = level_dip(
            self._levels,
            now_s,
            note.levels if note is not None else None,
            self._last_dip_s,
            self._b.min_note_s,
            self._ra,
            self._lv,
        )
        if dip is not None:
            self._last_dip_s = dip
        return dip

    def _attack_time(self, note: Building) -> float:
        return attack_time(
            note,
            self._levels,
            self._onsets,
            self._last_end_s,
            self._last_end_level,
            self._last_body_level,
            self.window_s,
            self._b,
            self._clarity,
        )

    def _clarity_onset(self, start_t: float) -> float:
        return clarity_onset(
            start_t,
            self._clarity,
            self._levels,
            self._lh.background_db(),
            self.hop_s,
            self._ra.dip_s,
            self._sp,
        )

    def _is_subharmonic_attack(
        self, note: Building, pitch: float, new_pitch: float, change_t: float
    ) -> bool:
        """A short note 12-31 semitones below the next one is the pitch detector locking onto
        a common period while two notes overlap: it is the next note's attack (so is a
        cross-fade's misreading, see ``SubharmonicParams.spike_s``). How short is counted from
        its first voiced frame (its onset may have been dated back over a break in voicing
        before it)."""
        age = change_t - max(note.onset_s, note.first_voiced_s)
        if age < self._sh.merge_s and is_subharmonic_interval(new_pitch - pitch, self._sh):
            return True
        return change_t - note.onset_s < self._sh.spike_s and self._is_spike(note, pitch, new_pitch)

    def _legato_from_last(self, t_s: float) -> bool:
        """A note whose first voiced frame is at ``t_s`` follows the last note finished
        without the sound falling away (see ``Building.legato``)."""
        if t_s - self._prev_end_s > self._sh.join_s:
            return False
        gap = [lv for lt, lv in self._levels if self._prev_end_s < lt < t_s]
        return not gap or min(gap) >= self._prev_level - self._b.rejoin_drop_db

    def _may_be_spike(self, note: Building) -> bool:
        """``note`` (finished) may be a cross-fade's misreading once the next note's pitch is
        known: short, joined to the note before it, an octave or more away from it."""
        last = self._joined_pitch(note)
        return (
            last is not None
            and note.last_voiced_s - note.onset_s < self._sh.spike_s
            and abs(last - note.pitch()) >= self._sh.spike_semitones
        )

    def _is_spike(self, note: Building, pitch: float, new_pitch: float) -> bool:
        """``note``, at ``pitch`` and joined to the note before it, is a cross-fade's
        misreading between that note and the next one at ``new_pitch``."""
        last = self._joined_pitch(note)
        return last is not None and is_crossfade_spike(last, pitch, new_pitch, self._sh)

    def _joined_pitch(self, note: Building) -> float | None:
        """The pitch of the last note emitted when ``note`` follows it legato, its first voiced
        frame within ``SubharmonicParams.join_s`` of that note's end; None otherwise."""
        if note.legato and note.first_voiced_s - self._last_end_s <= self._sh.join_s:
            return self._last_pitch
        return None
