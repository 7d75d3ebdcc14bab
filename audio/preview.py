"""Hear the piece before playing it: the reference rendered to samples by a small built-in
synth (harmonic tones, no sound font), at a chosen tempo, with metronome clicks.

No Qt and no device here: :func:`render_reference` returns samples; the window plays them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:  # the metronome imports click_samples at start-up: keep that import light
    from audio.reference import Reference

FloatArray = npt.NDArray[np.float32]
MIDI_DEFAULT_BPM = 120.0  # a MIDI file without a tempo message plays at 120 BPM
CLICK_HZ = (1500.0, 1000.0)  # accented first beat of the bar, then the others
CLICK_MS = 25.0
NOTE_AMPLITUDE = 0.35
CLICK_GAIN = 0.6  # clicks sit under the melody


def click_samples(sample_rate_hz: int, accent: bool) -> FloatArray:
    """One metronome click: a 25 ms decaying sine burst (1500 Hz accented, 1000 Hz plain),
    float32 within -0.5..0.5."""
    n = int(sample_rate_hz * CLICK_MS / 1000.0)
    t = np.arange(n) / sample_rate_hz
    f = CLICK_HZ[0] if accent else CLICK_HZ[1]
    out: FloatArray = (0.5 * np.sin(2 * np.pi * f * t) * np.exp(-t * 200.0)).astype(np.float32)
    return out


@dataclass(frozen=True)
class Preview:
    """A rendered piece. samples: mono float32 within -1..1 at sample_rate_hz; the first note
    sounds at first_note_s (after the lead-in bar); scale: how much the reference's times were
    stretched (> 1 slower than written); beat_s: seconds between clicks."""

    samples: FloatArray
    sample_rate_hz: int
    first_note_s: float
    scale: float
    beat_s: float

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate_hz


def render_reference(
    reference: Reference,
    tempo_bpm: float | None = None,
    sample_rate_hz: int = 48000,
    metronome: bool = True,
    lead_in_beats: int = 4,
    beats_per_bar: int = 4,
    a4_hz: float = 440.0,
) -> Preview:
    """Render ``reference`` to samples.

    tempo_bpm: 20..300, the tempo to play at (None: the file's own tempo); the reference's times
    are stretched by file tempo / tempo_bpm. metronome: clicks on every beat from the lead-in to
    the end. lead_in_beats: 0..16 beats of clicks before the first note (silence without the
    metronome). Raises ValueError for an empty reference or an out-of-range argument.
    """
    from audio.sources import SynthNote, render_notes

    if not reference.notes:
        raise ValueError("the reference has no notes")
    written = reference.tempo_bpm or MIDI_DEFAULT_BPM
    bpm = float(tempo_bpm) if tempo_bpm else written
    if not 20.0 <= bpm <= 300.0:
        raise ValueError(f"tempo must be 20..300 BPM, not {bpm:g}")
    if not 0 <= lead_in_beats <= 16:
        raise ValueError(f"lead_in_beats must be 0..16, not {lead_in_beats}")
    if sample_rate_hz <= 0:
        raise ValueError(f"sample_rate_hz must be positive, not {sample_rate_hz}")
    scale = written / bpm
    beat_s = 60.0 / bpm
    lead_s = lead_in_beats * beat_s
    notes = [
        SynthNote(
            midi=n.midi,
            start_s=lead_s + n.onset_s * scale,
            # A short gap between repeated notes keeps each one audible as its own attack.
            dur_s=max(0.03, (n.offset_s - n.onset_s) * scale),
            amplitude=NOTE_AMPLITUDE * (0.6 + 0.4 * n.velocity / 127.0),
        )
        for n in reference.notes
    ]
    out = render_notes(notes, sample_rate_hz, a4_hz=a4_hz, tail_s=0.5)
    if metronome:
        end_s = len(out) / sample_rate_hz
        accent = click_samples(sample_rate_hz, True) * CLICK_GAIN
        plain = click_samples(sample_rate_hz, False) * CLICK_GAIN
        for beat in range(math.ceil(end_s / beat_s)):
            # Beats count from the lead-in's first click, so bar lines fall where the count-in
            # said they would.
            i0 = round(beat * beat_s * sample_rate_hz)
            click = accent if beat % beats_per_bar == 0 else plain
            i1 = min(len(out), i0 + len(click))
            out[i0:i1] += click[: i1 - i0]
    peak = float(np.max(np.abs(out))) if len(out) else 0.0
    if peak > 1.0:  # chords can sum past full scale
        out /= peak
    return Preview(out.astype(np.float32), sample_rate_hz, lead_s, scale, beat_s)
