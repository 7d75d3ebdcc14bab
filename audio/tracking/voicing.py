"""What each frame reports: the frame output's pitch (the contour a student sees, and what raw
pitch accuracy and voicing are measured on), decided beside the notes from the same evidence.

* **Silence is silence.** A pitched frame outside the notes (no note sounds, or the note it
  would belong to has not been heard yet) whose level lies near the room's level and far under
  the notes of the phrase is a breath or the room, as a note there is
  (``LevelParams.note_over_background_db`` and ``under_phrase_db``): it reports no pitch. A
  note already heard keeps its frames down to its end (a tail sinking into the room's noise is
  still the note).
* **No dropouts.** A short break in voicing inside a held note (the periodicity fell under the
  threshold where the voice roughened or the level dipped a few dB) is bridged once the note
  goes on: when voicing returns within ``bridge_s`` on the held pitch, and the level stayed
  within ``bridge_db`` of the note all through the break, the frames of the break report
  the note's pitch. The frames are published live as they were measured (without a pitch);
  the frame track kept for the take is amended when the break closes, at most ``bridge_s``
  later. Where the sound stops, a consonant cuts it or the pitch moves on, nothing is bridged.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from audio.tracking.levels import median


@dataclass(frozen=True, slots=True)
class VoicingParams:
    """Which frames report a pitch."""

    bridge_s: float = 0.09
    """A break in voicing at most this long inside a note is bridged ..."""
    bridge_db: float = 6.0
    """... when the level stays within this much of the note's recent level ..."""
    bridge_semitones: float = 0.7
    """... and voicing returns this close to the held pitch."""
    hold_periodicity: float = 0.4
    """The first frames of such a break report the held pitch at once (live too) while they
    keep at least this periodicity: the same voice, roughened (a consonant or the end of the
    note falls further)."""
    recent_frames: int = 8
    """The note's recent level: the median level of its last this many voiced frames."""


class FrameVoicing:
    """Decides, frame by frame, which frames report a pitch and which breaks are bridged."""

    def __init__(self, params: VoicingParams, hop_s: float) -> None:
        self.params = params
        self._max_gap = round(params.bridge_s / hop_s)
        self._held_pitch: float | None = None
        self._levels: deque[float] = deque(maxlen=params.recent_frames)
        self._gap = 0
        self._now_gap = 0  # frames of the break that already reported the held pitch
        self._gap_held = True
        self.bridged_pitch = 0.0
        """The pitch the frames bridged by the last :meth:`voiced` report."""

    def voiced(self, midi: float, held_pitch: float, level_db: float) -> int:
        """A frame reporting ``midi``; ``held_pitch`` is its note's pitch. Returns how many
        frames just before it (frames without a pitch) are bridged, with
        :attr:`bridged_pitch`."""
        bridged = 0
        if (
            self._held_pitch is not None
            and self._now_gap < self._gap <= self._max_gap
            and self._gap_held
            and abs(midi - self._held_pitch) <= self.params.bridge_semitones
        ):
            bridged = self._gap - self._now_gap
            self.bridged_pitch = self._held_pitch
        self._held_pitch = held_pitch
        self._levels.append(level_db)
        self._gap = 0
        self._now_gap = 0
        self._gap_held = True
        return bridged

    def unvoiced(self, level_db: float, periodicity: float) -> float | None:
        """A frame without a pitch (part of a break that may be bridged). Returns the held
        pitch when the frame reports it at once: still ``hold_periodicity`` periodic, at the
        note's level, within ``bridge_s`` of the last voiced frame."""
        if self._held_pitch is None:
            return None
        self._gap += 1
        if self._gap > self._max_gap:
            self.reset()
            return None
        if abs(level_db - median(self._levels)) > self.params.bridge_db:
            self._gap_held = False
        if (
            self._gap_held
            and self._gap == self._now_gap + 1
            and periodicity >= self.params.hold_periodicity
        ):
            self._now_gap = self._gap
            return self._held_pitch
        return None

    def reset(self) -> None:
        """Nothing is held (the note is over, or the frame is background)."""
        self._held_pitch = None
        self._levels.clear()
        self._gap = 0
        self._now_gap = 0
        self._gap_held = True
