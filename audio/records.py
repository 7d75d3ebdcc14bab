"""Frozen records the analysis worker publishes; they cross thread boundaries unchanged.

Times are seconds. ``t_s``/``onset_s``/``offset_s`` are the moment the sound happened, measured
from the start of the stream (the analysis delay already corrected). ``capture_time_s`` is the
``time.perf_counter()`` reading when the block holding that audio reached the callback (live), or
when the block was fed (file), so ``perf_counter() - capture_time_s`` is the latency to the outbox.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True, slots=True)
class PitchFrame:
    """One analysis hop.

    f0_hz: detected fundamental in Hz, 0.0 when unvoiced. midi: fractional MIDI pitch (69 = A4),
    None when unvoiced. cents: cents from the current target note (-50..+50 without a reference),
    None when unvoiced or no target. confidence: 0..1. level_db: RMS level in dBFS (<= 0).
    """

    t_s: float
    f0_hz: float
    midi: float | None
    target_midi: int | None
    cents: float | None
    voiced: bool
    confidence: float
    level_db: float
    capture_time_s: float


@dataclass(frozen=True, slots=True)
class Onset:
    """An onset (note attack) at ``t_s`` seconds."""

    t_s: float
    capture_time_s: float


@dataclass(frozen=True, slots=True)
class Note:
    """A finished note.

    midi: the note's pitch as fractional MIDI (median of its frames after the attack).
    target_midi: the equal-tempered or reference note it is scored against.
    cents: signed deviation from the target in cents (+ = sharp). level_db: median RMS in dBFS.
    ref_index: index of the aligned reference note, None without a reference or when unmatched.
    """

    onset_s: float
    offset_s: float
    midi: float
    target_midi: int
    cents: float
    level_db: float
    capture_time_s: float
    ref_index: int | None = None


Record = PitchFrame | Onset | Note

_new = object.__new__
_FRAME_SLOTS = tuple(getattr(PitchFrame, f.name).__set__ for f in fields(PitchFrame))


def pitch_frame(
    t_s: float,
    f0_hz: float,
    midi: float | None,
    target_midi: int | None,
    cents: float | None,
    voiced: bool,
    confidence: float,
    level_db: float,
    capture_time_s: float,
) -> PitchFrame:
    """The same PitchFrame as ``PitchFrame(...)`` with these fields, for a third of the cost:
    the analyzer makes one every hop, and a frozen dataclass's ``__init__`` sets each field
    through ``object.__setattr__`` (PitchFrame has no ``__post_init__`` to skip)."""
    frame: PitchFrame = _new(PitchFrame)
    s = _FRAME_SLOTS
    s[0](frame, t_s)
    s[1](frame, f0_hz)
    s[2](frame, midi)
    s[3](frame, target_midi)
    s[4](frame, cents)
    s[5](frame, voiced)
    s[6](frame, confidence)
    s[7](frame, level_db)
    s[8](frame, capture_time_s)
    return frame
