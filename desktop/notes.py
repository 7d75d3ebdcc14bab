"""Note names and colours shared by the views (no Qt widgets here)."""

from __future__ import annotations

import math

_NAMES_SHARP = ("C", "C♯", "D", "D♯", "E", "F", "F♯", "G", "G♯", "A", "A♯", "B")


def note_name(midi: float) -> str:
    """Name of the nearest MIDI note with its octave, e.g. 69 -> "A4", 61 -> "C♯4"."""
    n = round(midi)
    return f"{_NAMES_SHARP[n % 12]}{n // 12 - 1}"


def cents_colour(cents: float | None, tolerance_cents: float) -> tuple[int, int, int]:
    """Green inside the tolerance, through amber, to red at three tolerances away."""
    if cents is None or math.isnan(cents):
        return (150, 150, 150)
    x = min(abs(cents) / max(tolerance_cents, 1e-6), 3.0)
    if x <= 1.0:
        return (46, 170, 90)
    t = (x - 1.0) / 2.0
    # amber (230,170,30) -> red (215,50,50)
    return (int(230 - 15 * t), int(170 - 120 * t), int(30 + 20 * t))
