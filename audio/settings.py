"""Analysis settings shared by the live path, the file path and scoring.

The ranges are checked here, where the settings are made, and nowhere else: the settings
dialog, the stored preferences and ``etude analyze`` all build an :class:`AnalysisSettings` (or
read :data:`LIMITS` to set up their inputs), so a value out of range is refused with the same
rule everywhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limit:
    """The range of one setting: lo..hi inclusive, in ``unit``; ``whole``: integers only.
    ``label``: the setting's name in words a student reads."""

    lo: float
    hi: float
    unit: str
    label: str
    whole: bool = False

    def allows(self, value: float) -> bool:
        """True when ``value`` is a finite number within lo..hi (and whole, if required)."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if not math.isfinite(value) or not self.lo <= value <= self.hi:
            return False
        return not self.whole or float(value).is_integer()


LIMITS: dict[str, Limit] = {
    "a4_hz": Limit(400.0, 480.0, "Hz", "A4"),
    "transpose_semitones": Limit(-24, 24, "semitones", "transposition", whole=True),
    "pitch_tolerance_cents": Limit(1.0, 100.0, "cents", "pitch tolerance"),
    "timing_tolerance_ms": Limit(5.0, 500.0, "ms", "timing tolerance"),
    "target_tempo_bpm": Limit(20.0, 300.0, "BPM", "target tempo"),
    "hop_samples": Limit(1, 256, "samples", "analysis hop", whole=True),
    "buf_samples": Limit(256, 16384, "samples", "analysis window", whole=True),
}


class SettingOutOfRange(ValueError):
    """A setting outside its :data:`LIMITS`; ``field`` names it, ``value`` is what was given."""

    def __init__(self, field: str, value: object) -> None:
        self.field = field
        self.value = value
        self.limit = LIMITS[field]
        lim = self.limit
        shown = f"{value:g}" if isinstance(value, int | float) else repr(value)
        whole = " (a whole number)" if lim.whole else ""
        super().__init__(
            f"{lim.label} must be {lim.lo:g}–{lim.hi:g} {lim.unit}{whole}, not {shown}"
        )


@dataclass(frozen=True, slots=True)
class AnalysisSettings:
    """Every knob a student or teacher may set; each is checked against :data:`LIMITS` when
    the settings are made (SettingOutOfRange, a ValueError, names the first bad one).

    a4_hz: tuning reference, 400..480 Hz. transpose_semitones: written-to-sounding shift for
    transposing instruments (B♭ clarinet = -2, E♭ alto sax = -9, F horn = -7), -24..24.
    pitch_tolerance_cents: a note within this many cents of its target counts as in tune (1..100).
    timing_tolerance_ms: an onset within this many ms of its expected time counts as on time
    (5..500). target_tempo_bpm: the rhythm grid without a reference (20..300), None for no grid.
    hop_samples: analysis hop, 1..256. buf_samples: analysis window, 256..16384.
    """

    a4_hz: float = 440.0
    transpose_semitones: int = 0
    pitch_tolerance_cents: float = 25.0
    timing_tolerance_ms: float = 50.0
    target_tempo_bpm: float | None = None
    hop_samples: int = 256
    buf_samples: int = 2048

    def __post_init__(self) -> None:
        for field, limit in LIMITS.items():
            value = getattr(self, field)
            if value is None and field == "target_tempo_bpm":
                continue
            if not limit.allows(value):
                raise SettingOutOfRange(field, value)
