"""Writing detected notes as a standard MIDI file (mido)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import mido

from audio.records import Note

TICKS_PER_BEAT = 480


def write_notes_midi(
    notes: Sequence[Note], path: str | Path, tempo_bpm: float = 120.0, velocity: int = 80
) -> Path:
    """Write notes (times in seconds, pitch rounded to the nearest MIDI note) as a type-0 file.

    tempo_bpm: 20..300, only sets how beats are counted; the notes keep their times in seconds.
    velocity: 1..127 for every note. Returns the path written. Raises ValueError for bad values.
    """
    if not 20.0 <= tempo_bpm <= 300.0:
        raise ValueError(f"tempo {tempo_bpm} BPM is outside 20..300")
    if not 1 <= velocity <= 127:
        raise ValueError(f"velocity {velocity} is outside 1..127")
    tempo = mido.bpm2tempo(tempo_bpm)
    events: list[tuple[int, int, int]] = []
    ordered = sorted(notes, key=lambda n: n.onset_s)
    pitches = [max(0, min(127, round(n.midi))) for n in ordered]
    # A note that begins while the same key is still held (the tracker dates a note that
    # resumes after a break from its attack, up to half a window before the previous one's
    # last frame) ends the held one: a note-on over a sounding key would be cut by its note-off.
    ends = [max(n.offset_s, n.onset_s) for n in ordered]
    next_onset: dict[int, float] = {}
    for k in range(len(ordered) - 1, -1, -1):
        following = next_onset.get(pitches[k])
        if following is not None and following < ends[k]:
            ends[k] = following
        next_onset[pitches[k]] = ordered[k].onset_s
    for n, pitch, end in zip(ordered, pitches, ends, strict=True):
        on = round(mido.second2tick(max(0.0, n.onset_s), TICKS_PER_BEAT, tempo))
        off = round(mido.second2tick(end, TICKS_PER_BEAT, tempo))
        off = max(off, on + 1)
        # note-offs sort before note-ons at the same tick so repeated notes stay separate.
        events.append((on, 1, pitch))
        events.append((off, 0, pitch))
    events.sort()
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=tempo, time=0))
    last = 0
    for tick, kind, pitch in events:
        msg = "note_on" if kind else "note_off"
        track.append(
            mido.Message(msg, note=pitch, velocity=velocity if kind else 0, time=tick - last)
        )
        last = tick
    mid = mido.MidiFile(type=0, ticks_per_beat=TICKS_PER_BEAT)
    mid.tracks.append(track)
    out = Path(path)
    mid.save(str(out))
    return out
