"""Real instrument sounds for tests and benchmarks: MIDI written here, rendered by fluidsynth
through the FluidR3 General MIDI soundfont (Debian: ``fluidsynth fluid-soundfont-gm``).

Notes are ``(onset_s, offset_s, midi, cents, velocity)``: ``cents`` becomes a pitch bend sent
2 ms before the note (the default bend range is 2 semitones), so the sounding pitch is known.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import mido
import numpy as np

SF2 = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
SR = 44100


def available() -> bool:
    """fluidsynth and the FluidR3 soundfont are installed."""
    return SF2.exists() and shutil.which("fluidsynth") is not None


def write_midi(
    path: Path, notes: list[tuple[float, float, int, float, int]], program: int, tempo: float
) -> None:
    """A one-track MIDI file: GM ``program`` on channel 0, ``tempo`` BPM (times stay seconds)."""
    mid = mido.MidiFile(ticks_per_beat=960)
    tr = mido.MidiTrack()
    mid.tracks.append(tr)
    t_us = mido.bpm2tempo(tempo)
    tr.append(mido.MetaMessage("set_tempo", tempo=t_us, time=0))
    tr.append(mido.Message("program_change", program=program, channel=0, time=0))
    ev = []
    for on, off, p, cents, vel in notes:
        bend = int(np.clip(round(cents / 200.0 * 8192), -8192, 8191))
        ev.append((on - 0.002, 0, ("pitchwheel", bend)))
        ev.append((on, 1, ("note_on", p, vel)))
        ev.append((off, -1, ("note_off", p, 0)))
    ev.sort(key=lambda e: (e[0], e[1]))
    last = 0
    for t, _, msg in ev:
        tick = round(mido.second2tick(max(0.0, t), 960, t_us))
        dt = max(0, tick - last)
        last = tick if tick > last else last
        if msg[0] == "pitchwheel":
            tr.append(mido.Message("pitchwheel", channel=0, pitch=msg[1], time=dt))
        else:
            tr.append(mido.Message(msg[0], channel=0, note=msg[1], velocity=msg[2], time=dt))
    tr.append(mido.MetaMessage("end_of_track", time=round(mido.second2tick(1.0, 960, t_us))))
    mid.save(str(path))


def render(midi_path: Path, wav_path: Path, effects: bool = False, sf2: Path = SF2) -> None:
    """Render with FluidR3 (or another General MIDI soundfont ``sf2``) at 44.1 kHz, unless
    ``wav_path`` exists. Dry by default (fluidsynth's chorus modulates pitch and its reverb
    smears note ends, which blurs the truth); ``effects`` keeps both on, as fluidsynth plays by
    default."""
    if wav_path.exists():
        return
    fx = [] if effects else ["-C", "0", "-R", "0"]
    subprocess.run(
        [
            "fluidsynth",
            "-ni",
            "-q",
            *fx,
            "-g",
            "0.6",
            "-F",
            str(wav_path),
            "-r",
            str(SR),
            str(sf2),
            str(midi_path),
        ],
        check=True,
        capture_output=True,
    )
