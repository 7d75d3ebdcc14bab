"""Known-answer audio for the desktop flows (rendered by audio.sources.render_notes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from audio.sources import SyntheticSource, SynthNote, render_notes

SR = 48000
SCALE = (60, 62, 64, 65, 67, 69, 71, 72)
# Two notes (E4 and A4) are played 35 cents sharp: six of eight are within ±25 cents.
SHARP = {64: 35.0, 69: 35.0}
NOTE_SPACING_S = 0.3
FIRST_ONSET_S = 0.4


def scale_notes() -> list[SynthNote]:
    return [
        SynthNote(
            midi=m,
            start_s=FIRST_ONSET_S + i * NOTE_SPACING_S,
            dur_s=0.25,
            amplitude=0.4,
            cents=SHARP.get(m, 0.0),
        )
        for i, m in enumerate(SCALE)
    ]


def scale_signal(total_s: float = 3.6) -> np.ndarray:
    x = render_notes(scale_notes(), SR)
    out = np.zeros(int(total_s * SR), dtype=np.float32)
    out[: min(len(x), len(out))] = x[: len(out)]
    return out


def scale_source(fail_after_s: float | None = None, total_s: float = 3.6) -> SyntheticSource:
    return SyntheticSource(
        signal=scale_signal(total_s), sample_rate=SR, realtime=True, fail_after_s=fail_after_s
    )


def write_scale_wav(path: Path) -> Path:
    sf.write(str(path), scale_signal(), SR, subtype="PCM_16")
    return path
