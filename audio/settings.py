"""Analysis settings shared by the live path, the file path and scoring."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AnalysisSettings:
    """Every knob a student or teacher may set.

    a4_hz: tuning reference, 400..480 Hz. transpose_semitones: written-to-sounding shift for
    transposing instruments (B♭ clarinet = -2, E♭ alto sax = -9, F horn = -7), -24..24.
    pitch_tolerance_cents: a note within this many cents of its target counts as in tune (1..100).
    timing_tolerance_ms: an onset within this many ms of its expected time counts as on time
    (5..500). target_tempo_bpm: the rhythm grid without a reference (20..300), None for no grid.
    hop_samples: analysis hop, at most 256. buf_samples: analysis window.
    """

    a4_hz: float = 440.0
    transpose_semitones: int = 0
    pitch_tolerance_cents: float = 25.0
    timing_tolerance_ms: float = 50.0
    target_tempo_bpm: float | None = None
    hop_samples: int = 256
    buf_samples: int = 2048
