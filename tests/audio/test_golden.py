"""Golden output: the notes Etude reports on a few fixed clips, kept in tests/audio/golden/.

Any change in the reported notes (onset, offset, pitch, count) fails this test until the golden
file is regenerated on purpose, with the reason in the commit message:

    ETUDE_GOLDEN_UPDATE=1 uv run pytest tests/audio/test_golden.py

Clips: short General MIDI phrases rendered by fluidsynth with FluidR3 (legato violin with a
same-pitch repeat, voice oohs, a cello line, a flute with repeats, a piano) and synthesised
sung phrases (scoops, vibrato, a breath dip, consonant gaps, a low rough voice) at 44.1 and
16 kHz. Times are compared to 1 ms, pitches to 0.01 semitone.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.audio import gm
from tests.audio import signals as sg
from tests.audio.test_tracker_robust import _sung_phrase
from tests.conftest import need

GOLDEN = Path(__file__).resolve().parent / "golden" / "notes.json"
UPDATE = os.environ.get("ETUDE_GOLDEN_UPDATE") == "1"

# name: (GM program, notes as (onset s, offset s, MIDI, cents, velocity))
GM_CLIPS: dict[str, tuple[int, list[tuple[float, float, int, float, int]]]] = {
    "violin_legato_repeat": (
        40,
        [
            (0.2, 0.69, 67, 0.0, 90),
            (0.7, 1.19, 69, 10.0, 80),
            (1.2, 1.69, 69, -8.0, 85),  # same pitch, legato: only the bow re-articulates
            (1.7, 2.39, 71, 0.0, 95),
            (2.4, 3.1, 67, 20.0, 70),
        ],
    ),
    "voice_oohs": (
        53,
        [
            (0.2, 0.75, 60, 0.0, 90),
            (0.8, 1.35, 62, -15.0, 80),
            (1.4, 1.95, 64, 0.0, 100),
            (2.0, 2.55, 64, 0.0, 70),
            (2.6, 3.4, 60, 12.0, 90),
        ],
    ),
    "cello_line": (
        42,
        [
            (0.2, 0.9, 43, 0.0, 100),
            (0.92, 1.6, 45, 0.0, 90),
            (1.62, 2.3, 47, -20.0, 90),
            (2.5, 3.4, 36, 0.0, 100),
        ],
    ),
    "flute_repeats": (
        73,
        [
            (0.2, 0.5, 76, 0.0, 90),
            (0.52, 0.82, 76, 0.0, 90),
            (0.84, 1.4, 77, 0.0, 90),
            (1.5, 1.8, 79, 25.0, 80),
            (1.82, 2.6, 79, 0.0, 80),
        ],
    ),
    "piano": (
        0,
        [
            (0.2, 0.6, 60, 0.0, 100),
            (0.6, 1.0, 64, 0.0, 60),
            (1.0, 1.4, 67, 0.0, 110),
            (1.4, 2.2, 72, 0.0, 80),
        ],
    ),
}


def _analyse(x: np.ndarray, sr: int) -> list[list[float]]:
    an = sg.analyse(x, sr)
    return [[round(n.onset_s, 3), round(n.offset_s, 3), round(n.midi, 2)] for n in an.notes]


def _clips(tmp_path: Path) -> dict[str, list[list[float]]]:
    out: dict[str, list[list[float]]] = {}
    for name, (program, notes) in GM_CLIPS.items():
        mid, wav = tmp_path / f"{name}.mid", tmp_path / f"{name}.wav"
        gm.write_midi(mid, notes, program, 120.0)
        gm.render(mid, wav)
        x, sr = sf.read(str(wav), dtype="float32", always_2d=True)
        out[name] = _analyse(np.ascontiguousarray(x.mean(axis=1)), int(sr))
    for sr in (44100, 16000):
        out[f"sung_{sr}"] = _analyse(_sung_phrase(sr), sr)
    return out


def test_reported_notes_match_the_golden_file(tmp_path: Path) -> None:
    need(
        gm.available(),
        "fluidsynth and the FluidR3 soundfont (apt-get install fluidsynth fluid-soundfont-gm)",
    )
    got = _clips(tmp_path)
    if UPDATE:
        GOLDEN.write_text(json.dumps(got, indent=1) + "\n")
    want = json.loads(GOLDEN.read_text())
    assert set(got) == set(want)
    for name, notes in want.items():
        mine = got[name]
        assert len(mine) == len(notes), f"{name}: {len(mine)} notes, golden {len(notes)}"
        for a, b in zip(mine, notes, strict=True):
            assert a[0] == pytest.approx(b[0], abs=0.0011), f"{name}: onset {a} vs {b}"
            assert a[1] == pytest.approx(b[1], abs=0.0011), f"{name}: offset {a} vs {b}"
            assert a[2] == pytest.approx(b[2], abs=0.011), f"{name}: pitch {a} vs {b}"
